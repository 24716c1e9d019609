//! What `tokio-loop` and `mio-loop` share: arguments, the request, the histogram, the report.
//!
//! Both binaries do the same job on one thread: C keep-alive connections, each in a closed
//! loop (write the request, read exactly `reply_bytes`, repeat) until the deadline, so
//! that the only difference between them is the event-loop design.

use std::net::SocketAddr;
use std::process;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The request every connection sends; nginx answers it with the same number of bytes
/// every time, so a reply is complete when exactly `reply_bytes` have arrived.
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Read buffer size; much larger than a reply, so a read shorter than this drained the socket.
pub const READ_BUF_BYTES: usize = 16 * 1024;

/// Command-line arguments: `<host:port> <connections> <reply_bytes> <duration_s>`.
pub struct Args {
    /// Server address.
    pub addr: SocketAddr,
    /// Number of connections, each with one request in flight.
    pub connections: usize,
    /// Size of one full reply, headers included.
    pub reply_bytes: usize,
    /// How long to keep sending new requests.
    pub duration: Duration,
}

impl Args {
    /// Parses the process arguments, or prints the usage and exits.
    pub fn from_env() -> Args {
        let argv: Vec<String> = std::env::args().collect();
        Args::parse(&argv).unwrap_or_else(|| {
            eprintln!(
                "usage: {} <host:port> <connections> <reply_bytes> <duration_s>",
                argv[0]
            );
            process::exit(2)
        })
    }

    fn parse(argv: &[String]) -> Option<Args> {
        let [_, addr, connections, reply_bytes, duration_s] = argv else {
            return None;
        };
        Some(Args {
            addr: addr.parse().ok()?,
            connections: connections.parse().ok().filter(|&c| c > 0)?,
            reply_bytes: reply_bytes.parse().ok().filter(|&r| r > 0)?,
            duration: Duration::try_from_secs_f64(duration_s.parse().ok()?).ok()?,
        })
    }
}

/// A latency histogram in nanoseconds, 1 ns to 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Records the time from `start` to `end`.
pub fn record(histogram: &mut Histogram<u64>, start: Instant, end: Instant) {
    let latency_ns = u64::try_from((end - start).as_nanos()).unwrap_or(u64::MAX);
    histogram.saturating_record(latency_ns);
}

/// User and system CPU time of this process so far, in seconds.
fn cpu_times_s() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass; all-zero is a valid rusage.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

/// Prints the one-line JSON result: requests, wall time, percentiles and process CPU time.
pub fn report(tool: &str, histogram: &Histogram<u64>, started: Instant) {
    let duration_s = started.elapsed().as_secs_f64();
    let (user_s, sys_s) = cpu_times_s();
    println!(
        "{{\"tool\":\"{tool}\",\"requests\":{},\"duration_s\":{duration_s:.6},\
         \"p50_ns\":{},\"p99_ns\":{},\"user_s\":{user_s:.6},\"sys_s\":{sys_s:.6}}}",
        histogram.len(),
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
    );
}

/// A prototype's `main`: parses the arguments, runs `run` on one thread from now, and
/// prints its report (or its error, exiting non-zero).
pub fn main_with(
    tool: &str,
    run: impl FnOnce(&Args, Instant, &mut Histogram<u64>) -> std::io::Result<()>,
) {
    let args = Args::from_env();
    let started = Instant::now();
    let mut histogram = new_histogram();
    if let Err(e) = run(&args, started, &mut histogram) {
        fail(e);
    }
    report(tool, &histogram, started);
}

/// Prints the error and exits non-zero: a benchmark that lost a connection has no result.
pub fn fail(error: std::io::Error) -> ! {
    eprintln!("error: {error}");
    process::exit(1)
}
