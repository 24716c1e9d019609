//! Client-side per-message CPU cost of cannonade's WebSocket codec against tungstenite,
//! in memory, no sockets. See README.md.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use cannonade_core::codec::ws::{
    encode_message, FrameDecoder, MaskGen, MessageKind, WsEvent, MAX_MESSAGE_BYTES,
};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::{Frame, Utf8Bytes};
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::{Bytes, Message};

const REPS: usize = 5;
/// Per repetition, so about 1 s per case and implementation.
const REP_TIME: Duration = Duration::from_millis(200);
const FRAME: usize = 64 * 1024;

/// An in-memory "socket": reads replay `input` forever, writes are counted and dropped.
struct Mem {
    input: Vec<u8>,
    pos: usize,
    written: usize,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.input.len() {
            self.pos = 0;
        }
        let n = buf.len().min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The server's unmasked echo: one text frame, or `FRAME`-byte fragments.
fn server_bytes(payload: &[u8], frame: Option<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = payload.chunks(frame.unwrap_or(payload.len())).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let fin = if i + 1 == chunks.len() { 0x80 } else { 0 };
        out.push(fin | if i == 0 { 0x1 } else { 0x0 });
        match chunk.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// Median ns per call of `f` over `REPS` timed repetitions of about `REP_TIME` each.
fn time(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calibrate = 0u64;
    while start.elapsed() < REP_TIME / 4 {
        f();
        calibrate += 1;
    }
    let iters = (calibrate * 4).max(1);
    let mut ns: Vec<f64> = (0..REPS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    ns[REPS / 2]
}

fn mem(input: Vec<u8>) -> WebSocket<Mem> {
    let stream = Mem {
        input,
        pos: 0,
        written: 0,
    };
    WebSocket::from_raw_socket(stream, Role::Client, None)
}

/// Wire size of a masked client message: payload plus a header per frame.
fn client_wire_bytes(len: usize, frame: Option<usize>) -> usize {
    let header = |n: usize| match n {
        n if n < 126 => 6,
        n if n <= 0xFFFF => 8,
        _ => 14,
    };
    let f = frame.unwrap_or(len);
    len + (0..len.div_ceil(f))
        .map(|i| header(f.min(len - i * f)))
        .sum::<usize>()
}

fn row(case: &str, what: &str, ours: f64, copy: Option<f64>, theirs: f64) {
    let copy = copy.map_or("            -".to_string(), |c| format!("{c:>13.1}"));
    println!(
        "| {case:<20} | {what:<6} | {ours:>11.1} | {copy} | {theirs:>15.1} | {:>10.0} | {:>13.0} | {:>5.1}x |",
        1e9 / ours,
        1e9 / theirs,
        theirs / ours
    );
}

fn main() {
    println!("| case                 | op     | ours ns/msg | ours+copy ns | tungstenite ns  | ours msg/s | tungst. msg/s | t/o    |");
    println!("|----------------------|--------|-------------|--------------|-----------------|------------|---------------|--------|");
    let cases: [(&str, usize, Option<usize>); 3] = [
        ("text 64 B", 64, None),
        ("text 64 KiB", 64 * 1024, None),
        ("text 1 MiB / 64 KiB", 1024 * 1024, Some(FRAME)),
    ];
    for (case, len, frame) in cases {
        let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let payload = text.as_bytes().to_vec();
        let wire = client_wire_bytes(len, frame);
        let server = server_bytes(&payload, frame);

        // (a) Encode one masked client message.
        let mut masks = MaskGen::new(1);
        let mut out = Vec::with_capacity(wire);
        let ours = time(|| {
            out.clear();
            encode_message(&mut out, MessageKind::Text, &payload, frame, &mut masks);
            assert_eq!(black_box(&out).len(), wire);
        });
        let utf8 = Utf8Bytes::from(text.clone());
        let bytes = Bytes::from(payload.clone());
        let mut ws = mem(Vec::new());
        let theirs = time(|| {
            let before = ws.get_ref().written;
            match frame {
                None => ws.send(Message::Text(utf8.clone())).unwrap(),
                Some(f) => {
                    for start in (0..len).step_by(f) {
                        let op = if start == 0 {
                            Data::Text
                        } else {
                            Data::Continue
                        };
                        let fin = start + f >= len;
                        let chunk = bytes.slice(start..(start + f).min(len));
                        ws.write(Message::Frame(Frame::message(chunk, OpCode::Data(op), fin)))
                            .unwrap();
                    }
                    ws.flush().unwrap();
                }
            }
            assert_eq!(ws.get_ref().written - before, wire);
        });
        row(case, "encode", ours, None, theirs);

        // (b) Decode the server's unmasked echo: kind and length.
        let mut decoder = FrameDecoder::new(MAX_MESSAGE_BYTES);
        let mut control = Vec::new();
        let ours = time(
            || match decoder.feed(black_box(&server), &mut control, &mut masks) {
                Ok(WsEvent::Message {
                    consumed,
                    kind: MessageKind::Text,
                    len: n,
                }) => assert!(consumed == server.len() && n == len),
                other => panic!("{other:?}"),
            },
        );
        // The same, plus copying the bytes into a read buffer as a socket read would;
        // tungstenite's figure includes that copy from the in-memory stream.
        let mut buf = vec![0u8; server.len()];
        let copy = time(|| {
            buf.copy_from_slice(black_box(&server));
            match decoder.feed(&buf, &mut control, &mut masks) {
                Ok(WsEvent::Message {
                    consumed, len: n, ..
                }) => {
                    assert!(consumed == server.len() && n == len)
                }
                other => panic!("{other:?}"),
            }
        });
        let mut ws = mem(server.clone());
        let theirs = time(|| match ws.read().unwrap() {
            Message::Text(t) => assert_eq!(black_box(t).len(), len),
            other => panic!("{other:?}"),
        });
        assert!(ws.get_ref().written == 0, "tungstenite wrote a reply");
        row(case, "decode", ours, Some(copy), theirs);
    }
}
