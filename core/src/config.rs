//! Producer configuration, with the names Kafka users know from the Java client and librdkafka.

use crate::compression::{Compression, CompressionLevels};
use crate::partitioner::PartitionerConfig;
use crate::sasl::{SaslConfig, SaslMechanism};
use crate::security::{SecurityProtocol, TlsConfig};
use std::time::Duration;

/// How many acknowledgements the leader must have received before answering (Kafka's `acks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Acks {
    /// `acks=0`: the broker sends no response; records count as delivered once written to the
    /// connection, with offset `-1`.
    None,
    /// `acks=1`: the leader has appended the records.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica has them.
    #[default]
    All,
}

impl Acks {
    /// The value on the wire.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Which record format to write, and so which Produce versions are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MessageFormat {
    /// Negotiate with ApiVersions: RecordBatch v2 with Produce v3+ whenever the broker speaks it
    /// (always on Kafka 4.x), the legacy MessageSet only for brokers older than 0.11 (0.10.x:
    /// ApiVersions, and so this producer, needs 0.10.0 or later).
    #[default]
    Auto,
    /// Legacy MessageSet magic 0 with Produce v0/v1 (the format of brokers 0.8–0.9; Kafka
    /// 0.10 up to 3.x still accept it). No timestamps, no headers.
    ///
    /// The producer still opens every connection with ApiVersions, which brokers before
    /// 0.10.0 do not know (they close the connection): this format reaches brokers 0.10.0 and
    /// later, not 0.8/0.9 themselves.
    MessageSetV0,
    /// Legacy MessageSet magic 1 with Produce v2 (brokers 0.10). Timestamps, no headers.
    MessageSetV1,
}

