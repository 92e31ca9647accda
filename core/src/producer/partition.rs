//! One partition's batch queue (the per-partition half of Sarama's aggregator): its leader,
//! the broker path of sealed batches with at most one open batch at the back, the seal rule
//! ([`PartitionState::seal_open`]), readiness for a request, and delivery-timeout expiry.
//! Its retry levels, high watermark, retry buffers and chaser (the order across retries)
//! are in [`super::order`]; the batch type and its limits in [`super::batch`].
//!
//! The broker path is the per-partition half of Sarama's aggregator: `batches` holds
//! sealed batches oldest first and at most one open batch at the back. Invariant, with
//! idempotence: everything on the path and in flight is older than the retry batches only if
//! it has a sequence; `begin_retry` pulls the path back (stamped batches whole, the rest as
//! records) so the order holds across every retry.

use super::accept::AcceptedRecord;
use super::batch::{Batch, BatchLimits, SealTrigger, Slot, SLOT};
use super::connection::RequestRef;
use super::dirty::DirtySet;
use super::leader_hint::LeaderEpoch;
use super::order::RetryLevel;
use super::recycle::{class_size, Recycler};
use super::topic::{TopicIdx, TopicState};
use crate::message::{RecordId, TopicName};
use crate::record::{BatchBuilder, RecordFormat};
use crate::time::Instant;
use bytes::BytesMut;
use std::collections::VecDeque;
use std::time::Duration;

/// Names one partition of the producer: the topic's index in [`ProducerCore`](super::ProducerCore)'s topics and
/// the partition's index (its Kafka partition number) within the topic. Ordered by topic,
/// then partition, as a Produce request groups its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PartitionRef {
    /// The topic.
    pub topic: TopicIdx,
    /// The partition's index within the topic.
    pub index: usize,
}

impl PartitionRef {
    /// The Kafka partition number.
    #[inline]
    pub(crate) fn number(self) -> i32 {
        self.index as i32
    }
}

/// Whose records leave a partition's batches, for [`Batch::into_records`] to rebuild them:
/// the topic's name and the partition's number, and the pool their sizes are charged to
/// again.
pub(crate) struct Owner<'a> {
    /// The topic's name.
    pub topic: &'a TopicName,
    /// The Kafka partition number.
    pub number: i32,
    /// Buffers, and the `buffer.memory` charge.
    pub pool: &'a mut Recycler,
}

impl Owner<'_> {
    /// `batch`'s records as records on their own again.
    pub(crate) fn unbatch(&mut self, batch: Batch) -> Vec<AcceptedRecord> {
        batch.into_records(self.topic, self.number, self.pool)
    }
}

/// Partition `at` of `topics`, to change: marks it in `dirty`, so that the next pass over
/// partitions looks at it and its deadline is re-armed. The one place that rule is written:
/// `ProducerCore::partition_mut` and `StageCx::partition_mut` call it.
#[inline]
pub(crate) fn partition_mut<'t>(
    topics: &'t mut [TopicState],
    dirty: &mut DirtySet,
    at: PartitionRef,
) -> &'t mut PartitionState {
    dirty.mark(at);
    &mut topics[at.topic.0].partitions[at.index]
}

/// [`partition_mut`], with the [`Owner`] its records leave under (`pool` lent to it).
#[inline]
pub(crate) fn partition_and_owner<'t>(
    topics: &'t mut [TopicState],
    dirty: &mut DirtySet,
    pool: &'t mut Recycler,
    at: PartitionRef,
) -> (&'t mut PartitionState, Owner<'t>) {
    dirty.mark(at);
    let topic = &mut topics[at.topic.0];
    let owner = Owner {
        topic: &topic.name,
        number: at.number(),
        pool,
    };
    (&mut topic.partitions[at.index], owner)
}

