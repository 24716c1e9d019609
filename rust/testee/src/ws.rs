//! WebSocket (RFC 6455) echo: every text or binary message is sent back as one frame of
//! the same kind (after any delay); pings are answered, the close handshake completed.
//!
//! `--malformed KIND` breaks the protocol on purpose, so the client's error paths can be
//! tested against a real socket.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::stall::{self, Stall};

/// RFC 6455 section 1.3.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The largest request head read before answering 431.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The largest message echoed; past it the connection is closed with 1009 (too big).
/// Above the client's 16 MiB so the client's own limit is what a test meets first.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Close codes (RFC 6455 7.4.1).
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
const CLOSE_TOO_BIG: u16 = 1009;

/// A deliberate protocol violation, for testing the client's error handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The handshake answers a wrong `Sec-WebSocket-Accept`.
    AcceptKey,
    /// Echoes are sent masked, which only clients may do.
    MaskedFrame,
    /// Each echo is a frame header announcing 2^40 payload bytes (and no payload).
    Oversized,
    /// Each echo uses the reserved opcode 0x3.
    BadOpcode,
}

/// Options of the WebSocket echo mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ws {
    /// The one subprotocol accepted when a client offers it.
    pub subprotocol: Option<String>,
    /// A protocol violation to commit on every connection.
    pub malformed: Option<Malformed>,
}

/// Why a frame from the client ends the connection.
enum Violation {
    /// Closed with 1002.
    Protocol,
    /// Closed with 1009.
    TooBig,
}

impl Ws {
    /// Parses the WebSocket mode's own flags.
    pub fn from_flags(flags: &[(String, String)]) -> Result<Ws, String> {
        let mut ws = Ws::default();
        for (flag, value) in flags {
            match flag.as_str() {
                "--subprotocol" => {
                    let token =
                        |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
                    if value.is_empty() || !value.bytes().all(token) {
                        return Err(format!(
                            "--subprotocol: {value:?} is not an HTTP token (no spaces, commas or quotes)"
                        ));
                    }
                    ws.subprotocol = Some(value.clone());
                }
                "--malformed" => {
                    ws.malformed = Some(match value.as_str() {
                        "accept-key" => Malformed::AcceptKey,
                        "masked-frame" => Malformed::MaskedFrame,
                        "oversized" => Malformed::Oversized,
                        "bad-opcode" => Malformed::BadOpcode,
                        other => {
                            return Err(format!(
                                "--malformed: {other:?} is not one of accept-key, masked-frame, oversized, bad-opcode"
                            ))
                        }
                    });
                }
                other => return Err(format!("unknown option {other:?} for mode ws")),
            }
        }
        Ok(ws)
    }

