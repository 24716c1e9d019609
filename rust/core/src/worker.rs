//! One worker thread: a tokio current-thread runtime driving this worker's connections,
//! each running the one connection loop, all recording into this worker's recorder.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::pending;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::codec::{Codec, Fed, Invalid};
use crate::pacer::Pacer;
use crate::plan::Plan;
use crate::recorder::{self, Failure, Recorder};
use crate::summary::StoppedBy;
use crate::tls::{self, Stream};

/// Size of each connection's read buffer.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// First pause before reconnecting after a failed connection attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// Longest pause between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// How long a worker's connections have, all together, to close politely at the end of
/// a run (a WebSocket Close answered, a FIN answered by the server's).
const FAREWELL: Duration = Duration::from_millis(150);

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
    pub idle: IdleCounts,
}

/// This worker's idle connections.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IdleCounts {
    /// Opened (and, for WebSocket, upgraded).
    pub opened: u64,
    /// Still open when the run stopped.
    pub held: u64,
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
    /// Global positions of this worker's idle connections.
    pub idle: std::ops::Range<u64>,
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
    let recorder = Rc::new(RefCell::new(Recorder::for_plan(&work.plan)));
    let (index, reports) = (work.index, work.reports.clone());
    let interval_index = Rc::new(RefCell::new(0u64));
    let idle = Rc::new(RefCell::new(IdleCounts::default()));
    let (stopped_by, finished_at) = local.block_on(
        &runtime,
        drive(
            work,
            Rc::clone(&recorder),
            Rc::clone(&interval_index),
            Rc::clone(&idle),
        ),
    );
    let idle = *idle.borrow();
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
            idle,
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
    pacer: Pacer,
) {
    loop {
        let index = *interval_index.borrow();
        let boundary = started_at + every * (index as u32 + 1);
        // On the pacer, not tokio's timer: an interval is reported as exactly `every`
        // long, so a snapshot a millisecond late would move a millisecond's replies
        // from the next interval into this one (at a constant rate, a blip that the
        // series of a steady server should not have).
        pacer.wait_until(boundary).await;
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
    idle_counts: Rc<RefCell<IdleCounts>>,
) -> (StoppedBy, Instant) {
    let WorkerPlan {
        index,
        plan,
        conns,
        idle,
        started_at,
        deadline,
        mut stop,
        reports,
    } = work;
    // Set when the run ends: every connection then closes politely.
    let (closing_tx, closing) = watch::channel(false);
    // One pacer for the worker: the request and connection schedules and the interval
    // boundaries all wait on it.
    let pacer = Pacer::new();
    let ticker = tokio::task::spawn_local(tick_intervals(
        index,
        started_at,
        plan.interval,
        Rc::clone(&recorder),
        interval_index,
        reports,
        pacer.clone(),
    ));
    // Idle connections are opened a few at a time: a burst of thousands of SYNs
    // overflows the server's accept queue, and a dropped SYN costs a 1 s retransmit.
    let connecting = Rc::new(tokio::sync::Semaphore::new(IDLE_CONNECTS_IN_FLIGHT));
    // One TLS client per worker: its session cache is this worker's own.
    let tls = plan.tls.as_ref().map(tls::Connector::new);
    let idle_tasks: Vec<_> = idle
        .map(|position| {
            let task = hold_idle(
                Arc::clone(&plan),
                position,
                Rc::clone(&idle_counts),
                Rc::clone(&recorder),
                Rc::clone(&connecting),
                tls.clone(),
                closing.clone(),
            );
            tokio::task::spawn_local(task)
        })
        .collect();
    let goodbyes = Rc::new(RefCell::new(Vec::new()));
    // One set of encoded entries per worker, shared by its connections' codecs.
    let template = Codec::for_plan(&plan.protocol, plan.mix.as_ref(), 0, 0);
    let mut handles: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            let schedule = plan
                .rate_per_s
                .map(|rate| Schedule::new(started_at, rate, conn.index, plan.connections));
            let connect_schedule = plan
                .connection_rate_per_s
                .map(|rate| Schedule::new(started_at, rate, conn.index, plan.connections));
            // Seeds WebSocket keys and masks: distinct per connection and per run.
            let seed = (conn.index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ started_at.elapsed().as_nanos() as u64;
            let conn = Connection {
                codec: template.for_connection(seed, conn.index),
                plan: Arc::clone(&plan),
                recorder: Rc::clone(&recorder),
                budget: conn.budget,
                pacer: pacer.clone(),
                schedule,
                connect_schedule,
                completed: 0,
                mid_write: std::cell::Cell::new(false),
                goodbyes: Rc::clone(&goodbyes),
                tls: tls.clone(),
            };
            Some(tokio::task::spawn_local(conn.run(closing.clone())))
        })
        .collect();
    let all_done = async {
        let mut budgets_spent = true;
        for slot in handles.iter_mut() {
            if let Some(handle) = slot.as_mut() {
                budgets_spent &= handle.await.unwrap_or(false);
                *slot = None;
            }
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
    let stopped_by = tokio::select! {
        biased;
        _ = stop.wait_for(|stopping| *stopping) => StoppedBy::Stop,
        _ = timer => StoppedBy::Duration,
        by = all_done => by,
    };
    let finished_at = Instant::now();
    // The run is over: no more intervals, and every connection says goodbye, all at
    // once and within FAREWELL. What is left after it is dropped with the local set.
    ticker.abort();
    let _ = closing_tx.send(true);
    let goodbyes = async {
        for handle in handles.iter_mut().flatten() {
            let _ = handle.await;
        }
        for handle in idle_tasks {
            let _ = handle.await;
        }
        let early: Vec<_> = goodbyes.borrow_mut().drain(..).collect();
        for handle in early {
            let _ = handle.await;
        }
    };
    let _ = tokio::time::timeout(FAREWELL + Duration::from_millis(20), goodbyes).await;
    (stopped_by, finished_at)
}

/// Runs `work` within `limit` from now, on `timer`, a sleep kept across a connection's
/// exchanges (`None`: the limit passed first). Moving a timer in tokio's wheel for each
/// request cost more than decoding the reply, so the timer stays where it is: deadlines
/// only move on, so it never fires later than this one, and when it fires early it is
/// moved on then, once per `limit` at most.
async fn within<F: std::future::Future>(
    timer: &mut std::pin::Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
    work: F,
) -> Option<F::Output> {
    let deadline = tokio::time::Instant::now() + limit;
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            out = &mut work => return Some(out),
            () = timer.as_mut() => {
                if tokio::time::Instant::now() >= deadline {
                    return None;
                }
                timer.as_mut().reset(deadline);
            }
        }
    }
}