/// One partition's state.
#[derive(Debug)]
pub(crate) struct PartitionState {
    /// The leader's node id, when known. Cleared ("abandon the broker") when a retry begins.
    pub leader: Option<i32>,
    /// The newest leader epoch known and the leader it names (Metadata v7+, or a KIP-951
    /// hint); kept when the leader is abandoned ([`super::leader_hint`]).
    pub leader_epoch: LeaderEpoch,
    /// The retry level let through; 0 in the normal state.
    pub high_watermark: u32,
    /// Retry buffers, indexed by retry level (grown on demand).
    pub retry_state: Vec<RetryLevel>,
    /// Idempotence: batches that already have a sequence and came back for a retry, in
    /// sequence (= send) order. They are older than every record in the retry buffers, so
    /// they enter the broker path first, as whole batches.
    pub retry_batches: VecDeque<Batch>,
    /// The broker path: sealed batches (oldest first), then at most one open batch. Once the
    /// sender takes its last batch the queue goes to the recycler (an idle partition holds
    /// no allocation here) and [`append`](Self::append) takes one back.
    pub batches: VecDeque<Batch>,
    /// The requests carrying a batch of this partition (at most [`BatchLimits::per_partition`]),
    /// oldest first.
    pub in_flight: Vec<RequestRef>,
    /// The chaser: the requests of the old leader path that were in flight when the watermark
    /// was last raised and still owe us an answer. It has come back when this is empty.
    pub chaser: Vec<RequestRef>,
    /// Idempotence: the sequence the next batch gets.
    pub next_seq: i32,
    /// Idempotence: the sequence the broker expects next (after the last acknowledged batch);
    /// a batch starting here is the first in flight.
    pub acked_seq: i32,
    /// Idempotence: the producer id/epoch generation `next_seq` and `acked_seq` belong to.
    pub generation: u32,
    /// Idempotence: a batch with a sequence failed here without an answer (delivery timeout),
    /// so the sequence space has a hole only an epoch bump closes.
    pub sequence_lost: bool,
    /// Idempotence: the broker lost this partition's state or its sequence space has a hole:
    /// at the next producer id or epoch its sequences restart at 0 and its waiting batches
    /// are re-stamped. A partition without it keeps its old epoch and sequences until every
    /// batch stamped under them is resolved (Java's `maybeUpdateProducerIdAndEpoch`), so a
    /// batch that may have been written is never re-stamped into a duplicate.
    pub reset_needed: bool,
    /// No records enter the broker path before this (retry backoff).
    pub backoff_until: Option<Instant>,
    /// Whether this partition is in [`ProducerCore`](super::ProducerCore)'s ready queue.
    pub queued: bool,
    /// Records in the batch sealed last: the next batch reserves room for as many, so in
    /// steady state a batch's record list never grows (each growth copies the whole list).
    pub last_batch_len: usize,
    /// Transactions v1: the transaction this partition is enrolled in (see
    /// [`BatchLimits::txn_epoch`]).
    pub txn_epoch: u32,
}

impl PartitionState {
    pub(crate) fn new(leader: Option<i32>) -> Self {
        PartitionState {
            leader,
            leader_epoch: LeaderEpoch::default(),
            high_watermark: 0,
            retry_state: vec![RetryLevel::default()],
            retry_batches: VecDeque::new(),
            batches: VecDeque::new(),
            in_flight: Vec::new(),
            chaser: Vec::new(),
            next_seq: 0,
            acked_seq: 0,
            generation: 0,
            sequence_lost: false,
            reset_needed: false,
            backoff_until: None,
            queued: false,
            last_batch_len: 0,
            txn_epoch: 0,
        }
    }

    #[inline]
    pub(crate) fn held(&self) -> usize {
        self.retry_state.iter().map(|l| l.buf.len()).sum::<usize>()
            + self.batches.iter().map(|b| b.records.len()).sum::<usize>()
            + self
                .retry_batches
                .iter()
                .map(|b| b.records.len())
                .sum::<usize>()
    }

