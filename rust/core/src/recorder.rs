//! Per-worker measurements: latency histograms and plain counters, owned by one worker
//! thread. At every interval boundary each worker hands over its interval's recorder,
//! and the collector adds the workers' histograms for that interval; the run's and each
//! phase's totals are sums of histograms too, never percentiles of percentiles.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram tells apart; slower replies are recorded as this.
pub const MAX_LATENCY_NS: u64 = 3_600 * 1_000_000_000;
/// Significant decimal digits kept by every histogram.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A fresh latency histogram in nanoseconds.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Failures counted by kind. A failure never stops a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Errors {
    /// The server refused the connection.
    pub connect_refused: u64,
    /// A connection attempt took longer than the plan's connect timeout.
    pub connect_timeout: u64,
    /// A connection attempt failed otherwise.
    pub connect_other: u64,
    /// The connection was reset by the peer (or the pipe broke) mid-exchange.
    pub reset: u64,
    /// The peer closed the connection before a reply was complete.
    pub closed: u64,
    /// A reply did not arrive within the plan's request timeout.
    pub timeout: u64,
    /// The reply broke the protocol (e.g. more bytes than one reply holds).
    pub protocol: u64,
    /// Any other I/O error.
    pub io_other: u64,
    /// A socket could not be created: the process or the system ran out of file
    /// descriptors ("too many open files"; raise `ulimit -n`).
    pub fd_limit: u64,
    /// TLS: the server's certificate was rejected (unknown issuer, wrong name, expired).
    pub tls_certificate: u64,
    /// TLS: the handshake failed otherwise (no common version or cipher suite, a
    /// malformed message, the server closing mid-handshake).
    pub tls_handshake: u64,
    /// TLS: the server sent an alert (it refused the handshake or ended the session).
    pub tls_alert: u64,
}

impl Errors {
    /// Adds another set of counters into this one.
    pub fn add(&mut self, other: &Errors) {
        self.connect_refused += other.connect_refused;
        self.connect_timeout += other.connect_timeout;
        self.connect_other += other.connect_other;
        self.reset += other.reset;
        self.closed += other.closed;
        self.timeout += other.timeout;
        self.protocol += other.protocol;
        self.io_other += other.io_other;
        self.fd_limit += other.fd_limit;
        self.tls_certificate += other.tls_certificate;
        self.tls_handshake += other.tls_handshake;
        self.tls_alert += other.tls_alert;
    }

    /// All failures of every kind.
    pub fn total(&self) -> u64 {
        self.connect_refused
            + self.connect_timeout
            + self.connect_other
            + self.reset
            + self.closed
            + self.timeout
            + self.protocol
            + self.io_other
            + self.fd_limit
            + self.tls_certificate
            + self.tls_handshake
            + self.tls_alert
    }

    /// The count of one kind.
    pub fn of(&self, failure: Failure) -> u64 {
        match failure {
            Failure::ConnectRefused => self.connect_refused,
            Failure::ConnectTimeout => self.connect_timeout,
            Failure::ConnectOther => self.connect_other,
            Failure::Reset => self.reset,
            Failure::Closed => self.closed,
            Failure::Timeout => self.timeout,
            Failure::Protocol => self.protocol,
            Failure::IoOther => self.io_other,
            Failure::FdLimit => self.fd_limit,
            Failure::TlsCertificate => self.tls_certificate,
            Failure::TlsHandshake => self.tls_handshake,
            Failure::TlsAlert => self.tls_alert,
        }
    }
}

/// What went wrong with one connection or one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// See [`Errors::connect_refused`].
    ConnectRefused,
    /// See [`Errors::connect_timeout`].
    ConnectTimeout,
    /// See [`Errors::connect_other`].
    ConnectOther,
    /// See [`Errors::reset`].
    Reset,
    /// See [`Errors::closed`].
    Closed,
    /// See [`Errors::timeout`].
    Timeout,
    /// See [`Errors::protocol`].
    Protocol,
    /// See [`Errors::io_other`].
    IoOther,
    /// See [`Errors::fd_limit`].
    FdLimit,
    /// See [`Errors::tls_certificate`].
    TlsCertificate,
    /// See [`Errors::tls_handshake`].
    TlsHandshake,
    /// See [`Errors::tls_alert`].
    TlsAlert,
}

