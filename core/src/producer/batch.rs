//! A batch of one partition's records ([`Batch`]), its idempotent sequence stamp ([`Stamp`])
//! and Kafka's sequence arithmetic, what may seal a batch ([`SealTrigger`]), and the size
//! limits of batches ([`BatchLimits`]): the data the accumulator ([`super::partition`]) works on.

use super::accept::AcceptedRecord;
use super::recycle::class_size;
use crate::record::{BatchBuilder, RecordFormat};
use crate::time::Instant;
use bytes::Bytes;
use std::time::Duration;

/// A batch of one partition's records on its way to the leader.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The records, in send order.
    pub records: Vec<AcceptedRecord>,
    /// Estimated encoded size: format overhead plus each record's size bound.
    pub bytes: usize,
    /// When the first record went in (`linger.ms` counts from here).
    pub created: Instant,
    /// Whether the batch takes no more records.
    pub sealed: bool,
    /// The records already encoded, when the record format was known as the batch opened
    /// ([`BatchLimits::format`]): each record is encoded once, at `send`. `None` (format not
    /// known yet, or a record the format could not carry) means the deferred path: the batch
    /// is encoded from `records` when its request is built. A batch whose format differs
    /// from the one its broker negotiated is re-encoded there the same way.
    pub enc: Option<BatchBuilder>,
    /// Idempotence: the sequence the batch was given when it first went into a request, and
    /// its finished bytes. From then on the batch is the unit of retry: it keeps its records,
    /// bytes and sequence (re-stamped only after an epoch bump or a split).
    pub stamp: Option<Stamp>,
}

/// A batch's place in its partition's sequence space (idempotence).
#[derive(Debug, Clone)]
pub(crate) struct Stamp {
    /// The producer id and epoch it was stamped under ([`super::idempotence::Idempotence::generation`]).
    pub generation: u32,
    /// The sequence of its first record.
    pub base_seq: i32,
    /// The finished batch, producer fields and CRC written.
    pub wire: Bytes,
    /// An earlier send got no definitive answer (connection lost, request timeout, an error
    /// after the append): the broker may hold it. Such a batch is never re-stamped under a
    /// new epoch (that could store it twice); it fails with this cause instead.
    pub maybe_written: Option<crate::error::RetryCause>,
}

/// `seq + n` in Kafka's sequence space (wraps from `i32::MAX` to 0).
pub(crate) fn seq_add(seq: i32, n: usize) -> i32 {
    let m = i64::from(i32::MAX) + 1;
    ((i64::from(seq) + (n as i64 % m)) % m) as i32
}

/// How far `to` is ahead of `from` in Kafka's sequence space, going forward through the
/// wrap-around (`i32::MAX` to 0): in `0..2^31`. Sequences are compared only through this
/// (serial-number arithmetic, RFC 1982): never with `<` on the raw values, which reads every
/// sequence after a wrap as older than every one before it (issue 21, bug 1).
pub(crate) fn seq_distance(from: i32, to: i32) -> u32 {
    let m = i64::from(i32::MAX) + 1;
    (i64::from(to) - i64::from(from)).rem_euclid(m) as u32
}

/// Bytes of one record list slot.
pub(crate) const SLOT: usize = std::mem::size_of::<AcceptedRecord>();

/// Half of Kafka's sequence space: a sequence less than this far ahead of another is after
/// it; further is before it (a producer never has that many records unacknowledged).
const HALF_SEQ_SPACE: u32 = 1 << 30;

/// Whether sequence `a` comes after `b` (see [`seq_distance`]).
pub(crate) fn seq_after(a: i32, b: i32) -> bool {
    (1..HALF_SEQ_SPACE).contains(&seq_distance(b, a))
}

/// Whether a batch of `n` records starting at sequence `base` lies wholly before `acked`, the
/// sequence the broker expects next (see [`seq_distance`]).
pub(crate) fn seq_batch_before(base: i32, n: usize, acked: i32) -> bool {
    let d = seq_distance(base, acked);
    n > 0 && (n as u64) <= u64::from(d) && d < HALF_SEQ_SPACE
}

