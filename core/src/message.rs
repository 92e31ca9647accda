//! What a user sends and what comes back: [`Record`], [`Header`], [`TopicName`], [`RecordId`],
//! [`RecordMetadata`].

use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// A topic name, cheap to clone (shared, reference-counted).
///
/// Build it once per topic and clone it into each [`Record`]: the hot path then never
/// allocates for the topic.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(Arc<str>);

impl TopicName {
    /// A topic name from any string.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        TopicName(name.into())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for TopicName {
    fn from(s: &str) -> Self {
        TopicName(Arc::from(s))
    }
}

impl From<String> for TopicName {
    fn from(s: String) -> Self {
        TopicName(Arc::from(s))
    }
}

impl std::ops::Deref for TopicName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A record header: a string key and an optional byte value (Kafka allows a null value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The header key.
    pub key: String,
    /// The header value; `None` is Kafka's null.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// One record to produce.
///
/// ```
/// use odradek_core::{Record, Header};
/// let r = Record::new("events")
///     .key("user-17")
///     .value("clicked")
///     .header(Header::new("trace", "abc"))
///     .timestamp(1_700_000_000_000);
/// assert_eq!(r.topic.as_str(), "events");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Topic to produce to.
    pub topic: TopicName,
    /// Partition chosen by the caller; `None` lets the configured partitioner choose.
    /// The manual partitioner requires it.
    pub partition: Option<i32>,
    /// Optional key (Kafka's null key when `None`).
    pub key: Option<Bytes>,
    /// Optional value (Kafka's null value, a tombstone, when `None`).
    pub value: Option<Bytes>,
    /// Record headers (RecordBatch v2 only; legacy message formats cannot carry them).
    pub headers: Vec<Header>,
    /// Timestamp in milliseconds since the UNIX epoch (Kafka's `CreateTime`). `None`: the
    /// adapters (odradek-tokio, -async-std, -smol, -mio) set it from the wall clock
    /// (`SystemTime::now()`) when the record is accepted; a loop of one's own that calls
    /// [`send`](crate::ProducerCore::send) directly gets the `now` it passed, a monotonic
    /// clock that drifts from the wall clock in a long-running process.
    pub timestamp: Option<i64>,
}

impl Record {
    /// A record for `topic` with no key, no value, no headers and no timestamp.
    pub fn new(topic: impl Into<TopicName>) -> Self {
        Record {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, header: Header) -> Self {
        self.headers.push(header);
        self
    }

    /// Sets the timestamp (milliseconds since the UNIX epoch).
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// Sets the partition explicitly.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Bytes of key, value and headers: what counts against buffer memory and size limits
    /// before per-record framing overhead.
    pub fn payload_len(&self) -> usize {
        self.key.as_ref().map_or(0, |k| k.len())
            + self.value.as_ref().map_or(0, |v| v.len())
            + self
                .headers
                .iter()
                .map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len()))
                .sum::<usize>()
    }
}

/// Identifies one sent record; every id gets exactly one outcome (a place in an
/// [`Output::Delivered`](crate::Output::Delivered) or an [`Output::Failed`](crate::Output::Failed)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub u64);

/// Where and when a record was appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: TopicName,
    /// The partition the record was appended to.
    pub partition: i32,
    /// The record's offset in that partition; `-1` with `acks=0` (the broker says nothing).
    pub offset: i64,
    /// The record's timestamp: its `CreateTime`, or the broker's `LogAppendTime` when the topic
    /// is configured that way.
    pub timestamp: i64,
}
