//! How the producer talks to brokers: the `security.protocol` and the TLS settings.
//!
//! Data only. The core never does TLS: it reads and writes plaintext Kafka frames, and the
//! adapter (the async driver for tokio and async-std, the mio adapter) wraps each broker
//! connection in TLS when [`SecurityProtocol::uses_tls`] says so, before the core sees it as
//! connected. What these settings mean is decided there (the `odradek_driver::tls` module).

use std::fmt;
use std::path::PathBuf;

/// Kafka's `security.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// `PLAINTEXT`: plain TCP, no authentication.
    #[default]
    Plaintext,
    /// `SSL`: TLS, optionally with a client certificate (mutual TLS).
    Ssl,
    /// `SASL_PLAINTEXT`: SASL authentication over plain TCP.
    SaslPlaintext,
    /// `SASL_SSL`: SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether connections are wrapped in TLS (`SSL` and `SASL_SSL`).
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL (`SASL_PLAINTEXT` and `SASL_SSL`).
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// Kafka's name for it (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Reads Kafka's name, in any case.
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// PEM text given either as a file to read when the producer starts or as the text itself.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A file holding PEM text (`ssl.ca.location`, `ssl.certificate.location`,
    /// `ssl.key.location`).
    File(PathBuf),
    /// The PEM text itself (`ssl.ca.pem`, `ssl.certificate.pem`, `ssl.key.pem`).
    Text(String),
}

impl Pem {
    /// A short description without the contents: the path, or how long the text is.
    fn describe(&self, secret: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(path) => write!(f, "File({:?})", path),
            Pem::Text(text) if secret => write!(f, "Text(<redacted, {} bytes>)", text.len()),
            Pem::Text(text) => write!(f, "Text({:?})", text),
        }
    }
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Certificates are public; a `Pem` on its own is printed as is. The private key's
        // `Pem` is redacted by `TlsConfig`'s `Debug`.
        self.describe(false, f)
    }
}

/// TLS settings, used when `security.protocol` is `SSL` or `SASL_SSL`.
///
/// ```
/// use odradek_core::{Config, SecurityProtocol, TlsConfig, Pem};
/// let mut config = Config::new(["broker.example:9093"]);
/// config.security_protocol = SecurityProtocol::Ssl;
/// config.tls = TlsConfig {
///     ca: Some(Pem::File("/etc/kafka/ca.pem".into())),
///     ..TlsConfig::default()
/// };
/// config.validate().unwrap();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate authorities to trust (`ssl.ca.location` or `ssl.ca.pem`): one or more
    /// PEM certificates. `None` trusts the system's roots.
    pub ca: Option<Pem>,
    /// The client certificate chain for mutual TLS (`ssl.certificate.location` or
    /// `ssl.certificate.pem`), leaf first. Needs [`TlsConfig::key`].
    pub certificate: Option<Pem>,
    /// The client certificate's private key (`ssl.key.location` or `ssl.key.pem`), PEM,
    /// unencrypted (PKCS#8, PKCS#1 or SEC1). Never printed by `Debug`.
    pub key: Option<Pem>,
    /// Whether the broker's certificate must name the host connected to
    /// (`ssl.endpoint.identification.algorithm=https`, the default). `false` (the value
    /// set to an empty string, or `none` in librdkafka's spelling) still checks the chain
    /// against the trusted roots, but not the name.
    pub verify_hostname: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca: None,
            certificate: None,
            key: None,
            verify_hostname: true,
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Key<'a>(&'a Option<Pem>);
        impl fmt::Debug for Key<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    None => f.write_str("None"),
                    Some(pem) => {
                        f.write_str("Some(")?;
                        pem.describe(true, f)?;
                        f.write_str(")")
                    }
                }
            }
        }
        f.debug_struct("TlsConfig")
            .field("ca", &self.ca)
            .field("certificate", &self.certificate)
            .field("key", &Key(&self.key))
            .field("verify_hostname", &self.verify_hostname)
            .finish()
    }
}

impl TlsConfig {
    /// Checks that the settings fit together: a certificate and a key come together.
    /// Whether files exist and parse is checked when the producer starts (the adapter reads
    /// them).
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        match (&self.certificate, &self.key) {
            (Some(_), None) => Err(crate::ConfigError::Invalid {
                name: "ssl.key.location",
                reason: "a client certificate (ssl.certificate.location) needs its private key",
            }),
            (None, Some(_)) => Err(crate::ConfigError::Invalid {
                name: "ssl.certificate.location",
                reason: "a private key (ssl.key.location) needs its client certificate",
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for p in [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl,
        ] {
            assert_eq!(SecurityProtocol::parse(p.as_str()), Some(p));
            assert_eq!(SecurityProtocol::parse(&p.as_str().to_lowercase()), Some(p));
        }
        assert_eq!(SecurityProtocol::parse("TLS"), None);
        assert!(SecurityProtocol::Ssl.uses_tls() && SecurityProtocol::SaslSsl.uses_tls());
        assert!(!SecurityProtocol::Plaintext.uses_tls());
        assert!(!SecurityProtocol::SaslPlaintext.uses_tls());
        assert!(SecurityProtocol::SaslPlaintext.uses_sasl());
        assert!(!SecurityProtocol::Ssl.uses_sasl());
    }

    #[test]
    fn debug_redacts_the_key_but_not_the_certificates() {
        let key = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n";
        let tls = TlsConfig {
            ca: Some(Pem::Text("CA-TEXT".into())),
            certificate: Some(Pem::File("/c.pem".into())),
            key: Some(Pem::Text(key.into())),
            verify_hostname: false,
        };
        let shown = format!("{tls:?}");
        assert!(!shown.contains("SECRETSECRET"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        assert!(
            shown.contains("CA-TEXT") && shown.contains("/c.pem"),
            "{shown}"
        );
        // A key given as a file shows only its path.
        let tls = TlsConfig {
            key: Some(Pem::File("/k.pem".into())),
            ..tls
        };
        assert!(format!("{tls:?}").contains("/k.pem"));
    }

    #[test]
    fn certificate_and_key_come_together() {
        assert!(TlsConfig::default().validate().is_ok());
        let half = TlsConfig {
            certificate: Some(Pem::File("c".into())),
            ..TlsConfig::default()
        };
        assert!(matches!(
            half.validate(),
            Err(crate::ConfigError::Invalid {
                name: "ssl.key.location",
                ..
            })
        ));
        let half = TlsConfig {
            key: Some(Pem::File("k".into())),
            ..TlsConfig::default()
        };
        assert!(matches!(
            half.validate(),
            Err(crate::ConfigError::Invalid {
                name: "ssl.certificate.location",
                ..
            })
        ));
    }
}
