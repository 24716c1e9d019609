//! WebSocket (RFC 6455) client, sans IO: the upgrade handshake, masked client frames,
//! and an incremental decoder of the server's frames.
//!
//! Nothing here touches a socket. The connection loop writes what the encoders append,
//! and feeds what it reads; the decoders count payload bytes and never store them, so
//! memory does not grow with message size. Text payloads are not checked for UTF-8:
//! the load generator measures the server, it does not validate it.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 section 1.3 appends to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest response head the handshake decoder accepts, in bytes.
pub const MAX_HANDSHAKE_HEAD_BYTES: usize = 16 * 1024;

/// The largest message a plan may send or expect, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Control frames (close, ping, pong) carry at most this many payload bytes (RFC 6455 5.5).
const MAX_CONTROL_PAYLOAD_BYTES: usize = 125;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Why a handshake or a frame was rejected. Each variant says what the peer did wrong or
/// what to change in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// The host given for the `Host` header is empty or not printable ASCII without spaces.
    InvalidHost(String),
    /// The request path does not start with `/` or is not printable ASCII without spaces.
    InvalidPath(String),
    /// The subprotocol is empty or not an HTTP token (letters, digits, `!#$%&'*+-.^_|~` and backtick).
    InvalidSubprotocol(String),
    /// The server sent more than [`MAX_HANDSHAKE_HEAD_BYTES`] without ending its response head.
    HandshakeTooLarge,
    /// The response head is not well-formed HTTP/1.1; the text says where.
    HandshakeMalformed(String),
    /// The server answered with a status other than 101 Switching Protocols.
    HandshakeStatus(u16),
    /// The response has no `Upgrade: websocket` header.
    HandshakeNoUpgrade,
    /// The response's `Connection` header does not contain `upgrade`.
    HandshakeNoConnectionUpgrade,
    /// `Sec-WebSocket-Accept` is missing or does not match the key that was sent.
    HandshakeAcceptMismatch {
        /// The value RFC 6455 requires for the key sent.
        expected: String,
        /// The value received, if any.
        received: Option<String>,
    },
    /// The server's subprotocol is not the one asked for (or one came back when none was asked).
    HandshakeSubprotocol {
        /// The subprotocol asked for.
        requested: Option<String>,
        /// The subprotocol the server chose.
        received: Option<String>,
    },
    /// The server turned on an extension the client never offered.
    HandshakeExtension(String),
    /// The server masked a frame; only clients mask (RFC 6455 5.1).
    MaskedFrame,
    /// A reserved bit is set, but no extension was negotiated; the value is the RSV bits.
    ReservedBits(u8),
    /// The frame's opcode is not defined by RFC 6455.
    UnknownOpcode(u8),
    /// A control frame announces more than 125 payload bytes.
    ControlFrameTooLong(u64),
    /// A control frame has FIN unset; control frames cannot be fragmented.
    FragmentedControlFrame,
    /// A continuation frame came while no fragmented message was open.
    ContinuationWithoutStart,
    /// A new text or binary frame came while a fragmented message was still open.
    DataFrameInsideMessage,
    /// The message grows past the decoder's limit ([`MAX_MESSAGE_BYTES`], which is also
    /// the largest message a plan may send, so no echo of the plan's message is this long).
    MessageTooLarge {
        /// The decoder's limit in bytes.
        limit_bytes: usize,
        /// The message size announced so far, in bytes.
        announced_bytes: u64,
    },
    /// A 64-bit payload length has its most significant bit set.
    LengthTopBitSet,
    /// A close frame carries exactly one payload byte, which cannot hold a status code.
    ClosePayloadTooShort,
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::InvalidHost(h) => write!(
                f,
                "websocket host {h:?} must be printable ASCII without spaces (use the punycode form of an international name)"
            ),
            WsError::InvalidPath(p) => write!(
                f,
                "websocket path {p:?} must start with '/' and be printable ASCII without spaces (percent-encode other characters)"
            ),
            WsError::InvalidSubprotocol(s) => write!(
                f,
                "websocket subprotocol {s:?} must be a non-empty HTTP token (no spaces, commas or quotes)"
            ),
            WsError::HandshakeTooLarge => write!(
                f,
                "websocket handshake response head is longer than {MAX_HANDSHAKE_HEAD_BYTES} bytes"
            ),
            WsError::HandshakeMalformed(why) => {
                write!(f, "websocket handshake response is malformed: {why}")
            }
            WsError::HandshakeStatus(code) => write!(
                f,
                "websocket handshake answered with status {code}, expected 101 Switching Protocols; check the URL path and the server's WebSocket route"
            ),
            WsError::HandshakeNoUpgrade => {
                write!(f, "websocket handshake response lacks 'Upgrade: websocket'")
            }
            WsError::HandshakeNoConnectionUpgrade => write!(
                f,
                "websocket handshake response lacks 'Connection: Upgrade'"
            ),
            WsError::HandshakeAcceptMismatch { expected, received } => match received {
                Some(r) => write!(
                    f,
                    "websocket handshake Sec-WebSocket-Accept is {r:?}, expected {expected:?}"
                ),
                None => write!(
                    f,
                    "websocket handshake response lacks Sec-WebSocket-Accept (expected {expected:?})"
                ),
            },
            WsError::HandshakeSubprotocol {
                requested,
                received,
            } => match (requested, received) {
                (Some(q), Some(r)) => write!(
                    f,
                    "websocket server chose subprotocol {r:?}, but {q:?} was requested"
                ),
                (Some(q), None) => write!(
                    f,
                    "websocket server did not accept subprotocol {q:?}; remove it from the plan or enable it on the server"
                ),
                (None, Some(r)) => write!(
                    f,
                    "websocket server chose subprotocol {r:?}, but none was requested"
                ),
                (None, None) => write!(f, "websocket subprotocol mismatch"),
            },
            WsError::HandshakeExtension(e) => write!(
                f,
                "websocket server enabled extension {e:?}, but the client offered none"
            ),
            WsError::MaskedFrame => write!(f, "websocket server sent a masked frame"),
            WsError::ReservedBits(bits) => write!(
                f,
                "websocket frame has reserved bits {bits:#04x} set, but no extension was negotiated"
            ),
            WsError::UnknownOpcode(op) => write!(f, "websocket frame has unknown opcode {op:#x}"),
            WsError::ControlFrameTooLong(n) => write!(
                f,
                "websocket control frame announces {n} payload bytes, at most 125 are allowed"
            ),
            WsError::FragmentedControlFrame => {
                write!(f, "websocket control frame is fragmented (FIN unset)")
            }
            WsError::ContinuationWithoutStart => write!(
                f,
                "websocket continuation frame arrived with no fragmented message open"
            ),
            WsError::DataFrameInsideMessage => write!(
                f,
                "websocket text or binary frame arrived while a fragmented message was open"
            ),
            WsError::MessageTooLarge {
                limit_bytes,
                announced_bytes,
            } => write!(
                f,
                "websocket message of at least {announced_bytes} bytes exceeds the limit of {limit_bytes} bytes, the largest message a plan may send; an echo of the plan's message is never this long, so the server sends messages of its own: check that the URL names an echo endpoint"
            ),
            WsError::LengthTopBitSet => write!(
                f,
                "websocket frame's 64-bit payload length has its most significant bit set"
            ),
            WsError::ClosePayloadTooShort => write!(
                f,
                "websocket close frame has a 1-byte payload, too short for a status code"
            ),
        }
    }
}

