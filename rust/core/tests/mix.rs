//! Request mixes against servers on loopback started inside the test: which entries
//! are sent, in which order, and how they are counted per label.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cannonade_core::{Plan, Run};

mod common;

fn echo_server() -> SocketAddr {
    common::echo_server(None)
}

/// An HTTP server that answers every GET with an empty 200 and writes down, per
/// connection, the request targets in the order they arrived.
fn recording_http_server() -> (SocketAddr, Arc<Mutex<Vec<Vec<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let book = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let book = Arc::clone(&book);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&pending[..end]).to_string();
                        pending.drain(..end + 4);
                        let target = head.split(' ').nth(1).unwrap_or("?").to_string();
                        seen.push(target);
                        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                        if stream.write_all(reply).is_err() {
                            break;
                        }
                    }
                }
                book.lock().unwrap().push(seen);
            });
        }
    });
    (addr, log)
}

fn finish(run: &Run) -> cannonade_core::Finished {
    common::finish_within(run, 60)
}

fn tcp_mix_plan(addr: SocketAddr, mix: &str, extra: &str) -> String {
    format!(
        r#"{{"abi_version":2,"target":"{addr}","connections":4,"threads":2,{extra}
           "protocol":{{"kind":"tcp","payload_hex":"61","reply":{{"kind":"echo"}},{mix}}}}}"#
    )
}

/// Three payloads of 10, 20 and 30 bytes with weights 1, 2 and 3.
fn three_sizes() -> String {
    let entry = |label: &str, size: usize, weight: u32| {
        format!(
            r#"{{"label":"{label}","weight":{weight},"payload_hex":"{}"}}"#,
            "62".repeat(size)
        )
    };
    format!(
        r#""requests":[{},{},{}]"#,
        entry("small", 10, 1),
        entry("medium", 20, 2),
        entry("large", 30, 3)
    )
}

