//! HTTP/1.1: request encoding and an incremental response decoder (sans-IO).
//!
//! Nothing here touches a socket. The connection loop encodes each request once with
//! [`encode_request`] and feeds whatever the socket yields to a [`ResponseDecoder`],
//! which counts body bytes without keeping them, so memory does not grow with the size
//! of a response.
//!
//! ```
//! use cannonade_core::codec::http::{encode_request, Decoded, RequestSpec, ResponseDecoder};
//!
//! let spec = RequestSpec {
//!     method: "GET",
//!     host: "127.0.0.1:8080",
//!     path: "/",
//!     headers: &[],
//!     body: b"",
//!     close: false,
//! };
//! assert!(encode_request(&spec).unwrap().starts_with(b"GET / HTTP/1.1\r\n"));
//!
//! // The connection loop keeps what was not consumed and appends what it reads next.
//! let mut buf = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel".to_vec();
//! let mut decoder = ResponseDecoder::new();
//! decoder.start(false);
//! let Ok(Decoded::NeedMore { consumed }) = decoder.feed(&buf) else { panic!() };
//! buf.drain(..consumed);
//! buf.extend_from_slice(b"lo");
//! let Ok(Decoded::Response { consumed, response }) = decoder.feed(&buf) else { panic!() };
//! buf.drain(..consumed);
//! assert_eq!((response.status, response.body_bytes, buf.len()), (200, 5, 0));
//! ```

use std::fmt;

/// Longest status line plus header block accepted; a longer one is an error, not a wait.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header (or trailer) fields accepted in one response.
pub const MAX_HEADERS: usize = 100;
/// Longest chunk-size line (size, extensions, CRLF) accepted.
pub const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;
/// Longest head the decoder remembers to recognise when it comes again (see
/// [`ResponseDecoder`]); longer heads are parsed every time.
const MEMO_HEAD_BYTES: usize = 1024;

/// One request to encode. Borrowed, so the plan's strings are not copied.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpec<'a> {
    /// Request method, e.g. `GET`; any RFC 7230 token.
    pub method: &'a str,
    /// Value of the default `Host` header; replaced by a user `Host` header if given.
    pub host: &'a str,
    /// Request target: starts with `/`, or is `*`.
    pub path: &'a str,
    /// Extra header fields, sent in this order after `Host`.
    pub headers: &'a [(String, String)],
    /// Request body; sent with a `Content-Length`.
    pub body: &'a [u8],
    /// Ask the server to close the connection after this response.
    pub close: bool,
}

/// Why a request could not be encoded; each variant says what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The method is not an RFC 7230 token.
    BadMethod(String),
    /// The path is empty, does not start with `/` (and is not `*`), or holds a byte
    /// that cannot appear in a request target.
    BadPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The host holds a space, a control character or a non-ASCII byte.
    BadHost(String),
    /// A header name is not an RFC 7230 token.
    BadHeaderName(String),
    /// A header value holds CR, LF or NUL.
    BadHeaderValue {
        /// Name of the header whose value is refused.
        name: String,
    },
    /// A `Content-Length` or `Transfer-Encoding` header was given; the engine frames
    /// the body itself.
    FramingHeader(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::BadMethod(m) => write!(
                f,
                "method {m:?} is not an HTTP token; use letters, digits or !#$%&'*+-.^_`|~ only (e.g. GET)"
            ),
            RequestError::BadPath { path, reason } => {
                write!(f, "path {path:?} {reason}")
            }
            RequestError::BadHost(h) => write!(
                f,
                "host {h:?} holds a space, a control character or a non-ASCII byte; give a host name or address (with an optional :port)"
            ),
            RequestError::BadHeaderName(n) => write!(
                f,
                "header name {n:?} is not an HTTP token; use letters, digits or !#$%&'*+-.^_`|~ only"
            ),
            RequestError::BadHeaderValue { name } => write!(
                f,
                "the value of header {name:?} holds CR, LF or NUL; remove them (a value is one line)"
            ),
            RequestError::FramingHeader(n) => write!(
                f,
                "header {n:?} is set by the engine from the body; remove it from the headers"
            ),
        }
    }
}

