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

use super::connection::{ConnPhase, Connections, Io, RequestKind, Target, Versions};
use crate::config::Config;
use crate::output::{BrokerAddress, ConnId};
use crate::protocol::{self, ErrorCode, SaslAuthenticateRequest, SaslHandshakeRequest};
use crate::rng::Rng;
use crate::sasl::{SaslSession, Step};
use crate::time::Instant;
use bytes::Bytes;
use std::collections::BTreeMap;
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

/// What a step of the SASL exchange leads to.
pub(crate) enum AuthStep {
    /// A request went out; the exchange goes on when its answer comes.
    Pending,
    /// Nothing to do (the connection is gone, or the answer was for no exchange).
    Nothing,
    /// Authenticated (or no SASL configured): the connection is ready with these versions.
    Ready(Versions),
    /// The exchange failed (`message` says why): the connection ends and the records
    /// waiting for its broker fail.
    Failed(String),
}

impl Connections {
    /// Starts (or restarts, to re-authenticate) the SASL exchange on `conn`.
    pub(crate) fn begin_auth(
        &mut self,
        conn: ConnId,
        versions: Versions,
        io: &mut Io<'_>,
        now: Instant,
    ) -> AuthStep {
        let Some(sasl) = &io.config.sasl else {
            return AuthStep::Ready(versions);
        };
        let mechanism = sasl.mechanism.name().to_owned();
        let Some((handshake_version, authenticate_version)) = versions.sasl else {
            return AuthStep::Failed(
                "the broker does not speak SaslHandshake v1 and SaslAuthenticate (Kafka 1.0+)"
                    .to_owned(),
            );
        };
        if let Some(c) = self.conns.get_mut(&conn) {
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
        self.transmit(conn, handshake_version, &body, Some(kind), io, now);
        AuthStep::Pending
    }

    fn auth_mut(&mut self, conn: ConnId) -> Option<&mut Auth> {
        match self.conns.get_mut(&conn).map(|c| &mut c.phase) {
            Some(ConnPhase::Authenticating(a)) => Some(a),
            _ => None,
        }
    }

    /// The SaslHandshake answer: the broker enables our mechanism, or the exchange fails.
    pub(crate) fn on_sasl_handshake(
        &mut self,
        conn: ConnId,
        version: i16,
        frame: &[u8],
        rng: &mut Rng,
        io: &mut Io<'_>,
        now: Instant,
    ) -> AuthStep {
        let resp = match protocol::decode_response::<SaslHandshakeRequest>(version, frame) {
            Ok((_, r)) => r,
            Err(e) => return AuthStep::Failed(format!("malformed SaslHandshake answer: {e}")),
        };
        let code = ErrorCode(resp.error_code);
        if !code.is_ok() {
            let offered: Vec<String> = resp.mechanisms.iter().take(16).map(|m| clip(m)).collect();
            let mechanism = io.config.sasl.as_ref().map_or("", |s| s.mechanism.name());
            let message = if code == ErrorCode::UNSUPPORTED_SASL_MECHANISM {
                format!("{code}: {mechanism} is not enabled; the broker offers {offered:?}")
            } else {
                format!("{code} in SaslHandshake")
            };
            return AuthStep::Failed(message);
        }
        let Some(sasl) = io.config.sasl.as_ref() else {
            return AuthStep::Nothing;
        };
        let (session, first) = match SaslSession::start(sasl, rng) {
            Ok(started) => started,
            Err(e) => return AuthStep::Failed(e.to_string()),
        };
        let Some(auth) = self.auth_mut(conn) else {
            return AuthStep::Nothing;
        };
        auth.session = Some(session);
        self.send_authenticate(conn, first, io, now)
    }

    fn send_authenticate(
        &mut self,
        conn: ConnId,
        bytes: Vec<u8>,
        io: &mut Io<'_>,
        now: Instant,
    ) -> AuthStep {
        let Some(auth) = self.auth_mut(conn) else {
            return AuthStep::Nothing;
        };
        auth.sent_at = now;
        let version = auth.authenticate_version;
        let body = SaslAuthenticateRequest {
            auth_bytes: Bytes::from(bytes),
        };
        let kind = RequestKind::SaslAuthenticate { version };
        self.transmit(conn, version, &body, Some(kind), io, now);
        AuthStep::Pending
    }

    /// A SaslAuthenticate answer: the next round, success, or failure. On success the
    /// connection's re-authentication is scheduled (KIP-368).
    pub(crate) fn on_sasl_authenticate(
        &mut self,
        conn: ConnId,
        version: i16,
        frame: &[u8],
        rng: &mut Rng,
        io: &mut Io<'_>,
        now: Instant,
    ) -> AuthStep {
        let resp = match protocol::decode_response::<SaslAuthenticateRequest>(version, frame) {
            Ok((_, r)) => r,
            Err(e) => return AuthStep::Failed(format!("malformed SaslAuthenticate answer: {e}")),
        };
        let Some(auth) = self.auth_mut(conn) else {
            return AuthStep::Nothing;
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
            return AuthStep::Failed(message);
        }
        let Some(session) = auth.session.as_mut() else {
            return AuthStep::Failed("SaslAuthenticate answered before the handshake".into());
        };
        match session.step(&resp.auth_bytes) {
            Err(e) => AuthStep::Failed(e.to_string()),
            Ok(Step::Send(next)) => self.send_authenticate(conn, next, io, now),
            Ok(Step::Done) => {
                let sent_at = auth.sent_at;
                let lifetime = u64::try_from(resp.session_lifetime_ms).unwrap_or(0);
                let Some(c) = self.conns.get_mut(&conn) else {
                    return AuthStep::Nothing;
                };
                let ConnPhase::Authenticating(auth) =
                    std::mem::replace(&mut c.phase, ConnPhase::Negotiating)
                else {
                    return AuthStep::Nothing;
                };
                c.reauth_at = (lifetime > 0).then(|| {
                    let fraction = 0.85 + 0.10 * rng.unit();
                    let ms = (lifetime as f64 * fraction) as u64;
                    // At least a millisecond on, so a tiny lifetime cannot spin.
                    sent_at + Duration::from_millis(ms.max(1))
                });
                AuthStep::Ready(auth.versions)
            }
        }
    }

    /// The broker `conn` authenticates with, for an authentication error.
    pub(crate) fn auth_broker(
        &self,
        conn: ConnId,
        brokers: &BTreeMap<i32, BrokerAddress>,
        config: &Config,
    ) -> Option<(Target, String)> {
        let target = self.conns.get(&conn).map(|c| c.target)?;
        let broker = match target {
            Target::Bootstrap(i) => config.bootstrap_servers.get(i).cloned().unwrap_or_default(),
            Target::Node(n) => brokers
                .get(&n)
                .map_or_else(|| format!("node {n}"), |a| a.to_string()),
        };
        Some((target, broker))
    }

    /// KIP-368: connections whose session is due for renewal stop taking requests; those
    /// with nothing in flight are returned, their phase reset, to re-authenticate.
    pub(crate) fn due_for_reauth(&mut self, now: Instant) -> Vec<(ConnId, Versions)> {
        let due: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.phase, ConnPhase::Ready(_)) && c.reauth_at.is_some_and(|t| now >= t)
            })
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for conn in due {
            let Some(c) = self.conns.get_mut(&conn) else {
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
            out.push((conn, versions));
        }
        out
    }
}