/// Whether an I/O error is "too many open files" (EMFILE for the process, ENFILE for
/// the system).
pub fn is_fd_limit(err: &io::Error) -> bool {
    use rustix::io::Errno;
    err.raw_os_error().is_some_and(|code| {
        code == Errno::MFILE.raw_os_error() || code == Errno::NFILE.raw_os_error()
    })
}

/// What to say the first time a socket could not be created for lack of descriptors.
pub fn fd_limit_message(err: &io::Error) -> String {
    let limit = match crate::plan::open_files_limit() {
        Some(n) => format!("currently {n}"),
        None => "currently unlimited".to_owned(),
    };
    let open = crate::plan::open_descriptors()
        .map(|n| format!(" with {n} descriptors open when this was counted"))
        .unwrap_or_default();
    format!(
        "{err}: this process may not open more files (ulimit -n, {limit}){open}; raise the \
         limit (ulimit -n) or ask for fewer connections and idle_connections"
    )
}

/// Kinds of failure, in the order of [`Errors`]' fields.
pub const FAILURES: [Failure; 12] = [
    Failure::ConnectRefused,
    Failure::ConnectTimeout,
    Failure::ConnectOther,
    Failure::Reset,
    Failure::Closed,
    Failure::Timeout,
    Failure::Protocol,
    Failure::IoOther,
    Failure::FdLimit,
    Failure::TlsCertificate,
    Failure::TlsHandshake,
    Failure::TlsAlert,
];

impl Failure {
    /// The name of its counter in [`Errors`] (and in the result JSON).
    pub fn name(self) -> &'static str {
        match self {
            Failure::ConnectRefused => "connect_refused",
            Failure::ConnectTimeout => "connect_timeout",
            Failure::ConnectOther => "connect_other",
            Failure::Reset => "reset",
            Failure::Closed => "closed",
            Failure::Timeout => "timeout",
            Failure::Protocol => "protocol",
            Failure::IoOther => "io_other",
            Failure::FdLimit => "fd_limit",
            Failure::TlsCertificate => "tls_certificate",
            Failure::TlsHandshake => "tls_handshake",
            Failure::TlsAlert => "tls_alert",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Classifies an error from a connection attempt.
    pub fn of_connect(err: &io::Error) -> Failure {
        if is_fd_limit(err) {
            return Failure::FdLimit;
        }
        match err.kind() {
            io::ErrorKind::ConnectionRefused => Failure::ConnectRefused,
            io::ErrorKind::TimedOut => Failure::ConnectTimeout,
            _ => Failure::ConnectOther,
        }
    }

    /// Classifies an error from reading or writing an open connection.
    pub fn of_io(err: &io::Error) -> Failure {
        if is_fd_limit(err) {
            return Failure::FdLimit;
        }
        match err.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Failure::Reset,
            io::ErrorKind::UnexpectedEof => Failure::Closed,
            io::ErrorKind::TimedOut => Failure::Timeout,
            _ => Failure::IoOther,
        }
    }
}

