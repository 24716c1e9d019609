//! Protocol codecs: what one request is, and when the reply to it is complete.
//!
//! A codec is fed the reply incrementally, chunk by chunk as the socket yields it, so
//! no reply is ever buffered whole by the connection loop.

pub mod http;
pub mod ws;

use std::collections::VecDeque;
use std::rc::Rc;

use crate::mix::{Chooser, Mix, Request};
use crate::plan::{Framing, HttpSpec, ProtocolSpec, TcpSpec, WsSpec, MAX_PAYLOAD_BYTES};

/// What a codec made of the bytes it was fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// More bytes are needed; the first `consumed` bytes were used and can go.
    NeedMore {
        /// Bytes used.
        consumed: usize,
    },
    /// One reply is complete after `consumed` bytes.
    Reply {
        /// Bytes used, up to the end of this reply.
        consumed: usize,
        /// The HTTP status, for HTTP.
        status: Option<u16>,
        /// The connection can carry another request.
        keep_alive: bool,
    },
    /// The peer closed the session in the protocol (a WebSocket close frame, already
    /// answered through `control`): what is in flight is lost.
    Closed,
}

/// The reply broke the protocol; the connection cannot be trusted any more. It keeps
/// the codec's own words (shown once per run and kind, see [`crate::recorder::Messages`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The HTTP response could not be decoded.
    Http(http::HttpError),
    /// The WebSocket handshake or a frame was rejected.
    Ws(ws::WsError),
    /// A WebSocket message came back with another length than the one sent.
    EchoLength {
        /// The length of the plan's message.
        sent: usize,
        /// The length of the message received.
        received: usize,
    },
    /// A raw TCP reply did not contain the plan's delimiter within this many bytes.
    NoDelimiter(usize),
    /// A handshake reply was fed to a codec that sent no handshake.
    NoHandshake,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Http(e) => write!(f, "HTTP: {e}"),
            Invalid::Ws(e) => write!(f, "WebSocket: {e}"),
            Invalid::EchoLength { sent, received } => write!(
                f,
                "WebSocket: the server answered a {sent}-byte message with a {received}-byte \
                 one; an echo server returns each message unchanged"
            ),
            Invalid::NoDelimiter(limit) => write!(
                f,
                "TCP: no delimiter in {limit} bytes of reply; the server does not end its \
                 replies with the plan's delimiter"
            ),
            Invalid::NoHandshake => write!(f, "a handshake reply came with no handshake sent"),
        }
    }
}

impl std::error::Error for Invalid {}

/// A codec for one connection: the protocol's codec, the entries it may send (one, or
/// a mix's), the chooser of the next entry, and the entries whose replies are awaited.
#[derive(Debug, Clone)]
pub struct Codec {
    proto: Proto,
    chooser: Chooser,
    /// Entries sent and not answered yet, oldest first (capacity: the pipeline depth).
    pending: VecDeque<usize>,
}

/// One variant per protocol: the connection loop is shared.
#[derive(Debug, Clone)]
enum Proto {
    /// Raw TCP with a fixed payload and a fixed reply length.
    Tcp(TcpCodec),
    /// HTTP/1.1 with a fixed request.
    Http(HttpCodec),
    /// WebSocket echo of a fixed message.
    Ws(Box<WsCodec>),
}

impl Codec {
    /// A codec for the protocol's one request; `seed` makes WebSocket keys and masks
    /// differ between connections.
    pub fn new(spec: &ProtocolSpec, seed: u64) -> Codec {
        Codec::for_plan(spec, None, seed, 0)
    }

