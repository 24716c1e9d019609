//! Closed-loop HTTP/1.1 load on a tokio current-thread runtime: one task per connection.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use evloop::{fail, new_histogram, record, report, Args, READ_BUF_BYTES, REQUEST};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::LocalSet;

/// One connection: request, exactly `reply_bytes` back, repeat until `deadline`.
async fn connection(
    addr: SocketAddr,
    reply_bytes: usize,
    deadline: Instant,
    histogram: Rc<RefCell<Histogram<u64>>>,
) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut buf = vec![0; READ_BUF_BYTES];
    loop {
        let start = Instant::now();
        stream.write_all(REQUEST).await?;
        let mut got = 0;
        while got < reply_bytes {
            match stream.read(&mut buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
        if got > reply_bytes {
            return Err(io::Error::other("reply longer than reply_bytes"));
        }
        let end = Instant::now();
        record(&mut histogram.borrow_mut(), start, end);
        if end >= deadline {
            return Ok(());
        }
    }
}

fn main() {
    let args = Args::from_env();
    let started = Instant::now();
    let deadline = started + args.duration;
    let histogram = Rc::new(RefCell::new(new_histogram()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap_or_else(|e| fail(e));
    let outcome = LocalSet::new().block_on(&runtime, async {
        let tasks: Vec<_> = (0..args.connections)
            .map(|_| {
                let histogram = Rc::clone(&histogram);
                tokio::task::spawn_local(connection(
                    args.addr,
                    args.reply_bytes,
                    deadline,
                    histogram,
                ))
            })
            .collect();
        for task in tasks {
            task.await.expect("connection task panicked")?;
        }
        Ok(())
    });
    if let Err(e) = outcome {
        fail(e);
    }
    report("tokio-loop", &histogram.borrow(), started);
}
