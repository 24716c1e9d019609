//! The engine against a plain echo server on loopback, started inside the test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use cannonade_core::{Plan, Run, StartError, StoppedBy};

/// An echo server on 127.0.0.1; each connection is closed after `close_after` bytes
/// when given. Its threads end with the test process.
fn echo_server(close_after: Option<usize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut echoed = 0;
                loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n.min(close_after.map_or(usize::MAX, |c| c - echoed)),
                    };
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                    echoed += n;
                    if close_after.is_some_and(|c| echoed >= c) {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn plan(addr: SocketAddr, extra: &str) -> Plan {
    let text = format!(
        r#"{{"abi_version":1,"target":"{addr}","connections":4,"threads":2,
           "protocol":{{"kind":"tcp","payload_hex":"{}","reply":{{"kind":"echo"}}}}{extra}}}"#,
        "5a".repeat(100)
    );
    Plan::from_json(&text).unwrap()
}

fn finish(run: &Run) -> cannonade_core::Finished {
    assert!(
        run.wait(Some(Duration::from_secs(30))),
        "run did not finish"
    );
    run.outcome().unwrap().unwrap()
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
