//! The plan: what to load, how hard and for how long, parsed from JSON and validated
//! before any socket is opened.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;

use crate::mix::Mix;

/// The plan format this engine speaks; a plan carrying another number is refused.
pub const ABI_VERSION: u32 = 2;

/// Largest request payload a plan may ask for.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;
/// Largest number of connections a plan may ask for.
pub const MAX_CONNECTIONS: u32 = 1_000_000;
/// Largest number of worker threads a plan may ask for.
pub const MAX_THREADS: u32 = 1024;

/// Why a plan cannot run. Every variant names what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The JSON text is malformed, or a field is unknown, missing or of the wrong type.
    Json {
        /// Dotted path of the offending field (`.` for the top level).
        path: String,
        /// What serde found wrong there.
        message: String,
    },
    /// The plan was written for another version of the plan format.
    AbiMismatch {
        /// The version this engine speaks.
        expected: u32,
        /// The version the plan carries.
        found: u32,
    },
    /// A field has a value the engine cannot run with.
    Invalid {
        /// Name of the field.
        field: &'static str,
        /// What is wrong and what to do about it.
        message: String,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Json { path, message } if path == "." => {
                write!(f, "plan JSON: {message}")
            }
            PlanError::Json { path, message } => write!(f, "plan field `{path}`: {message}"),
            PlanError::AbiMismatch { expected, found } => write!(
                f,
                "plan field `abi_version`: the plan is for ABI {found} but this engine speaks \
                 ABI {expected}; reinstall cannonade so the package and its native library match"
            ),
            PlanError::Invalid { field, message } => write!(f, "plan field `{field}`: {message}"),
        }
    }
}

impl std::error::Error for PlanError {}

/// How the server's reply to one request is delimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The reply is as long as the request payload (an echo server).
    Echo,
    /// The reply has a fixed length in bytes.
    Fixed {
        /// Length of every reply.
        bytes: usize,
    },
    /// The reply ends with a delimiter (which is part of it).
    Delimiter {
        /// The delimiter, hex encoded.
        delimiter_hex: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixedReply {
    #[allow(dead_code)]
    kind: String,
    bytes: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DelimiterReply {
    #[allow(dead_code)]
    kind: String,
    delimiter_hex: String,
}

/// Longest delimiter a plan may give.
pub const MAX_DELIMITER_BYTES: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    #[allow(dead_code)]
    kind: String,
    payload_hex: String,
    reply: serde_json::Value,
    /// TLS over the TCP connection (HTTP and WebSocket take it from the URL's scheme).
    #[serde(default)]
    tls: bool,
    /// A mix: entries sent instead of the one request above (see [`crate::mix`]).
    requests: Option<Vec<RawTcpEntry>>,
    mix: Option<String>,
    seed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[allow(dead_code)]
    kind: String,
    url: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body_hex: String,
    #[serde(default)]
    close: bool,
    #[serde(default = "default_pipeline")]
    pipeline: u32,
    /// A mix: entries sent instead of the one request above (see [`crate::mix`]).
    requests: Option<Vec<RawHttpEntry>>,
    mix: Option<String>,
    seed: Option<u64>,
}

fn default_method() -> String {
    "GET".into()
}

fn default_pipeline() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWs {
    #[allow(dead_code)]
    kind: String,
    url: String,
    message_hex: String,
    #[serde(default)]
    binary: bool,
    frame_bytes: Option<usize>,
    /// Write each message to the socket in pieces of at most this many bytes.
    chunk_bytes: Option<usize>,
    subprotocol: Option<String>,
    #[serde(default = "default_pipeline")]
    pipeline: u32,
    /// A mix: entries sent instead of the one request above (see [`crate::mix`]).
    requests: Option<Vec<RawWsEntry>>,
    mix: Option<String>,
    seed: Option<u64>,
}

/// One entry of a TCP mix; the reply defaults to the protocol's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcpEntry {
    label: Option<String>,
    weight: Option<f64>,
    payload_hex: String,
    reply: Option<serde_json::Value>,
}

/// One entry of an HTTP mix: the method defaults to GET; the protocol's headers are
/// sent before the entry's own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpEntry {
    label: Option<String>,
    weight: Option<f64>,
    method: Option<String>,
    path: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body_hex: String,
}

/// One entry of a WebSocket mix: a message, or a size (a message of that many bytes of
/// a printable pattern); text or binary as the protocol says unless given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWsEntry {
    label: Option<String>,
    weight: Option<f64>,
    message_hex: Option<String>,
    size: Option<usize>,
    binary: Option<bool>,
}

/// The plan as it arrives in JSON, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    abi_version: u32,
    target: Option<String>,
    connections: u32,
    threads: Option<u32>,
    duration_ms: Option<u64>,
    requests: Option<u64>,
    #[serde(default = "default_connect_timeout_ms")]
    connect_timeout_ms: u64,
    #[serde(default = "default_request_timeout_ms")]
    request_timeout_ms: Option<u64>,
    #[serde(default = "default_true")]
    reconnect: bool,
    rate_per_s: Option<f64>,
    #[serde(default = "default_interval_ms")]
    interval_ms: u64,
    requests_per_connection: Option<u64>,
    connection_rate_per_s: Option<f64>,
    #[serde(default)]
    idle_connections: u32,
    think_time_ms: Option<u64>,
    /// TLS: a PEM file of the CA certificates to trust instead of the system's.
    cacert: Option<String>,
    /// TLS: accept any certificate.
    #[serde(default)]
    insecure: bool,
    /// TLS: the server name to ask for and check, instead of the URL's host.
    sni: Option<String>,
    /// TLS: resume sessions on new connections (default false: full handshakes).
    tls_resume: Option<bool>,
    /// TLS: "1.2" or "1.3" alone (default: either, as the server chooses).
    tls_version: Option<String>,
    // Kept as JSON and decoded by its `kind`, so errors inside keep their full path
    // (serde loses the path inside internally tagged enums).
    protocol: serde_json::Value,
}

fn default_connect_timeout_ms() -> u64 {
    2_000
}

fn default_request_timeout_ms() -> Option<u64> {
    Some(10_000)
}

fn default_true() -> bool {
    true
}

fn default_interval_ms() -> u64 {
    1_000
}

/// Highest total request rate a plan may ask for.
pub const MAX_RATE_PER_S: f64 = 100_000_000.0;
/// Lowest rate (requests or connections per second) a plan may ask for: one every 11.6
/// days. Below it the period stops being a number a schedule can keep (at 1e-300/s,
/// 1e9 / rate ns is infinite).
pub const MIN_RATE_PER_S: f64 = 1e-6;

/// Checks a rate field: finite, within [`MIN_RATE_PER_S`, `MAX_RATE_PER_S`].
fn check_rate(field: &'static str, what: &str, rate: f64) -> Result<(), PlanError> {
    if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE_PER_S) {
        return Err(invalid(
            field,
            format!("must be a positive rate up to {MAX_RATE_PER_S} {what}/s, got {rate}"),
        ));
    }
    if rate < MIN_RATE_PER_S {
        return Err(invalid(
            field,
            format!(
                "{rate} {what}/s is too small to schedule; the smallest rate is \
                 {MIN_RATE_PER_S} {what}/s (one every 11.6 days)"
            ),
        ));
    }
    Ok(())
}
/// Shortest interval between snapshots.
pub const MIN_INTERVAL_MS: u64 = 10;

