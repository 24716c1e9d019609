//! libFuzzer target: the WebSocket frame decoder (`codec::ws::FrameDecoder`).
//!
//! Input: see `split.rs`. Flag bits 0-3 pick the message size limit (16 << n bytes, so
//! small limits are hit too), bit 4 says the client sent its close first. The stream is
//! fed in the fuzzer's pieces as the connection loop does (keep the unconsumed tail,
//! append what arrives), then in one piece. Checked: no panic; `consumed` never exceeds
//! the bytes given; a message is no larger than the limit nor than the bytes consumed
//! since the previous event; after a close, feeds return the same close and consume
//! nothing; both feedings give the same events, errors (by kind) and control replies.
#![no_main]

use std::mem::discriminant;

use cannonade_core::codec::ws::{FrameDecoder, MaskGen, WsError, WsEvent};
use libfuzzer_sys::fuzz_target;

mod split;

#[derive(Debug)]
struct Outcome {
    events: Vec<WsEvent>,
    error: Option<WsError>,
    control_out: Vec<u8>,
}

fn run(pieces: &[&[u8]], max_message_bytes: usize, close_sent: bool) -> Outcome {
    let mut decoder = FrameDecoder::new(max_message_bytes);
    if close_sent {
        decoder.close_sent();
    }
    let mut masks = MaskGen::new(7);
    let mut out = Outcome {
        events: Vec::new(),
        error: None,
        control_out: Vec::new(),
    };
    let mut buf: Vec<u8> = Vec::new();
    // Bytes consumed since the last message or close.
    let mut since_event = 0usize;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let event = match decoder.feed(&buf, &mut out.control_out, &mut masks) {
                Ok(event) => event,
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            };
            let consumed = match event {
                WsEvent::NeedMore { consumed }
                | WsEvent::Message { consumed, .. }
                | WsEvent::Closed { consumed, .. } => consumed,
            };
            assert!(
                consumed <= buf.len(),
                "consumed {consumed} of {}",
                buf.len()
            );
            buf.drain(..consumed);
            since_event += consumed;
            out.events.push(event);
            match event {
                WsEvent::NeedMore { .. } => break,
                WsEvent::Message { len, .. } => {
                    assert!(
                        len <= max_message_bytes,
                        "a {len}-byte message passed the limit"
                    );
                    assert!(
                        len <= since_event,
                        "a {len}-byte message from {since_event} bytes"
                    );
                    assert!(consumed > 0, "a message consumed no bytes");
                    since_event = 0;
                }
                WsEvent::Closed { code, .. } => {
                    // Finished: the same close again, nothing consumed.
                    let mut more = Vec::new();
                    let again = decoder.feed(&buf, &mut more, &mut masks);
                    assert_eq!(again, Ok(WsEvent::Closed { consumed: 0, code }));
                    assert!(more.is_empty(), "a finished decoder wrote a control frame");
                    return out;
                }
            }
        }
    }
    out
}

/// The events that do not depend on where reads ended.
fn completed(events: &[WsEvent]) -> Vec<WsEvent> {
    events
        .iter()
        .filter_map(|e| match *e {
            WsEvent::NeedMore { .. } => None,
            WsEvent::Message { kind, len, .. } => Some(WsEvent::Message {
                consumed: 0,
                kind,
                len,
            }),
            WsEvent::Closed { code, .. } => Some(WsEvent::Closed { consumed: 0, code }),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = split::Input::parse(data) else {
        return;
    };
    let max_message_bytes = 16usize << (input.flags & 0x0F);
    let close_sent = input.flags & 0x10 != 0;
    let split = run(
        &split::pieces(input.stream, &input.cuts()),
        max_message_bytes,
        close_sent,
    );
    let whole = run(&[input.stream], max_message_bytes, close_sent);
    assert_eq!(
        completed(&split.events),
        completed(&whole.events),
        "events differ"
    );
    assert_eq!(
        split.error.as_ref().map(discriminant),
        whole.error.as_ref().map(discriminant),
        "errors differ: split {:?}, whole {:?}",
        split.error,
        whole.error
    );
    assert_eq!(
        split.control_out, whole.control_out,
        "control replies differ"
    );
});
