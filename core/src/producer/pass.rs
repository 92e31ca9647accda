//! The pass over partitions that every input but a plain `send` ends with
//! ([`ProducerCore::advance`]), and the wake-up it leaves: only the partitions marked
//! [`dirty`](super::dirty) since the last pass and those whose deadline is due
//! ([`timers`](super::timers)) are looked at, and each one's next deadline is re-armed after.
//!
//! What still walks every partition, and why that is proportional to the input: a Metadata
//! answer (it lists every partition), a new producer id or epoch (every partition's sequences
//! may restart), `close` (every open batch is sealed), an authentication failure (the
//! broker's partitions fail their batches), and the close cutoff without a delivery timeout
//! (every unsent record fails). [`ProducerCore::stats`] walks everything too.

use super::{PartitionRef, ProducerCore};
use crate::output::{ConnId, Output, TimeoutReason};
use crate::time::Instant;

impl ProducerCore {
    /// Drains retry buffers, expires records past their delivery deadline, applies the seal
    /// rule and queues ready batches for the partitions
    /// changed since the last pass and those whose deadline is due at the latest time seen.
    /// They stay in
    /// [`work`](Self::work) for [`expire_records`](Self::expire_records) and
    /// [`rearm_marked`](Self::rearm_marked).
    pub(super) fn partition_pass(&mut self) {
        // The latest time seen, not the input's (which may be older): deadlines are armed
        // only when after it, so one at or before it must be acted on now.
        let now = self.last_now;
        let dirty = &mut self.dirty;
        self.timers.pop_due(now, |at| dirty.mark(at));
        let mut work = std::mem::take(&mut self.work);
        self.dirty.take(&mut work);
        self.visited += work.len() as u64;
        let mut expired = Vec::new();
        for &at in &work {
            self.drain_retry_buffers(at, now);
            // Expired records leave first (a batch expires with its first record), so that
            // the seal rule sees what stays.
            if self.config.delivery_timeout.is_some() {
                let part = &mut self.topics[at.topic].partitions[at.index];
                if part.earliest_deadline().is_some_and(|d| now >= d) {
                    expired.extend(part.take_expired(now));
                }
            }
            self.seal_partition(at, now);
            self.queue_if_ready(at);
        }
        if !expired.is_empty() {
            let error = self.expiry_error();
            self.fail_all(expired, &error);
        }
        self.work = work;
    }

    /// Partition `at`'s next deadline after `last_now`: its open batch's linger end, its retry
    /// backoff end, or the delivery deadline of its oldest record not in
    /// flight, whichever comes first. What is at or before `last_now` was acted on already (a
    /// linger that ended while the partition cannot send: a change to the partition marks it).
    pub(super) fn partition_deadline(&self, at: PartitionRef) -> Option<(Instant, TimeoutReason)> {
        let part = self.partition(at);
        let after = |t: &Instant| *t > self.last_now;
        let linger = part
            .linger_deadline(self.config.linger)
            .filter(after)
            .map(|t| (t, TimeoutReason::Linger));
        // Armed even with nothing held: the pass at its end lowers the high watermark, which
        // a record sent meanwhile would otherwise wait behind in a retry buffer.
        let backoff = part
            .backoff_until
            .filter(after)
            .map(|t| (t, TimeoutReason::RetryBackoff));
        let delivery = self
            .config
            .delivery_timeout
            .and_then(|_| part.earliest_deadline())
            .filter(after)
            .map(|t| (t, TimeoutReason::DeliveryTimeout));
        [linger, backoff, delivery]
            .into_iter()
            .flatten()
            .min_by_key(|&(t, _)| t)
    }

    /// Re-arms partition `at`'s deadline; returns it.
    pub(super) fn rearm(&mut self, at: PartitionRef) -> Option<(Instant, TimeoutReason)> {
        let deadline = self.partition_deadline(at);
        self.timers.arm(at, deadline);
        deadline
    }

