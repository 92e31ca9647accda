//! What the core asks its driver to do: [`Output`], and the names it uses for connections.

use crate::error::ProduceError;
use crate::message::{Record, RecordId, RecordMetadata, TopicName};
use crate::producer::Slot;
use bytes::Bytes;

/// A connection the core asked for; the driver maps it to a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A broker address to connect to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerAddress {
    /// Host name or IP literal, as given in `bootstrap.servers` or advertised by the broker.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Something the core wants done, or something that happened to a record.
#[derive(Debug)]
pub enum Output {
    /// Open a TCP connection to `address`, then call `handle_connected(conn, now)`, or
    /// `handle_disconnected(conn, now)` if it fails.
    Connect {
        /// The id the core will use for this connection.
        conn: ConnId,
        /// Where to connect.
        address: BrokerAddress,
    },
    /// Write these bytes, in order, to the connection (a whole request, already framed).
    Transmit {
        /// The connection.
        conn: ConnId,
        /// Chunks to write back to back (vectored write friendly).
        data: Vec<Bytes>,
    },
    /// Close the connection. The core has already forgotten it: do not report it back.
    Disconnect {
        /// The connection.
        conn: ConnId,
    },
    /// The records of one batch were appended, together: one outcome for each of them,
    /// reported once per batch. Iterate the [`Delivery`] for each record's id, metadata and
    /// the record itself, in send order.
    Delivered(Delivery),
    /// A record failed for good.
    Failed {
        /// The id `send` returned.
        id: RecordId,
        /// Why.
        error: ProduceError,
        /// The record, handed back.
        record: Record,
    },
    /// `close` finished: every record has its outcome and every connection was disconnected.
    /// Nothing comes after this.
    Closed,
    /// A transaction operation ended (only with a `transactional.id`): exactly one for each
    /// operation the core accepted ([`ProducerCore::init_transactions`],
    /// [`send_offsets_to_transaction`](crate::ProducerCore::send_offsets_to_transaction),
    /// [`commit_transaction`](crate::ProducerCore::commit_transaction),
    /// [`abort_transaction`](crate::ProducerCore::abort_transaction)). A commit is `Ok` only when the
    /// transaction coordinator said it committed.
    ///
    /// [`ProducerCore::init_transactions`]: crate::ProducerCore::init_transactions
    Transaction {
        /// Which operation.
        op: crate::transaction::TxnOp,
        /// How it ended; see [`TransactionError::class`](crate::TransactionError::class).
        result: Result<(), crate::transaction::TransactionError>,
    },
}

/// The records of one batch, appended to one partition together: what
/// [`Output::Delivered`] carries.
///
/// An outcome is decided per batch, so it travels per batch: one output, one allocation (the
/// batch's own record list, handed over as it is), however many records the batch held.
/// Iterating it by value gives each record its [`DeliveredRecord`], in send order (offsets
/// ascending); every record in it counts as delivered whether or not it is iterated.
///
/// ```
/// # use odradek_core::{Delivery, RecordId};
/// fn report(batch: Delivery) -> Vec<(RecordId, i64)> {
///     println!("{} records to {}/{}", batch.len(), batch.topic(), batch.partition());
///     batch.into_iter().map(|d| (d.id, d.metadata.offset)).collect()
/// }
/// ```
#[derive(Debug)]
pub struct Delivery {
    pub(crate) topic: TopicName,
    pub(crate) partition: i32,
    /// The first record's offset, `-1` when the broker gave none (`acks=0`).
    pub(crate) base_offset: i64,
    /// The broker's `LogAppendTime` for the batch, `-1` for `CreateTime` topics.
    pub(crate) log_append_time: i64,
    pub(crate) records: Vec<Slot>,
}

impl Delivery {
    /// The topic.
    pub fn topic(&self) -> &TopicName {
        &self.topic
    }

    /// The partition the batch was appended to.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The first record's offset; `None` with `acks=0` (the broker says nothing).
    pub fn base_offset(&self) -> Option<i64> {
        (self.base_offset >= 0).then_some(self.base_offset)
    }

