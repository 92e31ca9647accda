//! TLS for every adapter, over rustls' sans-IO [`ClientConnection`].
//!
//! The core never sees TLS: it reads and writes plaintext Kafka frames. When
//! `security.protocol` is `SSL` (or `SASL_SSL`), the adapter wraps each broker connection:
//!
//! * [`TlsConnector`] is built once per producer from the core's
//!   [`TlsConfig`]: trusted roots from the configured CA PEM (else
//!   the system's roots, via `rustls-native-certs`), the client certificate and key for
//!   mutual TLS, and hostname verification (on by default; off keeps the chain check). Files
//!   are read there, so a missing or unreadable file is an error when the producer starts.
//! * the async driver (tokio, async-std) wraps the runtime's stream in a [`TlsStream`] and
//!   completes the handshake before it tells the core the connection is open; odradek-mio
//!   drives the same [`ClientConnection`] by hand over its mio socket.
//! * a handshake failure (untrusted certificate, hostname mismatch, an alert from the broker)
//!   becomes an [`odradek_core::ConnectionError`] given to
//!   [`ProducerCore::handle_connection_error`](odradek_core::ProducerCore::handle_connection_error),
//!   so records that expire behind it fail with that cause.

use crate::runtime::AsyncIo;
use odradek_core::{ConnectionError, ConnectionErrorKind, Pem, TlsConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
};
use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The TLS settings could not be turned into a client configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("{setting}: cannot read {path}: {reason}")]
    Read {
        /// The setting that names the file.
        setting: &'static str,
        /// The file.
        path: String,
        /// The operating system's words.
        reason: String,
    },
    /// PEM text held nothing usable.
    #[error("{setting}: {reason}")]
    Pem {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the settings (for example a key that does not match the certificate).
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn read_pem(setting: &'static str, pem: &Pem) -> Result<Vec<u8>, TlsError> {
    match pem {
        Pem::Text(text) => Ok(text.as_bytes().to_vec()),
        Pem::File(path) => std::fs::read(path).map_err(|e| TlsError::Read {
            setting,
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

fn certificates(
    setting: &'static str,
    pem: &Pem,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_pem(setting, pem)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            setting,
            reason: format!("bad PEM certificate: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            setting,
            reason: "no PEM certificate found".into(),
        });
    }
    Ok(certs)
}

/// Builds the TLS client side of a producer from its settings, once; cheap to clone.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// Reads the CA, certificate and key (files or text) and builds the rustls client
    /// configuration (ring provider, TLS 1.2 and 1.3).
    pub fn new(tls: &TlsConfig) -> Result<TlsConnector, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        match &tls.ca {
            Some(ca) => {
                for cert in certificates("ssl.ca.location", ca)? {
                    roots.add(cert).map_err(|e| TlsError::Pem {
                        setting: "ssl.ca.location",
                        reason: format!("not a usable CA certificate: {e}"),
                    })?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
                if roots.is_empty() {
                    return Err(TlsError::Pem {
                        setting: "ssl.ca.location",
                        reason: "not set, and no system root certificates were found".into(),
                    });
                }
            }
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = if tls.verify_hostname {
            builder.with_webpki_verifier(verifier)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
        };
        let config = match (&tls.certificate, &tls.key) {
            (Some(cert), Some(key)) => {
                let chain = certificates("ssl.certificate.location", cert)?;
                let bytes = read_pem("ssl.key.location", key)?;
                let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
                    setting: "ssl.key.location",
                    reason: format!("no unencrypted PEM private key found: {e}"),
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsError::Config(e.to_string()))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(TlsConnector {
            config: Arc::new(config),
        })
    }

    /// A new client session for `host` (a DNS name or an IP address), not yet started.
    pub fn session(&self, host: &str, broker: &str) -> Result<ClientConnection, ConnectionError> {
        let name = ServerName::try_from(host.to_owned()).map_err(|e| ConnectionError {
            broker: broker.to_owned(),
            kind: ConnectionErrorKind::Tls,
            detail: format!("not a usable server name: {e}"),
        })?;
        ClientConnection::new(self.config.clone(), name).map_err(|e| classify(broker, &e))
    }
}

/// Checks the broker's chain against the roots like the usual verifier, but not its name:
/// `ssl.endpoint.identification.algorithm` set empty.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // The name is checked only after the chain verified: this error means the
            // chain is good and only the name differs.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A rustls error as the core's typed connection error.
pub fn classify(broker: &str, e: &rustls::Error) -> ConnectionError {
    let kind = match e {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => ConnectionErrorKind::HostnameMismatch,
        rustls::Error::InvalidCertificate(_) => ConnectionErrorKind::UntrustedCertificate,
        rustls::Error::AlertReceived(_) => ConnectionErrorKind::AlertReceived,
        _ => ConnectionErrorKind::Tls,
    };
    ConnectionError {
        broker: broker.to_owned(),
        kind,
        detail: e.to_string(),
    }
}

/// The broker closed the connection before the handshake finished.
pub fn closed_during_handshake(broker: &str) -> ConnectionError {
    ConnectionError {
        broker: broker.to_owned(),
        kind: ConnectionErrorKind::ClosedDuringHandshake,
        detail: "end of stream".into(),
    }
}

/// An I/O error carrying a TLS [`ConnectionError`] (see [`connection_error`]).
pub fn io_error(e: ConnectionError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The TLS [`ConnectionError`] inside an I/O error made by this module, if it is one.
pub fn connection_error(e: &io::Error) -> Option<ConnectionError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<ConnectionError>())
        .cloned()
}

/// Reads from an [`AsyncIo`] for rustls: `Pending` becomes `WouldBlock`.
struct ReadAdapter<'a, 'b, T> {
    io: &'a mut T,
    cx: &'a mut Context<'b>,
}

impl<T: AsyncIo> Read for ReadAdapter<'_, '_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.io.poll_read(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// Writes to an [`AsyncIo`] for rustls: `Pending` becomes `WouldBlock`.
struct WriteAdapter<'a, 'b, T> {
    io: &'a mut T,
    cx: &'a mut Context<'b>,
}

impl<T: AsyncIo> Write for WriteAdapter<'_, '_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.io.poll_write_vectored(self.cx, bufs) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A TLS client stream over any [`AsyncIo`]: what the driver uses for `SSL` connections on
/// every runtime. Plaintext in, TLS records out, driven by rustls' [`ClientConnection`].
///
/// Written plaintext is taken into the session at once and its records are sent as the
/// socket takes them; a write waits only while earlier records are still unsent, and
/// reads also push unsent records out, so nothing accepted stays behind.
pub struct TlsStream<T> {
    io: T,
    tls: ClientConnection,
    broker: String,
}

impl<T> std::fmt::Debug for TlsStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl<T: AsyncIo> TlsStream<T> {
    /// Runs the handshake of `tls` over `io`; `broker` names the peer in errors. A failure
    /// is an I/O error carrying a [`ConnectionError`] (see [`connection_error`]).
    pub async fn handshake(io: T, tls: ClientConnection, broker: String) -> io::Result<Self> {
        let mut stream = TlsStream { io, tls, broker };
        poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let flushed = self.poll_flush_tls(cx)?;
            if !self.tls.is_handshaking() {
                // Our last handshake records go out with the first write or read.
                return Poll::Ready(Ok(()));
            }
            if !self.tls.wants_read() {
                if flushed.is_pending() {
                    return Poll::Pending;
                }
                // Handshaking, nothing to send and nothing wanted: rustls never does this.
                return Poll::Ready(Err(io_error(ConnectionError {
                    broker: self.broker.clone(),
                    kind: ConnectionErrorKind::Tls,
                    detail: "the handshake stalled".into(),
                })));
            }
            match self.poll_read_tls(cx)? {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(0) => {
                    return Poll::Ready(Err(io_error(closed_during_handshake(&self.broker))))
                }
                Poll::Ready(_) => {}
            }
        }
    }

    /// Sends the session's pending TLS records until the socket blocks.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> io::Result<Poll<()>> {
        while self.tls.wants_write() {
            let mut w = WriteAdapter {
                io: &mut self.io,
                cx,
            };
            match self.tls.write_tls(&mut w) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Poll::Pending),
                Err(e) => return Err(e),
            }
        }
        Ok(Poll::Ready(()))
    }

    /// Reads TLS records from the socket into the session and processes them. `Ready(0)`
    /// is the end of the stream.
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> io::Result<Poll<usize>> {
        let mut r = ReadAdapter {
            io: &mut self.io,
            cx,
        };
        let n = match self.tls.read_tls(&mut r) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Poll::Pending),
            Err(e) => return Err(e),
        };
        if let Err(e) = self.tls.process_new_packets() {
            // Tell the broker why (the alert rustls queued), as far as the socket takes it.
            let _ = self.poll_flush_tls(cx);
            return Err(io_error(classify(&self.broker, &e)));
        }
        Ok(Poll::Ready(n))
    }
}

