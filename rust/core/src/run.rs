//! A run in progress: worker threads started from a plan, and a collector thread that
//! merges their recorders into the final summary when they stop.

use std::fmt;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::watch;

use crate::plan::Plan;
use crate::recorder::Recorder;
use crate::summary::{histogram_v2_deflate, StoppedBy, Summary};
use crate::worker::{run_worker, WorkerOutcome, WorkerPlan};

/// Why a run could not start.
#[derive(Debug)]
pub enum StartError {
    /// The target did not accept a first connection.
    Connect {
        /// The target as written in the plan.
        target: String,
        /// What the connection attempt returned.
        cause: std::io::Error,
    },
    /// The operating system would not give us a thread.
    Spawn(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Connect { target, cause } => write!(
                f,
                "cannot connect to {target}: {cause}; is the server running and listening there?"
            ),
            StartError::Spawn(e) => write!(f, "cannot start a worker thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Why a started run produced no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    /// What went wrong, for the user.
    pub message: String,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RunError {}

/// A finished run: its summary and its merged latency histogram.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The numbers.
    pub summary: Summary,
    /// Every recorded latency, in nanoseconds.
    pub latency_ns: Histogram<u64>,
}

impl Finished {
    /// The latency histogram in HdrHistogram V2 deflate form.
    pub fn histogram_v2_deflate(&self) -> Vec<u8> {
        histogram_v2_deflate(&self.latency_ns)
    }
}

type Outcome = Option<Result<Finished, RunError>>;

/// A run in progress. Dropping it stops the run and waits for its threads.
pub struct Run {
    stop: watch::Sender<bool>,
    outcome: Arc<(Mutex<Outcome>, Condvar)>,
    collector: Option<JoinHandle<()>>,
}

impl Run {
    /// Checks that the target accepts a connection, then starts the workers.
    pub fn start(plan: Plan) -> Result<Run, StartError> {
        TcpStream::connect_timeout(&plan.addr, plan.connect_timeout).map_err(|cause| {
            StartError::Connect {
                target: plan.target.clone(),
                cause,
            }
        })?;
        let plan = Arc::new(plan);
        let (stop, stop_rx) = watch::channel(false);
        let started_at = Instant::now();
        let deadline = plan.duration.map(|d| started_at + d);
        let mut workers = Vec::with_capacity(plan.threads as usize);
        for (index, budgets) in split_budgets(&plan).into_iter().enumerate() {
            let work = WorkerPlan {
                plan: Arc::clone(&plan),
                budgets,
                deadline,
                stop: stop_rx.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("cannonade-w{index}"))
                .spawn(move || run_worker(work));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    let _ = stop.send(true);
                    for w in workers {
                        let _ = w.join();
                    }
                    return Err(StartError::Spawn(e));
                }
            }
        }
        let outcome: Arc<(Mutex<Outcome>, Condvar)> = Arc::default();
        let shared = Arc::clone(&outcome);
        let collector = std::thread::Builder::new()
            .name("cannonade-collect".into())
            .spawn(move || {
                let result = collect(&plan, started_at, workers);
                let (lock, ready) = &*shared;
                *lock_ignoring_poison(lock) = Some(result);
                ready.notify_all();
            })
            .map_err(|e| {
                let _ = stop.send(true);
                StartError::Spawn(e)
            })?;
        Ok(Run {
            stop,
            outcome,
            collector: Some(collector),
        })
    }

    /// Asks the run to stop; returns at once. Stopping twice is harmless.
    pub fn stop(&self) {
        // Fails only when every worker is gone already, which is as good as stopped.
        let _ = self.stop.send(true);
    }

    /// Waits until the run has finished, for at most `timeout` (forever if `None`).
    /// Returns whether it has finished.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let (lock, ready) = &*self.outcome;
        let guard = lock_ignoring_poison(lock);
        match timeout {
            None => ready
                .wait_while(guard, |o| o.is_none())
                .map(|g| g.is_some())
                .unwrap_or(true),
            Some(limit) => ready
                .wait_timeout_while(guard, limit, |o| o.is_none())
                .map(|(g, _)| g.is_some())
                .unwrap_or(true),
        }
    }

    /// The outcome, once the run has finished: `None` while it runs.
    pub fn outcome(&self) -> Option<Result<Finished, RunError>> {
        lock_ignoring_poison(&self.outcome.0).clone()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.stop();
        if let Some(collector) = self.collector.take() {
            let _ = collector.join();
        }
    }
}

