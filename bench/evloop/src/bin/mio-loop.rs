//! Closed-loop HTTP/1.1 load on a hand-written mio (epoll, edge-triggered) loop:
//! one state machine per connection.
//!
//! Two knobs (environment), for the experiments in bench/RESULTS.md: `SPIN_US=N` polls
//! without sleeping (epoll_wait with a zero timeout) for up to N µs before each blocking
//! wait; `CC_ALGO=name` sets each socket's congestion control (`TCP_CONGESTION`).

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use evloop::{record, Args, READ_BUF_BYTES, REQUEST};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

enum State {
    /// `written` bytes of the request are in the socket.
    Writing { written: usize },
    /// `got` bytes of the reply have arrived.
    Reading { got: usize },
}

struct Connection {
    stream: TcpStream,
    state: State,
    /// When the current request's first byte was written.
    start: Instant,
}

/// What a connection needs from the loop while it runs.
struct Job<'a> {
    reply_bytes: usize,
    deadline: Instant,
    buf: &'a mut [u8],
    histogram: &'a mut Histogram<u64>,
}

enum Progress {
    /// Waiting for the socket; the next event for this connection resumes it.
    Blocked,
    /// The deadline has passed and the last reply is in.
    Finished,
}

impl Connection {
    /// Runs the state machine as far as the socket allows.
    ///
    /// Edge-triggered epoll reports new data even when the socket was not drained, so
    /// like tokio this stops reading at a complete reply or at a short read instead of
    /// spending a syscall on the WouldBlock that would follow.
    fn advance(&mut self, job: &mut Job) -> io::Result<Progress> {
        loop {
            match self.state {
                State::Writing { written } => {
                    let written = written + retry(|| self.stream.write(&REQUEST[written..]))?;
                    if written < REQUEST.len() {
                        self.state = State::Writing { written };
                        continue;
                    }
                    // The reply cannot have arrived yet; its readable event wakes us.
                    self.state = State::Reading { got: 0 };
                    return Ok(Progress::Blocked);
                }
                State::Reading { got } => {
                    let n = retry(|| self.stream.read(job.buf))?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    let got = got + n;
                    if got < job.reply_bytes {
                        self.state = State::Reading { got };
                        if n < job.buf.len() {
                            return Ok(Progress::Blocked);
                        }
                        continue;
                    }
                    if got > job.reply_bytes {
                        return Err(io::Error::other("reply longer than reply_bytes"));
                    }
                    let end = Instant::now();
                    record(job.histogram, self.start, end);
                    if end >= job.deadline {
                        return Ok(Progress::Finished);
                    }
                    self.start = end;
                    self.state = State::Writing { written: 0 };
                }
            }
        }
    }
}

/// Retries on EINTR; WouldBlock comes back as an error for `advance`'s caller to see.
fn retry(mut op: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// Advances the connection in `slot`, if any; true when it has just finished.
fn step(slot: &mut Option<Connection>, job: &mut Job) -> io::Result<bool> {
    let Some(connection) = slot else {
        return Ok(false);
    };
    match connection.advance(job) {
        Ok(Progress::Blocked) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Ok(Progress::Finished) => {
            *slot = None; // closes the socket, which also takes it out of the epoll set
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

fn run(args: &Args, started: Instant, histogram: &mut Histogram<u64>) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0; READ_BUF_BYTES];
    let mut job = Job {
        reply_bytes: args.reply_bytes,
        deadline: started + args.duration,
        buf: &mut buf,
        histogram,
    };
    let mut connections = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let stream = std::net::TcpStream::connect(args.addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        if let Ok(cc) = std::env::var("CC_ALGO") {
            // SAFETY: a valid socket and a byte buffer of the given length.
            let rc = unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_CONGESTION,
                    cc.as_ptr().cast(),
                    cc.len() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let mut stream = TcpStream::from_std(stream);
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        connections.push(Some(Connection {
            stream,
            state: State::Writing { written: 0 },
            start: Instant::now(),
        }));
    }
    let mut active = args.connections;
    for slot in &mut connections {
        // Time each first request from its own write, not from the connects before it.
        if let Some(connection) = slot {
            connection.start = Instant::now();
        }
        active -= usize::from(step(slot, &mut job)?);
    }
    let spin = Duration::from_micros(
        std::env::var("SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    while active > 0 {
        if spin.is_zero() {
            poll.poll(&mut events, None)?;
        } else {
            let spin_start = Instant::now();
            loop {
                poll.poll(&mut events, Some(Duration::ZERO))?;
                if !events.is_empty() {
                    break;
                }
                if spin_start.elapsed() >= spin {
                    poll.poll(&mut events, None)?;
                    break;
                }
            }
        }
        for event in &events {
            active -= usize::from(step(&mut connections[event.token().0], &mut job)?);
        }
    }
    Ok(())
}

fn main() {
    evloop::main_with("mio-loop", run);
}