    /// A batch without a sequence split in two (`front`, then `back`): both halves go back to
    /// the front of the broker path, sealed, to be encoded again when their requests are
    /// built (the batch was older than everything held).
    pub(crate) fn push_front_halves(
        &mut self,
        front: Vec<AcceptedRecord>,
        back: Vec<AcceptedRecord>,
        overhead: usize,
        now: Instant,
    ) {
        let whole = |v: Vec<AcceptedRecord>| v.into_iter().map(Slot::whole).collect();
        self.batches
            .push_front(Batch::sealed(whole(back), overhead, now, None));
        self.batches
            .push_front(Batch::sealed(whole(front), overhead, now, None));
    }

    /// Moves the records of every batch waiting here (retry batches, then the broker path) to
    /// `out`; a batch with a sequence leaves a hole an epoch bump closes.
    pub(crate) fn take_batches(&mut self, out: &mut Vec<AcceptedRecord>, owner: &mut Owner<'_>) {
        for b in self.retry_batches.drain(..).chain(self.batches.drain(..)) {
            self.sequence_lost |= b.stamp.is_some();
            out.extend(owner.unbatch(b));
        }
    }

    /// The aggregator: appends `p` to the open batch, first sealing it if it has no room for
    /// `p` ([`seal_open`](Self::seal_open) with [`SealTrigger::Room`]) and opening a new one.
    /// Returns how many batches were sealed. The linger half of the seal rule is the caller's:
    /// it is applied once after all appends of a call ([`ProducerCore::seal_partition`](super::ProducerCore::seal_partition)), not
    /// per record.
    #[inline]
    pub(crate) fn append(
        &mut self,
        p: AcceptedRecord,
        limits: &BatchLimits,
        now: Instant,
        pool: &mut Recycler,
    ) -> usize {
        let mut p = p;
        let size = p.size;
        // What the record held (its reserve from `send`, or its share of the batch it was in
        // before a retry) is given up, and its charge is worked out anew: at least its
        // reserve, or what its joining makes the batch take or grow by. The charge may rise
        // only within the budget; when it would not fit, the record starts a batch of its
        // own of the smallest size, which its reserve covers.
        let credit = std::mem::take(&mut p.held);
        pool.charged -= credit;
        let floor = limits.reserve(size);
        let room = credit.max(pool.budget.saturating_sub(pool.in_use()));
        let mut sealed = usize::from(self.seal_open(now, limits, SealTrigger::Room(size)));
        let limit = limits.buffer_limit(size);
        let open = self.batches.back_mut().filter(|b| !b.sealed);
        let mut fallback = None;
        if let Some(open) = open {
            // The buffer's growth: the next size class up (at least double).
            let mut grown = None;
            if let Some(enc) = &open.enc {
                let needed = enc.size() + size;
                if needed > enc.capacity() {
                    let before = enc.capacity();
                    let target = class_size(needed.max(before.saturating_mul(2)), limit);
                    let buf = pool.buffer(target.max(needed));
                    grown = Some((buf.capacity().saturating_sub(before), buf));
                }
            }
            // The list's growth: it doubles when full.
            let list = if open.records.len() == open.records.capacity() {
                open.records.capacity().max(1) * SLOT
            } else {
                0
            };
            let growth = grown.as_ref().map_or(0, |(g, _)| *g) + list;
            if growth.max(floor) <= room {
                if let (Some((_, buf)), Some(enc)) = (grown, &mut open.enc) {
                    let old = enc.move_to(buf);
                    pool.put_buffer(old);
                }
                if list > 0 {
                    open.records.reserve_exact(open.records.capacity().max(1));
                }
                p.held = growth.max(floor);
            } else {
                // No room to grow it: the batch is sealed as it is.
                if let Some((_, buf)) = grown {
                    pool.put_buffer(buf);
                }
                open.sealed = true;
                fallback = Some(open.records.len());
            }
        }
        if let Some(len) = fallback {
            self.last_batch_len = len;
            sealed += 1;
        }
        if self.batches.back().is_none_or(|b| b.sealed) {
            // A buffer of the smallest size class holding the header and this record (from a
            // finished batch's buffers when there is one); it doubles as records join.
            // The record list starts small too (what the last batch held, one for the first)
            // and doubles as records join. Past the budget, both are new and of exactly the
            // smallest size: what the record's reserve covers.
            // The buffer is taken at the size the last batch reached (its records at this
            // one's size), so a partition's batches do not go through every size class on
            // the way up (each step frees a buffer out of order: glibc's free space between
            // live chunks was 7-18 MiB of the peak at 5,000 partitions).
            let smallest = class_size(size + limits.overhead, limit);
            let learned = size.saturating_mul(self.last_batch_len) + limits.overhead;
            let class = class_size(learned.max(size + limits.overhead), limit);
            let mut records = None;
            let mut buffer = None;
            if fallback.is_none() {
                let r = pool.records(self.last_batch_len.clamp(1, limits.records_fit(size)));
                let b = limits.format.map(|_| pool.buffer(class));
                let taken = r.capacity() * SLOT + b.as_ref().map_or(0, BytesMut::capacity);
                if taken.max(floor) <= room {
                    records = Some(r);
                    buffer = b;
                } else {
                    pool.put_records(r);
                    if let Some(b) = b {
                        pool.put_buffer(b);
                    }
                }
            }
            let records = records.unwrap_or_else(|| Vec::with_capacity(1));
            let buffer = match buffer {
                Some(b) => Some(b),
                None => limits.format.map(|_| Recycler::exact_buffer(smallest)),
            };
            let enc = limits
                .format
                .zip(buffer)
                .map(|(f, b)| BatchBuilder::with_buffer(f, b));
            let taken = records.capacity() * SLOT + enc.as_ref().map_or(0, BatchBuilder::capacity);
            p.held = taken.max(floor);
            if self.batches.capacity() == 0 {
                self.batches = pool.batch_queue();
            }
            self.batches.push_back(Batch {
                records,
                bytes: limits.overhead,
                created: now,
                sealed: false,
                enc,
                stamp: None,
            });
        }
        if let Some(open) = self.batches.back_mut() {
            // Encoded once, here: in RecordBatch v2 the record itself goes (its bytes are in
            // the batch, which is what a failure rebuilds it from). A legacy format keeps it
            // whole, and so does a record the format cannot carry: the batch is then encoded
            // again when its request is built (the deferred path), which fails that record
            // alone, with the error.
            let slot = match &mut open.enc {
                Some(enc) => match p.encode_into(enc) {
                    Ok(()) if enc.format() == RecordFormat::V2 && !limits.keep_records => {
                        pool.sized -= p.size;
                        Slot::encoded(p)
                    }
                    _ => Slot::whole(p),
                },
                None => Slot::whole(p),
            };
            pool.charged += slot.held;
            open.records.push(slot);
            open.bytes += size;
        }
        sealed
    }