impl std::error::Error for RequestError {}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Encodes one request; fails on input that would let a header or the body be
/// misread by the server (header injection, double framing).
pub fn encode_request(spec: &RequestSpec) -> Result<Vec<u8>, RequestError> {
    if !is_token(spec.method) {
        return Err(RequestError::BadMethod(spec.method.to_string()));
    }
    let bad_path = |reason| {
        Err(RequestError::BadPath {
            path: spec.path.to_string(),
            reason,
        })
    };
    if spec.path.is_empty() {
        return bad_path("is empty; give an absolute path such as \"/\"");
    }
    if !spec.path.starts_with('/') && spec.path != "*" {
        return bad_path("must start with '/' (or be \"*\"); e.g. \"/index.html\"");
    }
    if spec.path.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return bad_path(
            "holds a space, a control character or a non-ASCII byte; percent-encode it",
        );
    }
    if spec.host.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(RequestError::BadHost(spec.host.to_string()));
    }
    let mut user_host = false;
    for (name, value) in spec.headers {
        if !is_token(name) {
            return Err(RequestError::BadHeaderName(name.clone()));
        }
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(RequestError::BadHeaderValue { name: name.clone() });
        }
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            return Err(RequestError::FramingHeader(name.clone()));
        }
        user_host |= name.eq_ignore_ascii_case("host");
    }

    let mut out = Vec::with_capacity(64 + spec.path.len() + spec.body.len());
    let mut put = |parts: &[&[u8]]| parts.iter().for_each(|p| out.extend_from_slice(p));
    put(&[
        spec.method.as_bytes(),
        b" ",
        spec.path.as_bytes(),
        b" HTTP/1.1\r\n",
    ]);
    if !user_host {
        put(&[b"Host: ", spec.host.as_bytes(), b"\r\n"]);
    }
    for (name, value) in spec.headers {
        put(&[name.as_bytes(), b": ", value.as_bytes(), b"\r\n"]);
    }
    // Servers may wait for a body on these methods unless told it is empty.
    let body_method = matches!(spec.method, "POST" | "PUT" | "PATCH");
    if !spec.body.is_empty() || body_method {
        let len = spec.body.len().to_string();
        put(&[b"Content-Length: ", len.as_bytes(), b"\r\n"]);
    }
    if spec.close {
        put(&[b"Connection: close\r\n"]);
    }
    put(&[b"\r\n", spec.body]);
    Ok(out)
}

/// A complete final response (interim 1xx responses are skipped, not returned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Whether the connection may carry another request: false after
    /// `Connection: close`, after HTTP/1.0 without `Connection: keep-alive`, after a
    /// body read until close, and after `101 Switching Protocols`.
    pub keep_alive: bool,
    /// Body bytes received (after de-chunking); the bytes themselves are not kept.
    pub body_bytes: u64,
}

/// What one [`ResponseDecoder::feed`] made of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// The response is not complete. Drop the first `consumed` bytes of the input, keep
    /// the rest, and feed it again followed by the next bytes read.
    NeedMore {
        /// Bytes of the input used up; never more than its length.
        consumed: usize,
    },
    /// A response is complete. The first `consumed` bytes of the input belonged to it;
    /// the rest (a pipelined response) is to be fed again after [`ResponseDecoder::start`].
    Response {
        /// Bytes of the input used up; never more than its length.
        consumed: usize,
        /// The response.
        response: Response,
    },
}