/// How a TCP reply ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// After this many bytes.
    Length(usize),
    /// With these bytes (at most 16 MiB into the reply).
    Delimiter(Vec<u8>),
}

/// The TCP protocol, decoded and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSpec {
    /// Bytes sent as one request.
    pub payload: Vec<u8>,
    /// Where each reply ends.
    pub framing: Framing,
}

/// HTTP/1.1, decoded and checked: the request is encoded once, at plan time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// The whole request, as sent.
    pub request: Vec<u8>,
    /// The request is HEAD: replies carry no body.
    pub head: bool,
    /// Every request says `Connection: close`.
    pub close: bool,
    /// Requests in flight per connection.
    pub pipeline: u32,
}

/// A WebSocket echo exchange, decoded and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsSpec {
    /// `Host` header value (the URL's authority).
    pub host: String,
    /// Request target of the opening handshake.
    pub path: String,
    /// Subprotocol to ask for.
    pub subprotocol: Option<String>,
    /// The message sent, and echoed back, per request.
    pub message: Vec<u8>,
    /// Binary (true) or text (false) messages.
    pub binary: bool,
    /// Split each message into frames of at most this many bytes.
    pub frame_bytes: Option<usize>,
    /// Write the encoded messages to the socket in pieces of at most this many bytes,
    /// one write each (AutobahnTestSuite's 9.5 and 9.6 cases); None writes them at once.
    pub chunk_bytes: Option<usize>,
    /// Messages in flight per connection (echoes come back in order).
    pub pipeline: u32,
}

/// Which certificates a TLS client trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's trust store (read once, when the plan is validated).
    System(Vec<CertificateDer<'static>>),
    /// The CA certificates of a PEM file (`cacert`).
    CaFile {
        /// The file as the plan names it.
        path: String,
        /// Its certificates, each checked to be usable as a trust anchor.
        certs: Vec<CertificateDer<'static>>,
    },
    /// Any certificate (`insecure`): for a self-signed server on loopback.
    Any,
}

/// A TLS version a plan may pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// TLS over the plan's connections, decoded and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    /// The name sent as SNI (none for an IP address) and checked in the certificate.
    pub server_name: ServerName<'static>,
    /// The certificates trusted.
    pub trust: Trust,
    /// Resume sessions on new connections, or make every handshake a full one.
    pub resume: bool,
    /// Offered ALPN protocols (`http/1.1` for HTTP and WebSocket, none for TCP).
    pub alpn: Vec<Vec<u8>>,
    /// One version only, or `None` for either.
    pub version: Option<TlsVersion>,
}

/// The protocol of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolSpec {
    /// Raw TCP.
    Tcp(TcpSpec),
    /// HTTP/1.1.
    Http(HttpSpec),
    /// WebSocket.
    Ws(WsSpec),
}

impl ProtocolSpec {
    /// The protocol's name in results.
    pub fn name(&self) -> &'static str {
        match self {
            ProtocolSpec::Tcp(_) => "tcp",
            ProtocolSpec::Http(_) => "http",
            ProtocolSpec::Ws(_) => "ws",
        }
    }

    /// Requests in flight per connection.
    pub fn pipeline(&self) -> usize {
        match self {
            ProtocolSpec::Http(h) => h.pipeline as usize,
            ProtocolSpec::Ws(w) => w.pipeline as usize,
            _ => 1,
        }
    }

    /// The largest piece a request is written in, one write each; None writes it at once.
    pub fn chunk_bytes(&self) -> Option<usize> {
        match self {
            ProtocolSpec::Ws(w) => w.chunk_bytes,
            _ => None,
        }
    }
}

/// A URL split into what a client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    /// The scheme is the TLS one (`https://`, `wss://`).
    tls: bool,
    /// The host alone, without brackets (the TLS server name).
    host: String,
    /// `host:port` to connect to.
    address: String,
    /// The authority as written (the `Host` header).
    host_header: String,
    /// Path and query (`/` when empty).
    path: String,
}

/// Splits `scheme://host[:port][/path]` (or `tls_scheme://...`, its TLS form);
/// `field` names the plan field in errors.
fn parse_url(
    url: &str,
    scheme: &str,
    tls_scheme: &str,
    field: &'static str,
) -> Result<Url, PlanError> {
    let Some((given, rest)) = url.split_once("://") else {
        return Err(invalid(
            field,
            format!("{url:?} is not a URL; write it as {scheme}://host:port/path"),
        ));
    };
    let given = given.to_ascii_lowercase();
    if given != scheme && given != tls_scheme {
        let message = format!(
            "{url:?} has scheme {given}://; this protocol needs {scheme}:// or {tls_scheme}://"
        );
        return Err(invalid(field, message));
    }
    let tls = given == tls_scheme;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if path.contains('#') {
        return Err(invalid(
            field,
            format!("{url:?}: remove the #fragment, it is never sent"),
        ));
    }
    if authority.contains('@') {
        return Err(invalid(
            field,
            format!(
                "{url:?}: user:password@ in the URL is not supported; \
                 send an Authorization header instead"
            ),
        ));
    }
    let example = format!("{scheme}://127.0.0.1:8080/");
    let (host, port) = split_host_port(authority, field, url, &example)?;
    let address = match port {
        Some(_) => authority.to_string(),
        None if tls => format!("{authority}:443"),
        None => format!("{authority}:80"),
    };
    Ok(Url {
        tls,
        host: bare_host(host).to_string(),
        address,
        host_header: authority.to_string(),
        path,
    })
}

/// Splits `host[:port]` (an IPv6 host in brackets) and checks both parts, so that a
/// mistake gets a message about what was written rather than a failed DNS lookup.
/// `what` is the text the user wrote, `example` a correct one.
fn split_host_port<'a>(
    authority: &'a str,
    field: &'static str,
    what: &str,
    example: &str,
) -> Result<(&'a str, Option<u16>), PlanError> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some(end) = bracketed.find(']') else {
            return Err(invalid(
                field,
                format!("bad IPv6 address in brackets in {what:?}"),
            ));
        };
        let rest = &bracketed[end + 1..];
        let port = match rest.strip_prefix(':') {
            Some(port) => Some(port),
            None if rest.is_empty() => None,
            None => {
                return Err(invalid(
                    field,
                    format!("bad IPv6 address in brackets in {what:?}"),
                ))
            }
        };
        (&authority[..end + 2], port)
    } else {
        match authority.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(invalid(
                    field,
                    format!("write an IPv6 address in brackets, e.g. [::1]:8080, in {what:?}"),
                ))
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(invalid(
            field,
            format!("{what:?} has no host (e.g. {example})"),
        ));
    }
    let port = match port {
        None => None,
        Some(port) => match port.parse::<u16>() {
            Ok(n) if n > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                return Err(invalid(
                    field,
                    format!("the port must be 1-65535 (e.g. {example}), got {what:?}"),
                ))
            }
        },
    };
    Ok((host, port))
}