    /// A codec for the plan's protocol and mix (if any), for connection slot `stream`
    /// (its own draws from the mix's generator). The entries are shared by the clones
    /// of a codec: make one per worker and [`Codec::for_connection`] from it.
    pub fn for_plan(spec: &ProtocolSpec, mix: Option<&Mix>, seed: u64, stream: u64) -> Codec {
        let proto = match spec {
            ProtocolSpec::Tcp(t) => Proto::Tcp(TcpCodec::new(t, mix)),
            ProtocolSpec::Http(h) => Proto::Http(HttpCodec::new(h, mix)),
            ProtocolSpec::Ws(w) => Proto::Ws(Box::new(WsCodec::new(w, mix, seed))),
        };
        Codec {
            proto,
            chooser: mix.map_or_else(Chooser::one, |m| Chooser::new(m, stream)),
            pending: VecDeque::with_capacity(spec.pipeline()),
        }
    }

    /// A codec like this one (sharing its entries) for another connection slot.
    pub fn for_connection(&self, seed: u64, stream: u64) -> Codec {
        let mut codec = self.clone();
        codec.chooser = self.chooser.with_stream(stream);
        if let Proto::Ws(c) = &mut codec.proto {
            c.masks = ws::MaskGen::new(seed);
        }
        codec
    }

    /// Forgets the state of the previous connection.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.chooser.new_socket();
        match &mut self.proto {
            Proto::Tcp(c) => c.reset(),
            Proto::Http(c) => c.decoder.start(c.head),
            Proto::Ws(c) => c.reset(),
        }
    }

    /// The opening handshake to send on a new connection, if the protocol has one.
    pub fn handshake(&mut self) -> Option<Vec<u8>> {
        match &mut self.proto {
            Proto::Ws(c) => Some(c.handshake()),
            _ => None,
        }
    }

    /// Feeds the handshake reply received so far (all of it, every time): the bytes it
    /// took once complete, `None` while incomplete.
    pub fn handshake_reply(&mut self, input: &[u8]) -> Result<Option<usize>, Invalid> {
        match &mut self.proto {
            Proto::Ws(c) => c.handshake_reply(input),
            _ => Ok(Some(0)),
        }
    }

    /// Appends the next request to `out` and returns its entry's index (its label's).
    pub fn request(&mut self, out: &mut Vec<u8>) -> usize {
        let entry = self.chooser.pick();
        if self.pending.is_empty() {
            self.arm(entry);
        }
        self.pending.push_back(entry);
        match &mut self.proto {
            Proto::Tcp(c) => out.extend_from_slice(&c.entries[entry].payload),
            Proto::Http(c) => out.extend_from_slice(&c.entries[entry].0),
            Proto::Ws(c) => c.request(out, entry),
        }
        entry
    }

    /// Expects the reply to `entry` next.
    fn arm(&mut self, entry: usize) {
        match &mut self.proto {
            Proto::Tcp(c) => c.armed = entry,
            Proto::Http(c) => {
                c.head = c.entries[entry].1;
                c.decoder.start(c.head);
            }
            Proto::Ws(c) => c.armed = entry,
        }
    }

    /// A reply is complete: the next pending entry's reply comes next.
    fn answered(&mut self, fed: Fed) -> Fed {
        if let Fed::Reply { .. } = fed {
            self.pending.pop_front();
            if let Some(&next) = self.pending.front() {
                self.arm(next);
            }
        }
        fed
    }

    /// Feeds received bytes. Bytes the codec must send in turn (a WebSocket pong or
    /// close reply) are appended to `control`.
    pub fn feed(&mut self, input: &[u8], control: &mut Vec<u8>) -> Result<Fed, Invalid> {
        let fed = match &mut self.proto {
            Proto::Tcp(c) => c.feed(input),
            Proto::Http(c) => c.feed(input),
            Proto::Ws(c) => c.feed(input, control),
        }?;
        Ok(self.answered(fed))
    }

    /// Appends the protocol's own closing message, if it has one (a WebSocket Close,
    /// status 1000), and returns whether it did; the peer's answer then arrives as
    /// [`Fed::Closed`] and is not answered again.
    pub fn close(&mut self, out: &mut Vec<u8>) -> bool {
        match &mut self.proto {
            Proto::Ws(c) => {
                ws::encode_close(out, 1000, &mut c.masks);
                c.frames.close_sent();
                true
            }
            _ => false,
        }
    }

    /// The peer closed the connection: a reply that ends at the close, if any.
    pub fn eof(&mut self) -> Option<Fed> {
        let fed = match &mut self.proto {
            Proto::Http(c) => c.eof(),
            _ => None,
        }?;
        Some(self.answered(fed))
    }
}