    /// How many records the batch held (0 once [`drain`](Self::drain)ed).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch held no record (never the case for a batch the core reports).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records' ids, in send order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = RecordId> + '_ {
        self.records.iter().map(|p| p.id)
    }

    /// Each record's id and metadata, in send order, without taking the records.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (RecordId, RecordMetadata)> + '_ {
        self.records
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, self.metadata_of(i, p.timestamp)))
    }

    #[inline]
    fn metadata_of(&self, index: usize, create_time: i64) -> RecordMetadata {
        self.head().metadata(index, create_time)
    }

    #[inline]
    fn head(&self) -> Head<'_> {
        Head {
            topic: &self.topic,
            partition: self.partition,
            base_offset: self.base_offset,
            log_append_time: self.log_append_time,
        }
    }

    /// Takes each record's outcome, in send order, like iterating by value, but leaves the
    /// (now empty) record list in the `Delivery`: hand it back with
    /// [`ProducerCore::recycle`](crate::ProducerCore::recycle) and the core reuses it for a
    /// later batch. Records the iterator is not driven to are dropped with it.
    pub fn drain(&mut self) -> DeliveryDrain<'_> {
        let Delivery {
            topic,
            partition,
            base_offset,
            log_append_time,
            records,
        } = self;
        DeliveryDrain {
            head: Head {
                topic,
                partition: *partition,
                base_offset: *base_offset,
                log_append_time: *log_append_time,
            },
            records: records.drain(..),
            next: 0,
        }
    }
}

/// What every record of a [`Delivery`] shares, to build its [`RecordMetadata`].
#[derive(Debug, Clone, Copy)]
struct Head<'a> {
    topic: &'a TopicName,
    partition: i32,
    base_offset: i64,
    log_append_time: i64,
}

impl Head<'_> {
    #[inline]
    fn metadata(&self, index: usize, create_time: i64) -> RecordMetadata {
        RecordMetadata {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: if self.base_offset >= 0 {
                self.base_offset + index as i64
            } else {
                -1
            },
            timestamp: if self.log_append_time != -1 {
                self.log_append_time
            } else {
                create_time
            },
        }
    }

    /// The outcome of `p`, the batch's record number `index`.
    #[inline]
    fn deliver(&self, index: usize, p: Slot) -> DeliveredRecord {
        DeliveredRecord {
            id: p.id,
            metadata: self.metadata(index, p.timestamp),
            record: p.body.map(|b| *b),
        }
    }
}

/// The records of a [`Delivery`], taken with [`Delivery::drain`].
#[derive(Debug)]
pub struct DeliveryDrain<'a> {
    head: Head<'a>,
    records: std::vec::Drain<'a, Slot>,
    next: usize,
}

impl Iterator for DeliveryDrain<'_> {
    type Item = DeliveredRecord;

    #[inline]
    fn next(&mut self) -> Option<DeliveredRecord> {
        let p = self.records.next()?;
        self.next += 1;
        Some(self.head.deliver(self.next - 1, p))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

impl ExactSizeIterator for DeliveryDrain<'_> {}

/// One record of a [`Delivery`]: its id, where and when it was appended, and the record
/// itself only when [`Config::return_successes`](crate::Config::return_successes) asked for
/// it (by default the core lets a record go once it is encoded into its batch; a failure,
/// [`Output::Failed`], always hands the record back).
#[derive(Debug)]
pub struct DeliveredRecord {
    /// The id `send` returned.
    pub id: RecordId,
    /// Where and when.
    pub metadata: RecordMetadata,
    /// The record, with [`Config::return_successes`](crate::Config::return_successes).
    pub record: Option<Record>,
}

/// The records of a [`Delivery`], by value; see [`Delivery::into_iter`].
#[derive(Debug)]
pub struct DeliveryIter {
    head: Delivery,
    records: std::vec::IntoIter<Slot>,
    next: usize,
}

impl Iterator for DeliveryIter {
    type Item = DeliveredRecord;

    #[inline]
    fn next(&mut self) -> Option<DeliveredRecord> {
        let p = self.records.next()?;
        self.next += 1;
        Some(self.head.head().deliver(self.next - 1, p))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

impl ExactSizeIterator for DeliveryIter {}

impl IntoIterator for Delivery {
    type Item = DeliveredRecord;
    type IntoIter = DeliveryIter;

    /// Each record's outcome, in send order.
    fn into_iter(mut self) -> DeliveryIter {
        let records = std::mem::take(&mut self.records).into_iter();
        DeliveryIter {
            head: self,
            records,
            next: 0,
        }
    }
}

/// Why the core wants to be woken up; see `ProducerCore::poll_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutReason {
    /// A batch's `linger.ms` runs out.
    Linger,
    /// A retry backoff ends.
    RetryBackoff,
    /// A request's `request.timeout.ms` runs out.
    RequestTimeout,
    /// Metadata is due for refresh (`metadata.max.age.ms`, or backoff after an error).
    MetadataRefresh,
    /// A record's `delivery.timeout.ms` runs out.
    DeliveryTimeout,
    /// A reconnect backoff ends.
    ReconnectBackoff,
    /// A SASL session nears the end of its lifetime (KIP-368): its connection re-authenticates.
    Reauthenticate,
}
