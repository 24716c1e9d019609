//! Request mixes: several kinds of request in one load, each with a label and a weight.
//!
//! A plan's protocol may carry `requests`, a list of entries, instead of its one request.
//! Every entry is encoded once, when the plan is validated; a connection then picks the
//! index of its next entry with a [`Chooser`], which never allocates per request:
//!
//! - `random`: weighted random choice from a ChaCha8 generator seeded with the plan's
//!   `seed` (given, or drawn once and reported in the result), one stream per connection
//!   slot, so a run with the same seed and connections draws the same sequences;
//! - `round_robin`: each connection slot sends the entries in list order, each `weight`
//!   times in a row (integer weights), and carries on where it was after a reconnect;
//! - `session`: the same order, started again on every new socket: a connection plays
//!   the sequence (say one POST, then ten GETs) and, with `requests_per_connection` set
//!   to the sequence's length, closes and starts over.

use std::rc::Rc;

use rand::distributions::{Distribution, WeightedIndex};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::plan::{Framing, PlanError};

/// Most entries (labels) a mix may have: every label keeps its own histograms in every
/// worker's recorder, so memory is bounded by this.
pub const MAX_LABELS: usize = 64;
/// Longest label, in bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// Bytes all the entries of a mix may hold together (encoded requests and messages).
pub const MAX_MIX_BYTES: usize = 64 * 1024 * 1024;
/// Largest weight of a random mix.
pub const MAX_WEIGHT: f64 = 1e9;
/// Largest weight (repetitions in a row) of a round-robin or session mix.
pub const MAX_REPEAT: u32 = 1_000_000;

/// How a connection picks its next entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Weighted random choice from the seeded generator.
    Random,
    /// In list order, each entry `weight` times, continuing across reconnects.
    RoundRobin,
    /// In list order, each entry `weight` times, from the first on every new socket.
    Session,
}

impl Order {
    /// The order's name in plans and results.
    pub fn name(self) -> &'static str {
        match self {
            Order::Random => "random",
            Order::RoundRobin => "round_robin",
            Order::Session => "session",
        }
    }
}

/// A validated mix.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// How entries are picked.
    pub order: Order,
    /// The generator's seed (random order; reported for the other orders too).
    pub seed: u64,
    /// The entries, in the plan's order; their index is their label's index.
    pub entries: Vec<Entry>,
}

impl Mix {
    /// The labels, in entry order.
    pub fn labels(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.label.clone()).collect()
    }
}

/// One entry of a mix.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its name in results (unique in the mix).
    pub label: String,
    /// Its weight: relative frequency (random) or repetitions in a row (the others).
    pub weight: f64,
    /// What is sent, encoded.
    pub request: Request,
}

/// What one entry sends, encoded at plan time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A TCP payload and where its reply ends.
    Tcp {
        /// Bytes sent.
        payload: Vec<u8>,
        /// Where the reply ends.
        framing: Framing,
    },
    /// A whole HTTP/1.1 request.
    Http {
        /// The request as sent.
        request: Vec<u8>,
        /// It is a HEAD request: its response has no body.
        head: bool,
    },
    /// A WebSocket message (echoed back).
    Ws {
        /// The message.
        message: Vec<u8>,
        /// Binary (true) or text (false).
        binary: bool,
    },
}

impl Request {
    fn bytes(&self) -> usize {
        match self {
            Request::Tcp { payload, .. } => payload.len(),
            Request::Http { request, .. } => request.len(),
            Request::Ws { message, .. } => message.len(),
        }
    }
}

/// One entry as a protocol decoded it: its label (if given), weight and request.
pub(crate) struct Built {
    pub(crate) label: Option<String>,
    pub(crate) weight: Option<f64>,
    pub(crate) request: Request,
    /// The label used when none is given (the path, the size, ...).
    pub(crate) default_label: String,
}

fn entry_error(index: usize, field: &str, message: impl Into<String>) -> PlanError {
    PlanError::Json {
        path: format!("protocol.requests[{index}].{field}"),
        message: message.into(),
    }
}

/// Renames a protocol-level error (`protocol.x`) into entry `index`'s (`protocol.requests[i].x`).
pub(crate) fn in_entry(index: usize, err: PlanError) -> PlanError {
    match err {
        PlanError::Invalid { field, message } => {
            let field = field.strip_prefix("protocol.").unwrap_or(field);
            entry_error(index, field, message)
        }
        other => other,
    }
}

