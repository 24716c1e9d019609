//! cannonade-testee: a fast native reference server for cannonade's tests and benchmarks.
//!
//! `cannonade-testee MODE [--host H] [--port P] [delays] [mode flags]`; `--help` lists
//! them all.
//!
//! Prints `listening on HOST:PORT` once bound (port 0 picks a free one), then serves
//! until SIGINT or SIGTERM.
//!
//! Delays give servers whose behaviour over time is known, for testing the warm-up
//! analysis against ground truth: a periodic stall (`--stall-ms S --stall-every-ms E`),
//! a cold start (`--cold-ms T --cold-delay-us D`) and a service-time shape (`--shape
//! flat|warmup|slowdown|alternate`, see [`shape`]). All are counted from the server's
//! start and add up; each reply waits on a timer, so other connections are served
//! meanwhile. For example, a server whose throughput rises 2.5 times at 3 s (8
//! connections, closed loop: about 600 then 1,500 requests a second, as the timer ends
//! each wait on the next millisecond):
//!
//! ```text
//! cannonade-testee http --shape warmup --at-ms 3000 --slow-us 12000 --fast-us 4000
//! ```
#![forbid(unsafe_code)]

mod echo;
mod http;
mod shape;
mod stall;
mod tls;
mod ws;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use shape::Shape;
use stall::Stall;

const USAGE: &str = "usage: cannonade-testee MODE [OPTIONS]

Modes:
  echo   TCP echo: every byte received is sent back.
           --close-after-bytes N   close each connection once N bytes were echoed on it
  http   HTTP/1.1 keep-alive server: GET/HEAD get a fixed body, POST/PUT/PATCH echo
         theirs, /status/NNN answers with status NNN (200-599); pipelining works.
           --body-bytes N          size of the fixed body (default 13)
           --transfer length|chunked   how bodies are framed (default length)
           --close-every N         close after every N-th response on a connection
           --malformed KIND        answer every request wrongly, then close; KIND is
                                   status-line, chunk-size, content-length or truncated
  ws     WebSocket echo (RFC 6455): text and binary messages come back as one frame;
         pings are answered and the closing handshake completed.
           --subprotocol NAME      accept this subprotocol when the client offers it
           --malformed KIND        break the protocol on purpose; KIND is accept-key,
                                   masked-frame, oversized or bad-opcode

Options for every mode:
  --host HOST              address to bind (default 127.0.0.1)
  --port PORT              port to bind; 0 picks a free one (default 0)
  --stall-ms S             hold every reply while stalled: S ms out of every ...
  --stall-every-ms P       ... P ms, counted from the start (both or neither)
  --cold-ms T              for the first T ms, hold every reply a further ...
  --cold-delay-us D        ... D µs, as a JIT not yet warm would (both or neither)
  --exit-after-ms X        exit with status 3 after X ms, as a crashing server would
  --tls                    serve TLS 1.2 and 1.3 with a certificate made at start-up for
                           localhost, 127.0.0.1 and ::1, signed by a fresh CA whose PEM
                           is written to --cert-out FILE (or a file in the temporary
                           directory, named on stderr); clients trust it with
                           --cacert FILE
  --cert-out FILE          where --tls writes its CA certificate (PEM)

Shapes: a service time that every reply waits before it is sent, following a known
shape over time counted from the server's start (on top of any stall or cold start).
It is a timer wait: other connections are served meanwhile and no CPU is spent, so C
connections in a closed loop get about C / (service time) replies a second.
  --shape flat --delay-us D
                   D µs for every reply
  --shape warmup --at-ms T --slow-us A --fast-us B
                   A µs before T ms, B µs from then on: faster from T on
  --shape slowdown --at-ms T --slow-us A --fast-us B
                   B µs before T ms, A µs from then on: slower from T on
  --shape alternate --period-ms P --slow-us A --fast-us B
                   A µs in the first half of every P ms, B µs in the second half
                   (a change every P/2 ms; the first half starts at the server's start)
  A must be longer than B. A periodic stall, the fifth shape, is --stall-ms S
  --stall-every-ms E.
  The timer ends every wait on the next whole millisecond: give whole milliseconds
  (multiples of 1000 µs), and expect each wait to last up to 1 ms longer.
";

/// One server mode and its own options.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Echo(echo::Echo),
    Http(http::Http),
    Ws(ws::Ws),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    mode: Mode,
    host: String,
    port: u16,
    /// `(stall, every)`
    stall: Option<(Duration, Duration)>,
    /// `(for, delay)`
    cold: Option<(Duration, Duration)>,
    exit_after: Option<Duration>,
    shape: Option<Shape>,
    /// `--tls`, and where its CA certificate goes.
    tls: bool,
    cert_out: Option<String>,
}

