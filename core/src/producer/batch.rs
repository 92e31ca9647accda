//! A batch of one partition's records ([`Batch`]), its idempotent sequence stamp ([`Stamp`])
//! and Kafka's sequence arithmetic, what may seal a batch ([`SealTrigger`]), and the size
//! limits of batches ([`BatchLimits`]): the data the accumulator ([`super::partition`]) works on.

use super::accept::AcceptedRecord;
use super::recycle::{class_size, Recycler};
use crate::message::{Record, RecordId, TopicName};
use crate::record::{batch, BatchBuilder, DecodedRecord, RecordFormat};
use crate::time::Instant;
use bytes::Bytes;
use std::time::Duration;

/// One record of a batch: what its outcome needs. Once the record is encoded into its
/// batch (RecordBatch v2) the caller's [`Record`] is let go (`body` is `None`): its key,
/// value and headers live only in the batch's bytes, from which [`take_records`] rebuilds
/// it if it leaves the batch without being delivered (a failure, a retry, a split). A
/// record not encoded yet (the record format unknown, a legacy format, a batch that will be
/// encoded when its request is built) keeps its `Record` in `body`.
///
/// Charged to `buffer.memory`: `held` always; `size` only while `body` holds the record
/// (once encoded, the batch buffer `held` pays for carries its bytes).
#[derive(Debug)]
pub(crate) struct Slot {
    /// The id `send` returned.
    pub id: RecordId,
    /// The timestamp written to the batch.
    pub timestamp: i64,
    /// The record's encoded size bound.
    pub size: usize,
    /// Bytes of batch capacity charged to this record (see [`AcceptedRecord::held`]).
    pub held: usize,
    /// The record's retry level (see [`AcceptedRecord::retries`]).
    pub retries: u32,
    /// Whether the caller chose the partition (`Record::partition`), to hand it back so.
    pub given_partition: bool,
    /// Whether the caller set the timestamp (`Record::timestamp`), to hand it back so.
    pub given_timestamp: bool,
    /// When `delivery.timeout.ms` runs out for it, if configured.
    pub deadline: Option<Instant>,
    /// The record, while it is not encoded (see above).
    pub body: Option<Box<Record>>,
}

impl Slot {
    /// `p` as a slot whose record is encoded in its batch: the `Record` is dropped here.
    #[inline]
    pub(crate) fn encoded(p: AcceptedRecord) -> Slot {
        Slot {
            id: p.id,
            timestamp: p.timestamp,
            size: p.size,
            held: p.held,
            retries: p.retries,
            given_partition: p.record.partition.is_some(),
            given_timestamp: p.record.timestamp.is_some(),
            deadline: p.deadline,
            body: None,
        }
    }

    /// `p` as a slot keeping its record whole.
    pub(crate) fn whole(p: AcceptedRecord) -> Slot {
        Slot {
            id: p.id,
            timestamp: p.timestamp,
            size: p.size,
            held: p.held,
            retries: p.retries,
            given_partition: p.record.partition.is_some(),
            given_timestamp: p.record.timestamp.is_some(),
            deadline: p.deadline,
            body: Some(Box::new(p.record)),
        }
    }

    /// Bytes of `buffer.memory` the slot's record takes besides `held`.
    #[inline]
    pub(crate) fn sized(&self) -> usize {
        if self.body.is_some() {
            self.size
        } else {
            0
        }
    }

    /// The slot as a record on its own again, with `record` (its body, or rebuilt).
    fn with_record(self, record: Record) -> AcceptedRecord {
        AcceptedRecord {
            id: self.id,
            record,
            timestamp: self.timestamp,
            size: self.size,
            held: self.held,
            retries: self.retries,
            deadline: self.deadline,
        }
    }
}

/// Where the bytes of a batch's encoded records are: the open batch's builder, or the
/// finished batch (compressed or not).
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Not encoded: every slot keeps its record.
    None,
    /// Encoded at `send`, not finished yet.
    Builder(&'a BatchBuilder),
    /// Finished (a v2 batch as sent).
    Wire(&'a Bytes),
}

/// The finished bytes of a batch not finished yet.
static NOT_FINISHED: Bytes = Bytes::new();

impl<'a> Source<'a> {
    /// Where a batch with `stamp`, `enc` and finished bytes `wire` (empty when not finished)
    /// keeps its records' bytes: the stamp's bytes (idempotence), else the builder, else
    /// `wire`.
    pub(crate) fn of(
        stamp: Option<&'a Stamp>,
        enc: Option<&'a BatchBuilder>,
        wire: &'a Bytes,
    ) -> Source<'a> {
        match (stamp, enc) {
            (Some(st), _) => Source::Wire(&st.wire),
            (None, Some(enc)) => Source::Builder(enc),
            (None, None) if !wire.is_empty() => Source::Wire(wire),
            (None, None) => Source::None,
        }
    }
}

