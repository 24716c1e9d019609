//! cannonade-testee: a fast native reference server for cannonade's tests and benchmarks.
//!
//! `cannonade-testee echo [--host H] [--port P] [--close-after-bytes N]`
//!
//! Prints `listening on HOST:PORT` once bound (port 0 picks a free one), then serves
//! until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

const USAGE: &str =
    "usage: cannonade-testee echo [--host HOST] [--port PORT] [--close-after-bytes N]

  echo   TCP echo: every byte received is sent back.

  --host HOST              address to bind (default 127.0.0.1)
  --port PORT              port to bind; 0 picks a free one (default 0)
  --close-after-bytes N    close each connection once N bytes were echoed on it
";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    host: String,
    port: u16,
    close_after_bytes: Option<u64>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut iter = args.iter();
    match iter.next().map(String::as_str) {
        Some("echo") => {}
        Some(other) => return Err(format!("unknown mode {other:?}; the modes are: echo")),
        None => return Err("missing mode; the modes are: echo".into()),
    }
    let mut opts = Options {
        host: "127.0.0.1".into(),
        port: 0,
        close_after_bytes: None,
    };
    while let Some(flag) = iter.next() {
        let mut value = || {
            iter.next()
                .ok_or_else(|| format!("{flag} needs a value"))
                .cloned()
        };
        match flag.as_str() {
            "--host" => opts.host = value()?,
            "--port" => {
                let v = value()?;
                opts.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port number (0-65535)"))?;
            }
            "--close-after-bytes" => {
                let v = value()?;
                let n: u64 = v
                    .parse()
                    .map_err(|_| format!("--close-after-bytes: {v:?} is not a count"))?;
                if n == 0 {
                    return Err("--close-after-bytes must be at least 1".into());
                }
                opts.close_after_bytes = Some(n);
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(opts)
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
    let listener = TcpListener::bind((opts.host.as_str(), opts.port)).await?;
    let addr: SocketAddr = listener.local_addr()?;
    // Handlers first: a signal sent as soon as the line below is read must find them.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
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
                tokio::spawn(echo(stream, opts.close_after_bytes));
            }
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
    }
}

async fn echo(mut stream: TcpStream, close_after_bytes: Option<u64>) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    let mut echoed = 0u64;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let n = match close_after_bytes {
            Some(limit) => n.min((limit - echoed) as usize),
            None => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
        echoed += n as u64;
        if close_after_bytes.is_some_and(|limit| echoed >= limit) {
            return;
        }
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
        assert_eq!(o.close_after_bytes, Some(64));
        assert_eq!(o.host, "127.0.0.1");
    }

    #[test]
    fn rejects_bad_input_by_name() {
        assert!(parse_args(&args("echo --port x"))
            .unwrap_err()
            .contains("--port"));
        assert!(parse_args(&args("http")).unwrap_err().contains("http"));
        assert!(parse_args(&args("echo --close-after-bytes 0"))
            .unwrap_err()
            .contains("at least 1"));
        assert!(parse_args(&args("echo --bogus"))
            .unwrap_err()
            .contains("--bogus"));
    }
}
