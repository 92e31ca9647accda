//! SASL on a connection (KIP-43, KIP-152, KIP-368): after ApiVersions and before any other
//! request, SaslHandshake v1 with the configured mechanism, then SaslAuthenticate rounds
//! until the mechanism and the broker are satisfied; only then is the connection ready.
//!
//! When the broker gives the session a lifetime, the connection re-authenticates at a random
//! point between 85 % and 95 % of it (as the Java client does), measured from when the last
//! SaslAuthenticate went out: it stops taking new requests ("draining"), waits for those in
//! flight, runs the exchange again, and resumes.
//!
//! A failed exchange fails the records waiting for that broker with
//! [`ProduceError::Authentication`], closes the connection, and leaves its reconnect backoff
//! growing (it is cleared only by a successful authentication), so a refused login is not
//! retried in a hot loop.

use super::connection::{ConnPhase, Report, RequestKind, Target, Versions};
use super::ProducerCore;
use crate::error::{ProduceError, RetryCause};
use crate::output::ConnId;
use crate::protocol::{self, ErrorCode, SaslAuthenticateRequest, SaslHandshakeRequest};
use crate::sasl::{SaslSession, Step};
use crate::time::Instant;
use bytes::Bytes;
use std::time::Duration;

/// The state of one connection's SASL exchange.
#[derive(Debug)]
pub(crate) struct Auth {
    /// What ApiVersions agreed (the connection's state once authenticated).
    versions: Versions,
    /// The SaslAuthenticate version.
    authenticate_version: i16,
    /// The mechanism's state, once the handshake was accepted.
    session: Option<SaslSession>,
    /// When the last SaslAuthenticate was sent (the session lifetime counts from there).
    sent_at: Instant,
}

/// Keeps what a broker says short in our errors.
fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

impl ProducerCore {
    /// Starts (or restarts, to re-authenticate) the SASL exchange on `conn`.
    pub(super) fn begin_auth(&mut self, conn: ConnId, versions: Versions, now: Instant) {
        let Some(sasl) = &self.config.sasl else {
            return self.conn_ready(conn, versions);
        };
        let mechanism = sasl.mechanism.name().to_owned();
        let Some((handshake_version, authenticate_version)) = versions.sasl else {
            return self.auth_failed(
                conn,
                "the broker does not speak SaslHandshake v1 and SaslAuthenticate (Kafka 1.0+)"
                    .to_owned(),
                now,
            );
        };
        if let Some(c) = self.conns.conns.get_mut(&conn) {
            c.reauth_at = None;
            c.phase = ConnPhase::Authenticating(Box::new(Auth {
                versions,
                authenticate_version,
                session: None,
                sent_at: now,
            }));
        }
        let body = SaslHandshakeRequest { mechanism };
        let kind = RequestKind::SaslHandshake {
            version: handshake_version,
        };
        self.transmit(conn, handshake_version, &body, Some(kind), now);
    }

    fn auth_mut(&mut self, conn: ConnId) -> Option<&mut Auth> {
        match self.conns.conns.get_mut(&conn).map(|c| &mut c.phase) {
            Some(ConnPhase::Authenticating(a)) => Some(a),
            _ => None,
        }
    }

    /// The SaslHandshake answer: the broker enables our mechanism, or the exchange fails.
    pub(super) fn on_sasl_handshake(
        &mut self,
        conn: ConnId,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) {
        let resp = match protocol::decode_response::<SaslHandshakeRequest>(version, frame) {
            Ok((_, r)) => r,
            Err(e) => {
                return self.auth_failed(conn, format!("malformed SaslHandshake answer: {e}"), now)
            }
        };
        let code = ErrorCode(resp.error_code);
        if !code.is_ok() {
            let offered: Vec<String> = resp.mechanisms.iter().take(16).map(|m| clip(m)).collect();
            let mechanism = self.config.sasl.as_ref().map_or("", |s| s.mechanism.name());
            let message = if code == ErrorCode::UNSUPPORTED_SASL_MECHANISM {
                format!("{code}: {mechanism} is not enabled; the broker offers {offered:?}")
            } else {
                format!("{code} in SaslHandshake")
            };
            return self.auth_failed(conn, message, now);
        }
        let Some(sasl) = self.config.sasl.as_ref() else {
            return;
        };
        let (session, first) = match SaslSession::start(sasl, &mut self.rng) {
            Ok(started) => started,
            Err(e) => return self.auth_failed(conn, e.to_string(), now),
        };
        let Some(auth) = self.auth_mut(conn) else {
            return;
        };
        auth.session = Some(session);
        self.send_authenticate(conn, first, now);
    }

    fn send_authenticate(&mut self, conn: ConnId, bytes: Vec<u8>, now: Instant) {
        let Some(auth) = self.auth_mut(conn) else {
            return;
        };
        auth.sent_at = now;
        let version = auth.authenticate_version;
        let body = SaslAuthenticateRequest {
            auth_bytes: Bytes::from(bytes),
        };
        let kind = RequestKind::SaslAuthenticate { version };
        self.transmit(conn, version, &body, Some(kind), now);
    }