/// A host as `split_host_port` gives it, without an IPv6 address's brackets.
fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn http_spec(raw: RawHttp) -> Result<(Url, HttpSpec, Option<Mix>), PlanError> {
    let url = parse_url(&raw.url, "http", "https", "protocol.url")?;
    if raw.pipeline == 0 || raw.pipeline > 1024 {
        return Err(invalid(
            "protocol.pipeline",
            format!("must be between 1 and 1024, got {}", raw.pipeline),
        ));
    }
    if raw.pipeline > 1 && raw.close {
        return Err(invalid(
            "protocol.pipeline",
            format!(
                "pipeline {} with close: a connection closed after each reply has one \
                 request in flight; set pipeline to 1 or close to false",
                raw.pipeline
            ),
        ));
    }
    let request = encode_http(
        &raw.method,
        &url,
        &url.path,
        &raw.headers,
        &raw.body_hex,
        raw.close,
        "protocol.url",
    )?;
    let mix = crate::mix::mix_of(raw.requests, raw.mix, raw.seed, |i, entry| {
        let method = entry.method.as_deref().unwrap_or("GET");
        let mut headers = raw.headers.clone();
        headers.extend(entry.headers);
        let request = encode_http(
            method,
            &url,
            &entry.path,
            &headers,
            &entry.body_hex,
            raw.close,
            "protocol.path",
        )
        .map_err(|e| crate::mix::in_entry(i, e))?;
        let default_label = match method {
            "GET" => entry.path.clone(),
            _ => format!("{method} {}", entry.path),
        };
        Ok(crate::mix::Built {
            label: entry.label,
            weight: entry.weight,
            request: crate::mix::Request::Http {
                request,
                head: method.eq_ignore_ascii_case("HEAD"),
            },
            default_label,
        })
    })?;
    let spec = HttpSpec {
        request,
        head: raw.method.eq_ignore_ascii_case("HEAD"),
        close: raw.close,
        pipeline: raw.pipeline,
    };
    Ok((url, spec, mix))
}

/// Encodes one HTTP request; `path_field` names where its path came from in errors.
fn encode_http(
    method: &str,
    url: &Url,
    path: &str,
    headers: &[(String, String)],
    body_hex: &str,
    close: bool,
    path_field: &'static str,
) -> Result<Vec<u8>, PlanError> {
    let body = decode_hex(body_hex).map_err(|m| invalid("protocol.body_hex", m))?;
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(invalid(
            "protocol.body_hex",
            format!("the body is {} bytes; the maximum is 16 MiB", body.len()),
        ));
    }
    crate::codec::http::encode_request(&crate::codec::http::RequestSpec {
        method,
        host: &url.host_header,
        path,
        headers,
        body: &body,
        close,
    })
    .map_err(|e| {
        use crate::codec::http::RequestError;
        let field = match e {
            RequestError::BadMethod(_) => "protocol.method",
            RequestError::BadPath { .. } => path_field,
            RequestError::BadHost(_) => "protocol.url",
            RequestError::BadHeaderName(_)
            | RequestError::BadHeaderValue { .. }
            | RequestError::FramingHeader(_) => "protocol.headers",
        };
        invalid(field, e.to_string())
    })
}

fn ws_spec(raw: RawWs) -> Result<(Url, WsSpec, Option<Mix>), PlanError> {
    let url = parse_url(&raw.url, "ws", "wss", "protocol.url")?;
    let message = ws_message(&raw.message_hex, raw.binary)?;
    let mix = crate::mix::mix_of(raw.requests, raw.mix, raw.seed, |i, entry| {
        let binary = entry.binary.unwrap_or(raw.binary);
        let (message, default_label) = match (entry.message_hex, entry.size) {
            (Some(hex), None) => {
                let message = ws_message(&hex, binary).map_err(|e| crate::mix::in_entry(i, e))?;
                let label = format!("message {i}");
                (message, label)
            }
            (None, Some(size)) if size <= MAX_PAYLOAD_BYTES => (pattern(size), format!("{size} B")),
            (None, Some(size)) => {
                return Err(crate::mix::in_entry(
                    i,
                    invalid(
                        "protocol.size",
                        format!("{size} bytes; the maximum is {MAX_PAYLOAD_BYTES} (16 MiB)"),
                    ),
                ))
            }
            (Some(_), Some(_)) | (None, None) => {
                return Err(crate::mix::in_entry(
                    i,
                    invalid(
                        "protocol.message_hex",
                        "give message_hex or size (one of them)",
                    ),
                ))
            }
        };
        Ok(crate::mix::Built {
            label: entry.label,
            weight: entry.weight,
            request: crate::mix::Request::Ws { message, binary },
            default_label,
        })
    })?;
    if raw.pipeline == 0 || raw.pipeline > 1024 {
        return Err(invalid(
            "protocol.pipeline",
            format!("must be between 1 and 1024, got {}", raw.pipeline),
        ));
    }
    if raw.frame_bytes == Some(0) {
        return Err(invalid("protocol.frame_bytes", "must be at least 1, got 0"));
    }
    if raw.chunk_bytes == Some(0) {
        return Err(invalid(
            "protocol.chunk_bytes",
            "must be at least 1 (or null to write each message at once), got 0",
        ));
    }
    // Checked here so that a bad host, path or subprotocol is a plan error.
    crate::codec::ws::handshake_request(
        &url.host_header,
        &url.path,
        raw.subprotocol.as_deref(),
        [0; 16],
    )
    .map_err(|e| invalid("protocol", e.to_string()))?;
    let spec = WsSpec {
        host: url.host_header.clone(),
        path: url.path.clone(),
        subprotocol: raw.subprotocol,
        message,
        binary: raw.binary,
        frame_bytes: raw.frame_bytes,
        chunk_bytes: raw.chunk_bytes,
        pipeline: raw.pipeline,
    };
    Ok((url, spec, mix))
}

/// A WebSocket message from hex, checked to be UTF-8 when it is text.
fn ws_message(hex: &str, binary: bool) -> Result<Vec<u8>, PlanError> {
    if hex.len() / 2 > MAX_PAYLOAD_BYTES {
        return Err(invalid(
            "protocol.message_hex",
            format!(
                "the message is {} bytes; the maximum is 16 MiB",
                hex.len() / 2
            ),
        ));
    }
    let message = decode_hex(hex).map_err(|m| invalid("protocol.message_hex", m))?;
    if !binary && std::str::from_utf8(&message).is_err() {
        return Err(invalid(
            "protocol.message_hex",
            "a text message must be UTF-8; set binary to true to send other bytes",
        ));
    }
    Ok(message)
}

/// `size` bytes of a printable pattern (valid UTF-8, recognisable in a capture).
fn pattern(size: usize) -> Vec<u8> {
    const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    PATTERN.iter().copied().cycle().take(size).collect()
}

