//! libFuzzer target: the HTTP/1.1 response decoder (`codec::http::ResponseDecoder`).
//!
//! Input: see `split.rs`; flag bit 0 says the responses answer HEAD requests. The stream
//! is fed in the fuzzer's pieces as a connection loop would (keep the unconsumed tail,
//! append what arrives, `start` after each response, `eof` at the end), then in one
//! piece. Checked: no panic; `consumed` never exceeds the bytes given; a response
//! consumes at least one byte; an error sticks; both feedings decode the same (errors
//! compared by kind); and each response's body size agrees with its own framing
//! (re-parsed here with httparse): none for HEAD, 1xx, 204 and 304; exactly the
//! Content-Length; everything up to the close; at most the bytes left after the head
//! when a Transfer-Encoding de-chunks it.
#![no_main]

use std::mem::discriminant;

use cannonade_core::codec::http::{Decoded, HttpError, Response, ResponseDecoder};
use libfuzzer_sys::fuzz_target;

mod split;

#[derive(Debug)]
enum Event {
    Response(Response),
    Error(HttpError),
    Closed,
}

fn same(a: &[Event], b: &[Event]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Event::Response(x), Event::Response(y)) => x == y,
            (Event::Error(x), Event::Error(y)) => discriminant(x) == discriminant(y),
            (Event::Closed, Event::Closed) => true,
            _ => false,
        })
}

/// Decodes `stream` fed in `pieces`; checks each response against its bytes.
fn run(stream: &[u8], pieces: &[&[u8]], head_requests: bool) -> Vec<Event> {
    let mut decoder = ResponseDecoder::new();
    decoder.start(head_requests);
    let mut events = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    // Stream offset of buf[0], and of the first byte of the current response.
    let mut base = 0usize;
    let mut response_start = 0usize;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.feed(&buf) {
                Ok(Decoded::NeedMore { consumed }) => {
                    assert!(
                        consumed <= buf.len(),
                        "consumed {consumed} of {}",
                        buf.len()
                    );
                    buf.drain(..consumed);
                    base += consumed;
                    break;
                }
                Ok(Decoded::Response { consumed, response }) => {
                    assert!(
                        consumed <= buf.len(),
                        "consumed {consumed} of {}",
                        buf.len()
                    );
                    buf.drain(..consumed);
                    base += consumed;
                    assert!(base > response_start, "a response consumed no bytes");
                    check_framing(
                        &stream[response_start..base],
                        &response,
                        head_requests,
                        false,
                    );
                    response_start = base;
                    events.push(Event::Response(response));
                    decoder.start(head_requests);
                }
                Err(e) => {
                    assert!(decoder.feed(b"").is_err(), "the error {e:?} did not stick");
                    assert!(
                        decoder.eof().is_err(),
                        "the error {e:?} did not stick at eof"
                    );
                    events.push(Event::Error(e));
                    return events;
                }
            }
        }
    }
    events.push(match decoder.eof() {
        Ok(Some(response)) => {
            // Read until close: the whole rest of the stream belongs to it.
            check_framing(&stream[response_start..], &response, head_requests, true);
            Event::Response(response)
        }
        Ok(None) => {
            assert!(
                stream.len() == response_start,
                "eof says no response started, but {} bytes are left",
                stream.len() - response_start
            );
            Event::Closed
        }
        Err(e) => Event::Error(e),
    });
    events
}

/// `raw` is everything one response consumed: interim 1xx heads, the final head, its body.
fn check_framing(raw: &[u8], response: &Response, head_request: bool, at_eof: bool) {
    assert!(
        response.body_bytes <= raw.len() as u64,
        "{} body bytes from {} bytes of input",
        response.body_bytes,
        raw.len()
    );
    let mut pos = 0;
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 128];
        let mut head = httparse::Response::new(&mut fields);
        let len = match head.parse(&raw[pos..]) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!("a decoded response whose head does not parse: {other:?}"),
        };
        let status = head.code.expect("a complete head has a status");
        if (100..200).contains(&status) && status != 101 {
            pos += len;
            continue;
        }
        assert_eq!(status, response.status, "status");
        let after_head = (raw.len() - pos - len) as u64;
        let has = |name: &str| {
            head.headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name))
        };
        let content_length = head
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if head_request || status < 200 || status == 204 || status == 304 {
            assert_eq!(response.body_bytes, 0, "a bodiless response has a body");
            assert_eq!(
                after_head, 0,
                "a bodiless response consumed bytes after its head"
            );
        } else if has("transfer-encoding") {
            assert!(response.body_bytes <= after_head, "more body than bytes");
        } else if let Some(length) = content_length {
            assert!(!at_eof, "a Content-Length body completed at the close");
            assert_eq!(
                response.body_bytes, length,
                "body size against Content-Length"
            );
            assert_eq!(after_head, length, "bytes consumed against Content-Length");
        } else {
            assert!(at_eof, "a body without framing completed before the close");
            assert!(
                !response.keep_alive,
                "a body read until close kept the connection"
            );
            assert_eq!(response.body_bytes, after_head, "a body read until close");
        }
        return;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = split::Input::parse(data) else {
        return;
    };
    let head_requests = input.flags & 1 != 0;
    let split = run(
        input.stream,
        &split::pieces(input.stream, &input.cuts()),
        head_requests,
    );
    let whole = run(input.stream, &[input.stream], head_requests);
    assert!(
        same(&split, &whole),
        "split and whole feeding differ:\n split: {split:?}\n whole: {whole:?}"
    );
});
