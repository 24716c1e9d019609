//! Starting the testee binary from an integration test.
// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// A testee process, killed when dropped.
pub struct Testee {
    child: Child,
    /// `HOST:PORT` it listens on.
    pub address: String,
    /// When its `listening on` line was read: after the server's start, from which its
    /// delays are counted.
    pub ready: Instant,
}

impl Testee {
    pub fn start(args: &[&str]) -> Testee {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cannonade-testee"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the testee");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready = Instant::now();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Testee {
            child,
            address,
            ready,
        }
    }
}

impl Drop for Testee {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
