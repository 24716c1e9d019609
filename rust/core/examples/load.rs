//! Runs one plan straight from the engine and prints its summary as JSON. Used by
//! bench/ to measure the engine alone, without an interpreter around it:
//!
//!     cargo run --release -p cannonade-core --example load -- plan.json

use std::process::ExitCode;

use cannonade_core::{Plan, Run};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: load PLAN.json");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("load: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = match Plan::from_json(&text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    let run = match Run::start(plan) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::FAILURE;
        }
    };
    run.wait(None);
    match run.outcome() {
        Some(Ok(finished)) => {
            println!("{}", finished.summary.to_json());
            ExitCode::SUCCESS
        }
        Some(Err(e)) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
        None => unreachable!("wait(None) returns once the run has finished"),
    }
}