/// One worker's measurements, for one interval or a whole run.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency of every completed exchange, in nanoseconds. In open loop it is counted
    /// from the intended send time (corrected for coordinated omission).
    pub latency_ns: Histogram<u64>,
    /// Open loop only: latency counted from the actual send (uncorrected).
    pub uncorrected_ns: Option<Histogram<u64>>,
    /// Open loop only: how late the generator sent requests it could have sent on time.
    pub send_lag_ns: Option<Histogram<u64>>,
    /// Closed loop only: from a reply's last byte to the next request's write on that
    /// connection (think time excluded): the generator's own turnaround.
    pub send_gap_ns: Option<Histogram<u64>>,
    /// Time to open each connection (TCP connect).
    pub connect_ns: Histogram<u64>,
    /// WebSocket only: time of each opening handshake (the upgrade, after TCP and TLS).
    pub handshake_ns: Option<Histogram<u64>>,
    /// TLS only: time of each TLS handshake, after the TCP connect.
    pub tls_handshake_ns: Option<Histogram<u64>>,
    /// TLS handshakes that resumed a session (the others were full handshakes).
    pub tls_resumed: u64,
    /// HTTP only: responses by status code (index = code; empty for other protocols).
    pub status_codes: Vec<u64>,
    /// Bytes written to sockets.
    pub bytes_sent: u64,
    /// Bytes read from sockets.
    pub bytes_received: u64,
    /// Connections successfully opened.
    pub connections_opened: u64,
    /// Failures by kind.
    pub errors: Errors,
    /// The first message of each kind of failure seen, indexed like [`FAILURES`].
    pub messages: Messages,
    /// A mix only: the measurements of each label, in the mix's entry order.
    pub labels: Vec<LabelRecorder>,
}

/// One label's measurements in a mix.
#[derive(Debug, Clone)]
pub struct LabelRecorder {
    /// The label.
    pub name: Arc<str>,
    /// Latency, as [`Recorder::latency_ns`] (corrected in open loop).
    pub latency_ns: Histogram<u64>,
    /// Open loop only: latency from the actual send.
    pub uncorrected_ns: Option<Histogram<u64>>,
    /// HTTP only: responses by status code, in order of first appearance.
    pub status_codes: Vec<(u16, u64)>,
    /// Failures of this label's exchanges (the request in flight when they happened;
    /// connection failures belong to no label).
    pub errors: Errors,
}

/// A label's latency histogram: it starts small and grows with the slowest reply seen,
/// so that 64 labels cost little when their replies are fast.
fn label_histogram() -> Histogram<u64> {
    let mut hist = Histogram::new_with_bounds(1, 2, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid");
    hist.auto(true);
    hist
}

impl LabelRecorder {
    /// An empty recorder for label `name`; `open_loop` keeps the uncorrected latency.
    pub fn new(name: Arc<str>, open_loop: bool) -> LabelRecorder {
        LabelRecorder {
            name,
            latency_ns: label_histogram(),
            uncorrected_ns: open_loop.then(label_histogram),
            status_codes: Vec::new(),
            errors: Errors::default(),
        }
    }

    fn fresh(&self) -> LabelRecorder {
        LabelRecorder::new(Arc::clone(&self.name), self.uncorrected_ns.is_some())
    }

    fn status(&mut self, code: u16) {
        match self.status_codes.iter_mut().find(|(c, _)| *c == code) {
            Some((_, count)) => *count += 1,
            None => self.status_codes.push((code, 1)),
        }
    }

    fn merge(&mut self, other: &LabelRecorder) {
        add(&mut self.latency_ns, &other.latency_ns);
        if let (Some(a), Some(b)) = (self.uncorrected_ns.as_mut(), other.uncorrected_ns.as_ref()) {
            add(a, b);
        }
        for &(code, count) in &other.status_codes {
            match self.status_codes.iter_mut().find(|(c, _)| *c == code) {
                Some((_, mine)) => *mine += count,
                None => self.status_codes.push((code, count)),
            }
        }
        self.errors.add(&other.errors);
    }
}

/// The first message of each kind of failure. A message is built only the first time its
/// kind is seen by a recorder, so failures after it cost no allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Messages([Option<String>; FAILURES.len()]);

impl Messages {
    /// The first message of `failure`'s kind, if one was noted.
    pub fn first(&self, failure: Failure) -> Option<&str> {
        self.0[failure.index()].as_deref()
    }

    /// Keeps `message()` as the first message of its kind, unless one is kept already.
    pub fn note(&mut self, failure: Failure, message: impl FnOnce() -> String) {
        let slot = &mut self.0[failure.index()];
        if slot.is_none() {
            *slot = Some(message());
        }
    }

    /// Takes the other's messages for the kinds this one has none of (the first wins).
    pub fn merge(&mut self, other: &Messages) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new(Shape::default())
    }
}