/// A validated plan: every field within bounds, the target resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The target as the user wrote it (for reports).
    pub target: String,
    /// The resolved target address.
    pub addr: SocketAddr,
    /// Number of concurrent connections, spread over the workers.
    pub connections: u32,
    /// Number of worker threads, each with its own event loop.
    pub threads: u32,
    /// Stop after this long, if set.
    pub duration: Option<Duration>,
    /// Stop after this many completed requests in all, if set.
    pub requests: Option<u64>,
    /// Give up a connection attempt after this long.
    pub connect_timeout: Duration,
    /// Give up waiting for a reply after this long, if set.
    pub request_timeout: Option<Duration>,
    /// Reopen a connection that failed, instead of retiring it.
    pub reconnect: bool,
    /// Open loop at this total rate (requests per second), or closed loop if `None`.
    pub rate_per_s: Option<f64>,
    /// Length of the interval between snapshots.
    pub interval: Duration,
    /// Churn: close each connection after this many exchanges and open a new one.
    pub requests_per_connection: Option<u64>,
    /// Churn: open connections (reconnections included) at most at this total rate.
    pub connection_rate_per_s: Option<f64>,
    /// Connections opened and held without traffic beside the load (C10K tests).
    pub idle_connections: u32,
    /// Closed loop: pause between a reply and the connection's next request.
    pub think_time: Option<Duration>,
    /// What to send and how replies are framed.
    pub protocol: ProtocolSpec,
    /// Several labelled requests instead of the protocol's one, if the plan has a mix.
    pub mix: Option<Mix>,
    /// TLS over every connection (`https://`, `wss://`, or a tcp protocol's `tls`).
    pub tls: Option<TlsSpec>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        field,
        message: message.into(),
    }
}

impl Plan {
    /// Parses and validates a plan from its JSON text.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| json_error("", e.to_string()))?;
        if !value.is_object() {
            return Err(json_error(
                "",
                "a plan is a JSON object ({\"abi_version\": ..., \"target\": ...})".into(),
            ));
        }
        Plan::validate(from_value(value, "")?)
    }

    /// Checks every field of a decoded plan and builds the plan; each group of rules
    /// lives in its own function below.
    fn validate(raw: RawPlan) -> Result<Plan, PlanError> {
        if raw.abi_version != ABI_VERSION {
            return Err(PlanError::AbiMismatch {
                expected: ABI_VERSION,
                found: raw.abi_version,
            });
        }
        let threads = check_connections(&raw)?;
        check_stop_and_timeouts(&raw)?;
        check_pacing(&raw)?;
        let options = TlsOptions {
            cacert: raw.cacert,
            insecure: raw.insecure,
            sni: raw.sni,
            resume: raw.tls_resume,
            version: raw.tls_version,
        };
        let (url, protocol, tls, mix) = protocol_spec(raw.protocol)?;
        if protocol.pipeline() > 1 && raw.rate_per_s.is_some() {
            return Err(invalid(
                "protocol.pipeline",
                "pipelining and a constant rate do not mix (the schedule needs one request \
                 in flight per connection); use pipeline 1 with rate_per_s",
            ));
        }
        let host = url.as_ref().map(|u| u.host.clone());
        let target = target_of(raw.target, url)?;
        let addr = resolve(&target)?;
        let host = match host {
            Some(host) => host,
            None => {
                let (host, _) = split_host_port(&target, "target", &target, "127.0.0.1:8080")?;
                bare_host(host).to_string()
            }
        };
        let tls = tls_spec(&options, tls, &protocol, &host)?;
        Ok(Plan {
            target,
            addr,
            connections: raw.connections,
            threads,
            duration: raw.duration_ms.map(Duration::from_millis),
            requests: raw.requests,
            connect_timeout: Duration::from_millis(raw.connect_timeout_ms),
            request_timeout: raw.request_timeout_ms.map(Duration::from_millis),
            reconnect: raw.reconnect,
            rate_per_s: raw.rate_per_s,
            interval: Duration::from_millis(raw.interval_ms),
            requests_per_connection: raw.requests_per_connection,
            connection_rate_per_s: raw.connection_rate_per_s,
            idle_connections: raw.idle_connections,
            think_time: raw.think_time_ms.map(Duration::from_millis),
            protocol,
            mix,
            tls,
        })
    }
}

/// Connections, idle connections and threads (returned: the plan's or the default),
/// and the descriptors they need.
fn check_connections(raw: &RawPlan) -> Result<u32, PlanError> {
    if raw.connections == 0 || raw.connections > MAX_CONNECTIONS {
        return Err(invalid(
            "connections",
            format!(
                "must be between 1 and {MAX_CONNECTIONS}, got {}",
                raw.connections
            ),
        ));
    }
    let threads = match raw.threads {
        None => default_threads().min(raw.connections),
        Some(t) if t == 0 || t > MAX_THREADS => {
            return Err(invalid(
                "threads",
                format!("must be between 1 and {MAX_THREADS}, got {t}"),
            ))
        }
        Some(t) if t > raw.connections => {
            return Err(invalid(
                "threads",
                format!(
                    "{t} threads for {} connections would leave threads idle; \
                     use at most as many threads as connections",
                    raw.connections
                ),
            ))
        }
        Some(t) => t,
    };
    if raw.idle_connections > MAX_CONNECTIONS {
        return Err(invalid(
            "idle_connections",
            format!(
                "must be at most {MAX_CONNECTIONS}, got {}",
                raw.idle_connections
            ),
        ));
    }
    check_descriptors(raw.connections, raw.idle_connections)?;
    Ok(threads)
}

/// The stop condition (duration, requests or both) and the timeouts.
fn check_stop_and_timeouts(raw: &RawPlan) -> Result<(), PlanError> {
    if raw.duration_ms.is_none() && raw.requests.is_none() {
        return Err(invalid(
            "duration_ms",
            "the plan has no stop condition; give duration_ms or requests (or both)",
        ));
    }
    if raw.duration_ms == Some(0) {
        return Err(invalid("duration_ms", "must be positive, got 0"));
    }
    if raw.requests == Some(0) {
        return Err(invalid("requests", "must be positive, got 0"));
    }
    if raw.connect_timeout_ms == 0 {
        return Err(invalid("connect_timeout_ms", "must be positive, got 0"));
    }
    if raw.request_timeout_ms == Some(0) {
        return Err(invalid(
            "request_timeout_ms",
            "must be positive, got 0 (use null for no timeout)",
        ));
    }
    Ok(())
}

/// Rates, the snapshot interval, churn and think time.
fn check_pacing(raw: &RawPlan) -> Result<(), PlanError> {
    if let Some(rate) = raw.rate_per_s {
        check_rate("rate_per_s", "requests", rate)?;
    }
    if raw.interval_ms < MIN_INTERVAL_MS {
        return Err(invalid(
            "interval_ms",
            format!(
                "must be at least {MIN_INTERVAL_MS}, got {}",
                raw.interval_ms
            ),
        ));
    }
    if raw.requests_per_connection == Some(0) {
        return Err(invalid(
            "requests_per_connection",
            "must be at least 1, got 0",
        ));
    }
    if let Some(rate) = raw.connection_rate_per_s {
        check_rate("connection_rate_per_s", "connections", rate)?;
    }
    if raw.think_time_ms.is_some() && raw.rate_per_s.is_some() {
        return Err(invalid(
            "think_time_ms",
            "a think time paces a closed loop; with rate_per_s the schedule paces \
             the requests, so leave one of them out",
        ));
    }
    Ok(())
}

