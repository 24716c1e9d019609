//! One worker thread: a tokio current-thread runtime driving this worker's connections,
//! each running the one connection loop, all recording into this worker's recorder.

use std::cell::RefCell;
use std::future::pending;
use std::rc::Rc;
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

/// What a worker hands back when it stops.
pub(crate) struct WorkerOutcome {
    pub recorder: Recorder,
    pub stopped_by: StoppedBy,
    pub finished_at: Instant,
}

/// The part of the plan one worker runs.
pub(crate) struct WorkerPlan {
    pub plan: Arc<Plan>,
    /// One entry per connection: how many requests it may complete (`None`: no limit).
    pub budgets: Vec<Option<u64>>,
    pub deadline: Option<Instant>,
    pub stop: watch::Receiver<bool>,
}

/// Runs one worker to its end on the calling thread.
pub(crate) fn run_worker(work: WorkerPlan) -> std::io::Result<WorkerOutcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let stopped_by = local.block_on(&runtime, drive(work, Rc::clone(&recorder)));
    let finished_at = Instant::now();
    // Dropping the set cancels the connections still in flight and releases the recorder.
    drop(local);
    let recorder = Rc::try_unwrap(recorder)
        .map(RefCell::into_inner)
        .unwrap_or_else(|shared| shared.borrow().clone());
    Ok(WorkerOutcome {
        recorder,
        stopped_by,
        finished_at,
    })
}

async fn drive(work: WorkerPlan, recorder: Rc<RefCell<Recorder>>) -> StoppedBy {
    let WorkerPlan {
        plan,
        budgets,
        deadline,
        mut stop,
    } = work;
    let codec = Codec::tcp(&plan.tcp);
    let handles: Vec<_> = budgets
        .into_iter()
        .map(|budget| {
            let conn = Connection {
                plan: Arc::clone(&plan),
                codec: codec.clone(),
                recorder: Rc::clone(&recorder),
                budget,
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

/// One connection's state: the connection loop shared by every load model.
struct Connection {
    plan: Arc<Plan>,
    codec: Codec,
    recorder: Rc<RefCell<Recorder>>,
    budget: Option<u64>,
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
            let started = Instant::now();
            let exchange = exchange(stream, &mut self.codec, buf);
            let (sent, received) = match self.plan.request_timeout {
                Some(limit) => tokio::time::timeout(limit, exchange)
                    .await
                    .map_err(|_| Failure::Timeout)??,
                None => exchange.await?,
            };
            self.recorder
                .borrow_mut()
                .exchange(started.elapsed(), sent, received);
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