/// Builds and checks a mix from a protocol's `requests`, `mix` and `seed` fields; each
/// entry is decoded by `build`. `None` when the protocol has no `requests`.
pub(crate) fn mix_of<T>(
    requests: Option<Vec<T>>,
    order: Option<String>,
    seed: Option<u64>,
    mut build: impl FnMut(usize, T) -> Result<Built, PlanError>,
) -> Result<Option<Mix>, PlanError> {
    let Some(requests) = requests else {
        if order.is_some() || seed.is_some() {
            let field = if order.is_some() { "mix" } else { "seed" };
            return Err(PlanError::Json {
                path: format!("protocol.{field}"),
                message: "applies to a mix; give requests (a list of entries) or leave it out"
                    .into(),
            });
        }
        return Ok(None);
    };
    let order = match order.as_deref() {
        None | Some("random") => Order::Random,
        Some("round_robin") => Order::RoundRobin,
        Some("session") => Order::Session,
        Some(other) => {
            return Err(PlanError::Json {
                path: "protocol.mix".into(),
                message: format!(
                    "must be \"random\", \"round_robin\" or \"session\", got {other:?}"
                ),
            })
        }
    };
    let invalid = |message: String| PlanError::Json {
        path: "protocol.requests".into(),
        message,
    };
    if requests.is_empty() {
        return Err(invalid(
            "the list is empty; give at least one entry, or leave requests out to send \
             the protocol's one request"
                .into(),
        ));
    }
    if requests.len() > MAX_LABELS {
        return Err(invalid(format!(
            "{} entries; a mix has at most {MAX_LABELS} (each label keeps its own \
             histograms); merge entries that need no histogram of their own",
            requests.len()
        )));
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(requests.len());
    let mut bytes = 0usize;
    for (i, raw) in requests.into_iter().enumerate() {
        let built = build(i, raw)?;
        let label = built.label.unwrap_or(built.default_label);
        if label.is_empty() || label.len() > MAX_LABEL_BYTES || label.chars().any(char::is_control)
        {
            return Err(entry_error(
                i,
                "label",
                format!(
                    "must be 1 to {MAX_LABEL_BYTES} bytes without control characters, \
                     got {label:?}"
                ),
            ));
        }
        if let Some(first) = entries.iter().position(|e| e.label == label) {
            return Err(entry_error(
                i,
                "label",
                format!(
                    "{label:?} is the label of entry {first} too; labels must be unique \
                     (give each entry its own label)"
                ),
            ));
        }
        let weight = built.weight.unwrap_or(1.0);
        check_weight(i, order, weight)?;
        bytes += built.request.bytes();
        if bytes > MAX_MIX_BYTES {
            return Err(invalid(format!(
                "the entries up to entry {i} hold {bytes} bytes; a mix holds at most \
                 {MAX_MIX_BYTES} (64 MiB)"
            )));
        }
        entries.push(Entry {
            label,
            weight,
            request: built.request,
        });
    }
    Ok(Some(Mix {
        order,
        seed: seed.unwrap_or_else(fresh_seed),
        entries,
    }))
}

fn check_weight(i: usize, order: Order, weight: f64) -> Result<(), PlanError> {
    if !(weight.is_finite() && weight > 0.0 && weight <= MAX_WEIGHT) {
        return Err(entry_error(
            i,
            "weight",
            format!("must be a positive number up to {MAX_WEIGHT}, got {weight}"),
        ));
    }
    if order != Order::Random && (weight.fract() != 0.0 || weight > f64::from(MAX_REPEAT)) {
        return Err(entry_error(
            i,
            "weight",
            format!(
                "in a {} mix a weight is how many times in a row the entry is sent: a \
                 whole number from 1 to {MAX_REPEAT}, got {weight}",
                order.name()
            ),
        ));
    }
    Ok(())
}

/// A seed for a plan that gives none: the clock and the process, mixed. It is reported
/// in the result, so the run can be repeated with it.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = nanos ^ (u64::from(std::process::id()) << 32);
    // splitmix64's finaliser spreads nearby clock readings apart.
    let mut z = mixed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of connection slot `stream`: the seed's ChaCha8 stream number `stream`.
fn generator(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Picks each next entry of one connection slot. Made per connection; `pick` never
/// allocates.
#[derive(Debug, Clone)]
pub struct Chooser(Choice);

#[derive(Debug, Clone)]
enum Choice {
    /// No mix: always entry 0.
    One,
    Random {
        seed: u64,
        /// Boxed: the generator's state is large beside the other variants'.
        rng: Box<ChaCha8Rng>,
        weights: Rc<WeightedIndex<f64>>,
    },
    Turns {
        repeats: Rc<[u32]>,
        at: usize,
        sent: u32,
        restart: bool,
    },
}

impl Chooser {
    /// Always the one request.
    pub fn one() -> Chooser {
        Chooser(Choice::One)
    }

    /// A chooser over `mix` for connection slot `stream` (its own generator stream).
    pub fn new(mix: &Mix, stream: u64) -> Chooser {
        match mix.order {
            Order::Random => {
                let weights = WeightedIndex::new(mix.entries.iter().map(|e| e.weight))
                    .expect("the plan checked the weights");
                Chooser(Choice::Random {
                    seed: mix.seed,
                    rng: Box::new(generator(mix.seed, stream)),
                    weights: Rc::new(weights),
                })
            }
            Order::RoundRobin | Order::Session => Chooser(Choice::Turns {
                repeats: mix.entries.iter().map(|e| e.weight as u32).collect(),
                at: 0,
                sent: 0,
                restart: mix.order == Order::Session,
            }),
        }
    }

    /// A chooser like this one, from the start, for connection slot `stream`.
    pub fn with_stream(&self, stream: u64) -> Chooser {
        match &self.0 {
            Choice::One => Chooser::one(),
            Choice::Random { seed, weights, .. } => Chooser(Choice::Random {
                seed: *seed,
                rng: Box::new(generator(*seed, stream)),
                weights: Rc::clone(weights),
            }),
            Choice::Turns {
                repeats, restart, ..
            } => Chooser(Choice::Turns {
                repeats: Rc::clone(repeats),
                at: 0,
                sent: 0,
                restart: *restart,
            }),
        }
    }

    /// The index of the next entry to send.
    pub fn pick(&mut self) -> usize {
        match &mut self.0 {
            Choice::One => 0,
            Choice::Random { rng, weights, .. } => weights.sample(rng.as_mut()),
            Choice::Turns {
                repeats, at, sent, ..
            } => {
                if *sent == repeats[*at] {
                    *sent = 0;
                    *at = (*at + 1) % repeats.len();
                }
                *sent += 1;
                *at
            }
        }
    }

    /// A new socket: a session starts from its first entry again.
    pub fn new_socket(&mut self) {
        if let Choice::Turns {
            at, sent, restart, ..
        } = &mut self.0
        {
            if *restart {
                *at = 0;
                *sent = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(order: Order, weights: &[f64]) -> Mix {
        Mix {
            order,
            seed: 42,
            entries: weights
                .iter()
                .enumerate()
                .map(|(i, &weight)| Entry {
                    label: format!("e{i}"),
                    weight,
                    request: Request::Tcp {
                        payload: vec![b'x'],
                        framing: Framing::Length(1),
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn round_robin_repeats_each_entry_its_weight_in_a_row() {
        let mut c = Chooser::new(&mix(Order::RoundRobin, &[1.0, 3.0, 2.0]), 0);
        let got: Vec<usize> = (0..12).map(|_| c.pick()).collect();
        assert_eq!(got, [0, 1, 1, 1, 2, 2, 0, 1, 1, 1, 2, 2]);
        c.pick();
        c.new_socket();
        assert_eq!(c.pick(), 1, "round robin carries on across sockets");
    }

    #[test]
    fn a_session_starts_over_on_a_new_socket() {
        let mut c = Chooser::new(&mix(Order::Session, &[1.0, 2.0]), 0);
        assert_eq!([c.pick(), c.pick()], [0, 1]);
        c.new_socket();
        assert_eq!([c.pick(), c.pick(), c.pick(), c.pick()], [0, 1, 1, 0]);
    }

    #[test]
    fn random_choice_is_reproducible_and_follows_the_weights() {
        let m = mix(Order::Random, &[1.0, 3.0]);
        let draw = |stream| {
            let mut c = Chooser::new(&m, stream);
            (0..4000).map(|_| c.pick()).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4), "each connection slot has its own stream");
        let ones = draw(3).iter().filter(|&&i| i == 1).count();
        // Expected 3000, standard deviation about 27: a wide margin that still fails
        // for equal weights (2000) or reversed ones (1000).
        assert!((2800..3200).contains(&ones), "{ones}");
    }
}