    /// Whether a batch of this partition could go into a request now: a leader, a sealed
    /// batch at the front, and fewer than [`BatchLimits::per_partition`] batches in flight.
    /// Retries with a sequence need no rule of their own here: they enter the broker path
    /// only once the chaser is back, that is once nothing sent before the failure is still in
    /// flight ([`PartitionState::drain_retry_buffers`]), and then go in sequence order ahead of
    /// everything newer (the guarantee Java's `shouldStopDrainBatchesForPartition` gives).
    ///
    /// A batch that has to be re-stamped moves its partition to the producer's current
    /// generation, so it waits while this partition still runs under an older one with
    /// requests in flight: re-stamped then, it would start the new epoch at sequence 0 while
    /// batches of the old one can still fail and need a retry ahead of it (found by the
    /// simulator, seed 434002: a batch stamped two epochs ago, behind batches re-stamped
    /// under the previous one).
    #[inline]
    pub(crate) fn ready(&self, limits: &BatchLimits) -> bool {
        self.leader.is_some()
            && self.txn_epoch == limits.txn_epoch
            && self.in_flight.len() < limits.per_partition
            && self.batches.front().is_some_and(|b| {
                b.sealed
                    && match &b.stamp {
                        Some(s) => {
                            s.generation == self.generation
                                || self.generation == limits.generation
                                || self.in_flight.is_empty()
                        }
                        None => !self.holds_old_generation(limits.generation),
                    }
            })
    }