/// Why a response could not be decoded. The connection cannot be trusted after one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The status line is not `HTTP/1.x NNN reason`.
    BadStatusLine(String),
    /// A header line is malformed.
    BadHeader(String),
    /// The status line and headers exceed [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// More than [`MAX_HEADERS`] header or trailer fields.
    TooManyHeaders,
    /// A `Content-Length` value is not a decimal number.
    BadContentLength(String),
    /// Two `Content-Length` values differ.
    ConflictingContentLength {
        /// The first value seen.
        first: u64,
        /// The value that differs from it.
        second: u64,
    },
    /// A chunk-size line is not hex digits, optionally followed by `;extensions`.
    BadChunkSize(String),
    /// A chunk size does not fit in 64 bits.
    ChunkSizeOverflow,
    /// A CRLF was expected (the place is named).
    MissingCrlf(&'static str),
    /// The trailer fields after the last chunk are malformed or too large.
    BadTrailer(String),
    /// The peer closed the connection in the middle of a response (the place is named).
    Truncated(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadStatusLine(why) => write!(f, "bad status line: {why}"),
            HttpError::BadHeader(why) => write!(f, "bad header line: {why}"),
            HttpError::HeadTooLarge => write!(
                f,
                "header too large: status line and headers exceed {MAX_HEAD_BYTES} bytes"
            ),
            HttpError::TooManyHeaders => {
                write!(f, "too many header fields: more than {MAX_HEADERS}")
            }
            HttpError::BadContentLength(v) => {
                write!(f, "bad Content-Length {v:?}: not a decimal byte count")
            }
            HttpError::ConflictingContentLength { first, second } => write!(
                f,
                "conflicting Content-Length headers: {first} and {second}"
            ),
            HttpError::BadChunkSize(line) => write!(
                f,
                "bad chunk size line {line:?}: expected hex digits, optionally followed by ;extensions"
            ),
            HttpError::ChunkSizeOverflow => write!(f, "bad chunk size: larger than 64 bits"),
            HttpError::MissingCrlf(place) => write!(f, "missing CRLF {place}"),
            HttpError::BadTrailer(why) => write!(f, "bad chunked trailer: {why}"),
            HttpError::Truncated(place) => {
                write!(f, "truncated response: the peer closed the connection {place}")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// Where the decoder stands inside the current response.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting for a complete status line and header block.
    Head,
    /// This many Content-Length body bytes are still due.
    Length(u64),
    /// Waiting for a complete chunk-size line.
    ChunkSize,
    /// This many bytes of the current chunk are still due.
    ChunkData(u64),
    /// Waiting for the CRLF that ends a chunk's data.
    ChunkEnd,
    /// Waiting for the complete trailer block (possibly empty) after the last chunk.
    Trailers,
    /// The body runs until the peer closes.
    UntilClose,
    /// An error was returned; it is returned again until [`ResponseDecoder::start`].
    Failed(HttpError),
}

/// An incremental HTTP/1.1 response decoder for one connection.
///
/// Call [`start`](Self::start) before each response, then [`feed`](Self::feed) it the
/// bytes read, keeping the unconsumed tail of the buffer for the next call, and
/// [`eof`](Self::eof) when the peer closes.
///
/// A server under load sends the same head again and again (until its `Date` changes):
/// the decoder keeps the last head it parsed (up to 1 KiB) and what it made of it, and
/// when the input starts with exactly those bytes it takes that result instead of
/// parsing again. The result is the same as a parse: a head ends at its first empty
/// line, and the remembered bytes end there and nowhere earlier.
#[derive(Debug, Clone)]
pub struct ResponseDecoder {
    head_request: bool,
    state: State,
    status: u16,
    keep_alive: bool,
    body_bytes: u64,
    /// The last feed left bytes of an incomplete head (or interim responses were
    /// skipped): a close now cuts a response short.
    in_response: bool,
    /// The last head parsed (empty: none, or too long to keep) and what it said; kept
    /// across responses.
    memo: Vec<u8>,
    memo_head: Option<Head>,
}

impl Default for ResponseDecoder {
    fn default() -> Self {
        ResponseDecoder::new()
    }
}

/// Framing and connection facts from one response head.
#[derive(Debug, Clone, Copy)]
struct Head {
    version: u8,
    status: u16,
    close: bool,
    keep_alive: bool,
    content_length: Option<u64>,
    /// `None`: no Transfer-Encoding; `Some(true)`: chunked is the final coding.
    chunked: Option<bool>,
}

impl ResponseDecoder {
    /// A decoder waiting for the response to a non-HEAD request.
    pub fn new() -> ResponseDecoder {
        ResponseDecoder {
            head_request: false,
            state: State::Head,
            status: 0,
            keep_alive: true,
            body_bytes: 0,
            in_response: false,
            memo: Vec::new(),
            memo_head: None,
        }
    }

    /// Prepares for the next response; `head_request` says whether it answers a HEAD
    /// request (whose response has no body whatever its headers say). Without a call,
    /// the next response is taken to answer a non-HEAD request.
    pub fn start(&mut self, head_request: bool) {
        self.head_request = head_request;
        self.state = State::Head;
        self.status = 0;
        self.keep_alive = true;
        self.body_bytes = 0;
        self.in_response = false;
    }

    /// Parses the head at the start of `rest`, or recognises the last one parsed.
    fn head(&mut self, rest: &[u8]) -> Result<Option<(usize, Head)>, HttpError> {
        if let Some(head) = self.memo_head {
            if rest.starts_with(&self.memo) {
                return Ok(Some((self.memo.len(), head)));
            }
        }
        let parsed = parse_head(rest)?;
        if let Some((len, head)) = parsed {
            self.memo.clear();
            self.memo_head = None;
            if len <= MEMO_HEAD_BYTES {
                self.memo.extend_from_slice(&rest[..len]);
                self.memo_head = Some(head);
            }
        }
        Ok(parsed)
    }

    /// Feeds the unconsumed tail of the previous call followed by the bytes read since.
    pub fn feed(&mut self, input: &[u8]) -> Result<Decoded, HttpError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let result = self.decode(input);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// The peer closed the connection: completes a body read until close, is `None`
    /// when no byte of a response had arrived, and an error when a response was cut short.
    pub fn eof(&mut self) -> Result<Option<Response>, HttpError> {
        let truncated = |place: String| {
            let e = HttpError::Truncated(place);
            Err(e)
        };
        let result = match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::UntilClose => {
                self.keep_alive = false;
                Ok(Some(self.finish()))
            }
            State::Head if !self.in_response => Ok(None),
            State::Head => truncated("inside the status line or headers".into()),
            State::Length(left) => truncated(format!(
                "{left} bytes before the end of the Content-Length body"
            )),
            State::ChunkSize | State::ChunkData(_) | State::ChunkEnd => {
                truncated("inside a chunked body".into())
            }
            State::Trailers => truncated("inside the trailers after the last chunk".into()),
        };
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// Ends the current response and readies the decoder for the next (non-HEAD) one.
    fn finish(&mut self) -> Response {
        let response = Response {
            status: self.status,
            keep_alive: self.keep_alive,
            body_bytes: self.body_bytes,
        };
        self.start(false);
        response
    }

    fn decode(&mut self, input: &[u8]) -> Result<Decoded, HttpError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            let need_more = Ok(Decoded::NeedMore { consumed: pos });
            match self.state {
                State::Failed(_) => unreachable!("feed returns before decoding"),
                State::Head => {
                    let Some((len, head)) = self.head(rest)? else {
                        self.in_response |= !rest.is_empty();
                        return need_more;
                    };
                    pos += len;
                    self.status = head.status;
                    // 101 is final: the connection now speaks another protocol.
                    if (100..200).contains(&head.status) && head.status != 101 {
                        // An interim response (e.g. 100 Continue): the final one follows.
                        self.in_response = true;
                        continue;
                    }
                    self.keep_alive = !head.close && (head.version == 1 || head.keep_alive);
                    let no_body = self.head_request
                        || head.status < 200
                        || head.status == 204
                        || head.status == 304;
                    if head.status == 101 {
                        self.keep_alive = false;
                    }
                    if no_body {
                        return Ok(self.complete(pos));
                    }
                    match (head.chunked, head.content_length) {
                        (Some(true), _) => self.state = State::ChunkSize,
                        // A final coding other than chunked is delimited by the close.
                        (Some(false), _) | (None, None) => {
                            self.keep_alive = false;
                            self.state = State::UntilClose;
                        }
                        (None, Some(0)) => return Ok(self.complete(pos)),
                        (None, Some(len)) => self.state = State::Length(len),
                    }
                }
                State::Length(left) => {
                    let take = take(left, rest.len());
                    pos += take;
                    self.body_bytes += take as u64;
                    if left == take as u64 {
                        return Ok(self.complete(pos));
                    }
                    self.state = State::Length(left - take as u64);
                    return need_more_at(pos);
                }
                State::ChunkSize => {
                    let Some(line_end) = find_line(rest, MAX_CHUNK_LINE_BYTES, || {
                        HttpError::BadChunkSize(excerpt(rest))
                    })?
                    else {
                        return need_more;
                    };
                    let line = &rest[..line_end];
                    let Some(line) = line.strip_suffix(b"\r") else {
                        return Err(HttpError::MissingCrlf("at the end of a chunk size line"));
                    };
                    let size = parse_chunk_size(line)?;
                    pos += line_end + 1;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData(size)
                    };
                }
                State::ChunkData(left) => {
                    let take = take(left, rest.len());
                    pos += take;
                    self.body_bytes += take as u64;
                    if left == take as u64 {
                        self.state = State::ChunkEnd;
                    } else {
                        self.state = State::ChunkData(left - take as u64);
                        return need_more_at(pos);
                    }
                }
                State::ChunkEnd => {
                    let expected = &b"\r\n"[..rest.len().min(2)];
                    if rest[..expected.len()] != *expected {
                        return Err(HttpError::MissingCrlf("after a chunk's data"));
                    }
                    if rest.len() < 2 {
                        return need_more;
                    }
                    pos += 2;
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    match httparse::parse_headers(rest, &mut fields) {
                        Ok(httparse::Status::Complete((len, _))) if len <= MAX_HEAD_BYTES => {
                            return Ok(self.complete(pos + len));
                        }
                        Ok(httparse::Status::Partial) if rest.len() <= MAX_HEAD_BYTES => {
                            return need_more;
                        }
                        Ok(_) => {
                            return Err(HttpError::BadTrailer(format!(
                                "larger than {MAX_HEAD_BYTES} bytes"
                            )))
                        }
                        Err(httparse::Error::TooManyHeaders) => {
                            return Err(HttpError::TooManyHeaders)
                        }
                        Err(e) => return Err(HttpError::BadTrailer(e.to_string())),
                    }
                }
                State::UntilClose => {
                    self.body_bytes += rest.len() as u64;
                    return need_more_at(input.len());
                }
            }
        }
    }

    fn complete(&mut self, consumed: usize) -> Decoded {
        Decoded::Response {
            consumed,
            response: self.finish(),
        }
    }
}

