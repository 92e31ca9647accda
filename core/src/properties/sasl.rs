//! The SASL keys (`sasl.mechanism`, `sasl.username`, `sasl.password`, `sasl.jaas.config`),
//! which may come in any order, and the JAAS line they can be given in.

use crate::config::{Config, ConfigError};
use crate::sasl::{OAuthBearerTokenProvider, SaslConfig, SaslMechanism};
use std::sync::Arc;

/// The SASL keys read so far; they may come in any order, so the [`SaslConfig`] is built once
/// every pair is read.
pub(super) struct SaslParts {
    mechanism: Option<SaslMechanism>,
    username: Option<String>,
    password: Option<String>,
    provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
    touched: bool,
}

impl SaslParts {
    pub(super) fn from_config(sasl: Option<&SaslConfig>) -> Self {
        SaslParts {
            mechanism: sasl.map(|s| s.mechanism),
            username: sasl.map(|s| s.username.clone()),
            password: sasl.map(|s| s.password.clone()),
            provider: sasl.and_then(|s| s.oauth_token_provider.clone()),
            touched: false,
        }
    }

    /// Takes `key` if it is a SASL key (`Ok(true)`). Values are never echoed in errors except
    /// the mechanism's name, as they may be secrets.
    pub(super) fn apply(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "sasl.mechanism" | "sasl.mechanisms" => {
                self.mechanism = Some(SaslMechanism::from_name(value).ok_or_else(|| {
                    if value.eq_ignore_ascii_case("GSSAPI") {
                        ConfigError::NotSupportedYet(format!("{key}=GSSAPI"))
                    } else {
                        ConfigError::BadValue {
                            key: key.to_owned(),
                            value: value.to_owned(),
                            reason: "expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
                        }
                    }
                })?);
            }
            "sasl.username" => self.username = Some(value.to_owned()),
            "sasl.password" => self.password = Some(value.to_owned()),
            "sasl.jaas.config" => {
                let (user, password) =
                    parse_jaas(value).map_err(|reason| ConfigError::Invalid {
                        name: "sasl.jaas.config",
                        reason,
                    })?;
                self.username = Some(user);
                self.password = Some(password);
            }
            _ => return Ok(false),
        }
        self.touched = true;
        Ok(true)
    }

    pub(super) fn finish(self, c: &mut Config) -> Result<(), ConfigError> {
        if !self.touched {
            return Ok(());
        }
        let mechanism = self.mechanism.ok_or(ConfigError::Invalid {
            name: "sasl.mechanism",
            reason: "sasl.username, sasl.password or sasl.jaas.config given without a mechanism",
        })?;
        c.sasl = Some(SaslConfig {
            mechanism,
            username: self.username.unwrap_or_default(),
            password: self.password.unwrap_or_default(),
            oauth_token_provider: self.provider,
        });
        Ok(())
    }
}

/// Reads `username` and `password` from a Java `sasl.jaas.config` value for
/// `PlainLoginModule` or `ScramLoginModule`:
/// `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`
/// Values may be double-quoted (with `\"` and `\\` escapes) or bare words.
fn parse_jaas(text: &str) -> Result<(String, String), &'static str> {
    let text = text.trim();
    let body = text
        .strip_suffix(';')
        .ok_or("must end with ';'")?
        .trim_end();
    let (class, rest) = body
        .split_once(char::is_whitespace)
        .ok_or("expected <LoginModule> required key=\"value\" ...;")?;
    let class_name = class.rsplit('.').next().unwrap_or(class);
    match class_name {
        "PlainLoginModule" | "ScramLoginModule" => {}
        "OAuthBearerLoginModule" => {
            return Err("OAUTHBEARER tokens come from SaslConfig::oauth_token_provider")
        }
        _ => return Err("only PlainLoginModule and ScramLoginModule are understood"),
    }
    let rest = rest.trim_start();
    let (flag, mut rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if !matches!(flag, "required" | "requisite" | "sufficient" | "optional") {
        return Err("expected a control flag (required, requisite, sufficient, optional)");
    }
    let (mut user, mut password) = (None, None);
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=').ok_or("expected key=value options")?;
        let key = key.trim();
        let after = after.trim_start();
        let (value, left) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => match chars.next() {
                        Some((_, esc)) => value.push(esc),
                        None => return Err("unterminated quoted value"),
                    },
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    _ => value.push(ch),
                }
            }
            let end = end.ok_or("unterminated quoted value")?;
            (value, &quoted[end..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        match key {
            "username" => user = Some(value),
            "password" => password = Some(value),
            _ => {}
        }
        rest = left;
    }
    match (user, password) {
        (Some(u), Some(p)) => Ok((u, p)),
        _ => Err("needs username and password options"),
    }
}
