//! The engine end to end against this testee: HTTP and WebSocket, well-formed and
//! malformed, over loopback.

mod common;

use std::time::Duration;

use cannonade_core::{Plan, Run, Summary};

use common::Testee;

fn run(plan: &str) -> Summary {
    let run = Run::start(Plan::from_json(plan).unwrap()).unwrap();
    assert!(
        run.wait(Some(Duration::from_secs(60))),
        "run did not finish"
    );
    run.outcome().unwrap().unwrap().summary
}

fn http(testee: &Testee, path: &str, extra_protocol: &str, extra: &str) -> Summary {
    run(&format!(
        r#"{{"abi_version":2,"connections":4,"threads":2,"protocol":{{"kind":"http",
            "url":"http://{}{path}"{extra_protocol}}}{extra}}}"#,
        testee.address
    ))
}

fn ws(testee: &Testee, message_hex: &str, extra_protocol: &str, extra: &str) -> Summary {
    run(&format!(
        r#"{{"abi_version":2,"connections":4,"threads":2,"protocol":{{"kind":"ws",
            "url":"ws://{}/echo","message_hex":"{message_hex}"{extra_protocol}}}{extra}}}"#,
        testee.address
    ))
}

#[test]
fn http_keep_alive_counts_and_statuses() {
    let testee = Testee::start(&["http"]);
    let s = http(&testee, "/", "", r#","requests":500"#);
    assert_eq!(s.protocol, "http");
    assert_eq!(s.requests, 500);
    assert_eq!(s.errors.total(), 0, "{:?}", s.errors);
    assert_eq!(s.status_codes.get("200"), Some(&500));
    assert_eq!(s.non_2xx_3xx, 0);
    assert_eq!(s.connections_opened, 4);
    assert_eq!(s.connect_ns.count, 4);
    assert!(s.handshake_ns.is_none());
    let s = http(&testee, "/status/404", "", r#","requests":40"#);
    assert_eq!(s.status_codes.get("404"), Some(&40));
    assert_eq!(s.non_2xx_3xx, 40);
    assert_eq!(s.errors.total(), 0);
}

#[test]
fn http_pipelining_close_post_head_and_chunked() {
    let testee = Testee::start(&["http", "--transfer", "chunked", "--body-bytes", "3000"]);
    let s = http(&testee, "/", r#","pipeline":8"#, r#","requests":1000"#);
    assert_eq!((s.requests, s.errors.total()), (1000, 0), "{:?}", s.errors);
    let s = http(&testee, "/", r#","close":true"#, r#","requests":30"#);
    assert_eq!((s.requests, s.errors.total()), (30, 0), "{:?}", s.errors);
    assert_eq!(s.connections_opened, 30);
    let s = http(
        &testee,
        "/",
        r#","method":"POST","body_hex":"616263","headers":[["X-Test","1"]]"#,
        r#","requests":50"#,
    );
    assert_eq!((s.requests, s.errors.total()), (50, 0));
    let s = http(&testee, "/", r#","method":"HEAD""#, r#","requests":50"#);
    assert_eq!((s.requests, s.errors.total()), (50, 0));
}

#[test]
fn http_at_a_constant_rate() {
    let testee = Testee::start(&["http"]);
    let s = http(&testee, "/", "", r#","requests":100,"rate_per_s":500"#);
    assert_eq!((s.requests, s.errors.total()), (100, 0));
    assert_eq!(s.send_lag_ns.unwrap().count, 100);
}

#[test]
fn malformed_http_replies_are_counted_not_fatal() {
    for (kind, expect_protocol) in [
        ("status-line", true),
        ("chunk-size", true),
        ("content-length", true),
        ("truncated", false),
    ] {
        let testee = Testee::start(&["http", "--malformed", kind]);
        let s = http(&testee, "/", "", r#","duration_ms":300,"requests":1000"#);
        assert_eq!(s.requests, 0, "{kind}");
        if expect_protocol {
            assert!(s.errors.protocol > 0, "{kind}: {:?}", s.errors);
        } else {
            // The reply is cut short by a close: the peer closed mid-reply.
            assert!(s.errors.closed > 0, "{kind}: {:?}", s.errors);
        }
    }
}

#[test]
fn websocket_echo_of_text_binary_empty_and_fragmented() {
    let testee = Testee::start(&["ws", "--subprotocol", "chat"]);
    let s = ws(&testee, &"61".repeat(100), "", r#","requests":300"#);
    assert_eq!(s.protocol, "ws");
    assert_eq!((s.requests, s.errors.total()), (300, 0), "{:?}", s.errors);
    assert_eq!(s.handshake_ns.unwrap().count, s.connections_opened);
    let s = ws(&testee, "", r#","binary":true"#, r#","requests":100"#);
    assert_eq!((s.requests, s.errors.total()), (100, 0));
    let mib = "00".repeat(1 << 20);
    let s = ws(
        &testee,
        &mib,
        r#","binary":true,"frame_bytes":65536"#,
        r#","requests":12"#,
    );
    assert_eq!((s.requests, s.errors.total()), (12, 0), "{:?}", s.errors);
    assert!(s.bytes_received >= 12 << 20);
    let s = ws(
        &testee,
        "6869",
        r#","subprotocol":"chat""#,
        r#","requests":20"#,
    );
    assert_eq!((s.requests, s.errors.total()), (20, 0));
}

#[test]
fn malformed_websocket_servers_are_protocol_errors() {
    for kind in ["accept-key", "masked-frame", "oversized", "bad-opcode"] {
        let testee = Testee::start(&["ws", "--malformed", kind]);
        let s = ws(&testee, "6869", "", r#","duration_ms":300,"requests":1000"#);
        assert_eq!(s.requests, 0, "{kind}");
        assert!(s.errors.protocol > 0, "{kind}: {:?}", s.errors);
    }
}

fn echo(testee: &Testee, extra: &str) -> Summary {
    run(&format!(
        r#"{{"abi_version":2,"target":"{}","connections":4,"threads":2,"protocol":{{"kind":"tcp",
            "payload_hex":"0102030405060708","reply":{{"kind":"echo"}}}}{extra}}}"#,
        testee.address
    ))
}

#[test]
fn churn_opens_a_new_connection_every_k_requests() {
    let testee = Testee::start(&["echo"]);
    // 200 requests over 4 connections, 10 per socket: 20 sockets in all.
    let s = echo(&testee, r#","requests":200,"requests_per_connection":10"#);
    assert_eq!((s.requests, s.errors.total()), (200, 0), "{:?}", s.errors);
    assert_eq!(s.connections_opened, 20);
    assert_eq!(s.connect_ns.count, 20);
    // One request per socket, sockets opened at 100 per second: the 40th is due at
    // 390 ms, so the run cannot end sooner.
    let s = echo(
        &testee,
        r#","requests":40,"requests_per_connection":1,"connection_rate_per_s":100"#,
    );
    assert_eq!((s.requests, s.connections_opened), (40, 40));
    assert!(s.duration_ns >= 390_000_000, "{}", s.duration_ns);
}

#[test]
fn websocket_churn_times_every_handshake() {
    let testee = Testee::start(&["ws"]);
    let s = ws(
        &testee,
        "6869",
        "",
        r#","requests":60,"requests_per_connection":5"#,
    );
    assert_eq!((s.requests, s.errors.total()), (60, 0), "{:?}", s.errors);
    assert_eq!(s.connections_opened, 12);
    assert_eq!(s.handshake_ns.unwrap().count, 12);
}

#[test]
fn idle_connections_are_held_beside_the_load() {
    let testee = Testee::start(&["echo"]);
    let s = echo(&testee, r#","duration_ms":1500,"idle_connections":100"#);
    assert!(s.requests > 0);
    assert_eq!(s.idle_connections.requested, 100);
    assert_eq!(s.idle_connections.opened, 100);
    assert_eq!(s.idle_connections.held, 100);
    // Idle sockets are not part of the load's own counts.
    assert_eq!(s.connections_opened, 4);
    let testee = Testee::start(&["ws"]);
    let s = ws(
        &testee,
        "6869",
        "",
        r#","duration_ms":500,"idle_connections":100"#,
    );
    assert_eq!(s.idle_connections.held, 100, "{:?}", s.idle_connections);
}

#[test]
fn tcp_replies_framed_by_a_delimiter() {
    // The echo testee sends each line back; the reply ends at its newline.
    let testee = Testee::start(&["echo"]);
    let s = run(&format!(
        r#"{{"abi_version":2,"target":"{}","connections":4,"requests":400,
            "protocol":{{"kind":"tcp","payload_hex":"68656c6c6f0a",
                         "reply":{{"kind":"delimiter","delimiter_hex":"0a"}}}}}}"#,
        testee.address
    ));
    assert_eq!((s.requests, s.errors.total()), (400, 0), "{:?}", s.errors);
    assert_eq!(s.bytes_received, 400 * 6);
}

#[test]
fn think_time_paces_a_closed_loop() {
    let testee = Testee::start(&["echo"]);
    // 4 connections, 5 requests each, 50 ms of thinking after every reply: at least
    // 4 pauses per connection before its last request.
    let s = echo(&testee, r#","requests":20,"think_time_ms":50"#);
    assert_eq!((s.requests, s.errors.total()), (20, 0));
    assert!(s.duration_ns >= 200_000_000, "{}", s.duration_ns);
}

#[test]
fn phases_label_intervals_and_merge_into_their_own_summaries() {
    use cannonade_core::PhaseError;
    let testee = Testee::start(&["echo"]);
    let plan = format!(
        r#"{{"abi_version":2,"target":"{}","connections":4,"threads":2,"duration_ms":1500,
            "interval_ms":100,"protocol":{{"kind":"tcp","payload_hex":"00ff",
            "reply":{{"kind":"echo"}}}}}}"#,
        testee.address
    );
    let run = Run::start(Plan::from_json(&plan).unwrap()).unwrap();
    assert_eq!(run.mark_phase("warmup"), Ok(0));
    for bad in ["", "a\nb", &"x".repeat(65)] {
        assert!(matches!(run.mark_phase(bad), Err(PhaseError::BadName(_))));
    }
    let mut seen = Vec::new();
    while seen.len() < 4 {
        std::thread::sleep(Duration::from_millis(20));
        seen.extend(run.poll());
    }
    let first_measured = run.mark_phase("measure").unwrap();
    assert!(first_measured >= seen.len() as u64, "{first_measured}");
    assert!(run.wait(Some(Duration::from_secs(60))));
    assert_eq!(run.mark_phase("late"), Err(PhaseError::Finished));
    seen.extend(run.poll());
    let summary = run.outcome().unwrap().unwrap().summary;
    for interval in &seen {
        let expect = if interval.index < first_measured {
            "warmup"
        } else {
            "measure"
        };
        assert_eq!(interval.phase, expect, "interval {}", interval.index);
    }
    let names: Vec<&str> = summary.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["warmup", "measure"]);
    let (warm, measure) = (&summary.phases[0], &summary.phases[1]);
    assert_eq!(
        (warm.first_interval, measure.first_interval),
        (0, first_measured)
    );
    assert_eq!(warm.intervals + measure.intervals, summary.intervals);
    assert_eq!(warm.span.requests + measure.span.requests, summary.requests);
    assert_eq!(warm.span.end_ns, measure.span.start_ns);
    let measured: u64 = seen
        .iter()
        .filter(|i| i.phase == "measure")
        .map(|i| i.span.requests)
        .sum();
    assert_eq!(measure.span.requests, measured);
    assert!(measure.span.requests > 0 && measure.span.latency_ns.count == measure.span.requests);
}
