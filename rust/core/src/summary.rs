//! The result of a finished run, as it is serialized to JSON (`schema_version` 3).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::plan::Plan;
use crate::recorder::{Errors, LabelRecorder, Recorder, FAILURES};

/// Version of the result JSON format.
/// Version 3 added `mix` and `labels` (per-label statistics of a request mix).
pub const SCHEMA_VERSION: u32 = 3;

/// Percentiles every summary reports.
pub const PERCENTILES: [f64; 5] = [50.0, 90.0, 99.0, 99.9, 99.99];

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn per_second(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// The uncorrected latency: its own histogram in open loop, the only one otherwise.
fn uncorrected(rec: &Recorder) -> Latency {
    Latency::of(rec.uncorrected_ns.as_ref().unwrap_or(&rec.latency_ns))
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoppedBy {
    /// The plan's duration elapsed.
    Duration,
    /// The plan's request count was reached.
    Requests,
    /// Someone asked the run to stop.
    Stop,
    /// Every connection failed and the plan does not reconnect.
    ConnectionsLost,
}

/// Latency statistics of a merged histogram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    /// Number of recorded exchanges.
    pub count: u64,
    /// Smallest latency.
    pub min: u64,
    /// Mean latency.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
    /// Largest latency.
    pub max: u64,
    /// `(percentile, value)` pairs for [`PERCENTILES`].
    pub percentiles: Vec<(f64, u64)>,
}

impl Latency {
    /// Summarises a latency histogram.
    pub fn of(hist: &Histogram<u64>) -> Latency {
        let count = hist.len();
        let empty = count == 0;
        Latency {
            count,
            min: if empty { 0 } else { hist.min() },
            mean: if empty { 0.0 } else { hist.mean() },
            stdev: if empty { 0.0 } else { hist.stdev() },
            max: if empty { 0 } else { hist.max() },
            percentiles: PERCENTILES
                .iter()
                .map(|&p| {
                    (
                        p,
                        if empty {
                            0
                        } else {
                            hist.value_at_percentile(p)
                        },
                    )
                })
                .collect(),
        }
    }
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Format version of this JSON.
    pub schema_version: u32,
    /// The target as given in the plan.
    pub target: String,
    /// `"tcp"`, `"http"` or `"ws"`.
    pub protocol: &'static str,
    /// Connections the plan asked for.
    pub connections: u32,
    /// Worker threads used.
    pub threads: u32,
    /// The open-loop rate asked for, or `None` for a closed loop.
    pub rate_per_s: Option<f64>,
    /// Why the run ended.
    pub stopped_by: StoppedBy,
    /// From the start of the load until the last worker stopped.
    pub duration_ns: u64,
    /// Completed exchanges.
    pub requests: u64,
    /// Completed exchanges per second of `duration_ns`.
    pub requests_per_s: f64,
    /// Bytes written to sockets.
    pub bytes_sent: u64,
    /// Bytes read from sockets.
    pub bytes_received: u64,
    /// Connections successfully opened (reconnections included).
    pub connections_opened: u64,
    /// Failures by kind.
    pub errors: Errors,
    /// For each kind of failure that has words (a protocol error's, the OS's), how many
    /// there were and the first message seen.
    pub error_messages: BTreeMap<&'static str, ErrorMessage>,
    /// Latency of completed exchanges, in nanoseconds; in open loop counted from the
    /// intended send time (corrected for coordinated omission).
    pub latency_ns: Latency,
    /// Open loop: latency counted from the actual send (uncorrected); closed loop: the
    /// same as `latency_ns`.
    pub uncorrected_latency_ns: Latency,
    /// Open loop only: how late the generator sent requests it could have sent on time.
    pub send_lag_ns: Option<Latency>,
    /// Closed loop only: from a reply's last byte to the next request's write on the
    /// same connection (think time excluded): the generator's own turnaround.
    pub send_gap_ns: Option<Latency>,
    /// Interval snapshots taken (the last one may be partial).
    pub intervals: u64,
    /// HTTP only: responses by status code (empty otherwise).
    pub status_codes: BTreeMap<String, u64>,
    /// HTTP responses with a status outside 200-399. They are timed like the others
    /// and are not transport errors.
    pub non_2xx_3xx: u64,
    /// Time to open each connection.
    pub connect_ns: Latency,
    /// WebSocket only: time of each opening handshake (the upgrade, after TCP and TLS).
    pub handshake_ns: Option<Latency>,
    /// TLS only: the TLS handshakes, full and resumed, and their times.
    pub tls: Option<TlsSummary>,
    /// Connections held open without traffic beside the load.
    pub idle_connections: IdleSummary,
    /// The run's phases in order (see [`crate::Run::mark_phase`]); a run nobody
    /// marked has one phase, [`DEFAULT_PHASE`].
    pub phases: Vec<Phase>,
    /// A mix only (absent otherwise): how entries were chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mix: Option<MixSummary>,
    /// A mix only (absent otherwise): each label over the whole run, in entry order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<LabelSummary>,
}

/// How many failures of one kind a run had, and the words of the first one seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorMessage {
    /// Failures of this kind (the same as the count in `errors`).
    pub count: u64,
    /// The first message seen (when workers saw several, the first worker's).
    pub first: String,
}