/// Raw TCP: the reply ends after a fixed number of bytes, or with a delimiter.
#[derive(Debug, Clone)]
pub struct TcpCodec {
    entries: Rc<[TcpEntry]>,
    /// The entry whose reply is awaited.
    armed: usize,
    received: usize,
    /// Delimiter framing: the last bytes seen, which may start a delimiter that the
    /// next chunk completes.
    tail: Vec<u8>,
}

/// What one TCP entry sends and how its reply ends.
#[derive(Debug, Clone)]
struct TcpEntry {
    payload: Vec<u8>,
    framing: Framing,
}

impl TcpCodec {
    fn new(spec: &TcpSpec, mix: Option<&Mix>) -> TcpCodec {
        let one = || TcpEntry {
            payload: spec.payload.clone(),
            framing: spec.framing.clone(),
        };
        let entries = match mix {
            None => vec![one()],
            Some(mix) => mix
                .entries
                .iter()
                .map(|e| match &e.request {
                    Request::Tcp { payload, framing } => TcpEntry {
                        payload: payload.clone(),
                        framing: framing.clone(),
                    },
                    _ => unreachable!("the plan builds a TCP mix for TCP"),
                })
                .collect(),
        };
        TcpCodec {
            entries: Rc::from(entries),
            armed: 0,
            received: 0,
            tail: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.received = 0;
        self.tail.clear();
    }

    fn reply(&mut self, consumed: usize) -> Result<Fed, Invalid> {
        self.reset();
        Ok(Fed::Reply {
            consumed,
            status: None,
            keep_alive: true,
        })
    }

    fn feed(&mut self, input: &[u8]) -> Result<Fed, Invalid> {
        if let Framing::Length(reply_bytes) = self.entries[self.armed].framing {
            let consumed = input.len().min(reply_bytes - self.received);
            self.received += consumed;
            if self.received < reply_bytes {
                return Ok(Fed::NeedMore { consumed });
            }
            return self.reply(consumed);
        }
        // The delimiter is borrowed while the codec's own state changes.
        let entries = Rc::clone(&self.entries);
        let Framing::Delimiter(delimiter) = &entries[self.armed].framing else {
            unreachable!("lengths are handled above")
        };
        self.feed_delimited(input, delimiter)
    }

    fn feed_delimited(&mut self, input: &[u8], delimiter: &[u8]) -> Result<Fed, Invalid> {
        // Only the delimiter's length minus one bytes of the tail can take part in a
        // match, so the window stays small however long the reply.
        let head = input.len().min(delimiter.len());
        let mut window = std::mem::take(&mut self.tail);
        let tail_len = window.len();
        window.extend_from_slice(&input[..head]);
        let found = window
            .windows(delimiter.len())
            .position(|w| w == delimiter)
            .map(|at| at + delimiter.len() - tail_len)
            .or_else(|| {
                input
                    .windows(delimiter.len())
                    .position(|w| w == delimiter)
                    .map(|at| at + delimiter.len())
            });
        if let Some(consumed) = found {
            return self.reply(consumed);
        }
        self.received += input.len();
        if self.received > MAX_PAYLOAD_BYTES {
            // No delimiter in 16 MiB: the server does not frame its replies this way.
            return Err(Invalid::NoDelimiter(MAX_PAYLOAD_BYTES));
        }
        let keep = delimiter.len() - 1;
        window.extend_from_slice(&input[head..]);
        self.tail = window[window.len().saturating_sub(keep)..].to_vec();
        Ok(Fed::NeedMore {
            consumed: input.len(),
        })
    }
}

/// HTTP/1.1: a fixed request, responses decoded incrementally.
#[derive(Debug, Clone)]
pub struct HttpCodec {
    /// Each entry's request, and whether it is HEAD.
    entries: Rc<[(Vec<u8>, bool)]>,
    /// The awaited response answers a HEAD request.
    head: bool,
    decoder: http::ResponseDecoder,
}

impl HttpCodec {
    fn new(spec: &HttpSpec, mix: Option<&Mix>) -> HttpCodec {
        let entries: Vec<(Vec<u8>, bool)> = match mix {
            None => vec![(spec.request.clone(), spec.head)],
            Some(mix) => mix
                .entries
                .iter()
                .map(|e| match &e.request {
                    Request::Http { request, head } => (request.clone(), *head),
                    _ => unreachable!("the plan builds an HTTP mix for HTTP"),
                })
                .collect(),
        };
        let head = entries[0].1;
        let mut decoder = http::ResponseDecoder::new();
        decoder.start(head);
        HttpCodec {
            entries: Rc::from(entries),
            head,
            decoder,
        }
    }