/// Decodes the protocol by its `kind`; HTTP and WebSocket also give their URL. The
/// last part says whether the protocol asks for TLS.
fn protocol_spec(protocol: serde_json::Value) -> Result<ProtocolParts, PlanError> {
    let kind = kind_of(&protocol, "protocol", &["tcp", "http", "ws"])?.to_string();
    Ok(match kind.as_str() {
        "tcp" => {
            let (spec, tls, mix) = raw_tcp_spec(protocol)?;
            (None, ProtocolSpec::Tcp(spec), tls, mix)
        }
        "http" => {
            let (url, spec, mix) = http_spec(from_value(protocol, "protocol.")?)?;
            let tls = url.tls;
            (Some(url), ProtocolSpec::Http(spec), tls, mix)
        }
        _ => {
            let (url, spec, mix) = ws_spec(from_value(protocol, "protocol.")?)?;
            let tls = url.tls;
            (Some(url), ProtocolSpec::Ws(spec), tls, mix)
        }
    })
}

/// A decoded protocol: its URL (HTTP, WebSocket), spec, whether it asks for TLS, and
/// its mix if it has one.
type ProtocolParts = (Option<Url>, ProtocolSpec, bool, Option<Mix>);

/// The plan's TLS fields, before they are checked.
struct TlsOptions {
    cacert: Option<String>,
    insecure: bool,
    sni: Option<String>,
    resume: Option<bool>,
    version: Option<String>,
}

/// The TLS of a plan whose protocol asks for it (`tls`), or `None`; `host` is the URL's
/// host (or the target's, for TCP), the default server name.
fn tls_spec(
    options: &TlsOptions,
    tls: bool,
    protocol: &ProtocolSpec,
    host: &str,
) -> Result<Option<TlsSpec>, PlanError> {
    if !tls {
        let given = [
            ("cacert", options.cacert.is_some()),
            ("insecure", options.insecure),
            ("sni", options.sni.is_some()),
            ("tls_resume", options.resume.is_some()),
            ("tls_version", options.version.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
            let how = match protocol {
                ProtocolSpec::Tcp(_) => "set tls to true in the tcp protocol",
                ProtocolSpec::Http(_) => "write the URL as https://",
                ProtocolSpec::Ws(_) => "write the URL as wss://",
            };
            return Err(invalid(
                field,
                format!("this plan does not use TLS; to use it, {how}, or leave {field} out"),
            ));
        }
        return Ok(None);
    }
    let name = options.sni.as_deref().unwrap_or(host);
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| {
        let field = if options.sni.is_some() { "sni" } else { "target" };
        invalid(
            field,
            format!("{name:?} is not a DNS name or IP address a certificate can be checked against ({e})"),
        )
    })?;
    let trust =
        match (&options.cacert, options.insecure) {
            (Some(_), true) => return Err(invalid(
                "insecure",
                "insecure accepts any certificate, so cacert would be ignored; give one of them",
            )),
            (Some(path), false) => Trust::CaFile {
                path: path.clone(),
                certs: read_cacert(path)?,
            },
            (None, true) => Trust::Any,
            (None, false) => Trust::System(system_roots()?),
        };
    let version = match options.version.as_deref() {
        None => None,
        Some("1.2") => Some(TlsVersion::Tls12),
        Some("1.3") => Some(TlsVersion::Tls13),
        Some(other) => {
            return Err(invalid(
                "tls_version",
                format!("must be \"1.2\" or \"1.3\" (or left out for either), got {other:?}"),
            ))
        }
    };
    let alpn = match protocol {
        ProtocolSpec::Tcp(_) => Vec::new(),
        // A WebSocket's opening handshake is HTTP/1.1 too.
        ProtocolSpec::Http(_) | ProtocolSpec::Ws(_) => vec![b"http/1.1".to_vec()],
    };
    Ok(Some(TlsSpec {
        server_name,
        trust,
        // Off by default: every connection of a churn test then pays a full handshake,
        // the cost a new client pays, whatever the server's ticket policy.
        resume: options.resume.unwrap_or(false),
        alpn,
        version,
    }))
}

/// The certificates of a `cacert` PEM file, each checked to be usable as a trust anchor.
fn read_cacert(path: &str) -> Result<Vec<CertificateDer<'static>>, PlanError> {
    use rustls::pki_types::pem::PemObject;
    let text = std::fs::read(path).map_err(|e| {
        invalid(
            "cacert",
            format!("cannot read {path:?} ({e}); give the path of a PEM file of CA certificates"),
        )
    })?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            invalid(
                "cacert",
                format!("{path:?} is not a readable PEM file ({e})"),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            "cacert",
            format!(
                "{path:?} holds no certificate (no -----BEGIN CERTIFICATE----- block); give                  the PEM file of the CA that signed the server's certificate"
            ),
        ));
    }
    for (i, cert) in certs.iter().enumerate() {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.clone()).map_err(|e| {
            invalid(
                "cacert",
                format!(
                    "certificate {} of {path:?} cannot be a trust anchor ({e})",
                    i + 1
                ),
            )
        })?;
    }
    Ok(certs)
}

/// The system's trusted roots (honouring SSL_CERT_FILE and SSL_CERT_DIR).
fn system_roots() -> Result<Vec<CertificateDer<'static>>, PlanError> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(invalid(
            "cacert",
            format!(
                "no trusted root certificates were found on this system{why}; give cacert                  (--cacert FILE) with the server's CA, or insecure (--insecure) for a                  self-signed server on loopback"
            ),
        ));
    }
    Ok(found.certs)
}

/// The address to connect to: the plan's `target`, or else the URL's.
fn target_of(target: Option<String>, url: Option<Url>) -> Result<String, PlanError> {
    match (target, url) {
        (Some(target), _) => {
            let example = "127.0.0.1:8080";
            if split_host_port(&target, "target", &target, example)?
                .1
                .is_none()
            {
                return Err(invalid(
                    "target",
                    format!(
                        "must be HOST:PORT with a port 1-65535 (e.g. {example}), \
                         got {target:?}"
                    ),
                ));
            }
            Ok(target)
        }
        (None, Some(url)) => Ok(url.address),
        (None, None) => Err(invalid(
            "target",
            "missing; give host:port (a tcp protocol has no URL to take it from)",
        )),
    }
}

fn json_error(path: &str, message: String) -> PlanError {
    PlanError::Json {
        path: if path.is_empty() {
            ".".into()
        } else {
            path.into()
        },
        message,
    }
}

/// Decodes a JSON value, naming any bad field by its full path (`prefix` + its own).
fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, PlanError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." {
            prefix.trim_end_matches('.').to_string()
        } else {
            format!("{prefix}{inner}")
        };
        json_error(&path, e.into_inner().to_string())
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KindOnly {
    #[allow(dead_code)]
    kind: String,
}

/// The `kind` of a tagged object, checked against the kinds the engine knows.
fn kind_of<'v>(
    value: &'v serde_json::Value,
    path: &'static str,
    known: &[&str],
) -> Result<&'v str, PlanError> {
    let expected = known.join(", ");
    let Some(object) = value.as_object() else {
        return Err(json_error(
            path,
            format!("expected an object with a \"kind\" (one of: {expected})"),
        ));
    };
    match object.get("kind").and_then(|k| k.as_str()) {
        Some(kind) if known.contains(&kind) => Ok(kind),
        Some(kind) => Err(json_error(
            path,
            format!("unknown kind {kind:?}; expected one of: {expected}"),
        )),
        None => Err(json_error(
            path,
            format!("missing \"kind\" (one of: {expected})"),
        )),
    }
}

