//! Typed errors: what `send` refuses at once ([`SendError`]) and why a record failed later
//! ([`ProduceError`]).

use crate::message::{Record, TopicName};
use crate::protocol::ErrorCode;

/// `send` refused a record at once; the record is handed back untouched and nothing else is
/// affected.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct SendError {
    /// Why it was refused.
    pub kind: SendErrorKind,
    /// The record, handed back.
    pub record: Record,
}

/// Why `send` refused a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendErrorKind {
    /// The encoded record is larger than `message.max.bytes`.
    #[error("record of {size} bytes is larger than message.max.bytes ({max})")]
    RecordTooLarge {
        /// The record's encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The topic name is empty, too long or has characters Kafka does not allow.
    #[error("invalid topic name {topic:?}: {reason}")]
    InvalidTopic {
        /// The name given.
        topic: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The record names a partition below zero.
    #[error("invalid partition {0}")]
    InvalidPartition(i32),
    /// `close` was called; the producer takes no more records.
    #[error("the producer is closed")]
    Closed,
    /// Buffered records already use `buffer.memory`; try again after some complete.
    #[error("buffer.memory is full")]
    BufferFull,
    /// The topic's partitioning circuit breaker is open after repeated errors.
    #[error("the circuit breaker for topic {0} is open")]
    BreakerOpen(TopicName),
    /// A transactional producer takes records only inside a transaction
    /// (`begin_transaction`), and not once the transaction hit an error (abortable: abort it;
    /// fatal: close the producer).
    #[error("transactional producer: {0}")]
    Transaction(crate::transaction::TransactionError),
}

/// Why a record that was accepted by `send` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProduceError {
    /// The broker answered with an error that retrying cannot fix.
    #[error("broker error: {0}")]
    Broker(ErrorCode),
    /// A retriable error persisted past `retries` attempts.
    #[error("retries exhausted, last error: {0}")]
    RetriesExhausted(RetryCause),
    /// No outcome within `delivery.timeout.ms`.
    #[error("delivery timed out")]
    DeliveryTimeout,
    /// The cluster says the topic does not exist (and auto-creation is off or failed).
    #[error("unknown topic {0}")]
    UnknownTopic(TopicName),
    /// The record names a partition the topic does not have.
    #[error("partition {partition} out of range: topic {topic} has {count}")]
    PartitionOutOfRange {
        /// The topic.
        topic: TopicName,
        /// The partition asked for.
        partition: i32,
        /// How many the topic has.
        count: i32,
    },
    /// The partitioner failed for this record (a manual partitioner given no partition, or a
    /// custom partitioner's error).
    #[error("partitioner: {0}")]
    Partitioner(String),
    /// The record could not be encoded for the negotiated format (for example headers with a
    /// legacy message format), or compression failed.
    #[error("encoding: {0}")]
    Encoding(String),
    /// Version negotiation: the leader speaks no Produce version this producer can use for
    /// the record (no Produce at all, none for the configured message format, or none new
    /// enough for the compression, such as zstd before Produce v7).
    #[error("no usable Produce version with {broker}: {reason}")]
    UnsupportedVersion {
        /// The broker (node id and address).
        broker: String,
        /// Why no version fits.
        reason: &'static str,
    },
    /// Idempotence: the broker fenced this producer id (INVALID_PRODUCER_EPOCH or
    /// PRODUCER_FENCED). Fatal for the producer id: this record and every later one fail
    /// with it, as the Java client does for a fenced producer. Not retriable.
    #[error("producer fenced: {0}")]
    ProducerFenced(ErrorCode),
    /// Idempotence: the broker refused to grant a producer id (InitProducerId answered a
    /// non-retriable error). Not retriable.
    #[error("no producer id: {0}")]
    ProducerIdRefused(ErrorCode),
    /// `enable.idempotence` is required (`Some(true)`) but the brokers cannot do it (a legacy
    /// message format, or no InitProducerId). Not retriable.
    #[error("idempotence unavailable: {0}")]
    IdempotenceUnavailable(&'static str),
    /// SASL authentication with `broker` failed: the broker refused the credentials
    /// (SASL_AUTHENTICATION_FAILED), does not enable the mechanism
    /// (UNSUPPORTED_SASL_MECHANISM), found the exchange out of order (ILLEGAL_SASL_STATE), or
    /// its answer failed the client's checks (a wrong SCRAM server signature, a malformed
    /// message). Records waiting for that broker fail with it; not retriable (the connection
    /// is tried again only after the reconnect backoff, for later records).
    #[error("authentication with {broker} failed: {message}")]
    Authentication {
        /// The broker, as `host:port`.
        broker: String,
        /// What went wrong, from the broker's error message when it sent one.
        message: String,
    },
    /// The broker refused this record and named it (KIP-467 `RecordErrors`, Produce v8+,
    /// with INVALID_RECORD or INVALID_TIMESTAMP): for example a record without a key on a
    /// compacted topic, or a timestamp out of range. The other records of its batch were sent
    /// again without it. Not retriable.
    #[error("the broker refused this record: {code}: {message}")]
    RecordRejected {
        /// The partition's error code.
        code: ErrorCode,
        /// The broker's message for this record (else for the batch, else the code's name).
        message: String,
    },
    /// The producer was aborted with records still outstanding.
    #[error("the producer was aborted before this record completed")]
    Aborted,
    /// No outcome within `delivery.timeout.ms`, and the last attempt to reach a broker
    /// failed for this reason (a TLS failure such as an untrusted certificate or a hostname
    /// the certificate does not name), with no good connection since: the adapter's
    /// [`ProducerCore::handle_connection_error`](crate::ProducerCore::handle_connection_error)
    /// reported it. Takes the place of [`ProduceError::DeliveryTimeout`] for records that
    /// were never sent.
    #[error("delivery timed out: {0}")]
    Connection(ConnectionError),
    /// The record's transaction was aborted (`abort_transaction`, or a fatal transaction
    /// error) before it was sent.
    #[error("the transaction was aborted before this record was sent")]
    TransactionAborted,
    /// The producer was closed with a timeout (`close_timeout`, Java's `close(Duration)`) that
    /// passed before this record had an outcome: it may or may not have been written (it was
    /// in flight, or never sent). From [`ProducerCore::close_now`](crate::ProducerCore::close_now).
    #[error("the producer's close timed out before this record completed")]
    CloseTimedOut,
}

/// Why a broker connection could not be used, as the adapter saw it (the core does no I/O:
/// it is told with
/// [`ProducerCore::handle_connection_error`](crate::ProducerCore::handle_connection_error)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection to {broker} failed: {kind}: {detail}")]
pub struct ConnectionError {
    /// The broker's `host:port`.
    pub broker: String,
    /// What kind of failure.
    pub kind: ConnectionErrorKind,
    /// The underlying library's own words (for TLS, rustls' error).
    pub detail: String,
}

/// The kinds of [`ConnectionError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionErrorKind {
    /// TLS: the broker's certificate does not chain to a trusted root (or is expired,
    /// revoked or otherwise invalid).
    #[error("TLS: the broker's certificate is not trusted")]
    UntrustedCertificate,
    /// TLS: the certificate is valid but does not name the host connected to
    /// (`ssl.endpoint.identification.algorithm=https`).
    #[error("TLS: the broker's certificate does not name this host")]
    HostnameMismatch,
    /// TLS: the broker ended the handshake with an alert (for example: it requires a client
    /// certificate, or does not trust the one given).
    #[error("TLS: the broker refused the handshake")]
    AlertReceived,
    /// TLS: the broker closed the connection during the handshake.
    #[error("TLS: the connection closed during the handshake")]
    ClosedDuringHandshake,
    /// TLS: the TCP connect and the handshake did not finish within the connect timeout
    /// (a broker that accepts the connection but never answers the handshake, say).
    #[error("TLS: the handshake did not finish in time")]
    TimedOut,
    /// Any other TLS failure.
    #[error("TLS")]
    Tls,
    /// The TCP connection could not be made: refused, unreachable, timed out, or the
    /// broker's name did not resolve (the detail says which).
    #[error("cannot connect")]
    ConnectFailed,
    /// The broker answered with bytes that are not a valid answer (a frame too large or
    /// negative in size, an unknown correlation id, a body that does not decode).
    #[error("malformed response")]
    MalformedResponse,
}