    fn reply(&mut self, consumed: usize, response: http::Response) -> Fed {
        self.decoder.start(self.head);
        Fed::Reply {
            consumed,
            status: Some(response.status),
            keep_alive: response.keep_alive,
        }
    }

    fn feed(&mut self, input: &[u8]) -> Result<Fed, Invalid> {
        match self.decoder.feed(input).map_err(Invalid::Http)? {
            http::Decoded::NeedMore { consumed } => Ok(Fed::NeedMore { consumed }),
            http::Decoded::Response { consumed, response } => Ok(self.reply(consumed, response)),
        }
    }

    fn eof(&mut self) -> Option<Fed> {
        match self.decoder.eof() {
            Ok(Some(response)) => Some(self.reply(0, response)),
            _ => None,
        }
    }
}

/// WebSocket: the opening handshake, then one echoed message per request.
#[derive(Debug, Clone)]
pub struct WsCodec {
    spec: Rc<WsSpec>,
    /// Each entry's message, and whether it is binary.
    entries: Rc<[(Vec<u8>, bool)]>,
    /// The entry whose echo is awaited.
    armed: usize,
    masks: ws::MaskGen,
    handshake: Option<ws::HandshakeDecoder>,
    frames: ws::FrameDecoder,
}

impl WsCodec {
    fn new(spec: &WsSpec, mix: Option<&Mix>, seed: u64) -> WsCodec {
        let entries: Vec<(Vec<u8>, bool)> = match mix {
            None => vec![(spec.message.clone(), spec.binary)],
            Some(mix) => mix
                .entries
                .iter()
                .map(|e| match &e.request {
                    Request::Ws { message, binary } => (message.clone(), *binary),
                    _ => unreachable!("the plan builds a WebSocket mix for WebSocket"),
                })
                .collect(),
        };
        let mut spec = spec.clone();
        // The entries hold the messages; the spec keeps the handshake's fields.
        spec.message = Vec::new();
        WsCodec {
            spec: Rc::new(spec),
            entries: Rc::from(entries),
            armed: 0,
            masks: ws::MaskGen::new(seed),
            handshake: None,
            frames: ws::FrameDecoder::new(ws::MAX_MESSAGE_BYTES),
        }
    }

    fn reset(&mut self) {
        self.handshake = None;
        self.frames = ws::FrameDecoder::new(ws::MAX_MESSAGE_BYTES);
    }

