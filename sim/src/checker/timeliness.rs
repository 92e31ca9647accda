//! Liveness and timeliness promises (issue 21): what a run must do, not only what it must
//! not — records sent to a healed cluster are delivered, retries wait for their backoff, a
//! NOT_LEADER answer leads to a metadata refresh, `close` ends soon after the last progress.
//! Also the reading of DUPLICATE_SEQUENCE_NUMBER answers, which carry no offset.

use super::{content, Checker, Observed, Outcome, ViolationKind, BATCH_SLACK};
use crate::client_log::ClientEvent;
use odradek_core::protocol::ErrorCode;
use odradek_core::{Acks, Instant, ProduceError};
use std::collections::BTreeMap;
use std::time::Duration;

/// The answers that send a batch back for a retry after a backoff: the retriable Produce
/// errors, and the idempotence answers a retry follows (MESSAGE_TOO_LARGE is retried at once,
/// split; DUPLICATE_SEQUENCE_NUMBER is a success).
fn backs_off(code: i16) -> bool {
    let c = ErrorCode(code);
    crate::faults::RETRIABLE_PRODUCE_ERRORS.contains(&c)
        || c == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        || c == ErrorCode::UNKNOWN_PRODUCER_ID
}

/// Whether an answer counts as an attempt of its batch: OUT_OF_ORDER (behind an earlier
/// failure) and UNKNOWN_PRODUCER_ID (lost state, fixed by an epoch bump) are not the batch's
/// own attempt (they use up no retry).
fn counts_as_attempt(code: i16) -> bool {
    let c = ErrorCode(code);
    c != ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER && c != ErrorCode::UNKNOWN_PRODUCER_ID
}

/// The client events in time order. At one instant they keep the order they were logged in:
/// a request is logged when the broker reads it (at or after its transmission), an answer
/// when the client gets it, so a request logged before an answer at the same instant went
/// out with it (zero latency), one logged after went out in reaction to it.
fn in_time_order(events: &[ClientEvent]) -> Vec<&ClientEvent> {
    let mut v: Vec<&ClientEvent> = events.iter().collect();
    v.sort_by_key(|e| e.at());
    v
}

