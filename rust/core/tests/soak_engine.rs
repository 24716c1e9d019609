//! The engine's own memory over a long run, without Python: how much of a soak's RSS
//! growth is the engine's. Ignored (a measurement, not a check); run each on its own,
//! so that one's allocations do not hide the other's:
//!
//!     cargo test --release -p cannonade-core --test soak_engine -- --ignored --nocapture --exact unpolled
//!     cargo test --release -p cannonade-core --test soak_engine -- --ignored --nocapture --exact polled
//!
//! Both run a TCP echo load at 2,000 requests/s with 10 ms intervals for 90 s (9,000
//! intervals) and print the process's RSS every 5 s. Unpolled, the engine keeps finished
//! intervals for a poll that never comes, up to `MAX_PENDING_INTERVALS` (3,600, reached
//! at 36 s here) and then drops the oldest; polled, it keeps none.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cannonade_core::run::MAX_PENDING_INTERVALS;
use cannonade_core::{Plan, Run};

mod common;

fn echo_server() -> SocketAddr {
    common::echo_server(None)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn soak(poll: bool) {
    let addr = echo_server();
    let plan = Plan::from_json(&format!(
        r#"{{"abi_version":2,"target":"{addr}","connections":32,"threads":1,
           "duration_ms":90000,"rate_per_s":2000,"interval_ms":10,
           "protocol":{{"kind":"tcp","payload_hex":"{}","reply":{{"kind":"echo"}}}}}}"#,
        "5a".repeat(64)
    ))
    .unwrap();
    let run = Run::start(plan).unwrap();
    let started = Instant::now();
    let (mut polled, mut next) = (0, Duration::ZERO);
    println!("elapsed_s rss_kib polled");
    while !run.wait(Some(Duration::from_millis(100))) {
        if poll {
            polled += run.poll().len();
        }
        if started.elapsed() >= next {
            println!("{} {} {polled}", started.elapsed().as_secs(), rss_kib());
            next += Duration::from_secs(5);
        }
    }
    let summary = run.outcome().unwrap().unwrap().summary;
    let (intervals, dropped) = (summary.intervals, run.intervals_dropped());
    println!(
        "requests {} intervals {intervals} dropped {dropped} rss_kib {}",
        summary.requests,
        rss_kib()
    );
    if poll {
        assert_eq!(dropped, 0);
    } else {
        assert_eq!(dropped, intervals - MAX_PENDING_INTERVALS as u64);
    }
}

#[test]
#[ignore = "a 90 s measurement; see the file's comment"]
fn unpolled() {
    soak(false);
}

#[test]
#[ignore = "a 90 s measurement; see the file's comment"]
fn polled() {
    soak(true);
}
