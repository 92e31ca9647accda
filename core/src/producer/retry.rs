//! The retry path (Sarama's `retryMessages` and `retryHandler`): a batch that came back with a
//! retriable error, a lost connection or a timeout has each record's retry level raised; a
//! record past `retries` fails with [`ProduceError::RetriesExhausted`], one past its delivery
//! deadline with [`ProduceError::DeliveryTimeout`] (the Java client's answer to an ambiguous
//! outcome), and the rest go back to their partition, ahead of every newer record, to be
//! resent after a backoff to the leader the next metadata names.
//!
//! The backoff follows KIP-580 ([`ProducerCore::retry_backoff_for`]): `retry.backoff.ms ×
//! 2^(attempt − 1)`, capped at `retry.backoff.max.ms`, with ±20 % jitter drawn from the
//! core's seeded [`Rng`](crate::rng::Rng) — so retries of many producers (or partitions) do
//! not fire in lockstep, and a run is still reproducible from its seed. The attempt of a
//! batch retry is the highest retry level among its surviving records.

use super::connection::{InFlightBatch, RequestRef};
use super::ProducerCore;
use crate::error::{ProduceError, RetryCause};
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

impl ProducerCore {
    /// `b`, carried by request `rref`, failed with a retriable `cause`.
    pub(super) fn batch_failed(
        &mut self,
        b: InFlightBatch,
        rref: RequestRef,
        cause: RetryCause,
        now: Instant,
    ) {
        let name = &self.topics[b.partition.topic].name;
        self.outbox
            .count_retry(b.partition, name, b.records.len(), &cause);
        if b.stamp.is_some() {
            // Idempotence: a batch with a sequence is retried whole (idempotence.rs).
            return self.sequenced_batch_failed(b, rref, cause, now);
        }
        let max_retries = self.config.retries;
        let mut survivors = Vec::with_capacity(b.records.len());
        let mut failed = Vec::new();
        for mut p in b.records {
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
            self.fail(p, e);
        }
        let backoff_until = now + self.retry_backoff_for(max_attempt(&survivors));
        let part = self.partition_mut(b.partition);
        part.request_resolved(rref);
        part.begin_retry(survivors, backoff_until);
        self.metadata
            .request_after_backoff(now, self.config.retry_backoff);
    }

    /// The backoff before retry `attempt` (1 for the first retry), as KIP-580 and the Java
    /// client compute it: `retry.backoff.ms × 2^(attempt − 1)`, capped at
    /// `retry.backoff.max.ms`, times a jitter factor drawn uniformly from `[0.8, 1.2)` with
    /// the seeded RNG, and capped at `retry.backoff.max.ms` again after the jitter. When
    /// `retry.backoff.ms` is above `retry.backoff.max.ms`, the maximum is used as a constant
    /// backoff (as in the Java client). Never panics: the settings are bounded by
    /// [`Config::validate`](crate::Config::validate) and the arithmetic saturates.
    pub(super) fn retry_backoff_for(&mut self, attempt: u32) -> Duration {
        let base = self.config.retry_backoff;
        let max = self.config.retry_backoff_max;
        let shift = attempt.saturating_sub(1).min(63);
        let term = base
            .checked_mul(1u32.checked_shl(shift).unwrap_or(u32::MAX))
            .unwrap_or(max)
            .min(max);
        let jitter = 0.8 + 0.4 * self.rng.unit();
        term.mul_f64(jitter).min(max)
    }

    /// When a close without a delivery timeout stops waiting: `request.timeout.ms` plus
    /// `retry.backoff.max.ms` after `close` or after the last record delivered since,
    /// whichever is later (see [`Config::delivery_timeout`](crate::Config::delivery_timeout)):
    /// a close waits as long as records keep being delivered, and long enough for one request
    /// and one retry at the longest backoff — a healthy cluster whose records are retrying
    /// behind a backoff longer than the request timeout (the backoff grows to
    /// `retry.backoff.max.ms`) must not see them given up (found by the simulator's
    /// healed-cluster check: a close after a 1 s backoff with a 442 ms request timeout failed
    /// records sent to a healed cluster). `None` when not closing, or when there is a delivery
    /// timeout.
    pub(super) fn close_cutoff(&self) -> Option<Instant> {
        if self.config.delivery_timeout.is_some() {
            return None;
        }
        let wait = self.config.request_timeout + self.config.retry_backoff_max;
        self.metadata.close_progress.map(|t| t + wait)
    }

