//! One broker connection: a non-blocking mio socket, its connect state and its write queue.
//!
//! With TLS (`security.protocol=SSL`), rustls' sans-IO [`ClientConnection`] sits between the
//! queue and the socket: `read_tls` / `process_new_packets` / `write_tls` are driven by hand
//! until the socket would block (the socket is registered for both readiness kinds, edge
//! triggered, so every pass goes until `WouldBlock`). The handshake runs after the TCP
//! connect and before the connection counts as connected, so the core only sees plaintext.

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use odradek_core::ConnectionError;
use odradek_driver::tls::{classify, closed_during_handshake};
use odradek_driver::write_queue::{WriteQueue, MAX_IOV};
use rustls::ClientConnection;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;

/// Where a connection stands.
#[derive(Debug)]
pub(crate) enum SocketPhase {
    /// `connect` was issued; the remaining addresses are tried if this one fails.
    Connecting { rest: VecDeque<SocketAddr> },
    /// TCP is open; the TLS handshake is running.
    Handshaking,
    /// Open and reported to the core.
    Connected,
}

/// What a connect-readiness check found.
#[derive(Debug)]
pub(crate) enum ConnectCheck {
    /// Still in progress; wait for the next event.
    Pending,
    /// Open.
    Connected,
    /// This address failed.
    Failed,
}

/// What a read or write pass ended with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IoProgress {
    /// The socket would block: everything possible was done; wait for the next event.
    Drained,
    /// The per-wake-up cap was reached with more to do.
    Capped,
    /// The connection is finished (EOF or an error).
    Closed,
}

/// A broker connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) token: Token,
    pub(crate) stream: TcpStream,
    pub(crate) phase: SocketPhase,
    out: WriteQueue,
    /// The TLS session, with `security.protocol=SSL`.
    tls: Option<Box<ClientConnection>>,
    /// `host:port`, for errors.
    broker: String,
    /// Why the connection failed, when TLS can say (taken by the producer to tell the core).
    pub(crate) failure: Option<ConnectionError>,
    /// Until when the TCP connect and TLS handshake may run (set by the producer).
    pub(crate) connect_deadline: Option<odradek_core::Instant>,
}

/// A TCP connect to `broker` that failed, with the socket's words.
pub(crate) fn connect_failure(broker: &str, detail: String) -> ConnectionError {
    ConnectionError {
        broker: broker.to_owned(),
        kind: odradek_core::ConnectionErrorKind::ConnectFailed,
        detail,
    }
}

impl Connection {
    /// Starts a non-blocking connect to the first address that accepts a `connect` call, and
    /// registers it under `token`. `None` when no address is left.
    pub(crate) fn connect(
        registry: &Registry,
        token: Token,
        mut addrs: VecDeque<SocketAddr>,
        tls: Option<ClientConnection>,
        broker: String,
    ) -> Option<Connection> {
        let stream = next_stream(registry, token, &mut addrs)?;
        Some(Connection {
            token,
            stream,
            phase: SocketPhase::Connecting { rest: addrs },
            out: WriteQueue::new(),
            tls: tls.map(Box::new),
            broker,
            failure: None,
            connect_deadline: None,
        })
    }

