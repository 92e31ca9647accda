//! In flight and outcomes: the Produce answers (Sarama's `flusher.parseResponse`), read per
//! partition — delivered, split, or sent down the retry path — and that retry path.
//!
//! The retry path (Sarama's `retryMessages` and `retryHandler`): a batch that came back with a
//! retriable error, a lost connection or a timeout has each record's retry level raised; a
//! record past `retries` fails with [`ProduceError::RetriesExhausted`], one past its delivery
//! deadline with [`ProduceError::DeliveryTimeout`] (the Java client's answer to an ambiguous
//! outcome), and the rest go back to their partition, ahead of every newer record, to be
//! resent after a backoff to the leader the next metadata names.
//!
//! The backoff follows KIP-580 ([`retry_backoff`]): `retry.backoff.ms ×
//! 2^(attempt − 1)`, capped at `retry.backoff.max.ms`, with ±20 % jitter drawn from the
//! core's seeded [`Rng`](crate::rng::Rng) — so retries of many producers (or partitions) do
//! not fire in lockstep, and a run is still reproducible from its seed. The attempt of a
//! batch retry is the highest retry level among its surviving records.

use super::batch::{seq_add, seq_batch_before, Batch, Slot, Stamp};
use super::connection::{InFlightBatch, RequestRef};
use super::idempotence::{outcome_unknown, stamp_producer};
use super::leader_hint::{apply_hints, carries_hint, Hint};
use super::record_errors::names_records;
use super::stage_cx::StageCx;
use super::PartitionRef;
use crate::config::Config;
use crate::error::{ProduceError, RetryCause};
use crate::protocol::{self, ErrorCode, ProduceRequest};
use crate::record::{BatchBuilder, ProducerFields, RecordFormat};
use crate::rng::Rng;
use crate::time::Instant;
use std::time::Duration;

/// The retry attempt a batch's survivors are at: the highest retry level among them (1 after
/// the first failure), at least 1.
fn max_attempt(survivors: &[super::accept::AcceptedRecord]) -> u32 {
    survivors
        .iter()
        .map(|p| p.retries)
        .max()
        .unwrap_or(1)
        .max(1)
}