/// Producer configuration. Start from [`Config::new`] and set fields; [`Config::validate`]
/// (called by `ProducerCore::new`) checks it.
///
/// ```
/// use odradek_core::{Config, Acks, Compression};
/// use std::time::Duration;
/// let mut config = Config::new(["127.0.0.1:9092"]);
/// config.acks = Acks::Leader;
/// config.linger = Duration::from_millis(5);
/// config.compression = Compression::Lz4;
/// config.validate().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// `bootstrap.servers`: `host:port` addresses to fetch the first metadata from.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`, sent in every request header.
    pub client_id: String,
    /// `acks`.
    pub acks: Acks,
    /// `request.timeout.ms`: how long the core waits for a response before it drops the
    /// connection and retries; also sent as the Produce timeout.
    pub request_timeout: Duration,
    /// `linger.ms` (Sarama's `Flush.Frequency`): how long a batch may wait for more records.
    pub linger: Duration,
    /// `batch.size` (Sarama's `Flush.Bytes`): a partition's open batch is sealed once it holds
    /// this many bytes.
    pub batch_size: usize,
    /// `batch.num.messages` (librdkafka; Sarama's `Flush.Messages`): a batch is sealed once it
    /// holds this many records. `0` means no limit.
    pub batch_num_messages: usize,
    /// Sarama's `Flush.MaxMessages`: the most records one Produce request may carry. `0` means
    /// no limit.
    pub max_request_records: usize,
    /// `max.request.size`: the most bytes one Produce request may carry.
    pub max_request_size: usize,
    /// `message.max.bytes` (Sarama's `MaxMessageBytes`): the largest single record, encoded;
    /// larger ones are refused at `send`. Also caps a compressed batch.
    pub message_max_bytes: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// `compression.level` (librdkafka's key): when set, the level of whichever codec is in
    /// use, over [`Config::compression_levels`]; `None` leaves the level to those.
    pub compression_level: Option<i32>,
    /// `compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level` (the Java
    /// client's keys and defaults: -1 = zlib's 6, 9, 3).
    pub compression_levels: CompressionLevels,
    /// `partitioner`.
    pub partitioner: PartitionerConfig,
    /// `retries` (Sarama's `Retry.Max`): how many times a record is retried after a retriable
    /// error before it fails.
    pub retries: u32,
    /// `retry.backoff.ms`: the wait before the first retry, and before a metadata refresh
    /// that follows an error. Later attempts wait exponentially longer (×2 per attempt, up to
    /// [`Config::retry_backoff_max`]), each with ±20 % jitter from the seeded RNG (KIP-580).
    /// At most one day.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the most a retry (or a metadata refresh after errors) waits,
    /// however many attempts failed in a row; default 1 s, as in the Java client. When it is
    /// below [`Config::retry_backoff`], it is used as a constant backoff (Java's rule). At
    /// most one day.
    pub retry_backoff_max: Duration,
    /// `delivery.timeout.ms`: an upper bound on the time from `send` to an outcome; a record
    /// still unacknowledged then fails with a timeout.
    ///
    /// `None` disables it: a record then waits as long as it takes for metadata, a leader or
    /// a connection (it still fails after `retries` failed attempts). `close` stays bounded
    /// all the same: it waits as long as records keep getting outcomes, and once
    /// `request.timeout.ms` + `retry.backoff.max.ms` passed since `close` or since the last
    /// outcome after it (a delivery or a failure), every record not yet acknowledged and not in flight —
    /// waiting for metadata, a leader or a connection, in a batch, or a sent batch waiting
    /// for its retry (even one whose partition has no leader any more) — fails with
    /// [`ProduceError::DeliveryTimeout`](crate::ProduceError), and one in flight fails the
    /// same way if its request fails instead of being retried, so a close that makes no
    /// progress ends within about two request timeouts and a retry backoff (the Java client,
    /// whose `delivery.timeout.ms` cannot be turned off, bounds every record this way).
    pub delivery_timeout: Option<Duration>,
    /// `metadata.max.age.ms`: metadata is refreshed at least this often.
    pub metadata_max_age: Duration,
    /// `max.in.flight.requests.per.connection`: Produce requests awaiting a response per broker.
    /// Without idempotence a partition never has more than one batch in flight, whatever this is.
    pub max_in_flight_requests_per_connection: usize,
    /// `buffer.memory`: bytes of records held (buffered, in flight or awaiting retry); `send`
    /// beyond it is refused with [`SendErrorKind::BufferFull`](crate::SendErrorKind::BufferFull).
    ///
    /// What it covers: each held record's encoded size bound, plus what the batches holding
    /// them (open, sealed, in flight, awaiting retry) hold: their encode buffer's capacity and
    /// their record list's (a slot of 184 bytes per record, the record's handles and
    /// bookkeeping). A batch's buffer starts at the smallest power of two (at least 256 bytes)
    /// holding the batch header and its first record and doubles up to `batch.size` as
    /// records join; its list starts at the last batch's length and doubles. Each record is
    /// charged, from `send` to its outcome, the larger of its **reserve** (what a batch of it
    /// alone takes: the smallest buffer holding the header and the record, and one list slot;
    /// 440 bytes for a record of up to 195 bytes) and what its joining made its batch take or
    /// grow by; so the count may exceed what batches really hold, never fall short of it.
    ///
    /// The rule: `send` refuses a record when the bytes in use plus its size and reserve would
    /// pass `buffer.memory`, and a record joining a batch (at `send`, after waiting for
    /// metadata or a leader, or again after a retry) takes more than it already holds only
    /// within the budget: when growing the open batch would pass it, that batch is sealed
    /// as it is and the record starts a new one of the smallest size, which its reserve
    /// covers. So [`buffered_bytes`](crate::ProducerCore::buffered_bytes) never passes
    /// `buffer.memory`, with one exception: a record is always accepted when nothing else is
    /// held, so one record alone (at most `message.max.bytes` plus its reserve) may.
    ///
    /// What it does not cover (bounded apart): the buffers, lists and batch queues kept for
    /// reuse (at most 4 MiB), per-partition state (about 600 bytes for a partition with an
    /// open batch: measured by `sim/tests/buffer_memory.rs` at 5,000 partitions, 8 MiB in
    /// use, 11.2 MB held; a partition holding no batch holds no batch queue), each batch's
    /// queue slot and request list entry (264 bytes, up to twice that with the lists'
    /// slack), a batch's compressed copy while its request is built, and per-connection read
    /// and write buffers (up to `max.response.size` while a response is read).
    pub buffer_memory: usize,
    /// The largest response frame accepted from a broker; a larger size prefix drops the
    /// connection before anything is allocated.
    pub max_response_size: usize,
    /// `allow.auto.create.topics`: whether metadata requests may create topics on brokers that
    /// allow it.
    pub allow_auto_create_topics: bool,
    /// Record format and Produce versions; see [`MessageFormat`].
    pub message_format: MessageFormat,
    /// `enable.idempotence`: `None` (the default) follows the Java client — on when the rest
    /// of the configuration allows it (acks=all, at most 5 in flight, retries > 0, a record
    /// format that carries producer ids), off otherwise; `Some(true)` requires it (an
    /// incompatible setting is a [`ConfigError`]); `Some(false)` turns it off. See
    /// [`Config::idempotence_enabled`]. With idempotence the producer gets a producer id and
    /// epoch (InitProducerId), numbers each partition's batches, and keeps up to
    /// `max.in.flight.requests.per.connection` batches per partition in flight; a broker that
    /// cannot take it (no InitProducerId, a legacy message format) turns a defaulted
    /// idempotence off, and fails the records of a required one.
    pub enable_idempotence: Option<bool>,
    /// Circuit breaker on partitioning: consecutive partitioner errors for a topic before it
    /// opens and refuses that topic for [`Config::breaker_timeout`].
    pub breaker_error_threshold: u32,
    /// How long an open breaker stays open.
    pub breaker_timeout: Duration,
    /// `security.protocol`: plain TCP or TLS, with or without SASL; see [`SecurityProtocol`].
    /// A SASL protocol needs [`Config::sasl`], and SASL settings need a SASL protocol.
    pub security_protocol: SecurityProtocol,
    /// `ssl.*`: the TLS settings, used when `security_protocol` is `SSL` or `SASL_SSL`. Its
    /// `Debug` never shows the private key.
    pub tls: TlsConfig,
    /// `sasl.mechanism`, `sasl.username`, `sasl.password`, or an OAUTHBEARER token provider:
    /// how connections authenticate when [`Config::security_protocol`] is `SASL_PLAINTEXT` or
    /// `SASL_SSL`. `Debug` of the configuration redacts the password.
    pub sasl: Option<SaslConfig>,
    /// Sarama's `Producer.Return.Successes`: hand each delivered record back in its
    /// [`DeliveredRecord`](crate::DeliveredRecord) (`record`). Off by default: a record
    /// encoded into its batch (RecordBatch v2) is then let go at `send`, and only a failure
    /// hands one back, rebuilt from the batch's bytes. On, every record is kept whole beside
    /// its encoded bytes until its outcome, and charged to `buffer.memory` for it. The
    /// runtime adapters turn it on for a successes stream that asks for records.
    pub return_successes: bool,
    /// `transactional.id`: makes the producer transactional (see
    /// [`ProducerCore::init_transactions`](crate::ProducerCore::init_transactions)). It
    /// implies idempotence: with it, `enable.idempotence=false` and the settings idempotence
    /// rules out (acks other than all, more than 5 in flight, no retries, a legacy message
    /// format) are a [`ConfigError`], as in the Java client. An empty id counts as none.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms` (default 60 s): how long the transaction coordinator lets a
    /// transaction stay open before it aborts it. Sent with InitProducerId.
    pub transaction_timeout: Duration,
}