fn need_more_at(consumed: usize) -> Result<Decoded, HttpError> {
    Ok(Decoded::NeedMore { consumed })
}

/// Bytes of a body to take now: what is due, at most what is there.
fn take(due: u64, available: usize) -> usize {
    due.min(available as u64) as usize
}

/// Index of the LF ending the first line of `buf`, `None` if it is not all there yet;
/// a line longer than `limit` (LF included) is the error `too_long` makes.
fn find_line(
    buf: &[u8],
    limit: usize,
    too_long: impl FnOnce() -> HttpError,
) -> Result<Option<usize>, HttpError> {
    match buf.iter().take(limit).position(|&b| b == b'\n') {
        Some(lf) => Ok(Some(lf)),
        None if buf.len() >= limit => Err(too_long()),
        None => Ok(None),
    }
}

/// The start of `bytes`, printable, for an error message.
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned()
}

/// Parses a chunk-size line without its CRLF: `hex [ws] [; extensions]`.
fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(HttpError::BadChunkSize(excerpt(line)));
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let digit = (b as char).to_digit(16).expect("checked hex digit") as u64;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(digit))
            .ok_or(HttpError::ChunkSizeOverflow)?;
    }
    let ext = &line[digits..];
    let ext_start = ext.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    let ext = &ext[ext_start..];
    let clean = ext
        .iter()
        .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b) || b >= 0x80);
    if (!ext.is_empty() && ext[0] != b';') || !clean {
        return Err(HttpError::BadChunkSize(excerpt(line)));
    }
    Ok(size)
}