    /// Idempotence: whether batches stamped under an older producer id/epoch than
    /// `generation` are still unresolved here (in flight or waiting); a new batch waits for
    /// them, then starts the partition at sequence 0 of the new epoch.
    #[inline]
    fn holds_old_generation(&self, generation: u32) -> bool {
        self.generation != generation
            && (!self.in_flight.is_empty()
                || !self.retry_batches.is_empty()
                || self.batches.iter().any(|b| b.stamp.is_some()))
    }

    /// Whether the partition could take one more request now (leader known, and the sealed
    /// batches already waiting plus those in flight leave room under the limit).
    #[inline]
    pub(crate) fn can_take_request(&self, limits: &BatchLimits) -> bool {
        let waiting = self.batches.iter().filter(|b| b.sealed).count();
        self.leader.is_some() && self.in_flight.len() + waiting < limits.per_partition
    }

    /// **The seal rule**, the one place it is written (Java's accumulator): the open batch
    /// is sealed when it is full (for [`SealTrigger::Room`]: or has no room for the record
    /// about to be appended), or when `linger.ms` has passed since it opened
    /// ([`SealTrigger::Linger`]; [`SealTrigger::Flush`]: a flush or close covers it) **and**
    /// the partition can take another request. While the partition cannot send (a batch in
    /// flight without idempotence, the in-flight limit reached with it, no leader), the open
    /// batch keeps taking records until it is full, so a round trip longer than `linger.ms`
    /// makes batches bigger, not smaller. Returns whether it sealed one.
    #[inline(always)]
    pub(crate) fn seal_open(
        &mut self,
        now: Instant,
        limits: &BatchLimits,
        why: SealTrigger,
    ) -> bool {
        let due = match self.batches.back() {
            Some(open) if !open.sealed && !open.records.is_empty() => {
                let (incoming, lingered) = match why {
                    SealTrigger::Room(incoming) => (incoming, false),
                    SealTrigger::Linger(linger) => (0, now >= open.linger_end(linger)),
                    SealTrigger::Flush => (0, true),
                };
                open.full(incoming, limits) || (lingered && self.can_take_request(limits))
            }
            _ => false,
        };
        if due {
            if let Some(open) = self.batches.back_mut() {
                open.sealed = true;
                self.last_batch_len = open.records.len();
            }
        }
        due
    }

    /// Whether record `id`, just appended, joined an open batch that was already there and
    /// leaves everything else as it was: the batch stays open (not full, its linger ahead
    /// of `now`, no flush covering it), so its linger deadline is already in the producer's
    /// wake-up and the partition's readiness did not change. `send` then has nothing more
    /// to do for the partition.
    #[inline]
    pub(crate) fn appended_quietly(
        &self,
        id: RecordId,
        now: Instant,
        linger: Duration,
        flush_upto: u64,
        limits: &BatchLimits,
    ) -> bool {
        self.batches.back().is_some_and(|open| {
            let (Some(first), Some(last)) = (open.records.first(), open.records.last()) else {
                return false;
            };
            !open.sealed
                && last.id == id
                && first.id != id
                && first.id.0 >= flush_upto
                && now < open.linger_end(linger)
                && !open.full(0, limits)
        })
    }

    /// The open batch's linger deadline.
    #[inline]
    pub(crate) fn linger_deadline(&self, linger: Duration) -> Option<Instant> {
        self.batches
            .back()
            .filter(|b| !b.sealed)
            .map(|b| b.linger_end(linger))
    }