impl Config {
    /// A configuration with the usual defaults and the given bootstrap servers. Each entry
    /// may itself be a comma-separated list, as `bootstrap.servers` is written in Kafka
    /// (`Config::new(["h1:9092,h2:9092"])`): entries are split at commas and trimmed, and
    /// empty ones are dropped.
    pub fn new<S: Into<String>>(bootstrap_servers: impl IntoIterator<Item = S>) -> Self {
        Config {
            bootstrap_servers: bootstrap_servers
                .into_iter()
                .flat_map(|s| {
                    let s: String = s.into();
                    crate::properties::split_servers(&s).collect::<Vec<_>>()
                })
                .collect(),
            client_id: "odradek".to_owned(),
            acks: Acks::All,
            request_timeout: Duration::from_secs(30),
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            batch_num_messages: 10_000,
            max_request_records: 0,
            max_request_size: 1024 * 1024,
            message_max_bytes: 1024 * 1024,
            compression: Compression::None,
            compression_level: None,
            compression_levels: CompressionLevels::default(),
            partitioner: PartitionerConfig::default(),
            retries: 10,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            delivery_timeout: Some(Duration::from_secs(120)),
            metadata_max_age: Duration::from_secs(300),
            max_in_flight_requests_per_connection: 5,
            buffer_memory: 32 * 1024 * 1024,
            max_response_size: 100 * 1024 * 1024,
            allow_auto_create_topics: true,
            message_format: MessageFormat::Auto,
            enable_idempotence: None,
            breaker_error_threshold: 3,
            breaker_timeout: Duration::from_secs(10),
            security_protocol: SecurityProtocol::Plaintext,
            tls: TlsConfig::default(),
            sasl: None,
            return_successes: false,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
        }
    }

