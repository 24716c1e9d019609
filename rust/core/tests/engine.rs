//! The engine against a plain echo server on loopback, started inside the test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use cannonade_core::{Plan, Run, StartError, StoppedBy};

mod common;

use common::{echo_server, stalling_echo_server};

fn plan(addr: SocketAddr, extra: &str) -> Plan {
    let text = format!(
        r#"{{"abi_version":2,"target":"{addr}","connections":4,"threads":2,
           "protocol":{{"kind":"tcp","payload_hex":"{}","reply":{{"kind":"echo"}}}}{extra}}}"#,
        "5a".repeat(100)
    );
    Plan::from_json(&text).unwrap()
}

fn finish(run: &Run) -> cannonade_core::Finished {
    common::finish_within(run, 30)
}

#[test]
fn request_count_is_exact() {
    let addr = echo_server(None);
    let run = Run::start(plan(addr, r#","requests":1001"#)).unwrap();
    let f = finish(&run);
    let s = &f.summary;
    assert_eq!(s.stopped_by, StoppedBy::Requests);
    assert_eq!(s.requests, 1001);
    assert_eq!(s.bytes_sent, 100 * 1001);
    assert_eq!(s.bytes_received, 100 * 1001);
    assert_eq!(s.errors.total(), 0);
    assert_eq!(s.connections_opened, 4);
    assert_eq!(f.latency_ns.len(), 1001);
    let p: Vec<u64> = s.latency_ns.percentiles.iter().map(|&(_, v)| v).collect();
    assert!(s.latency_ns.min <= p[0] && p.windows(2).all(|w| w[0] <= w[1]));
    assert!(p[4] <= s.latency_ns.max);
}

#[test]
fn duration_stops_the_run() {
    let addr = echo_server(None);
    let run = Run::start(plan(addr, r#","duration_ms":300"#)).unwrap();
    let s = finish(&run).summary;
    assert_eq!(s.stopped_by, StoppedBy::Duration);
    assert!(s.requests > 0);
    assert!(s.duration_ns >= 300_000_000, "{}", s.duration_ns);
}

#[test]
fn stop_ends_a_long_run() {
    let addr = echo_server(None);
    let run = Run::start(plan(addr, r#","duration_ms":600000"#)).unwrap();
    assert!(!run.wait(Some(Duration::from_millis(100))));
    run.stop();
    run.stop();
    let s = finish(&run).summary;
    assert_eq!(s.stopped_by, StoppedBy::Stop);
}

#[test]
fn closed_connections_are_counted_and_reopened() {
    // Each connection carries 3.5 exchanges of 100 bytes before the server closes it.
    let addr = echo_server(Some(350));
    let run = Run::start(plan(addr, r#","requests":40"#)).unwrap();
    let s = finish(&run).summary;
    assert_eq!(s.requests, 40);
    assert!(s.errors.closed > 0, "{:?}", s.errors);
    assert!(s.connections_opened > 4);
}

#[test]
fn without_reconnect_lost_connections_end_the_run() {
    let addr = echo_server(Some(250));
    let run = Run::start(plan(addr, r#","requests":1000,"reconnect":false"#)).unwrap();
    let s = finish(&run).summary;
    assert_eq!(s.stopped_by, StoppedBy::ConnectionsLost);
    // Two whole exchanges per connection, then the half reply is cut off.
    assert_eq!(s.requests, 8);
    assert_eq!(s.errors.closed, 4);
}

#[test]
fn refused_target_fails_to_start() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = Run::start(plan(addr, r#","requests":1"#)).err().unwrap();
    assert!(matches!(err, StartError::Connect { .. }));
    let text = err.to_string();
    assert!(
        text.contains(&addr.to_string()) && text.contains("refused"),
        "{text}"
    );
}

#[test]
fn intervals_add_up_to_the_run() {
    let addr = echo_server(None);
    let run = Run::start(plan(addr, r#","duration_ms":1100,"interval_ms":200"#)).unwrap();
    let f = finish(&run);
    let intervals = run.poll();
    assert!(run.poll().is_empty(), "poll drains what it returns");
    // Five whole 200 ms intervals and a short last one (it may be empty but exists).
    assert_eq!(intervals.len() as u64, f.summary.intervals);
    assert!((6..=7).contains(&intervals.len()), "{}", intervals.len());
    for (i, iv) in intervals.iter().enumerate() {
        assert_eq!(iv.index, i as u64);
        assert_eq!(iv.span.start_ns, i as u64 * 200_000_000);
        assert!(
            iv.span.end_ns > iv.span.start_ns && iv.span.end_ns <= iv.span.start_ns + 200_000_000
        );
        assert_eq!(iv.span.latency_ns.count, iv.span.requests);
    }
    let total: u64 = intervals.iter().map(|iv| iv.span.requests).sum();
    assert_eq!(total, f.summary.requests);
    let bytes: u64 = intervals.iter().map(|iv| iv.span.bytes_received).sum();
    assert_eq!(bytes, f.summary.bytes_received);
    assert!(intervals[1].span.requests > 0);
}

#[test]
fn intervals_can_be_polled_while_running() {
    let addr = echo_server(None);
    let run = Run::start(plan(addr, r#","duration_ms":60000,"interval_ms":50"#)).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        assert!(!run.wait(Some(Duration::from_millis(20))));
        seen.extend(run.poll());
    }
    run.stop();
    finish(&run);
    seen.extend(run.poll());
    let indices: Vec<u64> = seen.iter().map(|iv| iv.index).collect();
    assert_eq!(indices, (0..seen.len() as u64).collect::<Vec<_>>());
}

#[test]
fn constant_rate_completes_its_requests_with_both_latencies() {
    let addr = echo_server(None);
    let run = Run::start(plan(addr, r#","requests":100,"rate_per_s":400"#)).unwrap();
    let s = finish(&run).summary;
    assert_eq!(s.requests, 100);
    assert_eq!(s.rate_per_s, Some(400.0));
    assert_eq!(s.uncorrected_latency_ns.count, 100);
    assert_eq!(s.send_lag_ns.as_ref().unwrap().count, 100);
    // The last of 100 requests at 400/s is due at 247.5 ms: the run cannot be shorter.
    assert!(s.duration_ns >= 247_000_000, "{}", s.duration_ns);
}

#[test]
fn closed_loop_records_the_generators_turnaround() {
    // One gap per request after each connection's first; none in open loop.
    let addr = echo_server(None);
    let run = Run::start(plan(addr, r#","requests":400"#)).unwrap();
    let s = finish(&run).summary;
    assert!(s.send_lag_ns.is_none());
    let gap = s.send_gap_ns.as_ref().expect("closed loop has a send gap");
    assert_eq!(gap.count, 400 - 4);
    assert!(gap.min > 0 && gap.max < s.duration_ns, "{gap:?}");
    let phase = &s.phases[0];
    assert_eq!(phase.send_gap_ns.as_ref().unwrap().count, 400 - 4);

    let run = Run::start(plan(addr, r#","requests":40,"rate_per_s":400"#)).unwrap();
    let s = finish(&run).summary;
    assert!(s.send_gap_ns.is_none() && s.phases[0].send_gap_ns.is_none());
}

#[test]
fn think_time_is_not_in_the_turnaround() {
    let addr = echo_server(None);
    let run = Run::start(plan(addr, r#","requests":24,"think_time_ms":50"#)).unwrap();
    let s = finish(&run).summary;
    let gap = s.send_gap_ns.as_ref().unwrap();
    assert_eq!(gap.count, 24 - 4);
    // 20 waits of 50 ms each: a gap that counted them would be at least 50 ms, every
    // one of them. The median, not the max: one gap may meet a 50 ms pause of a loaded
    // machine, half of them will not.
    assert!(gap.percentiles[0].1 < 50_000_000, "{gap:?}");
}

#[test]
fn rate_below_the_number_of_connections_still_sends() {
    // 8 requests/s over 4 connections: every connection sends one request every 0.5 s.
    let addr = echo_server(None);
    let run = Run::start(plan(addr, r#","requests":4,"rate_per_s":8"#)).unwrap();
    let s = finish(&run).summary;
    assert_eq!(s.requests, 4);
    assert_eq!(s.errors.total(), 0);
}

/// Coordinated omission: a server that stalls for S out of every P ms, loaded at a
/// constant rate. Requests due during a stall wait for its end, so a fraction S/P of
/// them have corrected latencies spread up to S, and the corrected p99 sits near S.
/// Only the few requests in flight when a stall starts (at most one per connection)
/// see it in their uncorrected latency, far fewer than 1%: the uncorrected p99 stays
/// near the round trip, while its max shows one whole stall.
#[test]
fn corrected_latency_shows_stalls_that_uncorrected_hides() {
    let stall = Duration::from_millis(400);
    let every = Duration::from_millis(1000);
    let stall_ns = stall.as_nanos() as u64;
    let addr = stalling_echo_server(None, Some((stall, every)));
    // 2000/s for 2.5 s: 5000 requests, about 2000 due inside stalls; 4 connections put
    // at most 4 requests per stall (12 in all, 0.24%) in flight when a stall begins.
    // A run in which the generator fell behind its schedule, or a reply was held, by
    // more than a stall and a margin (a loaded machine paused the generator or the
    // server) is no test of the correction: it is run again, up to three times, as the
    // warm-up test in Python does. Without such a pause a corrected latency (lag plus
    // reply time) is at most twice the stall and the margins.
    let mut s = None;
    for _attempt in 0..3 {
        let run = Run::start(plan(addr, r#","duration_ms":2500,"rate_per_s":2000"#)).unwrap();
        let summary = finish(&run).summary;
        let lag = summary
            .send_lag_ns
            .as_ref()
            .expect("open loop has a send lag");
        // Paused: a request sent, or a reply held, longer than the stall and a margin.
        let pause_ns = stall_ns + 100_000_000;
        let paused = lag.max > pause_ns || summary.uncorrected_latency_ns.max > pause_ns;
        s = Some(summary);
        if !paused {
            break;
        }
    }
    let s = s.unwrap();
    let p99 = |l: &cannonade_core::summary::Latency| l.percentiles[2].1;
    assert!(s.requests > 2000, "{}", s.requests);
    assert!(
        p99(&s.latency_ns) >= stall_ns / 2,
        "corrected p99 {} ns should be near the {stall_ns} ns stall",
        p99(&s.latency_ns)
    );
    assert!(
        p99(&s.uncorrected_latency_ns) < stall_ns / 4,
        "uncorrected p99 {} ns should not show the stall",
        p99(&s.uncorrected_latency_ns)
    );
    assert!(s.uncorrected_latency_ns.max >= stall_ns / 2);
    assert!(
        s.latency_ns.max <= 2 * stall_ns + 200_000_000,
        "{}",
        s.latency_ns.max
    );
}

/// A server that accepts connections and never reads from them; it holds them open.
fn deaf_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.extend(stream.ok());
        }
    });
    addr
}

#[test]
fn a_write_the_server_never_reads_ends_as_a_timeout() {
    // 4 MB fill the socket buffers of a server that does not read, so the write blocks.
    let addr = deaf_server();
    let text = format!(
        r#"{{"abi_version":2,"target":"{addr}","connections":1,"threads":1,"requests":2,
           "request_timeout_ms":1000,
           "protocol":{{"kind":"tcp","payload_hex":"{}","reply":{{"kind":"fixed","bytes":1}}}}}}"#,
        "5a".repeat(4_000_000)
    );
    let run = Run::start(Plan::from_json(&text).unwrap()).unwrap();
    let s = finish(&run).summary;
    // Each of the two requests timed out (and was counted against the request count,
    // so the run ended); the connection was reopened for the second.
    assert_eq!(s.errors.timeout, 2, "{:?}", s.errors);
    assert_eq!(s.requests, 0);
    assert_eq!(s.stopped_by, StoppedBy::Requests);
    assert_eq!(s.bytes_sent, 0, "the write never completed");
    assert_eq!(s.connections_opened, 2);
    let words = &s.error_messages["timeout"];
    assert_eq!(words.count, 2);
    assert!(
        words.first.contains("request timeout of 1000 ms"),
        "{}",
        words.first
    );
}

/// A server that answers every HTTP request with a malformed status line, then closes.
fn bad_status_line_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                if matches!(stream.read(&mut buf), Ok(n) if n > 0) {
                    let _ = stream.write_all(b"HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n");
                }
            });
        }
    });
    addr
}

#[test]
fn protocol_errors_keep_the_codecs_words() {
    let addr = bad_status_line_server();
    let text = format!(
        r#"{{"abi_version":2,"target":"{addr}","connections":2,"threads":1,"duration_ms":300,
           "protocol":{{"kind":"http","url":"http://{addr}/"}}}}"#
    );
    let run = Run::start(Plan::from_json(&text).unwrap()).unwrap();
    let s = finish(&run).summary;
    assert_eq!(s.requests, 0);
    assert!(s.errors.protocol > 0, "{:?}", s.errors);
    let words = &s.error_messages["protocol"];
    assert_eq!(words.count, s.errors.protocol, "counts add over workers");
    assert!(
        words.first.starts_with("HTTP: bad status line"),
        "{}",
        words.first
    );
    // Kinds without failures have no entry; the phases carry their own.
    assert!(!s.error_messages.contains_key("timeout"));
    let phase_words = &s.phases[0].error_messages["protocol"];
    assert_eq!(phase_words.first, words.first);
    let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(
        json["error_messages"]["protocol"]["first"].as_str(),
        Some(words.first.as_str())
    );
}

/// A WebSocket echo server for small messages that records, per connection, the status
/// code of the client's Close frame (0 when the client left without one).
fn ws_server(closes: std::sync::Arc<std::sync::Mutex<Vec<u16>>>) -> SocketAddr {
    ws_server_answering(closes, true, Default::default())
}

/// As [`ws_server`]; a client's Close is answered only if `answer_close` (if not, the
/// server reads on until the client goes). `open` counts the connections open now and
/// the most ever open at once.
fn ws_server_answering(
    closes: std::sync::Arc<std::sync::Mutex<Vec<u16>>>,
    answer_close: bool,
    open: std::sync::Arc<std::sync::Mutex<(usize, usize)>>,
) -> SocketAddr {
    use std::io::BufRead;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let closes = std::sync::Arc::clone(&closes);
            let open = std::sync::Arc::clone(&open);
            {
                let mut open = open.lock().unwrap();
                open.0 += 1;
                open.1 = open.1.max(open.0);
            }
            std::thread::spawn(move || {
                struct Gone(std::sync::Arc<std::sync::Mutex<(usize, usize)>>);
                impl Drop for Gone {
                    fn drop(&mut self) {
                        self.0.lock().unwrap().0 -= 1;
                    }
                }
                let _gone = Gone(open);
                let mut out = stream.try_clone().unwrap();
                let mut input = std::io::BufReader::new(stream);
                let mut key = String::new();
                loop {
                    let mut line = String::new();
                    if input.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(k) = line.strip_prefix("Sec-WebSocket-Key: ") {
                        key = k.trim().to_string();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let accept = cannonade_core::codec::ws::accept_key(&key);
                let reply = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                out.write_all(reply.as_bytes()).unwrap();
                loop {
                    let mut head = [0u8; 2];
                    if input.read_exact(&mut head).is_err() {
                        closes.lock().unwrap().push(0);
                        return;
                    }
                    let len = usize::from(head[1] & 0x7f);
                    assert!(len < 126 && head[1] & 0x80 != 0, "small masked frames");
                    let mut mask = [0u8; 4];
                    let mut payload = vec![0u8; len];
                    input.read_exact(&mut mask).unwrap();
                    input.read_exact(&mut payload).unwrap();
                    for (i, b) in payload.iter_mut().enumerate() {
                        *b ^= mask[i % 4];
                    }
                    let opcode = head[0] & 0x0f;
                    if opcode == 0x8 {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        closes.lock().unwrap().push(code);
                        if answer_close {
                            let _ = out.write_all(&[0x88, 0x02, payload[0], payload[1]]);
                        } else {
                            while matches!(input.read(&mut [0u8; 64]), Ok(1..)) {}
                        }
                        return;
                    }
                    let mut frame = vec![0x80 | opcode, len as u8];
                    frame.extend_from_slice(&payload);
                    if out.write_all(&frame).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn ws_plan(addr: SocketAddr, extra: &str) -> Plan {
    Plan::from_json(&format!(
        r#"{{"abi_version":2,"connections":3,"threads":1,
           "protocol":{{"kind":"ws","url":"ws://{addr}/","message_hex":"68656c6c6f"}}{extra}}}"#
    ))
    .unwrap()
}

#[test]
fn websocket_connections_end_with_a_close_frame() {
    for end in [r#","duration_ms":300"#, r#","requests":30"#] {
        let closes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let addr = ws_server(std::sync::Arc::clone(&closes));
        let run = Run::start(ws_plan(addr, end)).unwrap();
        let s = finish(&run).summary;
        assert!(
            s.requests > 0 && s.errors.total() == 0,
            "{end}: {:?}",
            s.errors
        );
        // The worker waited for the server's answering Close, sent after it recorded.
        assert_eq!(*closes.lock().unwrap(), [1000, 1000, 1000], "{end}");
    }
}

#[test]
fn churned_websocket_connections_end_with_a_close_frame() {
    // Every connection carries 4 messages, then is closed and replaced: by count, and
    // by count at a connection rate.
    for churn in [
        r#","requests":30,"requests_per_connection":4"#,
        r#","requests":30,"requests_per_connection":4,"connection_rate_per_s":200"#,
    ] {
        let closes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let addr = ws_server(std::sync::Arc::clone(&closes));
        let run = Run::start(ws_plan(addr, churn)).unwrap();
        let s = finish(&run).summary;
        assert_eq!(s.requests, 30, "{churn}");
        assert_eq!(s.errors.total(), 0, "{churn}: {:?}", s.errors);
        // 3 connections of 10 messages each, 4 per socket: 3 sockets each.
        assert_eq!(s.connections_opened, 9, "{churn}");
        // The server records a connection when it ends; the last ones' goodbyes were
        // waited for by the run.
        let closes = closes.lock().unwrap().clone();
        assert_eq!(
            closes,
            vec![1000; 9],
            "{churn}: 0 is a socket dropped without a Close"
        );
    }
}

/// An echo server that ends every connection silent for its first 200 ms (the idle
/// ones, and the start-up probe): closed, or reset when `reset`.
fn silence_dropping_server(reset: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                match stream.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = stream.set_read_timeout(None);
                        let _ = stream.write_all(&buf[..n]);
                    }
                    Ok(_) => return,
                    Err(_) => {
                        if reset {
                            let linger = socket2::SockRef::from(&stream);
                            linger.set_linger(Some(Duration::ZERO)).unwrap();
                        }
                        return;
                    }
                }
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn idle_connections_the_server_drops_are_counted() {
    for (reset, kind) in [(false, "closed"), (true, "reset")] {
        let addr = silence_dropping_server(reset);
        let run = Run::start(plan(addr, r#","duration_ms":1000,"idle_connections":5"#)).unwrap();
        let s = finish(&run).summary;
        let idle = s.idle_connections;
        assert_eq!(
            (idle.requested, idle.opened, idle.held),
            (5, 5, 0),
            "{kind}"
        );
        assert!(s.requests > 0, "{kind}: the load is served");
        let count = if reset {
            s.errors.reset
        } else {
            s.errors.closed
        };
        assert_eq!(count, 5, "{kind}: {:?}", s.errors);
        assert_eq!(s.errors.total(), 5, "{kind}: {:?}", s.errors);
        let words = &s.error_messages[kind];
        assert_eq!(words.count, 5);
        assert!(
            words.first.starts_with("idle connection: "),
            "{}",
            words.first
        );
    }
}

/// A WebSocket server that answers 403 to the upgrade of connections 1 to `refuse`
/// (in the order accepted; 0 is the engine's start-up probe) and echoes on the others.
/// A worker opens its idle connections before its load connections, so with one worker
/// those refused are idle ones.
fn upgrade_refusing_ws_server(refuse: usize) -> SocketAddr {
    let closes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let echo = ws_server(closes);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                if (1..=refuse).contains(&index) {
                    let _ = stream.read(&mut buf);
                    let _ = stream.write_all(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                // Forwarded to the echo server, both ways.
                let Ok(mut upstream) = std::net::TcpStream::connect(echo) else {
                    return;
                };
                let (mut down, mut up) =
                    (stream.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || std::io::copy(&mut up, &mut down));
                let _ = std::io::copy(&mut stream, &mut upstream);
                let _ = upstream.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

#[test]
fn idle_connections_that_fail_to_open_are_counted() {
    let addr = upgrade_refusing_ws_server(3);
    let plan = Plan::from_json(&format!(
        r#"{{"abi_version":2,"connections":1,"threads":1,"duration_ms":500,"idle_connections":4,
           "protocol":{{"kind":"ws","url":"ws://{addr}/","message_hex":"68656c6c6f"}}}}"#
    ))
    .unwrap();
    let run = Run::start(plan).unwrap();
    let s = finish(&run).summary;
    let idle = s.idle_connections;
    assert_eq!((idle.requested, idle.opened, idle.held), (4, 1, 1));
    assert!(s.requests > 0, "the load is served");
    assert_eq!(s.errors.protocol, 3, "{:?}", s.errors);
    assert_eq!(s.errors.total(), 3, "{:?}", s.errors);
    let words = &s.error_messages["protocol"];
    assert!(
        words.first.starts_with("idle connection: ") && words.first.contains("403"),
        "{}",
        words.first
    );
}

#[test]
fn churn_against_a_server_that_never_answers_a_close_stays_bounded_and_polite() {
    // Every goodbye waits out its 150 ms: past 16 in flight in the worker, connections
    // say goodbye before reconnecting, so at most 40 + 16 sockets are open at once.
    let closes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let open = std::sync::Arc::new(std::sync::Mutex::new((0, 0)));
    let addr = ws_server_answering(std::sync::Arc::clone(&closes), false, open.clone());
    let plan = Plan::from_json(&format!(
        r#"{{"abi_version":2,"connections":40,"threads":1,"requests":120,
           "requests_per_connection":1,
           "protocol":{{"kind":"ws","url":"ws://{addr}/","message_hex":"68656c6c6f"}}}}"#
    ))
    .unwrap();
    let run = Run::start(plan).unwrap();
    let s = finish(&run).summary;
    assert_eq!((s.requests, s.connections_opened), (120, 120));
    assert_eq!(s.errors.total(), 0, "{:?}", s.errors);
    let most_open = open.lock().unwrap().1;
    // The server sees a socket go a little after it went, and the start-up probe may
    // still be open: a margin, far below the 120 of goodbyes without a bound.
    assert!(most_open < 40 + 16 + 20, "{most_open} sockets open at once");
    // Every connection sent its Close, the last ones' goodbyes cut at the run's end.
    let closes = closes.lock().unwrap().clone();
    assert!(closes.len() >= 120 - 40, "{}", closes.len());
    assert!(closes.iter().all(|&code| code == 1000), "{closes:?}");
}

/// An echo server that answers for `answering` after it accepts a connection, then
/// reads on without answering; it counts the replies it sent after `late` into the
/// connection.
fn falls_silent_server(
    answering: Duration,
    late: Duration,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let late_replies = std::sync::Arc::new(AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&late_replies);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            let counter = std::sync::Arc::clone(&counter);
            std::thread::spawn(move || {
                let accepted = Instant::now();
                let mut buf = [0u8; 4096];
                loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let into = accepted.elapsed();
                    if into >= answering {
                        continue;
                    }
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                    if into >= late {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (addr, late_replies)
}

#[test]
fn the_request_timeout_runs_from_each_request_not_from_the_first() {
    // One timer serves all of a connection's requests: it must neither fire at the first
    // request's deadline while replies keep coming, nor miss the request that gets none.
    let (addr, late_replies) =
        falls_silent_server(Duration::from_millis(2500), Duration::from_millis(1500));
    let text = format!(
        r#"{{"abi_version":2,"target":"{addr}","connections":1,"threads":1,"duration_ms":8000,
           "request_timeout_ms":1000,"reconnect":false,
           "protocol":{{"kind":"tcp","payload_hex":"5a5a","reply":{{"kind":"echo"}}}}}}"#
    );
    let run = Run::start(Plan::from_json(&text).unwrap()).unwrap();
    let s = finish(&run).summary;
    assert_eq!(s.errors.timeout, 1, "{:?}", s.errors);
    assert_eq!(s.stopped_by, StoppedBy::ConnectionsLost);
    let late = late_replies.load(std::sync::atomic::Ordering::Relaxed);
    assert!(late > 0, "no reply after 1.5 s: the timeout fired early");
    assert!(
        s.requests >= late,
        "{} requests, {late} late replies",
        s.requests
    );
}