/// The last retriable cause behind [`ProduceError::RetriesExhausted`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryCause {
    /// A retriable error code from the broker.
    #[error("{0}")]
    Broker(ErrorCode),
    /// The connection failed or closed with the request outstanding.
    #[error("connection lost")]
    ConnectionLost,
    /// No response within `request.timeout.ms`.
    #[error("request timed out")]
    RequestTimeout,
    /// The response lacked this partition.
    #[error("incomplete response")]
    IncompleteResponse,
    /// The response was well framed but impossible (for example a base offset that would
    /// overflow): the outcome is unknown, as if the connection had been lost.
    #[error("malformed response from {broker}: {detail}")]
    MalformedResponse {
        /// Which broker sent it (node id and address, or the bootstrap address).
        broker: String,
        /// What was wrong with the bytes.
        detail: String,
    },
    /// Idempotence: the broker had no state for the producer id (UNKNOWN_PRODUCER_ID) or saw
    /// a sequence gap on the first batch in flight; the epoch is bumped and sequences restart.
    #[error("producer state lost: {0}")]
    SequenceReset(ErrorCode),
}

/// A record that failed for good, handed back with the reason: what the adapters' delivery
/// futures and error streams yield.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct DeliveryError {
    /// Why it failed.
    pub error: ProduceError,
    /// The record.
    pub record: Record,
}