/// Runs `work` unless the run ends first (`None` then).
async fn unless_closing<F: std::future::Future>(
    closing: &mut watch::Receiver<bool>,
    work: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = work => Some(out),
        _ = closing.wait_for(|closing| *closing) => None,
    }
}

/// Ends a connection politely, within `FAREWELL`: for WebSocket a Close (1000) and a
/// wait for the server's; then a FIN (`shutdown`) and a wait for the server's. `unread`
/// is what was received and not yet decoded; `mid_write` says a request was cut off
/// half-written, so no protocol message can follow it on this stream.
async fn farewell(stream: &mut Stream, codec: &mut Codec, unread: &[u8], mid_write: bool) {
    let polite = async {
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        if !mid_write && codec.close(&mut out) {
            stream.write_all(&out).await?;
            // Read up to the server's Close: replies still in flight come first.
            let mut data = unread.to_vec();
            let mut control = Vec::new();
            'frames: loop {
                loop {
                    match codec.feed(&data, &mut control) {
                        Ok(Fed::Closed) | Err(_) => break 'frames,
                        Ok(Fed::Reply { consumed, .. }) => {
                            data.drain(..consumed);
                        }
                        Ok(Fed::NeedMore { consumed }) => {
                            data.drain(..consumed);
                            break;
                        }
                    }
                }
                control.clear();
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&chunk[..n]);
            }
        }
        stream.shutdown().await?;
        // Wait for the server's FIN, so that neither side is left with unread data
        // (which would turn our close into a reset).
        while stream.read(&mut chunk).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(FAREWELL, polite).await;
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

/// The furthest a schedule looks ahead: due times beyond it (from rates too small for
/// the plan to allow) are pinned here rather than overflowing.
const FAR_FUTURE_NS: f64 = 1e18;

impl Schedule {
    pub(crate) fn new(start: Instant, rate_per_s: f64, conn: u64, conns: u32) -> Schedule {
        // The plan refuses rates whose period does not fit; saturate all the same, so
        // that no rate can turn into "no wait" (1e9 / tiny = inf, inf * 0 = NaN).
        let gap_ns = 1e9 / rate_per_s;
        let gap_ns = if gap_ns.is_finite() && gap_ns >= 0.0 {
            gap_ns
        } else {
            FAR_FUTURE_NS
        };
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
        // NaN and infinities fail the comparison and land on the far future.
        let offset_ns = if offset_ns < FAR_FUTURE_NS {
            offset_ns.max(0.0)
        } else {
            FAR_FUTURE_NS
        };
        self.start + Duration::from_nanos(offset_ns as u64)
    }
}