/// The comma-separated elements of a header value, trimmed.
fn elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|e| e.trim_ascii())
}

/// Parses a complete status line and header block at the start of `buf`;
/// `None` if it is not all there yet.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, Head)>, HttpError> {
    // Uninitialised: filling 100 empty fields first cost more than parsing a small head.
    let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut fields,
    );
    let len = match parsed {
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD_BYTES => {
            return Err(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(httparse::Error::Version) => {
            return Err(HttpError::BadStatusLine(format!(
                "expected \"HTTP/1.x NNN reason\", got {:?}",
                excerpt(buf)
            )))
        }
        Err(httparse::Error::Status) => {
            return Err(HttpError::BadStatusLine(format!(
                "the status code is not three digits in {:?}",
                excerpt(buf)
            )))
        }
        Err(e) => return Err(HttpError::BadHeader(e.to_string())),
    };
    let mut head = Head {
        version: response.version.unwrap_or(1),
        status: response.code.unwrap_or(0),
        close: false,
        keep_alive: false,
        content_length: None,
        chunked: None,
    };
    for field in response.headers.iter() {
        let name = field.name;
        // Most fields are none of the three: their length tells without a comparison.
        if !matches!(name.len(), 10 | 14 | 17) {
            continue;
        }
        if name.eq_ignore_ascii_case("connection") {
            for token in elements(field.value) {
                head.close |= token.eq_ignore_ascii_case(b"close");
                head.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            for element in elements(field.value) {
                let bad = || HttpError::BadContentLength(excerpt(field.value));
                if element.is_empty() || !element.iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                let value = std::str::from_utf8(element)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(bad)?;
                match head.content_length {
                    Some(first) if first != value => {
                        return Err(HttpError::ConflictingContentLength {
                            first,
                            second: value,
                        })
                    }
                    _ => head.content_length = Some(value),
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the last coding frames the body; empty elements are allowed by the list rule.
            if let Some(last) = elements(field.value).filter(|e| !e.is_empty()).last() {
                head.chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
            }
        }
    }
    Ok(Some((len, head)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(
        method: &'a str,
        path: &'a str,
        headers: &'a [(String, String)],
    ) -> RequestSpec<'a> {
        RequestSpec {
            method,
            host: "example.test:8080",
            path,
            headers,
            body: b"",
            close: false,
        }
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn encodes_a_plain_get() {
        let got = text(encode_request(&spec("GET", "/a?b=c", &[])).unwrap());
        assert_eq!(
            got,
            "GET /a?b=c HTTP/1.1\r\nHost: example.test:8080\r\n\r\n"
        );
    }

    #[test]
    fn encodes_headers_body_and_close() {
        let headers = hdrs(&[("Accept", "*/*"), ("X-Empty", "")]);
        let mut s = spec("POST", "/submit", &headers);
        s.body = b"hello";
        s.close = true;
        let got = text(encode_request(&s).unwrap());
        assert_eq!(
            got,
            "POST /submit HTTP/1.1\r\nHost: example.test:8080\r\nAccept: */*\r\nX-Empty: \r\n\
             Content-Length: 5\r\nConnection: close\r\n\r\nhello"
        );
    }

    #[test]
    fn content_length_for_body_methods_even_when_empty() {
        for method in ["POST", "PUT", "PATCH"] {
            let got = text(encode_request(&spec(method, "/", &[])).unwrap());
            assert!(got.contains("Content-Length: 0\r\n"), "{got}");
        }
        let got = text(encode_request(&spec("DELETE", "/", &[])).unwrap());
        assert!(!got.contains("Content-Length"), "{got}");
        let mut s = spec("GET", "/", &[]);
        s.body = b"x";
        assert!(text(encode_request(&s).unwrap()).ends_with("Content-Length: 1\r\n\r\nx"));
    }

    #[test]
    fn user_host_replaces_the_default_in_place() {
        let headers = hdrs(&[("A", "1"), ("host", "other"), ("B", "2")]);
        let got = text(encode_request(&spec("GET", "*", &headers)).unwrap());
        assert_eq!(got, "GET * HTTP/1.1\r\nA: 1\r\nhost: other\r\nB: 2\r\n\r\n");
    }

    #[test]
    fn refuses_bad_requests_by_name() {
        let err = |method, path, headers: &[(&str, &str)]| {
            let headers = hdrs(headers);
            encode_request(&spec(method, path, &headers))
                .unwrap_err()
                .to_string()
        };
        assert!(err("GE T", "/", &[]).contains("method \"GE T\""));
        assert!(err("", "/", &[]).contains("method"));
        assert!(err("GET", "", &[]).contains("is empty"));
        assert!(err("GET", "index.html", &[]).contains("start with '/'"));
        assert!(err("GET", "/a b", &[]).contains("percent-encode"));
        assert!(err("GET", "/a\r\nX: y", &[]).contains("percent-encode"));
        assert!(err("GET", "/\0", &[]).contains("percent-encode"));
        assert!(err("GET", "/é", &[]).contains("percent-encode"));
        assert!(err("GET", "/", &[("Bad Name", "v")]).contains("header name \"Bad Name\""));
        assert!(err("GET", "/", &[("X:", "v")]).contains("header name"));
        assert!(err("GET", "/", &[("X-Inject", "a\r\nB: c")]).contains("\"X-Inject\""));
        assert!(err("GET", "/", &[("X", "a\nb")]).contains("CR, LF or NUL"));
        assert!(err("GET", "/", &[("X", "a\0b")]).contains("CR, LF or NUL"));
        assert!(err("GET", "/", &[("content-length", "3")]).contains("set by the engine"));
        assert!(err("GET", "/", &[("Transfer-Encoding", "chunked")]).contains("set by the engine"));
        let mut s = spec("GET", "/", &[]);
        s.host = "a b";
        assert!(encode_request(&s).unwrap_err().to_string().contains("host"));
    }

    /// One decoded event, for comparing runs.
    #[derive(Debug, Clone)]
    enum Event {
        Response(Response),
        Error(HttpError),
        /// `eof` found nothing in progress.
        Closed,
    }

    /// Errors compare by kind: their messages quote the input, as far as it had come.
    impl PartialEq for Event {
        fn eq(&self, other: &Event) -> bool {
            match (self, other) {
                (Event::Response(a), Event::Response(b)) => a == b,
                (Event::Error(a), Event::Error(b)) => {
                    std::mem::discriminant(a) == std::mem::discriminant(b)
                }
                (Event::Closed, Event::Closed) => true,
                _ => false,
            }
        }
    }

    /// Feeds `input` in pieces cut at `cuts` (ascending offsets), following the caller
    /// contract, then signals the close; `heads` says which responses answer HEAD.
    fn run(input: &[u8], cuts: &[usize], heads: &[bool]) -> Vec<Event> {
        let mut decoder = ResponseDecoder::new();
        let mut events = Vec::new();
        let mut buf = Vec::new();
        let start =
            |d: &mut ResponseDecoder, n: usize| d.start(heads.get(n).copied() == Some(true));
        start(&mut decoder, 0);
        let mut bounds: Vec<usize> = cuts.to_vec();
        bounds.push(input.len());
        let mut from = 0;
        for to in bounds {
            buf.extend_from_slice(&input[from..to]);
            from = to;
            loop {
                match decoder.feed(&buf) {
                    Ok(Decoded::NeedMore { consumed }) => {
                        assert!(consumed <= buf.len());
                        buf.drain(..consumed);
                        break;
                    }
                    Ok(Decoded::Response { consumed, response }) => {
                        assert!(consumed <= buf.len());
                        buf.drain(..consumed);
                        events.push(Event::Response(response));
                        start(&mut decoder, events.len());
                    }
                    Err(e) => {
                        events.push(Event::Error(e));
                        return events;
                    }
                }
            }
        }
        events.push(match decoder.eof() {
            Ok(Some(r)) => Event::Response(r),
            Ok(None) => Event::Closed,
            Err(e) => Event::Error(e),
        });
        events
    }

    fn whole(input: &[u8]) -> Vec<Event> {
        run(input, &[], &[])
    }

    fn ok(status: u16, keep_alive: bool, body_bytes: u64) -> Event {
        Event::Response(Response {
            status,
            keep_alive,
            body_bytes,
        })
    }

    /// Every single cut and a byte-at-a-time feed give the same events as one feed.
    fn assert_split_invariant(input: &[u8], heads: &[bool]) -> Vec<Event> {
        let expected = run(input, &[], heads);
        for cut in 0..=input.len() {
            assert_eq!(run(input, &[cut], heads), expected, "cut at {cut}");
        }
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run(input, &every, heads), expected, "byte at a time");
        expected
    }

    #[test]
    fn content_length_body() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(
            assert_split_invariant(input, &[]),
            [ok(200, true, 5), Event::Closed]
        );
    }

    #[test]
    fn content_length_exact_consumed_and_zero_length() {
        let mut d = ResponseDecoder::new();
        let input = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nEXTRA";
        assert_eq!(
            d.feed(input),
            Ok(Decoded::Response {
                consumed: input.len() - 5,
                response: Response {
                    status: 404,
                    keep_alive: true,
                    body_bytes: 0
                }
            })
        );
    }

    #[test]
    fn incomplete_head_consumes_nothing() {
        let mut d = ResponseDecoder::new();
        assert_eq!(
            d.feed(b"HTTP/1.1 200 OK\r\nContent-Le"),
            Ok(Decoded::NeedMore { consumed: 0 })
        );
        // Body bytes are consumed as they come.
        assert_eq!(
            d.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
            Ok(Decoded::NeedMore { consumed: 42 })
        );
        assert_eq!(d.feed(b"defg"), Ok(Decoded::NeedMore { consumed: 4 }));
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                      5;name=value\r\nhello\r\nA ; x\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
        assert_eq!(
            assert_split_invariant(input, &[]),
            [ok(200, true, 15), Event::Closed]
        );
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(
            assert_split_invariant(input, &[]),
            [ok(200, true, 0), Event::Closed]
        );
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n\
                      3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(whole(input), [ok(200, true, 3), Event::Closed]);
    }

    #[test]
    fn body_until_close() {
        let input = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome bytes until the end";
        assert_eq!(assert_split_invariant(input, &[]), [ok(200, false, 24)]);
        // A final coding other than chunked is delimited by the close too.
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc";
        assert_eq!(whole(input), [ok(200, false, 3)]);
        let input = b"HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(whole(input), [ok(200, false, 0)]);
    }

    #[test]
    fn interim_responses_are_skipped() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n\
                      HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            assert_split_invariant(input, &[]),
            [ok(201, true, 2), Event::Closed]
        );
        // A close after the interim response cuts the final one short.
        let events = whole(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert!(matches!(
            events[..],
            [Event::Error(HttpError::Truncated(_))]
        ));
    }

    #[test]
    fn switching_protocols_is_final_and_not_reusable() {
        let input = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(whole(input), [ok(101, false, 0), Event::Closed]);
    }

    #[test]
    fn bodiless_statuses_and_head() {
        for status in ["204 No Content", "304 Not Modified"] {
            let input = format!(
                "HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
            );
            let code = status[..3].parse().unwrap();
            assert_eq!(
                assert_split_invariant(input.as_bytes(), &[]),
                [ok(code, true, 0), ok(200, true, 1), Event::Closed]
            );
        }
        // HEAD: no body despite Content-Length or chunked; the next response is read whole.
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n\
                      HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                      HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        assert_eq!(
            assert_split_invariant(input, &[true, true, false]),
            [
                ok(200, true, 0),
                ok(200, true, 0),
                ok(200, true, 2),
                Event::Closed
            ]
        );
    }

    #[test]
    fn keep_alive_rules() {
        let cases: &[(&[u8], bool)] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            (
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            (
                b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
                true,
            ),
            (
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
        ];
        for (input, keep_alive) in cases {
            let mut d = ResponseDecoder::new();
            match d.feed(input) {
                Ok(Decoded::Response { response, .. }) => {
                    assert_eq!(response.keep_alive, *keep_alive, "{}", excerpt(input))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn pipelined_responses_one_per_feed() {
        let first = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc".as_slice();
        let second = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
        let input = [first, second].concat();
        let mut d = ResponseDecoder::new();
        let Ok(Decoded::Response { consumed, response }) = d.feed(&input) else {
            panic!("first response expected")
        };
        assert_eq!((consumed, response.status), (first.len(), 200));
        d.start(false);
        assert_eq!(
            d.feed(&input[consumed..]),
            Ok(Decoded::Response {
                consumed: second.len(),
                response: Response {
                    status: 500,
                    keep_alive: true,
                    body_bytes: 1
                }
            })
        );
        assert_eq!(d.eof(), Ok(None));
        assert_eq!(
            assert_split_invariant(&input, &[]),
            [ok(200, true, 3), ok(500, true, 1), Event::Closed]
        );
    }

    #[test]
    fn a_remembered_head_gives_what_a_parse_gives() {
        // The same head three times (recognised), then heads that share its start but
        // differ after it or before its end (parsed again), then a cut inside it.
        let same = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let longer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
        let shorter = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r";
        let input = format!("{same}{same}{same}{longer}");
        let events = assert_split_invariant(input.as_bytes(), &[]);
        assert_eq!(
            events,
            vec![
                ok(200, true, 2),
                ok(200, true, 2),
                ok(200, true, 2),
                ok(200, false, 2),
                Event::Closed
            ]
        );
        let input = format!("{same}{shorter}");
        let events = run(input.as_bytes(), &[], &[]);
        assert_eq!(events[0], ok(200, true, 2));
        assert!(matches!(events[1], Event::Error(HttpError::Truncated(_))));
        // A HEAD request's response has no body even when its head is recognised.
        let input = format!("{same}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
        let events = run(input.as_bytes(), &[], &[false, true]);
        assert_eq!(
            events,
            vec![ok(200, true, 2), ok(200, true, 0), Event::Closed]
        );
        // A head over the memo's size is parsed every time, with the same result.
        let big = format!(
            "HTTP/1.1 200 OK\r\nX-Pad: {}\r\nContent-Length: 1\r\n\r\nx",
            "p".repeat(MEMO_HEAD_BYTES)
        );
        let events = run(format!("{big}{big}").as_bytes(), &[], &[]);
        assert_eq!(
            events,
            vec![ok(200, true, 1), ok(200, true, 1), Event::Closed]
        );
    }

    #[test]
    fn content_length_duplicates() {
        let same = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok";
        assert_eq!(whole(same), [ok(200, true, 2), Event::Closed]);
        let conflict = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok";
        assert_eq!(
            whole(conflict),
            [Event::Error(HttpError::ConflictingContentLength {
                first: 2,
                second: 3
            })]
        );
        for bad in [
            "abc",
            "-1",
            "+5",
            "1 2",
            "",
            "99999999999999999999999",
            "0x10",
        ] {
            let input = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
            match whole(input.as_bytes())[..] {
                [Event::Error(HttpError::BadContentLength(_))] => {}
                ref other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    fn first_error(input: &[u8]) -> HttpError {
        match whole(input).pop() {
            Some(Event::Error(e)) => {
                // The same error, whatever the split.
                for cut in 0..=input.len() {
                    assert_eq!(run(input, &[cut], &[]).pop(), Some(Event::Error(e.clone())));
                }
                e
            }
            other => panic!("an error expected, got {other:?}"),
        }
    }

    #[test]
    fn malformed_heads() {
        let e = first_error(b"garbage\r\n\r\n");
        assert!(e.to_string().starts_with("bad status line"), "{e}");
        let e = first_error(b"HTTP/1.1 2x0 OK\r\n\r\n");
        assert!(matches!(e, HttpError::BadStatusLine(_)), "{e}");
        let e = first_error(b"HTTP/2.0 200 OK\r\n\r\n");
        assert!(matches!(e, HttpError::BadStatusLine(_)), "{e}");
        let e = first_error(b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n");
        assert!(matches!(e, HttpError::BadHeader(_)), "{e}");
    }

    #[test]
    fn head_limits() {
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.resize(MAX_HEAD_BYTES + 10, b'a');
        let mut d = ResponseDecoder::new();
        assert_eq!(d.feed(&big), Err(HttpError::HeadTooLarge));
        assert!(d.feed(b"").is_err(), "errors stick until start");
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(whole(&big), [Event::Error(HttpError::HeadTooLarge)]);
        assert!(HttpError::HeadTooLarge
            .to_string()
            .contains("header too large"));

        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(whole(&many), [Event::Error(HttpError::TooManyHeaders)]);
    }

    #[test]
    fn malformed_chunks() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let err = |body: &str| first_error(format!("{head}{body}").as_bytes());
        assert!(matches!(err("zz\r\n"), HttpError::BadChunkSize(_)));
        assert!(matches!(err("\r\n"), HttpError::BadChunkSize(_)));
        assert!(matches!(err("-1\r\n"), HttpError::BadChunkSize(_)));
        assert!(matches!(err("5 x\r\n"), HttpError::BadChunkSize(_)));
        assert!(matches!(err("5;a\0b\r\n"), HttpError::BadChunkSize(_)));
        assert_eq!(
            err("5\n"),
            HttpError::MissingCrlf("at the end of a chunk size line")
        );
        assert_eq!(
            err("3\r\nabcX\r\n"),
            HttpError::MissingCrlf("after a chunk's data")
        );
        assert_eq!(
            err("3\r\nabc\rX"),
            HttpError::MissingCrlf("after a chunk's data")
        );
        assert_eq!(err("11111111111111111\r\n"), HttpError::ChunkSizeOverflow);
        // The largest size is fine; the close then cuts the body short.
        assert!(matches!(
            err("ffffffffffffffff\r\nab"),
            HttpError::Truncated(_)
        ));
        let long_line = format!("1;{}\r\n", "e".repeat(MAX_CHUNK_LINE_BYTES));
        assert!(matches!(err(&long_line), HttpError::BadChunkSize(_)));
        assert!(matches!(
            err("0\r\nbad trailer\r\n\r\n"),
            HttpError::BadTrailer(_)
        ));
        assert!(err("zz\r\n").to_string().contains("bad chunk size"));
    }

    #[test]
    fn close_mid_response_is_truncation() {
        let cases: &[&[u8]] = &[
            b"HTTP/1.1 200",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        ];
        for input in cases {
            match whole(input)[..] {
                [Event::Error(HttpError::Truncated(ref place))] => {
                    assert!(!place.is_empty())
                }
                ref other => panic!("{}: {other:?}", excerpt(input)),
            }
        }
        let Some(Event::Error(e)) = whole(cases[1]).pop() else {
            panic!("an error expected")
        };
        assert_eq!(
            e.to_string(),
            "truncated response: the peer closed the connection \
             90 bytes before the end of the Content-Length body"
        );
        // Closing between responses is not an error.
        assert_eq!(ResponseDecoder::new().eof(), Ok(None));
    }
}
