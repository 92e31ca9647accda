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

use crate::compression::Compression;
use crate::config::{Acks, Config, ConfigError};
use crate::partitioner::PartitionerConfig;
use crate::sasl::{OAuthBearerTokenProvider, SaslConfig, SaslMechanism};
use crate::security::{Pem, SecurityProtocol};
use std::sync::Arc;
use std::time::Duration;

/// The SASL keys read so far; they may come in any order, so the [`SaslConfig`] is built once
/// every pair is read.
struct SaslParts {
    mechanism: Option<SaslMechanism>,
    username: Option<String>,
    password: Option<String>,
    provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
    touched: bool,
}

impl SaslParts {
    fn from_config(sasl: Option<&SaslConfig>) -> Self {
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
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
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

    fn finish(self, c: &mut Config) -> Result<(), ConfigError> {
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

fn apply_one(
    c: &mut Config,
    codec_levels: &mut [bool; 3],
    key: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let bad = |reason: &'static str| ConfigError::BadValue {
        key: key.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let ms = || -> Result<Duration, ConfigError> {
        value
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| bad("not a whole number of milliseconds"))
    };
    let size = || -> Result<usize, ConfigError> {
        value
            .parse::<usize>()
            .map_err(|_| bad("not a whole number of bytes"))
    };
    let count = || -> Result<usize, ConfigError> {
        value
            .parse::<usize>()
            .map_err(|_| bad("not a whole number"))
    };
    let boolean = || -> Result<bool, ConfigError> {
        match value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad("expected true or false")),
        }
    };
    let level_for = |codec: Compression| -> Result<i32, ConfigError> {
        let level: i32 = value.parse().map_err(|_| bad("not a whole number"))?;
        codec.check_level(level).map_err(bad)?;
        Ok(level)
    };
    match key {
        "bootstrap.servers" => c.bootstrap_servers = split_servers(value).collect(),
        "client.id" => c.client_id = value.to_owned(),
        "acks" => {
            c.acks = match value.to_ascii_lowercase().as_str() {
                "0" => Acks::None,
                "1" => Acks::Leader,
                "all" | "-1" => Acks::All,
                _ => return Err(bad("expected 0, 1, all or -1")),
            }
        }
        "linger.ms" => c.linger = ms()?,
        "batch.size" => c.batch_size = size()?,
        "batch.num.messages" => c.batch_num_messages = count()?,
        "compression.type" | "compression.codec" => {
            c.compression = match value.to_ascii_lowercase().as_str() {
                "none" => Compression::None,
                "gzip" => Compression::Gzip,
                "snappy" => Compression::Snappy,
                "lz4" => Compression::Lz4,
                "zstd" => Compression::Zstd,
                _ => return Err(bad("expected none, gzip, snappy, lz4 or zstd")),
            }
        }
        "compression.level" => {
            let level: i32 = value.parse().map_err(|_| bad("not a whole number"))?;
            c.compression_level = Some(level);
        }
        "compression.gzip.level" => {
            c.compression_levels.gzip = level_for(Compression::Gzip)?;
            codec_levels[0] = true;
        }
        "compression.lz4.level" => {
            c.compression_levels.lz4 = level_for(Compression::Lz4)?;
            codec_levels[1] = true;
        }
        "compression.zstd.level" => {
            c.compression_levels.zstd = level_for(Compression::Zstd)?;
            codec_levels[2] = true;
        }
        "request.timeout.ms" => c.request_timeout = ms()?,
        "delivery.timeout.ms" => c.delivery_timeout = Some(ms()?),
        "retries" => {
            c.retries = value
                .parse()
                .map_err(|_| bad("not a whole number from 0 to 4294967295"))?
        }
        "retry.backoff.ms" => c.retry_backoff = ms()?,
        "retry.backoff.max.ms" => c.retry_backoff_max = ms()?,
        "max.in.flight.requests.per.connection" => {
            c.max_in_flight_requests_per_connection = count()?
        }
        "max.request.size" => c.max_request_size = size()?,
        "message.max.bytes" => c.message_max_bytes = size()?,
        "buffer.memory" => c.buffer_memory = size()?,
        "metadata.max.age.ms" => c.metadata_max_age = ms()?,
        "enable.idempotence" => c.enable_idempotence = Some(boolean()?),
        "allow.auto.create.topics" => c.allow_auto_create_topics = boolean()?,
        "partitioner" => {
            c.partitioner = match value.to_ascii_lowercase().as_str() {
                "murmur2" | "murmur2_random" | "default" => PartitionerConfig::Murmur2,
                "fnv1a" | "fnv1a_random" => PartitionerConfig::Fnv1a,
                "random" => PartitionerConfig::Random,
                "round_robin" | "roundrobin" | "round-robin" => PartitionerConfig::RoundRobin,
                "sticky" | "uniform_sticky" => PartitionerConfig::Sticky,
                "manual" => PartitionerConfig::Manual,
                _ => {
                    return Err(bad(
                        "expected murmur2, fnv1a, random, round_robin, sticky or manual",
                    ))
                }
            }
        }
        "partitioner.class" => {
            c.partitioner = match value.rsplit('.').next().unwrap_or(value) {
                "DefaultPartitioner" | "BuiltInPartitioner" => PartitionerConfig::Murmur2,
                "RoundRobinPartitioner" => PartitionerConfig::RoundRobin,
                "UniformStickyPartitioner" => PartitionerConfig::Sticky,
                _ => return Err(bad(
                    "only the Java client's built-in partitioners are known (use `partitioner`)",
                )),
            }
        }
        "security.protocol" => match SecurityProtocol::parse(value) {
            Some(p) => c.security_protocol = p,
            None => return Err(bad("expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")),
        },
        // TLS. librdkafka's names, and the Java client's PEM ones (KIP-651): a PEM
        // truststore file is the CA file; a PEM keystore file holds the key and the chain.
        "ssl.ca.location" | "ssl.truststore.location" => c.tls.ca = Some(Pem::File(value.into())),
        "ssl.ca.pem" | "ssl.truststore.certificates" => c.tls.ca = Some(Pem::Text(value.into())),
        "ssl.certificate.location" => c.tls.certificate = Some(Pem::File(value.into())),
        "ssl.certificate.pem" | "ssl.keystore.certificate.chain" => {
            c.tls.certificate = Some(Pem::Text(value.into()))
        }
        "ssl.key.location" => c.tls.key = Some(Pem::File(value.into())),
        "ssl.key.pem" | "ssl.keystore.key" => c.tls.key = Some(Pem::Text(value.into())),
        "ssl.keystore.location" => {
            c.tls.certificate = Some(Pem::File(value.into()));
            c.tls.key = Some(Pem::File(value.into()));
        }
        "ssl.truststore.type" | "ssl.keystore.type" => {
            if !value.eq_ignore_ascii_case("PEM") {
                return Err(ConfigError::NotSupportedYet(format!("{key}={value}")));
            }
        }
        "ssl.endpoint.identification.algorithm" => {
            c.tls.verify_hostname = match value.to_ascii_lowercase().as_str() {
                "https" => true,
                "" | "none" => false,
                _ => {
                    return Err(bad(
                        "expected https, or an empty value (or none) to turn it off",
                    ))
                }
            }
        }
        _ if key.starts_with("ssl.") || key.starts_with("sasl.") => {
            // Only the key: these values may be secrets.
            return Err(ConfigError::NotSupportedYet(key.to_owned()));
        }
        _ => return Err(ConfigError::UnknownKey(key.to_owned())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::CompressionLevels;

    fn bad_value(key: &str, value: &str) -> ConfigError {
        Config::from_properties([(key, value)]).unwrap_err()
    }

    #[test]
    fn every_key_is_read_with_java_units() {
        let c = Config::from_properties([
            ("bootstrap.servers", " h1:9092 , h2:9093,,"),
            ("client.id", "cli"),
            ("acks", "0"),
            ("linger.ms", "7"),
            ("batch.size", "32768"),
            ("batch.num.messages", "500"),
            ("compression.type", "zstd"),
            ("compression.level", "5"),
            ("request.timeout.ms", "1500"),
            ("delivery.timeout.ms", "60000"),
            ("retries", "3"),
            ("retry.backoff.ms", "250"),
            ("retry.backoff.max.ms", "4000"),
            ("max.in.flight.requests.per.connection", "2"),
            ("max.request.size", "2097152"),
            ("message.max.bytes", "4096"),
            ("buffer.memory", "1048576"),
            ("metadata.max.age.ms", "1000"),
            ("enable.idempotence", "false"),
            ("allow.auto.create.topics", "FALSE"),
            ("partitioner", "round_robin"),
            ("security.protocol", "plaintext"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, ["h1:9092", "h2:9093"]);
        assert_eq!(c.client_id, "cli");
        assert_eq!(c.acks, Acks::None);
        assert_eq!(c.linger, Duration::from_millis(7));
        assert_eq!(c.batch_size, 32768);
        assert_eq!(c.batch_num_messages, 500);
        assert_eq!(c.compression, Compression::Zstd);
        assert_eq!(c.compression_level, Some(5));
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        assert_eq!(c.delivery_timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.retries, 3);
        assert_eq!(c.retry_backoff, Duration::from_millis(250));
        assert_eq!(c.retry_backoff_max, Duration::from_secs(4));
        assert_eq!(c.max_in_flight_requests_per_connection, 2);
        assert_eq!(c.max_request_size, 2 << 20);
        assert_eq!(c.message_max_bytes, 4096);
        assert_eq!(c.buffer_memory, 1 << 20);
        assert_eq!(c.metadata_max_age, Duration::from_secs(1));
        assert_eq!(c.enable_idempotence, Some(false));
        assert!(!c.allow_auto_create_topics);
        assert!(matches!(c.partitioner, PartitionerConfig::RoundRobin));
        c.validate().unwrap();
    }

    #[test]
    fn acks_and_codec_spellings() {
        for (v, want) in [
            ("1", Acks::Leader),
            ("all", Acks::All),
            ("ALL", Acks::All),
            ("-1", Acks::All),
        ] {
            assert_eq!(
                Config::from_properties([("acks", v)]).unwrap().acks,
                want,
                "{v}"
            );
        }
        for (v, want) in [
            ("none", Compression::None),
            ("gzip", Compression::Gzip),
            ("snappy", Compression::Snappy),
            ("lz4", Compression::Lz4),
            ("zstd", Compression::Zstd),
        ] {
            let c = Config::from_properties([("compression.type", v)]).unwrap();
            assert_eq!(c.compression, want);
        }
        assert!(matches!(
            Config::from_properties([(
                "partitioner.class",
                "org.apache.kafka.clients.producer.RoundRobinPartitioner"
            )])
            .unwrap()
            .partitioner,
            PartitionerConfig::RoundRobin
        ));
        assert!(matches!(
            Config::from_properties([("partitioner", "fnv1a_random")])
                .unwrap()
                .partitioner,
            PartitionerConfig::Fnv1a
        ));
    }

    #[test]
    fn per_codec_levels_follow_the_chosen_codec() {
        // The Java client's defaults (KIP-390) when nothing is set.
        let c = Config::from_properties([("compression.type", "gzip")]).unwrap();
        assert_eq!(c.compression_levels, CompressionLevels::default());
        assert_eq!(c.effective_compression_level(), Some(-1));
        let defaults = CompressionLevels::default();
        assert_eq!((defaults.gzip, defaults.lz4, defaults.zstd), (-1, 9, 3));
        let levels = [
            ("compression.gzip.level", "9"),
            ("compression.lz4.level", "4"),
            ("compression.zstd.level", "12"),
        ];
        let with = |codec: &'static str| {
            let mut pairs = levels.to_vec();
            pairs.push(("compression.type", codec));
            Config::from_properties(pairs)
                .unwrap()
                .effective_compression_level()
        };
        assert_eq!(with("gzip"), Some(9));
        assert_eq!(with("lz4"), Some(4));
        assert_eq!(with("zstd"), Some(12));
        assert_eq!(with("snappy"), None);
        assert_eq!(with("none"), None);
        // Each codec keeps its own level, whichever is chosen later.
        let mut c = Config::from_properties(levels).unwrap();
        assert_eq!(
            (c.compression_levels.gzip, c.compression_levels.lz4),
            (9, 4)
        );
        c.compression = Compression::Zstd;
        assert_eq!(c.effective_compression_level(), Some(12));
        // The codec's own level wins over the generic one, in any order.
        let c = Config::from_properties([
            ("compression.zstd.level", "1"),
            ("compression.level", "7"),
            ("compression.type", "zstd"),
        ])
        .unwrap();
        assert_eq!(c.effective_compression_level(), Some(1));
        // The generic one applies when the codec's own key is not given.
        let c = Config::from_properties([("compression.level", "7"), ("compression.type", "zstd")])
            .unwrap();
        assert_eq!(c.effective_compression_level(), Some(7));
        // Java's ranges: gzip 1..=9 or -1, lz4 1..=17, zstd -131072..=22.
        for (key, ok, bad) in [
            (
                "compression.gzip.level",
                ["-1", "1", "9"],
                ["0", "10", "-2"],
            ),
            ("compression.lz4.level", ["1", "9", "17"], ["0", "18", "-1"]),
            (
                "compression.zstd.level",
                ["-131072", "3", "22"],
                ["23", "-131073", "x"],
            ),
        ] {
            for v in ok {
                assert!(Config::from_properties([(key, v)]).is_ok(), "{key}={v}");
            }
            for v in bad {
                match bad_value(key, v) {
                    ConfigError::BadValue { key: k, value, .. } => {
                        assert_eq!((k.as_str(), value.as_str()), (key, v))
                    }
                    other => panic!("{key}={v}: {other:?}"),
                }
            }
        }
        assert_eq!(
            bad_value("compression.gzip.level", "10"),
            ConfigError::BadValue {
                key: "compression.gzip.level".into(),
                value: "10".into(),
                reason: "gzip levels are 1 to 9, or -1 for the default",
            }
        );
        // A level set in code is checked by `validate`, naming its key.
        let mut c = Config::new(["b:9092"]);
        c.compression_levels.lz4 = 0;
        assert_eq!(
            c.validate(),
            Err(ConfigError::Invalid {
                name: "compression.lz4.level",
                reason: "lz4 levels are 1 to 17",
            })
        );
    }

    #[test]
    fn bad_values_name_key_and_value() {
        for (k, v) in [
            ("acks", "2"),
            ("linger.ms", "5ms"),
            ("linger.ms", "-1"),
            ("batch.size", "big"),
            ("compression.type", "brotli"),
            ("retries", "-1"),
            ("enable.idempotence", "yes"),
            ("partitioner", "consistent"),
            ("partitioner.class", "com.example.Mine"),
            ("security.protocol", "TLS"),
        ] {
            let e = bad_value(k, v);
            match &e {
                ConfigError::BadValue { key, value, .. } => {
                    assert_eq!((key.as_str(), value.as_str()), (k, v))
                }
                other => panic!("{k}={v}: {other:?}"),
            }
            let text = e.to_string();
            assert!(
                text.contains(k) && text.contains(v),
                "{text:?} names {k} and {v}"
            );
        }
        assert_eq!(
            bad_value("linger", "5"),
            ConfigError::UnknownKey("linger".into())
        );
        assert_eq!(
            bad_value("linger", "5").to_string(),
            "unknown configuration key \"linger\""
        );
    }

    #[test]
    fn sasl_keys_build_a_sasl_config_in_any_order() {
        let c = Config::from_properties([
            ("sasl.password", "pw"),
            ("security.protocol", "sasl_plaintext"),
            ("sasl.username", "alice"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("bootstrap.servers", "h:1"),
        ])
        .unwrap();
        assert_eq!(c.security_protocol, SecurityProtocol::SaslPlaintext);
        let sasl = c.sasl.as_ref().expect("sasl");
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        assert_eq!(
            (sasl.username.as_str(), sasl.password.as_str()),
            ("alice", "pw")
        );
        c.validate().unwrap();

        for module in [
            "org.apache.kafka.common.security.plain.PlainLoginModule",
            "org.apache.kafka.common.security.scram.ScramLoginModule",
        ] {
            let jaas =
                format!("{module} required\n  username=\"bob\"  password=\"p \\\"q\\\" ;r\";");
            let c = Config::from_properties([
                ("sasl.mechanism", "PLAIN"),
                ("sasl.jaas.config", jaas.as_str()),
            ])
            .unwrap();
            let sasl = c.sasl.unwrap();
            assert_eq!(sasl.username, "bob");
            assert_eq!(sasl.password, "p \"q\" ;r");
        }
        let c = Config::from_properties([
            ("sasl.mechanism", "PLAIN"),
            (
                "sasl.jaas.config",
                "x.PlainLoginModule required username=u password=v;",
            ),
        ])
        .unwrap();
        assert_eq!(c.sasl.unwrap().password, "v");
    }

    #[test]
    fn sasl_mistakes_name_the_key_and_never_echo_secrets() {
        let e = bad_value("sasl.username", "alice");
        assert!(
            matches!(
                e,
                ConfigError::Invalid {
                    name: "sasl.mechanism",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(matches!(
            bad_value("sasl.mechanism", "KERBEROS"),
            ConfigError::BadValue { key, .. } if key == "sasl.mechanism"
        ));
        assert!(matches!(
            bad_value("sasl.mechanism", "GSSAPI"),
            ConfigError::NotSupportedYet(_)
        ));
        for jaas in [
            "x.PlainLoginModule required username=\"u\" password=\"hunter2\"",
            "x.KerberosModule required username=\"u\" password=\"hunter2\";",
            "x.PlainLoginModule always username=\"u\" password=\"hunter2\";",
            "x.PlainLoginModule required password=\"hunter2\";",
            "x.PlainLoginModule required username=\"u\" password=\"hunter2;",
            "x.OAuthBearerLoginModule required password=\"hunter2\";",
        ] {
            let e =
                Config::from_properties([("sasl.mechanism", "PLAIN"), ("sasl.jaas.config", jaas)])
                    .unwrap_err();
            assert!(
                matches!(
                    e,
                    ConfigError::Invalid {
                        name: "sasl.jaas.config",
                        ..
                    }
                ),
                "{jaas}: {e:?}"
            );
            assert!(!e.to_string().contains("hunter2") && !format!("{e:?}").contains("hunter2"));
        }
    }

    #[test]
    fn security_settings_are_refused_as_not_supported_yet() {
        for (k, v) in [
            ("sasl.kerberos.service.name", "kafka"),
            ("ssl.key.password", "pw"),
            ("ssl.keystore.type", "JKS"),
            ("ssl.truststore.type", "PKCS12"),
            ("ssl.cipher.suites", "x"),
        ] {
            let e = bad_value(k, v);
            assert!(
                matches!(&e, ConfigError::NotSupportedYet(what) if what.starts_with(k)),
                "{k}: {e:?}"
            );
            assert!(e.to_string().contains("not supported yet"), "{e}");
        }
        // Secrets never appear in the message.
        let e = bad_value("sasl.oauthbearer.client.secret", "hunter2");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
        let e = bad_value("ssl.key.password", "hunter2");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn tls_settings_are_read_in_librdkafka_and_java_names() {
        let c = Config::from_properties([
            ("bootstrap.servers", "h:1"),
            ("security.protocol", "ssl"),
            ("ssl.ca.location", "/etc/ca.pem"),
            ("ssl.certificate.location", "/etc/client.pem"),
            ("ssl.key.location", "/etc/client.key"),
        ])
        .unwrap();
        assert_eq!(c.security_protocol, SecurityProtocol::Ssl);
        assert_eq!(c.tls.ca, Some(Pem::File("/etc/ca.pem".into())));
        assert_eq!(c.tls.certificate, Some(Pem::File("/etc/client.pem".into())));
        assert_eq!(c.tls.key, Some(Pem::File("/etc/client.key".into())));
        assert!(
            c.tls.verify_hostname,
            "hostname verification is on by default"
        );
        c.validate().unwrap();

        let c = Config::from_properties([
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.certificates", "CA PEM"),
            ("ssl.keystore.type", "pem"),
            ("ssl.keystore.certificate.chain", "CHAIN PEM"),
            ("ssl.keystore.key", "KEY PEM"),
            ("ssl.endpoint.identification.algorithm", ""),
        ])
        .unwrap();
        assert_eq!(c.tls.ca, Some(Pem::Text("CA PEM".into())));
        assert_eq!(c.tls.certificate, Some(Pem::Text("CHAIN PEM".into())));
        assert_eq!(c.tls.key, Some(Pem::Text("KEY PEM".into())));
        assert!(!c.tls.verify_hostname);
        assert!(
            !format!("{c:?}").contains("KEY PEM"),
            "Debug redacts the key"
        );

        // One PEM keystore file holds the chain and the key.
        let c = Config::from_properties([("ssl.keystore.location", "/ks.pem")]).unwrap();
        assert_eq!(c.tls.certificate, Some(Pem::File("/ks.pem".into())));
        assert_eq!(c.tls.key, Some(Pem::File("/ks.pem".into())));

        for (v, on) in [
            ("https", true),
            ("HTTPS", true),
            ("none", false),
            ("", false),
        ] {
            let c =
                Config::from_properties([("ssl.endpoint.identification.algorithm", v)]).unwrap();
            assert_eq!(c.tls.verify_hostname, on, "{v:?}");
        }
        assert!(matches!(
            bad_value("ssl.endpoint.identification.algorithm", "ldap"),
            ConfigError::BadValue { ref key, .. } if key == "ssl.endpoint.identification.algorithm"
        ));
        assert!(matches!(
            bad_value("security.protocol", "TLS"),
            ConfigError::BadValue { ref key, .. } if key == "security.protocol"
        ));
        // SSL with half a client identity is refused by validation, naming the setting.
        let c = Config::from_properties([
            ("bootstrap.servers", "h:1"),
            ("security.protocol", "SSL"),
            ("ssl.certificate.location", "/c.pem"),
        ])
        .unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ssl.key.location"));
    }

    #[test]
    fn a_failed_apply_changes_nothing_and_later_pairs_win() {
        let mut c = Config::new(["h:1"]);
        let err = c
            .apply_properties([("linger.ms", "50"), ("acks", "many")])
            .unwrap_err();
        assert!(matches!(err, ConfigError::BadValue { .. }));
        assert_eq!(c.linger, Duration::from_millis(5));
        c.apply_properties([("linger.ms", "50"), ("linger.ms", "60")])
            .unwrap();
        assert_eq!(c.linger, Duration::from_millis(60));
        assert_eq!(c.bootstrap_servers, ["h:1"]);
    }

    #[test]
    fn properties_text_is_parsed_like_java() {
        let text = "\
# comment
! also a comment

bootstrap.servers = a:1,\\
    b:2
acks:all
  linger.ms=5
client.id=x=y
empty=
";
        let pairs = parse(text).unwrap();
        assert_eq!(
            pairs,
            [
                ("bootstrap.servers", "a:1,b:2"),
                ("acks", "all"),
                ("linger.ms", "5"),
                ("client.id", "x=y"),
                ("empty", ""),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(
            parse("acks=1\nno separator here\n"),
            Err(ConfigError::Syntax {
                line: 2,
                reason: "expected key=value"
            })
        );
        assert_eq!(
            parse("=1"),
            Err(ConfigError::Syntax {
                line: 1,
                reason: "empty key"
            })
        );
        // An escaped backslash at the end does not continue the line.
        assert_eq!(parse("a=b\\\\\nc=d").unwrap().len(), 2);
        let c = Config::from_properties(parse(text).unwrap().into_iter().take(3)).unwrap();
        assert_eq!(c.bootstrap_servers, ["a:1", "b:2"]);
    }
}
