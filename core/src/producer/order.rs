//! Keeping a partition's records in send order across retries and leader changes (the retry
//! half of Sarama's `partitionProducer`): the retry levels, the high watermark, the retry
//! buffers and the chaser of [`PartitionState`], and flushing the buffers back onto the
//! broker path. The partition's batch queue itself is in [`super::partition`].
//!
//! partition's leader, and it keeps the partition's records in send order across retries and
//! leader changes with the 2015 design, made explicit:
//!
//! * **retry level** — every record carries one ([`AcceptedRecord::retries`]): how many times it came
//!   back with a retriable error.
//! * **high watermark** ([`PartitionState::high_watermark`]) — the retry level currently let
//!   through to the broker path. Records of a lower level arriving meanwhile are newer than
//!   everything at the watermark, so they wait.
//! * **retry buffers** ([`PartitionState::retry_state`], one [`RetryLevel`] per level) — where
//!   those records wait, FIFO per level. Invariant: a record in a higher level's buffer is
//!   older than every record in a lower level's buffer, and everything on the broker path
//!   (`batches`, `in_flight`) is older than everything in any buffer.
//! * **chaser** ([`PartitionState::chaser`], [`RetryLevel::expect_chaser`]) — when the
//!   watermark is raised, a marker is sent down the old leader path; it "comes back" once
//!   everything handed to the old leader before the retry began has come back. Only then may
//!   the lower levels be flushed. Here the chaser is concretely the set of this partition's
//!   requests in flight when the watermark was raised ([`PartitionState::chaser`]); it is back
//!   when every one of them has resolved. Without idempotence a partition has at most one
//!   batch in flight (records of a partition keep their send order across retries: a second
//!   batch in flight could be written before a failed first one is retried), and that batch
//!   is the one whose failure raised the watermark, so the chaser is back at once. With idempotence up to five are in flight: when
//!   the 2nd fails, the 3rd..5th are still out (the broker will refuse them as out of order),
//!   and the chaser keeps every newer record out of the broker path until they are all back
//!   and requeued behind the 2nd.
//!
//! ## Where this follows Sarama's 2015 seed, and where it had to differ
//!
//! * **Follows:** retry levels on records, one high watermark per partition, FIFO retry
//!   buffers per level, the chaser raised with the watermark and gating the lower levels, and
//!   flushing from the watermark downwards. Without idempotence this is the whole mechanism,
//!   plus the rule of one batch per partition in flight (the seed's later per-partition
//!   muting), because no client can undo an append that overtook a failed batch.
//! * **Differs — the unit of retry.** The seed retries single messages and re-batches them.
//!   With idempotence a batch is given its sequence when it first goes into a request, and
//!   the broker's duplicate and order checks work per batch and sequence, so from then on the
//!   batch is the unit: a failed one keeps its records, bytes and sequence and waits, whole,
//!   in [`PartitionState::retry_batches`] — in sequence order (Java's
//!   `insertInSequenceOrder`), ahead of every record in the level buffers, which were never
//!   sent and so are newer. Re-batching would give records new sequences and turn a retry of
//!   a written batch into a duplicate.
//! * **Differs — the chaser also holds the retried batches.** In the seed the records at the
//!   watermark go at once and the chaser holds only the lower levels. With several batches
//!   in flight that would resend the failed batch while the ones behind it are still out, on
//!   the old leader's connection or a new one, so here the retry batches, too, enter the
//!   broker path only once the chaser is back; then they go in sequence order, ahead of
//!   everything newer, pipelined up to the in-flight limit. This is the rule of Java's
//!   `shouldStopDrainBatchesForPartition` (a retry goes only when it is the first in flight)
//!   said with the seed's chaser.
//! * **Differs — the epoch.** The seed has no producer state on the broker. When the broker
//!   lost it (UNKNOWN_PRODUCER_ID, or OUT_OF_ORDER_SEQUENCE_NUMBER on the first batch in
//!   flight) or a batch with a sequence failed without an answer (delivery timeout), the epoch
//!   is bumped (KIP-360, see [`super::idempotence`]) and each waiting batch is re-stamped, in
//!   order, from sequence 0 when it next goes out.
//! * **Differs — sealing.** The seed flushed per broker on a timer; here an open batch is
//!   sealed when full, or when its linger passed **and** the partition can take another
//!   request ([`PartitionState::seal_open`], Java's accumulator), so a slow round trip grows
//!   batches instead of queueing many tiny ones.
//!
//! Flushing ([`PartitionState::drain_retry_buffers`], Sarama's `flushRetryBuffers`) goes from the
//! watermark downwards: the watermark's buffer enters the broker path, and while no chaser is
//! expected at that level the watermark drops by one and the next buffer follows, down to 0
//! (the normal state).