/// The backoff before retry `attempt` (1 for the first retry) with `config`'s settings, as KIP-580 and the Java
/// client compute it: `retry.backoff.ms × 2^(attempt − 1)`, capped at
/// `retry.backoff.max.ms`, times a jitter factor drawn uniformly from `[0.8, 1.2)` with
/// the seeded RNG, and capped at `retry.backoff.max.ms` again after the jitter. When
/// `retry.backoff.ms` is above `retry.backoff.max.ms`, the maximum is used as a constant
/// backoff (as in the Java client). Never panics: the settings are bounded by
/// [`Config::validate`](crate::Config::validate) and the arithmetic saturates.
pub(crate) fn retry_backoff(config: &Config, rng: &mut Rng, attempt: u32) -> Duration {
    let base = config.retry_backoff;
    let max = config.retry_backoff_max;
    let shift = attempt.saturating_sub(1).min(63);
    let term = base
        .checked_mul(1u32.checked_shl(shift).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let jitter = 0.8 + 0.4 * rng.unit();
    term.mul_f64(jitter).min(max)
}

/// The responses stage's own state: the Produce answer kept for reuse, and the partitions a
/// split left able to send at once, for the router to queue.
#[derive(Debug, Default)]
pub(crate) struct Responses {
    /// The last Produce response decoded, kept so the next decodes into its lists.
    produce_response: protocol::ProduceResponse,
    /// The leader hints (KIP-951) of the answer being read (kept: no allocation).
    hints: Vec<Hint>,
    /// Partitions to queue as ready after an answer (kept: no allocation).
    pub requeue: Vec<PartitionRef>,
}

impl Responses {
    /// `b`, carried by request `rref`, failed with a retriable `cause`.
    pub(crate) fn batch_failed(
        cx: &mut StageCx<'_>,
        b: InFlightBatch,
        rref: RequestRef,
        cause: RetryCause,
        now: Instant,
    ) {
        let name = &cx.topics[b.partition.topic].name;
        cx.outbox
            .count_retry(b.partition, name, b.records.len(), &cause);
        if b.stamp.is_some() {
            // Idempotence: a batch with a sequence is retried whole (idempotence.rs).
            return Self::sequenced_batch_failed(cx, b, rref, cause, now);
        }
        let max_retries = cx.config.retries;
        let mut survivors = Vec::with_capacity(b.records.len());
        let mut failed = Vec::new();
        let at = b.partition;
        for mut p in cx.unbatch(b) {
            p.retries = p.retries.saturating_add(1);
            if p.deadline.is_some_and(|d| now >= d) {
                failed.push((p, ProduceError::DeliveryTimeout));
            } else if p.retries > max_retries {
                failed.push((p, ProduceError::RetriesExhausted(cause.clone())));
            } else {
                survivors.push(p);
            }
        }
        for (p, e) in failed {
            cx.outbox.fail(cx.recycler, p, e);
        }
        let backoff_until = now + cx.retry_backoff_for(max_attempt(&survivors));
        let (part, mut owner) = cx.partition_and_owner(at);
        part.request_resolved(rref);
        part.begin_retry(survivors, backoff_until, &mut owner);
        // A NOT_LEADER answer (or a lost connection) may mean the leader moved: refresh.
        let refresh_after = cx.config.retry_backoff;
        cx.metadata.request_after_backoff(now, refresh_after);
    }

    /// A Produce answer (Sarama's `flusher.parseResponse`): walk the batches of the request,
    /// not the response, so a partition missing from it is noticed. Partitions a split left
    /// able to send are put in [`requeue`](Self::requeue); a malformed answer's cause is
    /// returned, for the router to queue those first and then drop the connection.
    #[inline]
    pub(crate) fn on_produce_response(
        &mut self,
        cx: &mut StageCx<'_>,
        rref: RequestRef,
        version: i16,
        mut batches: Vec<InFlightBatch>,
        frame: &[u8],
        now: Instant,
    ) -> Option<RetryCause> {
        // Decoded into the kept response, whose lists are reused.
        let mut resp = std::mem::take(&mut self.produce_response);
        if let Err(e) = protocol::decode_response_into::<ProduceRequest>(version, frame, &mut resp)
        {
            self.produce_response = resp;
            // Undecodable: the outcome is unknown, as after a lost connection.
            let detail = format!("Produce v{version} answer does not decode: {e}");
            let cause = cx.malformed_cause(rref.conn, detail);
            for b in batches {
                Self::batch_failed(cx, b, rref, cause.clone(), now);
            }
            return Some(cause);
        }
        cx.conns.proved(rref.conn);
        let mut malformed = None;
        for mut b in batches.drain(..) {
            // An answer came, so the request was written: the driver holds no chunk of it any
            // more, and the batch's buffer can serve a new batch once its records no longer
            // need it (delivered; or rebuilt from it for a failure or retry, which gives it
            // back too).
            let name = cx.topics[b.partition.topic].name.as_str();
            let block = resp
                .topics
                .iter()
                .filter(|t| t.name == name)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.index == b.partition.number())
                .cloned();
            let Some(block) = block else {
                Self::batch_failed(cx, b, rref, RetryCause::IncompleteResponse, now);
                continue;
            };
            let code = ErrorCode(block.error_code);
            let sequenced = b.stamp.is_some();
            if code.is_ok() || (sequenced && code == ErrorCode::DUPLICATE_SEQUENCE_NUMBER) {
                // DUPLICATE_SEQUENCE_NUMBER: the batch was already written (a success).
                let n = b.records.len() as i64;
                let base = block.base_offset;
                if base >= 0 && base.checked_add(n.saturating_sub(1)).is_none() {
                    // Offsets past i64::MAX: a malformed answer, the outcome is unknown.
                    let detail = format!(
                        "base offset {base} for {n} records of {name}-{} runs past i64::MAX",
                        b.partition.number()
                    );
                    let cause = cx.malformed_cause(rref.conn, detail);
                    malformed = Some(cause.clone());
                    Self::batch_failed(cx, b, rref, cause, now);
                    continue;
                }
                let n = b.records.len();
                cx.partition_mut(b.partition)
                    .batch_acked(rref, b.stamp.as_deref(), n);
                cx.recycler.put_wire(std::mem::take(&mut b.wire));
                if let Some(stamp) = b.stamp.take() {
                    cx.recycler.put_wire(stamp.wire);
                }
                let name = &cx.topics[b.partition.topic].name;
                cx.outbox
                    .count_acked(b.partition, name, b.records.len(), base);
                let base = if base >= 0 { base } else { -1 };
                let name = &cx.topics[b.partition.topic].name;
                let offsets = (base, block.log_append_time_ms);
                let now = cx.clock.last_now;
                cx.outbox
                    .deliver(cx.recycler, name, b.partition, b.records, offsets, now);
            } else if names_records(code, &block) {
                self.reject_named_records(cx, b, rref, code, &block, now);
            } else if code == ErrorCode::MESSAGE_TOO_LARGE
                || code == ErrorCode::RECORD_LIST_TOO_LARGE
            {
                self.split_batch(cx, b, rref, code, now);
            } else if sequenced
                && (code == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                    || code == ErrorCode::UNKNOWN_PRODUCER_ID)
            {
                let part = cx.partition(b.partition);
                let n = b.records.len();
                let same = |st: &super::batch::Stamp| st.generation == part.generation;
                let first_in_flight = b
                    .stamp
                    .as_ref()
                    .is_some_and(|st| same(st) && st.base_seq == part.acked_seq);
                // A later sequence was acknowledged: most likely an old duplicate the broker no
                // longer remembers (outside its last five batches), but only the broker can
                // say a batch is a duplicate (DUPLICATE_SEQUENCE_NUMBER, or success with an
                // offset).
                let written = code == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                    && b.stamp.as_ref().is_some_and(|st| {
                        same(st) && seq_batch_before(st.base_seq, n, part.acked_seq)
                    });
                if written {
                    // Not a duplicate the broker vouches for: without its offset it cannot be
                    // reported delivered, and sending it again under any sequence could store
                    // it twice. It fails with the cause that left its outcome unknown.
                    cx.partition_mut(b.partition).request_resolved(rref);
                    let cause = b
                        .stamp
                        .as_ref()
                        .and_then(|st| st.maybe_written.clone())
                        .unwrap_or(RetryCause::Broker(code));
                    let records = cx.unbatch(b);
                    cx.outbox.fail_all(
                        cx.recycler,
                        records,
                        &ProduceError::RetriesExhausted(cause),
                    );
                } else if code == ErrorCode::UNKNOWN_PRODUCER_ID || first_in_flight {
                    // The broker lost our state (KIP-360): bump the epoch, restart sequences.
                    cx.partition_mut(b.partition).sequence_lost = true;
                    Self::batch_failed(cx, b, rref, RetryCause::SequenceReset(code), now);
                } else {
                    // An earlier batch failed: this one is retried after it, in order.
                    Self::batch_failed(cx, b, rref, RetryCause::Broker(code), now);
                }
            } else if sequenced
                && (code == ErrorCode::PRODUCER_FENCED
                    || code == ErrorCode::INVALID_PRODUCER_EPOCH && !cx.idem.transactional)
            {
                let e = ProduceError::ProducerFenced(code);
                cx.idem.state = super::idempotence::PidState::Fatal(e.clone());
                cx.partition_mut(b.partition).request_resolved(rref);
                let records = cx.unbatch(b);
                cx.outbox.fail_all(cx.recycler, records, &e);
            } else if code.is_retriable() {
                if let Some(leader) = block.current_leader.filter(|_| carries_hint(code)) {
                    let at = b.partition;
                    self.hints.push(Hint { at, leader });
                }
                Self::batch_failed(cx, b, rref, RetryCause::Broker(code), now);
            } else {
                let part = cx.partition_mut(b.partition);
                part.request_resolved(rref);
                // A refused batch leaves a hole in the sequence space.
                part.sequence_lost |= sequenced;
                let records = cx.unbatch(b);
                cx.outbox
                    .fail_all(cx.recycler, records, &ProduceError::Broker(code));
            }
        }
        cx.recycler.put_batch_list(batches);
        if !self.hints.is_empty() {
            apply_hints(cx, &mut self.hints, &resp.node_endpoints);
        }
        self.produce_response = resp;
        malformed
    }

    /// A stamped batch came back with a retriable cause: it is retried whole, keeping its
    /// sequence, in sequence order ahead of everything newer of its partition (see
    /// [`super::partition`]); past its delivery deadline or `retries` it fails, and its
    /// sequence leaves a hole that an epoch bump closes (as the Java client does).
    fn sequenced_batch_failed(
        cx: &mut StageCx<'_>,
        mut b: InFlightBatch,
        rref: RequestRef,
        cause: RetryCause,
        now: Instant,
    ) {
        if outcome_unknown(&cause) {
            if let Some(st) = &mut b.stamp {
                st.maybe_written = Some(cause.clone());
            }
        }
        let level = b.records.iter().map(|p| p.retries).max().unwrap_or(0);
        // OUT_OF_ORDER_SEQUENCE_NUMBER behind an earlier batch that failed is that batch's
        // failure, not an attempt of this one; a lost producer state is fixed by the epoch
        // bump, not by retrying: neither uses up `retries` (the delivery timeout still bounds
        // them).
        let not_an_attempt = cause == RetryCause::Broker(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            || matches!(cause, RetryCause::SequenceReset(_));
        let level = if not_an_attempt {
            level.max(1)
        } else {
            level.saturating_add(1)
        };
        let expired = b
            .records
            .first()
            .is_some_and(|p| p.deadline.is_some_and(|d| now >= d));
        let max_retries = cx.config.retries;
        let part = cx.partition_mut(b.partition);
        part.request_resolved(rref);
        // Not an attempt, so never past `retries` either: a batch whose level rose with
        // splits (MESSAGE_TOO_LARGE) would otherwise fail with RetriesExhausted(OUT_OF_ORDER)
        // while merely waiting behind another (found by the simulator with broker caps).
        if expired || (!not_an_attempt && level > max_retries) {
            part.sequence_lost = true;
            let e = if expired {
                ProduceError::DeliveryTimeout
            } else {
                ProduceError::RetriesExhausted(cause)
            };
            let records = cx.unbatch(b);
            cx.outbox.fail_all(cx.recycler, records, &e);
            return;
        }
        // The same backoff policy as every other retry (KIP-580: doubling per attempt, with
        // jitter, up to `retry.backoff.max.ms`; issue 21, bug 6).
        let backoff_until = now + cx.retry_backoff_for(level.max(1));
        Self::requeue_stamped(cx, vec![b], level, Some(backoff_until), now);
        cx.metadata
            .request_after_backoff(now, cx.config.retry_backoff);
    }

    /// Puts stamped batches (of one partition, oldest first) back for a retry at `level`:
    /// into the partition's retry batches in sequence order, the old path pulled back behind
    /// them, the watermark raised with a chaser for everything still in flight. With
    /// `backoff_until` the leader is abandoned too (a failure); without (a split) it is kept.
    pub(super) fn requeue_stamped(
        cx: &mut StageCx<'_>,
        batches: Vec<InFlightBatch>,
        level: u32,
        backoff_until: Option<Instant>,
        now: Instant,
    ) {
        let overhead = cx.limits.overhead;
        let Some(first) = batches.first() else {
            return;
        };
        let (part, mut owner) = cx.partition_and_owner(first.partition);
        for b in batches {
            let mut records = b.records;
            for p in &mut records {
                p.retries = level;
            }
            // The stamp's bytes carry the records (`b.wire`, the same bytes, goes).
            owner.pool.put_wire(b.wire);
            part.insert_retry_batch(Batch::sealed(records, overhead, now, b.stamp));
        }
        part.begin_batch_retry(level, backoff_until, &mut owner);
    }

    /// MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE for `b`: split it in two and retry the
    /// halves in order (with idempotence they take the batch's own sequences, the second
    /// half right after the first, as Java re-splits and re-stamps); a single record that is
    /// too large fails.
    fn split_batch(
        &mut self,
        cx: &mut StageCx<'_>,
        b: InFlightBatch,
        rref: RequestRef,
        code: ErrorCode,
        now: Instant,
    ) {
        let at = b.partition;
        cx.partition_mut(at).request_resolved(rref);
        if b.records.len() <= 1 {
            if b.stamp.is_some() {
                cx.partition_mut(at).sequence_lost = true;
            }
            let records = cx.unbatch(b);
            cx.outbox
                .fail_all(cx.recycler, records, &ProduceError::Broker(code));
            self.requeue.push(at);
            return;
        }
        let stamp = b.stamp.clone();
        let mut front = cx.unbatch(b);
        let back = front.split_off(front.len() / 2);
        let overhead = cx.limits.overhead;
        let Some(stamp) = stamp else {
            // No sequence: the halves go back at the front of the broker path (the batch was
            // the partition's only one in flight, older than everything held), sealed, to be
            // encoded again when their requests are built.
            cx.partition_mut(at)
                .push_front_halves(front, back, overhead, now);
            self.requeue.push(at);
            return;
        };
        let second_seq = seq_add(stamp.base_seq, front.len());
        // The halves keep the batch's producer id and epoch (its partition may still run
        // under an older one than the producer's current).
        let (pid, epoch) =
            stamp_producer(&stamp.wire).unwrap_or((cx.idem.producer_id, cx.idem.epoch));
        let mut halves = Vec::with_capacity(2);
        for (records, seq) in [(front, stamp.base_seq), (back, second_seq)] {
            let fields = ProducerFields {
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                transactional: cx.idem.transactional,
            };
            match Self::encode_stamped(cx.config, &records, fields) {
                Ok(wire) => halves.push(InFlightBatch {
                    partition: at,
                    records: records.into_iter().map(Slot::whole).collect(),
                    enc: None,
                    wire: bytes::Bytes::new(),
                    stamp: Some(Box::new(Stamp {
                        generation: stamp.generation,
                        base_seq: seq,
                        wire,
                        maybe_written: stamp.maybe_written.clone(),
                    })),
                }),
                Err(e) => {
                    cx.partition_mut(at).sequence_lost = true;
                    cx.outbox.fail_all(cx.recycler, records, &e);
                }
            }
        }
        let level = halves
            .iter()
            .flat_map(|h| h.records.iter().map(|p| p.retries))
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        Self::requeue_stamped(cx, halves, level, None, now);
    }

    /// Encodes `records` as a v2 batch stamped at `seq`.
    pub(super) fn encode_stamped(
        config: &Config,
        records: &[super::accept::AcceptedRecord],
        fields: ProducerFields,
    ) -> Result<bytes::Bytes, ProduceError> {
        let mut builder = BatchBuilder::new(RecordFormat::V2);
        for p in records {
            p.encode_into(&mut builder)
                .map_err(|e| ProduceError::Encoding(e.to_string()))?;
        }
        builder
            .finish_with(
                config.compression,
                config.effective_compression_level(),
                fields,
            )
            .map_err(|e| ProduceError::Encoding(e.to_string()))
    }
}