/// Which optional measurements a recorder keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Uncorrected latency and send lag (open loop).
    pub open_loop: bool,
    /// Handshake times (WebSocket).
    pub handshake: bool,
    /// Status codes (HTTP).
    pub status_codes: bool,
    /// TLS handshake times.
    pub tls: bool,
}

impl Shape {
    /// What a run of `plan` measures.
    pub fn of(plan: &crate::plan::Plan) -> Shape {
        use crate::plan::ProtocolSpec;
        Shape {
            open_loop: plan.rate_per_s.is_some(),
            handshake: matches!(plan.protocol, ProtocolSpec::Ws(_)),
            status_codes: matches!(plan.protocol, ProtocolSpec::Http(_)),
            tls: plan.tls.is_some(),
        }
    }
}

/// Status codes tallied: 0 to 599 (HTTP has no others).
pub const STATUS_CODES: usize = 600;

fn record(hist: &mut Histogram<u64>, d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
    hist.saturating_record(ns);
}

/// Records into a growing (label) histogram, capped like the fixed ones.
fn record_grown(hist: &mut Histogram<u64>, d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    // `record` grows an auto-resizing histogram (`saturating_record` would clamp to its
    // current top); below the cap it cannot fail.
    let _ = hist.record(ns.clamp(1, MAX_LATENCY_NS));
}

fn add(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    into.add(from).expect("histograms share bounds");
}

impl Recorder {
    /// An empty recorder keeping the measurements `shape` asks for.
    pub fn new(shape: Shape) -> Recorder {
        Recorder {
            latency_ns: latency_histogram(),
            uncorrected_ns: shape.open_loop.then(latency_histogram),
            send_lag_ns: shape.open_loop.then(latency_histogram),
            send_gap_ns: (!shape.open_loop).then(latency_histogram),
            connect_ns: latency_histogram(),
            handshake_ns: shape.handshake.then(latency_histogram),
            tls_handshake_ns: shape.tls.then(latency_histogram),
            tls_resumed: 0,
            status_codes: if shape.status_codes {
                vec![0; STATUS_CODES]
            } else {
                Vec::new()
            },
            bytes_sent: 0,
            bytes_received: 0,
            connections_opened: 0,
            errors: Errors::default(),
            messages: Messages::default(),
            labels: Vec::new(),
        }
    }

    /// An empty recorder for a run of `plan`: its shape, and its mix's labels.
    pub fn for_plan(plan: &crate::plan::Plan) -> Recorder {
        let shape = Shape::of(plan);
        let mut rec = Recorder::new(shape);
        if let Some(mix) = &plan.mix {
            rec.labels = mix
                .entries
                .iter()
                .map(|e| LabelRecorder::new(Arc::from(e.label.as_str()), shape.open_loop))
                .collect();
        }
        rec
    }

    /// What this recorder keeps.
    pub fn shape(&self) -> Shape {
        Shape {
            open_loop: self.uncorrected_ns.is_some(),
            handshake: self.handshake_ns.is_some(),
            status_codes: !self.status_codes.is_empty(),
            tls: self.tls_handshake_ns.is_some(),
        }
    }

    /// An empty recorder of the same shape.
    pub fn fresh(&self) -> Recorder {
        let mut rec = Recorder::new(self.shape());
        rec.labels = self.labels.iter().map(LabelRecorder::fresh).collect();
        rec
    }

