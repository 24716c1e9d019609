//! HTTP/1.1 server mode: keep-alive, pipelining, Content-Length or chunked replies, and
//! deliberately malformed replies for testing a client's error handling.
//!
//! GET and HEAD get a fixed body; POST, PUT and PATCH get their request body back; a
//! path `/status/NNN` (NNN in 200..=599) sets the status. Every reply waits out any delay
//! (stall, cold start, shape).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::stall::{self, Stall};

/// Longest request line plus headers accepted before replying 431 and closing.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most request header fields accepted.
const MAX_HEADERS: usize = 100;
/// Largest request body accepted before replying 413 and closing.
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// The fixed reply body is this text repeated and cut to length (13 bytes: all of it).
const BODY_TEXT: &[u8] = b"Hello, world!";

/// How replies carrying a body are framed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transfer {
    /// `Content-Length`.
    #[default]
    Length,
    /// `Transfer-Encoding: chunked`, the body in one chunk.
    Chunked,
}

/// A deliberate protocol error in every reply (the connection is closed after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// A garbage status line.
    StatusLine,
    /// A chunked body whose size is not hex.
    ChunkSize,
    /// A non-numeric `Content-Length`.
    ContentLength,
    /// Promises 100 body bytes, sends 10, then closes.
    Truncated,
}

/// Options of the HTTP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http {
    /// Body length of GET and HEAD replies.
    pub body_bytes: usize,
    /// Framing of replies with a body.
    pub transfer: Transfer,
    /// Send `Connection: close` and close after every N-th reply on a connection.
    pub close_every: Option<u64>,
    /// Send this protocol error instead of a valid reply.
    pub malformed: Option<Malformed>,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            body_bytes: BODY_TEXT.len(),
            transfer: Transfer::Length,
            close_every: None,
            malformed: None,
        }
    }
}

/// What the reply to one parsed request depends on.
#[derive(Debug)]
struct Request {
    /// Status asked for by the path.
    status: u16,
    /// A HEAD request: headers only.
    head: bool,
    /// POST, PUT or PATCH: the reply body is the request body.
    echo: bool,
    /// The client asked to close after this reply (or spoke HTTP/1.0 without keep-alive).
    close: bool,
    /// The request body, kept only when it is echoed.
    body: Vec<u8>,
}

/// What the bytes at the start of the buffer hold.
enum Parsed {
    /// A whole request, and how many bytes it took.
    Request(usize, Request),
    /// Not all there yet; `expects_continue` when the head is complete and the client
    /// waits for `100 Continue` before sending the body.
    Partial { expects_continue: bool },
    /// A request the server refuses: reply with this status and reason, then close.
    Refused(u16, &'static str),
}

impl Http {
    /// Parses the HTTP mode's own flags.
    pub fn from_flags(flags: &[(String, String)]) -> Result<Http, String> {
        let mut http = Http::default();
        for (flag, value) in flags {
            match flag.as_str() {
                "--body-bytes" => {
                    http.body_bytes = value
                        .parse()
                        .map_err(|_| format!("--body-bytes: {value:?} is not a byte count"))?;
                }
                "--transfer" => {
                    http.transfer = match value.as_str() {
                        "length" => Transfer::Length,
                        "chunked" => Transfer::Chunked,
                        _ => {
                            return Err(format!(
                                "--transfer: {value:?} is not one of: length, chunked"
                            ))
                        }
                    }
                }
                "--close-every" => {
                    let n: u64 = value
                        .parse()
                        .map_err(|_| format!("--close-every: {value:?} is not a count"))?;
                    if n == 0 {
                        return Err("--close-every must be at least 1".into());
                    }
                    http.close_every = Some(n);
                }
                "--malformed" => {
                    http.malformed = Some(match value.as_str() {
                        "status-line" => Malformed::StatusLine,
                        "chunk-size" => Malformed::ChunkSize,
                        "content-length" => Malformed::ContentLength,
                        "truncated" => Malformed::Truncated,
                        _ => {
                            return Err(format!(
                                "--malformed: {value:?} is not one of: \
                                 status-line, chunk-size, content-length, truncated"
                            ))
                        }
                    })
                }
                other => return Err(format!("unknown option {other:?} for mode http")),
            }
        }
        Ok(http)
    }

