//! SASL authentication, sans-IO: the configuration ([`SaslConfig`]) and the mechanisms (PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER) as plain state machines over the tokens the
//! broker sends. The connection's protocol is [`SecurityProtocol`](crate::SecurityProtocol).
//!
//! The core runs the exchange on each connection itself (SaslHandshake, then SaslAuthenticate
//! rounds, right after ApiVersions and before any other request), so drivers only move bytes.
//! TLS, when the protocol is `SASL_SSL`, sits below the core in the adapter: the core sees
//! plaintext either way.
//!
//! ## OAUTHBEARER
//!
//! The core never fetches tokens. The user hands it an [`OAuthBearerTokenProvider`] in
//! [`SaslConfig::oauth_token_provider`]; the core calls [`OAuthBearerTokenProvider::token`]
//! each time a connection authenticates (or re-authenticates), from inside the input that
//! made it necessary. The call must return at once: refresh tokens elsewhere (a task or
//! thread of the application) and let the provider hand over the current one. An `Err`
//! fails the connection like a refused authentication.

mod scram;

pub use scram::server::ScramServer;
pub use scram::ScramClient;

use crate::rng::Rng;
use std::fmt;
use std::sync::Arc;

/// `sasl.mechanism`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): user name and password in the clear (use it over TLS).
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512` (RFC 5802 with SHA-512).
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628, KIP-255) with tokens from an [`OAuthBearerTokenProvider`].
    OAuthBearer,
}

impl SaslMechanism {
    /// The mechanism's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism named `name` (as Kafka spells it, case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Some(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(SaslMechanism::ScramSha512),
            "OAUTHBEARER" => Some(SaslMechanism::OAuthBearer),
            _ => None,
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An OAUTHBEARER token, as the provider hands it over.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    /// The compact token (usually a JWT), sent as `auth=Bearer <value>`.
    pub value: String,
    /// SASL extensions (KIP-342), sent as `key=value` pairs next to the token.
    pub extensions: Vec<(String, String)>,
}

impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &"<redacted>")
            .field("extensions", &self.extensions)
            .finish()
    }
}

/// Where OAUTHBEARER tokens come from; see the [module docs](self#oauthbearer).
pub trait OAuthBearerTokenProvider: Send + Sync {
    /// The token to authenticate with now. Must not block; an `Err` (with a message for the
    /// user) fails the connection's authentication.
    fn token(&self) -> Result<OAuthBearerToken, String>;
}

/// SASL settings: `sasl.mechanism`, `sasl.username`, `sasl.password` (or the same from
/// `sasl.jaas.config`), and the OAUTHBEARER token provider.
///
/// `Debug` never shows the password.
#[derive(Clone)]
pub struct SaslConfig {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user name (PLAIN and SCRAM).
    pub username: String,
    /// The password (PLAIN and SCRAM).
    pub password: String,
    /// Tokens for OAUTHBEARER (required with it, ignored otherwise).
    pub oauth_token_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
}

impl SaslConfig {
    /// A PLAIN or SCRAM configuration.
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        SaslConfig {
            mechanism,
            username: username.into(),
            password: password.into(),
            oauth_token_provider: None,
        }
    }

    /// An OAUTHBEARER configuration with tokens from `provider`.
    pub fn oauth_bearer(provider: Arc<dyn OAuthBearerTokenProvider>) -> Self {
        SaslConfig {
            mechanism: SaslMechanism::OAuthBearer,
            username: String::new(),
            password: String::new(),
            oauth_token_provider: Some(provider),
        }
    }
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field(
                "oauth_token_provider",
                &self.oauth_token_provider.as_ref().map(|_| "<provider>"),
            )
            .finish()
    }
}

/// Why a SASL exchange failed on the client's side of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The broker's message does not follow the mechanism.
    #[error("malformed server message: {0}")]
    Malformed(&'static str),
    /// SCRAM: the server's nonce does not extend ours.
    #[error("server nonce does not start with the client nonce")]
    NonceMismatch,
    /// SCRAM: the iteration count is outside what Kafka allows (4096–16384).
    #[error("iteration count {0} outside 4096..=16384")]
    Iterations(u64),
    /// SCRAM: the server's signature is wrong (it does not know the password: not the broker
    /// we think it is).
    #[error("server signature mismatch")]
    BadServerSignature,
    /// The server reported an error inside the mechanism (SCRAM `e=`, OAUTHBEARER status).
    #[error("server error: {0}")]
    Server(String),
    /// The OAUTHBEARER provider had no token.
    #[error("no OAUTHBEARER token: {0}")]
    NoToken(String),
}

/// What to do after feeding the broker's bytes to a SASL mechanism (the core's session, or a
/// [`ScramClient`] stepped by hand with [`ScramClient::step`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes in another SaslAuthenticate.
    Send(Vec<u8>),
    /// The client side is satisfied: authenticated (if the broker's code said so too).
    Done,
}

/// One exchange of one mechanism, client side.
#[derive(Debug)]
pub(crate) enum SaslSession {
    /// PLAIN: one message, one answer.
    Plain,
    /// SCRAM.
    Scram(ScramClient),
    /// OAUTHBEARER: `error` holds the server's error challenge once one came (the client then
    /// sends the `%x01` acknowledgement and expects the broker's failure code).
    OAuth {
        /// The server's error challenge, once received.
        error: Option<String>,
    },
}

impl SaslSession {
    /// Starts an exchange: the session and the client's first message. The SCRAM nonce
    /// comes from `rng`.
    pub(crate) fn start(config: &SaslConfig, rng: &mut Rng) -> Result<(Self, Vec<u8>), SaslError> {
        match config.mechanism {
            SaslMechanism::Plain => {
                let mut msg = Vec::with_capacity(config.username.len() + config.password.len() + 2);
                msg.push(0);
                msg.extend_from_slice(config.username.as_bytes());
                msg.push(0);
                msg.extend_from_slice(config.password.as_bytes());
                Ok((SaslSession::Plain, msg))
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let mut raw = [0u8; 24];
                for chunk in raw.chunks_mut(8) {
                    chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
                }
                let nonce = scram::encode_nonce(&raw);
                let (client, first) =
                    ScramClient::new(config.mechanism, &config.username, &config.password, nonce);
                Ok((SaslSession::Scram(client), first.into_bytes()))
            }
            SaslMechanism::OAuthBearer => {
                let provider = config
                    .oauth_token_provider
                    .as_ref()
                    .ok_or_else(|| SaslError::NoToken("no token provider configured".into()))?;
                let token = provider.token().map_err(SaslError::NoToken)?;
                Ok((
                    SaslSession::OAuth { error: None },
                    oauth_first_message(&token),
                ))
            }
        }
    }

    /// The broker's bytes from a successful SaslAuthenticate answer.
    pub(crate) fn step(&mut self, server: &[u8]) -> Result<Step, SaslError> {
        match self {
            SaslSession::Plain => Ok(Step::Done),
            SaslSession::Scram(c) => c.step(server),
            SaslSession::OAuth { error } => {
                if let Some(e) = error.take() {
                    return Err(SaslError::Server(e));
                }
                if server.is_empty() {
                    Ok(Step::Done)
                } else {
                    // An error challenge (RFC 7628 §3.2.2): acknowledge it; the broker then
                    // fails the exchange.
                    let text = String::from_utf8_lossy(&server[..server.len().min(512)]);
                    *error = Some(text.into_owned());
                    Ok(Step::Send(vec![0x01]))
                }
            }
        }
    }

    /// OAUTHBEARER: the server's error challenge, if one came (to explain a failure code).
    pub(crate) fn server_error(&self) -> Option<&str> {
        match self {
            SaslSession::OAuth { error } => error.as_deref(),
            _ => None,
        }
    }
}

/// RFC 7628's initial client response: `n,,` `%x01` `auth=Bearer <token>` `%x01`, the
/// extensions as `key=value` `%x01` each, and a final `%x01`.
fn oauth_first_message(token: &OAuthBearerToken) -> Vec<u8> {
    let mut msg = b"n,,\x01auth=Bearer ".to_vec();
    msg.extend_from_slice(token.value.as_bytes());
    msg.push(0x01);
    for (k, v) in &token.extensions {
        msg.extend_from_slice(k.as_bytes());
        msg.push(b'=');
        msg.extend_from_slice(v.as_bytes());
        msg.push(0x01);
    }
    msg.push(0x01);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Result<OAuthBearerToken, String>);
    impl OAuthBearerTokenProvider for Fixed {
        fn token(&self) -> Result<OAuthBearerToken, String> {
            self.0.clone()
        }
    }

    #[test]
    fn plain_sends_authzid_user_password_and_is_done_on_the_answer() {
        let c = SaslConfig::new(SaslMechanism::Plain, "alice", "s3cret");
        let (mut s, first) = SaslSession::start(&c, &mut Rng::new(1)).unwrap();
        assert_eq!(first, b"\0alice\0s3cret");
        assert_eq!(s.step(b""), Ok(Step::Done));
    }

    #[test]
    fn oauth_sends_the_token_with_extensions_and_acknowledges_an_error_challenge() {
        let token = OAuthBearerToken {
            value: "eyJ.x.y".into(),
            extensions: vec![("traceId".into(), "42".into())],
        };
        let c = SaslConfig::oauth_bearer(Arc::new(Fixed(Ok(token))));
        let (mut s, first) = SaslSession::start(&c, &mut Rng::new(1)).unwrap();
        assert_eq!(first, b"n,,\x01auth=Bearer eyJ.x.y\x01traceId=42\x01\x01");
        assert_eq!(s.step(b""), Ok(Step::Done));

        let (mut s, _) = SaslSession::start(&c, &mut Rng::new(1)).unwrap();
        let challenge = br#"{"status":"invalid_token"}"#;
        assert_eq!(s.step(challenge), Ok(Step::Send(vec![1])));
        assert_eq!(s.server_error(), Some(r#"{"status":"invalid_token"}"#));
        assert!(matches!(s.step(b""), Err(SaslError::Server(m)) if m.contains("invalid_token")));

        let none = SaslConfig::oauth_bearer(Arc::new(Fixed(Err("expired".into()))));
        assert_eq!(
            SaslSession::start(&none, &mut Rng::new(1)).unwrap_err(),
            SaslError::NoToken("expired".into())
        );
    }

    #[test]
    fn debug_redacts_password_and_token() {
        let c = SaslConfig::new(SaslMechanism::ScramSha512, "bob", "hunter2");
        let text = format!("{c:?}");
        assert!(text.contains("bob") && text.contains("ScramSha512") && !text.contains("hunter2"));
        let t = OAuthBearerToken {
            value: "topsecret".into(),
            extensions: vec![],
        };
        assert!(!format!("{t:?}").contains("topsecret"));
    }

    #[test]
    fn mechanism_names_round_trip() {
        for m in [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
            SaslMechanism::OAuthBearer,
        ] {
            assert_eq!(SaslMechanism::from_name(m.name()), Some(m));
            assert_eq!(SaslMechanism::from_name(&m.name().to_lowercase()), Some(m));
        }
        assert_eq!(SaslMechanism::from_name("GSSAPI"), None);
    }
}
