//! A stable-Rust fuzz harness for the WebSocket decoders.
//!
//! Valid server byte streams (a handshake response, then frames of every length class,
//! fragmented messages with pings and pongs between fragments, a close) are generated
//! from a seeded PRNG, optionally mutated (bit flips, insertions, deletions, truncation,
//! overwrites, random bytes), and fed both whole and in random chunks. Checked: no panic,
//! `consumed` never exceeds the input, chunked feeding gives the same outcome as whole
//! feeding, and unmutated streams decode to exactly the messages generated.
//!
//! `CANNONADE_FUZZ_ITERS` sets the iteration count (default 20,000) and
//! `CANNONADE_FUZZ_SEED` the seed; a failure prints both and the iteration's own seed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use cannonade_core::codec::ws::{
    handshake_request, FrameDecoder, HandshakeDecoder, HandshakeStatus, MaskGen, MessageKind,
    WsError, WsEvent,
};

const DEFAULT_ITERS: u64 = 20_000;
const DEFAULT_SEED: u64 = 0x5EED_CA77_0DE5_0001;
const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// xorshift64*: deterministic, and good enough to pick shapes and bytes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

/// An unmasked server frame; `wide` picks a longer length encoding than needed (legal).
fn frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], wide: bool) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 && !wide {
        out.push(len as u8);
    } else if len <= 0xFFFF && !(wide && len >= 126) {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

fn control_payload(rng: &mut Rng) -> Vec<u8> {
    (0..rng.range(0, 125)).map(|_| rng.byte()).collect()
}

/// Appends a valid frame stream; returns the messages it holds and the close, if any.
fn gen_frames(
    rng: &mut Rng,
    out: &mut Vec<u8>,
) -> (Vec<(MessageKind, usize)>, Option<Option<u16>>) {
    let mut messages = Vec::new();
    for _ in 0..rng.range(0, 5) {
        let kind = if rng.chance(2) {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        // Sizes around the 16-bit/64-bit length boundary are rare: chunked feeding of
        // 64 KiB in bytes-sized pieces is what makes an iteration slow.
        let len = match rng.range(0, 199) {
            0..=29 => 0,
            30..=119 => rng.range(1, 125),
            120..=197 => rng.range(126, 1000),
            198 => rng.range(0xFF00, 0xFFFF),
            _ => rng.range(0x1_0000, 0x1_0100),
        };
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let pieces = if rng.chance(2) { 1 } else { rng.range(2, 5) };
        let mut cuts: Vec<usize> = (1..pieces).map(|_| rng.range(0, len)).collect();
        cuts.push(0);
        cuts.push(len);
        cuts.sort_unstable();
        for (i, w) in cuts.windows(2).enumerate() {
            let opcode = match (i, kind) {
                (0, MessageKind::Text) => 0x1,
                (0, MessageKind::Binary) => 0x2,
                _ => 0x0,
            };
            let last = i + 2 == cuts.len();
            frame(out, last, opcode, &payload[w[0]..w[1]], rng.chance(8));
            // Control frames may come between fragments, and between messages.
            while rng.chance(3) {
                let opcode = if rng.chance(2) { 0x9 } else { 0xA };
                frame(out, true, opcode, &control_payload(rng), rng.chance(8));
            }
        }
        messages.push((kind, len));
    }
    let close = match rng.range(0, 3) {
        0 => None,
        1 => {
            frame(out, true, 0x8, b"", false);
            Some(None)
        }
        _ => {
            let code = rng.range(1000, 4999) as u16;
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend((0..rng.range(0, 20)).map(|_| b'r'));
            frame(out, true, 0x8, &payload, false);
            Some(Some(code))
        }
    };
    (messages, close)
}

/// A valid handshake response for `accept`, varied in header case, order and extras.
fn gen_response(rng: &mut Rng, accept: &str, subprotocol: Option<&str>) -> Vec<u8> {
    let mut headers = vec![
        format!(
            "{}: {}",
            pick(rng, &["Upgrade", "upgrade", "UPGRADE"]),
            pick(rng, &["websocket", "WebSocket"])
        ),
        format!(
            "{}: {}",
            pick(rng, &["Connection", "connection"]),
            pick(rng, &["Upgrade", "upgrade", "keep-alive, Upgrade"])
        ),
        format!(
            "Sec-WebSocket-Accept:{}{accept}",
            pick(rng, &["", " ", "  "])
        ),
    ];
    if let Some(p) = subprotocol {
        headers.push(format!("Sec-WebSocket-Protocol: {p}"));
    }
    for _ in 0..rng.range(0, 3) {
        headers.push(format!(
            "X-Extra-{}: {}",
            rng.range(0, 99),
            "v".repeat(rng.range(0, 40))
        ));
    }
    // Shuffle.
    for i in (1..headers.len()).rev() {
        headers.swap(i, rng.range(0, i));
    }
    let mut head = String::from(pick(
        rng,
        &[
            "HTTP/1.1 101 Switching Protocols",
            "HTTP/1.1 101 OK",
            "HTTP/1.1 101",
        ],
    ));
    head.push_str("\r\n");
    for h in headers {
        head.push_str(&h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn pick<'a>(rng: &mut Rng, options: &[&'a str]) -> &'a str {
    options[rng.range(0, options.len() - 1)]
}

/// What feeding a stream produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    handshake: Option<Result<Option<String>, WsError>>,
    messages: Vec<(MessageKind, usize)>,
    close: Option<Option<u16>>,
    control_out: Vec<u8>,
    frame_error: Option<WsError>,
}

/// Feeds `chunks` as a connection loop would: the handshake decoder (if `expect` is
/// given) on the accumulated buffer, then the frame decoder on the unconsumed tail.
fn feed(expect: Option<(&str, Option<&str>)>, chunks: &[&[u8]]) -> Outcome {
    let mut out = Outcome {
        handshake: None,
        messages: Vec::new(),
        close: None,
        control_out: Vec::new(),
        frame_error: None,
    };
    let mut hs =
        expect.map(|(accept, sub)| HandshakeDecoder::new(accept.into(), sub.map(str::to_owned)));
    let mut frames = FrameDecoder::new(MAX_MESSAGE_BYTES);
    let mut masks = MaskGen::new(42);
    let mut buf: Vec<u8> = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        if let Some(dec) = hs.as_mut() {
            match dec.feed(&buf) {
                Ok(HandshakeStatus::NeedMore) => continue,
                Ok(HandshakeStatus::Done {
                    consumed,
                    subprotocol,
                }) => {
                    assert!(
                        consumed <= buf.len(),
                        "handshake consumed {consumed} of {}",
                        buf.len()
                    );
                    buf.drain(..consumed);
                    out.handshake = Some(Ok(subprotocol));
                    hs = None;
                }
                Err(e) => {
                    out.handshake = Some(Err(e));
                    return out;
                }
            }
        }
        loop {
            let ev = match frames.feed(&buf, &mut out.control_out, &mut masks) {
                Ok(ev) => ev,
                Err(e) => {
                    out.frame_error = Some(e);
                    return out;
                }
            };
            let consumed = match ev {
                WsEvent::NeedMore { consumed }
                | WsEvent::Message { consumed, .. }
                | WsEvent::Closed { consumed, .. } => consumed,
            };
            assert!(
                consumed <= buf.len(),
                "frames consumed {consumed} of {}",
                buf.len()
            );
            buf.drain(..consumed);
            match ev {
                WsEvent::NeedMore { .. } => break,
                WsEvent::Message { kind, len, .. } => out.messages.push((kind, len)),
                WsEvent::Closed { code, .. } => {
                    out.close = Some(code);
                    return out;
                }
            }
        }
    }
    out
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..rng.range(1, 3) {
        let at = rng.range(0, data.len());
        match rng.range(0, 5) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.range(0, 7);
            }
            1 => {
                let bytes: Vec<u8> = (0..rng.range(1, 8)).map(|_| rng.byte()).collect();
                data.splice(at..at, bytes);
            }
            2 => {
                let end = (at + rng.range(1, 16)).min(data.len());
                data.drain(at..end);
            }
            3 => data.truncate(at),
            4 => {
                for i in at..(at + rng.range(1, 8)).min(data.len()) {
                    data[i] = rng.byte();
                }
            }
            _ => data.push(rng.byte()),
        }
    }
}