    /// Serves one connection until the client closes, a reply closes it, or an error.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        mut stream: S,
        stall: Option<Stall>,
    ) {
        // The listener set TCP_NODELAY on the socket.
        let body: Vec<u8> = BODY_TEXT
            .iter()
            .copied()
            .cycle()
            .take(self.body_bytes)
            .collect();
        let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut read_buf = vec![0u8; 64 * 1024];
        let mut out: Vec<u8> = Vec::new();
        let mut replies = 0u64;
        let mut continue_sent = false;
        loop {
            // Answer every whole request already here, in order, in one write.
            let mut close = false;
            let mut consumed = 0;
            while !close {
                match parse_request(&buf[consumed..]) {
                    Parsed::Request(len, request) => {
                        consumed += len;
                        continue_sent = false;
                        replies += 1;
                        let every = self.close_every.is_some_and(|n| replies.is_multiple_of(n));
                        close = request.close || every || self.malformed.is_some();
                        stall::wait(stall).await;
                        self.reply(&request, &body, close, &mut out);
                    }
                    Parsed::Partial { expects_continue } => {
                        if expects_continue && !continue_sent {
                            continue_sent = true;
                            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        }
                        break;
                    }
                    Parsed::Refused(status, reason) => {
                        close = true;
                        let text = format!(
                            "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\
                             Connection: close\r\n\r\n"
                        );
                        out.extend_from_slice(text.as_bytes());
                    }
                }
            }
            buf.drain(..consumed);
            if !out.is_empty() {
                if stream.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
            if close {
                let _ = stream.shutdown().await;
                return;
            }
            match stream.read(&mut read_buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&read_buf[..n]),
            }
        }
    }

    /// Appends the reply to `request` to `out`.
    fn reply(&self, request: &Request, fixed_body: &[u8], close: bool, out: &mut Vec<u8>) {
        let status = request.status;
        let body = if request.echo {
            &request.body[..]
        } else {
            fixed_body
        };
        let connection = if close { "Connection: close\r\n" } else { "" };
        if let Some(kind) = self.malformed {
            let text = match kind {
                Malformed::StatusLine => "HTXP/1.1 2OO Okay-ish\r\nContent-Length: 0\r\n\r\n",
                Malformed::ChunkSize => {
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
                }
                Malformed::ContentLength => "HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n",
                Malformed::Truncated => "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
            };
            out.extend_from_slice(text.as_bytes());
            return;
        }
        let reason = reason_of(status);
        out.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n{connection}").as_bytes());
        // These statuses never carry a body, whatever the method.
        if status == 204 || status == 304 {
            out.extend_from_slice(b"\r\n");
            return;
        }
        let send_body = !request.head;
        match self.transfer {
            Transfer::Length => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                if send_body {
                    out.extend_from_slice(body);
                }
            }
            Transfer::Chunked => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                if send_body {
                    if !body.is_empty() {
                        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                        out.extend_from_slice(body);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                }
            }
        }
    }
}

/// The status a path asks for: `/status/NNN` with NNN in 200..=599 (any query is
/// ignored), else 200.
fn status_of(path: &str) -> u16 {
    let path = path.split('?').next().unwrap_or(path);
    path.strip_prefix("/status/")
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (200..=599).contains(code))
        .unwrap_or(200)
}