impl Checker<'_> {
    /// A delivery answered DUPLICATE_SEQUENCE_NUMBER carries offset -1 (the broker gave none):
    /// when the brokers may answer so, its offset is the one its partition's log holds it at,
    /// and every later check sees that.
    pub(super) fn resolve_duplicate_answers(&mut self, outcome: &mut [Outcome]) {
        if !self.options.duplicate_answers || self.options.acks == Acks::None {
            return;
        }
        let history = self.history;
        for (i, o) in outcome.iter_mut().enumerate() {
            let Some((_, Ok(md))) = o else { continue };
            if md.offset != -1 {
                continue;
            }
            let r = &history.sent[i].record;
            let want = content(&r.topic, &r.key, &r.value, &r.headers);
            let log = self.logs.logs.get(&(md.topic.to_string(), md.partition));
            let found = log
                .into_iter()
                .flatten()
                .find(|st| content(&md.topic, &st.key, &st.value, &st.headers) == want);
            if let Some(st) = found {
                md.offset = st.offset;
                self.report.duplicate_deliveries += 1;
            }
        }
    }

    /// Promise: a record sent once the cluster has healed and settled (all brokers up,
    /// leaders known, no fault pending) is delivered — a failure is allowed only for what a
    /// healthy cluster also refuses (a record over the brokers' batch cap, a fenced producer).
    pub(super) fn healed_records_delivered(&mut self, outcome: &[Outcome]) {
        let Some(healed) = self.options.healed_at else {
            return;
        };
        let (history, options) = (self.history, self.options);
        for (i, s) in history.sent.iter().enumerate() {
            if s.at < healed || !options.topics.contains_key(s.record.topic.as_str()) {
                continue;
            }
            self.report.healed_checked += 1;
            let Some((at, Err(e))) = &outcome[i] else {
                continue; // delivered, or no outcome (reported elsewhere)
            };
            let excused = match e {
                ProduceError::Broker(c) if *c == ErrorCode::MESSAGE_TOO_LARGE => options
                    .broker_max_batch_bytes
                    .is_some_and(|cap| s.record.payload_len() + BATCH_SLACK > cap),
                ProduceError::ProducerFenced(_) => options.fenced_at.is_some_and(|t| *at >= t),
                // The close's timeout ran out before the record's outcome came.
                ProduceError::CloseTimedOut => options.closed_now_at == Some(*at),
                _ => self.rejected_rightly(s, e),
            };
            if !excused {
                let msg = format!(
                    "{:?} sent at {:?}, after the cluster healed (settled at {healed:?}), \
                     failed at {at:?}: {e:?}",
                    s.id, s.at
                );
                self.v(ViolationKind::HealedNotDelivered, msg);
            }
        }
    }

    /// Promise: no record goes out again sooner after the answer that refused it than
    /// 0.8 x the backoff policy's value for its attempt (`retry.backoff.ms` x 2^(attempt-1),
    /// capped at `retry.backoff.max.ms`; 0.8 is the jitter's floor). The attempt counted is
    /// the record's refusals that use up a retry, never more than the producer counts.
    pub(super) fn retries_respect_the_backoff(&mut self) {
        let Some((base, max)) = self.options.retry_backoff else {
            return;
        };
        let policy = |attempt: u32| -> Duration {
            let shift = attempt.saturating_sub(1).min(20);
            base.checked_mul(1 << shift).unwrap_or(max).min(max)
        };
        // Per record: (attempts, the refusal waiting for its retry).
        let mut state: BTreeMap<u64, (u32, Option<(Instant, i16)>)> = BTreeMap::new();
        let mut reported = false;
        for e in in_time_order(&self.history.client) {
            match e {
                ClientEvent::ProduceRefused { at, code, records } if backs_off(*code) => {
                    for r in records {
                        let st = state.entry(*r).or_default();
                        if counts_as_attempt(*code) {
                            st.0 += 1;
                        }
                        st.1 = Some((*at, *code));
                    }
                }
                ClientEvent::ProduceSent { at, records } => {
                    for r in records {
                        let Some(st) = state.get_mut(r) else { continue };
                        let Some((refused, code)) = st.1.take() else {
                            continue;
                        };
                        self.report.backoff_checked += 1;
                        let need = policy(st.0.max(1)).mul_f64(0.8);
                        let gap = at.saturating_duration_since(refused);
                        if gap + Duration::from_micros(1) < need && !reported {
                            reported = true;
                            let msg = format!(
                                "a record refused {} at {refused:?} (attempt {}) was sent again \
                                 at {at:?}, {gap:?} later: the policy asks for at least {need:?}",
                                ErrorCode(code),
                                st.0
                            );
                            self.v(ViolationKind::RetryTooSoon, msg);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Promise: a NOT_LEADER_OR_FOLLOWER answer leads to a metadata refresh: within
    /// [`metadata_refresh_within`] of receiving it, and before sending the refused records
    /// again, the client sends a Metadata request (or receives the answer to one it had sent
    /// before). Records refused and never sent again (failed, or closed first) owe nothing.
    ///
    /// [`metadata_refresh_within`]: super::CheckOptions::metadata_refresh_within
    pub(super) fn not_leader_refreshes_metadata(&mut self) {
        let Some(within) = self.options.metadata_refresh_within else {
            return;
        };
        let events = in_time_order(&self.history.client);
        // A refresh: a Metadata request sent, or the answer to one already in flight
        // received (it may be what the producer acts on).
        let metadata: Vec<Instant> = events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::MetadataSent { at } | ClientEvent::MetadataAnswered { at } => {
                    Some(*at)
                }
                _ => None,
            })
            .collect();
        // Records refused NOT_LEADER, waiting for their next send: record -> when refused.
        let mut waiting: BTreeMap<u64, Instant> = BTreeMap::new();
        let mut reported = false;
        let refresh_after = |t: Instant| metadata.iter().copied().find(|m| *m >= t);
        let outages = &self.options.broker_outages;
        let mut check = |this: &mut Self, refused: Instant, resent: Option<Instant>| {
            let deadline = refused + within;
            let outage = outages
                .iter()
                .any(|(down, up)| *down <= deadline && up.is_none_or(|u| u >= refused));
            if outage {
                return; // maybe no broker to ask
            }
            this.report.metadata_checked += 1;
            let refresh = refresh_after(refused);
            let ok = match (refresh, resent) {
                (Some(m), Some(s)) => m <= s && m <= deadline,
                (_, None) => true,
                (None, Some(_)) => false,
            };
            if !ok && !reported {
                reported = true;
                let msg = format!(
                    "NOT_LEADER_OR_FOLLOWER received at {refused:?}: next Metadata request at \
                     {refresh:?}, records sent again at {resent:?} (a refresh is due within \
                     {within:?}, before the retry)"
                );
                this.v(ViolationKind::NoMetadataRefresh, msg);
            }
        };
        for e in &events {
            match e {
                ClientEvent::ProduceRefused { at, code, records }
                    if ErrorCode(*code) == ErrorCode::NOT_LEADER_OR_FOLLOWER =>
                {
                    for r in records {
                        if let Some(old) = waiting.insert(*r, *at) {
                            check(self, old, Some(*at));
                        }
                    }
                }
                ClientEvent::ProduceSent { at, records } => {
                    for r in records {
                        if let Some(refused) = waiting.remove(r) {
                            check(self, refused, Some(*at));
                        }
                    }
                }
                _ => {}
            }
        }
        // Refused records never sent again (failed, or the run closed first) owe no refresh:
        // the producer may have nothing left to send.
        drop(waiting);
    }

    /// Promise: `close` ends within the request timeout of the last progress (the later of
    /// the `close` call and the last outcome before `Closed`), even when a fault never heals;
    /// without a delivery timeout, also within two request timeouts and the longest retry
    /// backoff of the last delivery or failure not caused by the cut-off (the producer's close
    /// cut-off, then one request).
    pub(super) fn close_ends_in_time(&mut self) {
        let Some(close_at) = self.history.close_at else {
            return;
        };
        let outputs = &self.history.outputs;
        let Some(closed) = outputs
            .iter()
            .find(|(_, o)| *o == Observed::Closed)
            .map(|(t, _)| *t)
        else {
            return; // reported by closed_once_and_last
        };
        // `progress_only`: the outcomes that move the producer's close cut-off (a delivery,
        // or a failure the cut-off did not cause).
        let last = |progress_only: bool| {
            outputs
                .iter()
                .filter(|(t, o)| {
                    *t <= closed
                        && match o {
                            Observed::Delivered { .. } => true,
                            Observed::Failed { error, .. } => {
                                !progress_only
                                    || !matches!(
                                        error,
                                        ProduceError::DeliveryTimeout | ProduceError::Connection(_)
                                    )
                            }
                            _ => false,
                        }
                })
                .map(|(t, _)| *t)
                .max()
                .map_or(close_at, |t| t.max(close_at))
        };
        let bounds = [
            (self.options.close_within, last(false), "outcome"),
            (
                self.options.close_after_delivery_within,
                last(true),
                "progress",
            ),
        ];
        for (bound, from, what) in bounds {
            let Some(bound) = bound else { continue };
            let took = closed.saturating_duration_since(from);
            if took > bound {
                let msg = format!(
                    "Closed at {closed:?}, {took:?} after the last {what} or close ({from:?}), \
                     over {bound:?} (close called at {close_at:?})"
                );
                self.v(ViolationKind::SlowClose, msg);
            }
        }
    }
}
