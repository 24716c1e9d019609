//! The engine over TLS against rustls servers started inside the test, on loopback:
//! certificates checked against a CA file, refused when another CA signed them (and
//! counted by kind), accepted with `insecure`; session resumption on and off under
//! churn, with TLS 1.2 and 1.3; alerts and handshake failures counted by kind.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cannonade_core::{Plan, Run, Summary};

mod common;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A CA (its PEM in a file for `cacert`) and a server certificate it signed.
struct Pki {
    ca_file: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

static FILES: AtomicU32 = AtomicU32::new(0);

/// A file in the temporary directory that this test process alone uses.
fn temp_file(what: &str, text: &[u8]) -> PathBuf {
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "cannonade-tls-test-{}-{n}-{what}",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn pki(names: &[&str]) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Each CA its own name: one CA's certificate then has no issuer among another's.
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    ca.distinguished_name
        .push(DnType::CommonName, format!("test CA {n}"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca_file: temp_file("ca.pem", ca.pem().as_bytes()),
        chain: vec![cert.der().clone(), ca.der().clone()],
        key_der: key.serialize_der(),
    }
}

/// A server configuration for `pki`'s certificate: the versions given, stateless
/// tickets (so clients may resume), ALPN `alpn`.
fn server_config(
    pki: &Pki,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), key)
        .unwrap();
    config.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

#[derive(Clone, Copy)]
enum Serve {
    /// HTTP/1.1 keep-alive: every request head gets a 2-byte body.
    Http,
    /// Every byte back.
    Echo,
}

/// Serves `serve` over TLS with `config` on 127.0.0.1, a thread per connection. Its
/// threads end with the test process.
fn tls_server(config: Arc<ServerConfig>, serve: Serve) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let _ = tcp.set_nodelay(true);
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(conn) = ServerConnection::new(config) else {
                    return;
                };
                serve_one(StreamOwned::new(conn, tcp), serve);
            });
        }
    });
    addr
}

fn serve_one(mut stream: StreamOwned<ServerConnection, TcpStream>, serve: Serve) {
    let mut buf = [0u8; 16 * 1024];
    let mut head = Vec::new();
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match serve {
            Serve::Echo => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Serve::Http => {
                head.extend_from_slice(&buf[..n]);
                while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    head.drain(..end + 4);
                    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if stream.write_all(reply).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = stream.flush();
    }
}

/// A plain (no TLS) echo server.
fn plain_echo_server() -> SocketAddr {
    common::echo_server(None)
}

const BOTH: &[&rustls::SupportedProtocolVersion] = rustls::ALL_VERSIONS;

fn json_path(path: &std::path::Path) -> String {
    serde_json::to_string(path.to_str().unwrap()).unwrap()
}

fn https_plan(addr: SocketAddr, extra: &str) -> String {
    format!(
        r#"{{"abi_version":2,"connections":2,"threads":1,
            "protocol":{{"kind":"http","url":"https://{addr}/"}}{extra}}}"#
    )
}

fn run(plan: &str) -> Summary {
    let plan = Plan::from_json(plan).unwrap_or_else(|e| panic!("{e}: {plan}"));
    let run = Run::start(plan).unwrap();
    assert!(
        run.wait(Some(Duration::from_secs(60))),
        "run did not finish"
    );
    run.outcome().unwrap().unwrap().summary
}