fn reason_of(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Parses the request at the start of `buf`, with its body.
fn parse_request(buf: &[u8]) -> Parsed {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD_BYTES => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD_BYTES => {
            return Parsed::Partial {
                expects_continue: false,
            }
        }
        Ok(_) => return Parsed::Refused(431, "Request Header Fields Too Large"),
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(431, "Request Header Fields Too Large")
        }
        Err(_) => return Parsed::Refused(400, "Bad Request"),
    };
    let mut close = request.version == Some(0);
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut expects_continue = false;
    for field in request.headers.iter() {
        let value = String::from_utf8_lossy(field.value);
        let value = value.trim();
        let name = field.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<u64>() {
                Ok(n) if content_length.is_none_or(|m| m == n) => content_length = Some(n),
                _ => return Parsed::Refused(400, "Bad Request"),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.to_ascii_lowercase().ends_with("chunked") {
                return Parsed::Refused(501, "Not Implemented");
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("expect") {
            expects_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    if chunked && content_length.is_some() {
        // Two framings for one body: the classic request-smuggling shape.
        return Parsed::Refused(400, "Bad Request");
    }
    let method = request.method.unwrap_or("GET");
    let echo = matches!(method, "POST" | "PUT" | "PATCH");
    let rest = &buf[head_len..];
    let partial = Parsed::Partial { expects_continue };
    let (body_len, body) = if chunked {
        match decode_chunked(rest) {
            Ok(Some(done)) => done,
            Ok(None) => return partial,
            Err(refused) => return refused,
        }
    } else {
        let len = content_length.unwrap_or(0);
        if len > MAX_BODY_BYTES {
            return Parsed::Refused(413, "Content Too Large");
        }
        if (rest.len() as u64) < len {
            return partial;
        }
        let len = len as usize;
        (
            len,
            if echo {
                rest[..len].to_vec()
            } else {
                Vec::new()
            },
        )
    };
    Parsed::Request(
        head_len + body_len,
        Request {
            status: status_of(request.path.unwrap_or("/")),
            head: method == "HEAD",
            echo,
            close,
            body,
        },
    )
}

/// Decodes a whole chunked body at the start of `buf`: `(bytes used, body)`, or `None`
/// if it is not all there yet.
fn decode_chunked(buf: &[u8]) -> Result<Option<(usize, Vec<u8>)>, Parsed> {
    let bad = || Parsed::Refused(400, "Bad Request");
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let (line_len, size) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(bad()),
        };
        pos += line_len;
        if size == 0 {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            return match httparse::parse_headers(&buf[pos..], &mut fields) {
                Ok(httparse::Status::Complete((len, _))) => Ok(Some((pos + len, body))),
                Ok(httparse::Status::Partial) => Ok(None),
                Err(_) => Err(bad()),
            };
        }
        if body.len() as u64 + size > MAX_BODY_BYTES {
            return Err(Parsed::Refused(413, "Content Too Large"));
        }
        let size = size as usize;
        if buf.len() - pos < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(bad());
        }
        pos += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::SocketAddr;
    use std::time::Duration;

    fn flags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect()
    }

    /// Starts the server on 127.0.0.1 in its own thread; it ends with the test process.
    fn server(pairs: &[(&str, &str)]) -> SocketAddr {
        let http = Http::from_flags(&flags(pairs)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    tokio::spawn(http.serve(stream, None));
                }
            });
        });
        rx.recv().unwrap()
    }

    fn connect(addr: SocketAddr) -> std::net::TcpStream {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// Sends `request` (in pieces of `piece` bytes), then reads until the server closes.
    fn exchange(addr: SocketAddr, request: &[u8], piece: usize) -> String {
        let mut stream = connect(addr);
        for part in request.chunks(piece) {
            stream.write_all(part).unwrap();
            stream.flush().unwrap();
        }
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        String::from_utf8(reply).unwrap()
    }

    const OK_13: &str = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!";

    #[test]
    fn pipelined_requests_answered_in_order() {
        let addr = server(&[]);
        let request = "GET / HTTP/1.1\r\nHost: t\r\n\r\n\
                       HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n\
                       POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
                       GET /status/404 HTTP/1.1\r\nHost: t\r\n\r\n\
                       PUT /status/503 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
                       Content-Length: 2\r\n\r\nhi";
        let expected = format!(
            "{OK_13}\
             HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n\
             HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
             HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nHello, world!\
             HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"
        );
        // All at once, and a few bytes at a time: the same replies.
        assert_eq!(exchange(addr, request.as_bytes(), usize::MAX), expected);
        assert_eq!(exchange(addr, request.as_bytes(), 3), expected);
    }

    #[test]
    fn keep_alive_across_reads() {
        let addr = server(&[("--body-bytes", "20")]);
        let mut stream = connect(addr);
        for _ in 0..3 {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            let expected = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nHello, world!Hello, ";
            let mut reply = vec![0u8; expected.len()];
            stream.read_exact(&mut reply).unwrap();
            assert_eq!(reply, expected);
        }
    }

    #[test]
    fn chunked_replies_and_bodiless_statuses() {
        let addr = server(&[("--transfer", "chunked"), ("--body-bytes", "5")]);
        let request = "GET / HTTP/1.1\r\n\r\n\
                       POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n\
                       GET /status/204 HTTP/1.1\r\n\r\n\
                       HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n";
        let expected =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n0\r\n\r\n\
                        HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
                        HTTP/1.1 204 No Content\r\n\r\n\
                        HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(exchange(addr, request.as_bytes(), usize::MAX), expected);
    }

    #[test]
    fn chunked_request_bodies_are_echoed() {
        let addr = server(&[]);
        let request = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                       3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n";
        let expected = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nabcde";
        assert_eq!(exchange(addr, request.as_bytes(), usize::MAX), expected);
        assert_eq!(exchange(addr, request.as_bytes(), 1), expected);
    }

    #[test]
    fn close_every_n_replies() {
        let addr = server(&[("--close-every", "2")]);
        let request = "GET / HTTP/1.1\r\n\r\n".repeat(3);
        let expected = format!(
            "{OK_13}HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nHello, world!"
        );
        assert_eq!(exchange(addr, request.as_bytes(), usize::MAX), expected);
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        let addr = server(&[]);
        let reply = exchange(addr, b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n", 64);
        assert_eq!(
            reply,
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nHello, world!"
        );
    }

    #[test]
    fn expect_continue_gets_an_interim_reply() {
        let addr = server(&[]);
        let mut stream = connect(addr);
        stream
            .write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            .unwrap();
        let mut interim = [0u8; 25];
        stream.read_exact(&mut interim).unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(b"ok").unwrap();
        let expected = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let mut reply = vec![0u8; expected.len()];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(reply, expected);
    }

    #[test]
    fn malformed_replies_then_close() {
        let cases = [
            ("status-line", "HTXP/1.1 2OO"),
            (
                "chunk-size",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            ),
            (
                "content-length",
                "HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n",
            ),
            (
                "truncated",
                "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
            ),
        ];
        for (kind, start) in cases {
            let addr = server(&[("--malformed", kind)]);
            let reply = exchange(addr, b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", 64);
            assert!(reply.starts_with(start), "{kind}: {reply:?}");
        }
        let reply = exchange(
            server(&[("--malformed", "truncated")]),
            b"GET / HTTP/1.1\r\n\r\n",
            64,
        );
        assert_eq!(reply.len(), 40 + 10, "exactly 10 of the 100 promised bytes");
    }

    #[test]
    fn bad_requests_are_refused_and_closed() {
        let addr = server(&[]);
        let cases: &[(&[u8], &str)] = &[
            (b"GARBAGE\0\r\n\r\n", "400"),
            (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "400"),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "400",
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
                "413",
            ),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "501"),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "400",
            ),
        ];
        for (request, status) in cases {
            let reply = exchange(addr, request, usize::MAX);
            assert!(
                reply.starts_with(&format!("HTTP/1.1 {status} "))
                    && reply.contains("Connection: close"),
                "{reply:?}"
            );
        }
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 100, b'a');
        assert!(exchange(addr, &huge, usize::MAX).starts_with("HTTP/1.1 431 "));
    }

    #[test]
    fn status_paths() {
        assert_eq!(status_of("/status/418"), 418);
        assert_eq!(status_of("/status/200"), 200);
        assert_eq!(
            status_of("/status/100"),
            200,
            "1xx would be read as interim"
        );
        assert_eq!(status_of("/status/600"), 200);
        assert_eq!(status_of("/status/abc"), 200);
        assert_eq!(status_of("/other"), 200);
    }

    #[test]
    fn parses_flags() {
        assert_eq!(Http::from_flags(&[]).unwrap(), Http::default());
        let http = Http::from_flags(&flags(&[
            ("--body-bytes", "0"),
            ("--transfer", "chunked"),
            ("--close-every", "5"),
            ("--malformed", "chunk-size"),
        ]))
        .unwrap();
        assert_eq!(
            http,
            Http {
                body_bytes: 0,
                transfer: Transfer::Chunked,
                close_every: Some(5),
                malformed: Some(Malformed::ChunkSize),
            }
        );
        let err = |pairs: &[(&str, &str)]| Http::from_flags(&flags(pairs)).unwrap_err();
        assert!(err(&[("--body-bytes", "-1")]).contains("--body-bytes"));
        assert!(err(&[("--transfer", "gzip")]).contains("length, chunked"));
        assert!(err(&[("--close-every", "0")]).contains("at least 1"));
        assert!(err(&[("--malformed", "nope")]).contains("status-line"));
        assert!(err(&[("--bogus", "1")]).contains("--bogus"));
    }
}