fn parse_ms(flag: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "{flag}: {value:?} is not a positive number of milliseconds"
        )),
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut iter = args.iter();
    let mode = match iter.next().map(String::as_str) {
        Some(m @ ("echo" | "http" | "ws")) => m,
        Some(other) => {
            return Err(format!(
                "unknown mode {other:?}; the modes are: echo, http, ws"
            ))
        }
        None => return Err("missing mode; the modes are: echo, http, ws".into()),
    };
    let (mut host, mut port) = ("127.0.0.1".to_string(), 0u16);
    let (mut stall_ms, mut every_ms) = (None, None);
    let (mut cold_ms, mut cold_delay_us, mut exit_after) = (None, None, None);
    let (mut mode_flags, mut shape_flags) = (Vec::new(), Vec::new());
    let (mut tls, mut cert_out) = (false, None);
    while let Some(flag) = iter.next() {
        if !flag.starts_with("--") {
            return Err(format!("unexpected argument {flag:?}"));
        }
        if flag == "--tls" {
            tls = true;
            continue;
        }
        let value = iter
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        match flag.as_str() {
            "--host" => host = value,
            "--port" => {
                port = value
                    .parse()
                    .map_err(|_| format!("--port: {value:?} is not a port number (0-65535)"))?
            }
            "--stall-ms" => stall_ms = Some(parse_ms(flag, &value)?),
            "--stall-every-ms" => every_ms = Some(parse_ms(flag, &value)?),
            "--cold-ms" => cold_ms = Some(parse_ms(flag, &value)?),
            "--cold-delay-us" => {
                let us: u64 = value
                    .parse()
                    .map_err(|_| format!("{flag}: {value:?} is not a number of microseconds"))?;
                cold_delay_us = Some(Duration::from_micros(us));
            }
            "--exit-after-ms" => exit_after = Some(parse_ms(flag, &value)?),
            "--cert-out" => cert_out = Some(value),
            f if shape::FLAGS.contains(&f) => shape_flags.push((flag.clone(), value)),
            _ => mode_flags.push((flag.clone(), value)),
        }
    }
    let stall = match (stall_ms, every_ms) {
        (None, None) => None,
        (Some(s), Some(p)) if s < p => Some((s, p)),
        (Some(_), Some(_)) => return Err("--stall-ms must be shorter than --stall-every-ms".into()),
        _ => return Err("give both --stall-ms and --stall-every-ms, or neither".into()),
    };
    let cold = match (cold_ms, cold_delay_us) {
        (None, None) => None,
        (Some(t), Some(d)) => Some((t, d)),
        _ => return Err("give both --cold-ms and --cold-delay-us, or neither".into()),
    };
    if cert_out.is_some() && !tls {
        return Err("--cert-out is where --tls writes its certificate; add --tls".into());
    }
    let shape = Shape::from_flags(&shape_flags)?;
    let mode = match mode {
        "echo" => Mode::Echo(echo::Echo::from_flags(&mode_flags)?),
        "http" => Mode::Http(http::Http::from_flags(&mode_flags)?),
        "ws" => Mode::Ws(ws::Ws::from_flags(&mode_flags)?),
        _ => unreachable!("modes are checked above"),
    };
    Ok(Options {
        mode,
        host,
        port,
        stall,
        cold,
        exit_after,
        shape,
        tls,
        cert_out,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("cannonade-testee: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannonade-testee: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannonade-testee: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(opts: Options) -> std::io::Result<()> {
    let tls = if opts.tls {
        let alpn: &[&str] = match opts.mode {
            Mode::Echo(_) => &[],
            Mode::Http(_) | Mode::Ws(_) => &["http/1.1"],
        };
        let made = tls::make(alpn).map_err(std::io::Error::other)?;
        let path = tls::write_ca(&made.ca_pem, opts.cert_out.as_deref()).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot write the CA certificate: {e}"))
        })?;
        // stdout keeps its one line; the file's name goes to stderr.
        eprintln!("tls: the CA certificate is in {path} (trust it with --cacert {path})");
        Some(made.acceptor)
    } else {
        None
    };
    let listener = TcpListener::bind((opts.host.as_str(), opts.port)).await?;
    let addr: SocketAddr = listener.local_addr()?;
    // Handlers first: a signal sent as soon as the line below is read must find them.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let delayed = opts.stall.is_some() || opts.cold.is_some() || opts.shape.is_some();
    let stall = delayed.then(|| Stall::with(opts.stall, opts.cold).shaped(opts.shape));
    if let Some(after) = opts.exit_after {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            eprintln!(
                "exiting after {} ms, as asked (--exit-after-ms)",
                after.as_millis()
            );
            std::process::exit(3);
        });
    }
    // Tests wait for this exact line before they connect.
    println!("listening on {addr}");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    // Out of descriptors or a reset before accept: keep serving the others.
                    Err(_) => continue,
                };
                let _ = stream.set_nodelay(true);
                let mode = opts.mode.clone();
                match tls.clone() {
                    None => tokio::spawn(serve_one(mode, stream, stall)),
                    Some(acceptor) => tokio::spawn(async move {
                        // A failed handshake is the client's to count; serve the others.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve_one(mode, stream, stall).await;
                        }
                    }),
                };
            }
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
    }
}