    /// Drives the TLS handshake until the socket would block, it finishes or it fails.
    fn handshake(&mut self) -> ConnectCheck {
        let Some(tls) = self.tls.as_deref_mut() else {
            self.phase = SocketPhase::Connected;
            return ConnectCheck::Connected;
        };
        loop {
            let mut blocked = false;
            while tls.wants_write() {
                match tls.write_tls(&mut self.stream) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        blocked = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return ConnectCheck::Failed,
                }
            }
            if !tls.is_handshaking() {
                // Anything still unsent goes out with the first write.
                self.phase = SocketPhase::Connected;
                return ConnectCheck::Connected;
            }
            if !tls.wants_read() {
                if blocked {
                    return ConnectCheck::Pending;
                }
                return ConnectCheck::Failed;
            }
            match tls.read_tls(&mut self.stream) {
                Ok(0) => {
                    self.failure = Some(closed_during_handshake(&self.broker));
                    return ConnectCheck::Failed;
                }
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // Send the alert rustls queued, as far as the socket takes it.
                        let _ = tls.write_tls(&mut self.stream);
                        self.failure = Some(classify(&self.broker, &e));
                        return ConnectCheck::Failed;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ConnectCheck::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return ConnectCheck::Failed,
            }
        }
    }

    /// After an event on a connecting socket: has the connect finished? On failure of one
    /// address the next one is tried under the same token; `Failed` means none is left.
    pub(crate) fn check_connect(&mut self, registry: &Registry) -> ConnectCheck {
        if matches!(self.phase, SocketPhase::Handshaking) {
            return self.handshake();
        }
        let failed = match self.stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match self.stream.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    return ConnectCheck::Pending;
                }
                Err(e) => Some(e),
            },
        };
        let Some(error) = failed else {
            // Kafka requests are small and latency-bound; Nagle only adds delay.
            let _ = self.stream.set_nodelay(true);
            self.phase = SocketPhase::Handshaking;
            return self.handshake();
        };
        let _ = registry.deregister(&mut self.stream);
        let SocketPhase::Connecting { rest } = &mut self.phase else {
            return ConnectCheck::Failed;
        };
        match next_stream(registry, self.token, rest) {
            Some(stream) => {
                self.stream = stream;
                ConnectCheck::Pending
            }
            None => {
                // The last address's error is the cause the records see.
                self.failure = Some(connect_failure(&self.broker, error.to_string()));
                ConnectCheck::Failed
            }
        }
    }

    /// Whether the connection is open.
    pub(crate) fn is_connected(&self) -> bool {
        matches!(self.phase, SocketPhase::Connected)
    }

    /// Queues bytes to write, in order.
    pub(crate) fn queue(&mut self, data: &mut Vec<Bytes>) {
        self.out.extend(data.drain(..));
    }

    /// The connect (and handshake) took longer than `limit`: with TLS, say so as the cause.
    pub(crate) fn connect_timed_out(&mut self, limit: std::time::Duration) {
        self.failure = Some(if self.tls.is_some() {
            ConnectionError {
                broker: self.broker.clone(),
                kind: odradek_core::ConnectionErrorKind::TimedOut,
                detail: format!("no TLS session within {limit:?} (TCP connect and handshake)"),
            }
        } else {
            connect_failure(&self.broker, format!("no connection within {limit:?}"))
        });
    }

    /// Whether bytes wait to be written (queued, or TLS records not yet sent).
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Writes queued bytes with vectored writes until the socket would block, the queue is
    /// empty, or `cap` bytes were written. Also says how many of the queued bytes left the
    /// queue (with TLS: were taken by the session), for the core's `handle_written`.
    pub(crate) fn write(&mut self, cap: usize) -> (IoProgress, usize) {
        if self.tls.is_some() {
            return self.write_tls(cap);
        }
        let mut written = 0;
        while !self.out.is_empty() {
            if written >= cap {
                return (IoProgress::Capped, written);
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let n_slices = self.out.gather(&mut slices);
            match self.stream.write_vectored(&slices[..n_slices]) {
                Ok(0) => return (IoProgress::Closed, written),
                Ok(n) => {
                    written += n;
                    self.out.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return (IoProgress::Drained, written)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return (IoProgress::Closed, written),
            }
        }
        (IoProgress::Drained, written)
    }

    /// [`write`](Self::write) through TLS: sends the session's records until the socket
    /// would block, feeding it queued plaintext as it empties.
    fn write_tls(&mut self, cap: usize) -> (IoProgress, usize) {
        let mut written = 0;
        let mut taken = 0;
        loop {
            let Some(tls) = self.tls.as_deref_mut() else {
                return (IoProgress::Closed, taken);
            };
            while tls.wants_write() {
                match tls.write_tls(&mut self.stream) {
                    Ok(0) => return (IoProgress::Closed, taken),
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return (IoProgress::Drained, taken)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return (IoProgress::Closed, taken),
                }
            }
            if self.out.is_empty() {
                return (IoProgress::Drained, taken);
            }
            if written >= cap {
                return (IoProgress::Capped, taken);
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let n_slices = self.out.gather(&mut slices);
            match tls.writer().write_vectored(&slices[..n_slices]) {
                Ok(0) | Err(_) => return (IoProgress::Closed, taken),
                Ok(n) => {
                    taken += n;
                    self.out.advance(n);
                }
            }
        }
    }

    /// Reads once into `buf`.
    /// With TLS: plaintext, reading and processing TLS records as needed; `WouldBlock` only
    /// once the socket has nothing more and the session holds no plaintext.
    pub(crate) fn read_once(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return self.stream.read(buf);
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Closed without close_notify: the end of the stream all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match tls.read_tls(&mut self.stream)? {
                0 => return Ok(tls.reader().read(buf).unwrap_or(0)),
                _ => {
                    if let Err(e) = tls.process_new_packets() {
                        let _ = tls.write_tls(&mut self.stream);
                        let failure = classify(&self.broker, &e);
                        self.failure = Some(failure.clone());
                        return Err(odradek_driver::tls::io_error(failure));
                    }
                }
            }
        }
    }

    /// Deregisters the socket; dropping the connection then closes it.
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}

/// Opens and registers a socket to the next address that accepts a non-blocking `connect`.
fn next_stream(
    registry: &Registry,
    token: Token,
    addrs: &mut VecDeque<SocketAddr>,
) -> Option<TcpStream> {
    while let Some(addr) = addrs.pop_front() {
        let Ok(mut stream) = TcpStream::connect(addr) else {
            continue;
        };
        if registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_ok()
        {
            return Some(stream);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::time::{Duration, Instant};

    /// Polls until `check` says the connect finished, at most 10 s.
    fn finish_connect(poll: &mut Poll, conn: &mut Connection) -> ConnectCheck {
        let mut events = Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            if events.iter().any(|e| e.token() == conn.token) {
                match conn.check_connect(poll.registry()) {
                    ConnectCheck::Pending => {}
                    done => return done,
                }
            }
        }
        panic!("connect did not finish");
    }

    fn refused() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    #[test]
    fn falls_back_to_the_next_address_and_writes_in_order_with_caps() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        let mut poll = Poll::new().unwrap();
        let addrs = VecDeque::from([refused(), good]);
        let mut conn =
            Connection::connect(poll.registry(), Token(3), addrs, None, "b:1".into()).unwrap();
        assert!(matches!(
            finish_connect(&mut poll, &mut conn),
            ConnectCheck::Connected
        ));
        assert!(conn.is_connected());
        assert!(conn.stream.nodelay().unwrap());
        let (mut peer, _) = listener.accept().unwrap();

        // 4 MiB in chunks of varied sizes, more than the socket buffers take at once.
        let mut expected = Vec::new();
        let mut chunks = Vec::new();
        for i in 0..512u32 {
            let len = 1 + (i as usize * 7919) % 16_384;
            let chunk: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
            expected.extend_from_slice(&chunk);
            chunks.push(Bytes::from(chunk));
        }
        conn.queue(&mut chunks);
        let total = conn.out.bytes();
        // One vectored write makes progress, then the cap stops the pass.
        let (progress, first) = conn.write(1);
        assert_eq!(progress, IoProgress::Capped);
        assert!(conn.out.bytes() < total);
        // What it says it wrote is what left the queue.
        assert_eq!(first, total - conn.out.bytes());
        let mut reported = first;
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; expected.len()];
            peer.read_exact(&mut got).unwrap();
            assert!(
                got == expected,
                "bytes arrive in order, none lost or repeated"
            );
        });
        let mut events = Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(10);
        while conn.has_output() {
            assert!(Instant::now() < deadline, "write did not finish");
            let (progress, n) = conn.write(256 * 1024);
            reported += n;
            match progress {
                IoProgress::Closed => panic!("connection closed"),
                IoProgress::Capped => {}
                IoProgress::Drained => {
                    if conn.has_output() {
                        poll.poll(&mut events, Some(Duration::from_millis(100)))
                            .unwrap();
                    }
                }
            }
        }
        assert_eq!(conn.out.bytes(), 0);
        assert_eq!(reported, total, "every byte written is reported once");
        reader.join().unwrap();
    }

    #[test]
    fn every_address_refused_fails() {
        let mut poll = Poll::new().unwrap();
        let addrs = VecDeque::from([refused(), refused()]);
        match Connection::connect(poll.registry(), Token(1), addrs, None, "b:1".into()) {
            None => {} // refused synchronously: also a failure
            Some(mut conn) => assert!(matches!(
                finish_connect(&mut poll, &mut conn),
                ConnectCheck::Failed
            )),
        }
        assert!(Connection::connect(
            poll.registry(),
            Token(2),
            VecDeque::new(),
            None,
            "b:1".into()
        )
        .is_none());
    }

    /// A CA, a rustls server config for `localhost` signed by it, and another CA.
    fn tls_pki() -> (String, String, std::sync::Arc<rustls::ServerConfig>) {
        let pki = odradek_driver::testing::test_pki();
        (pki.ca_pem, pki.other_ca_pem, pki.server)
    }

    fn tls_session(ca_pem: &str) -> ClientConnection {
        let connector = odradek_driver::tls::TlsConnector::new(&odradek_core::TlsConfig {
            ca: Some(odradek_core::Pem::Text(ca_pem.to_owned())),
            ..Default::default()
        })
        .unwrap();
        connector.session("localhost", "localhost:1").unwrap()
    }

    #[test]
    fn tls_handshake_then_plaintext_both_ways() {
        let (ca_pem, _, server_config) = tls_pki();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A blocking rustls server: reads 100 KiB, answers with them reversed.
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let session = rustls::ServerConnection::new(server_config).unwrap();
            let mut tls = rustls::StreamOwned::new(session, tcp);
            let mut got = vec![0u8; 100 * 1024];
            tls.read_exact(&mut got).unwrap();
            got.reverse();
            tls.write_all(&got).unwrap();
            tls.flush().unwrap();
            tls.conn.send_close_notify();
            tls.flush().unwrap();
        });
        let mut poll = Poll::new().unwrap();
        let addrs = VecDeque::from([addr]);
        let mut conn = Connection::connect(
            poll.registry(),
            Token(5),
            addrs,
            Some(tls_session(&ca_pem)),
            "localhost:1".into(),
        )
        .unwrap();
        assert!(matches!(
            finish_connect(&mut poll, &mut conn),
            ConnectCheck::Connected
        ));
        let sent: Vec<u8> = (0..100 * 1024).map(|i| (i % 251) as u8).collect();
        conn.queue(&mut sent.chunks(7000).map(Bytes::copy_from_slice).collect());
        let mut got = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut events = Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "the exchange did not finish");
            if conn.has_output() {
                assert_ne!(conn.write(256 * 1024).0, IoProgress::Closed);
            }
            match conn.read_once(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    poll.poll(&mut events, Some(Duration::from_millis(100)))
                        .unwrap();
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        let mut expected = sent;
        expected.reverse();
        assert!(got == expected, "the answer arrives whole and in order");
        assert!(conn.failure.is_none());
        server.join().unwrap();
    }

    #[test]
    fn tls_untrusted_broker_fails_with_a_typed_cause() {
        let (_, other_ca_pem, server_config) = tls_pki();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut session = rustls::ServerConnection::new(server_config).unwrap();
            // Until the client's alert ends the handshake.
            while session.complete_io(&mut tcp).is_ok() && session.is_handshaking() {}
        });
        let mut poll = Poll::new().unwrap();
        let mut conn = Connection::connect(
            poll.registry(),
            Token(6),
            VecDeque::from([addr]),
            Some(tls_session(&other_ca_pem)),
            "localhost:1".into(),
        )
        .unwrap();
        assert!(matches!(
            finish_connect(&mut poll, &mut conn),
            ConnectCheck::Failed
        ));
        let cause = conn.failure.take().expect("a typed cause");
        assert_eq!(
            cause.kind,
            odradek_core::ConnectionErrorKind::UntrustedCertificate
        );
        assert_eq!(cause.broker, "localhost:1");
        assert!(!conn.is_connected());
        drop(conn);
        server.join().unwrap();
    }
}
