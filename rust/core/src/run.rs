//! A run in progress: worker threads started from a plan, and a collector thread that
//! merges their recorders into the final summary when they stop.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::TcpStream;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::watch;

use crate::plan::Plan;
use crate::recorder::{Recorder, Shape};
use crate::summary::{
    histogram_v2_deflate, IdleSummary, Interval, Phase, StoppedBy, Summary, DEFAULT_PHASE,
};
use crate::worker::{run_worker, ConnPlan, IdleCounts, Report, WorkerPlan};

/// Finished intervals kept for `poll` at most; older ones are dropped (and counted)
/// so that a run nobody polls does not grow without bound.
pub const MAX_PENDING_INTERVALS: usize = 3_600;

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

/// Longest phase name [`Run::mark_phase`] takes, in bytes.
pub const MAX_PHASE_NAME_BYTES: usize = 64;

/// Why a phase could not be marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseError {
    /// The name is empty, too long or has control characters.
    BadName(String),
    /// The run has finished; there is no interval left to label.
    Finished,
}

impl fmt::Display for PhaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhaseError::BadName(why) => write!(f, "phase name {why}"),
            PhaseError::Finished => f.write_str("the run has finished; mark phases while it runs"),
        }
    }
}

impl std::error::Error for PhaseError {}

/// Which phase the next finished interval belongs to. The collector labels each
/// interval under this lock, so a mark and a label never interleave.
struct PhaseBook {
    /// Bumped by every mark, so two phases of the same name stay apart.
    mark: u64,
    name: String,
    /// The index of the next interval to be labelled.
    next_interval: u64,
    finished: bool,
}

impl Default for PhaseBook {
    fn default() -> PhaseBook {
        PhaseBook {
            mark: 0,
            name: DEFAULT_PHASE.to_owned(),
            next_interval: 0,
            finished: false,
        }
    }
}

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

/// What the collector shares with the run's owner.
#[derive(Default)]
struct Shared {
    outcome: Mutex<Outcome>,
    ready: Condvar,
    intervals: Mutex<PendingIntervals>,
    phases: Mutex<PhaseBook>,
}

#[derive(Default)]
struct PendingIntervals {
    queue: VecDeque<Interval>,
    dropped: u64,
}