impl std::error::Error for WsError {}

/// The `Sec-WebSocket-Accept` value a server must answer to `sec_websocket_key_b64`.
pub fn accept_key(sec_websocket_key_b64: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(sec_websocket_key_b64.as_bytes());
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// RFC 7230 `tchar`: what a subprotocol name may be made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Non-empty printable ASCII without spaces: what a request line and `Host` can carry
/// without escaping.
fn is_visible(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The upgrade request for `path` on `host`, and the `Sec-WebSocket-Accept` the server
/// must answer with. `key` is the 16 random bytes of `Sec-WebSocket-Key`.
///
/// `host` is sent as the `Host` header as given, so include a non-default port in it.
pub fn handshake_request(
    host: &str,
    path: &str,
    subprotocol: Option<&str>,
    key: [u8; 16],
) -> Result<(Vec<u8>, String), WsError> {
    if !is_visible(host) {
        return Err(WsError::InvalidHost(host.to_owned()));
    }
    if !path.starts_with('/') || !is_visible(path) {
        return Err(WsError::InvalidPath(path.to_owned()));
    }
    if let Some(p) = subprotocol {
        if p.is_empty() || !p.bytes().all(is_token_byte) {
            return Err(WsError::InvalidSubprotocol(p.to_owned()));
        }
    }
    let key_b64 = BASE64.encode(key);
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key_b64}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(p) = subprotocol {
        req.push_str("Sec-WebSocket-Protocol: ");
        req.push_str(p);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    Ok((req.into_bytes(), accept_key(&key_b64)))
}

/// Where the handshake stands after a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeStatus {
    /// The response head is not complete yet; feed it again with more bytes appended.
    NeedMore,
    /// The server accepted the upgrade.
    Done {
        /// Bytes of the response head; whatever follows them is frames.
        consumed: usize,
        /// The subprotocol in force.
        subprotocol: Option<String>,
    },
}

/// Checks the server's answer to [`handshake_request`].
#[derive(Debug, Clone)]
pub struct HandshakeDecoder {
    expected_accept: String,
    subprotocol: Option<String>,
    /// How far the search for the end of the head got, so re-feeding is not quadratic.
    scanned: usize,
}

impl HandshakeDecoder {
    /// A decoder expecting `expected_accept` (from [`handshake_request`]) and the
    /// subprotocol that was requested, if any.
    pub fn new(expected_accept: String, subprotocol: Option<String>) -> HandshakeDecoder {
        HandshakeDecoder {
            expected_accept,
            subprotocol,
            scanned: 0,
        }
    }

    /// Feeds everything received so far: the caller accumulates, and passes the whole
    /// buffer each time (the same bytes first, then what arrived since).
    pub fn feed(&mut self, input: &[u8]) -> Result<HandshakeStatus, WsError> {
        let from = self.scanned.min(input.len()).saturating_sub(3);
        let window = &input[..input.len().min(MAX_HANDSHAKE_HEAD_BYTES)];
        let end = match window
            .get(from..)
            .and_then(|w| w.windows(4).position(|w| w == b"\r\n\r\n"))
        {
            Some(at) => from + at + 4,
            None => {
                if input.len() >= MAX_HANDSHAKE_HEAD_BYTES {
                    return Err(WsError::HandshakeTooLarge);
                }
                self.scanned = input.len();
                return Ok(HandshakeStatus::NeedMore);
            }
        };
        // Keep the last header line's CRLF, drop the blank line.
        let subprotocol = self.check_head(&input[..end - 2])?;
        Ok(HandshakeStatus::Done {
            consumed: end,
            subprotocol,
        })
    }

    /// Checks a head of CRLF-terminated lines (without the blank line that ends it);
    /// returns the subprotocol in force.
    fn check_head(&self, head: &[u8]) -> Result<Option<String>, WsError> {
        let malformed = |why: &str| WsError::HandshakeMalformed(why.to_owned());
        let head = head.strip_suffix(b"\n").unwrap_or(head);
        let mut lines = head.split(|&b| b == b'\n').map(|l| {
            l.strip_suffix(b"\r")
                .ok_or_else(|| malformed("a line ends in a bare LF, not CRLF"))
        });
        let status_line = lines.next().unwrap_or(Ok(b""))?;
        let rest = status_line
            .strip_prefix(b"HTTP/1.1 ")
            .ok_or_else(|| malformed("the status line does not start with 'HTTP/1.1 '"))?;
        let code = match rest {
            [a, b, c, tail @ ..]
                if a.is_ascii_digit()
                    && b.is_ascii_digit()
                    && c.is_ascii_digit()
                    && (tail.is_empty() || tail[0] == b' ') =>
            {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => return Err(malformed("the status code is not three digits")),
        };
        if code != 101 {
            return Err(WsError::HandshakeStatus(code));
        }

        let mut upgrade = false;
        let mut connection_upgrade = false;
        let mut accept: Option<String> = None;
        let mut protocol: Option<String> = None;
        for line in lines {
            let line = line?;
            if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                return Err(malformed("obsolete header line folding"));
            }
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or_else(|| malformed("a header line has no ':'"))?;
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
                return Err(malformed("a header name is not a token"));
            }
            let value = trim_ows(&line[colon + 1..]);
            let text = || {
                std::str::from_utf8(value)
                    .map(str::to_owned)
                    .map_err(|_| malformed("a WebSocket header value is not UTF-8"))
            };
            if name.eq_ignore_ascii_case(b"upgrade") {
                upgrade |= list_contains(value, b"websocket");
            } else if name.eq_ignore_ascii_case(b"connection") {
                connection_upgrade |= list_contains(value, b"upgrade");
            } else if name.eq_ignore_ascii_case(b"sec-websocket-accept") {
                if accept.is_some() {
                    return Err(malformed("Sec-WebSocket-Accept appears twice"));
                }
                accept = Some(text()?);
            } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
                if protocol.is_some() {
                    return Err(malformed("Sec-WebSocket-Protocol appears twice"));
                }
                protocol = Some(text()?);
            } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") && !value.is_empty() {
                return Err(WsError::HandshakeExtension(
                    String::from_utf8_lossy(value).into_owned(),
                ));
            }
        }
        if !upgrade {
            return Err(WsError::HandshakeNoUpgrade);
        }
        if !connection_upgrade {
            return Err(WsError::HandshakeNoConnectionUpgrade);
        }
        if accept.as_deref() != Some(self.expected_accept.as_str()) {
            return Err(WsError::HandshakeAcceptMismatch {
                expected: self.expected_accept.clone(),
                received: accept,
            });
        }
        if protocol != self.subprotocol {
            return Err(WsError::HandshakeSubprotocol {
                requested: self.subprotocol.clone(),
                received: protocol,
            });
        }
        Ok(protocol)
    }
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Whether a comma-separated header value lists `item` (ASCII case-insensitive).
fn list_contains(value: &[u8], item: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|part| trim_ows(part).eq_ignore_ascii_case(item))
}