/// File descriptors kept free for everything but the plan's sockets (the runtime's
/// epoll and timer descriptors, files the embedding process opens meanwhile).
const SPARE_DESCRIPTORS: u64 = 64;

/// Refuses a plan that needs more sockets than this process may still open, instead of
/// letting it fail one connection at a time. What the process holds open already counts
/// against the limit, and so do the spare descriptors kept in reserve.
fn check_descriptors(connections: u32, idle_connections: u32) -> Result<(), PlanError> {
    let Some(limit) = open_files_limit() else {
        return Ok(());
    };
    let open = open_descriptors().unwrap_or(0);
    descriptors_fit(connections, idle_connections, open, limit)
}

/// The arithmetic of [`check_descriptors`], apart from what the process looks like.
fn descriptors_fit(
    connections: u32,
    idle_connections: u32,
    open: u64,
    limit: u64,
) -> Result<(), PlanError> {
    let (load, idle) = (u64::from(connections), u64::from(idle_connections));
    let free = limit.saturating_sub(open + SPARE_DESCRIPTORS);
    if load + idle <= free {
        return Ok(());
    }
    let budget = format!(
        "this process may open {limit} files (ulimit -n), holds {open} open already and keeps \
         {SPARE_DESCRIPTORS} in reserve, which leaves {free} for sockets"
    );
    if load > free || idle == 0 {
        return Err(invalid(
            "connections",
            format!(
                "{load} connections need {load} sockets, but {budget}; raise the limit \
                 (ulimit -n) or ask for fewer connections"
            ),
        ));
    }
    Err(invalid(
        "idle_connections",
        format!(
            "{idle} idle connections need {idle} sockets beside the {load} of the load, but \
             {budget}, so at most {} idle connections fit; raise the limit (ulimit -n) or ask \
             for fewer idle_connections",
            free - load
        ),
    ))
}

/// The soft limit on open files, from /proc (Linux); `None` when unknown or unlimited.
pub(crate) fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Descriptors this process holds open, from /proc/self/fd (Linux); `None` when unknown.
/// The directory's own descriptor, open while it is read, is not counted.
pub(crate) fn open_descriptors() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

fn default_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

fn resolve(target: &str) -> Result<SocketAddr, PlanError> {
    let mut addrs = target.to_socket_addrs().map_err(|e| {
        invalid(
            "target",
            format!("cannot resolve {target:?} ({e}); write it as host:port, e.g. 127.0.0.1:8080"),
        )
    })?;
    addrs
        .next()
        .ok_or_else(|| invalid("target", format!("{target:?} resolves to no address")))
}

type TcpParts = (TcpSpec, bool, Option<Mix>);

fn raw_tcp_spec(protocol: serde_json::Value) -> Result<TcpParts, PlanError> {
    let tcp: RawTcp = from_value(protocol, "protocol.")?;
    let tls = tcp.tls;
    let reply = reply_of(tcp.reply.clone(), "protocol.reply")?;
    let mix = crate::mix::mix_of(tcp.requests, tcp.mix, tcp.seed, |i, entry| {
        let reply = match entry.reply {
            Some(value) => {
                let path = format!("protocol.requests[{i}].reply");
                reply_of(value, &path)?
            }
            None => reply.clone(),
        };
        let spec = tcp_spec(&entry.payload_hex, reply).map_err(|e| crate::mix::in_entry(i, e))?;
        Ok(crate::mix::Built {
            label: entry.label,
            weight: entry.weight,
            request: crate::mix::Request::Tcp {
                payload: spec.payload,
                framing: spec.framing,
            },
            default_label: format!("payload {i}"),
        })
    })?;
    Ok((tcp_spec(&tcp.payload_hex, reply)?, tls, mix))
}

/// A TCP reply object (`{"kind": "echo" | "fixed" | "delimiter", ...}`) at `path`.
fn reply_of(value: serde_json::Value, path: &str) -> Result<Reply, PlanError> {
    let kinds = ["echo", "fixed", "delimiter"];
    let prefix = format!("{path}.");
    let kind = match value.as_object().and_then(|o| o.get("kind")) {
        Some(serde_json::Value::String(k)) if kinds.contains(&k.as_str()) => k.clone(),
        _ => {
            // kind_of's message, under this path.
            return Err(match kind_of(&value, "protocol.reply", &kinds) {
                Err(PlanError::Json { message, .. }) => json_error(path, message),
                _ => json_error(path, "expected a reply object".into()),
            });
        }
    };
    Ok(match kind.as_str() {
        "echo" => {
            from_value::<KindOnly>(value, &prefix)?;
            Reply::Echo
        }
        "fixed" => Reply::Fixed {
            bytes: from_value::<FixedReply>(value, &prefix)?.bytes,
        },
        _ => Reply::Delimiter {
            delimiter_hex: from_value::<DelimiterReply>(value, &prefix)?.delimiter_hex,
        },
    })
}