/// A run in progress. Dropping it stops the run and waits for its threads.
pub struct Run {
    stop: watch::Sender<bool>,
    shared: Arc<Shared>,
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
        let (reports, reports_rx) = mpsc::channel();
        let started_at = Instant::now();
        let deadline = plan.duration.map(|d| started_at + d);
        let mut workers = Vec::with_capacity(plan.threads as usize);
        let idle_split = split_evenly(u64::from(plan.idle_connections), plan.threads);
        for (index, conns) in split_connections(&plan).into_iter().enumerate() {
            let work = WorkerPlan {
                index,
                plan: Arc::clone(&plan),
                conns,
                idle: idle_split[index].clone(),
                started_at,
                deadline,
                stop: stop_rx.clone(),
                reports: reports.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("cannonade-w{index}"))
                .spawn(move || run_worker(work));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    let _ = stop.send(true);
                    drop(reports_rx);
                    for w in workers {
                        let _ = w.join();
                    }
                    return Err(StartError::Spawn(e));
                }
            }
        }
        // Only the workers hold senders now: the channel ends when the last one stops.
        drop(reports);
        let shared = Arc::new(Shared::default());
        let for_collector = Arc::clone(&shared);
        let collector = std::thread::Builder::new()
            .name("cannonade-collect".into())
            .spawn(move || {
                let result = collect(&plan, started_at, workers, reports_rx, &for_collector);
                lock_ignoring_poison(&for_collector.phases).finished = true;
                *lock_ignoring_poison(&for_collector.outcome) = Some(result);
                for_collector.ready.notify_all();
            })
            .map_err(|e| {
                let _ = stop.send(true);
                StartError::Spawn(e)
            })?;
        Ok(Run {
            stop,
            shared,
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
        let ready = &self.shared.ready;
        let guard = lock_ignoring_poison(&self.shared.outcome);
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
        lock_ignoring_poison(&self.shared.outcome).clone()
    }

    /// The intervals finished since the last call, oldest first. Intervals nobody
    /// polls are kept up to [`MAX_PENDING_INTERVALS`]; see [`Run::intervals_dropped`].
    pub fn poll(&self) -> Vec<Interval> {
        lock_ignoring_poison(&self.shared.intervals)
            .queue
            .drain(..)
            .collect()
    }

    /// Starts a new phase named `name` with the next interval to finish, and returns
    /// that interval's index. Intervals already finished keep their phase, even those
    /// not yet polled: what a caller has decided on stays on the side it decided.
    /// A phase that receives no interval (marked over by the next mark, or marked as
    /// the run ends) does not appear in the summary.
    pub fn mark_phase(&self, name: &str) -> Result<u64, PhaseError> {
        if name.is_empty() {
            return Err(PhaseError::BadName(
                "is empty; give a name such as \"measure\"".into(),
            ));
        }
        if name.len() > MAX_PHASE_NAME_BYTES {
            return Err(PhaseError::BadName(format!(
                "is {} bytes long; the limit is {MAX_PHASE_NAME_BYTES}",
                name.len()
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(PhaseError::BadName(format!(
                "{name:?} has control characters; use printable text"
            )));
        }
        let mut book = lock_ignoring_poison(&self.shared.phases);
        if book.finished {
            return Err(PhaseError::Finished);
        }
        book.mark += 1;
        book.name = name.to_owned();
        Ok(book.next_interval)
    }

    /// How many finished intervals were dropped because nobody polled them.
    pub fn intervals_dropped(&self) -> u64 {
        lock_ignoring_poison(&self.shared.intervals).dropped
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
fn split_connections(plan: &Plan) -> Vec<Vec<ConnPlan>> {
    let conns = u64::from(plan.connections);
    let threads = u64::from(plan.threads);
    let mut next_conn = 0u64;
    (0..threads)
        .map(|t| {
            let count = conns / threads + u64::from(t < conns % threads);
            (0..count)
                .map(|_| {
                    let index = next_conn;
                    next_conn += 1;
                    let budget = plan
                        .requests
                        .map(|total| total / conns + u64::from(index < total % conns));
                    ConnPlan { index, budget }
                })
                .collect()
        })
        .collect()
}

/// Splits `count` positions into `parts` consecutive ranges differing by at most one.
fn split_evenly(count: u64, parts: u32) -> Vec<std::ops::Range<u64>> {
    let parts = u64::from(parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = count / parts + u64::from(i < count % parts);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// Merges the workers' interval reports into whole-run intervals, in order.
struct Assembler {
    started_at: Instant,
    every: Duration,
    /// Per worker: the next interval index it will report.
    next_index: Vec<u64>,
    finished: Vec<bool>,
    pending: BTreeMap<u64, Recorder>,
    next_to_emit: u64,
    totals: Recorder,
    reasons: Vec<StoppedBy>,
    last_finish: Instant,
    idle: IdleCounts,
    shape: Shape,
    phases: Vec<PhaseTotal>,
}

/// A phase being merged: the mark that opened it and its intervals so far.
struct PhaseTotal {
    mark: u64,
    name: String,
    first_interval: u64,
    intervals: u64,
    start: Duration,
    end: Duration,
    rec: Recorder,
}

impl Assembler {
    fn new(plan: &Plan, started_at: Instant, workers: usize) -> Assembler {
        Assembler {
            started_at,
            every: plan.interval,
            next_index: vec![0; workers],
            finished: vec![false; workers],
            pending: BTreeMap::new(),
            next_to_emit: 0,
            totals: Recorder::for_plan(plan),
            reasons: Vec::with_capacity(workers),
            last_finish: started_at,
            idle: IdleCounts::default(),
            shape: Shape::of(plan),
            phases: Vec::new(),
        }
    }

    fn add(&mut self, report: Report) {
        self.totals.merge(&report.recorder);
        match self.pending.get_mut(&report.index) {
            Some(merged) => merged.merge(&report.recorder),
            None => {
                self.pending.insert(report.index, report.recorder);
            }
        }
        self.next_index[report.worker] = report.index + 1;
        if let Some(last) = report.last {
            self.finished[report.worker] = true;
            self.reasons.push(last.stopped_by);
            self.idle.opened += last.idle.opened;
            self.idle.held += last.idle.held;
            self.last_finish = self.last_finish.max(last.finished_at);
        }
    }

    /// Intervals every worker has reported (or stopped before), oldest first, each
    /// labelled with the phase `book` names when it is done.
    fn complete(&mut self, book: &Mutex<PhaseBook>) -> Vec<Interval> {
        let mut done = Vec::new();
        loop {
            let i = self.next_to_emit;
            let reported = self
                .next_index
                .iter()
                .zip(&self.finished)
                .all(|(&next, &finished)| finished || next > i);
            if !reported {
                break;
            }
            let Some(rec) = self.pending.remove(&i) else {
                break;
            };
            let start = self.every * i as u32;
            let mut end = self.every * (i as u32 + 1);
            if self.finished.iter().all(|&f| f) {
                end = end.min(self.last_finish - self.started_at);
            }
            let (mark, name) = {
                let mut book = lock_ignoring_poison(book);
                book.next_interval = i + 1;
                (book.mark, book.name.clone())
            };
            match self.phases.last_mut() {
                Some(phase) if phase.mark == mark => {
                    phase.intervals += 1;
                    phase.end = end;
                    phase.rec.merge(&rec);
                }
                _ => {
                    let mut total = Recorder::new(self.shape);
                    total.merge(&rec);
                    self.phases.push(PhaseTotal {
                        mark,
                        name: name.clone(),
                        first_interval: i,
                        intervals: 1,
                        start,
                        end,
                        rec: total,
                    });
                }
            }
            done.push(Interval::new(i, name, start, end, &rec));
            self.next_to_emit += 1;
        }
        done
    }
}

fn collect(
    plan: &Plan,
    started_at: Instant,
    workers: Vec<JoinHandle<std::io::Result<()>>>,
    reports: mpsc::Receiver<Report>,
    shared: &Shared,
) -> Result<Finished, RunError> {
    let mut assembler = Assembler::new(plan, started_at, workers.len());
    let publish = |intervals: Vec<Interval>| {
        if intervals.is_empty() {
            return;
        }
        let mut pending = lock_ignoring_poison(&shared.intervals);
        pending.queue.extend(intervals);
        while pending.queue.len() > MAX_PENDING_INTERVALS {
            pending.queue.pop_front();
            pending.dropped += 1;
        }
    };
    // Ends when every worker has stopped and dropped its sender.
    for report in reports {
        assembler.add(report);
        publish(assembler.complete(&shared.phases));
    }
    let mut failures = Vec::new();
    for (index, worker) in workers.into_iter().enumerate() {
        match worker.join() {
            Ok(Ok(())) => {}
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
    let stopped_by = overall_reason(&assembler.reasons);
    let elapsed = assembler.last_finish - started_at;
    let mut summary = Summary::new(
        plan,
        stopped_by,
        elapsed,
        &assembler.totals,
        assembler.next_to_emit,
    );
    summary.idle_connections = IdleSummary {
        requested: u64::from(plan.idle_connections),
        opened: assembler.idle.opened,
        held: assembler.idle.held,
    };
    summary.phases = assembler
        .phases
        .iter()
        .map(|p| {
            Phase::new(
                p.name.clone(),
                p.first_interval,
                p.intervals,
                p.start,
                p.end,
                &p.rec,
            )
        })
        .collect();
    Ok(Finished {
        summary,
        latency_ns: assembler.totals.latency_ns,
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
            r#"{{"abi_version":2,"target":"127.0.0.1:9","connections":{connections},
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
        let split = split_connections(&plan(7, 3, Some(100)));
        let sizes: Vec<usize> = split.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 2, 2]);
        let budgets = || split.iter().flatten().map(|c| c.budget.unwrap());
        assert_eq!(budgets().sum::<u64>(), 100);
        assert!(budgets().max().unwrap() - budgets().min().unwrap() <= 1);
        let indices: Vec<u64> = split.iter().flatten().map(|c| c.index).collect();
        assert_eq!(indices, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn no_request_limit_means_unbounded_budgets() {
        let split = split_connections(&plan(4, 2, None));
        assert!(split.iter().flatten().all(|c| c.budget.is_none()));
    }

    #[test]
    fn idle_connections_split_evenly() {
        let split = split_evenly(7, 3);
        assert_eq!(split, [0..3, 3..5, 5..7]);
        assert!(split_evenly(0, 2).iter().all(|r| r.is_empty()));
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