/// The kind of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Opcode 0x1.
    Text,
    /// Opcode 0x2.
    Binary,
}

impl MessageKind {
    fn opcode(self) -> u8 {
        match self {
            MessageKind::Text => OP_TEXT,
            MessageKind::Binary => OP_BINARY,
        }
    }
}

/// Masking keys for client frames: xorshift64*, seeded, so runs are reproducible.
///
/// RFC 6455 asks for unpredictable keys to protect intermediaries from cache poisoning
/// by a hostile script; a load generator drives its own payloads, so a fast PRNG is enough.
#[derive(Debug, Clone)]
pub struct MaskGen {
    state: u64,
}

impl MaskGen {
    /// A generator from `seed`; a zero seed (a fixed point of xorshift) is replaced.
    pub fn new(seed: u64) -> MaskGen {
        MaskGen {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// The next 4-byte masking key.
    pub fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        // The high bits of xorshift64* are the good ones.
        let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let [a, b, c, d, ..] = out.to_be_bytes();
        [a, b, c, d]
    }
}

/// Appends one masked frame.
fn encode_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], masks: &mut MaskGen) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let key = masks.next_key();
    out.extend_from_slice(&key);
    extend_masked(out, payload, key);
}

/// Appends `payload` XORed with `key` (from key byte 0), masking while copying: each
/// 256-byte block is extended straight into `out` from a zip of the block and the key
/// repeated over 256 bytes (an exact-size iterator, which the compiler turns into vector
/// XORs stored in place), so the output is written once. Masking into a stack block and
/// appending that wrote every byte twice: 1.8x the time at 1 MiB (bench/RESULTS.md).
fn extend_masked(out: &mut Vec<u8>, payload: &[u8], key: [u8; 4]) {
    const BLOCK: usize = 256;
    out.reserve(payload.len());
    let key_block: [u8; BLOCK] = std::array::from_fn(|i| key[i & 3]);
    let mut blocks = payload.chunks_exact(BLOCK);
    for block in &mut blocks {
        out.extend(block.iter().zip(&key_block).map(|(b, k)| b ^ k));
    }
    // BLOCK is a multiple of 4: the tail starts at key byte 0 too.
    let tail = blocks.remainder();
    out.extend(tail.iter().zip(&key_block).map(|(b, k)| b ^ k));
}

/// Appends one message to `out`: one frame, or fragments of at most `frame_bytes`
/// payload bytes each (a value of 0 is taken as 1). Every frame is masked, as a client's
/// must be; an empty message is one empty frame.
pub fn encode_message(
    out: &mut Vec<u8>,
    kind: MessageKind,
    payload: &[u8],
    frame_bytes: Option<usize>,
    masks: &mut MaskGen,
) {
    let frame_bytes = frame_bytes.map_or(payload.len(), |n| n.max(1));
    if payload.len() <= frame_bytes {
        encode_frame(out, true, kind.opcode(), payload, masks);
        return;
    }
    let mut chunks = payload.chunks(frame_bytes).peekable();
    let mut opcode = kind.opcode();
    while let Some(chunk) = chunks.next() {
        encode_frame(out, chunks.peek().is_none(), opcode, chunk, masks);
        opcode = OP_CONTINUATION;
    }
}

/// Appends a masked close frame carrying status `code` (1000 is a normal closure).
pub fn encode_close(out: &mut Vec<u8>, code: u16, masks: &mut MaskGen) {
    encode_frame(out, true, OP_CLOSE, &code.to_be_bytes(), masks);
}