fn tcp_spec(payload_hex: &str, reply: Reply) -> Result<TcpSpec, PlanError> {
    if payload_hex.len() / 2 > MAX_PAYLOAD_BYTES {
        return Err(invalid(
            "protocol.payload_hex",
            format!(
                "the payload is {} bytes; the maximum is {MAX_PAYLOAD_BYTES} (16 MiB)",
                payload_hex.len() / 2
            ),
        ));
    }
    let payload = decode_hex(payload_hex).map_err(|m| invalid("protocol.payload_hex", m))?;
    if payload.is_empty() {
        return Err(invalid(
            "protocol.payload_hex",
            "the payload is empty; a request needs at least one byte",
        ));
    }
    let framing = match reply {
        Reply::Echo => Framing::Length(payload.len()),
        Reply::Fixed { bytes } if bytes == 0 || bytes > MAX_PAYLOAD_BYTES => {
            return Err(invalid(
                "protocol.reply.bytes",
                format!("must be between 1 and {MAX_PAYLOAD_BYTES}, got {bytes}"),
            ))
        }
        Reply::Fixed { bytes } => Framing::Length(bytes),
        Reply::Delimiter { delimiter_hex } => {
            let field = "protocol.reply.delimiter_hex";
            let delimiter = decode_hex(&delimiter_hex).map_err(|m| invalid(field, m))?;
            if delimiter.is_empty() || delimiter.len() > MAX_DELIMITER_BYTES {
                return Err(invalid(
                    field,
                    format!(
                        "the delimiter must be 1 to {MAX_DELIMITER_BYTES} bytes, got {}",
                        delimiter.len()
                    ),
                ));
            }
            Framing::Delimiter(delimiter)
        }
    };
    Ok(TcpSpec { payload, framing })
}

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "hex text has an odd length ({}); two digits make a byte",
            text.len()
        ));
    }
    text.as_bytes()
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let digits = std::str::from_utf8(pair).unwrap_or("??");
            u8::from_str_radix(digits, 16)
                .map_err(|_| format!("{digits:?} at offset {} is not a hex byte", 2 * i))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_json(extra: &str) -> String {
        format!(
            r#"{{"abi_version":2,"target":"127.0.0.1:9","connections":4,"requests":10,
               "protocol":{{"kind":"tcp","payload_hex":"68690a","reply":{{"kind":"echo"}}}}{extra}}}"#
        )
    }

    #[test]
    fn minimal_plan_gets_defaults() {
        let plan = Plan::from_json(&plan_json("")).unwrap();
        let ProtocolSpec::Tcp(tcp) = &plan.protocol else {
            panic!("tcp plan")
        };
        assert_eq!(tcp.payload, b"hi\n");
        assert_eq!(tcp.framing, Framing::Length(3));
        assert_eq!(plan.connect_timeout, Duration::from_secs(2));
        assert_eq!(plan.request_timeout, Some(Duration::from_secs(10)));
        assert!(plan.reconnect);
        assert_eq!(plan.rate_per_s, None);
        assert_eq!(plan.interval, Duration::from_secs(1));
        assert!(plan.threads >= 1 && plan.threads <= 4);
        assert_eq!(plan.duration, None);
    }

    #[test]
    fn unknown_field_is_named() {
        let err = Plan::from_json(&plan_json(r#","conections":3"#)).unwrap_err();
        assert!(err.to_string().contains("conections"), "{err}");
    }

    #[test]
    fn mistyped_field_is_named_with_its_path() {
        let text = plan_json("").replace(r#""connections":4"#, r#""connections":"4""#);
        let err = Plan::from_json(&text).unwrap_err().to_string();
        assert!(err.contains("`connections`"), "{err}");
        let text = plan_json("").replace(r#""kind":"echo""#, r#""kind":"bounce""#);
        let err = Plan::from_json(&text).unwrap_err().to_string();
        assert!(
            err.contains("`protocol.reply`") && err.contains("bounce"),
            "{err}"
        );
        assert!(err.contains("echo") && err.contains("fixed"), "{err}");
        let text =
            plan_json("").replace(r#"{"kind":"echo"}"#, r#"{"kind":"fixed","bytes":"many"}"#);
        let err = Plan::from_json(&text).unwrap_err().to_string();
        assert!(err.contains("`protocol.reply.bytes`"), "{err}");
        let text = plan_json("").replace(r#""payload_hex""#, r#""payload_hexx""#);
        let err = Plan::from_json(&text).unwrap_err().to_string();
        assert!(err.contains("payload_hexx"), "{err}");
        let text = plan_json("").replace(r#""kind":"tcp""#, r#""kind":"udp""#);
        let err = Plan::from_json(&text).unwrap_err().to_string();
        assert!(err.contains("`protocol`") && err.contains("udp"), "{err}");
    }

    #[test]
    fn plan_must_be_an_object() {
        let err = Plan::from_json("[]").unwrap_err().to_string();
        assert!(err.contains("a plan is a JSON object"), "{err}");
        assert!(!err.contains("RawPlan"), "{err}");
        let err = Plan::from_json("{").unwrap_err().to_string();
        assert!(err.starts_with("plan JSON:"), "{err}");
    }

    #[test]
    fn negative_duration_is_refused_by_name() {
        let err = Plan::from_json(&plan_json(r#","duration_ms":-5"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`duration_ms`"), "{err}");
    }

    #[test]
    fn a_rate_too_small_to_schedule_names_the_smallest() {
        let err = Plan::from_json(&plan_json(r#","connection_rate_per_s":1e-300"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`connection_rate_per_s`"), "{err}");
        assert!(
            err.contains("smallest rate is 0.000001 connections/s"),
            "{err}"
        );
        // The smallest itself is allowed.
        assert!(Plan::from_json(&plan_json(r#","rate_per_s":1e-6"#)).is_ok());
    }

    #[test]
    fn bounds_are_checked() {
        for (extra, field) in [
            (r#","threads":0"#, "threads"),
            (r#","threads":5"#, "threads"),
            (r#","duration_ms":0"#, "duration_ms"),
            (r#","connect_timeout_ms":0"#, "connect_timeout_ms"),
            (r#","request_timeout_ms":0"#, "request_timeout_ms"),
            (r#","rate_per_s":0"#, "rate_per_s"),
            (r#","rate_per_s":-3.5"#, "rate_per_s"),
            (r#","interval_ms":5"#, "interval_ms"),
            (r#","requests_per_connection":0"#, "requests_per_connection"),
            (r#","connection_rate_per_s":0"#, "connection_rate_per_s"),
            (r#","rate_per_s":1e-300"#, "rate_per_s"),
            (
                r#","connection_rate_per_s":1e-300"#,
                "connection_rate_per_s",
            ),
            (r#","rate_per_s":5e-7"#, "rate_per_s"),
            (r#","idle_connections":2000000"#, "idle_connections"),
            (r#","think_time_ms":5,"rate_per_s":10"#, "think_time_ms"),
        ] {
            let err = Plan::from_json(&plan_json(extra)).unwrap_err();
            match err {
                PlanError::Invalid { field: f, .. } => assert_eq!(f, field, "{extra}"),
                other => panic!("{extra}: {other:?}"),
            }
        }
        let zero = plan_json("").replace(r#""connections":4"#, r#""connections":0"#);
        assert!(Plan::from_json(&zero)
            .unwrap_err()
            .to_string()
            .contains("`connections`"));
    }

    #[test]
    fn too_many_sockets_for_the_descriptor_limit_are_refused() {
        let Some(limit) = open_files_limit() else {
            return; // unlimited: nothing to refuse
        };
        if limit > u64::from(MAX_CONNECTIONS) {
            return; // the plan's own maximum comes first
        }
        let err = Plan::from_json(&plan_json(&format!(r#","idle_connections":{limit}"#)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ulimit -n"), "{err}");
    }

    #[test]
    fn the_descriptor_check_counts_what_is_open_and_names_the_cause() {
        fn field(err: PlanError) -> &'static str {
            match err {
                PlanError::Invalid { field, .. } => field,
                other => panic!("{other}"),
            }
        }
        let spare = SPARE_DESCRIPTORS;
        // Exactly what is left fits.
        assert!(descriptors_fit(100, 0, 36, 200 + spare - 64).is_ok());
        assert!(descriptors_fit(50, 50, 100, 200 + spare).is_ok());
        // What the process holds already counts.
        let err = descriptors_fit(100, 0, 101, 200 + spare).unwrap_err();
        let words = err.to_string();
        assert_eq!(field(err), "connections", "{words}");
        assert!(words.contains("holds 101 open already"), "{words}");
        assert!(
            words.contains(&format!("keeps {spare} in reserve")),
            "{words}"
        );
        assert!(words.contains("leaves 99 for sockets"), "{words}");
        // The load fits, the idle connections do not: they are the cause.
        let err = descriptors_fit(50, 100, 100, 200 + spare).unwrap_err();
        assert!(
            err.to_string().contains("at most 50 idle connections fit"),
            "{err}"
        );
        assert_eq!(field(err), "idle_connections");
        // The load alone does not fit: connections are the cause, whatever the idle ones.
        let err = descriptors_fit(300, 100, 0, 200 + spare).unwrap_err();
        assert_eq!(field(err), "connections");
    }

    #[test]
    fn no_stop_condition_is_refused() {
        let text = plan_json("").replace(r#""requests":10,"#, "");
        let err = Plan::from_json(&text).unwrap_err().to_string();
        assert!(err.contains("no stop condition"), "{err}");
    }

    #[test]
    fn abi_mismatch_is_its_own_error() {
        let text = plan_json("").replace(r#""abi_version":2"#, r#""abi_version":999"#);
        assert_eq!(
            Plan::from_json(&text).unwrap_err(),
            PlanError::AbiMismatch {
                expected: ABI_VERSION,
                found: 999
            }
        );
    }

    #[test]
    fn payload_limits() {
        let huge = "00".repeat(MAX_PAYLOAD_BYTES + 1);
        let text = plan_json("").replace("68690a", &huge);
        let err = Plan::from_json(&text).unwrap_err().to_string();
        assert!(err.contains("16 MiB"), "{err}");
        let text = plan_json("").replace("68690a", "");
        assert!(Plan::from_json(&text)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let text = plan_json("").replace("68690a", "6g");
        assert!(Plan::from_json(&text)
            .unwrap_err()
            .to_string()
            .contains("not a hex byte"));
    }

    #[test]
    fn fixed_reply_length() {
        let text = plan_json("").replace(r#"{"kind":"echo"}"#, r#"{"kind":"fixed","bytes":612}"#);
        let ProtocolSpec::Tcp(tcp) = Plan::from_json(&text).unwrap().protocol else {
            panic!("tcp plan")
        };
        assert_eq!(tcp.framing, Framing::Length(612));
        let text = plan_json("").replace(
            r#"{"kind":"echo"}"#,
            r#"{"kind":"delimiter","delimiter_hex":"0d0a"}"#,
        );
        let ProtocolSpec::Tcp(tcp) = Plan::from_json(&text).unwrap().protocol else {
            panic!("tcp plan")
        };
        assert_eq!(tcp.framing, Framing::Delimiter(b"\r\n".to_vec()));
        let text = plan_json("").replace(
            r#"{"kind":"echo"}"#,
            r#"{"kind":"delimiter","delimiter_hex":""}"#,
        );
        let err = Plan::from_json(&text).unwrap_err().to_string();
        assert!(err.contains("`protocol.reply.delimiter_hex`"), "{err}");
    }

    fn web_plan(protocol: &str) -> Result<Plan, PlanError> {
        Plan::from_json(&format!(
            r#"{{"abi_version":2,"connections":2,"requests":10,"protocol":{protocol}}}"#
        ))
    }

    #[test]
    fn http_plan_takes_its_target_from_the_url() {
        let plan = web_plan(
            r#"{"kind":"http","url":"http://127.0.0.1:8080/a?b=1","headers":[["X-A","1"]]}"#,
        )
        .unwrap();
        assert_eq!(plan.target, "127.0.0.1:8080");
        let ProtocolSpec::Http(http) = &plan.protocol else {
            panic!("http plan")
        };
        let text = String::from_utf8(http.request.clone()).unwrap();
        assert!(
            text.starts_with("GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"),
            "{text}"
        );
        assert!(text.contains("X-A: 1\r\n"));
        let plan = web_plan(r#"{"kind":"http","url":"http://localhost"}"#).unwrap();
        assert_eq!(plan.target, "localhost:80");
    }

    #[test]
    fn http_plan_errors_name_the_field() {
        let err = |p: &str| web_plan(p).unwrap_err().to_string();
        assert!(err(r#"{"kind":"http","url":"gopher://127.0.0.1/"}"#).contains("https://"));
        assert!(err(r#"{"kind":"http","url":"127.0.0.1:80/"}"#).contains("`protocol.url`"));
        let e = err(r#"{"kind":"http","url":"http://127.0.0.1/","headers":[["X","a\r\nB: c"]]}"#);
        assert!(e.contains("`protocol.headers`") && e.contains('X'), "{e}");
        let e = err(r#"{"kind":"http","url":"http://127.0.0.1/","pipeline":0}"#);
        assert!(e.contains("`protocol.pipeline`"), "{e}");
        let e = Plan::from_json(
            r#"{"abi_version":2,"connections":2,"requests":10,"rate_per_s":10,
                "protocol":{"kind":"http","url":"http://127.0.0.1:1/","pipeline":4}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("pipelining and a constant rate"), "{e}");
        let e = err(r#"{"kind":"tcp","payload_hex":"00","reply":{"kind":"echo"}}"#);
        assert!(e.contains("`target`"), "{e}");
    }

    #[test]
    fn ws_plan_checks_text_and_frames() {
        let plan =
            web_plan(r#"{"kind":"ws","url":"ws://[::1]:9000/echo","message_hex":"6869"}"#).unwrap();
        assert_eq!(plan.target, "[::1]:9000");
        let err = |p: &str| web_plan(p).unwrap_err().to_string();
        let e = err(r#"{"kind":"ws","url":"ws://127.0.0.1:9/","message_hex":"ff"}"#);
        assert!(e.contains("UTF-8"), "{e}");
        let e = err(r#"{"kind":"ws","url":"ws://127.0.0.1:9/","message_hex":"","frame_bytes":0}"#);
        assert!(e.contains("`protocol.frame_bytes`"), "{e}");
        let e = err(r#"{"kind":"ws","url":"ws://127.0.0.1:9/","message_hex":"","chunk_bytes":0}"#);
        assert!(e.contains("`protocol.chunk_bytes`"), "{e}");
        assert!(
            err(r#"{"kind":"ws","url":"http://127.0.0.1:9/","message_hex":""}"#).contains("wss://")
        );
    }

    #[test]
    fn bad_target_is_named() {
        let text = plan_json("").replace("127.0.0.1:9", "no-port-here");
        let err = Plan::from_json(&text).unwrap_err().to_string();
        assert!(err.contains("`target`"), "{err}");
        for (target, words) in [
            ("127.0.0.1:", "port must be 1-65535"),
            ("h:0", "port must be 1-65535"),
            ("h:65536", "port must be 1-65535"),
            (":80", "no host"),
            ("::1:80", "brackets"),
            ("[::1", "IPv6"),
            ("[::1]x", "IPv6"),
        ] {
            let text = plan_json("").replace("127.0.0.1:9", target);
            let err = Plan::from_json(&text).unwrap_err().to_string();
            assert!(
                err.contains("`target`") && err.contains(words),
                "{target}: {err}"
            );
        }
        let text = plan_json("").replace("127.0.0.1:9", "[::1]:9");
        assert!(Plan::from_json(&text).is_ok());
    }

    #[test]
    fn bad_urls_say_what_to_change() {
        for (url, words) in [
            ("http://127.0.0.1:0/", "1-65535"),
            ("http://127.0.0.1:http/", "1-65535"),
            ("http://::1/", "brackets"),
            ("http:///path", "no host"),
            ("http://:8080/", "no host"),
            ("http://user:pw@127.0.0.1/", "Authorization"),
            ("http://127.0.0.1/#top", "fragment"),
        ] {
            let e = web_plan(&format!(r#"{{"kind":"http","url":"{url}"}}"#))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("`protocol.url`") && e.contains(words),
                "{url}: {e}"
            );
        }
        let e = web_plan(r#"{"kind":"http","url":"http://127.0.0.1/","pipeline":2,"close":true}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`protocol.pipeline`") && e.contains("close"),
            "{e}"
        );
    }
}