    fn handshake(&mut self) -> Vec<u8> {
        let mut key = [0u8; 16];
        key[..4].copy_from_slice(&self.masks.next_key());
        key[4..8].copy_from_slice(&self.masks.next_key());
        key[8..12].copy_from_slice(&self.masks.next_key());
        key[12..].copy_from_slice(&self.masks.next_key());
        let spec = &self.spec;
        let (request, accept) =
            ws::handshake_request(&spec.host, &spec.path, spec.subprotocol.as_deref(), key)
                .expect("the plan checked host, path and subprotocol");
        self.handshake = Some(ws::HandshakeDecoder::new(accept, spec.subprotocol.clone()));
        request
    }

    fn handshake_reply(&mut self, input: &[u8]) -> Result<Option<usize>, Invalid> {
        let decoder = self.handshake.as_mut().ok_or(Invalid::NoHandshake)?;
        match decoder.feed(input).map_err(Invalid::Ws)? {
            ws::HandshakeStatus::NeedMore => Ok(None),
            ws::HandshakeStatus::Done { consumed, .. } => Ok(Some(consumed)),
        }
    }

    fn request(&mut self, out: &mut Vec<u8>, entry: usize) {
        let (message, binary) = &self.entries[entry];
        let kind = if *binary {
            ws::MessageKind::Binary
        } else {
            ws::MessageKind::Text
        };
        let frame_bytes = self.spec.frame_bytes;
        ws::encode_message(out, kind, message, frame_bytes, &mut self.masks);
    }