/// The kinds of failure that have words, with their counts.
fn error_messages(rec: &Recorder) -> BTreeMap<&'static str, ErrorMessage> {
    FAILURES
        .iter()
        .filter_map(|&kind| {
            let count = rec.errors.of(kind);
            let first = rec.messages.first(kind)?;
            (count > 0).then(|| {
                (
                    kind.name(),
                    ErrorMessage {
                        count,
                        first: first.to_owned(),
                    },
                )
            })
        })
        .collect()
}

/// The TLS handshakes of a run, a phase or an interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsSummary {
    /// Handshakes completed, full and resumed.
    pub handshakes: u64,
    /// Of them, handshakes that resumed a session.
    pub resumed: u64,
    /// `resumed / handshakes` (0 when there were none).
    pub resumed_fraction: f64,
    /// Handshakes per second of the stretch: the connection churn TLS paid for.
    pub handshakes_per_s: f64,
    /// Time of each handshake, from the TCP connection's opening to the end of the
    /// TLS handshake (TCP connect and the WebSocket upgrade are timed apart).
    pub handshake_ns: Latency,
}

impl TlsSummary {
    /// The TLS handshakes of `rec` over `over`, if it records TLS.
    fn of(rec: &Recorder, over: Duration) -> Option<TlsSummary> {
        let hist = rec.tls_handshake_ns.as_ref()?;
        let handshakes = hist.len();
        Some(TlsSummary {
            handshakes,
            resumed: rec.tls_resumed,
            resumed_fraction: if handshakes > 0 {
                rec.tls_resumed as f64 / handshakes as f64
            } else {
                0.0
            },
            handshakes_per_s: per_second(handshakes, over),
            handshake_ns: Latency::of(hist),
        })
    }
}

/// The name of a run's phase until someone marks another.
pub const DEFAULT_PHASE: &str = "main";

/// HTTP responses by status code, as JSON object keys.
fn status_codes(rec: &Recorder) -> BTreeMap<String, u64> {
    rec.status_codes
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n > 0)
        .map(|(code, &n)| (code.to_string(), n))
        .collect()
}

/// HTTP responses with a status outside 200-399.
fn non_2xx_3xx(rec: &Recorder) -> u64 {
    rec.status_codes
        .iter()
        .enumerate()
        .filter(|&(code, _)| !(200..400).contains(&code))
        .map(|(_, &n)| n)
        .sum()
}

fn base64_v2(hist: &Histogram<u64>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(histogram_v2_deflate(hist))
}

/// A phase of a run (warm-up, measurement, ...): consecutive whole intervals, merged.
/// Phases begin and end at interval boundaries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    /// The name it was marked with.
    pub name: String,
    /// Index of its first interval.
    pub first_interval: u64,
    /// Number of intervals in it.
    pub intervals: u64,
    /// From the start of its first interval to the end of its last.
    #[serde(flatten)]
    pub span: Span,
    /// Open loop only: the generator's own lateness.
    pub send_lag_ns: Option<Latency>,
    /// Closed loop only: the generator's turnaround from a reply to the next request.
    pub send_gap_ns: Option<Latency>,
    /// HTTP only: responses by status code.
    pub status_codes: BTreeMap<String, u64>,
    /// HTTP responses with a status outside 200-399.
    pub non_2xx_3xx: u64,
    /// The first message of each kind of failure in this phase, with its count.
    pub error_messages: BTreeMap<&'static str, ErrorMessage>,
}