    /// Records a completed exchange of label `label` (a mix's entry index), with its
    /// HTTP status; a plan without a mix keeps no labels and this does nothing.
    pub fn label_exchange(
        &mut self,
        label: usize,
        latency: Duration,
        uncorrected: Option<Duration>,
        status: Option<u16>,
    ) {
        let Some(rec) = self.labels.get_mut(label) else {
            return;
        };
        record_grown(&mut rec.latency_ns, latency);
        if let (Some(hist), Some(d)) = (rec.uncorrected_ns.as_mut(), uncorrected) {
            record_grown(hist, d);
        }
        if let Some(code) = status {
            rec.status(code);
        }
    }

    /// Counts a failure of an exchange of label `label`, beside the run's count.
    pub fn label_failure(&mut self, label: usize, failure: Failure) {
        if let Some(rec) = self.labels.get_mut(label) {
            let mut one = Errors::default();
            one.count(failure);
            rec.errors.add(&one);
        }
    }

    /// Records one completed exchange. `uncorrected` is the latency from the actual
    /// send, when it differs from `latency` (open loop).
    pub fn exchange(&mut self, latency: Duration, uncorrected: Option<Duration>) {
        record(&mut self.latency_ns, latency);
        if let (Some(hist), Some(d)) = (self.uncorrected_ns.as_mut(), uncorrected) {
            record(hist, d);
        }
    }

    /// Counts an HTTP response's status.
    pub fn status(&mut self, code: u16) {
        if let Some(count) = self.status_codes.get_mut(usize::from(code)) {
            *count += 1;
        }
    }

    /// Records a connection opened after `connect`.
    pub fn connected(&mut self, connect: Duration) {
        record(&mut self.connect_ns, connect);
        self.connections_opened += 1;
    }

    /// Records an opening handshake.
    pub fn handshake(&mut self, took: Duration) {
        if let Some(hist) = self.handshake_ns.as_mut() {
            record(hist, took);
        }
    }

    /// Records a TLS handshake, full or `resumed`.
    pub fn tls_handshake(&mut self, took: Duration, resumed: bool) {
        if let Some(hist) = self.tls_handshake_ns.as_mut() {
            record(hist, took);
        }
        self.tls_resumed += u64::from(resumed);
    }

    /// Records how late a request was sent against its schedule.
    pub fn send_lag(&mut self, lag: Duration) {
        if let Some(hist) = self.send_lag_ns.as_mut() {
            // Zero lag is the common case; the histogram's floor is 1 ns.
            record(hist, lag);
        }
    }

    /// Records the generator's turnaround between a reply and the next request.
    pub fn send_gap(&mut self, gap: Duration) {
        if let Some(hist) = self.send_gap_ns.as_mut() {
            record(hist, gap);
        }
    }

    /// Counts one failure.
    pub fn failure(&mut self, failure: Failure) {
        self.errors.count(failure);
    }
}

impl Errors {
    /// Counts one failure of its kind.
    pub fn count(&mut self, failure: Failure) {
        let e = self;
        let counter = match failure {
            Failure::ConnectRefused => &mut e.connect_refused,
            Failure::ConnectTimeout => &mut e.connect_timeout,
            Failure::ConnectOther => &mut e.connect_other,
            Failure::Reset => &mut e.reset,
            Failure::Closed => &mut e.closed,
            Failure::Timeout => &mut e.timeout,
            Failure::Protocol => &mut e.protocol,
            Failure::IoOther => &mut e.io_other,
            Failure::FdLimit => &mut e.fd_limit,
            Failure::TlsCertificate => &mut e.tls_certificate,
            Failure::TlsHandshake => &mut e.tls_handshake,
            Failure::TlsAlert => &mut e.tls_alert,
        };
        *counter += 1;
    }
}

impl Recorder {
    /// Counts one failure and keeps `message()` if it is the first of its kind here.
    pub fn failure_with(&mut self, failure: Failure, message: impl FnOnce() -> String) {
        self.failure(failure);
        self.messages.note(failure, message);
    }

