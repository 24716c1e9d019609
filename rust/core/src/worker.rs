//! One worker thread: a tokio current-thread runtime driving this worker's connections,
//! each running the one connection loop, all recording into this worker's recorder.

use std::cell::RefCell;
use std::future::pending;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::codec::{Codec, Progress};
use crate::plan::Plan;
use crate::recorder::{Failure, Recorder};
use crate::summary::StoppedBy;

/// Size of each connection's read buffer.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// First pause before reconnecting after a failed connection attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// Longest pause between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// One interval of one worker, sent to the collector at each interval boundary.
pub(crate) struct Report {
    pub worker: usize,
    pub index: u64,
    pub recorder: Recorder,
    /// The worker's last report: its final, possibly partial, interval.
    pub last: Option<LastReport>,
}

/// What a worker says when it stops.
pub(crate) struct LastReport {
    pub stopped_by: StoppedBy,
    pub finished_at: Instant,
}

/// One connection's share of the plan.
pub(crate) struct ConnPlan {
    /// Position of the connection among all the run's connections.
    pub index: u64,
    /// How many requests it may complete (`None`: no limit).
    pub budget: Option<u64>,
}

/// The part of the plan one worker runs.
pub(crate) struct WorkerPlan {
    pub index: usize,
    pub plan: Arc<Plan>,
    pub conns: Vec<ConnPlan>,
    pub started_at: Instant,
    pub deadline: Option<Instant>,
    pub stop: watch::Receiver<bool>,
    pub reports: mpsc::Sender<Report>,
}

/// Runs one worker to its end on the calling thread. Its measurements leave through
/// `reports`, one per interval, the last one marked.
pub(crate) fn run_worker(work: WorkerPlan) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let recorder = Rc::new(RefCell::new(Recorder::new(work.plan.rate_per_s.is_some())));
    let (index, reports) = (work.index, work.reports.clone());
    let interval_index = Rc::new(RefCell::new(0u64));
    let stopped_by = local.block_on(
        &runtime,
        drive(work, Rc::clone(&recorder), Rc::clone(&interval_index)),
    );
    let finished_at = Instant::now();
    // Dropping the set cancels the connections still in flight and releases the recorder.
    drop(local);
    let recorder = Rc::try_unwrap(recorder)
        .map(RefCell::into_inner)
        .unwrap_or_else(|shared| shared.borrow().clone());
    let index_now = *interval_index.borrow();
    // The collector is gone only if the run was dropped; nobody is left to tell.
    let _ = reports.send(Report {
        worker: index,
        index: index_now,
        recorder,
        last: Some(LastReport {
            stopped_by,
            finished_at,
        }),
    });
    Ok(())
}

/// Sends this worker's recorder at every interval boundary and starts a fresh one.
async fn tick_intervals(
    worker: usize,
    started_at: Instant,
    every: Duration,
    recorder: Rc<RefCell<Recorder>>,
    interval_index: Rc<RefCell<u64>>,
    reports: mpsc::Sender<Report>,
) {
    loop {
        let index = *interval_index.borrow();
        let boundary = started_at + every * (index as u32 + 1);
        tokio::time::sleep_until(boundary.into()).await;
        let fresh = recorder.borrow().fresh();
        let finished = std::mem::replace(&mut *recorder.borrow_mut(), fresh);
        *interval_index.borrow_mut() += 1;
        let report = Report {
            worker,
            index,
            recorder: finished,
            last: None,
        };
        if reports.send(report).is_err() {
            return;
        }
    }
}

async fn drive(
    work: WorkerPlan,
    recorder: Rc<RefCell<Recorder>>,
    interval_index: Rc<RefCell<u64>>,
) -> StoppedBy {
    let WorkerPlan {
        index,
        plan,
        conns,
        started_at,
        deadline,
        mut stop,
        reports,
    } = work;
    tokio::task::spawn_local(tick_intervals(
        index,
        started_at,
        plan.interval,
        Rc::clone(&recorder),
        interval_index,
        reports,
    ));
    let codec = Codec::tcp(&plan.tcp);
    let handles: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            let schedule = plan
                .rate_per_s
                .map(|rate| Schedule::new(started_at, rate, conn.index, plan.connections));
            let conn = Connection {
                plan: Arc::clone(&plan),
                codec: codec.clone(),
                recorder: Rc::clone(&recorder),
                budget: conn.budget,
                schedule,
            };
            tokio::task::spawn_local(conn.run())
        })
        .collect();
    let all_done = async {
        let mut budgets_spent = true;
        for handle in handles {
            budgets_spent &= handle.await.unwrap_or(false);
        }
        if budgets_spent {
            StoppedBy::Requests
        } else {
            StoppedBy::ConnectionsLost
        }
    };
    let timer = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => pending().await,
        }
    };
    tokio::select! {
        biased;
        _ = stop.wait_for(|stopping| *stopping) => StoppedBy::Stop,
        _ = timer => StoppedBy::Duration,
        by = all_done => by,
    }
}

/// An open-loop schedule, the wrk2 way: request k of the whole run is due at
/// `start + k / rate`, and connection c of n sends requests c, c + n, c + 2n, ...
/// Times come from the run's start, never from "now", so a late reply never moves
/// the schedule.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    start: Instant,
    first_ns: f64,
    step_ns: f64,
    sent: u64,
}