/// One connection's state: the connection loop shared by every load model and
/// protocol. Protocols differ only in their codec; pacing only in the schedule.
struct Connection {
    plan: Arc<Plan>,
    codec: Codec,
    recorder: Rc<RefCell<Recorder>>,
    budget: Option<u64>,
    /// The worker's pacer, which both schedules wait on.
    pacer: Pacer,
    schedule: Option<Schedule>,
    /// Churn at a connection rate: when this connection may open its next socket.
    connect_schedule: Option<Schedule>,
    /// Replies received on this connection's sockets so far.
    completed: u64,
    /// A write is under way (if the run ends now, it is cut off half-written).
    mid_write: std::cell::Cell<bool>,
    /// Goodbyes of connections that finished early or were churned, for the worker to
    /// wait for at the end of the run.
    goodbyes: Rc<RefCell<Vec<tokio::task::JoinHandle<()>>>>,
    /// The worker's TLS client, when the plan uses TLS.
    tls: Option<tls::Connector>,
}

/// Idle connections beyond this many per source address are opened from the next
/// loopback address (127.0.0.2, ...), as one address has about 28,000 ephemeral ports.
const IDLE_PER_SOURCE_ADDRESS: u64 = 20_000;

/// The local address idle connection `position` connects from: the default for the
/// first ones, then further 127.0.0.x addresses when the target is on IPv4 loopback.
fn idle_source(target: std::net::SocketAddr, position: u64) -> Option<std::net::SocketAddr> {
    let block = position / IDLE_PER_SOURCE_ADDRESS;
    match target.ip() {
        std::net::IpAddr::V4(ip) if ip.is_loopback() && block > 0 => {
            let last = u8::try_from(block + 1).ok()?;
            Some(std::net::SocketAddr::from(([127, 0, 0, last], 0)))
        }
        _ => None,
    }
}

/// Idle connections one worker has connecting at the same time.
const IDLE_CONNECTS_IN_FLIGHT: usize = 32;

/// Opens one idle connection (upgraded to WebSocket when that is the protocol) and
/// holds it, sending nothing, until the run stops or the server closes it. A failure
/// to open it, or its loss while held, is counted in `recorder` by kind, with words.
async fn hold_idle(
    plan: Arc<Plan>,
    position: u64,
    counts: Rc<RefCell<IdleCounts>>,
    recorder: Rc<RefCell<Recorder>>,
    connecting: Rc<tokio::sync::Semaphore>,
    tls: Option<tls::Connector>,
    mut closing: watch::Receiver<bool>,
) {
    let fail = |(failure, message): (Failure, String)| {
        recorder
            .borrow_mut()
            .failure_with(failure, || format!("idle connection: {message}"));
    };
    let words = |err: &std::io::Error| {
        if let Some(found) = tls::failure_of(err) {
            return found;
        }
        match Failure::of_io(err) {
            Failure::FdLimit => (Failure::FdLimit, recorder::fd_limit_message(err)),
            failure => (failure, err.to_string()),
        }
    };
    let Some(Ok(permit)) = unless_closing(&mut closing, connecting.acquire()).await else {
        return;
    };
    let connect = async {
        let socket = if plan.addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        if let Some(source) = idle_source(plan.addr, position) {
            socket.bind(source)?;
        }
        socket.connect(plan.addr).await
    };
    let connect = tokio::time::timeout(plan.connect_timeout, connect);
    let (addr, limit) = (plan.addr, plan.connect_timeout.as_millis());
    let tcp = match unless_closing(&mut closing, connect).await {
        None => return,
        Some(Ok(Ok(stream))) => stream,
        Some(Ok(Err(e))) => {
            return fail(match Failure::of_connect(&e) {
                Failure::FdLimit => (Failure::FdLimit, recorder::fd_limit_message(&e)),
                failure => (failure, format!("connecting to {addr}: {e}")),
            })
        }
        Some(Err(_)) => {
            let message =
                format!("connecting to {addr} took longer than the connect timeout of {limit} ms");
            return fail((Failure::ConnectTimeout, message));
        }
    };
    let mut stream = match &tls {
        None => Stream::Plain(tcp),
        Some(tls) => {
            let handshake = tokio::time::timeout(plan.connect_timeout, tls.handshake(tcp));
            match unless_closing(&mut closing, handshake).await {
                None => return,
                Some(Ok(Ok(done))) => done.stream,
                Some(Ok(Err(e))) => {
                    return fail(tls::handshake_failure(&e).unwrap_or_else(|| words(&e)))
                }
                Some(Err(_)) => {
                    let message = format!(
                        "the TLS handshake took longer than the connect timeout of {limit} ms"
                    );
                    return fail((Failure::Timeout, message));
                }
            }
        }
    };
    let mut codec = Codec::new(&plan.protocol, position.wrapping_mul(0x2545_F491_4F6C_DD1D));
    if let Some(request) = codec.handshake() {
        let upgrade = async {
            stream.write_all(&request).await.map_err(|e| words(&e))?;
            let mut reply = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                let n = stream.read(&mut chunk).await.map_err(|e| words(&e))?;
                if n == 0 {
                    let message = "the server closed it during the opening handshake";
                    return Err((Failure::Closed, message.to_owned()));
                }
                reply.extend_from_slice(&chunk[..n]);
                match codec.handshake_reply(&reply) {
                    Ok(None) => {}
                    Ok(Some(_)) => return Ok(()),
                    Err(invalid) => return Err((Failure::Protocol, invalid.to_string())),
                }
            }
        };
        let upgrade = tokio::time::timeout(plan.connect_timeout, upgrade);
        match unless_closing(&mut closing, upgrade).await {
            None => return,
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(failed))) => return fail(failed),
            Some(Err(_)) => {
                let message = format!(
                    "the opening handshake took longer than the connect timeout of {limit} ms"
                );
                return fail((Failure::Timeout, message));
            }
        }
    }
    drop(permit);
    counts.borrow_mut().opened += 1;
    counts.borrow_mut().held += 1;
    // Held until the server closes it, or until the run ends.
    let mut chunk = [0u8; 256];
    let held = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    };
    if let Some(lost) = unless_closing(&mut closing, held).await {
        counts.borrow_mut().held -= 1;
        fail(match lost {
            Ok(()) => (
                Failure::Closed,
                "the server closed it while it was held".into(),
            ),
            Err(e) => words(&e),
        });
    } else {
        // Still held when the run ended; now it says goodbye.
        farewell(&mut stream, &mut codec, &[], false).await;
    }
}