/// Serves one connection, plain or TLS, in the server's mode.
async fn serve_one<S>(mode: Mode, stream: S, stall: Option<Stall>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match mode {
        Mode::Echo(echo) => echo.serve(stream, stall).await,
        Mode::Http(http) => http.serve(stream, stall).await,
        Mode::Ws(ws) => ws.serve(stream, stall).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_options() {
        let o = parse_args(&args("echo --port 9000 --close-after-bytes 64")).unwrap();
        assert_eq!(o.port, 9000);
        assert_eq!(
            o.mode,
            Mode::Echo(echo::Echo {
                close_after_bytes: Some(64)
            })
        );
        assert_eq!(o.host, "127.0.0.1");
        let o = parse_args(&args("echo --stall-ms 100 --stall-every-ms 1000")).unwrap();
        assert_eq!(
            o.stall,
            Some((Duration::from_millis(100), Duration::from_millis(1000)))
        );
        let o = parse_args(&args(
            "echo --cold-ms 3000 --cold-delay-us 500 --exit-after-ms 9000",
        ))
        .unwrap();
        assert_eq!(
            o.cold,
            Some((Duration::from_millis(3000), Duration::from_micros(500)))
        );
        assert_eq!(o.exit_after, Some(Duration::from_millis(9000)));
        let o = parse_args(&args(
            "http --shape alternate --period-ms 2000 --slow-us 12000 --fast-us 4000 \
             --body-bytes 5",
        ))
        .unwrap();
        assert_eq!(
            o.shape,
            Some(Shape::Alternate {
                period: Duration::from_millis(2000),
                first: Duration::from_millis(12),
                second: Duration::from_millis(4),
            })
        );
        assert!(matches!(o.mode, Mode::Http(_)));
        assert_eq!(parse_args(&args("http")).unwrap().shape, None);
        let err = parse_args(&args("echo --cold-ms 3000")).unwrap_err();
        assert!(err.contains("--cold-delay-us"), "{err}");
    }

    #[test]
    fn rejects_bad_input_by_name() {
        let err = |s| parse_args(&args(s)).unwrap_err();
        assert!(err("echo --port x").contains("--port"));
        assert!(err("gopher").contains("gopher"));
        assert!(err("http --transfer pigeon").contains("pigeon"));
        assert!(err("ws --malformed politely").contains("politely"));
        assert!(err("echo --close-after-bytes 0").contains("at least 1"));
        assert!(err("echo --bogus 1").contains("--bogus"));
        assert!(err("echo --stall-ms 100").contains("both"));
        assert!(err("echo --stall-ms 100 --stall-every-ms 50").contains("shorter"));
        assert!(err("http --shape flat").contains("--delay-us"));
        assert!(err("http --slow-us 5").contains("--shape"));
        assert!(err("http --cert-out x.pem").contains("--tls"));
        let o = parse_args(&args("ws --tls --cert-out ca.pem --port 9")).unwrap();
        assert!(o.tls && o.port == 9 && o.cert_out.as_deref() == Some("ca.pem"));
    }
}