    /// Fails records whose delivery deadline passed and that are not in flight, among the
    /// records waiting for metadata (those in partitions expire in
    /// [`partition_pass`](Self::partition_pass): a partition whose oldest record's deadline
    /// passed is due there). Without a delivery timeout, records have no deadline, except
    /// during a close that stopped making progress: once [`close_cutoff`](Self::close_cutoff)
    /// passed, every record not in flight (waiting for metadata, for a leader, for a
    /// connection, in a retry buffer or a batch) fails with [`ProduceError::DeliveryTimeout`]
    /// — every partition is emptied once per cutoff, and after that only the partitions a
    /// failed request gave records back to; in-flight ones keep their outcome, or fail the
    /// same way when they come back for a retry.
    ///
    /// Then notes a lost sequence of a partition looked at (idempotence), for
    /// [`idempotence_step`](Self::idempotence_step).
    pub(super) fn expire_records(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let work = std::mem::take(&mut self.work);
        if self.config.delivery_timeout.is_none() {
            if self.closing && self.metadata.close_progress.is_none() {
                self.metadata.close_progress = Some(now);
            }
            if let Some(cutoff) = self.close_cutoff().filter(|&c| now >= c) {
                if self.swept_at != Some(cutoff) {
                    self.swept_at = Some(cutoff);
                    for topic in &mut self.topics {
                        self.visited += topic.partitions.len() as u64;
                        topic.take_unsent(&mut expired);
                        for part in &mut topic.partitions {
                            self.sequence_lost |= part.take_sequence_loss();
                        }
                    }
                } else {
                    for topic in &mut self.topics {
                        expired.extend(topic.waiting.drain(..));
                    }
                    for &at in &work {
                        let part = &mut self.topics[at.topic].partitions[at.index];
                        super::topic::take_unsent(part, &mut expired);
                    }
                }
            }
        } else {
            for topic in &mut self.topics {
                topic.take_expired_waiting(now, &mut expired);
            }
        }
        if self.idem.on() {
            for &at in &work {
                let part = &mut self.topics[at.topic].partitions[at.index];
                self.sequence_lost |= part.take_sequence_loss();
            }
        }
        self.work = work;
        if !expired.is_empty() {
            let error = self.expiry_error();
            self.fail_all(expired, &error);
        }
    }

    /// What a record that was never sent fails with at its deadline: the last connection
    /// error reported since no connection opened (for a malformed answer: since no answer
    /// decoded), else a plain delivery timeout.
    pub(super) fn expiry_error(&self) -> ProduceError {
        match &self.conn_error {
            Some(e) => ProduceError::Connection(e.clone()),
            None => ProduceError::DeliveryTimeout,
        }
    }

    /// The earliest delivery deadline of a record waiting for its topic's metadata (or,
    /// closing without a delivery timeout, the [`close_cutoff`](Self::close_cutoff)); those of
    /// records in partitions are armed in the partition timers.
    pub(super) fn waiting_deadline(&self) -> Option<Instant> {
        if self.config.delivery_timeout.is_none() {
            return self.close_cutoff().filter(|_| self.pending_records > 0);
        }
        self.topics
            .iter()
            .filter_map(|t| t.waiting.front().and_then(|p| p.deadline))
            .min()
    }

    /// The earliest delivery deadline of a record not in flight (or, closing without a
    /// delivery timeout, the [`close_cutoff`](Self::close_cutoff)), from a scan of every
    /// partition (debug builds' check of the fast wake-up).
    #[cfg(debug_assertions)]
    pub(super) fn delivery_deadline_by_scan(&self) -> Option<Instant> {
        if self.config.delivery_timeout.is_none() {
            return self.close_cutoff().filter(|_| self.pending_records > 0);
        }
        self.topics
            .iter()
            .filter_map(|t| t.earliest_deadline())
            .min()
    }
}