impl Phase {
    /// Summarises a phase from its merged recorder.
    pub fn new(
        name: String,
        first_interval: u64,
        intervals: u64,
        start: Duration,
        end: Duration,
        rec: &Recorder,
    ) -> Phase {
        Phase {
            name,
            first_interval,
            intervals,
            span: Span::new(start, end, rec),
            send_lag_ns: rec.send_lag_ns.as_ref().map(Latency::of),
            send_gap_ns: rec.send_gap_ns.as_ref().map(Latency::of),
            status_codes: status_codes(rec),
            non_2xx_3xx: non_2xx_3xx(rec),
            error_messages: error_messages(rec),
        }
    }
}

/// What an interval and a phase both report: the load over one stretch of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// Start, from the start of the run.
    pub start_ns: u64,
    /// End, from the start of the run (the run's last interval may be short).
    pub end_ns: u64,
    /// Exchanges completed.
    pub requests: u64,
    /// `requests` per second of the span.
    pub requests_per_s: f64,
    /// Bytes written to sockets.
    pub bytes_sent: u64,
    /// Bytes read from sockets.
    pub bytes_received: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Failures by kind.
    pub errors: Errors,
    /// Latency (corrected in open loop), in nanoseconds.
    pub latency_ns: Latency,
    /// Latency from the actual send (the same as `latency_ns` in closed loop).
    pub uncorrected_latency_ns: Latency,
    /// The `latency_ns` histogram, HdrHistogram V2 deflate, base64.
    pub histogram_v2_base64: String,
    /// TLS only (absent otherwise): the span's TLS handshakes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSummary>,
    /// A mix only (absent otherwise): each label's share of the span, in entry order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<LabelSummary>,
}

/// One label of a mix over a span or a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelSummary {
    /// The label.
    pub label: String,
    /// Exchanges of this label completed.
    pub requests: u64,
    /// Failures of this label's exchanges (connection failures belong to no label).
    pub errors: Errors,
    /// Latency (corrected in open loop), in nanoseconds.
    pub latency_ns: Latency,
    /// Latency from the actual send (the same as `latency_ns` in closed loop).
    pub uncorrected_latency_ns: Latency,
    /// HTTP only: responses by status code.
    pub status_codes: BTreeMap<String, u64>,
    /// The `latency_ns` histogram, HdrHistogram V2 deflate, base64.
    pub histogram_v2_base64: String,
}

impl LabelSummary {
    fn of(rec: &LabelRecorder) -> LabelSummary {
        let uncorrected = rec.uncorrected_ns.as_ref().unwrap_or(&rec.latency_ns);
        LabelSummary {
            label: rec.name.to_string(),
            requests: rec.latency_ns.len(),
            errors: rec.errors,
            latency_ns: Latency::of(&rec.latency_ns),
            uncorrected_latency_ns: Latency::of(uncorrected),
            status_codes: rec
                .status_codes
                .iter()
                .map(|(code, n)| (code.to_string(), *n))
                .collect(),
            histogram_v2_base64: base64_v2(&rec.latency_ns),
        }
    }

    fn all(rec: &Recorder) -> Vec<LabelSummary> {
        rec.labels.iter().map(LabelSummary::of).collect()
    }
}

/// How a mix chose its entries: reported so that a run can be repeated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixSummary {
    /// `"random"`, `"round_robin"` or `"session"`.
    pub order: &'static str,
    /// The generator's seed (given in the plan, or drawn for this run).
    pub seed: u64,
    /// The labels, in entry order.
    pub labels: Vec<String>,
    /// Each label's weight, in entry order.
    pub weights: Vec<f64>,
}

impl Span {
    /// Summarises the merged recorder of `start..end`.
    pub fn new(start: Duration, end: Duration, rec: &Recorder) -> Span {
        let requests = rec.latency_ns.len();
        Span {
            start_ns: nanos(start),
            end_ns: nanos(end),
            requests,
            requests_per_s: per_second(requests, end.saturating_sub(start)),
            bytes_sent: rec.bytes_sent,
            bytes_received: rec.bytes_received,
            connections_opened: rec.connections_opened,
            errors: rec.errors,
            latency_ns: Latency::of(&rec.latency_ns),
            uncorrected_latency_ns: uncorrected(rec),
            histogram_v2_base64: base64_v2(&rec.latency_ns),
            tls: TlsSummary::of(rec, end.saturating_sub(start)),
            labels: LabelSummary::all(rec),
        }
    }
}

