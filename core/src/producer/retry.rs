//! The retry path (Sarama's `retryMessages` and `retryHandler`): a batch that came back with a
//! retriable error, a lost connection or a timeout has each record's retry level raised; a
//! record past `retries` fails with [`ProduceError::RetriesExhausted`], one past its delivery
//! deadline with [`ProduceError::DeliveryTimeout`] (the Java client's answer to an ambiguous
//! outcome), and the rest go back to their partition, ahead of every newer record, to be
//! resent after `retry.backoff.ms` to the leader the next metadata names.

use super::connection::{InFlightBatch, RequestRef};
use super::ProducerCore;
use crate::error::{ProduceError, RetryCause};
use crate::time::Instant;

impl ProducerCore {
    /// `b`, carried by request `rref`, failed with a retriable `cause`.
    pub(super) fn batch_failed(
        &mut self,
        b: InFlightBatch,
        rref: RequestRef,
        cause: RetryCause,
        now: Instant,
    ) {
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
        let backoff_until = now + self.config.retry_backoff;
        let part = &mut self.topics[b.topic].partitions[b.partition];
        part.request_resolved(rref);
        part.begin_retry(survivors, backoff_until);
        self.metadata
            .request_after_backoff(now, self.config.retry_backoff);
    }

    /// Fails records whose delivery deadline passed and that are not in flight.
    pub(super) fn expire_records(&mut self, now: Instant) {
        if self.config.delivery_timeout.is_none() {
            return;
        }
        let mut expired = Vec::new();
        for topic in &mut self.topics {
            while topic
                .waiting
                .front()
                .is_some_and(|p| p.deadline.is_some_and(|d| now >= d))
            {
                if let Some(p) = topic.waiting.pop_front() {
                    expired.push(p);
                }
            }
            for part in &mut topic.partitions {
                if part.earliest_deadline().is_some_and(|d| now >= d) {
                    expired.extend(part.take_expired(now));
                }
            }
        }
        self.fail_all(expired, &ProduceError::DeliveryTimeout);
    }

    /// The earliest delivery deadline of a record not in flight.
    pub(super) fn delivery_deadline(&self) -> Option<Instant> {
        self.topics
            .iter()
            .flat_map(|t| {
                t.waiting
                    .front()
                    .and_then(|p| p.deadline)
                    .into_iter()
                    .chain(t.partitions.iter().filter_map(|p| p.earliest_deadline()))
            })
            .min()
    }
}