    /// The earliest delivery deadline of a record held here (records are in send order within
    /// each queue, so the fronts suffice).
    pub(crate) fn earliest_deadline(&self) -> Option<Instant> {
        let path = self
            .retry_batches
            .front()
            .or(self.batches.front())
            .and_then(|b| b.records.first())
            .and_then(|p| p.deadline);
        let bufs = self
            .retry_state
            .iter()
            .filter_map(|l| l.buf.front().and_then(|p| p.deadline));
        path.into_iter().chain(bufs).min()
    }

    /// Removes and returns records whose delivery deadline passed: whole batches on the broker
    /// path (a batch expires with its first record, as in the Java client), single records in
    /// the retry buffers.
    pub(crate) fn take_expired(
        &mut self,
        now: Instant,
        owner: &mut Owner<'_>,
    ) -> Vec<AcceptedRecord> {
        let mut out = Vec::new();
        let due = |d: Option<Instant>| d.is_some_and(|d| now >= d);
        let expired = |p: &AcceptedRecord| due(p.deadline);
        let slot_expired = |p: &Slot| due(p.deadline);
        for queue in [&mut self.retry_batches, &mut self.batches] {
            if queue
                .iter()
                .any(|b| b.records.first().is_some_and(slot_expired))
            {
                let mut kept = VecDeque::with_capacity(queue.len());
                for b in queue.drain(..) {
                    if b.records.first().is_some_and(slot_expired) {
                        // A batch with a sequence may have been written: its sequence cannot
                        // simply leave the sequence space (an epoch bump follows).
                        self.sequence_lost |= b.stamp.is_some();
                        out.extend(owner.unbatch(b));
                    } else {
                        kept.push_back(b);
                    }
                }
                *queue = kept;
            }
        }
        for level in &mut self.retry_state {
            if level.buf.iter().any(expired) {
                let (gone, stay): (VecDeque<_>, VecDeque<_>) =
                    level.buf.drain(..).partition(|p| expired(p));
                out.extend(gone);
                level.buf = stay;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Header, Record, RecordId};
    use crate::producer::batch::{seq_after, seq_batch_before, seq_distance, Stamp};
    use crate::record::decode_records;
    use crate::record::RecordFormat;
    use crate::Compression;
    use bytes::Bytes;

    fn pending(id: u64, record: Record) -> AcceptedRecord {
        let size = super::super::accept::record_bound(RecordFormat::V2, &record);
        AcceptedRecord {
            id: RecordId(id),
            record,
            timestamp: 1_700_000_000_000 + id as i64,
            size,
            held: 0,
            retries: 0,
            deadline: None,
        }
    }

    /// A pool charged as `send` would have charged the records the tests append directly
    /// (their sizes; an encoded record gives its size back).
    fn charged_pool() -> Recycler {
        let mut pool = Recycler::new(1 << 20);
        pool.sized = 1 << 30;
        pool
    }

    fn limits(format: Option<RecordFormat>) -> BatchLimits {
        let mut l = BatchLimits::new(&crate::Config::new(["b:9092"]));
        l.format = format;
        l
    }

    #[test]
    fn sequences_compare_through_the_wrap_around() {
        assert_eq!(seq_distance(i32::MAX, 0), 1);
        assert_eq!(seq_distance(0, i32::MAX), i32::MAX as u32);
        assert!(seq_after(0, i32::MAX) && seq_after(5, i32::MAX - 5));
        assert!(!seq_after(i32::MAX, 0) && !seq_after(7, 7));
        assert!(seq_after(10, 3) && !seq_after(3, 10));
        // A batch of 3 from MAX-1 (MAX-1, MAX, 0) lies before 1, not before 0.
        assert!(seq_batch_before(i32::MAX - 1, 3, 1));
        assert!(!seq_batch_before(i32::MAX - 1, 3, 0));
        assert!(!seq_batch_before(1, 1, 1) && seq_batch_before(0, 1, 1));
        assert!(!seq_batch_before(5, 2, 3), "ahead of the expected sequence");
        // The acknowledged sequence moves forward across the wrap, never back.
        let mut part = PartitionState::new(Some(1));
        part.acked_seq = i32::MAX - 1;
        let stamp = |base_seq| Stamp {
            generation: 0,
            base_seq,
            wire: Bytes::new(),
            maybe_written: None,
        };
        let req = RequestRef {
            conn: crate::ConnId(1),
            correlation_id: 1,
        };
        part.batch_acked(req, Some(&stamp(i32::MAX - 1)), 3);
        assert_eq!(part.acked_seq, 1);
        part.batch_acked(req, Some(&stamp(i32::MAX - 1)), 1);
        assert_eq!(part.acked_seq, 1, "a late answer does not move it back");
    }

    #[test]
    fn records_are_encoded_into_the_open_batch_when_the_format_is_known() {
        let mut part = PartitionState::new(Some(1));
        let now = Instant::from_unix_millis(1_700_000_000_000);
        let l = limits(Some(RecordFormat::V2));
        for i in 0..3 {
            let r = Record::new("t").key(format!("k{i}")).value(format!("v{i}"));
            assert_eq!(part.append(pending(i, r), &l, now, &mut charged_pool()), 0);
        }
        let batch = part.batches.pop_front().expect("an open batch");
        let enc = batch.enc.expect("encoded at send");
        assert_eq!((enc.len(), batch.records.len()), (3, 3));
        let bytes = enc.finish(Compression::None, None).expect("finish");
        let decoded = decode_records(&bytes, 1 << 20).expect("decodes");
        let values: Vec<_> = decoded[0]
            .records
            .iter()
            .map(|r| (r.value.clone().unwrap(), r.timestamp))
            .collect();
        assert_eq!(values[2].0, &b"v2"[..]);
        assert_eq!(values[1].1, 1_700_000_000_001);
    }

    #[test]
    fn a_batch_buffer_starts_small_doubles_and_is_charged_to_its_records() {
        let mut part = PartitionState::new(Some(1));
        let now = Instant::from_unix_millis(1_700_000_000_000);
        let mut l = limits(Some(RecordFormat::V2));
        l.batch_size = 64 * 1024;
        let mut pool = Recycler::new(l.batch_size);
        pool.sized = 1 << 30; // the records' sizes, as `send` charges them
        let slot = std::mem::size_of::<Slot>();
        let mut capacities = Vec::new();
        for i in 0..40 {
            let r = Record::new("t").key(format!("k{i}")).value(vec![b'x'; 100]);
            assert_eq!(part.append(pending(i, r), &l, now, &mut pool), 0);
            let open = part.batches.back().expect("one open batch");
            let enc = open.enc.as_ref().expect("encoded");
            assert!(enc.size() <= enc.capacity());
            if capacities.last() != Some(&enc.capacity()) {
                capacities.push(enc.capacity());
            }
            // Charged: the buffer's and the list's capacity, spread over the records, each
            // record at least its reserve (a batch of it alone).
            let held: usize = open.records.iter().map(|p| p.held).sum();
            assert!(held >= enc.capacity() + open.records.capacity() * slot);
            assert!(open.records.iter().all(|p| p.held >= l.reserve(p.size)));
            assert_eq!(pool.charged, held);
        }
        assert_eq!(
            capacities,
            vec![256, 512, 1024, 2048, 4096, 8192],
            "a size class for the first record, then doubling; not batch.size at once"
        );
        // A retried record gives its share up when it joins a new batch.
        let batch = part.batches.pop_back().expect("open batch");
        let mut records = batch.into_records(&"t".into(), 0, &mut pool);
        let mut p = records.remove(0);
        assert_eq!(p.record.value.as_deref(), Some(&[b'x'; 100][..]), "rebuilt");
        assert_eq!(p.record.key.as_deref(), Some(&b"k0"[..]));
        let share = p.held;
        assert!(share > 0);
        pool.charged -= records.iter().map(|p| p.held).sum::<usize>();
        p.retries = 0;
        let mut fresh = PartitionState::new(Some(1));
        fresh.append(p, &l, now, &mut pool);
        let joined = &fresh.batches[0];
        let held = joined.records[0].held;
        assert_eq!(
            held,
            (joined.enc.as_ref().map_or(0, BatchBuilder::capacity)
                + joined.records.capacity() * slot)
                .max(l.reserve(joined.records[0].size))
        );
        assert_eq!(pool.charged, held, "the old share is not counted twice");
    }

    #[test]
    fn unknown_format_or_unencodable_record_falls_back_to_the_deferred_path() {
        let now = Instant::from_unix_millis(1_700_000_000_000);
        let mut part = PartitionState::new(Some(1));
        part.append(
            pending(0, Record::new("t").value("a")),
            &limits(None),
            now,
            &mut charged_pool(),
        );
        assert!(part.batches[0].enc.is_none(), "format not known yet");

        let mut part = PartitionState::new(Some(1));
        let l = limits(Some(RecordFormat::V1));
        part.append(
            pending(0, Record::new("t").value("a")),
            &l,
            now,
            &mut charged_pool(),
        );
        assert!(part.batches[0].enc.is_some());
        let with_header = Record::new("t").value("b").header(Header::new("h", "x"));
        part.append(pending(1, with_header), &l, now, &mut charged_pool());
        let batch = &part.batches[0];
        assert_eq!(
            batch.enc.as_ref().map(BatchBuilder::len),
            Some(1),
            "v1 cannot carry headers: the record is not encoded"
        );
        assert_eq!(batch.records.len(), 2, "the records are all kept");
        assert!(
            batch.records.iter().all(|p| p.body.is_some()),
            "kept whole (a legacy format, and a record it cannot carry)"
        );
    }
    #[test]
    fn past_the_budget_a_record_starts_a_smallest_batch_its_reserve_covers() {
        let now = Instant::from_unix_millis(1_700_000_000_000);
        let mut l = limits(Some(RecordFormat::V2));
        l.batch_size = 64 * 1024;
        // Records as `send` admits them (charged their size and reserve), each with the
        // budget just big enough for it: no room for any growth past the reserve.
        let mut pool = Recycler::new(l.batch_size);
        let mut part = PartitionState::new(Some(1));
        let mut appended = 0;
        for i in 0..40 {
            let mut p = pending(
                i,
                Record::new("t").key(format!("k{i}")).value(vec![b'x'; 100]),
            );
            p.held = l.reserve(p.size);
            pool.budget = pool.in_use() + p.size + p.held;
            pool.sized += p.size;
            pool.charged += p.held;
            part.append(p, &l, now, &mut pool);
            appended += 1;
            assert!(
                pool.in_use() <= pool.budget,
                "{} > {}",
                pool.in_use(),
                pool.budget
            );
            let charged: usize = part
                .batches
                .iter()
                .flat_map(|b| b.records.iter())
                .map(|p| p.held)
                .sum();
            assert_eq!(pool.charged, charged);
            let capacity: usize = part
                .batches
                .iter()
                .map(|b| {
                    b.enc.as_ref().map_or(0, BatchBuilder::capacity) + b.records.capacity() * SLOT
                })
                .sum();
            assert!(
                capacity <= pool.charged,
                "every byte batches take is charged"
            );
        }
        assert!(appended > 5);
        // Growing the open batch would have passed the budget at some point: it was sealed
        // and the record that did not fit started a batch of one slot and the smallest buffer.
        assert!(part.batches.len() > 1, "{} batches", part.batches.len());
        assert!(part.batches.iter().rev().skip(1).all(|b| b.sealed));
        let last = part.batches.back().expect("a batch");
        assert_eq!(
            last.enc.as_ref().map_or(0, BatchBuilder::capacity) + last.records.capacity() * SLOT,
            l.reserve(last.records[0].size)
        );
    }
}
