//! Shape mode over time, from outside: requests timed by a plain client against the
//! testee binary. Only lower bounds are tight (a slow reply took at least its service
//! time); a fast reply is only required to be far quicker than a slow one, which holds
//! on a loaded machine.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::Testee;

/// A slow reply's service time: long enough that a fast reply (expected within a few
/// milliseconds) cannot be mistaken for one even on a busy machine.
const SLOW: Duration = Duration::from_millis(300);

fn connect(testee: &Testee) -> TcpStream {
    let stream = TcpStream::connect(&testee.address).expect("connect to the testee");
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// One GET on `stream`: how long until its whole reply (13-byte body) was read.
fn get(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: testee\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    while !reply.ends_with(b"Hello, world!") {
        let n = stream.read(&mut buf).expect("read the reply");
        assert!(n > 0, "the testee closed the connection: {reply:?}");
        reply.extend_from_slice(&buf[..n]);
    }
    assert!(reply.starts_with(b"HTTP/1.1 200 "), "{reply:?}");
    started.elapsed()
}

/// Waits until `at` after the testee's `listening on` line, hence at least `at` after
/// its start.
fn wait_until(testee: &Testee, at: Duration) {
    let now = testee.ready.elapsed();
    if now < at {
        thread::sleep(at - now);
    }
}

fn testee(shape: &str) -> Testee {
    let slow = SLOW.as_micros().to_string();
    let mut args: Vec<&str> = vec!["http"];
    args.extend(shape.split_whitespace());
    args.extend(["--slow-us", slow.as_str(), "--fast-us", "0"]);
    Testee::start(&args)
}

#[test]
fn warmup_is_slow_before_the_step_and_fast_after() {
    let testee = testee("--shape warmup --at-ms 2000");
    let mut s = connect(&testee);
    let before = get(&mut s);
    assert!(before >= SLOW, "before the step: {before:?}");
    wait_until(&testee, Duration::from_millis(2000));
    let after = get(&mut s);
    assert!(after < SLOW, "after the step: {after:?}");
}

#[test]
fn slowdown_is_fast_before_the_step_and_slow_after() {
    let testee = testee("--shape slowdown --at-ms 2000");
    let mut s = connect(&testee);
    let before = get(&mut s);
    assert!(before < SLOW, "before the step: {before:?}");
    wait_until(&testee, Duration::from_millis(2000));
    let after = get(&mut s);
    assert!(after >= SLOW, "after the step: {after:?}");
}

#[test]
fn alternate_switches_every_half_period() {
    // Halves of 1.5 s: slow in [0, 1.5), fast in [1.5, 3), slow again in [3, 4.5).
    let testee = testee("--shape alternate --period-ms 3000");
    let mut s = connect(&testee);
    let first = get(&mut s);
    assert!(first >= SLOW, "first half: {first:?}");
    wait_until(&testee, Duration::from_millis(1600));
    let second = get(&mut s);
    assert!(second < SLOW, "second half: {second:?}");
    wait_until(&testee, Duration::from_millis(3100));
    let third = get(&mut s);
    assert!(third >= SLOW, "the next period's first half: {third:?}");
}

#[test]
fn flat_delays_every_reply_without_holding_up_other_connections() {
    let delay = SLOW.as_micros().to_string();
    let testee = Testee::start(&["http", "--shape", "flat", "--delay-us", &delay]);
    let mut s = connect(&testee);
    for _ in 0..2 {
        let took = get(&mut s);
        assert!(took >= SLOW, "{took:?}");
    }
    // Eight connections at once: served one after the other, the last would wait eight
    // service times; served side by side, all finish after about one.
    let connections = 8;
    let started = Instant::now();
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let mut s = connect(&testee);
            thread::spawn(move || get(&mut s))
        })
        .collect();
    for client in clients {
        let took = client.join().unwrap();
        assert!(took >= SLOW, "{took:?}");
    }
    let all = started.elapsed();
    assert!(
        all < SLOW * connections,
        "the waits were served in turn: {all:?}"
    );
}

#[test]
fn bad_shape_flags_are_refused_with_usage() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cannonade-testee"))
        .args(["http", "--shape", "warmup", "--at-ms", "100"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--slow-us"), "{stderr}");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_cannonade-testee"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for shape in ["flat", "warmup", "slowdown", "alternate"] {
        assert!(help.contains(&format!("--shape {shape}")), "{help}");
    }
}