    /// Serves one connection: the upgrade handshake, then echo until the client closes.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        mut stream: S,
        stall: Option<Stall>,
    ) {
        // The listener set TCP_NODELAY on the socket.
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];

        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if buf.len() > MAX_HEAD_BYTES {
                let _ = stream
                    .write_all(&http_error(431, "Request Header Fields Too Large", ""))
                    .await;
                return;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let response = match self.handshake(&buf[..head_end]) {
            Ok(response) => response,
            Err(error_response) => {
                let _ = stream.write_all(&error_response).await;
                return;
            }
        };
        buf.drain(..head_end);
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }

        let mut conn = Conn::default();
        loop {
            let mut out = Vec::new();
            let step = self.frames(&mut conn, &mut buf, &mut out);
            if !out.is_empty() {
                stall::wait(stall).await;
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            if step == Step::Close {
                let _ = stream.shutdown().await;
                return;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The 101 response to a request head, or the error response to send instead.
    fn handshake(&self, head: &[u8]) -> Result<String, Vec<u8>> {
        let bad = |why: &str| http_error(400, "Bad Request", why);
        let head = std::str::from_utf8(head).map_err(|_| bad("request head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split(' ');
        if parts.next() != Some("GET") {
            return Err(http_error(405, "Method Not Allowed", "only GET upgrades"));
        }
        if parts.next().is_none() || parts.next() != Some("HTTP/1.1") {
            return Err(bad("request line is not 'GET <path> HTTP/1.1'"));
        }

        let mut upgrade = false;
        let mut connection_upgrade = false;
        let mut version_13 = false;
        let mut key = None;
        let mut offered: Vec<&str> = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| bad("a header line has no ':'"))?;
            let value = value.trim_matches([' ', '\t']);
            let has = |item: &str| {
                value
                    .split(',')
                    .any(|v| v.trim().eq_ignore_ascii_case(item))
            };
            match name.to_ascii_lowercase().as_str() {
                "upgrade" => upgrade |= has("websocket"),
                "connection" => connection_upgrade |= has("upgrade"),
                "sec-websocket-version" => version_13 = value == "13",
                "sec-websocket-key" => key = Some(value),
                "sec-websocket-protocol" => offered.extend(value.split(',').map(str::trim)),
                _ => {}
            }
        }
        if !upgrade || !connection_upgrade {
            return Err(http_error(
                426,
                "Upgrade Required",
                "send 'Upgrade: websocket' and 'Connection: Upgrade'",
            ));
        }
        if !version_13 {
            return Err(http_error(
                426,
                "Upgrade Required",
                "Sec-WebSocket-Version must be 13",
            ));
        }
        let key = key.ok_or_else(|| bad("Sec-WebSocket-Key is missing"))?;
        if BASE64.decode(key).map(|k| k.len()) != Ok(16) {
            return Err(bad("Sec-WebSocket-Key is not 16 bytes in base64"));
        }

        let accept = if self.malformed == Some(Malformed::AcceptKey) {
            // A well-formed value for another key: only the comparison can catch it.
            accept_key(&format!("{key}x"))
        } else {
            accept_key(key)
        };
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n"
        );
        if let Some(sub) = &self.subprotocol {
            if offered.contains(&sub.as_str()) {
                response.push_str(&format!("Sec-WebSocket-Protocol: {sub}\r\n"));
            }
        }
        response.push_str("\r\n");
        Ok(response)
    }

    /// Handles every complete frame at the start of `buf` (removing them), appending the
    /// replies to `out`.
    fn frames(&self, conn: &mut Conn, buf: &mut Vec<u8>, out: &mut Vec<u8>) -> Step {
        let mut pos = 0;
        let step = loop {
            match parse_frame(&buf[pos..]) {
                Ok(None) => break Step::Continue,
                Ok(Some(frame)) => {
                    let payload_at = pos + frame.header_bytes;
                    let payload = &mut buf[payload_at..payload_at + frame.len];
                    unmask(payload, frame.mask);
                    pos = payload_at + frame.len;
                    match conn.frame(frame.fin, frame.opcode, payload) {
                        Ok(Event::None) => {}
                        Ok(Event::Message(opcode)) => self.echo(out, opcode, &conn.message),
                        Ok(Event::Ping) => write_frame(out, OP_PONG, payload, None),
                        Ok(Event::Close) => {
                            // Echo the status code, as RFC 6455 5.5.1 suggests.
                            let code = payload.get(..2).unwrap_or(&[]);
                            write_frame(out, OP_CLOSE, code, None);
                            break Step::Close;
                        }
                        Err(violation) => break close_for(out, violation),
                    }
                }
                Err(violation) => break close_for(out, violation),
            }
        };
        buf.drain(..pos);
        step
    }

    fn echo(&self, out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
        match self.malformed {
            None | Some(Malformed::AcceptKey) => write_frame(out, opcode, payload, None),
            Some(Malformed::MaskedFrame) => {
                write_frame(out, opcode, payload, Some([0x37, 0xFA, 0x21, 0x3D]))
            }
            Some(Malformed::Oversized) => {
                out.extend_from_slice(&[0x80 | OP_BINARY, 127]);
                out.extend_from_slice(&(1u64 << 40).to_be_bytes());
            }
            Some(Malformed::BadOpcode) => write_frame(out, 0x3, payload, None),
        }
    }
}

/// Whether the connection goes on after a batch of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Continue,
    Close,
}