/// Received bytes not yet used by the codec.
struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    fn new() -> ReadBuf {
        ReadBuf {
            data: vec![0; READ_BUFFER_BYTES],
            start: 0,
            end: 0,
        }
    }

    fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Reads more bytes; 0 means the peer closed.
    async fn fill(&mut self, stream: &mut Stream) -> std::io::Result<usize> {
        if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // A head the codec cannot use yet (an HTTP header block is bounded by
                // its decoder, so this stays small).
                self.data.resize(self.data.len() * 2, 0);
            }
        }
        let n = stream.read(&mut self.data[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

/// How a connection's exchanges ended without a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Nothing more to send on it (budget spent, or churn): ours to close.
    Ours,
    /// The server closes it after its last reply.
    ByServer,
}

/// Goodbyes (see [`Connection::goodbye`]) one worker has on tasks of their own at most:
/// each holds a socket for at most [`FAREWELL`].
const MAX_GOODBYES: usize = 16;

/// One request in flight: when it was due (open loop) and when it left.
struct InFlight {
    due: Option<Instant>,
    sent: Instant,
    /// The mix entry (label) sent; 0 without a mix.
    label: usize,
}

impl Connection {
    /// Connects, exchanges requests until the budget is spent, and reconnects after a
    /// failure (or a server's close) if the plan says so. Returns whether the budget
    /// was spent. When the run ends (`closing`), it closes its connection politely.
    async fn run(mut self, mut closing: watch::Receiver<bool>) -> bool {
        let mut buf = ReadBuf::new();
        let mut backoff = FIRST_BACKOFF;
        loop {
            if self.budget == Some(0) {
                return true;
            }
            if let Some(schedule) = self.connect_schedule.as_mut() {
                let due = schedule.next_due();
                let wait = self.pacer.wait_until(due);
                if unless_closing(&mut closing, wait).await.is_none() {
                    return false;
                }
            }
            let Some(opened) = unless_closing(&mut closing, self.open(&mut buf)).await else {
                return false;
            };
            let mut stream = match opened {
                Ok(stream) => stream,
                Err(failure) => {
                    self.recorder.borrow_mut().failure(failure);
                    if !self.plan.reconnect {
                        return false;
                    }
                    let pause = tokio::time::sleep(backoff);
                    if unless_closing(&mut closing, pause).await.is_none() {
                        return false;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let completed_before = self.completed;
            let exchanges = self.exchanges(&mut stream, &mut buf);
            let Some(outcome) = unless_closing(&mut closing, exchanges).await else {
                self.farewell(&mut stream, &buf).await;
                return self.budget == Some(0);
            };
            if self.completed > completed_before {
                backoff = FIRST_BACKOFF;
            }
            match outcome {
                // Done (budget spent) or churned: either way, ours to end politely.
                Ok(Ended::Ours) => self.goodbye(stream, &buf).await,
                // The server closes it after its last reply; there is nobody to tell.
                Ok(Ended::ByServer) => drop(stream),
                Err(_) => {}
            }
            if outcome.is_ok() && self.budget == Some(0) {
                return true;
            }
            if let Err(failure) = outcome {
                self.recorder.borrow_mut().failure(failure);
                if failure == Failure::Timeout {
                    // A timed-out request had its outcome: it counts against the budget,
                    // so a run of N requests ends even when the server stops answering.
                    if let Some(left) = self.budget.as_mut() {
                        *left = left.saturating_sub(1);
                    }
                }
                if !self.plan.reconnect {
                    return false;
                }
                // A connection that failed before any reply points at a broken server:
                // back off rather than open thousands of sockets a second against it.
                if self.completed == completed_before {
                    let pause = tokio::time::sleep(backoff);
                    if unless_closing(&mut closing, pause).await.is_none() {
                        return false;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Keeps `message()` as the first words of `failure`'s kind, built only if none is
    /// kept yet (the failure itself is counted where the connection loop ends up).
    fn note(&self, failure: Failure, message: impl FnOnce() -> String) -> Failure {
        self.recorder.borrow_mut().messages.note(failure, message);
        failure
    }

    /// Classifies an I/O error of an open connection and keeps its words.
    fn io_failure(&self, err: &std::io::Error) -> Failure {
        if let Some((failure, words)) = tls::failure_of(err) {
            return self.note(failure, || words);
        }
        let failure = Failure::of_io(err);
        match failure {
            Failure::FdLimit => self.note(failure, || recorder::fd_limit_message(err)),
            // A close is the absence of words, and may yet end a reply well.
            Failure::Closed => failure,
            _ => self.note(failure, || err.to_string()),
        }
    }

    /// A protocol error, with the codec's words.
    fn protocol(&self, invalid: &Invalid) -> Failure {
        self.note(Failure::Protocol, || invalid.to_string())
    }

    /// Ends `stream` politely (see [`farewell`]) on a task of its own, so that neither
    /// the run's end nor this connection's next one waits for the server's answer.
    /// With [`MAX_GOODBYES`] goodbyes in flight in this worker already (a server slow to
    /// answer its closes), it says goodbye here and now instead: churn must not hold
    /// sockets without bound, nor drop them rudely.
    async fn goodbye(&mut self, mut stream: Stream, buf: &ReadBuf) {
        let (unread, mid_write) = (buf.filled(), self.mid_write.get());
        {
            let mut goodbyes = self.goodbyes.borrow_mut();
            goodbyes.retain(|goodbye| !goodbye.is_finished());
            if goodbyes.len() < MAX_GOODBYES {
                let mut codec = self.codec.clone();
                let unread = unread.to_vec();
                goodbyes.push(tokio::task::spawn_local(async move {
                    farewell(&mut stream, &mut codec, &unread, mid_write).await;
                }));
                return;
            }
        }
        farewell(&mut stream, &mut self.codec, unread, mid_write).await;
    }

    /// Closes this connection's stream politely (see [`farewell`]).
    async fn farewell(&mut self, stream: &mut Stream, buf: &ReadBuf) {
        farewell(stream, &mut self.codec, buf.filled(), self.mid_write.get()).await;
    }

    /// Opens a connection and runs the protocol's opening handshake, if any.
    async fn open(&mut self, buf: &mut ReadBuf) -> Result<Stream, Failure> {
        let started = Instant::now();
        let attempt = TcpStream::connect(self.plan.addr);
        let tcp = match tokio::time::timeout(self.plan.connect_timeout, attempt).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                let failure = Failure::of_connect(&e);
                let addr = self.plan.addr;
                return Err(match failure {
                    Failure::FdLimit => self.note(failure, || recorder::fd_limit_message(&e)),
                    _ => self.note(failure, || format!("connecting to {addr}: {e}")),
                });
            }
            Err(_) => {
                let (addr, limit) = (self.plan.addr, self.plan.connect_timeout);
                return Err(self.note(Failure::ConnectTimeout, || {
                    format!(
                        "connecting to {addr} took longer than the connect timeout of {} ms",
                        limit.as_millis()
                    )
                }));
            }
        };
        self.mid_write.set(false);
        // Requests are small and latency-bound; never let Nagle hold one back.
        tcp.set_nodelay(true).map_err(|e| self.io_failure(&e))?;
        self.recorder.borrow_mut().connected(started.elapsed());
        let mut stream = match self.tls.clone() {
            None => Stream::Plain(tcp),
            Some(tls) => self.tls_handshake(&tls, tcp).await?,
        };
        self.codec.reset();
        buf.clear();
        if let Some(request) = self.codec.handshake() {
            let started = Instant::now();
            let limit = self.plan.connect_timeout;
            let handshake = self.handshake(&mut stream, buf, &request);
            match tokio::time::timeout(limit, handshake).await {
                Ok(result) => result?,
                Err(_) => {
                    return Err(self.note(Failure::Timeout, || {
                        format!(
                            "the opening handshake took longer than the connect timeout of {} ms",
                            limit.as_millis()
                        )
                    }))
                }
            }
            self.recorder.borrow_mut().handshake(started.elapsed());
        }
        Ok(stream)
    }

    /// Runs the TLS handshake on a new TCP connection, timed apart from the connect
    /// and from a WebSocket's upgrade, within the connect timeout.
    async fn tls_handshake(&self, tls: &tls::Connector, tcp: TcpStream) -> Result<Stream, Failure> {
        let started = Instant::now();
        let limit = self.plan.connect_timeout;
        match tokio::time::timeout(limit, tls.handshake(tcp)).await {
            Ok(Ok(done)) => {
                self.recorder
                    .borrow_mut()
                    .tls_handshake(started.elapsed(), done.resumed);
                Ok(done.stream)
            }
            Ok(Err(e)) => Err(match tls::handshake_failure(&e) {
                Some((failure, words)) => self.note(failure, || words),
                None => self.io_failure(&e),
            }),
            Err(_) => Err(self.note(Failure::Timeout, || {
                format!(
                    "the TLS handshake took longer than the connect timeout of {} ms",
                    limit.as_millis()
                )
            })),
        }
    }

    async fn handshake(
        &mut self,
        stream: &mut Stream,
        buf: &mut ReadBuf,
        request: &[u8],
    ) -> Result<(), Failure> {
        self.write(stream, request).await?;
        loop {
            self.fill(stream, buf).await?;
            match self.codec.handshake_reply(buf.filled()) {
                Ok(None) => continue,
                Ok(Some(consumed)) => {
                    buf.consume(consumed);
                    return Ok(());
                }
                Err(invalid) => return Err(self.protocol(&invalid)),
            }
        }
    }

    async fn write(&self, stream: &mut Stream, bytes: &[u8]) -> Result<(), Failure> {
        self.write_in(stream, bytes, None).await
    }

    /// Writes encoded requests: at once, or in the plan's pieces (`chunk_bytes`), one
    /// write each, as AutobahnTestSuite's 9.5 and 9.6 cases do. The request's time runs
    /// from before the first piece.
    async fn write_requests(&self, stream: &mut Stream, bytes: &[u8]) -> Result<(), Failure> {
        self.write_in(stream, bytes, self.plan.protocol.chunk_bytes())
            .await
    }

    /// Writes `bytes` at once, or in pieces of at most `chunk` bytes.
    async fn write_in(
        &self,
        stream: &mut Stream,
        bytes: &[u8],
        chunk: Option<usize>,
    ) -> Result<(), Failure> {
        self.mid_write.set(true);
        let written = match chunk {
            None => stream.write_all(bytes).await,
            Some(chunk) => write_in_pieces(stream, bytes, chunk).await,
        };
        written.map_err(|e| self.io_failure(&e))?;
        self.mid_write.set(false);
        self.recorder.borrow_mut().bytes_sent += bytes.len() as u64;
        Ok(())
    }

    /// Reads more bytes; a close by the peer is `Failure::Closed`.
    async fn fill(&self, stream: &mut Stream, buf: &mut ReadBuf) -> Result<(), Failure> {
        let n = buf.fill(stream).await.map_err(|e| self.io_failure(&e))?;
        if n == 0 {
            return Err(Failure::Closed);
        }
        self.recorder.borrow_mut().bytes_received += n as u64;
        Ok(())
    }

    /// Waits for this connection's next slot in the schedule, if it has one.
    async fn next_due(&mut self) -> Option<Instant> {
        let schedule = self.schedule.as_mut()?;
        let due = schedule.next_due();
        let ready = Instant::now();
        if due > ready {
            self.pacer.wait_until(due).await;
        }
        // Lateness that is the generator's own: the connection was free but the request
        // left after its time (a late reply is the server's).
        let lag = Instant::now().saturating_duration_since(due.max(ready));
        self.recorder.borrow_mut().send_lag(lag);
        Some(due)
    }

    /// Runs exchanges on one open connection until the budget or the connection's share
    /// of it (churn) is spent, or the server asks to close (Ok), or the connection
    /// fails (Err).
    async fn exchanges(
        &mut self,
        stream: &mut Stream,
        buf: &mut ReadBuf,
    ) -> Result<Ended, Failure> {
        let depth = self.plan.protocol.pipeline();
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(depth);
        let mut out = Vec::new();
        // Churn: this connection carries at most this many requests, then is replaced.
        let mut this_connection = self.plan.requests_per_connection.unwrap_or(u64::MAX);
        // Closed loop: when the last reply was complete (or the think time after it
        // ended), for the generator's turnaround to the next write.
        let mut replied_at: Option<Instant> = None;
        // One request timer for all of this connection's exchanges (see `within`).
        let mut timer = self
            .plan
            .request_timeout
            .map(|limit| Box::pin(tokio::time::sleep(limit)));
        loop {
            // Send as many requests as the pipeline, the budget and churn allow.
            while in_flight.len() < depth
                && this_connection > 0
                && self.budget.is_none_or(|left| left > in_flight.len() as u64)
            {
                this_connection -= 1;
                let due = self.next_due().await;
                let label = self.codec.request(&mut out);
                let sent = Instant::now();
                if let Some(replied) = replied_at.take() {
                    self.recorder.borrow_mut().send_gap(sent - replied);
                }
                in_flight.push_back(InFlight { due, sent, label });
            }
            if in_flight.is_empty() {
                return Ok(Ended::Ours);
            }
            // The request timeout covers the whole exchange: a server that stops
            // reading blocks the write, and that too must end as a timeout.
            let limit = self.plan.request_timeout;
            let exchange = async {
                if !out.is_empty() {
                    self.write_requests(stream, &out).await?;
                }
                self.reply(stream, buf).await
            };
            let outcome = match (limit, timer.as_mut()) {
                (Some(limit), Some(timer)) => match within(timer, limit, exchange).await {
                    Some(outcome) => outcome,
                    None => Err(self.note(Failure::Timeout, || {
                        format!(
                            "no reply within the request timeout of {} ms",
                            limit.as_millis()
                        )
                    })),
                },
                _ => exchange.await,
            };
            out.clear();
            let (status, keep_alive) = match outcome {
                Ok(reply) => reply,
                Err(failure) => {
                    if let Some(request) = in_flight.front() {
                        let mut rec = self.recorder.borrow_mut();
                        rec.label_failure(request.label, failure);
                    }
                    return Err(failure);
                }
            };
            let done = Instant::now();
            let request = in_flight.pop_front().expect("a reply answers a request");
            let uncorrected = done - request.sent;
            let latency = request
                .due
                .map_or(uncorrected, |due| done.saturating_duration_since(due));
            {
                let mut rec = self.recorder.borrow_mut();
                rec.exchange(latency, request.due.map(|_| uncorrected));
                if let Some(code) = status {
                    rec.status(code);
                }
                rec.label_exchange(
                    request.label,
                    latency,
                    request.due.map(|_| uncorrected),
                    status,
                );
            }
            if let Some(left) = self.budget.as_mut() {
                *left -= 1;
            }
            self.completed += 1;
            if !keep_alive {
                // The server closes after this reply: what else is in flight is lost.
                return match in_flight.front() {
                    None => Ok(Ended::ByServer),
                    Some(lost) => {
                        let mut rec = self.recorder.borrow_mut();
                        rec.label_failure(lost.label, Failure::Closed);
                        Err(Failure::Closed)
                    }
                };
            }
            if in_flight.is_empty() && !buf.filled().is_empty() {
                // Bytes nobody asked for: the stream is out of step with the requests.
                let extra = buf.filled().len();
                return Err(self.note(Failure::Protocol, || {
                    format!(
                        "the server sent {extra} bytes after a complete reply that no request \
                         asked for; the stream is out of step with the requests"
                    )
                }));
            }
            if self.schedule.is_none() {
                replied_at = Some(done);
            }
            if let (Some(think), true) = (self.plan.think_time, in_flight.is_empty()) {
                tokio::time::sleep(think).await;
                replied_at = Some(Instant::now());
            }
        }
    }

    /// Reads until the oldest request's reply is complete; returns its status and
    /// whether the connection stays open.
    async fn reply(
        &mut self,
        stream: &mut Stream,
        buf: &mut ReadBuf,
    ) -> Result<(Option<u16>, bool), Failure> {
        let mut control = Vec::new();
        loop {
            if !buf.filled().is_empty() {
                let fed = self
                    .codec
                    .feed(buf.filled(), &mut control)
                    .map_err(|invalid| self.protocol(&invalid))?;
                if !control.is_empty() {
                    // A pong or a close reply; our own frames are always whole here.
                    self.write(stream, &control).await?;
                    control.clear();
                }
                match fed {
                    Fed::Reply {
                        consumed,
                        status,
                        keep_alive,
                    } => {
                        buf.consume(consumed);
                        return Ok((status, keep_alive));
                    }
                    Fed::NeedMore { consumed } => {
                        buf.consume(consumed);
                        if consumed > 0 && !buf.filled().is_empty() {
                            continue;
                        }
                    }
                    Fed::Closed => return Err(Failure::Closed),
                }
            }
            match self.fill(stream, buf).await {
                Ok(()) => {}
                Err(Failure::Closed) => {
                    return match self.codec.eof() {
                        Some(Fed::Reply { status, .. }) => Ok((status, false)),
                        _ => Err(Failure::Closed),
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }
}

/// Writes `bytes` in pieces of at most `chunk` bytes, each written (and flushed) before
/// the next is handed over, so that each leaves in its own write (TCP_NODELAY is set).
async fn write_in_pieces<W: tokio::io::AsyncWrite + Unpin>(
    stream: &mut W,
    bytes: &[u8],
    chunk: usize,
) -> std::io::Result<()> {
    for piece in bytes.chunks(chunk.max(1)) {
        stream.write_all(piece).await?;
        stream.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every write it is given, accepting at most `limit` bytes of each.
    struct Writes {
        writes: Vec<Vec<u8>>,
        limit: usize,
    }

    impl tokio::io::AsyncWrite for Writes {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.limit);
            self.writes.push(buf[..n].to_vec());
            std::task::Poll::Ready(Ok(n))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn chunked_writes_hand_over_one_piece_at_a_time() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut w = Writes {
            writes: Vec::new(),
            limit: usize::MAX,
        };
        rt.block_on(write_in_pieces(&mut w, &bytes, 64)).unwrap();
        // 15 pieces of 64 and one of 40, in order, none merged with the next.
        assert_eq!(w.writes.len(), 16);
        assert!(w.writes[..15].iter().all(|p| p.len() == 64));
        assert_eq!(w.writes[15].len(), 1000 - 15 * 64);
        assert_eq!(w.writes.concat(), bytes);
        // A socket that takes less than a piece: the rest of that piece follows before
        // the next piece starts, so no write crosses a piece's end.
        let mut w = Writes {
            writes: Vec::new(),
            limit: 50,
        };
        rt.block_on(write_in_pieces(&mut w, &bytes, 64)).unwrap();
        let sizes: Vec<usize> = w.writes.iter().map(Vec::len).collect();
        assert_eq!(&sizes[..4], &[50, 14, 50, 14]);
        assert_eq!(w.writes.concat(), bytes);
    }

    #[test]
    fn schedule_interleaves_connections_at_the_total_rate() {
        let start = Instant::now();
        // 1000 requests/s over 4 connections: connection 1 sends requests 1, 5, 9, ...
        let mut s = Schedule::new(start, 1000.0, 1, 4);
        let due: Vec<Duration> = (0..3).map(|_| s.next_due() - start).collect();
        assert_eq!(due, [1, 5, 9].map(Duration::from_millis).to_vec());
    }

    #[test]
    fn idle_connections_spread_over_loopback_sources() {
        let v4 = std::net::SocketAddr::from(([127, 0, 0, 1], 9000));
        assert_eq!(idle_source(v4, 0), None);
        assert_eq!(idle_source(v4, IDLE_PER_SOURCE_ADDRESS - 1), None);
        assert_eq!(
            idle_source(v4, IDLE_PER_SOURCE_ADDRESS),
            Some(std::net::SocketAddr::from(([127, 0, 0, 2], 0)))
        );
        assert_eq!(
            idle_source(v4, 5 * IDLE_PER_SOURCE_ADDRESS + 7),
            Some(std::net::SocketAddr::from(([127, 0, 0, 6], 0)))
        );
        // Elsewhere than loopback the system picks the source.
        let remote = std::net::SocketAddr::from(([10, 0, 0, 1], 9000));
        assert_eq!(idle_source(remote, 3 * IDLE_PER_SOURCE_ADDRESS), None);
    }

    #[test]
    fn schedule_arithmetic_saturates_instead_of_running_at_full_speed() {
        // Rates the plan refuses: the schedule still never turns them into "now".
        let start = Instant::now();
        for (rate, conn) in [(1e-300, 0), (1e-300, 3), (f64::MIN_POSITIVE, 1), (0.0, 2)] {
            let mut s = Schedule::new(start, rate, conn, 4);
            let first = s.next_due() - start;
            let second = s.next_due() - start;
            let far = Duration::from_nanos(FAR_FUTURE_NS as u64);
            assert_eq!(second, far, "rate {rate}, connection {conn}");
            if conn > 0 {
                assert_eq!(first, far, "rate {rate}, connection {conn}");
            }
        }
        // The smallest allowed rate with the most connections saturates too.
        let mut s = Schedule::new(start, 1e-6, 999_999, 1_000_000);
        assert_eq!(
            s.next_due() - start,
            Duration::from_nanos(FAR_FUTURE_NS as u64)
        );
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