fn lock_ignoring_poison<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    // The collector never panics while holding the lock; a poisoned value is still whole.
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

/// Splits the connections over the workers and the request count over the connections,
/// so no worker shares a counter with another on the hot path.
fn split_budgets(plan: &Plan) -> Vec<Vec<Option<u64>>> {
    let conns = u64::from(plan.connections);
    let threads = u64::from(plan.threads);
    let mut next_conn = 0u64;
    (0..threads)
        .map(|t| {
            let count = conns / threads + u64::from(t < conns % threads);
            (0..count)
                .map(|_| {
                    let c = next_conn;
                    next_conn += 1;
                    plan.requests
                        .map(|total| total / conns + u64::from(c < total % conns))
                })
                .collect()
        })
        .collect()
}

fn collect(
    plan: &Plan,
    started_at: Instant,
    workers: Vec<JoinHandle<std::io::Result<WorkerOutcome>>>,
) -> Result<Finished, RunError> {
    let mut merged = Recorder::default();
    let mut reasons = Vec::with_capacity(workers.len());
    let mut last_finish = started_at;
    let mut failures = Vec::new();
    for (index, worker) in workers.into_iter().enumerate() {
        match worker.join() {
            Ok(Ok(outcome)) => {
                merged.merge(&outcome.recorder);
                reasons.push(outcome.stopped_by);
                last_finish = last_finish.max(outcome.finished_at);
            }
            Ok(Err(e)) => failures.push(format!(
                "worker {index} could not start its event loop: {e}"
            )),
            Err(_) => failures.push(format!("worker {index} panicked")),
        }
    }
    if !failures.is_empty() {
        return Err(RunError {
            message: failures.join("; "),
        });
    }
    let stopped_by = overall_reason(&reasons);
    let summary = Summary::new(plan, stopped_by, last_finish - started_at, &merged);
    Ok(Finished {
        summary,
        latency_ns: merged.latency_ns,
    })
}

/// The run stopped for the strongest reason any worker saw.
fn overall_reason(reasons: &[StoppedBy]) -> StoppedBy {
    [
        StoppedBy::Stop,
        StoppedBy::Duration,
        StoppedBy::ConnectionsLost,
    ]
    .into_iter()
    .find(|r| reasons.contains(r))
    .unwrap_or(StoppedBy::Requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(connections: u32, threads: u32, requests: Option<u64>) -> Plan {
        let text = format!(
            r#"{{"abi_version":1,"target":"127.0.0.1:9","connections":{connections},
               "threads":{threads},"duration_ms":1000{}, "protocol":{{"kind":"tcp",
               "payload_hex":"00","reply":{{"kind":"echo"}}}}}}"#,
            requests
                .map(|r| format!(r#","requests":{r}"#))
                .unwrap_or_default()
        );
        Plan::from_json(&text).unwrap()
    }

    #[test]
    fn budgets_cover_every_connection_and_request() {
        let split = split_budgets(&plan(7, 3, Some(100)));
        let sizes: Vec<usize> = split.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 2, 2]);
        let total: u64 = split.iter().flatten().map(|b| b.unwrap()).sum();
        assert_eq!(total, 100);
        let max = split.iter().flatten().map(|b| b.unwrap()).max().unwrap();
        let min = split.iter().flatten().map(|b| b.unwrap()).min().unwrap();
        assert!(max - min <= 1);
    }

    #[test]
    fn no_request_limit_means_unbounded_budgets() {
        let split = split_budgets(&plan(4, 2, None));
        assert!(split.iter().flatten().all(Option::is_none));
    }

    #[test]
    fn strongest_reason_wins() {
        use StoppedBy::*;
        assert_eq!(overall_reason(&[Requests, Duration]), Duration);
        assert_eq!(overall_reason(&[Requests, Requests]), Requests);
        assert_eq!(
            overall_reason(&[Requests, ConnectionsLost]),
            ConnectionsLost
        );
        assert_eq!(overall_reason(&[Duration, Stop]), Stop);
    }
}
