//! TLS for the connection loop: the client configuration each worker builds from the
//! plan's [`TlsSpec`], the handshake, and [`Stream`], which carries plain TCP or TLS so
//! that one connection loop serves both without a copy of the protocol code.
//!
//! rustls with the ring provider; TLS 1.2 and 1.3. Certificates are checked against the
//! roots the plan holds (the system's trust store, or a `cacert` file) unless the plan
//! says `insecure`, which accepts any certificate but still checks that the server holds
//! its key (the handshake's signatures are verified either way).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, HandshakeKind, NamedGroup, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::plan::{TlsSpec, TlsVersion, Trust};
use crate::recorder::Failure;

/// A connection's byte stream: plain TCP, or TLS over TCP.
pub(crate) enum Stream {
    /// No TLS.
    Plain(TcpStream),
    /// TLS over TCP (boxed: rustls' state is large beside a socket).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // TLS sends its close_notify first, then the TCP FIN.
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// One worker's TLS client: its own configuration (and so its own session cache: no
/// lock is shared with other workers) and the name it asks the server for.
#[derive(Clone)]
pub(crate) struct Connector {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

/// A finished TLS handshake.
pub(crate) struct Handshake {
    pub stream: Stream,
    /// The session was resumed (an abbreviated handshake) rather than a full one.
    pub resumed: bool,
}

impl Connector {
    /// A client for `spec`, with an empty session cache.
    pub(crate) fn new(spec: &TlsSpec) -> Connector {
        Connector {
            connector: tokio_rustls::TlsConnector::from(Arc::new(client_config(spec))),
            server_name: spec.server_name.clone(),
        }
    }

    /// Runs the client's handshake over `tcp`.
    pub(crate) async fn handshake(&self, tcp: TcpStream) -> io::Result<Handshake> {
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await?;
        let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
        Ok(Handshake {
            stream: Stream::Tls(Box::new(tls)),
            resumed,
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration of a plan.
fn client_config(spec: &TlsSpec) -> ClientConfig {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match spec.version {
        None => rustls::ALL_VERSIONS,
        Some(TlsVersion::Tls12) => &[&rustls::version::TLS12],
        Some(TlsVersion::Tls13) => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("the ring provider supports TLS 1.2 and 1.3");
    let mut config = match &spec.trust {
        Trust::Any => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
            .with_no_client_auth(),
        Trust::System(certs) | Trust::CaFile { certs, .. } => {
            let mut roots = RootCertStore::empty();
            // The plan checked a CA file's certificates one by one; the system's store
            // may hold a few that webpki cannot use, which are skipped as every TLS
            // client skips them.
            roots.add_parsable_certificates(certs.iter().cloned());
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = spec.alpn.clone();
    config.resumption = if spec.resume {
        Resumption::store(Arc::new(SessionStore::default()))
    } else {
        Resumption::disabled()
    };
    config
}

/// TLS 1.3 tickets a worker keeps per server, at most. A ticket resumes one connection;
/// rustls' own cache keeps 8, so a churn test with more connections than that reopening
/// at once would mix resumed and full handshakes. A ticket is a few hundred bytes.
const MAX_TICKETS: usize = 1024;

/// A worker's TLS sessions: TLS 1.2 sessions (one per server, reusable) and TLS 1.3
/// tickets (each used once), enough of them for every connection of a churn test.
#[derive(Debug, Default)]
struct SessionStore(Mutex<Sessions>);

#[derive(Debug, Default)]
struct Sessions {
    kx_hints: HashMap<ServerName<'static>, NamedGroup>,
    tls12: HashMap<ServerName<'static>, Tls12ClientSessionValue>,
    tls13: HashMap<ServerName<'static>, VecDeque<Tls13ClientSessionValue>>,
}

impl SessionStore {
    fn with<T>(&self, f: impl FnOnce(&mut Sessions) -> T) -> T {
        // Only this worker's thread uses its store; a poisoned lock still holds whole data.
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl ClientSessionStore for SessionStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.with(|s| s.kx_hints.insert(server_name, group));
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(|s| s.kx_hints.get(server_name).copied())
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.with(|s| s.tls12.insert(server_name, value));
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(|s| s.tls12.get(server_name).cloned())
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.with(|s| s.tls12.remove(server_name));
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.with(|s| {
            let tickets = s.tls13.entry(server_name).or_default();
            if tickets.len() == MAX_TICKETS {
                tickets.pop_front();
            }
            tickets.push_back(value);
        });
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        // The newest: the furthest from its expiry.
        self.with(|s| s.tls13.get_mut(server_name)?.pop_back())
    }
}

/// `insecure`: any certificate is accepted, for a self-signed loopback server; the
/// handshake's signatures are still checked, so the server must hold the key of the
/// certificate it sent.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The kind of a TLS failure carried by an I/O error, with words for the user; `None`
/// when the error is not TLS's (a reset, a close).
pub(crate) fn failure_of(err: &io::Error) -> Option<(Failure, String)> {
    let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(why) => (
            Failure::TlsCertificate,
            format!(
                "the server's certificate was rejected: {why:?}; give the CA that signed it \
                 (cacert, --cacert FILE), the name it was issued for (sni, --sni NAME), or \
                 insecure (--insecure) for a self-signed loopback server"
            ),
        ),
        rustls::Error::AlertReceived(alert) => (
            Failure::TlsAlert,
            format!("the server sent the TLS alert {alert:?}"),
        ),
        other => (Failure::TlsHandshake, format!("TLS: {other}")),
    })
}

/// What a failed handshake counts as, with its words: a TLS error by its kind; the
/// server closing mid-handshake is a handshake failure (a plain server on a TLS port
/// often does that); other I/O errors are classified as usual by the caller.
pub(crate) fn handshake_failure(err: &io::Error) -> Option<(Failure, String)> {
    if let Some(found) = failure_of(err) {
        return Some(found);
    }
    (err.kind() == io::ErrorKind::UnexpectedEof).then(|| {
        (
            Failure::TlsHandshake,
            "the server closed the connection during the TLS handshake; is it serving TLS \
             on this port?"
                .to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_errors_are_classified_by_kind() {
        let wrap = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let cert = wrap(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        let (kind, words) = failure_of(&cert).unwrap();
        assert_eq!(kind, Failure::TlsCertificate);
        assert!(
            words.contains("UnknownIssuer") && words.contains("cacert"),
            "{words}"
        );
        let alert = wrap(rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure,
        ));
        assert_eq!(failure_of(&alert).unwrap().0, Failure::TlsAlert);
        let other = wrap(rustls::Error::DecryptError);
        assert_eq!(failure_of(&other).unwrap().0, Failure::TlsHandshake);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(failure_of(&reset).is_none());
        assert!(handshake_failure(&reset).is_none());
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(handshake_failure(&eof).unwrap().0, Failure::TlsHandshake);
    }
}
