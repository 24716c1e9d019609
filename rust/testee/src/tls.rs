//! `--tls`: every connection is served over TLS (1.2 or 1.3, as the client asks) with a
//! certificate made at start-up: a fresh CA, and a server certificate it signs for
//! `localhost`, `127.0.0.1` and `::1`. The CA's PEM is written to a file (`--cert-out`,
//! or one in the temporary directory, named on stderr) for clients to trust, e.g.
//! `cannonade --cacert FILE`.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Names the server certificate is issued for.
pub const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A TLS server's acceptor and the PEM of the CA that signed its certificate.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub ca_pem: String,
}

/// Makes a CA and a server certificate, and the server configuration that serves it;
/// `alpn` is offered to clients (HTTP and WebSocket: `http/1.1`).
pub fn make(alpn: &[&str]) -> Result<Tls, String> {
    let fail = |e: rcgen::Error| format!("cannot make the TLS certificate: {e}");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // A name of its own: a client trusting another testee's CA then finds no issuer
    // for this one's certificate (rather than an issuer whose signature fails).
    let made_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("cannonade-testee CA {} {made_at}", std::process::id());
    ca_params.distinguished_name.push(DnType::CommonName, name);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(fail)?)
        .map_err(fail)?;
    let mut params =
        CertificateParams::new(NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(fail)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "cannonade-testee");
    let key = KeyPair::generate().map_err(fail)?;
    let cert = params.signed_by(&key, &ca).map_err(fail)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone(), ca.der().clone()], key)
        .map_err(|e| format!("TLS: {e}"))?;
    // Stateless tickets (TLS 1.2 and 1.3), so a client may resume however many
    // connections it churns through.
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| format!("TLS: {e}"))?;
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca.pem(),
    })
}

/// Writes the CA's PEM to `path`, or to a new file in the temporary directory; returns
/// where it went.
pub fn write_ca(ca_pem: &str, path: Option<&str>) -> std::io::Result<String> {
    let path = match path {
        Some(path) => path.to_string(),
        None => std::env::temp_dir()
            .join(format!("cannonade-testee-{}-ca.pem", std::process::id()))
            .display()
            .to_string(),
    };
    std::fs::write(&path, ca_pem)?;
    Ok(path)
}