fn close_for(out: &mut Vec<u8>, violation: Violation) -> Step {
    let code = match violation {
        Violation::Protocol => CLOSE_PROTOCOL_ERROR,
        Violation::TooBig => CLOSE_TOO_BIG,
    };
    write_frame(out, OP_CLOSE, &code.to_be_bytes(), None);
    Step::Close
}

/// What a complete frame meant.
enum Event {
    None,
    /// A message is complete in `Conn::message`; the opcode is its kind.
    Message(u8),
    Ping,
    Close,
}

/// Message reassembly state of one connection.
#[derive(Debug, Default)]
struct Conn {
    /// The opcode of the open fragmented message, if any.
    open: Option<u8>,
    message: Vec<u8>,
}

impl Conn {
    fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> Result<Event, Violation> {
        match opcode {
            OP_PING => return Ok(Event::Ping),
            OP_PONG => return Ok(Event::None),
            OP_CLOSE => return Ok(Event::Close),
            _ => {}
        }
        let kind = match (opcode, self.open) {
            (OP_CONTINUATION, Some(kind)) => kind,
            (OP_TEXT | OP_BINARY, None) => {
                self.message.clear();
                opcode
            }
            _ => return Err(Violation::Protocol),
        };
        if self.message.len() + payload.len() > MAX_MESSAGE_BYTES {
            return Err(Violation::TooBig);
        }
        self.message.extend_from_slice(payload);
        if fin {
            self.open = None;
            Ok(Event::Message(kind))
        } else {
            self.open = Some(kind);
            Ok(Event::None)
        }
    }
}

/// A client frame's header.
struct Frame {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    header_bytes: usize,
    len: usize,
}

/// The header of the first frame in `buf` if the whole frame is there.
fn parse_frame(buf: &[u8]) -> Result<Option<Frame>, Violation> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let opcode = b0 & 0x0F;
    let control = opcode & 0x8 != 0;
    // Reserved bits, unknown opcodes and unmasked client frames are all protocol errors.
    if b0 & 0x70 != 0
        || !matches!(
            opcode,
            OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
        )
        || b1 & 0x80 == 0
        || (control && (b0 & 0x80 == 0 || b1 & 0x7F > 125))
    {
        return Err(Violation::Protocol);
    }
    let (len, len_bytes) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 2),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (
                u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                8,
            ),
            None => return Ok(None),
        },
        n => (u64::from(n), 0),
    };
    if len > MAX_MESSAGE_BYTES as u64 {
        return Err(Violation::TooBig);
    }
    let len = len as usize;
    let header_bytes = 2 + len_bytes + 4;
    let Some(mask) = buf.get(2 + len_bytes..header_bytes) else {
        return Ok(None);
    };
    if buf.len() < header_bytes + len {
        return Ok(None);
    }
    Ok(Some(Frame {
        fin: b0 & 0x80 != 0,
        opcode,
        mask: [mask[0], mask[1], mask[2], mask[3]],
        header_bytes,
        len,
    }))
}

fn unmask(payload: &mut [u8], key: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Appends one final frame; masked only when `mask` is given (which a server must not do).
fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(0x80 | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        out.splice(start..start, key);
        unmask(&mut out[start + 4..], key);
    }
}

fn accept_key(key_b64: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key_b64.as_bytes());
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

