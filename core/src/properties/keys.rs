//! The table of keys: each `key=value` with the Java client's name and unit, applied to a
//! [`Config`].

use super::split_servers;
use crate::compression::Compression;
use crate::config::{Acks, Config, ConfigError};
use crate::partitioner::PartitionerConfig;
use crate::security::{Pem, SecurityProtocol};
use std::time::Duration;

/// Applies one pair to `c`; `codec_levels` records which codecs' own level keys were given
/// (gzip, lz4, zstd).
pub(super) fn apply_one(
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
        "transactional.id" => c.transactional_id = Some(value.to_owned()).filter(|v| !v.is_empty()),
        "transaction.timeout.ms" => c.transaction_timeout = ms()?,
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