impl<T: AsyncIo> AsyncIo for TlsStream<T> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        // Records left unsent by an earlier write go out first (their waker is set too).
        if let Err(e) = self.poll_flush_tls(cx) {
            return Poll::Ready(Err(e));
        }
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed without close_notify: the end of the stream all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e)),
            }
            match self.poll_read_tls(cx) {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(0)) => {
                    // The end of the stream: what is left (nothing, or data before a
                    // close_notify), then `Ok(0)`, with or without close_notify.
                    return Poll::Ready(Ok(self.tls.reader().read(buf).unwrap_or(0)));
                }
                Ok(Poll::Ready(_)) => {}
            }
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.poll_flush_tls(cx) {
            Err(e) => return Poll::Ready(Err(e)),
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => {}
        }
        let n = match self.tls.writer().write_vectored(bufs) {
            Ok(n) => n,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Err(e) = self.poll_flush_tls(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }
}

/// A broker connection as the driver holds it: the runtime's stream, or TLS over it.
pub(crate) enum Stream<T> {
    /// PLAINTEXT.
    Plain(T),
    /// SSL.
    Tls(Box<TlsStream<T>>),
}

impl<T: AsyncIo> AsyncIo for Stream<T> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Stream::Plain(s) => s.poll_read(cx, buf),
            Stream::Tls(s) => s.poll_read(cx, buf),
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            Stream::Plain(s) => s.poll_write_vectored(cx, bufs),
            Stream::Tls(s) => s.poll_write_vectored(cx, bufs),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The TLS stream against an in-process rustls server over an in-memory pipe: the server
    //! is stepped by hand between polls of the client, so nothing sleeps or races.

    use super::*;
    use rustls::{ServerConfig, ServerConnection};
    use std::task::Waker;

    /// The client's end of a pipe: reads what the test put in `inbound`, writes to
    /// `outbound`; `Pending` when there is nothing to read.
    #[derive(Default)]
    struct Pipe {
        inbound: Vec<u8>,
        outbound: Vec<u8>,
        eof: bool,
    }

    impl AsyncIo for Pipe {
        fn poll_read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            if self.inbound.is_empty() {
                return if self.eof {
                    Poll::Ready(Ok(0))
                } else {
                    Poll::Pending
                };
            }
            let n = buf.len().min(self.inbound.len());
            buf[..n].copy_from_slice(&self.inbound[..n]);
            self.inbound.drain(..n);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            &mut self,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut n = 0;
            for b in bufs {
                self.outbound.extend_from_slice(b);
                n += b.len();
            }
            Poll::Ready(Ok(n))
        }
    }

    use crate::testing::test_pki as pki;

    fn connector(ca: &str, verify_hostname: bool) -> TlsConnector {
        TlsConnector::new(&TlsConfig {
            ca: Some(Pem::Text(ca.to_owned())),
            verify_hostname,
            ..TlsConfig::default()
        })
        .unwrap()
    }

    /// Moves bytes between the client's pipe and the server session, both ways.
    fn step_server(pipe: &mut Pipe, server: &mut ServerConnection) -> Result<(), rustls::Error> {
        let mut from_client = &pipe.outbound[..];
        while !from_client.is_empty() {
            server.read_tls(&mut from_client).unwrap();
            server.process_new_packets()?;
        }
        pipe.outbound.clear();
        while server.wants_write() {
            server.write_tls(&mut pipe.inbound).unwrap();
        }
        Ok(())
    }

    /// Runs the client's handshake (the same `poll_handshake` that
    /// [`TlsStream::handshake`] awaits) against `server`, stepping the server between polls.
    /// The server's own error, if it refused the client, comes second.
    fn handshake(
        connector: &TlsConnector,
        host: &str,
        server: &mut ServerConnection,
    ) -> (io::Result<TlsStream<Pipe>>, Option<rustls::Error>) {
        let tls = connector.session(host, "b:9093").unwrap();
        let mut stream = TlsStream {
            io: Pipe::default(),
            tls,
            broker: "b:9093".into(),
        };
        let mut cx = Context::from_waker(Waker::noop());
        let mut server_error = None;
        for _ in 0..50 {
            match stream.poll_handshake(&mut cx) {
                Poll::Ready(Ok(())) => return (Ok(stream), server_error),
                Poll::Ready(Err(e)) => return (Err(e), server_error),
                Poll::Pending => {}
            }
            if let Err(e) = step_server(&mut stream.io, server) {
                // The server's alert goes to the client; then it hangs up.
                while server.wants_write() {
                    server.write_tls(&mut stream.io.inbound).unwrap();
                }
                stream.io.eof = true;
                server_error = Some(e);
            }
        }
        panic!("the handshake neither finished nor failed");
    }

    fn server(pki: &crate::testing::TestPki) -> ServerConnection {
        ServerConnection::new(pki.server.clone()).unwrap()
    }

    fn kind(e: &io::Error) -> ConnectionErrorKind {
        connection_error(e)
            .unwrap_or_else(|| panic!("not a TLS connection error: {e}"))
            .kind
    }

    #[test]
    fn trusted_broker_carries_plaintext_both_ways() {
        let pki = pki();
        let mut server = server(&pki);
        let (stream, refused) = handshake(&connector(&pki.ca_pem, true), "localhost", &mut server);
        assert!(refused.is_none(), "{refused:?}");
        let mut stream = stream.unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let request = b"kafka request frame";
        let parts = [IoSlice::new(&request[..5]), IoSlice::new(&request[5..])];
        match stream.poll_write_vectored(&mut cx, &parts) {
            Poll::Ready(Ok(n)) => assert_eq!(n, request.len()),
            other => panic!("write: {other:?}"),
        }
        // On the wire it is TLS, not the plaintext.
        assert!(!stream
            .io
            .outbound
            .windows(request.len())
            .any(|w| w == request));
        step_server(&mut stream.io, &mut server).unwrap();
        let mut got = vec![0; 64];
        let n = server.reader().read(&mut got).unwrap();
        assert_eq!(&got[..n], request);

        server.writer().write_all(b"kafka response").unwrap();
        step_server(&mut stream.io, &mut server).unwrap();
        let mut buf = [0u8; 64];
        match stream.poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(n)) => assert_eq!(&buf[..n], b"kafka response"),
            other => panic!("read: {other:?}"),
        }
        // Nothing more: pending, not an error or an end of stream.
        assert!(stream.poll_read(&mut cx, &mut buf).is_pending());
        // The broker hangs up (close_notify): the end of the stream.
        server.send_close_notify();
        step_server(&mut stream.io, &mut server).unwrap();
        stream.io.eof = true;
        assert!(matches!(
            stream.poll_read(&mut cx, &mut buf),
            Poll::Ready(Ok(0))
        ));
    }

    #[test]
    fn another_ca_is_an_untrusted_certificate() {
        let pki = pki();
        let (r, _) = handshake(
            &connector(&pki.other_ca_pem, true),
            "localhost",
            &mut server(&pki),
        );
        let e = r.unwrap_err();
        assert_eq!(kind(&e), ConnectionErrorKind::UntrustedCertificate, "{e}");
        let cause = connection_error(&e).unwrap();
        assert_eq!(cause.broker, "b:9093");
        assert!(!cause.detail.is_empty());
        // ...also with hostname verification off: the chain is still checked.
        let (r, _) = handshake(
            &connector(&pki.other_ca_pem, false),
            "localhost",
            &mut server(&pki),
        );
        assert_eq!(
            kind(&r.unwrap_err()),
            ConnectionErrorKind::UntrustedCertificate
        );
    }

    #[test]
    fn a_name_the_certificate_lacks_is_a_hostname_mismatch_unless_unchecked() {
        let pki = pki();
        for host in ["127.0.0.1", "broker.example"] {
            let (r, _) = handshake(&connector(&pki.ca_pem, true), host, &mut server(&pki));
            let e = r.unwrap_err();
            assert_eq!(
                kind(&e),
                ConnectionErrorKind::HostnameMismatch,
                "{host}: {e}"
            );
        }
        let (r, _) = handshake(
            &connector(&pki.ca_pem, false),
            "127.0.0.1",
            &mut server(&pki),
        );
        assert!(r.is_ok(), "{:?}", r.err());
    }

    #[test]
    fn an_alert_from_the_broker_is_typed() {
        let pki = pki();
        // The server refuses at the hello (no cipher suite in common) with a
        // handshake_failure alert. (A missing client certificate would be refused only after
        // the client's TLS 1.3 handshake is over, so it is not a handshake error here.)
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
            ..rustls::crypto::ring::default_provider()
        };
        let client = {
            let mut roots = RootCertStore::empty();
            for c in certificates("ssl.ca.location", &Pem::Text(pki.ca_pem.clone())).unwrap() {
                roots.add(c).unwrap();
            }
            let only_aes = rustls::crypto::CryptoProvider {
                cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
                ..rustls::crypto::ring::default_provider()
            };
            TlsConnector {
                config: Arc::new(
                    ClientConfig::builder_with_provider(Arc::new(only_aes))
                        .with_safe_default_protocol_versions()
                        .unwrap()
                        .with_root_certificates(roots)
                        .with_no_client_auth(),
                ),
            }
        };
        let server_config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(pki.server.cert_resolver.clone());
        let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();
        let (r, refused) = handshake(&client, "localhost", &mut server);
        assert!(refused.is_some(), "the server refused");
        let e = r.unwrap_err();
        assert_eq!(kind(&e), ConnectionErrorKind::AlertReceived, "{e}");
    }

    #[test]
    fn a_hang_up_during_the_handshake_is_typed() {
        let pki = pki();
        let tls = connector(&pki.ca_pem, true)
            .session("localhost", "b:9093")
            .unwrap();
        let mut stream = TlsStream {
            io: Pipe {
                eof: true,
                ..Pipe::default()
            },
            tls,
            broker: "b:9093".into(),
        };
        let mut cx = Context::from_waker(Waker::noop());
        match stream.poll_handshake(&mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(kind(&e), ConnectionErrorKind::ClosedDuringHandshake),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unusable_settings_name_the_setting() {
        let bad_ca = TlsConnector::new(&TlsConfig {
            ca: Some(Pem::Text("not pem".into())),
            ..TlsConfig::default()
        })
        .unwrap_err();
        assert!(bad_ca.to_string().contains("ssl.ca.location"), "{bad_ca}");
        let missing = TlsConnector::new(&TlsConfig {
            ca: Some(Pem::File("/nonexistent/ca.pem".into())),
            ..TlsConfig::default()
        })
        .unwrap_err();
        assert!(
            matches!(
                missing,
                TlsError::Read {
                    setting: "ssl.ca.location",
                    ..
                }
            ),
            "{missing}"
        );
        let pki = pki();
        let no_key = TlsConnector::new(&TlsConfig {
            ca: Some(Pem::Text(pki.ca_pem.clone())),
            certificate: Some(Pem::Text(pki.ca_pem.clone())),
            key: Some(Pem::Text("no key here".into())),
            ..TlsConfig::default()
        })
        .unwrap_err();
        assert!(no_key.to_string().contains("ssl.key.location"), "{no_key}");
    }
}