use super::accept::AcceptedRecord;
use super::batch::{seq_add, seq_after, Batch, BatchLimits, Stamp};
use super::connection::RequestRef;
use super::partition::{Owner, PartitionState};
use super::recycle::Recycler;
use crate::time::Instant;
use std::collections::VecDeque;

/// One retry level's buffer (Sarama's `partitionRetryState`).
#[derive(Debug, Default)]
pub(crate) struct RetryLevel {
    /// Records of this level waiting for the watermark to come down to them, in send order.
    pub buf: VecDeque<AcceptedRecord>,
    /// Whether a chaser sent when the watermark was raised to this level is still out.
    pub expect_chaser: bool,
}

impl PartitionState {
    fn level_mut(&mut self, level: u32) -> &mut RetryLevel {
        let level = level as usize;
        if self.retry_state.len() <= level {
            self.retry_state.resize_with(level + 1, RetryLevel::default);
        }
        &mut self.retry_state[level]
    }

    /// Whether records may enter the broker path now: a leader is known and no backoff runs.
    #[inline]
    pub(crate) fn gate_open(&self, now: Instant) -> bool {
        self.leader.is_some() && self.backoff_until.is_none_or(|b| now >= b)
    }

    /// Whether a record of retry `level` must wait in its retry buffer rather than enter the
    /// broker path. **This is the ordering rule**: a level below the watermark, a closed gate,
    /// or older records still buffered at this level or above all mean "wait".
    #[inline(always)]
    pub(crate) fn must_buffer(&self, level: u32, now: Instant) -> bool {
        level < self.high_watermark
            || !self.gate_open(now)
            || !self.retry_batches.is_empty()
            || self
                .retry_state
                .iter()
                .skip(level as usize)
                .any(|l| !l.buf.is_empty())
    }

    /// Sarama's `newHighWatermark`: raise the watermark and send a chaser down the old path.
    fn new_high_watermark(&mut self, hwm: u32) {
        self.high_watermark = hwm;
        self.level_mut(hwm).expect_chaser = true;
        self.chaser.clone_from(&self.in_flight);
        if self.chaser.is_empty() {
            // Nothing of the old path is out: the chaser is back at once.
            self.chaser_returned();
        }
    }

    /// The chaser came back: every level's wait for the old path is over.
    pub(crate) fn chaser_returned(&mut self) {
        self.chaser.clear();
        for level in &mut self.retry_state {
            level.expect_chaser = false;
        }
    }

    /// A request carrying this partition's batch resolved (any outcome).
    pub(crate) fn request_resolved(&mut self, req: RequestRef) {
        self.in_flight.retain(|r| *r != req);
        let waiting = !self.chaser.is_empty();
        self.chaser.retain(|r| *r != req);
        if waiting && self.chaser.is_empty() {
            self.chaser_returned();
        }
    }

    /// A request carrying this partition's batch `stamp` (if it had one) of `records`
    /// records was answered with success: it resolved, and with idempotence the sequence
    /// the broker expects next moves past it.
    pub(crate) fn batch_acked(&mut self, req: RequestRef, stamp: Option<&Stamp>, records: usize) {
        self.request_resolved(req);
        if let Some(st) = stamp {
            if st.generation == self.generation {
                // Monotonic: a late duplicate's answer does not move it back (compared
                // through the wrap-around, as Kafka does).
                let end = seq_add(st.base_seq, records);
                if seq_after(end, self.acked_seq) {
                    self.acked_seq = end;
                }
            }
        }
    }

    /// Idempotence: `batch` (it has a sequence) goes back into the retry batches, in
    /// sequence order (Java's `insertInSequenceOrder`).
    pub(crate) fn insert_retry_batch(&mut self, batch: Batch) {
        let order = batch.order();
        let at = self.retry_batches.partition_point(|b| b.order() < order);
        self.retry_batches.insert(at, batch);
    }

