//! Configuration as Kafka users write it: `key=value` pairs with the Java client's names and
//! units (`linger.ms`, `batch.size`, `compression.type`, ...), from code, from `-X` flags, or
//! from a `.properties` file.
//!
//! ```
//! use odradek_core::{properties, Acks, Compression, Config};
//! use std::time::Duration;
//!
//! let text = "
//! #a producer.properties file (comments start with # or !)
//! bootstrap.servers=h1:9092, h2:9092
//! acks=1
//! linger.ms: 20
//! compression.type=lz4
//! ";
//! let config = Config::from_properties(properties::parse(text)?)?;
//! assert_eq!(config.bootstrap_servers, ["h1:9092", "h2:9092"]);
//! assert_eq!(config.acks, Acks::Leader);
//! assert_eq!(config.linger, Duration::from_millis(20));
//! assert_eq!(config.compression, Compression::Lz4);
//! # Ok::<(), odradek_core::ConfigError>(())
//! ```
//!
//! Keys understood (see the README's configuration table for what each does):
//! `bootstrap.servers`, `client.id`, `acks` (`0`, `1`, `all` or `-1`), `linger.ms`,
//! `batch.size`, `batch.num.messages`, `compression.type` (`none`, `gzip`, `snappy`, `lz4`,
//! `zstd`), `compression.level`, `compression.gzip.level`, `compression.lz4.level`,
//! `compression.zstd.level`, `request.timeout.ms`, `delivery.timeout.ms`, `retries`,
//! `retry.backoff.ms`, `retry.backoff.max.ms`, `max.in.flight.requests.per.connection`, `max.request.size`,
//! `message.max.bytes`, `buffer.memory`, `metadata.max.age.ms`, `enable.idempotence`,
//! `allow.auto.create.topics`, `partitioner` (`murmur2`, `fnv1a`, `random`, `round_robin`,
//! `sticky`, `manual`; librdkafka's `murmur2_random` and `fnv1a_random` too),
//! `partitioner.class` (the Java client's built-in class names), `security.protocol`
//! (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`), SASL: `sasl.mechanism` (`PLAIN`,
//! `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`; librdkafka's `sasl.mechanisms` too),
//! `sasl.username`, `sasl.password` and `sasl.jaas.config` (Java's `PlainLoginModule` or
//! `ScramLoginModule` line; its `username` and `password` are read), and TLS
//! ([`TlsConfig`](crate::TlsConfig)): `ssl.ca.location` / `ssl.ca.pem` (Java:
//! `ssl.truststore.location` / `ssl.truststore.certificates` with `ssl.truststore.type=PEM`),
//! `ssl.certificate.location` / `ssl.certificate.pem` and `ssl.key.location` / `ssl.key.pem`
//! (Java: `ssl.keystore.location` naming one PEM file with both, or
//! `ssl.keystore.certificate.chain` and `ssl.keystore.key`, with `ssl.keystore.type=PEM`),
//! and `ssl.endpoint.identification.algorithm` (`https`, the default, or empty / `none` to
//! skip the hostname check). Encrypted keys (`ssl.key.password`), JKS and PKCS#12 stores and
//! every other `ssl.*` and `sasl.*` key are refused with [`ConfigError::NotSupportedYet`];
//! any other key is [`ConfigError::UnknownKey`]. Errors never repeat the value of a `sasl.*`
//! key other than the mechanism.

mod keys;
mod sasl;

use crate::compression::Compression;
use crate::config::{Config, ConfigError};
use keys::apply_one;
use sasl::SaslParts;

/// Parses `.properties` text into `(key, value)` pairs, in order.
///
/// One `key=value` (or `key: value`) per line; the separator is the first `=` or `:`, and
/// spaces around key and value are trimmed. Blank lines and lines whose first non-blank
/// character is `#` or `!` are skipped; a line ending in an odd number of `\` continues on the
/// next line (its leading spaces dropped), as in Java's `Properties`. Other escapes are not
/// interpreted. A non-blank line without a separator, or with an empty key, is
/// [`ConfigError::Syntax`].
pub fn parse(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let mut logical = first.trim_start().to_owned();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let syntax = |reason: &'static str| ConfigError::Syntax {
            line: index + 1,
            reason,
        };
        let at = logical
            .find(['=', ':'])
            .ok_or_else(|| syntax("expected key=value"))?;
        let key = logical[..at].trim();
        if key.is_empty() {
            return Err(syntax("empty key"));
        }
        pairs.push((key.to_owned(), logical[at + 1..].trim().to_owned()));
    }
    Ok(pairs)
}

fn ends_with_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a `bootstrap.servers` value (or one entry of `Config::new`'s list) at commas,
/// trimming spaces and dropping empty entries.
pub(crate) fn split_servers(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Config {
    /// A configuration from `(key, value)` pairs with the Java client's names and units, on
    /// top of the defaults of [`Config::new`]; see [`properties`](crate::properties) for the
    /// keys. `bootstrap.servers` is a comma-separated list. Later pairs override earlier
    /// ones. The result is not validated: [`Config::validate`] (or the producer) does that.
    ///
    /// ```
    /// use odradek_core::{Config, ConfigError};
    /// let config = Config::from_properties([("bootstrap.servers", "h1:9092,h2:9092"), ("acks", "all")])?;
    /// assert_eq!(config.bootstrap_servers.len(), 2);
    /// let err = Config::from_properties([("linger.ms", "soon")]).unwrap_err();
    /// assert_eq!(err.to_string(), "linger.ms=\"soon\": not a whole number of milliseconds");
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn from_properties<K, V>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Config, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = Config::new(Vec::<String>::new());
        config.apply_properties(pairs)?;
        Ok(config)
    }

    /// Sets the settings named by `(key, value)` pairs on this configuration, leaving the
    /// others as they are; the keys and units of [`Config::from_properties`]. A per-codec
    /// level (`compression.zstd.level`, ...) applies when that codec is the one chosen after
    /// all pairs are read, and wins over `compression.level`. On error nothing is changed.
    pub fn apply_properties<K, V>(
        &mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut next = self.clone();
        // Which codecs' own level keys were given, in gzip, lz4, zstd order.
        let mut codec_levels = [false; 3];
        let mut sasl = SaslParts::from_config(next.sasl.as_ref());
        for (key, value) in pairs {
            let (key, value) = (key.as_ref().trim(), value.as_ref().trim());
            if !sasl.apply(key, value)? {
                apply_one(&mut next, &mut codec_levels, key, value)?;
            }
        }
        sasl.finish(&mut next)?;
        let own_level_given = match next.compression {
            Compression::Gzip => codec_levels[0],
            Compression::Lz4 => codec_levels[1],
            Compression::Zstd => codec_levels[2],
            Compression::None | Compression::Snappy => false,
        };
        if own_level_given {
            // The codec's own key wins over the generic `compression.level`.
            next.compression_level = None;
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