    /// Whether the producer runs idempotent: `enable.idempotence` as set, or when unset, on
    /// exactly when the rest of the configuration allows it (see
    /// [`Config::enable_idempotence`]). A configuration that validates with `Some(true)`
    /// always answers `true`.
    pub fn idempotence_enabled(&self) -> bool {
        if self.is_transactional() {
            return true;
        }
        match self.enable_idempotence {
            Some(on) => on,
            None => self.idempotence_conflict().is_none(),
        }
    }

    /// Whether a (non-empty) `transactional.id` is set.
    pub fn is_transactional(&self) -> bool {
        self.transactional_id
            .as_deref()
            .is_some_and(|id| !id.is_empty())
    }

    /// The first setting that rules idempotence out, if any: Java's rules (acks=all, at most
    /// 5 requests in flight, retries > 0) plus a record format that carries producer ids.
    fn idempotence_conflict(&self) -> Option<(&'static str, &'static str)> {
        if self.acks != Acks::All {
            Some(("acks", "idempotence needs acks=all"))
        } else if self.max_in_flight_requests_per_connection > 5 {
            Some((
                "max.in.flight.requests.per.connection",
                "idempotence needs at most 5",
            ))
        } else if self.retries == 0 {
            Some(("retries", "idempotence needs retries > 0"))
        } else if self.message_format != MessageFormat::Auto {
            Some((
                "message.format",
                "idempotence needs RecordBatch v2; a legacy MessageSet has no producer id",
            ))
        } else {
            None
        }
    }

    /// The level batches are compressed at: [`Config::compression_level`] if set, else the
    /// codec's own in [`Config::compression_levels`]; `None` for none and snappy.
    pub fn effective_compression_level(&self) -> Option<i32> {
        self.compression_level
            .or_else(|| self.compression_levels.get(self.compression))
    }