    /// The retry path for this partition: `survivors` (the failed batch's records, their
    /// levels already raised, oldest first) go to the front of their level buffers, and so do
    /// the unsent batches of the old leader path (older than anything buffered); the watermark
    /// rises to the highest level, a chaser goes out, the leader is abandoned and a backoff
    /// starts.
    pub(crate) fn begin_retry(
        &mut self,
        survivors: Vec<AcceptedRecord>,
        backoff_until: Instant,
        owner: &mut Owner<'_>,
    ) {
        let mut old_path: Vec<AcceptedRecord> = Vec::new();
        for b in std::mem::take(&mut self.batches) {
            if b.stamp.is_some() {
                // A batch with a sequence stays whole (idempotence).
                self.insert_retry_batch(b);
            } else {
                old_path.extend(owner.unbatch(b));
            }
        }
        // The watermark must cover the old path's records too: a record of a higher level
        // pulled back when the failed batch left no survivor (retries exhausted) would
        // otherwise wait below the watermark while newer ones go (found by the simulator,
        // seed 232).
        let mut top = self.high_watermark;
        for p in old_path.into_iter().rev() {
            top = top.max(p.retries);
            self.level_mut(p.retries).buf.push_front(p);
        }
        for survivor in survivors.into_iter().rev() {
            top = top.max(survivor.retries);
            self.level_mut(survivor.retries).buf.push_front(survivor);
        }
        if top > self.high_watermark {
            self.new_high_watermark(top);
        }
        self.leader = None;
        // Never shortened: a batch failing later with a shorter backoff (a first attempt, or
        // one refused as out of order behind it) must not cut short the backoff of an earlier
        // failure whose retry goes with it (found by the simulator's backoff check, seed 74).
        self.backoff_until = Some(
            self.backoff_until
                .map_or(backoff_until, |b| b.max(backoff_until)),
        );
    }

    /// Idempotence: the retry path for stamped batches already put in
    /// [`retry_batches`](Self::retry_batches): the old path is pulled back (stamped batches
    /// whole, the rest as records to the front of their level buffers), the watermark rises
    /// to `level` with a chaser for every request of this partition still in flight (the
    /// batches behind the failed one, which the broker will refuse as out of order, must all
    /// be back before anything newer enters the broker path), and with `backoff_until` the
    /// leader is abandoned and a backoff starts.
    pub(crate) fn begin_batch_retry(
        &mut self,
        level: u32,
        backoff_until: Option<Instant>,
        owner: &mut Owner<'_>,
    ) {
        let leader = self.leader;
        let backoff = self.backoff_until;
        self.begin_retry(
            Vec::new(),
            backoff_until.unwrap_or(Instant::from_unix_millis(0)),
            owner,
        );
        if level > self.high_watermark {
            self.new_high_watermark(level);
        } else {
            // The watermark stays: the chaser also waits for whatever is in flight now.
            for r in &self.in_flight {
                if !self.chaser.contains(r) {
                    self.chaser.push(*r);
                }
            }
            if !self.chaser.is_empty() {
                let hwm = self.high_watermark;
                self.level_mut(hwm).expect_chaser = true;
            }
        }
        if backoff_until.is_none() {
            self.leader = leader;
            self.backoff_until = backoff;
        }
    }

    /// Puts `p` at the back of its retry level's buffer, to wait there
    /// ([`must_buffer`](Self::must_buffer)).
    #[inline]
    pub(crate) fn buffer(&mut self, p: AcceptedRecord) {
        self.level_mut(p.retries).buf.push_back(p);
    }

    /// Sarama's `flushRetryBuffers`: if the gate is open, move buffered records onto the broker
    /// path from the watermark downwards, stopping at a level still expecting its chaser.
    /// Returns how many batches were sealed.
    pub(crate) fn drain_retry_buffers(
        &mut self,
        limits: &BatchLimits,
        now: Instant,
        pool: &mut Recycler,
    ) -> usize {
        let mut sealed = 0;
        if !self.gate_open(now) {
            return 0;
        }
        self.backoff_until = None;
        // Batches with a sequence are older than every buffered record: they go first, whole,
        // in sequence order — but only once the chaser is back: every request of this
        // partition in flight when the failure happened has been answered (the batches behind
        // the failed one come back refused as out of order, and join the retry batches in
        // order). Until then nothing of this partition enters the broker path.
        if !self.retry_batches.is_empty() {
            let chaser_out = !self.chaser.is_empty();
            if chaser_out {
                return 0;
            }
            while let Some(b) = self.retry_batches.pop_back() {
                self.batches.push_front(b);
            }
        }
        loop {
            let hwm = self.high_watermark;
            let buf = std::mem::take(&mut self.level_mut(hwm).buf);
            for p in buf {
                sealed += self.append(p, limits, now, pool);
            }
            if self.level_mut(hwm).expect_chaser || hwm == 0 {
                break;
            }
            self.high_watermark -= 1;
        }
        sealed
    }
}
