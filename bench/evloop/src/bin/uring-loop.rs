//! Closed-loop HTTP/1.1 load on io_uring (issue 12's batched-submission trial): the same
//! job as `mio-loop`, with every send and receive a submission-queue entry.
//!
//! Each request is one linked pair, a send of the request and a receive into the
//! connection's buffer (`IO_LINK`: the receive is queued by the kernel as soon as the send
//! is done, with no round trip through this loop). A send that succeeds posts no
//! completion (`CQE_SKIP_SUCCESS`), so a request wakes this loop once; a send that fails
//! posts its error. (A short send would pass unseen: the 36-byte request goes whole into
//! a loopback socket's buffer.) A reply that arrives in pieces gets
//! another receive. All entries queued while handling one batch of completions go to the
//! kernel in the `io_uring_enter` that also waits for the next batch, so at many
//! connections one system call carries many requests; epoll's loop needs a send, a
//! receive and a share of an `epoll_wait` for each.
//!
//! `URING_TASKRUN=defer` sets up the ring with `SINGLE_ISSUER` and `DEFER_TASKRUN` (the
//! kernel runs completion work only when this thread enters it), `coop` with
//! `COOP_TASKRUN`, anything else (the default) with neither.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Instant;

use evloop::{record, Args, READ_BUF_BYTES, REQUEST};
use hdrhistogram::Histogram;
use io_uring::{opcode, squeue, types, IoUring};

struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of the current reply that have arrived.
    got: usize,
    /// When the current request's send was queued.
    start: Instant,
}

const SEND: u64 = 0;
const RECV: u64 = 1;

fn user_data(connection: usize, op: u64) -> u64 {
    (connection as u64) << 1 | op
}

fn ring(entries: u32) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    match std::env::var("URING_TASKRUN").as_deref() {
        Ok("defer") => {
            builder.setup_single_issuer().setup_defer_taskrun();
        }
        Ok("coop") => {
            builder.setup_coop_taskrun();
        }
        _ => {}
    }
    builder.build(entries)
}

/// Queues entries, entering the kernel first when the submission queue is full.
fn push(ring: &mut IoUring, entries: &[squeue::Entry]) -> io::Result<()> {
    loop {
        // SAFETY: every buffer an entry points at (REQUEST, a connection's `buf`) lives,
        // unmoved, until the loop has reaped that entry's completion: connections are
        // neither dropped nor resized before every one of them is finished.
        let pushed = unsafe { ring.submission().push_multiple(entries) };
        if pushed.is_ok() {
            return Ok(());
        }
        ring.submit()?;
    }
}

fn send_and_recv(ring: &mut IoUring, i: usize, c: &mut Connection) -> io::Result<()> {
    let fd = types::Fd(c.stream.as_raw_fd());
    c.got = 0;
    c.start = Instant::now();
    let send = opcode::Send::new(fd, REQUEST.as_ptr(), REQUEST.len() as u32)
        .build()
        .flags(squeue::Flags::IO_LINK | squeue::Flags::SKIP_SUCCESS)
        .user_data(user_data(i, SEND));
    let recv = opcode::Recv::new(fd, c.buf.as_mut_ptr(), c.buf.len() as u32)
        .build()
        .user_data(user_data(i, RECV));
    push(ring, &[send, recv])
}

fn recv_more(ring: &mut IoUring, i: usize, c: &mut Connection) -> io::Result<()> {
    let fd = types::Fd(c.stream.as_raw_fd());
    let rest = &mut c.buf[c.got..];
    let recv = opcode::Recv::new(fd, rest.as_mut_ptr(), rest.len() as u32)
        .build()
        .user_data(user_data(i, RECV));
    push(ring, &[recv])
}

fn run(args: &Args, started: Instant, histogram: &mut Histogram<u64>) -> io::Result<()> {
    let deadline = started + args.duration;
    let mut connections = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let stream = TcpStream::connect(args.addr)?;
        stream.set_nodelay(true)?;
        connections.push(Connection {
            stream,
            buf: vec![0; READ_BUF_BYTES.max(args.reply_bytes)],
            got: 0,
            start: started,
        });
    }
    let entries = (2 * args.connections).next_power_of_two().clamp(8, 4096) as u32;
    let mut ring = ring(entries)?;
    for (i, c) in connections.iter_mut().enumerate() {
        send_and_recv(&mut ring, i, c)?;
    }
    let mut running = args.connections;
    let mut done: Vec<(u64, i32)> = Vec::with_capacity(entries as usize * 2);
    while running > 0 {
        ring.submit_and_wait(1)?;
        done.clear();
        done.extend(ring.completion().map(|cqe| (cqe.user_data(), cqe.result())));
        for &(data, result) in &done {
            let i = (data >> 1) as usize;
            if result < 0 {
                return Err(io::Error::from_raw_os_error(-result));
            }
            if data & 1 == SEND {
                continue; // not reached: a send posts only its error (handled above)
            }
            let c = &mut connections[i];
            if result == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed a connection",
                ));
            }
            c.got += result as usize;
            if c.got < args.reply_bytes {
                recv_more(&mut ring, i, c)?;
                continue;
            }
            let now = Instant::now();
            record(histogram, c.start, now);
            if now < deadline {
                send_and_recv(&mut ring, i, c)?;
            } else {
                running -= 1; // nothing more is queued for it, so it completes no more
            }
        }
    }
    Ok(())
}

fn main() {
    evloop::main_with("uring-loop", run);
}