/// Takes `slots` (a batch's records, in batch order) out of their batch as records on their
/// own again: a slot whose record is encoded gets it rebuilt from `source`, and its size is
/// charged as its own again, moved from its share of the batch (the batch buffer that
/// carried it goes with the batch).
///
/// The bytes are the producer's own, so they always decode; if they did not, the record
/// would come back with no key, value or headers (and a debug build stops).
pub(crate) fn take_records(
    slots: Vec<Slot>,
    source: Source<'_>,
    topic: &TopicName,
    partition: i32,
    pool: &mut Recycler,
) -> Vec<AcceptedRecord> {
    let mut decoded: Vec<DecodedRecord> = Vec::new();
    if slots.iter().any(|s| s.body.is_none()) {
        let result = match source {
            Source::None => None,
            Source::Builder(b) => b.decode_appended(),
            Source::Wire(w) => Some(batch::decode(w, usize::MAX).map(|d| d.records)),
        };
        let encoded = slots.iter().filter(|s| s.body.is_none()).count();
        match result {
            Some(Ok(records)) if records.len() == encoded => decoded = records,
            other => debug_assert!(false, "a batch's own records do not decode: {other:?}"),
        }
    }
    // The encoded records, in order, are the slots without a body (a record kept whole is
    // not among them).
    let mut decoded = decoded.into_iter();
    let mut out = Vec::with_capacity(slots.len());
    for mut slot in slots {
        let record = match slot.body.take() {
            Some(body) => *body,
            None => {
                let d = decoded.next();
                // Its bytes are charged as the record's own again (they are in a copy now, or
                // keep the batch's bytes alive), out of its share of the batch, which held
                // them until now: what is in use does not change, so `buffer.memory` holds
                // (found by the core fuzz target).
                let moved = slot.size.min(slot.held);
                slot.held -= moved;
                pool.charged -= moved;
                pool.sized += slot.size;
                let mut r = Record::new(topic.clone());
                if let Some(d) = d {
                    r.key = d.key;
                    r.value = d.value;
                    r.headers = d.headers;
                }
                r.partition = slot.given_partition.then_some(partition);
                r.timestamp = slot.given_timestamp.then_some(slot.timestamp);
                r
            }
        };
        out.push(slot.with_record(record));
    }
    out
}

/// A batch of one partition's records on its way to the leader.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The records, in send order.
    pub records: Vec<Slot>,
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
    pub stamp: Option<Box<Stamp>>,
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
pub(crate) const SLOT: usize = std::mem::size_of::<Slot>();

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
        records: Vec<Slot>,
        overhead: usize,
        now: Instant,
        stamp: Option<Box<Stamp>>,
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

    /// Where the bytes of the batch's encoded records are.
    pub(crate) fn source(&self) -> Source<'_> {
        Source::of(self.stamp.as_deref(), self.enc.as_ref(), &NOT_FINISHED)
    }

    /// The batch's records as records on their own again ([`take_records`]); the batch
    /// goes (its buffer back to `pool`).
    pub(crate) fn into_records(
        mut self,
        topic: &TopicName,
        partition: i32,
        pool: &mut Recycler,
    ) -> Vec<AcceptedRecord> {
        let slots = std::mem::take(&mut self.records);
        let out = take_records(slots, self.source(), topic, partition, pool);
        if let Some(enc) = self.enc.take() {
            pool.put_buffer(enc.into_buffer());
        }
        out
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
    /// [`Config::return_successes`](crate::Config::return_successes): records are kept
    /// whole beside their encoded bytes, to be handed back when delivered.
    pub keep_records: bool,
    /// How many batches of one partition may be in flight: 1 without idempotence (so a retry
    /// can never land behind a newer batch: per-partition order across retries),
    /// `max.in.flight.requests.per.connection` (at most 5) with it (the broker's sequence
    /// checks keep the order).
    pub per_partition: usize,
    /// Idempotence: the current producer id/epoch generation.
    pub generation: u32,
    /// Transactions v1: the open transaction's number; a partition whose own
    /// (`PartitionState::txn_epoch`) differs is not enrolled in it and does not send. 0
    /// without transactions (and with v2), as every partition's.
    pub txn_epoch: u32,
    /// The highest Produce version to send: 11 for transactions v1 (v12 enrolls partitions
    /// implicitly, KIP-890), else unbounded.
    pub produce_cap: i16,
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
            keep_records: config.return_successes,
            per_partition: 1,
            generation: 0,
            txn_epoch: 0,
            produce_cap: i16::MAX,
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

#[cfg(test)]
mod tests {
    use super::{Batch, Slot};
    use crate::producer::connection::InFlightBatch;

    /// What a batch costs besides its records and buffer is paid per partition (each keeps a
    /// queue of them, and a request lists one per partition it carries): at 5,000
    /// partitions every 8 bytes here is ~0.3 MiB (heaptrack: `Batch` 200 B and
    /// `InFlightBatch` 224 B were 14 MiB of the peak before the stamp was boxed; 120 B and
    /// 144 B since).
    #[test]
    fn per_record_and_per_batch_structures_stay_small() {
        let sizes = (
            std::mem::size_of::<Slot>(),
            std::mem::size_of::<Batch>(),
            std::mem::size_of::<InFlightBatch>(),
        );
        assert!(sizes.0 <= 64, "Slot {sizes:?}");
        assert!(sizes.1 <= 120, "Batch {sizes:?}");
        assert!(sizes.2 <= 144, "InFlightBatch {sizes:?}");
    }
}