#[test]
fn random_mix_follows_the_weights_and_sends_each_entry_as_counted() {
    let addr = echo_server();
    let mix = format!(r#"{},"mix":"random","seed":7"#, three_sizes());
    let plan = Plan::from_json(&tcp_mix_plan(addr, &mix, r#""requests":3000,"#)).unwrap();
    let run = Run::start(plan).unwrap();
    let s = finish(&run).summary;
    assert_eq!(s.requests, 3000);
    let mix = s.mix.as_ref().expect("the summary says how the mix chose");
    assert_eq!((mix.order, mix.seed), ("random", 7));
    let counts: Vec<u64> = s.labels.iter().map(|l| l.requests).collect();
    let names: Vec<&str> = s.labels.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(names, ["small", "medium", "large"]);
    assert_eq!(counts.iter().sum::<u64>(), s.requests, "{counts:?}");
    // What left the socket is what the labels say was sent: 10, 20 and 30 bytes each.
    assert_eq!(
        s.bytes_sent,
        counts[0] * 10 + counts[1] * 20 + counts[2] * 30
    );
    assert_eq!(s.bytes_received, s.bytes_sent, "an echo of every entry");
    // Chi-square with 2 degrees of freedom; 13.8 is the 0.1% critical value. Equal
    // weights would give about 500 here.
    let expected = [500.0, 1000.0, 1500.0];
    let chi2: f64 = counts
        .iter()
        .zip(expected)
        .map(|(&n, e)| (n as f64 - e).powi(2) / e)
        .sum();
    assert!(chi2 < 13.8, "chi-square {chi2} for {counts:?}");
    // The labels' histograms hold the same latencies as the run's.
    let max = s.labels.iter().map(|l| l.latency_ns.max).max().unwrap();
    assert_eq!(max, s.latency_ns.max);
    let min = s.labels.iter().map(|l| l.latency_ns.min).min().unwrap();
    assert_eq!(min, s.latency_ns.min);
    for label in &s.labels {
        assert_eq!(label.errors.total(), 0);
        assert!(label.latency_ns.min > 0 && label.latency_ns.min <= label.latency_ns.max);
        assert!(!label.histogram_v2_base64.is_empty());
    }
}

#[test]
fn intervals_carry_labels_that_add_up() {
    let addr = echo_server();
    let mix = format!(r#"{},"mix":"round_robin""#, three_sizes());
    let extra = r#""requests":1200,"interval_ms":20,"#;
    let plan = Plan::from_json(&tcp_mix_plan(addr, &mix, extra)).unwrap();
    let run = Run::start(plan).unwrap();
    let f = finish(&run);
    let intervals = run.poll();
    assert!(!intervals.is_empty());
    let mut per_label = [0u64; 3];
    for interval in &intervals {
        let sum: u64 = interval.span.labels.iter().map(|l| l.requests).sum();
        assert_eq!(sum, interval.span.requests, "interval {}", interval.index);
        for (i, label) in interval.span.labels.iter().enumerate() {
            per_label[i] += label.requests;
        }
    }
    let totals: Vec<u64> = f.summary.labels.iter().map(|l| l.requests).collect();
    assert_eq!(per_label.to_vec(), totals);
    // Round robin over weights 1, 2, 3 on each of 4 connections: 1200 requests are
    // 200 whole turns of 6, whatever the connections' shares, only when every
    // connection's share is a whole number of turns; the totals are within a turn
    // per connection of 1:2:3.
    for (i, &n) in totals.iter().enumerate() {
        let want = 200 * (i as u64 + 1);
        assert!(n.abs_diff(want) <= 4 * 3, "label {i}: {n} vs {want}");
    }
}

#[test]
fn a_session_plays_its_sequence_in_order_on_every_connection() {
    let (addr, log) = recording_http_server();
    let text = format!(
        r#"{{"abi_version":2,"connections":2,"threads":1,"requests":24,
           "requests_per_connection":4,
           "protocol":{{"kind":"http","url":"http://{addr}/","mix":"session",
             "requests":[{{"label":"login","path":"/login"}},
                         {{"label":"page","path":"/page?n=1","weight":2}},
                         {{"path":"/logout"}}]}}}}"#
    );
    let run = Run::start(Plan::from_json(&text).unwrap()).unwrap();
    let s = finish(&run).summary;
    assert_eq!(s.requests, 24);
    let counts: Vec<(String, u64)> = s
        .labels
        .iter()
        .map(|l| (l.label.clone(), l.requests))
        .collect();
    let want = [("login", 6), ("page", 12), ("/logout", 6)];
    let want: Vec<(String, u64)> = want.iter().map(|(l, n)| (l.to_string(), *n)).collect();
    assert_eq!(counts, want, "the default label of an entry is its path");
    assert_eq!(s.labels[1].status_codes.get("200"), Some(&12));
    // The server sees the connections close (churn after 4): give it a moment to
    // write the last one down, without asserting on time.
    let mut sequences = Vec::new();
    for _ in 0..200 {
        sequences = log.lock().unwrap().clone();
        if sequences.iter().map(Vec::len).sum::<usize>() == 24 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // A connection that carried nothing (a probe of the target) is no session.
    sequences.retain(|seq| !seq.is_empty());
    assert_eq!(sequences.len(), 6, "{sequences:?}");
    for seq in &sequences {
        assert_eq!(seq, &["/login", "/page?n=1", "/page?n=1", "/logout"]);
    }
}

fn plan_error(protocol_mix: &str) -> String {
    let text = format!(
        r#"{{"abi_version":2,"connections":1,"requests":1,
           "protocol":{{"kind":"http","url":"http://127.0.0.1:9/",{protocol_mix}}}}}"#
    );
    Plan::from_json(&text).unwrap_err().to_string()
}

#[test]
fn bad_entries_are_refused_with_the_field_named() {
    let cases = [
        (
            r#""requests":[{"path":"/a","methd":"GET"}]"#,
            "plan field `protocol.requests[0].methd`: unknown field",
        ),
        (
            r#""requests":[{"path":"/a"},{"path":"/b","weight":0}]"#,
            "plan field `protocol.requests[1].weight`: must be a positive number",
        ),
        (
            r#""requests":[{"path":"/a"},{"path":"/a"}]"#,
            "plan field `protocol.requests[1].label`: \"/a\" is the label of entry 0 too",
        ),
        (
            r#""requests":[]"#,
            "plan field `protocol.requests`: the list is empty",
        ),
        (
            r#""mix":"round_robin""#,
            "plan field `protocol.mix`: applies to a mix",
        ),
        (
            r#""requests":[{"path":"/a","weight":1.5}],"mix":"round_robin""#,
            "plan field `protocol.requests[0].weight`: in a round_robin mix a weight",
        ),
        (
            r#""requests":[{"path":"/a"}],"mix":"shuffle""#,
            "plan field `protocol.mix`: must be \"random\"",
        ),
        (
            r#""requests":[{"path":"no-slash"}]"#,
            "plan field `protocol.requests[0].path`",
        ),
        (
            r#""requests":[{"path":"/a","method":"G T"}]"#,
            "plan field `protocol.requests[0].method`",
        ),
        (
            r#""requests":[{"label":"","path":"/a"}]"#,
            "plan field `protocol.requests[0].label`: must be 1 to 128 bytes",
        ),
    ];
    for (mix, want) in cases {
        let got = plan_error(mix);
        assert!(got.starts_with(want), "{mix}\n got: {got}\nwant: {want}");
    }
    let many: Vec<String> = (0..65).map(|i| format!(r#"{{"path":"/{i}"}}"#)).collect();
    let got = plan_error(&format!(r#""requests":[{}]"#, many.join(",")));
    assert!(
        got.starts_with("plan field `protocol.requests`: 65 entries; a mix has at most 64"),
        "{got}"
    );
}

#[test]
fn websocket_and_tcp_entries_are_checked_too() {
    let ws = |entries: &str| {
        let text = format!(
            r#"{{"abi_version":2,"connections":1,"requests":1,
               "protocol":{{"kind":"ws","url":"ws://127.0.0.1:9/","message_hex":"61",
                 "requests":{entries}}}}}"#
        );
        Plan::from_json(&text).map(|p| p.mix.unwrap())
    };
    let mix = ws(r#"[{"size":100,"weight":3},{"size":4096,"binary":true}]"#).unwrap();
    assert_eq!(mix.labels(), ["100 B", "4096 B"]);
    let err = ws(r#"[{"weight":3}]"#).unwrap_err().to_string();
    assert!(
        err.starts_with("plan field `protocol.requests[0].message_hex`: give message_hex or size"),
        "{err}"
    );
    let err = ws(r#"[{"message_hex":"ff"}]"#).unwrap_err().to_string();
    assert!(
        err.contains("requests[0].message_hex`: a text message must be UTF-8"),
        "{err}"
    );
    let tcp = r#"{"abi_version":2,"target":"127.0.0.1:9","connections":1,"requests":1,
           "protocol":{"kind":"tcp","payload_hex":"61","reply":{"kind":"echo"},
             "requests":[{"payload_hex":"62","reply":{"kind":"fixed","bytes":0}}]}}"#;
    let err = Plan::from_json(tcp).unwrap_err().to_string();
    assert!(
        err.starts_with("plan field `protocol.requests[0].reply.bytes`: must be between"),
        "{err}"
    );
}

#[test]
fn tcp_entries_frame_their_replies_each_their_own_way() {
    // A line ended by "\n" and a 40-byte echo, picked at random on each connection: a
    // reply framed by the wrong entry's rule would leave the stream out of step.
    let addr = echo_server();
    let mix = format!(
        r#""requests":[{{"label":"line","payload_hex":"{}0a","reply":{{"kind":"delimiter","delimiter_hex":"0a"}}}},
                      {{"label":"block","payload_hex":"{}"}}],"seed":3"#,
        "6c".repeat(9),
        "62".repeat(40)
    );
    let plan = Plan::from_json(&tcp_mix_plan(addr, &mix, r#""requests":2000,"#)).unwrap();
    let s = finish(&Run::start(plan).unwrap()).summary;
    assert_eq!(s.errors.total(), 0, "{:?}", s.error_messages);
    assert_eq!(s.requests, 2000);
    let (line, block) = (s.labels[0].requests, s.labels[1].requests);
    assert!(line > 800 && block > 800, "{line} {block}");
    assert_eq!(s.bytes_received, line * 10 + block * 40);
}