#[test]
fn https_with_a_ca_file_times_connect_and_handshake_apart() {
    let pki = pki(&["localhost", "127.0.0.1"]);
    let addr = tls_server(server_config(&pki, BOTH, &[b"http/1.1"]), Serve::Http);
    let extra = format!(r#","requests":200,"cacert":{}"#, json_path(&pki.ca_file));
    let s = run(&https_plan(addr, &extra));
    assert_eq!((s.requests, s.errors.total()), (200, 0), "{:?}", s.errors);
    assert_eq!(s.status_codes.get("200"), Some(&200));
    assert_eq!(s.connections_opened, 2);
    let tls = s.tls.as_ref().expect("a TLS run reports its handshakes");
    assert_eq!(tls.handshakes, 2);
    assert_eq!(tls.handshake_ns.count, 2);
    assert_eq!(s.connect_ns.count, 2);
    assert!(tls.handshake_ns.min > 0);
    assert!(s.handshake_ns.is_none(), "no WebSocket upgrade over HTTP");
    assert_eq!(tls.resumed, 0, "resumption is off unless asked for");
    // The JSON carries it too, and the interval series counts the handshakes.
    assert!(
        s.to_json().contains(r#""tls":{"handshakes":2"#),
        "{}",
        s.to_json()
    );
    // The name checked is the URL's host unless sni says otherwise: localhost is in
    // the certificate, other.example is not.
    let extra = format!(
        r#","requests":20,"cacert":{},"sni":"localhost""#,
        json_path(&pki.ca_file)
    );
    assert_eq!(run(&https_plan(addr, &extra)).requests, 20);
    let extra = format!(
        r#","duration_ms":300,"cacert":{},"sni":"other.example""#,
        json_path(&pki.ca_file)
    );
    let s = run(&https_plan(addr, &extra));
    assert_eq!(s.requests, 0);
    assert!(s.errors.tls_certificate > 0, "{:?}", s.errors);
    let words = &s.error_messages["tls_certificate"].first;
    assert!(words.contains("NotValidForName"), "{words}");
}

#[test]
fn a_certificate_from_another_ca_is_refused_and_insecure_accepts_it() {
    let trusted = pki(&["127.0.0.1"]);
    let other = pki(&["127.0.0.1"]);
    let addr = tls_server(server_config(&other, BOTH, &[]), Serve::Http);
    let extra = format!(
        r#","duration_ms":300,"cacert":{}"#,
        json_path(&trusted.ca_file)
    );
    let s = run(&https_plan(addr, &extra));
    assert_eq!(s.requests, 0);
    assert!(s.errors.tls_certificate > 0, "{:?}", s.errors);
    assert_eq!(s.errors.total(), s.errors.tls_certificate, "{:?}", s.errors);
    let message = &s.error_messages["tls_certificate"];
    assert_eq!(message.count, s.errors.tls_certificate);
    assert!(
        message.first.contains("UnknownIssuer") && message.first.contains("--cacert"),
        "{}",
        message.first
    );
    assert_eq!(s.tls.as_ref().unwrap().handshakes, 0);
    // insecure: the same server is accepted.
    let s = run(&https_plan(addr, r#","requests":50,"insecure":true"#));
    assert_eq!((s.requests, s.errors.total()), (50, 0), "{:?}", s.errors);
}

/// Churn: one request per connection, so every request opens a connection and pays a
/// handshake, full or resumed; 16 connections, more than rustls' own cache has tickets.
fn churn(addr: SocketAddr, version: &str, resume: bool) -> Summary {
    let text = format!(
        r#"{{"abi_version":2,"connections":16,"threads":1,"requests":160,
            "requests_per_connection":1,"insecure":true,"tls_version":"{version}",
            "tls_resume":{resume},"protocol":{{"kind":"http","url":"https://{addr}/"}}}}"#
    );
    run(&text)
}

#[test]
fn resumption_on_gives_resumed_handshakes_and_off_gives_full_ones() {
    let pki = pki(&["127.0.0.1"]);
    let addr = tls_server(server_config(&pki, BOTH, &[b"http/1.1"]), Serve::Http);
    for version in ["1.2", "1.3"] {
        let s = churn(addr, version, false);
        assert_eq!((s.requests, s.errors.total()), (160, 0), "{:?}", s.errors);
        let tls = s.tls.unwrap();
        assert_eq!(tls.handshakes, 160, "TLS {version}");
        assert_eq!(tls.resumed, 0, "TLS {version}: resumption off");
        assert!(tls.handshakes_per_s > 0.0);
        let s = churn(addr, version, true);
        assert_eq!((s.requests, s.errors.total()), (160, 0), "{:?}", s.errors);
        let tls = s.tls.unwrap();
        assert_eq!(tls.handshakes, 160, "TLS {version}");
        // At most each connection's first handshake is full; after it, the worker's
        // store has a session (1.2) or a ticket (1.3, two per handshake) to resume with.
        assert!(tls.resumed >= 160 - 16, "TLS {version}: {tls:?}");
    }
}

#[test]
fn an_alert_and_a_plain_server_are_counted_by_kind() {
    // The server speaks TLS 1.2 only; a client that asks for 1.3 alone gets an alert.
    let pki = pki(&["127.0.0.1"]);
    let only_12 = &[&rustls::version::TLS12][..];
    let addr = tls_server(server_config(&pki, only_12, &[]), Serve::Http);
    let s = run(&https_plan(
        addr,
        r#","duration_ms":300,"insecure":true,"tls_version":"1.3""#,
    ));
    assert_eq!(s.requests, 0);
    assert!(s.errors.tls_alert > 0, "{:?}", s.errors);
    let words = &s.error_messages["tls_alert"].first;
    assert!(words.contains("ProtocolVersion"), "{words}");
    // A server that is not TLS at all (it echoes the ClientHello back).
    let addr = plain_echo_server();
    let s = run(&https_plan(addr, r#","duration_ms":300,"insecure":true"#));
    assert_eq!(s.requests, 0);
    assert!(s.errors.tls_handshake > 0, "{:?}", s.errors);
    assert!(s.error_messages.contains_key("tls_handshake"));
}

#[test]
fn tcp_over_tls_echoes() {
    let pki = pki(&["127.0.0.1"]);
    let addr = tls_server(server_config(&pki, BOTH, &[]), Serve::Echo);
    let s = run(&format!(
        r#"{{"abi_version":2,"target":"{addr}","connections":3,"threads":1,"requests":300,
            "cacert":{},"protocol":{{"kind":"tcp","tls":true,"payload_hex":"{}",
            "reply":{{"kind":"echo"}}}}}}"#,
        json_path(&pki.ca_file),
        "61".repeat(500)
    ));
    assert_eq!((s.requests, s.errors.total()), (300, 0), "{:?}", s.errors);
    assert_eq!(s.tls.unwrap().handshakes, 3);
    assert_eq!(
        s.bytes_received,
        300 * 500,
        "bytes are counted in the clear"
    );
}

#[test]
fn idle_connections_hold_tls_sessions() {
    let own = pki(&["127.0.0.1"]);
    let other = pki(&["127.0.0.1"]);
    let addr = tls_server(server_config(&own, BOTH, &[b"http/1.1"]), Serve::Http);
    let s = run(&https_plan(
        addr,
        r#","duration_ms":500,"idle_connections":5,"insecure":true"#,
    ));
    assert_eq!(s.errors.total(), 0, "{:?}", s.errors);
    assert_eq!((s.idle_connections.opened, s.idle_connections.held), (5, 5));
    // Trusting another CA: the idle connections are refused too, and the load counts why.
    let s = run(&https_plan(
        addr,
        &format!(
            r#","duration_ms":300,"idle_connections":3,"cacert":{}"#,
            json_path(&other.ca_file)
        ),
    ));
    assert_eq!(s.idle_connections.opened, 0);
    assert!(s.errors.tls_certificate > 0, "{:?}", s.errors);
}

#[test]
fn tls_fields_are_checked_and_name_what_is_wrong() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let err = |extra: &str| {
        Plan::from_json(&https_plan(addr, &format!(r#","requests":1{extra}"#)))
            .unwrap_err()
            .to_string()
    };
    let missing = std::env::temp_dir().join("cannonade-no-such-ca.pem");
    let e = err(&format!(r#","cacert":{}"#, json_path(&missing)));
    assert!(
        e.contains("`cacert`") && e.contains("cannonade-no-such-ca.pem"),
        "{e}"
    );
    let empty = temp_file("empty.pem", b"no certificates here\n");
    let e = err(&format!(r#","cacert":{}"#, json_path(&empty)));
    assert!(
        e.contains("`cacert`") && e.contains("holds no certificate"),
        "{e}"
    );
    assert!(
        e.contains(empty.file_name().unwrap().to_str().unwrap()),
        "{e}"
    );
    let pki = pki(&["127.0.0.1"]);
    let e = err(&format!(
        r#","cacert":{},"insecure":true"#,
        json_path(&pki.ca_file)
    ));
    assert!(e.contains("`insecure`") && e.contains("cacert"), "{e}");
    let e = err(r#","insecure":true,"tls_version":"1.1""#);
    assert!(e.contains("`tls_version`") && e.contains("1.3"), "{e}");
    let e = err(r#","insecure":true,"sni":"not a name""#);
    assert!(e.contains("`sni`"), "{e}");
    // TLS fields on a plan without TLS say how to ask for TLS.
    let plain = format!(
        r#"{{"abi_version":2,"connections":1,"requests":1,"insecure":true,
            "protocol":{{"kind":"http","url":"http://{addr}/"}}}}"#
    );
    let e = Plan::from_json(&plain).unwrap_err().to_string();
    assert!(e.contains("`insecure`") && e.contains("https://"), "{e}");
    // The default port of https:// is 443.
    let plan = Plan::from_json(
        r#"{"abi_version":2,"connections":1,"requests":1,"insecure":true,
            "protocol":{"kind":"http","url":"https://127.0.0.1/"}}"#,
    )
    .unwrap();
    assert_eq!(plan.target, "127.0.0.1:443");
    assert!(plan.tls.is_some());
}