    /// Checks the configuration; `ProducerCore::new` calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bootstrap_servers.is_empty() {
            return Err(ConfigError::NoBootstrapServers);
        }
        for s in &self.bootstrap_servers {
            parse_host_port(s)?;
        }
        if self.batch_size == 0 {
            return Err(ConfigError::Invalid {
                name: "batch.size",
                reason: "must be at least 1",
            });
        }
        if self.max_request_size < 1024 {
            return Err(ConfigError::Invalid {
                name: "max.request.size",
                reason: "must be at least 1024",
            });
        }
        if self.message_max_bytes == 0 || self.message_max_bytes > self.max_request_size {
            return Err(ConfigError::Invalid {
                name: "message.max.bytes",
                reason: "must be at least 1 and at most max.request.size",
            });
        }
        if self.max_in_flight_requests_per_connection == 0 {
            return Err(ConfigError::Invalid {
                name: "max.in.flight.requests.per.connection",
                reason: "must be at least 1",
            });
        }
        if self.buffer_memory < self.message_max_bytes {
            return Err(ConfigError::Invalid {
                name: "buffer.memory",
                reason: "must be at least message.max.bytes",
            });
        }
        if self.max_response_size < 1024 {
            return Err(ConfigError::Invalid {
                name: "max.response.size",
                reason: "must be at least 1024",
            });
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                name: "request.timeout.ms",
                reason: "must be positive",
            });
        }
        if self.retry_backoff > MAX_BACKOFF {
            return Err(ConfigError::Invalid {
                name: "retry.backoff.ms",
                reason: "must be at most one day",
            });
        }
        if self.retry_backoff_max > MAX_BACKOFF {
            return Err(ConfigError::Invalid {
                name: "retry.backoff.max.ms",
                reason: "must be at most one day",
            });
        }
        if self.enable_idempotence == Some(true) || self.is_transactional() {
            if let Some((name, reason)) = self.idempotence_conflict() {
                return Err(ConfigError::Invalid { name, reason });
            }
        }
        if self.is_transactional() {
            if self.enable_idempotence == Some(false) {
                return Err(ConfigError::Invalid {
                    name: "enable.idempotence",
                    reason: "a transactional.id needs idempotence",
                });
            }
            let ms = self.transaction_timeout.as_millis();
            if ms == 0 || ms > i32::MAX as u128 {
                return Err(ConfigError::Invalid {
                    name: "transaction.timeout.ms",
                    reason: "must be from 1 to 2147483647 ms",
                });
            }
        }
        if self.compression == Compression::Zstd
            && matches!(
                self.message_format,
                MessageFormat::MessageSetV0 | MessageFormat::MessageSetV1
            )
        {
            return Err(ConfigError::Invalid {
                name: "compression.type",
                reason: "zstd needs RecordBatch v2 (Produce v7+), not a legacy message format",
            });
        }
        self.compression_levels
            .check()
            .map_err(|(name, reason)| ConfigError::Invalid { name, reason })?;
        self.validate_security()?;
        if let Some(level) = self.compression_level {
            self.compression
                .check_level(level)
                .map_err(|reason| ConfigError::Invalid {
                    name: "compression.level",
                    reason,
                })?;
        }
        if self.security_protocol.uses_tls() {
            self.tls.validate()?;
        }
        Ok(())
    }
}

impl Config {
    /// `security.protocol` and the SASL settings agree.
    fn validate_security(&self) -> Result<(), ConfigError> {
        let protocol = self.security_protocol;
        match (&self.sasl, protocol.uses_sasl()) {
            (Some(_), false) => Err(ConfigError::Invalid {
                name: "security.protocol",
                reason: "SASL settings are given: use SASL_PLAINTEXT or SASL_SSL",
            }),
            (None, true) => Err(ConfigError::Invalid {
                name: "sasl.mechanism",
                reason: "security.protocol is SASL_PLAINTEXT or SASL_SSL: set a SASL mechanism",
            }),
            (Some(sasl), true) => match sasl.mechanism {
                SaslMechanism::OAuthBearer if sasl.oauth_token_provider.is_none() => {
                    Err(ConfigError::Invalid {
                        name: "sasl.mechanism",
                        reason:
                            "OAUTHBEARER needs a token provider (SaslConfig::oauth_token_provider)",
                    })
                }
                SaslMechanism::OAuthBearer => Ok(()),
                _ if sasl.username.is_empty() => Err(ConfigError::Invalid {
                    name: "sasl.username",
                    reason: "must not be empty for PLAIN and SCRAM",
                }),
                _ => Ok(()),
            },
            (None, false) => Ok(()),
        }
    }
}

