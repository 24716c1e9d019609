//! What the engine's integration tests share: servers on loopback started inside the
//! test, and waiting for a run. Each test crate uses part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use cannonade_core::Run;

/// An echo server on 127.0.0.1; each connection is closed after `close_after` bytes
/// when given. Its threads end with the test process.
pub fn echo_server(close_after: Option<usize>) -> SocketAddr {
    stalling_echo_server(close_after, None)
}

/// As [`echo_server`], but every reply waits while the server is stalled: the first
/// `stall` of every `every`, counted from the server's start.
pub fn stalling_echo_server(
    close_after: Option<usize>,
    stall: Option<(Duration, Duration)>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let origin = Instant::now();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut echoed = 0;
                loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n.min(close_after.map_or(usize::MAX, |c| c - echoed)),
                    };
                    if let Some((stall, every)) = stall {
                        let into = origin.elapsed().as_nanos() % every.as_nanos();
                        if into < stall.as_nanos() {
                            std::thread::sleep(stall - Duration::from_nanos(into as u64));
                        }
                    }
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

/// The run's outcome, once it has finished (a run still going after `limit_s` fails
/// the test).
pub fn finish_within(run: &Run, limit_s: u64) -> cannonade_core::Finished {
    assert!(
        run.wait(Some(Duration::from_secs(limit_s))),
        "run did not finish"
    );
    run.outcome().unwrap().unwrap()
}
