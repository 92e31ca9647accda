//! # odradek-core
//!
//! A Kafka producer as a sans-IO state machine (drive contract: see [`ProducerCore`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compression;
pub mod config;
pub mod error;
pub mod message;
pub mod output;
pub mod partitioner;
mod producer;
pub mod protocol;
pub mod record;
pub mod rng;
pub mod time;

pub use compression::Compression;
pub use config::{Acks, Config, ConfigError, MessageFormat};
pub use error::{DeliveryError, ProduceError, RetryCause, SendError, SendErrorKind};
pub use message::{Header, Record, RecordId, RecordMetadata, TopicName};
pub use output::{BrokerAddress, ConnId, Output, TimeoutReason};
pub use partitioner::{Partitioner, PartitionerConfig};
pub use producer::ProducerCore;
pub use time::Instant;
