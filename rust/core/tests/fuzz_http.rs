//! A stable-Rust fuzz harness for the HTTP/1.1 response decoder (cargo fuzz needs nightly).
//!
//! Valid responses, and mutations of them, are fed in random splits following the
//! caller contract. The decoder must never panic nor report more bytes consumed than it
//! was given; a valid input must decode without error; and every input, mutated or
//! not, must decode the same whatever the split (errors compared by kind).
//!
//! Deterministic by default. `CANNONADE_FUZZ_ITERS` sets the iteration count and
//! `CANNONADE_FUZZ_SEED` the seed, `CANNONADE_FUZZ_START` the first iteration; a
//! failure prints all three, to replay it alone.

use std::mem::discriminant;
use std::panic::{catch_unwind, AssertUnwindSafe};

use cannonade_core::codec::http::{Decoded, HttpError, Response, ResponseDecoder};

const DEFAULT_ITERS: u64 = 20_000;
const DEFAULT_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-enough in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What decoding one input produced, for comparing two runs.
#[derive(Debug, Clone)]
enum Event {
    Response(Response),
    Error(HttpError),
    Closed,
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        match (self, other) {
            (Event::Response(a), Event::Response(b)) => a == b,
            // Messages quote the input as far as it had come; the kind must agree.
            (Event::Error(a), Event::Error(b)) => discriminant(a) == discriminant(b),
            (Event::Closed, Event::Closed) => true,
            _ => false,
        }
    }
}

/// Feeds `input` in pieces ending at `cuts` (ascending), as a connection loop would,
/// then closes. Panics if `consumed` exceeds the bytes fed.
fn run(input: &[u8], cuts: &[usize], head_requests: bool) -> Vec<Event> {
    let mut decoder = ResponseDecoder::new();
    decoder.start(head_requests);
    let mut events = Vec::new();
    let mut buf = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&input.len())) {
        buf.extend_from_slice(&input[from..to]);
        from = to;
        loop {
            match decoder.feed(&buf) {
                Ok(Decoded::NeedMore { consumed }) => {
                    assert!(
                        consumed <= buf.len(),
                        "consumed {consumed} of {}",
                        buf.len()
                    );
                    buf.drain(..consumed);
                    break;
                }
                Ok(Decoded::Response { consumed, response }) => {
                    assert!(
                        consumed <= buf.len(),
                        "consumed {consumed} of {}",
                        buf.len()
                    );
                    buf.drain(..consumed);
                    events.push(Event::Response(response));
                    decoder.start(head_requests);
                    // Bounds the loop: a pipelined response must use at least one byte.
                    assert!(consumed > 0, "a response consumed no bytes");
                }
                Err(e) => {
                    // The error sticks.
                    assert!(decoder.feed(b"").is_err());
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

/// Valid responses (each decodable alone and in sequence).
fn corpus() -> Vec<Vec<u8>> {
    let texts: &[&str] = &[
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!",
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
         3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: y\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye",
        "HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\nabcd",
    ];
    let mut corpus: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    // Read until close: only valid as the last response (see `valid_input`).
    corpus.push(b"HTTP/1.1 200 OK\r\nServer: t\r\n\r\nuntil the close".to_vec());
    corpus.push(b"HTTP/1.0 200 OK\r\n\r\n10 body".to_vec());
    corpus
}

/// Valid responses to HEAD requests: heads only, whatever their framing headers say.
fn head_corpus() -> Vec<Vec<u8>> {
    [
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect()
}

/// A valid input: one to four corpus responses pipelined; only the last may be one of
/// the final `until_close` entries, whose bodies end with the connection.
fn valid_input(rng: &mut Rng, corpus: &[Vec<u8>], until_close: usize) -> Vec<u8> {
    let framed = corpus.len() - until_close;
    let count = 1 + rng.below(4);
    let mut input = Vec::new();
    for i in 0..count {
        let pick = if i + 1 == count {
            rng.below(corpus.len())
        } else {
            rng.below(framed)
        };
        input.extend_from_slice(&corpus[pick]);
    }
    input
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    const INTERESTING: &[u8] = b"\r\n:;0123456789abcdefABCDEF \t\0\xff-+xHTP/";
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if at < input.len() => input[at] ^= 1 << rng.below(8),
            1 => input.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 => input.truncate(at),
            3 if at < input.len() => {
                input.remove(at);
            }
            4 => {
                let noise: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                input.splice(at..at, noise);
            }
            _ if at < input.len() => input[at] = INTERESTING[rng.below(INTERESTING.len())],
            _ => {}
        }
    }
}

/// Random ascending cut points in `0..=len`.
fn cuts(rng: &mut Rng, len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = match rng.below(4) {
        // Byte at a time.
        0 => (1..len).collect(),
        _ => (0..rng.below(8)).map(|_| rng.below(len + 1)).collect(),
    };
    cuts.sort_unstable();
    cuts
}

fn one_iteration(rng: &mut Rng, corpus: &[Vec<u8>], head_corpus: &[Vec<u8>]) {
    let head_requests = rng.below(8) == 0;
    let mut input = if head_requests {
        valid_input(rng, head_corpus, 0)
    } else {
        valid_input(rng, corpus, 2)
    };
    let mutated = rng.below(2) == 0;
    if mutated {
        mutate(rng, &mut input);
    }
    let whole = run(&input, &[], head_requests);
    let split = run(&input, &cuts(rng, input.len()), head_requests);
    if !mutated {
        assert!(
            !whole.iter().any(|e| matches!(e, Event::Error(_))),
            "a valid input failed: {whole:?}"
        );
    }
    assert_eq!(split, whole, "split-fed and whole-fed results differ");
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// splitmix64: turns (seed, iteration) into a well-mixed, non-zero xorshift seed.
fn iteration_seed(seed: u64, iteration: u64) -> u64 {
    let mut z = seed.wrapping_add(iteration.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).max(1)
}

#[test]
fn fuzz_response_decoder() {
    let iters = env_u64("CANNONADE_FUZZ_ITERS", DEFAULT_ITERS);
    let seed = env_u64("CANNONADE_FUZZ_SEED", DEFAULT_SEED);
    let first = env_u64("CANNONADE_FUZZ_START", 0);
    let (corpus, head_corpus) = (corpus(), head_corpus());
    for i in first..first.saturating_add(iters) {
        // Each iteration is seeded alone, so a failure replays in one iteration.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            one_iteration(&mut Rng(iteration_seed(seed, i)), &corpus, &head_corpus)
        }));
        if let Err(panic) = outcome {
            eprintln!(
                "fuzz_http failed at iteration {i} of seed {seed}; replay it with \
                 CANNONADE_FUZZ_SEED={seed} CANNONADE_FUZZ_START={i} CANNONADE_FUZZ_ITERS=1"
            );
            std::panic::resume_unwind(panic);
        }
    }
}