    /// Adds another recorder's measurements into this one.
    pub fn merge(&mut self, other: &Recorder) {
        add(&mut self.latency_ns, &other.latency_ns);
        if let (Some(a), Some(b)) = (self.uncorrected_ns.as_mut(), other.uncorrected_ns.as_ref()) {
            add(a, b);
        }
        if let (Some(a), Some(b)) = (self.send_lag_ns.as_mut(), other.send_lag_ns.as_ref()) {
            add(a, b);
        }
        if let (Some(a), Some(b)) = (self.send_gap_ns.as_mut(), other.send_gap_ns.as_ref()) {
            add(a, b);
        }
        add(&mut self.connect_ns, &other.connect_ns);
        if let (Some(a), Some(b)) = (self.handshake_ns.as_mut(), other.handshake_ns.as_ref()) {
            add(a, b);
        }
        if let (Some(a), Some(b)) = (
            self.tls_handshake_ns.as_mut(),
            other.tls_handshake_ns.as_ref(),
        ) {
            add(a, b);
        }
        self.tls_resumed += other.tls_resumed;
        for (mine, theirs) in self.status_codes.iter_mut().zip(&other.status_codes) {
            *mine += theirs;
        }
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.connections_opened += other.connections_opened;
        self.errors.add(&other.errors);
        self.messages.merge(&other.messages);
        if self.labels.is_empty() {
            // A total made with `Recorder::new` takes the labels of what it adds up.
            self.labels = other.labels.iter().map(LabelRecorder::fresh).collect();
        }
        for (mine, theirs) in self.labels.iter_mut().zip(&other.labels) {
            mine.merge(theirs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_grow_to_any_latency_and_merge_by_addition() {
        let labelled = || {
            let mut rec = Recorder::new(Shape {
                status_codes: true,
                ..Shape::default()
            });
            rec.labels = ["a", "b"]
                .iter()
                .map(|&n| LabelRecorder::new(Arc::from(n), false))
                .collect();
            rec
        };
        let mut a = labelled();
        let mut b = a.fresh();
        assert_eq!(b.labels.len(), 2, "a fresh recorder keeps the labels");
        a.label_exchange(0, Duration::from_micros(100), None, Some(200));
        b.label_exchange(0, Duration::from_millis(50), None, Some(404));
        b.label_exchange(1, Duration::from_secs(2), None, Some(200));
        b.label_failure(1, Failure::Timeout);
        a.label_exchange(7, Duration::from_millis(1), None, None); // no such label: ignored
        let mut total = Recorder::new(a.shape());
        total.merge(&a);
        total.merge(&b);
        let first = &total.labels[0];
        assert_eq!(first.latency_ns.len(), 2);
        let max = first.latency_ns.max();
        assert!(max.abs_diff(50_000_000) < 50_000, "{max}");
        assert_eq!(first.status_codes, [(200, 1), (404, 1)]);
        let second = &total.labels[1];
        assert!(second.latency_ns.max() >= 1_990_000_000);
        assert_eq!((second.errors.timeout, second.errors.total()), (1, 1));
        assert_eq!(
            total.errors.total(),
            0,
            "label failures are counted by the caller"
        );
    }

    #[test]
    fn merge_adds_histograms_not_percentiles() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        for _ in 0..99 {
            a.exchange(Duration::from_micros(100), None);
            a.bytes_sent += 10;
        }
        b.exchange(Duration::from_millis(50), None);
        b.bytes_sent += 10;
        b.failure(Failure::Reset);
        a.merge(&b);
        assert_eq!(a.latency_ns.len(), 100);
        assert_eq!(a.bytes_sent, 1000);
        assert_eq!(a.errors.reset, 1);
        assert_eq!(a.errors.total(), 1);
        // The one slow reply is the top 1%: p99 stays fast, the max is the slow one.
        assert!(a.latency_ns.value_at_quantile(0.99) < 101_000);
        assert!(a.latency_ns.max() >= 50_000_000);
    }

    #[test]
    fn open_loop_keeps_both_latencies_and_lag() {
        let mut a = Recorder::new(Shape {
            open_loop: true,
            ..Shape::default()
        });
        a.exchange(Duration::from_millis(30), Some(Duration::from_millis(1)));
        a.send_lag(Duration::ZERO);
        let mut b = a.fresh();
        b.exchange(Duration::from_millis(2), Some(Duration::from_millis(2)));
        a.merge(&b);
        assert_eq!(a.latency_ns.len(), 2);
        let unc = a.uncorrected_ns.as_ref().unwrap();
        assert_eq!(unc.len(), 2);
        assert!(unc.max() < 3_000_000 && a.latency_ns.max() >= 30_000_000);
        assert_eq!(a.send_lag_ns.as_ref().unwrap().len(), 1);
        // Closed loop keeps one histogram only.
        assert!(Recorder::default().uncorrected_ns.is_none());
    }

    #[test]
    fn status_codes_merge() {
        let http = Shape {
            status_codes: true,
            ..Shape::default()
        };
        let mut a = Recorder::new(http);
        a.status(200);
        a.status(404);
        let mut b = a.fresh();
        b.status(404);
        b.status(999); // not HTTP; ignored rather than a panic
        a.merge(&b);
        assert_eq!((a.status_codes[200], a.status_codes[404]), (1, 2));
        Recorder::default().status(200); // no tally kept, no panic
    }

    #[test]
    fn io_errors_are_classified() {
        let e = |k| io::Error::from(k);
        assert_eq!(
            Failure::of_io(&e(io::ErrorKind::BrokenPipe)),
            Failure::Reset
        );
        assert_eq!(
            Failure::of_io(&e(io::ErrorKind::UnexpectedEof)),
            Failure::Closed
        );
        assert_eq!(
            Failure::of_connect(&e(io::ErrorKind::ConnectionRefused)),
            Failure::ConnectRefused
        );
    }

    #[test]
    fn too_many_open_files_is_its_own_kind_and_says_which_limit() {
        use rustix::io::Errno;
        for errno in [Errno::MFILE, Errno::NFILE] {
            let err = io::Error::from_raw_os_error(errno.raw_os_error());
            assert_eq!(Failure::of_connect(&err), Failure::FdLimit);
            assert_eq!(Failure::of_io(&err), Failure::FdLimit);
            let words = fd_limit_message(&err);
            assert!(words.contains("ulimit -n, currently"), "{words}");
        }
        let other = io::Error::from_raw_os_error(Errno::NETUNREACH.raw_os_error());
        assert_eq!(Failure::of_connect(&other), Failure::ConnectOther);
        let mut r = Recorder::default();
        r.failure(Failure::FdLimit);
        assert_eq!((r.errors.fd_limit, r.errors.total()), (1, 1));
        assert_eq!(r.errors.of(Failure::FdLimit), 1);
    }

    #[test]
    fn the_first_message_of_a_kind_wins_and_counts_add() {
        let mut a = Recorder::default();
        let mut built = 0;
        for i in 0..3 {
            a.failure_with(Failure::Protocol, || {
                built += 1;
                format!("first {i}")
            });
        }
        assert_eq!(built, 1, "the message is built once");
        let mut b = a.fresh();
        b.failure_with(Failure::Protocol, || "second".into());
        b.failure_with(Failure::Reset, || "reset by peer".into());
        a.merge(&b);
        assert_eq!(a.errors.protocol, 4);
        assert_eq!(a.messages.first(Failure::Protocol), Some("first 0"));
        assert_eq!(a.messages.first(Failure::Reset), Some("reset by peer"));
        assert_eq!(a.messages.first(Failure::Timeout), None);
        for (i, kind) in FAILURES.iter().enumerate() {
            assert_eq!(kind.index(), i, "{}", kind.name());
        }
    }

    #[test]
    fn absurd_latency_saturates() {
        let mut r = Recorder::default();
        r.exchange(Duration::from_secs(10 * 3600), None);
        assert_eq!(r.latency_ns.len(), 1);
        assert!(r.latency_ns.max() >= MAX_LATENCY_NS);
    }
}