impl Schedule {
    pub(crate) fn new(start: Instant, rate_per_s: f64, conn: u64, conns: u32) -> Schedule {
        let gap_ns = 1e9 / rate_per_s;
        Schedule {
            start,
            first_ns: conn as f64 * gap_ns,
            step_ns: f64::from(conns) * gap_ns,
            sent: 0,
        }
    }

    /// The intended send time of this connection's next request; moves the schedule on.
    pub(crate) fn next_due(&mut self) -> Instant {
        let offset_ns = self.first_ns + self.sent as f64 * self.step_ns;
        self.sent += 1;
        self.start + Duration::from_nanos(offset_ns as u64)
    }
}

/// One connection's state: the connection loop shared by every load model.
struct Connection {
    plan: Arc<Plan>,
    codec: Codec,
    recorder: Rc<RefCell<Recorder>>,
    budget: Option<u64>,
    schedule: Option<Schedule>,
}

impl Connection {
    /// Connects, exchanges requests until the budget is spent, and reconnects after a
    /// failure if the plan says so. Returns whether the budget was spent.
    async fn run(mut self) -> bool {
        let mut buf = vec![0u8; READ_BUFFER_BYTES];
        let mut backoff = FIRST_BACKOFF;
        loop {
            if self.budget == Some(0) {
                return true;
            }
            let mut stream = match self.connect().await {
                Ok(stream) => {
                    backoff = FIRST_BACKOFF;
                    stream
                }
                Err(failure) => {
                    self.recorder.borrow_mut().failure(failure);
                    if !self.plan.reconnect {
                        return false;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            if let Err(failure) = self.exchanges(&mut stream, &mut buf).await {
                self.recorder.borrow_mut().failure(failure);
                if !self.plan.reconnect {
                    return false;
                }
            }
        }
    }

    async fn connect(&self) -> Result<TcpStream, Failure> {
        let attempt = TcpStream::connect(self.plan.addr);
        let stream = match tokio::time::timeout(self.plan.connect_timeout, attempt).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(Failure::of_connect(&e)),
            Err(_) => return Err(Failure::ConnectTimeout),
        };
        // Requests are small and latency-bound; never let Nagle hold one back.
        stream.set_nodelay(true).map_err(|e| Failure::of_io(&e))?;
        self.recorder.borrow_mut().connections_opened += 1;
        Ok(stream)
    }

    /// Runs exchanges on one open connection until the budget is spent (Ok) or the
    /// connection fails (Err).
    async fn exchanges(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> Result<(), Failure> {
        while self.budget != Some(0) {
            let due = match self.schedule.as_mut() {
                None => None,
                Some(schedule) => {
                    let due = schedule.next_due();
                    let ready = Instant::now();
                    if due > ready {
                        tokio::time::sleep_until(due.into()).await;
                    }
                    // Lateness that is the generator's own: the connection was free but
                    // the request left after its time (a late reply is the server's).
                    let lag = Instant::now().saturating_duration_since(due.max(ready));
                    self.recorder.borrow_mut().send_lag(lag);
                    Some(due)
                }
            };
            let started = Instant::now();
            let exchange = exchange(stream, &mut self.codec, buf);
            let (sent, received) = match self.plan.request_timeout {
                Some(limit) => tokio::time::timeout(limit, exchange)
                    .await
                    .map_err(|_| Failure::Timeout)??,
                None => exchange.await?,
            };
            let done = Instant::now();
            let uncorrected = done - started;
            let latency = due.map_or(uncorrected, |due| done.saturating_duration_since(due));
            self.recorder
                .borrow_mut()
                .exchange(latency, due.map(|_| uncorrected), sent, received);
            if let Some(left) = self.budget.as_mut() {
                *left -= 1;
            }
        }
        Ok(())
    }
}

/// Sends one request and reads its whole reply; returns the bytes sent and received.
async fn exchange(
    stream: &mut TcpStream,
    codec: &mut Codec,
    buf: &mut [u8],
) -> Result<(usize, usize), Failure> {
    let request = codec.request();
    stream
        .write_all(&request)
        .await
        .map_err(|e| Failure::of_io(&e))?;
    let mut received = 0;
    loop {
        let n = stream.read(buf).await.map_err(|e| Failure::of_io(&e))?;
        if n == 0 {
            return Err(Failure::Closed);
        }
        received += n;
        match codec.feed(&buf[..n]) {
            Progress::Incomplete => continue,
            Progress::Complete => return Ok((request.len(), received)),
            Progress::Invalid => return Err(Failure::Protocol),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_interleaves_connections_at_the_total_rate() {
        let start = Instant::now();
        // 1000 requests/s over 4 connections: connection 1 sends requests 1, 5, 9, ...
        let mut s = Schedule::new(start, 1000.0, 1, 4);
        let due: Vec<Duration> = (0..3).map(|_| s.next_due() - start).collect();
        assert_eq!(due, [1, 5, 9].map(Duration::from_millis).to_vec());
    }

    #[test]
    fn schedule_below_one_request_per_connection_per_second() {
        // 2 requests/s over 10 connections: each sends every 5 s, staggered by 0.5 s.
        let start = Instant::now();
        let mut last = Schedule::new(start, 2.0, 9, 10);
        assert_eq!(last.next_due() - start, Duration::from_millis(4500));
        assert_eq!(last.next_due() - start, Duration::from_millis(9500));
    }
}
