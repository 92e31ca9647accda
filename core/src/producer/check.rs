//! Debug builds only (and so the simulator and the fuzzers): after every input, checks that
//! the work skipped by looking only at changed and due partitions ([`super::pass`]) was
//! indeed nothing, with the slow scans the fast paths replaced. A failure here is a bug in the
//! core (a change that did not mark its partition, a deadline not armed), never bad input.

use super::{PartitionRef, ProducerCore};
use crate::output::TimeoutReason;
use crate::time::Instant;

impl ProducerCore {
    /// Panics if [`wake`](Clock::wake) is later than the exact next deadline found by scanning
    /// every partition (a late wake-up would leave the producer idle), and, after a full
    /// advance (`full`), if a partition not marked for the next pass has work a pass would
    /// do, or a deadline later than its armed one.
    pub(super) fn check_after_input(&self, full: bool) {
        let exact = self.compute_wake_by_scan();
        if let Some((at, why)) = exact {
            let fast = self.clock.wake.map(|(t, _)| t);
            assert!(
                fast.is_some_and(|t| t <= at),
                "late wake-up: poll_timeout says {fast:?}, the next deadline is {at:?} ({why:?})"
            );
        }
        if !full || self.closed {
            return;
        }
        for (t, topic) in self.topics.iter().enumerate() {
            for index in 0..topic.partitions.len() {
                let at = PartitionRef {
                    topic: super::topic::TopicIdx(t),
                    index,
                };
                if self.dirty.contains(at) {
                    continue;
                }
                if let Some(work) = self.missed_work(at, self.clock.last_now) {
                    panic!("partition {at:?} not marked, but a pass would {work}");
                }
                if let Some((due, why)) = self.partition_deadline(at) {
                    let armed = self.timers.armed(at).map(|(t, _)| t);
                    assert!(
                        armed.is_some_and(|a| a <= due),
                        "partition {at:?}: deadline {due:?} ({why:?}) but {armed:?} armed"
                    );
                }
            }
        }
    }

    /// What a pass at `now` would do to partition `at`, if anything.
    fn missed_work(&self, at: PartitionRef, now: Instant) -> Option<&'static str> {
        let part = self.partition(at);
        let limits = &self.limits;
        let hwm = part.high_watermark as usize;
        let level = part.retry_state.get(hwm);
        let drains = part.gate_open(now)
            && (part.retry_batches.is_empty() || part.chaser.is_empty())
            && (!part.retry_batches.is_empty()
                || level.is_some_and(|l| !l.buf.is_empty())
                || (hwm > 0 && !level.is_some_and(|l| l.expect_chaser)));
        if drains {
            return Some("drain its retry buffers");
        }
        if let Some(open) = part
            .batches
            .back()
            .filter(|b| !b.sealed && !b.records.is_empty())
        {
            let forced = self.closing || open.records[0].id.0 < self.flush_upto;
            let lingered = forced || now >= open.linger_end(self.config.linger);
            if open.full(0, limits) || (lingered && part.can_take_request(limits)) {
                return Some("seal its open batch");
            }
        }
        if part.ready(limits) && !part.queued {
            return Some("queue it as ready");
        }
        if self.config.delivery_timeout.is_some()
            && part.earliest_deadline().is_some_and(|d| now >= d)
        {
            return Some("expire records");
        }
        if self.config.delivery_timeout.is_none()
            && self.close_cutoff().is_some_and(|c| now >= c)
            && part.held() > 0
        {
            return Some("fail unsent records at the close cutoff");
        }
        if self.idem.on() && part.sequence_lost {
            return Some("note a lost sequence");
        }
        None
    }

    /// The exact next deadline from a scan of every partition: what [`wake`](Clock::wake) must
    /// never be later than. Only debug builds run it, after every input, to check the fast
    /// answer ([`next_wake`](Self::next_wake)).
    #[cfg(debug_assertions)]
    fn compute_wake_by_scan(&self) -> Option<(Instant, TimeoutReason)> {
        if self.closed {
            return None;
        }
        let mut best: Option<(Instant, TimeoutReason)> = None;
        let mut consider = |at: Option<Instant>, why: TimeoutReason| {
            if let Some(at) = at.filter(|&at| at > self.clock.last_now) {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, why));
                }
            }
        };
        let linger = self.config.linger;
        for topic in &self.topics {
            for part in &topic.partitions {
                consider(part.linger_deadline(linger), TimeoutReason::Linger);
                if part.held() > 0 {
                    consider(part.backoff_until, TimeoutReason::RetryBackoff);
                }
            }
        }
        consider(self.conns.deadline(), TimeoutReason::RequestTimeout);
        consider(self.conns.reauth_deadline(), TimeoutReason::Reauthenticate);
        if !self.is_idle_closing() && self.metadata.in_flight.is_none() {
            let max_age = self.config.metadata_max_age;
            consider(
                self.metadata.next_refresh(max_age),
                TimeoutReason::MetadataRefresh,
            );
        }
        consider(
            self.delivery_deadline_by_scan(),
            TimeoutReason::DeliveryTimeout,
        );
        consider(self.idem.deadline(), TimeoutReason::RetryBackoff);
        let txn = self.txn.as_ref().and_then(|t| t.deadline());
        consider(txn, TimeoutReason::RetryBackoff);
        if !self.is_idle_closing() {
            for b in self.conns.backoff.values() {
                consider(b.not_before, TimeoutReason::ReconnectBackoff);
            }
        }
        best
    }

    /// The earliest delivery deadline of a record not in flight (or, closing without a
    /// delivery timeout, the [`close_cutoff`](Self::close_cutoff)), from a scan of every
    /// partition (debug builds' check of the fast wake-up).
    pub(super) fn delivery_deadline_by_scan(&self) -> Option<Instant> {
        if self.config.delivery_timeout.is_none() {
            return self.close_cutoff().filter(|_| self.outbox.pending > 0);
        }
        self.topics
            .iter()
            .filter_map(|t| t.earliest_deadline())
            .min()
    }
}