    /// A SaslAuthenticate answer: the next round, success, or failure.
    pub(super) fn on_sasl_authenticate(
        &mut self,
        conn: ConnId,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) {
        let resp = match protocol::decode_response::<SaslAuthenticateRequest>(version, frame) {
            Ok((_, r)) => r,
            Err(e) => {
                return self.auth_failed(
                    conn,
                    format!("malformed SaslAuthenticate answer: {e}"),
                    now,
                )
            }
        };
        let Some(auth) = self.auth_mut(conn) else {
            return;
        };
        let code = ErrorCode(resp.error_code);
        if !code.is_ok() {
            let mut message = code.to_string();
            if let Some(m) = resp.error_message.as_deref().filter(|m| !m.is_empty()) {
                message = format!("{message}: {}", clip(m));
            }
            if let Some(e) = auth.session.as_ref().and_then(|s| s.server_error()) {
                message = format!("{message} ({})", clip(e));
            }
            return self.auth_failed(conn, message, now);
        }
        let Some(session) = auth.session.as_mut() else {
            return self.auth_failed(
                conn,
                "SaslAuthenticate answered before the handshake".into(),
                now,
            );
        };
        match session.step(&resp.auth_bytes) {
            Err(e) => self.auth_failed(conn, e.to_string(), now),
            Ok(Step::Send(next)) => self.send_authenticate(conn, next, now),
            Ok(Step::Done) => {
                let sent_at = auth.sent_at;
                let lifetime = u64::try_from(resp.session_lifetime_ms).unwrap_or(0);
                let Some(c) = self.conns.conns.get_mut(&conn) else {
                    return;
                };
                let ConnPhase::Authenticating(auth) =
                    std::mem::replace(&mut c.phase, ConnPhase::Negotiating)
                else {
                    return;
                };
                let reauth_at = (lifetime > 0).then(|| {
                    let fraction = 0.85 + 0.10 * self.rng.unit();
                    let ms = (lifetime as f64 * fraction) as u64;
                    // At least a millisecond on, so a tiny lifetime cannot spin.
                    sent_at + Duration::from_millis(ms.max(1))
                });
                self.conn_ready(conn, auth.versions);
                if let Some(c) = self.conns.conns.get_mut(&conn) {
                    c.reauth_at = reauth_at;
                }
            }
        }
    }

    /// The exchange on `conn` failed: close it (its backoff grows) and fail the records that
    /// were waiting for its broker.
    pub(super) fn auth_failed(&mut self, conn: ConnId, message: String, now: Instant) {
        let Some(target) = self.conns.conns.get(&conn).map(|c| c.target) else {
            return;
        };
        let broker = match target {
            Target::Bootstrap(i) => self
                .config
                .bootstrap_servers
                .get(i)
                .cloned()
                .unwrap_or_default(),
            Target::Node(n) => self
                .metadata
                .brokers
                .get(&n)
                .map_or_else(|| format!("node {n}"), |a| a.to_string()),
        };
        let error = ProduceError::Authentication { broker, message };
        self.drop_conn(conn, RetryCause::ConnectionLost, Report::Emit, now);
        let mut failed = Vec::new();
        if let Target::Node(node) = target {
            for (t, topic) in self.topics.iter_mut().enumerate() {
                self.visited += topic.partitions.len() as u64;
                for (index, part) in topic.partitions.iter_mut().enumerate() {
                    if part.leader == Some(node) {
                        part.take_batches(&mut failed);
                        self.dirty.mark(super::PartitionRef {
                            topic: super::topic::TopicIdx(t),
                            index,
                        });
                    }
                }
            }
        }
        if self.conns.ready_for_metadata().is_none() {
            // No broker to ask for metadata: records waiting for it would wait in vain.
            for topic in &mut self.topics {
                failed.extend(topic.waiting.drain(..));
            }
        }
        self.fail_all(failed, &error);
    }

    /// KIP-368: connections whose session is due for renewal stop taking requests, and those
    /// with nothing in flight re-authenticate.
    pub(super) fn reauth_step(&mut self, now: Instant) {
        let due: Vec<ConnId> = self
            .conns
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.phase, ConnPhase::Ready(_)) && c.reauth_at.is_some_and(|t| now >= t)
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in due {
            let Some(c) = self.conns.conns.get_mut(&conn) else {
                continue;
            };
            c.draining = true;
            if !c.outstanding.is_empty() {
                continue;
            }
            let ConnPhase::Ready(versions) =
                std::mem::replace(&mut c.phase, ConnPhase::Negotiating)
            else {
                continue;
            };
            self.begin_auth(conn, versions, now);
        }
    }
}