fn http_error(code: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn flags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// Starts a server for one connection and connects to it.
    async fn connect(ws: Ws, stall: Option<Stall>) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            ws.serve(stream, stall).await;
        });
        TcpStream::connect(addr).await.unwrap()
    }

    async fn read_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "head cut short");
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    }

    /// Sends the upgrade request and returns the response head.
    async fn upgrade(stream: &mut TcpStream, protocols: Option<&str>) -> String {
        let mut req = format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(p) = protocols {
            req.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        read_head(stream).await
    }

    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, opcode, payload, Some([1, 2, 3, 4]));
        if !fin {
            out[0] &= 0x7F;
        }
        out
    }

    /// Reads one server frame: (first byte, masked, payload).
    async fn read_frame(stream: &mut TcpStream) -> (u8, bool, Vec<u8>) {
        let mut h = [0u8; 2];
        stream.read_exact(&mut h).await.unwrap();
        let len = match h[1] & 0x7F {
            126 => u64::from(stream.read_u16().await.unwrap()),
            127 => stream.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let masked = h[1] & 0x80 != 0;
        let mut key = [0u8; 4];
        if masked {
            stream.read_exact(&mut key).await.unwrap();
        }
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload).await.unwrap();
        if masked {
            unmask(&mut payload, key);
        }
        (h[0], masked, payload)
    }

    async fn assert_eof(stream: &mut TcpStream) {
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "unexpected bytes {rest:?}");
    }

    #[test]
    fn flags_parse() {
        assert_eq!(Ws::from_flags(&[]).unwrap(), Ws::default());
        let ws = Ws::from_flags(&flags(&[
            ("--subprotocol", "chat"),
            ("--malformed", "bad-opcode"),
        ]))
        .unwrap();
        assert_eq!(ws.subprotocol.as_deref(), Some("chat"));
        assert_eq!(ws.malformed, Some(Malformed::BadOpcode));
        for (kind, want) in [
            ("accept-key", Malformed::AcceptKey),
            ("masked-frame", Malformed::MaskedFrame),
            ("oversized", Malformed::Oversized),
        ] {
            let ws = Ws::from_flags(&flags(&[("--malformed", kind)])).unwrap();
            assert_eq!(ws.malformed, Some(want));
        }
        let err = Ws::from_flags(&flags(&[("--malformed", "nope")])).unwrap_err();
        assert!(err.contains("accept-key"), "{err}");
        assert!(Ws::from_flags(&flags(&[("--subprotocol", "a b")])).is_err());
        assert!(Ws::from_flags(&flags(&[("--bogus", "1")])).is_err());
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[tokio::test]
    async fn echoes_text_binary_fragments_pings_and_closes() {
        let mut s = connect(Ws::default(), None).await;
        let head = upgrade(&mut s, None).await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(!head.contains("Sec-WebSocket-Protocol"));

        s.write_all(&client_frame(true, OP_TEXT, b"hello"))
            .await
            .unwrap();
        assert_eq!(read_frame(&mut s).await, (0x81, false, b"hello".to_vec()));

        // 16-bit and 64-bit lengths, sent in small pieces.
        for len in [300usize, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let frame = client_frame(true, OP_BINARY, &payload);
            for piece in frame.chunks(1000) {
                s.write_all(piece).await.unwrap();
            }
            assert_eq!(read_frame(&mut s).await, (0x82, false, payload));
        }

        // A fragmented message with a ping between its fragments.
        let mut batch = client_frame(false, OP_TEXT, b"frag");
        batch.extend(client_frame(true, OP_PING, b"ping!"));
        batch.extend(client_frame(false, OP_CONTINUATION, b""));
        batch.extend(client_frame(true, OP_PONG, b"ignored"));
        batch.extend(client_frame(true, OP_CONTINUATION, b"ments"));
        batch.extend(client_frame(true, OP_BINARY, b""));
        s.write_all(&batch).await.unwrap();
        assert_eq!(read_frame(&mut s).await, (0x8A, false, b"ping!".to_vec()));
        assert_eq!(
            read_frame(&mut s).await,
            (0x81, false, b"fragments".to_vec())
        );
        assert_eq!(read_frame(&mut s).await, (0x82, false, vec![]));

        s.write_all(&client_frame(true, OP_CLOSE, &1000u16.to_be_bytes()))
            .await
            .unwrap();
        assert_eq!(
            read_frame(&mut s).await,
            (0x88, false, 1000u16.to_be_bytes().to_vec())
        );
        assert_eof(&mut s).await;
    }

    #[tokio::test]
    async fn echoes_after_a_stall() {
        let stall = Stall::with(
            Some((Duration::from_millis(5), Duration::from_millis(10))),
            None,
        );
        let mut s = connect(Ws::default(), Some(stall)).await;
        upgrade(&mut s, None).await;
        for _ in 0..3 {
            s.write_all(&client_frame(true, OP_TEXT, b"x"))
                .await
                .unwrap();
            assert_eq!(read_frame(&mut s).await, (0x81, false, b"x".to_vec()));
        }
    }

    #[tokio::test]
    async fn subprotocol_is_chosen_only_when_offered() {
        let ws = Ws::from_flags(&flags(&[("--subprotocol", "chat")])).unwrap();
        let mut s = connect(ws.clone(), None).await;
        let head = upgrade(&mut s, Some("superchat, chat")).await;
        assert!(
            head.contains("\r\nSec-WebSocket-Protocol: chat\r\n"),
            "{head}"
        );

        let mut s = connect(ws.clone(), None).await;
        let head = upgrade(&mut s, Some("other")).await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(!head.contains("Sec-WebSocket-Protocol"), "{head}");

        let mut s = connect(ws, None).await;
        let head = upgrade(&mut s, None).await;
        assert!(!head.contains("Sec-WebSocket-Protocol"), "{head}");
    }

    #[tokio::test]
    async fn rejects_a_plain_get() {
        let mut s = connect(Ws::default(), None).await;
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let head = read_head(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    }

    #[tokio::test]
    async fn unmasked_client_frame_is_a_protocol_error() {
        let mut s = connect(Ws::default(), None).await;
        upgrade(&mut s, None).await;
        s.write_all(&[0x81, 0x01, b'a']).await.unwrap();
        assert_eq!(
            read_frame(&mut s).await,
            (0x88, false, 1002u16.to_be_bytes().to_vec())
        );
        assert_eof(&mut s).await;
    }

    #[tokio::test]
    async fn malformed_accept_key() {
        let ws = Ws::from_flags(&flags(&[("--malformed", "accept-key")])).unwrap();
        let mut s = connect(ws, None).await;
        let head = upgrade(&mut s, None).await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(head.contains("Sec-WebSocket-Accept: "));
        assert!(!head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    }

    #[tokio::test]
    async fn malformed_frames() {
        let ws = |kind| Ws::from_flags(&flags(&[("--malformed", kind)])).unwrap();

        let mut s = connect(ws("masked-frame"), None).await;
        upgrade(&mut s, None).await;
        s.write_all(&client_frame(true, OP_TEXT, b"hi"))
            .await
            .unwrap();
        assert_eq!(read_frame(&mut s).await, (0x81, true, b"hi".to_vec()));

        let mut s = connect(ws("bad-opcode"), None).await;
        upgrade(&mut s, None).await;
        s.write_all(&client_frame(true, OP_TEXT, b"hi"))
            .await
            .unwrap();
        assert_eq!(read_frame(&mut s).await, (0x83, false, b"hi".to_vec()));

        let mut s = connect(ws("oversized"), None).await;
        upgrade(&mut s, None).await;
        s.write_all(&client_frame(true, OP_TEXT, b"hi"))
            .await
            .unwrap();
        let mut header = [0u8; 10];
        s.read_exact(&mut header).await.unwrap();
        assert_eq!(header[..2], [0x82, 127]);
        assert_eq!(u64::from_be_bytes(header[2..].try_into().unwrap()), 1 << 40);
    }
}