/// What the frame decoder found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsEvent {
    /// No message completed; drop `consumed` bytes and feed the rest again with more.
    NeedMore {
        /// Bytes used from the input.
        consumed: usize,
    },
    /// A whole message arrived; its payload bytes were counted, not kept.
    Message {
        /// Bytes used from the input, up to the end of the message's last frame.
        consumed: usize,
        /// Its kind.
        kind: MessageKind,
        /// Its payload size in bytes, over all its fragments.
        len: usize,
    },
    /// The server closed; the close reply is in `control_out` (unless
    /// [`FrameDecoder::close_sent`] was called). The decoder is finished:
    /// later feeds return `Closed` again and consume nothing.
    Closed {
        /// Bytes used from the input, up to the end of the close frame.
        consumed: usize,
        /// The server's status code, if it sent one.
        code: Option<u16>,
    },
}

/// Where the decoder is inside the server's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame boundary.
    Header,
    /// Inside a text, binary or continuation frame's payload.
    Data { fin: bool, remaining: u64 },
    /// Inside a control frame's payload, which is buffered (at most 125 bytes).
    Control { opcode: u8, remaining: usize },
    /// A close frame was answered.
    Closed { code: Option<u16> },
}

/// Decodes the server's frames incrementally, answering pings and closes.
///
/// Contract: feed the unconsumed tail again, with more bytes appended. Payload bytes are
/// consumed as they arrive, even mid-frame, so the tail is never longer than a frame
/// header (14 bytes) plus what arrived since.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_message_bytes: usize,
    state: State,
    /// The open message: its kind and the payload bytes announced so far.
    message: Option<(MessageKind, u64)>,
    control: Vec<u8>,
    /// This client sent a close first, so the server's close is the reply, not a request.
    close_sent: bool,
}