/// The largest `retry.backoff.ms` and `retry.backoff.max.ms` accepted: one day. Bounding
/// them keeps every backoff computed from them (retry, metadata, reconnect) far from
/// `Duration` overflow.
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 60 * 60);

/// Splits `host:port` (or `[v6]:port`).
pub fn parse_host_port(s: &str) -> Result<(String, u16), ConfigError> {
    let bad = || ConfigError::BadAddress(s.to_owned());
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    Ok((host.to_owned(), port))
}

/// A configuration the core cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `bootstrap.servers` is empty.
    #[error("bootstrap.servers is empty")]
    NoBootstrapServers,
    /// An address is not `host:port`.
    #[error("not a host:port address: {0:?}")]
    BadAddress(String),
    /// A setting is out of range.
    #[error("{name}: {reason}")]
    Invalid {
        /// The setting, by its Kafka name.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A setting this version does not support yet.
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
    /// A key [`Config::from_properties`] does not know.
    #[error("unknown configuration key {0:?}")]
    UnknownKey(String),
    /// A value [`Config::from_properties`] cannot read for its key.
    #[error("{key}={value:?}: {reason}")]
    BadValue {
        /// The key, as given.
        key: String,
        /// The value, as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting known to Kafka that this version cannot honour yet (TLS and SASL): the key,
    /// or `key=value` for `security.protocol`. Values of `ssl.*` and `sasl.*` keys are left
    /// out, as they may be secrets.
    #[error("{0} is not supported yet (TLS and SASL are planned)")]
    NotSupportedYet(String),
    /// A line of `.properties` text that is not `key=value`.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        Config::new(["localhost:9092"]).validate().unwrap();
        assert_eq!(
            Config::new(Vec::<String>::new()).validate(),
            Err(ConfigError::NoBootstrapServers)
        );
        assert_eq!(
            Config::new(["nohost"]).validate(),
            Err(ConfigError::BadAddress("nohost".into()))
        );
        let mut c = Config::new(["[::1]:9092"]);
        c.validate().unwrap();
        c.message_max_bytes = c.max_request_size + 1;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                name: "message.max.bytes",
                ..
            })
        ));
        let c = Config::new(["h1:9092, h2:9093,", " h3:1 ", ""]);
        assert_eq!(c.bootstrap_servers, ["h1:9092", "h2:9093", "h3:1"]);
        c.validate().unwrap();
        assert_eq!(
            Config::new([" , "]).validate(),
            Err(ConfigError::NoBootstrapServers)
        );
        let mut c = Config::new(["h:1"]);
        assert_eq!(c.retry_backoff_max, Duration::from_secs(1));
        c.retry_backoff = MAX_BACKOFF;
        c.retry_backoff_max = MAX_BACKOFF;
        c.validate().unwrap();
        c.retry_backoff = MAX_BACKOFF + Duration::from_millis(1);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                name: "retry.backoff.ms",
                ..
            })
        ));
        c.retry_backoff = Duration::from_millis(100);
        c.retry_backoff_max = Duration::MAX;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                name: "retry.backoff.max.ms",
                ..
            })
        ));
        // Below retry.backoff.ms is allowed: it becomes a constant backoff (Java's rule).
        c.retry_backoff_max = Duration::from_millis(10);
        c.validate().unwrap();
    }

    #[test]
    fn sasl_and_security_protocol_must_agree_and_errors_name_the_key() {
        let named = |c: &Config| match c.validate() {
            Err(ConfigError::Invalid { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        let mut c = Config::new(["h:1"]);
        c.sasl = Some(SaslConfig::new(SaslMechanism::Plain, "u", "p"));
        assert_eq!(named(&c), "security.protocol", "SASL with PLAINTEXT");
        c.security_protocol = SecurityProtocol::SaslPlaintext;
        c.validate().unwrap();
        c.sasl = None;
        assert_eq!(named(&c), "sasl.mechanism", "SASL_PLAINTEXT without SASL");
        c.sasl = Some(SaslConfig::new(SaslMechanism::ScramSha256, "", "p"));
        assert_eq!(named(&c), "sasl.username");
        c.sasl = Some(SaslConfig::new(SaslMechanism::OAuthBearer, "", ""));
        assert_eq!(
            named(&c),
            "sasl.mechanism",
            "OAUTHBEARER without a provider"
        );
        let mut c = Config::new(["h:1"]);
        c.security_protocol = SecurityProtocol::Ssl;
        c.sasl = Some(SaslConfig::new(SaslMechanism::Plain, "u", "p"));
        assert!(c.validate().is_err(), "SASL settings with SSL");
        c.security_protocol = SecurityProtocol::SaslSsl;
        c.validate().unwrap();
    }

    #[test]
    fn debug_of_config_redacts_the_password() {
        let mut c = Config::new(["h:1"]);
        c.security_protocol = SecurityProtocol::SaslPlaintext;
        c.sasl = Some(SaslConfig::new(
            SaslMechanism::ScramSha512,
            "alice",
            "correct horse",
        ));
        let text = format!("{c:?}");
        assert!(text.contains("alice"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(!text.contains("correct horse"), "{text}");
        assert!(!format!("{c:#?}").contains("correct horse"));
    }

    #[test]
    fn idempotence_defaults_like_java_and_a_required_one_names_the_conflict() {
        let c = Config::new(["h:1"]);
        assert!(c.idempotence_enabled(), "on by default with acks=all");
        let mut c = Config::new(["h:1"]);
        c.acks = Acks::Leader;
        assert!(!c.idempotence_enabled());
        c.enable_idempotence = Some(true);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid { name: "acks", .. })
        ));
        let mut c = Config::new(["h:1"]);
        c.max_in_flight_requests_per_connection = 6;
        assert!(!c.idempotence_enabled());
        c.enable_idempotence = Some(true);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                name: "max.in.flight.requests.per.connection",
                ..
            })
        ));
        let mut c = Config::new(["h:1"]);
        c.message_format = MessageFormat::MessageSetV1;
        assert!(!c.idempotence_enabled());
        c.enable_idempotence = Some(true);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                name: "message.format",
                ..
            })
        ));
        let mut c = Config::new(["h:1"]);
        c.retries = 0;
        assert!(!c.idempotence_enabled());
        let mut c = Config::new(["h:1"]);
        c.enable_idempotence = Some(false);
        assert!(!c.idempotence_enabled());
        c.enable_idempotence = Some(true);
        c.validate().unwrap();
        assert!(c.idempotence_enabled());
    }

    #[test]
    fn debug_of_config_redacts_the_tls_key_and_ssl_checks_its_settings() {
        use crate::security::Pem;
        let mut c = Config::new(["h:1"]);
        c.security_protocol = SecurityProtocol::Ssl;
        c.tls.certificate = Some(Pem::Text("-----BEGIN CERTIFICATE-----\nCERT".into()));
        c.tls.key = Some(Pem::Text(
            "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYBYTES\n-----END PRIVATE KEY-----".into(),
        ));
        c.validate().unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("TOPSECRETKEYBYTES"), "{shown}");
        assert!(shown.contains("security_protocol: Ssl"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        // A certificate without its key is refused, naming the missing key's setting.
        c.tls.key = None;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                name: "ssl.key.location",
                ..
            })
        ));
        // The same TLS settings are not looked at without TLS.
        c.security_protocol = SecurityProtocol::Plaintext;
        c.validate().unwrap();
    }
}