    /// Re-arms the deadlines of the partitions this pass looked at and of those marked since,
    /// and ends the pass.
    pub(super) fn rearm_marked(&mut self) {
        let mut work = std::mem::take(&mut self.work);
        let marked = std::mem::take(&mut self.dirty);
        // A partition of both lists (a request took its batch after the pass) once.
        let mut n = 0;
        for &at in work
            .iter()
            .filter(|&&at| !marked.contains(at))
            .chain(marked.marked())
        {
            self.rearm(at);
            n += 1;
        }
        self.visited += n;
        work.clear();
        self.work = work;
        self.dirty = marked;
    }

    /// The next deadline: the earliest partition deadline (the timers' top) and the few
    /// per-broker, per-connection and per-topic ones. Never later than
    /// [`compute_wake_by_scan`](Self::compute_wake_by_scan) (checked in debug builds).
    pub(super) fn next_wake(&mut self) -> Option<(Instant, TimeoutReason)> {
        if self.closed {
            return None;
        }
        let mut best: Option<(Instant, TimeoutReason)> = None;
        let last_now = self.last_now;
        let mut consider = |at: Option<Instant>, why: TimeoutReason| {
            if let Some(at) = at.filter(|&at| at > last_now) {
                if best.map_or(true, |(b, _)| at < b) {
                    best = Some((at, why));
                }
            }
        };
        let top = self.timers.next();
        consider(
            top.map(|(t, _)| t),
            top.map_or(TimeoutReason::Linger, |(_, w)| w),
        );
        consider(self.conns.deadline(), TimeoutReason::RequestTimeout);
        consider(self.conns.reauth_deadline(), TimeoutReason::Reauthenticate);
        if !self.is_idle_closing() && self.metadata.in_flight.is_none() {
            let max_age = self.config.metadata_max_age;
            consider(
                self.metadata.next_refresh(max_age),
                TimeoutReason::MetadataRefresh,
            );
        }
        consider(self.waiting_deadline(), TimeoutReason::DeliveryTimeout);
        consider(self.idem.deadline(), TimeoutReason::RetryBackoff);
        if !self.is_idle_closing() {
            for b in self.conns.backoff.values() {
                consider(b.not_before, TimeoutReason::ReconnectBackoff);
            }
        }
        best
    }

    /// Marks every partition with a deadline armed, which includes every open batch whose
    /// linger is ahead (a flush seals those); one whose linger passed waits for a change that
    /// lets it send, and that change marks it.
    pub(super) fn mark_open_batches(&mut self) {
        let dirty = &mut self.dirty;
        let mut n = 0u64;
        self.timers.for_each_armed(|at| {
            dirty.mark(at);
            n += 1;
        });
        self.visited += n;
    }

    /// Marks every partition: for the rare inputs that change them all (`close`, a new
    /// producer id or epoch).
    pub(super) fn mark_all(&mut self) {
        for (t, topic) in self.topics.iter().enumerate() {
            for index in 0..topic.partitions.len() {
                self.dirty.mark(PartitionRef {
                    topic: super::topic::TopicIdx(t),
                    index,
                });
            }
            self.visited += topic.partitions.len() as u64;
        }
    }

    /// Sarama's `flushRetryBuffers` for partition `at`
    /// ([`PartitionState::drain_retry_buffers`]).
    pub(super) fn drain_retry_buffers(&mut self, at: PartitionRef, now: Instant) {
        let limits = self.limits;
        let sealed = self.topics[at.topic].partitions[at.index].drain_retry_buffers(
            &limits,
            now,
            &mut self.recycler,
        );
        self.batches_sealed(at, sealed);
    }

    /// Closing with nothing left: no more metadata, connections or requests are needed.
    pub(super) fn is_idle_closing(&self) -> bool {
        self.closing && self.pending_records == 0
    }

    /// Finishes the close once every record has its outcome.
    pub(super) fn maybe_finish_close(&mut self) {
        if !self.is_idle_closing() || self.closed {
            return;
        }
        let conns: Vec<ConnId> = self.conns.conns.keys().copied().collect();
        for conn in conns {
            self.conns.conns.remove(&conn);
            self.outbox.push(Output::Disconnect { conn });
        }
        self.conns.by_target.clear();
        self.metadata.in_flight = None;
        self.closed = true;
        self.outbox.push(Output::Closed);
    }
}