impl FrameDecoder {
    /// A decoder that rejects messages longer than `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> FrameDecoder {
        FrameDecoder {
            max_message_bytes,
            state: State::Header,
            message: None,
            control: Vec::with_capacity(MAX_CONTROL_PAYLOAD_BYTES),
            close_sent: false,
        }
    }

    /// Records that the client sent a close frame (see [`encode_close`]): the server's
    /// close then completes the closing handshake and is not answered again.
    pub fn close_sent(&mut self) {
        self.close_sent = true;
    }

    /// Feeds received bytes. Returns at the first completed message or close; pongs
    /// for pings and the reply to a close are appended to `control_out`, which the
    /// caller must send (between whole frames of its own).
    pub fn feed(
        &mut self,
        input: &[u8],
        control_out: &mut Vec<u8>,
        masks: &mut MaskGen,
    ) -> Result<WsEvent, WsError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Closed { code } => return Ok(WsEvent::Closed { consumed: 0, code }),
                State::Header => match self.header(&input[pos..])? {
                    Some(used) => pos += used,
                    None => return Ok(WsEvent::NeedMore { consumed: pos }),
                },
                State::Data { fin, remaining } => {
                    let available = (input.len() - pos) as u64;
                    let take = remaining.min(available);
                    // `take` is at most the input's length, so it fits a usize.
                    pos += take as usize;
                    let remaining = remaining - take;
                    if remaining > 0 {
                        self.state = State::Data { fin, remaining };
                        return Ok(WsEvent::NeedMore { consumed: pos });
                    }
                    self.state = State::Header;
                    if fin {
                        if let Some((kind, len)) = self.message.take() {
                            // `len` was checked against a usize limit in `header`.
                            let len = len as usize;
                            return Ok(WsEvent::Message {
                                consumed: pos,
                                kind,
                                len,
                            });
                        }
                    }
                }
                State::Control { opcode, remaining } => {
                    let take = remaining.min(input.len() - pos);
                    self.control.extend_from_slice(&input[pos..pos + take]);
                    pos += take;
                    if take < remaining {
                        self.state = State::Control {
                            opcode,
                            remaining: remaining - take,
                        };
                        return Ok(WsEvent::NeedMore { consumed: pos });
                    }
                    self.state = State::Header;
                    if let Some(code) = self.control_frame(opcode, control_out, masks)? {
                        self.state = State::Closed { code };
                        return Ok(WsEvent::Closed {
                            consumed: pos,
                            code,
                        });
                    }
                }
            }
        }
    }

    /// Parses one frame header at the start of `input`; `None` if it is incomplete.
    fn header(&mut self, input: &[u8]) -> Result<Option<usize>, WsError> {
        let (b0, b1) = match input {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        let fin = b0 & 0x80 != 0;
        let rsv = b0 & 0x70;
        let opcode = b0 & 0x0F;
        if rsv != 0 {
            return Err(WsError::ReservedBits(rsv >> 4));
        }
        if !matches!(
            opcode,
            OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
        ) {
            return Err(WsError::UnknownOpcode(opcode));
        }
        if b1 & 0x80 != 0 {
            return Err(WsError::MaskedFrame);
        }
        let is_control = opcode & 0x8 != 0;
        if is_control && !fin {
            return Err(WsError::FragmentedControlFrame);
        }
        let (len, header_bytes) = match b1 & 0x7F {
            126 => match input.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match input.get(2..10) {
                Some(b) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(b);
                    let len = u64::from_be_bytes(be);
                    if len >> 63 != 0 {
                        return Err(WsError::LengthTopBitSet);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if is_control {
            if len > MAX_CONTROL_PAYLOAD_BYTES as u64 {
                return Err(WsError::ControlFrameTooLong(len));
            }
            self.control.clear();
            self.state = State::Control {
                opcode,
                remaining: len as usize,
            };
            return Ok(Some(header_bytes));
        }
        let (kind, so_far) = match (opcode, self.message) {
            (OP_CONTINUATION, None) => return Err(WsError::ContinuationWithoutStart),
            (OP_CONTINUATION, Some(open)) => open,
            (_, Some(_)) => return Err(WsError::DataFrameInsideMessage),
            (OP_TEXT, None) => (MessageKind::Text, 0),
            (_, None) => (MessageKind::Binary, 0),
        };
        let total = so_far.saturating_add(len);
        if total > self.max_message_bytes as u64 {
            return Err(WsError::MessageTooLarge {
                limit_bytes: self.max_message_bytes,
                announced_bytes: total,
            });
        }
        self.message = Some((kind, total));
        self.state = State::Data {
            fin,
            remaining: len,
        };
        Ok(Some(header_bytes))
    }

    /// Acts on a complete control frame; `Some(code)` when it was a close.
    fn control_frame(
        &mut self,
        opcode: u8,
        control_out: &mut Vec<u8>,
        masks: &mut MaskGen,
    ) -> Result<Option<Option<u16>>, WsError> {
        match opcode {
            OP_PING => {
                encode_frame(control_out, true, OP_PONG, &self.control, masks);
                Ok(None)
            }
            OP_CLOSE => {
                let code = match self.control[..] {
                    [] => None,
                    [_] => return Err(WsError::ClosePayloadTooShort),
                    [hi, lo, ..] => Some(u16::from_be_bytes([hi, lo])),
                };
                // Echo the code back, as RFC 6455 5.5.1 suggests; no code gets no code.
                match code {
                    _ if self.close_sent => {}
                    Some(code) => encode_close(control_out, code, masks),
                    None => encode_frame(control_out, true, OP_CLOSE, &[], masks),
                }
                Ok(Some(code))
            }
            // Pongs answer pings this client never sends, or are unsolicited heartbeats.
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unmasked server frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(len as u8);
        } else if len <= 0xFFFF {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    /// A decoded client frame: (fin, opcode, unmasked payload), and the bytes it took.
    fn parse_client_frame(b: &[u8]) -> ((bool, u8, Vec<u8>), usize) {
        assert_ne!(b[1] & 0x80, 0, "client frames must be masked");
        let (len, mut at) = match b[1] & 0x7F {
            126 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let key = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        at += 4;
        let payload = b[at..at + len]
            .iter()
            .enumerate()
            .map(|(i, x)| x ^ key[i % 4])
            .collect();
        ((b[0] & 0x80 != 0, b[0] & 0x0F, payload), at + len)
    }

    fn parse_client_frames(mut b: &[u8]) -> Vec<(bool, u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !b.is_empty() {
            let (f, used) = parse_client_frame(b);
            frames.push(f);
            b = &b[used..];
        }
        frames
    }

    /// Feeds `chunks` the way a connection loop would: keeps the unconsumed tail and
    /// appends the next chunk. Returns the events (without `NeedMore`), the control
    /// output, and the first error.
    fn drive(
        max: usize,
        chunks: &[&[u8]],
    ) -> (Vec<WsEvent>, Vec<u8>, Option<WsError>, FrameDecoder) {
        let mut dec = FrameDecoder::new(max);
        let mut masks = MaskGen::new(7);
        let mut control = Vec::new();
        let mut events = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match dec.feed(&buf, &mut control, &mut masks) {
                    Err(e) => return (events, control, Some(e), dec),
                    Ok(ev) => {
                        let consumed = match ev {
                            WsEvent::NeedMore { consumed } => consumed,
                            WsEvent::Message { consumed, .. } => consumed,
                            WsEvent::Closed { consumed, .. } => consumed,
                        };
                        assert!(consumed <= buf.len());
                        buf.drain(..consumed);
                        match ev {
                            WsEvent::NeedMore { .. } => break,
                            WsEvent::Closed { .. } => {
                                events.push(ev);
                                return (events, control, None, dec);
                            }
                            WsEvent::Message { .. } => events.push(ev),
                        }
                    }
                }
            }
        }
        (events, control, None, dec)
    }

    /// Strips `consumed` so events from different splits compare equal.
    fn shape(events: &[WsEvent]) -> Vec<(Option<MessageKind>, usize, Option<u16>)> {
        events
            .iter()
            .map(|e| match *e {
                WsEvent::Message { kind, len, .. } => (Some(kind), len, None),
                WsEvent::Closed { code, .. } => (None, 0, code),
                WsEvent::NeedMore { .. } => unreachable!(),
            })
            .collect()
    }

    /// Every split of `stream` into two chunks, and into single bytes, gives the same
    /// events and control output as feeding it whole.
    fn assert_split_invariant(max: usize, stream: &[u8]) {
        let (whole, whole_ctl, whole_err, _) = drive(max, &[stream]);
        for cut in 0..=stream.len() {
            let (ev, ctl, err, _) = drive(max, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(shape(&ev), shape(&whole), "split at {cut}");
            assert_eq!(ctl, whole_ctl, "split at {cut}");
            assert_eq!(err, whole_err, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let (ev, ctl, err, _) = drive(max, &bytes);
        assert_eq!(shape(&ev), shape(&whole));
        assert_eq!(ctl, whole_ctl);
        assert_eq!(err, whole_err);
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn handshake_request_is_a_get_upgrade() {
        // The RFC's sample nonce, as raw bytes.
        let key = *b"the sample nonce";
        let (req, accept) = handshake_request("example.com:8080", "/chat?x=1", Some("chat"), key)
            .expect("valid request");
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("GET /chat?x=1 HTTP/1.1\r\n"));
        assert!(text.contains("\r\nHost: example.com:8080\r\n"));
        assert!(text.contains("\r\nUpgrade: websocket\r\n"));
        assert!(text.contains("\r\nConnection: Upgrade\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let (req, _) = handshake_request("h", "/", None, key).unwrap();
        assert!(!String::from_utf8(req).unwrap().contains("Protocol"));
    }

    #[test]
    fn handshake_request_rejects_bad_inputs() {
        let k = [0u8; 16];
        assert!(matches!(
            handshake_request("", "/", None, k),
            Err(WsError::InvalidHost(_))
        ));
        assert!(matches!(
            handshake_request("a\r\nX: y", "/", None, k),
            Err(WsError::InvalidHost(_))
        ));
        assert!(matches!(
            handshake_request("h", "chat", None, k),
            Err(WsError::InvalidPath(_))
        ));
        assert!(matches!(
            handshake_request("h", "/a b", None, k),
            Err(WsError::InvalidPath(_))
        ));
        assert!(matches!(
            handshake_request("h", "/caf\u{e9}", None, k),
            Err(WsError::InvalidPath(_))
        ));
        assert!(matches!(
            handshake_request("h", "/", Some("a,b"), k),
            Err(WsError::InvalidSubprotocol(_))
        ));
        assert!(matches!(
            handshake_request("h", "/", Some(""), k),
            Err(WsError::InvalidSubprotocol(_))
        ));
    }

    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn response(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
        )
    }

    fn handshake(resp: &[u8], subprotocol: Option<&str>) -> Result<HandshakeStatus, WsError> {
        HandshakeDecoder::new(ACCEPT.into(), subprotocol.map(str::to_owned)).feed(resp)
    }

    #[test]
    fn handshake_accepts_a_valid_response_at_every_split() {
        let resp = response("Sec-WebSocket-Protocol: chat\r\n");
        let mut stream = resp.clone().into_bytes();
        stream.extend_from_slice(&frame(true, OP_TEXT, b"hi"));
        let expected = HandshakeStatus::Done {
            consumed: resp.len(),
            subprotocol: Some("chat".into()),
        };
        for cut in 0..=stream.len() {
            let mut dec = HandshakeDecoder::new(ACCEPT.into(), Some("chat".into()));
            let first = dec.feed(&stream[..cut]).unwrap();
            if cut < resp.len() {
                assert_eq!(first, HandshakeStatus::NeedMore, "cut {cut}");
                assert_eq!(dec.feed(&stream).unwrap(), expected, "cut {cut}");
            } else {
                assert_eq!(first, expected, "cut {cut}");
            }
        }
        // Byte by byte, accumulating.
        let mut dec = HandshakeDecoder::new(ACCEPT.into(), Some("chat".into()));
        for end in 1..resp.len() {
            assert_eq!(dec.feed(&stream[..end]).unwrap(), HandshakeStatus::NeedMore);
        }
        assert_eq!(dec.feed(&stream).unwrap(), expected);
    }

    #[test]
    fn handshake_headers_are_case_insensitive_and_lists() {
        let resp = format!(
            "HTTP/1.1 101 OK\r\nupgrade:  WebSocket \r\nCONNECTION: keep-alive, UPGRADE\r\n\
             sec-websocket-accept:{ACCEPT}\r\nServer: x\r\n\r\n"
        );
        assert_eq!(
            handshake(resp.as_bytes(), None).unwrap(),
            HandshakeStatus::Done {
                consumed: resp.len(),
                subprotocol: None
            }
        );
    }

    #[test]
    fn handshake_rejections() {
        let err = |resp: &str, sub: Option<&str>| handshake(resp.as_bytes(), sub).unwrap_err();
        assert_eq!(
            err("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", None),
            WsError::HandshakeStatus(200)
        );
        assert_eq!(
            err(
                &format!("HTTP/1.1 101 S\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"),
                None
            ),
            WsError::HandshakeNoUpgrade
        );
        assert_eq!(
            err(
                &format!("HTTP/1.1 101 S\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"),
                None
            ),
            WsError::HandshakeNoConnectionUpgrade
        );
        assert_eq!(
            err(
                "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n",
                None
            ),
            WsError::HandshakeAcceptMismatch {
                expected: ACCEPT.into(),
                received: Some("AAAA".into())
            }
        );
        assert_eq!(
            err(
                "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
                None
            ),
            WsError::HandshakeAcceptMismatch {
                expected: ACCEPT.into(),
                received: None
            }
        );
        assert_eq!(
            err(&response(""), Some("chat")),
            WsError::HandshakeSubprotocol {
                requested: Some("chat".into()),
                received: None
            }
        );
        assert_eq!(
            err(&response("Sec-WebSocket-Protocol: other\r\n"), Some("chat")),
            WsError::HandshakeSubprotocol {
                requested: Some("chat".into()),
                received: Some("other".into())
            }
        );
        assert_eq!(
            err(&response("Sec-WebSocket-Protocol: chat\r\n"), None),
            WsError::HandshakeSubprotocol {
                requested: None,
                received: Some("chat".into())
            }
        );
        assert_eq!(
            err(
                &response("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
                None
            ),
            WsError::HandshakeExtension("permessage-deflate".into())
        );
        for bad in [
            "HTTP/1.0 101 S\r\n\r\n",
            "HTTP/1.1 1x1 S\r\n\r\n",
            "HTTP/1.1 1011\r\n\r\n",
            "HTTP/1.1 101 S\r\nno colon\r\n\r\n",
            "HTTP/1.1 101 S\r\nUpgrade: websocket\r\n folded\r\n\r\n",
            "HTTP/1.1 101 S\nUpgrade: websocket\r\n\r\n",
            "HTTP/1.1 101 S\r\nBad Name: x\r\n\r\n",
        ] {
            assert!(
                matches!(err(bad, None), WsError::HandshakeMalformed(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn handshake_head_is_limited() {
        let mut dec = HandshakeDecoder::new(ACCEPT.into(), None);
        let mut big = b"HTTP/1.1 101 S\r\n".to_vec();
        while big.len() < MAX_HANDSHAKE_HEAD_BYTES - 100 {
            big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(dec.feed(&big).unwrap(), HandshakeStatus::NeedMore);
        big.resize(MAX_HANDSHAKE_HEAD_BYTES, b'a');
        assert_eq!(dec.feed(&big).unwrap_err(), WsError::HandshakeTooLarge);
        // A head ending just inside the limit is accepted.
        let mut ok = response("").into_bytes();
        let pad = MAX_HANDSHAKE_HEAD_BYTES - ok.len() - "X: \r\n".len();
        ok.truncate(ok.len() - 2);
        ok.extend_from_slice(format!("X: {}\r\n\r\n", "a".repeat(pad)).as_bytes());
        assert_eq!(ok.len(), MAX_HANDSHAKE_HEAD_BYTES);
        assert!(matches!(
            handshake(&ok, None).unwrap(),
            HandshakeStatus::Done { consumed, .. } if consumed == MAX_HANDSHAKE_HEAD_BYTES
        ));
    }

    #[test]
    fn mask_gen_is_seeded_and_varied() {
        let mut a = MaskGen::new(1);
        let mut b = MaskGen::new(1);
        let keys: Vec<_> = (0..100).map(|_| a.next_key()).collect();
        assert_eq!(keys, (0..100).map(|_| b.next_key()).collect::<Vec<_>>());
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 100);
        assert_ne!(MaskGen::new(0).next_key(), [0; 4]);
    }

    #[test]
    fn encode_message_in_each_length_class() {
        for len in [0, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = Vec::new();
            encode_message(
                &mut out,
                MessageKind::Binary,
                &payload,
                None,
                &mut MaskGen::new(3),
            );
            let header = match len {
                0..=125 => 2,
                126..=0xFFFF => 4,
                _ => 10,
            };
            assert_eq!(out.len(), header + 4 + len, "len {len}");
            assert_eq!(
                parse_client_frames(&out),
                vec![(true, OP_BINARY, payload)],
                "len {len}"
            );
        }
    }

    #[test]
    fn encode_message_fragments() {
        let payload: Vec<u8> = (0..10u8).collect();
        let mut out = Vec::new();
        let mut masks = MaskGen::new(5);
        encode_message(&mut out, MessageKind::Text, &payload, Some(4), &mut masks);
        assert_eq!(
            parse_client_frames(&out),
            vec![
                (false, OP_TEXT, vec![0, 1, 2, 3]),
                (false, OP_CONTINUATION, vec![4, 5, 6, 7]),
                (true, OP_CONTINUATION, vec![8, 9]),
            ]
        );
        // Exact multiple: no empty trailing fragment.
        out.clear();
        encode_message(&mut out, MessageKind::Binary, &payload, Some(5), &mut masks);
        assert_eq!(parse_client_frames(&out).len(), 2);
        // Fits in one frame; empty message is one empty frame; 0 is taken as 1.
        out.clear();
        encode_message(
            &mut out,
            MessageKind::Binary,
            &payload,
            Some(10),
            &mut masks,
        );
        assert_eq!(
            parse_client_frames(&out),
            vec![(true, OP_BINARY, payload.clone())]
        );
        out.clear();
        encode_message(&mut out, MessageKind::Text, b"", Some(4), &mut masks);
        assert_eq!(parse_client_frames(&out), vec![(true, OP_TEXT, vec![])]);
        out.clear();
        encode_message(&mut out, MessageKind::Text, b"abc", Some(0), &mut masks);
        assert_eq!(parse_client_frames(&out).len(), 3);
    }

    #[test]
    fn encode_close_carries_the_code() {
        let mut out = Vec::new();
        encode_close(&mut out, 1000, &mut MaskGen::new(9));
        assert_eq!(
            parse_client_frames(&out),
            vec![(true, OP_CLOSE, vec![0x03, 0xE8])]
        );
    }

    #[test]
    fn mask_is_applied_at_every_offset() {
        // Across the 256-byte blocks and their tails, after bytes already in the buffer.
        for len in (0..100).chain(250..520) {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut data = vec![0xEE; 3];
            extend_masked(&mut data, &payload, [1, 2, 3, 4]);
            let want: Vec<u8> = [0xEE; 3]
                .into_iter()
                .chain((0..len).map(|i| i as u8 ^ [1, 2, 3, 4][i % 4]))
                .collect();
            assert_eq!(data, want, "len {len}");
        }
    }

    #[test]
    fn decodes_each_length_class_at_every_split() {
        for len in [0usize, 1, 125, 126, 127, 300, 0xFFFF, 0x1_0000] {
            let stream = frame(true, OP_BINARY, &vec![0xAB; len]);
            let (ev, ctl, err, _) = drive(1 << 20, &[&stream]);
            assert_eq!(err, None);
            assert!(ctl.is_empty());
            assert_eq!(
                ev,
                vec![WsEvent::Message {
                    consumed: stream.len(),
                    kind: MessageKind::Binary,
                    len
                }]
            );
            if len <= 300 {
                assert_split_invariant(1 << 20, &stream);
            }
        }
        // A 64-bit length for a small payload is allowed (non-minimal, but unambiguous).
        let mut s = vec![0x81, 127];
        s.extend_from_slice(&3u64.to_be_bytes());
        s.extend_from_slice(b"abc");
        let (ev, _, err, _) = drive(100, &[&s]);
        assert_eq!(err, None);
        assert_eq!(shape(&ev), vec![(Some(MessageKind::Text), 3, None)]);
    }

    #[test]
    fn payload_is_consumed_mid_frame() {
        let stream = frame(true, OP_BINARY, &[0u8; 1000]);
        let mut dec = FrameDecoder::new(1 << 20);
        let mut masks = MaskGen::new(1);
        let mut ctl = Vec::new();
        assert_eq!(
            dec.feed(&stream[..3], &mut ctl, &mut masks).unwrap(),
            WsEvent::NeedMore { consumed: 0 }
        );
        assert_eq!(
            dec.feed(&stream[..500], &mut ctl, &mut masks).unwrap(),
            WsEvent::NeedMore { consumed: 500 }
        );
        assert_eq!(
            dec.feed(&stream[500..], &mut ctl, &mut masks).unwrap(),
            WsEvent::Message {
                consumed: stream.len() - 500,
                kind: MessageKind::Binary,
                len: 1000
            }
        );
    }

    /// A fragmented text message with a ping and a pong between fragments, then a
    /// binary message, then a close.
    fn conversation() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend(frame(false, OP_TEXT, b"hel"));
        s.extend(frame(true, OP_PING, b"are you there"));
        s.extend(frame(false, OP_CONTINUATION, b""));
        s.extend(frame(true, OP_PONG, b"x"));
        s.extend(frame(true, OP_CONTINUATION, b"lo"));
        s.extend(frame(true, OP_BINARY, &[1; 130]));
        s.extend(frame(true, OP_PING, b""));
        s.extend(frame(true, OP_CLOSE, &1001u16.to_be_bytes()));
        s
    }

    #[test]
    fn decodes_a_conversation_at_every_split() {
        let stream = conversation();
        let (ev, ctl, err, mut dec) = drive(1000, &[&stream]);
        assert_eq!(err, None);
        assert_eq!(
            shape(&ev),
            vec![
                (Some(MessageKind::Text), 5, None),
                (Some(MessageKind::Binary), 130, None),
                (None, 0, Some(1001)),
            ]
        );
        assert_eq!(
            parse_client_frames(&ctl),
            vec![
                (true, OP_PONG, b"are you there".to_vec()),
                (true, OP_PONG, vec![]),
                (true, OP_CLOSE, 1001u16.to_be_bytes().to_vec()),
            ]
        );
        // Closed is final.
        assert_eq!(
            dec.feed(b"\x81\x00", &mut Vec::new(), &mut MaskGen::new(1))
                .unwrap(),
            WsEvent::Closed {
                consumed: 0,
                code: Some(1001)
            }
        );
        assert_split_invariant(1000, &stream);
    }

    #[test]
    fn close_without_code_is_answered_without_code() {
        let stream = frame(true, OP_CLOSE, b"");
        let (ev, ctl, err, _) = drive(10, &[&stream]);
        assert_eq!(err, None);
        assert_eq!(
            ev,
            vec![WsEvent::Closed {
                consumed: 2,
                code: None
            }]
        );
        assert_eq!(parse_client_frames(&ctl), vec![(true, OP_CLOSE, vec![])]);
        // A close with a reason: only the code is echoed.
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let (ev, ctl, _, _) = drive(10, &[&frame(true, OP_CLOSE, &payload)]);
        assert_eq!(shape(&ev), vec![(None, 0, Some(1000))]);
        assert_eq!(
            parse_client_frames(&ctl),
            vec![(true, OP_CLOSE, vec![0x03, 0xE8])]
        );
    }

    #[test]
    fn close_after_close_sent_is_not_answered() {
        let mut dec = FrameDecoder::new(10);
        dec.close_sent();
        let mut ctl = Vec::new();
        let stream = frame(true, OP_CLOSE, &1000u16.to_be_bytes());
        assert_eq!(
            dec.feed(&stream, &mut ctl, &mut MaskGen::new(1)).unwrap(),
            WsEvent::Closed {
                consumed: 4,
                code: Some(1000)
            }
        );
        assert!(ctl.is_empty());
    }

    #[test]
    fn ping_straddling_feeds_is_answered_once_whole() {
        let stream = frame(true, OP_PING, &[9; 125]);
        let mut dec = FrameDecoder::new(10);
        let mut masks = MaskGen::new(1);
        let mut ctl = Vec::new();
        assert_eq!(
            dec.feed(&stream[..60], &mut ctl, &mut masks).unwrap(),
            WsEvent::NeedMore { consumed: 60 }
        );
        assert!(ctl.is_empty());
        assert_eq!(
            dec.feed(&stream[60..], &mut ctl, &mut masks).unwrap(),
            WsEvent::NeedMore {
                consumed: stream.len() - 60
            }
        );
        assert_eq!(
            parse_client_frames(&ctl),
            vec![(true, OP_PONG, vec![9; 125])]
        );
    }

    fn first_error(max: usize, stream: &[u8]) -> WsError {
        let (_, _, err, _) = drive(max, &[stream]);
        err.expect("an error")
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(
            first_error(100, &[0x81, 0x81, 1, 2, 3, 4, b'a']),
            WsError::MaskedFrame
        );
        assert_eq!(first_error(100, &[0xC1, 0]), WsError::ReservedBits(4));
        assert_eq!(first_error(100, &[0x91, 0]), WsError::ReservedBits(1));
        for op in [3u8, 7, 0xB, 0xF] {
            assert_eq!(
                first_error(100, &[0x80 | op, 0]),
                WsError::UnknownOpcode(op)
            );
        }
        assert_eq!(
            first_error(100, &frame(true, OP_PING, &[0; 126])),
            WsError::ControlFrameTooLong(126)
        );
        assert_eq!(
            first_error(100, &frame(false, OP_PING, b"")),
            WsError::FragmentedControlFrame
        );
        assert_eq!(
            first_error(100, &frame(true, OP_CONTINUATION, b"x")),
            WsError::ContinuationWithoutStart
        );
        let mut s = frame(false, OP_TEXT, b"a");
        s.extend(frame(true, OP_BINARY, b"b"));
        assert_eq!(first_error(100, &s), WsError::DataFrameInsideMessage);
        assert_eq!(
            first_error(100, &frame(true, OP_BINARY, &[0; 101])),
            WsError::MessageTooLarge {
                limit_bytes: 100,
                announced_bytes: 101
            }
        );
        // The limit covers all fragments together.
        let mut s = frame(false, OP_BINARY, &[0; 60]);
        s.extend(frame(true, OP_CONTINUATION, &[0; 60]));
        assert_eq!(
            first_error(100, &s),
            WsError::MessageTooLarge {
                limit_bytes: 100,
                announced_bytes: 120
            }
        );
        let mut s = vec![0x82, 127];
        s.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(first_error(usize::MAX, &s), WsError::LengthTopBitSet);
        let mut s = vec![0x82, 127];
        s.extend_from_slice(&(1u64 << 40).to_be_bytes());
        assert!(matches!(
            first_error(MAX_MESSAGE_BYTES, &s),
            WsError::MessageTooLarge { .. }
        ));
        assert_eq!(
            first_error(100, &frame(true, OP_CLOSE, &[3])),
            WsError::ClosePayloadTooShort
        );
    }

    #[test]
    fn errors_are_found_at_every_split() {
        let mut s = frame(true, OP_TEXT, b"ok");
        s.extend(frame(false, OP_TEXT, b"a"));
        s.extend(frame(true, OP_PING, b"p"));
        s.extend(frame(true, OP_TEXT, b"b"));
        assert_split_invariant(100, &s);
    }

    #[test]
    fn errors_say_what_was_wrong() {
        let msg = WsError::MessageTooLarge {
            limit_bytes: 10,
            announced_bytes: 11,
        }
        .to_string();
        assert!(
            msg.contains("the largest message a plan may send") && !msg.contains("raise"),
            "{msg}"
        );
        assert!(WsError::HandshakeStatus(404).to_string().contains("404"));
        assert!(WsError::UnknownOpcode(3).to_string().contains("0x3"));
    }
}