/// Random chunk sizes: mostly tiny, sometimes large, so both frame-header splits and
/// mid-payload splits are common.
fn split<'a>(rng: &mut Rng, data: &'a [u8]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let n = match rng.range(0, 9) {
            0..=5 => rng.range(1, 8),
            6..=7 => rng.range(1, 200),
            _ => rng.range(1, 100_000),
        };
        let end = (at + n).min(data.len());
        chunks.push(&data[at..end]);
        at = end;
    }
    chunks
}

fn iteration(seed: u64) {
    let mut rng = Rng::new(seed);
    let key: [u8; 16] = std::array::from_fn(|_| rng.byte());
    let sub = match rng.range(0, 2) {
        0 => Some("chat"),
        _ => None,
    };
    let (_, accept) = handshake_request("127.0.0.1:9", "/", sub, key).unwrap();
    // Case 0: frames only; 1: handshake then frames; 2: random bytes to both decoders.
    let case = rng.range(0, 9);
    let (expect, mut data, expected) = match case {
        0..=4 => {
            let mut data = Vec::new();
            let expected = gen_frames(&mut rng, &mut data);
            (None, data, Some((None, expected)))
        }
        5..=8 => {
            let mut data = gen_response(&mut rng, &accept, sub);
            let expected = gen_frames(&mut rng, &mut data);
            (
                Some((accept.as_str(), sub)),
                data,
                Some((Some(Ok(sub.map(str::to_owned))), expected)),
            )
        }
        _ => {
            let data = (0..rng.range(0, 300)).map(|_| rng.byte()).collect();
            let expect = rng.chance(2).then_some((accept.as_str(), sub));
            (expect, data, None)
        }
    };
    let mutated = expected.is_none() || rng.chance(2);
    if mutated && expected.is_some() {
        mutate(&mut rng, &mut data);
    }

    let whole = feed(expect, &[&data]);
    let chunks = split(&mut rng, &data);
    let chunked = feed(expect, &chunks);
    assert_eq!(chunked, whole, "chunked feeding differs from whole feeding");
    if let (false, Some((handshake, (messages, close)))) = (mutated, expected) {
        assert_eq!(whole.handshake, handshake);
        assert_eq!(whole.frame_error, None);
        assert_eq!(whole.messages, messages);
        assert_eq!(whole.close, close);
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

#[test]
fn fuzz_ws_decoders() {
    let iters = env_u64("CANNONADE_FUZZ_ITERS", DEFAULT_ITERS);
    let seed = env_u64("CANNONADE_FUZZ_SEED", DEFAULT_SEED);
    let mut master = Rng::new(seed);
    let started = Instant::now();
    for i in 0..iters {
        let case_seed = master.next();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| iteration(case_seed))) {
            eprintln!(
                "fuzz_ws failed at iteration {i}: CANNONADE_FUZZ_SEED={seed} (case seed {case_seed:#x})"
            );
            std::panic::resume_unwind(panic);
        }
    }
    println!(
        "fuzz_ws: {iters} iterations in {:.2?} (CANNONADE_FUZZ_SEED={seed})",
        started.elapsed()
    );
}