impl Batch {
    /// Whether the batch is full: at `batch.num.messages` records, at `batch.size` bytes, or
    /// with no room for a record of `incoming` bytes (0: no record waiting).
    #[inline]
    pub(crate) fn full(&self, incoming: usize, limits: &BatchLimits) -> bool {
        (limits.batch_num_messages > 0 && self.records.len() >= limits.batch_num_messages)
            || self.bytes >= limits.batch_size
            || (incoming > 0
                && (self.bytes + incoming > limits.message_max_bytes
                    || self.bytes + incoming > limits.batch_size))
    }

    /// A sealed batch of `records` (encoded when its request is built, or already stamped).
    pub(crate) fn sealed(
        records: Vec<AcceptedRecord>,
        overhead: usize,
        now: Instant,
        stamp: Option<Stamp>,
    ) -> Batch {
        let bytes = overhead + records.iter().map(|p| p.size).sum::<usize>();
        Batch {
            records,
            bytes,
            created: now,
            sealed: true,
            enc: None,
            stamp,
        }
    }

    /// When the batch's `linger.ms` (`linger`) runs out.
    #[inline]
    pub(crate) fn linger_end(&self, linger: Duration) -> Instant {
        self.created + linger
    }

    /// The send order of the batch: its first record's id (ids grow in `send` order).
    pub(crate) fn order(&self) -> u64 {
        self.records.first().map_or(u64::MAX, |p| p.id.0)
    }
}

/// What besides being full may seal an open batch: what [`PartitionState::seal_open`], the
/// seal rule, is asked about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SealTrigger {
    /// Nothing: a record of this many bytes is about to be appended, and the batch is sealed
    /// only if it is full or has no room for it.
    Room(usize),
    /// Its `linger.ms` ([`Config::linger`](crate::Config::linger), the one place it is kept)
    /// having passed.
    Linger(Duration),
    /// A flush or close covering it: its linger counts as passed.
    Flush,
}

/// Size limits of the aggregator, copied from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    pub batch_size: usize,
    pub batch_num_messages: usize,
    pub message_max_bytes: usize,
    pub overhead: usize,
    /// The record format to encode into at `send`: the one the last broker connection
    /// negotiated, `None` before any has.
    pub format: Option<RecordFormat>,
    /// How many batches of one partition may be in flight: 1 without idempotence (so a retry
    /// can never land behind a newer batch: per-partition order across retries),
    /// `max.in.flight.requests.per.connection` (at most 5) with it (the broker's sequence
    /// checks keep the order).
    pub per_partition: usize,
    /// Idempotence: the current producer id/epoch generation.
    pub generation: u32,
}

impl BatchLimits {
    /// The most a batch buffer holding a record of `size` bytes grows to: the batch size
    /// limit, or the one record when it is larger.
    #[inline]
    pub(crate) fn buffer_limit(&self, size: usize) -> usize {
        self.batch_size
            .min(self.message_max_bytes)
            .max(size + self.overhead)
    }

    /// The least a record of `size` bytes is charged besides its size, from `send` to its
    /// outcome: what a batch of it alone takes (a buffer of the smallest size class holding
    /// the header and the record, and a record list of one slot). A record can always join
    /// its partition for this much ([`PartitionState::append`]).
    #[inline]
    pub(crate) fn reserve(&self, size: usize) -> usize {
        class_size(size + self.overhead, self.buffer_limit(size)) + SLOT
    }

    /// The limits `config` sets; no encode format yet.
    pub(crate) fn new(config: &crate::config::Config) -> Self {
        let format = super::accept::sizing_format(config.message_format);
        BatchLimits {
            batch_size: config.batch_size,
            batch_num_messages: config.batch_num_messages,
            message_max_bytes: config.message_max_bytes,
            overhead: BatchBuilder::overhead(format),
            format: None,
            per_partition: 1,
            generation: 0,
        }
    }

    /// The most records of `size` bytes (their size bound) one batch can take before it is
    /// full: what the record list of a batch may reserve at most.
    pub(crate) fn records_fit(&self, size: usize) -> usize {
        let fit = self.batch_size.saturating_sub(self.overhead) / size.max(1) + 1;
        match self.batch_num_messages {
            0 => fit,
            n => fit.min(n),
        }
    }
}