/// What became of the idle connections a plan asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IdleSummary {
    /// Asked for by the plan.
    pub requested: u64,
    /// Opened (and upgraded, for WebSocket).
    pub opened: u64,
    /// Still open when the run stopped.
    pub held: u64,
}

impl Summary {
    /// Builds the summary of a run from its merged recorder.
    pub fn new(
        plan: &Plan,
        stopped_by: StoppedBy,
        elapsed: Duration,
        rec: &Recorder,
        intervals: u64,
    ) -> Summary {
        let requests = rec.latency_ns.len();
        Summary {
            schema_version: SCHEMA_VERSION,
            target: plan.target.clone(),
            protocol: plan.protocol.name(),
            connections: plan.connections,
            threads: plan.threads,
            rate_per_s: plan.rate_per_s,
            stopped_by,
            duration_ns: nanos(elapsed),
            requests,
            requests_per_s: per_second(requests, elapsed),
            bytes_sent: rec.bytes_sent,
            bytes_received: rec.bytes_received,
            connections_opened: rec.connections_opened,
            errors: rec.errors,
            error_messages: error_messages(rec),
            latency_ns: Latency::of(&rec.latency_ns),
            uncorrected_latency_ns: uncorrected(rec),
            send_lag_ns: rec.send_lag_ns.as_ref().map(Latency::of),
            send_gap_ns: rec.send_gap_ns.as_ref().map(Latency::of),
            intervals,
            status_codes: status_codes(rec),
            non_2xx_3xx: non_2xx_3xx(rec),
            connect_ns: Latency::of(&rec.connect_ns),
            handshake_ns: rec.handshake_ns.as_ref().map(Latency::of),
            tls: TlsSummary::of(rec, elapsed),
            idle_connections: IdleSummary::default(),
            phases: Vec::new(),
            mix: plan.mix.as_ref().map(|mix| MixSummary {
                order: mix.order.name(),
                seed: mix.seed,
                labels: mix.labels(),
                weights: mix.entries.iter().map(|e| e.weight).collect(),
            }),
            labels: LabelSummary::all(rec),
        }
    }

    /// The summary as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a summary always serializes")
    }
}

/// One interval of a run, merged over the workers: what the warm-up driver watches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    /// 0 for the first interval.
    pub index: u64,
    /// The phase it belongs to ([`DEFAULT_PHASE`] unless one was marked).
    pub phase: String,
    /// The load in this interval (the run's last interval may be short).
    #[serde(flatten)]
    pub span: Span,
}

impl Interval {
    /// Summarises one interval's merged recorder.
    pub fn new(
        index: u64,
        phase: String,
        start: Duration,
        end: Duration,
        rec: &Recorder,
    ) -> Interval {
        Interval {
            index,
            phase,
            span: Span::new(start, end, rec),
        }
    }
}

/// Encodes a histogram in the HdrHistogram V2 compressed (deflate) format that other
/// HdrHistogram implementations read.
pub fn histogram_v2_deflate(hist: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(hist, &mut out)
        .expect("serializing into memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::Deserializer;

    #[test]
    fn empty_histogram_gives_zeros() {
        let l = Latency::of(&crate::recorder::latency_histogram());
        assert_eq!(l.count, 0);
        assert_eq!(l.max, 0);
        assert!(l.percentiles.iter().all(|&(_, v)| v == 0));
    }

    #[test]
    fn percentiles_are_ordered() {
        let mut h = crate::recorder::latency_histogram();
        for v in 1..=10_000u64 {
            h.record(v * 1000).unwrap();
        }
        let l = Latency::of(&h);
        let values: Vec<u64> = l.percentiles.iter().map(|&(_, v)| v).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        assert!(l.min <= values[0] && values[4] <= l.max);
        // p50 of 1..=10000 µs is 5 ms, within the histogram's 0.1% precision.
        assert!(
            (4_995_000..=5_006_000).contains(&values[0]),
            "{}",
            values[0]
        );
    }

    #[test]
    fn v2_deflate_round_trips() {
        let mut h = crate::recorder::latency_histogram();
        h.record(123_456).unwrap();
        h.record(7).unwrap();
        let bytes = histogram_v2_deflate(&h);
        // V2 compressed cookie, big endian.
        assert_eq!(&bytes[..4], &[0x1c, 0x84, 0x93, 0x14]);
        let back: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.max(), h.max());
    }
}