    fn feed(&mut self, input: &[u8], control: &mut Vec<u8>) -> Result<Fed, Invalid> {
        match self
            .frames
            .feed(input, control, &mut self.masks)
            .map_err(Invalid::Ws)?
        {
            ws::WsEvent::NeedMore { consumed } => Ok(Fed::NeedMore { consumed }),
            // An echo of another length is not the echo of our message.
            ws::WsEvent::Message { len, .. } if len != self.entries[self.armed].0.len() => {
                Err(Invalid::EchoLength {
                    sent: self.entries[self.armed].0.len(),
                    received: len,
                })
            }
            ws::WsEvent::Message { consumed, .. } => Ok(Fed::Reply {
                consumed,
                status: None,
                keep_alive: true,
            }),
            ws::WsEvent::Closed { .. } => Ok(Fed::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(reply_bytes: usize) -> Codec {
        tcp_framed(Framing::Length(reply_bytes))
    }

    fn tcp_framed(framing: Framing) -> Codec {
        Codec::new(
            &ProtocolSpec::Tcp(TcpSpec {
                payload: b"ping".to_vec(),
                framing,
            }),
            1,
        )
    }

    fn reply(consumed: usize) -> Result<Fed, Invalid> {
        Ok(Fed::Reply {
            consumed,
            status: None,
            keep_alive: true,
        })
    }

    #[test]
    fn websocket_close_from_the_server_is_a_close_not_a_protocol_error() {
        let spec = WsSpec {
            host: "127.0.0.1:9".into(),
            path: "/".into(),
            subprotocol: None,
            message: b"hi".to_vec(),
            binary: false,
            frame_bytes: None,
            chunk_bytes: None,
            pipeline: 1,
        };
        let mut c = Codec::new(&ProtocolSpec::Ws(spec), 7);
        let request = c.handshake().unwrap();
        let text = String::from_utf8(request).unwrap();
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            ws::accept_key(key)
        );
        assert_eq!(c.handshake_reply(reply.as_bytes()), Ok(Some(reply.len())));
        let mut control = Vec::new();
        // An unmasked close frame with code 1001 (going away).
        assert_eq!(
            c.feed(&[0x88, 0x02, 0x03, 0xe9], &mut control),
            Ok(Fed::Closed)
        );
        assert_eq!(control[0], 0x88, "a close frame answers it");
    }

    #[test]
    fn delimiter_found_within_and_across_chunks() {
        let mut c = tcp_framed(Framing::Delimiter(b"\r\n".to_vec()));
        let mut control = Vec::new();
        assert_eq!(c.feed(b"hello\r\nnext", &mut control), reply(7));
        // Split between \r and \n, and again with a long chunk in between.
        assert_eq!(
            c.feed(b"abc\r", &mut control),
            Ok(Fed::NeedMore { consumed: 4 })
        );
        assert_eq!(c.feed(b"\nrest", &mut control), reply(1));
        assert_eq!(
            c.feed(b"xy", &mut control),
            Ok(Fed::NeedMore { consumed: 2 })
        );
        assert_eq!(
            c.feed(&[b'z'; 100], &mut control),
            Ok(Fed::NeedMore { consumed: 100 })
        );
        assert_eq!(
            c.feed(b"\r", &mut control),
            Ok(Fed::NeedMore { consumed: 1 })
        );
        assert_eq!(c.feed(b"\n", &mut control), reply(1));
        // A lone \r that a later chunk does not complete is not a delimiter.
        assert_eq!(
            c.feed(b"\r", &mut control),
            Ok(Fed::NeedMore { consumed: 1 })
        );
        assert_eq!(c.feed(b"x\r\n", &mut control), reply(3));
    }

    #[test]
    fn delimiter_split_at_every_byte() {
        let stream = b"first line\r\nsecond\r\n";
        for cut in 0..stream.len() {
            let mut c = tcp_framed(Framing::Delimiter(b"\r\n".to_vec()));
            let mut control = Vec::new();
            let mut buf = stream[..cut].to_vec();
            let mut rest = &stream[cut..];
            let mut replies = 0;
            loop {
                match c.feed(&buf, &mut control).unwrap() {
                    Fed::Reply { consumed, .. } => {
                        buf.drain(..consumed);
                        replies += 1;
                        continue;
                    }
                    Fed::NeedMore { consumed } => {
                        buf.drain(..consumed);
                    }
                    Fed::Closed => unreachable!("TCP has no close frame"),
                }
                if rest.is_empty() {
                    break;
                }
                buf.extend_from_slice(rest);
                rest = &[];
            }
            assert_eq!(replies, 2, "cut at {cut}");
        }
    }

    #[test]
    fn tcp_reply_completes_across_chunks() {
        let mut c = tcp(5);
        let mut out = Vec::new();
        c.request(&mut out);
        assert_eq!(out, b"ping");
        let mut control = Vec::new();
        assert_eq!(
            c.feed(b"abcd", &mut control),
            Ok(Fed::NeedMore { consumed: 4 })
        );
        // A chunk holding more than this reply: the rest is left for the next one.
        assert_eq!(
            c.feed(b"efgh", &mut control),
            Ok(Fed::Reply {
                consumed: 1,
                status: None,
                keep_alive: true
            })
        );
        assert!(control.is_empty());
    }

    #[test]
    fn http_codec_reports_status_and_keep_alive() {
        let spec = HttpSpec {
            request: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            head: false,
            close: false,
            pipeline: 2,
        };
        let mut c = Codec::new(&ProtocolSpec::Http(spec), 1);
        let two = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nnoHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let mut control = Vec::new();
        let Ok(Fed::Reply {
            consumed,
            status,
            keep_alive,
        }) = c.feed(two, &mut control)
        else {
            panic!("first reply")
        };
        assert_eq!((status, keep_alive), (Some(404), true));
        let second = c.feed(&two[consumed..], &mut control).unwrap();
        assert_eq!(
            second,
            Fed::Reply {
                consumed: two.len() - consumed,
                status: Some(200),
                keep_alive: false
            }
        );
        assert_eq!(
            c.feed(b"HTTP/1.1 2", &mut control).unwrap(),
            Fed::NeedMore { consumed: 0 }
        );
        let err = c.feed(b"garbage\r\n\r\n", &mut control).unwrap_err();
        assert!(matches!(err, Invalid::Http(_)), "{err:?}");
        let words = err.to_string();
        assert!(words.starts_with("HTTP: bad status line"), "{words}");
    }
}
