//! Metadata: bootstrap, Metadata requests for every topic the producer has seen, applying the
//! answer (brokers, partition counts, leaders), and refreshes — soon after errors (with
//! `retry.backoff.ms`, growing exponentially up to `retry.backoff.max.ms` while errors go on)
//! and at least every `metadata.max.age.ms`.
//!
//! Answers are untrusted: a topic whose partition indices are not exactly `0..count` (sparse,
//! duplicate, negative, or more than [`MAX_PARTITIONS_PER_TOPIC`]) is treated as malformed —
//! nothing changes for it and metadata is asked again after a backoff — and a leader id that
//! names no broker of the answer makes its partition leaderless.

use super::connection::{RequestKind, RequestRef, Target};
use super::partition::{PartitionRef, PartitionState};
use super::topic::{TopicIdx, TopicMeta, TopicState};
use super::ProducerCore;
use crate::output::BrokerAddress;
use crate::protocol::{self, ErrorCode, MetadataRequest, MetadataResponse};
use crate::time::Instant;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The metadata stage's state.
#[derive(Debug, Default)]
pub(crate) struct MetadataState {
    /// Brokers from the last answer, by node id.
    pub brokers: BTreeMap<i32, BrokerAddress>,
    /// When a refresh is wanted (earliest); `None` when only the periodic one is.
    pub due: Option<Instant>,
    /// The Metadata request out, if any.
    pub in_flight: Option<RequestRef>,
    /// When the last answer arrived.
    pub last_refresh: Option<Instant>,
    /// Metadata attempts in a row that failed or left something to find; sets the
    /// exponential refresh backoff ([`ProducerCore::metadata_backoff`]).
    pub failures: u32,
    /// How many topics (the first ones of `ProducerCore::topics`) the Metadata request in
    /// flight asked about.
    pub asked: usize,
    /// Set while an answer is applied when it left something to find.
    pub answer_incomplete: bool,
    /// Closing without a delivery timeout: when `close` began or, if later, when a record
    /// was last delivered since. Records still waiting (for metadata, a leader, a
    /// connection) once `request.timeout.ms` passed from it fail, so that a close that makes
    /// no progress ends (see the retry stage's `expire_records`).
    pub close_progress: Option<Instant>,
}

impl MetadataState {
    /// Wants a refresh at once.
    pub(crate) fn request_now(&mut self, now: Instant) {
        self.due = Some(self.due.map_or(now, |d| d.min(now)));
    }

    /// Wants a refresh after `backoff` (unless one is wanted sooner).
    pub(crate) fn request_after_backoff(&mut self, now: Instant, backoff: Duration) {
        let at = now + backoff;
        self.due = Some(self.due.map_or(at, |d| d.min(at)));
    }

    /// When the next refresh should go out.
    pub(crate) fn next_refresh(&self, max_age: Duration) -> Option<Instant> {
        let periodic = self.last_refresh.map(|t| t + max_age);
        match (self.due, periodic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl ProducerCore {
    /// Sends a Metadata request if one is due and a connection is ready; opens a connection
    /// (to a known broker, else a bootstrap address, in rotation, honouring reconnect backoff)
    /// if none is.
    pub(super) fn metadata_step(&mut self, now: Instant) {
        if self.metadata.in_flight.is_some() || self.is_idle_closing() {
            return;
        }
        let due = self
            .metadata
            .next_refresh(self.config.metadata_max_age)
            .is_some_and(|t| now >= t);
        if !due {
            return;
        }
        if let Some((conn, version)) = self.conns.ready_for_metadata() {
            let body = MetadataRequest {
                topics: Some(self.topics.iter().map(|t| t.name.to_string()).collect()),
                allow_auto_topic_creation: self.config.allow_auto_create_topics,
            };
            let kind = RequestKind::Metadata { version };
            self.metadata.asked = self.topics.len();
            self.metadata.in_flight = self.transmit(conn, version, &body, Some(kind), now);
            self.metadata.due = None;
            return;
        }
        if self.conns.any_opening() {
            return; // wait for it
        }
        let mut targets: Vec<Target> = self
            .metadata
            .brokers
            .keys()
            .map(|n| Target::Node(*n))
            .collect();
        targets.extend((0..self.config.bootstrap_servers.len()).map(Target::Bootstrap));
        let n = targets.len();
        for i in 0..n {
            let target = targets[(self.conns.rotation + i) % n];
            if self.conns.may_connect(target, now) {
                self.conns.rotation = (self.conns.rotation + i + 1) % n;
                if self.open_conn(target, now).is_some() {
                    return;
                }
            }
        }
    }

    /// The Metadata request failed (its connection ended): try again after the backoff.
    pub(super) fn metadata_failed(&mut self, rref: RequestRef, now: Instant) {
        if self.metadata.in_flight == Some(rref) {
            self.metadata.in_flight = None;
        }
        let backoff = self.metadata_backoff();
        self.metadata.request_after_backoff(now, backoff);
    }

    /// A Metadata answer arrived.
    pub(super) fn on_metadata(
        &mut self,
        rref: RequestRef,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) {
        let resp = match protocol::decode_response::<MetadataRequest>(version, frame) {
            Ok((_, r)) => {
                self.conn_proved(rref.conn);
                r
            }
            Err(e) => {
                self.metadata_failed(rref, now);
                let detail = format!("Metadata v{version} answer does not decode: {e}");
                return self.malformed(rref.conn, detail, now);
            }
        };
        // The topics this answer was asked about: the first `asked` (topics are only ever
        // appended), when it answers the request we know; none we can be sure of otherwise.
        let asked = if self.metadata.in_flight == Some(rref) {
            self.metadata.in_flight = None;
            self.metadata.asked
        } else {
            0
        };
        self.metadata.last_refresh = Some(now);
        self.apply_metadata(resp, asked, now);
    }

    fn apply_metadata(&mut self, resp: MetadataResponse, asked: usize, now: Instant) {
        let mut brokers = BTreeMap::new();
        for b in &resp.brokers {
            if let Ok(port) = u16::try_from(b.port) {
                let address = BrokerAddress {
                    host: b.host.clone(),
                    port,
                };
                brokers.insert(b.node_id, address);
            }
        }
        self.metadata.brokers = brokers;
        let by_name: HashMap<&str, usize> = resp
            .topics
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        for i in 0..self.topics.len() {
            let t = TopicIdx(i);
            let found = by_name
                .get(self.topics[t].name.as_str())
                .map(|&i| &resp.topics[i]);
            let usable = found.filter(|m| m.error_code == 0 && !m.partitions.is_empty());
            let Some(m) = usable else {
                if found.is_none() && self.topics[t].meta == TopicMeta::Unknown && i >= asked {
                    // Not in the answer at all: the request went out before this topic was
                    // seen (Kafka answers every topic it is asked about, with an error when
                    // it does not exist). Ask again rather than count it as unknown.
                    self.metadata.request_now(now);
                } else if self.topics[t].meta == TopicMeta::Unknown {
                    // With an error, or left out of an answer that was asked about it (a
                    // broker that does that every time must not make us ask in a loop).
                    // No error but no partitions either: not usable yet, as
                    // LEADER_NOT_AVAILABLE would say (never "failed with NONE").
                    let code = match found {
                        None => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        Some(m) if m.error_code == 0 => ErrorCode::LEADER_NOT_AVAILABLE,
                        Some(m) => ErrorCode(m.error_code),
                    };
                    self.topic_unknown(t, code);
                } else {
                    // A topic we knew went missing from the answer: find the leaders again soon.
                    self.metadata.answer_incomplete = true;
                }
                continue;
            };
            let Some(count) = checked_partition_count(m) else {
                // Malformed for this topic (sparse, duplicate, negative or huge indices):
                // like an undecodable answer, change nothing and ask again after a backoff.
                self.metadata.answer_incomplete = true;
                continue;
            };
            let brokers = &self.metadata.brokers;
            let (leaderless, changed) = self.topics[t]
                .apply_answer(m, count, |node| node >= 0 && brokers.contains_key(&node));
            if leaderless {
                self.metadata.answer_incomplete = true;
            }
            // The answer lists every partition of the topic; those whose leader changed are
            // marked for the next pass (a partition waiting for a leader included).
            self.visited += self.topics[t].partitions.len() as u64;
            for (index, leader) in changed {
                let at = PartitionRef { topic: t, index };
                self.dirty.mark(at);
                let name = &self.topics[t].name;
                self.outbox.count_leader_change(at, name, leader);
            }
        }
        if std::mem::take(&mut self.metadata.answer_incomplete) {
            let backoff = self.metadata_backoff();
            self.metadata.request_after_backoff(now, backoff);
        } else {
            self.metadata.failures = 0;
        }
        self.release_waiting(now);
    }

    /// The backoff before the next metadata refresh after an answer that failed or left
    /// something to find (a missing topic, a leaderless partition holding records, a
    /// malformed topic): exponential in the failures in a row, capped at
    /// `retry.backoff.max.ms`, with jitter ([`ProducerCore::retry_backoff_for`]). A complete
    /// answer resets the count.
    pub(super) fn metadata_backoff(&mut self) -> Duration {
        self.metadata.failures = self.metadata.failures.saturating_add(1);
        self.retry_backoff_for(self.metadata.failures)
    }
}

impl TopicState {
    /// Applies the topic's entry `m` of a Metadata answer (`count` partitions, checked by
    /// [`checked_partition_count`]): the topic is known, grows to `count` partitions, and each
    /// partition's leader is the one named if `is_broker` says it names a broker of the
    /// answer, else none; [`writable`](TopicState::writable) follows. Returns whether a
    /// partition holding records is left without a leader, and the partitions whose leader
    /// changed.
    fn apply_answer(
        &mut self,
        m: &protocol::MetadataTopic,
        count: usize,
        is_broker: impl Fn(i32) -> bool,
    ) -> (bool, Vec<(usize, Option<i32>)>) {
        self.meta = TopicMeta::Known;
        self.unknown_answers = 0;
        if self.partitions.len() < count {
            self.partitions
                .resize_with(count, || PartitionState::new(None));
        }
        let mut leaders = vec![None; self.partitions.len()];
        for p in &m.partitions {
            if let (true, Ok(i)) = (is_broker(p.leader_id), usize::try_from(p.partition_index)) {
                if let Some(slot) = leaders.get_mut(i) {
                    *slot = Some(p.leader_id);
                }
            }
        }
        let mut leaderless = false;
        let mut writable = Vec::new();
        let mut changed = Vec::new();
        for (i, (part, leader)) in self.partitions.iter_mut().zip(leaders).enumerate() {
            if part.leader != leader {
                changed.push((i, leader));
            }
            part.leader = leader;
            leaderless |= leader.is_none() && part.held() > 0;
            if leader.is_some() {
                writable.push(i as i32);
            }
        }
        // Every partition writable, or none: every partition is a candidate.
        if writable.len() == self.partitions.len() {
            writable.clear();
        }
        self.writable = writable;
        (leaderless, changed)
    }
}

/// The most partitions one topic may have in a Metadata answer. Kafka sets no limit, but no
/// real topic comes near this; it bounds what one answer can make the core allocate.
pub(crate) const MAX_PARTITIONS_PER_TOPIC: usize = 1 << 18;

/// The partition count of a topic in a Metadata answer, if its partition indices are exactly
/// `0..count` in some order (each once) and `count` is at most
/// [`MAX_PARTITIONS_PER_TOPIC`]. Indices are untrusted: a sparse, duplicate, negative or huge
/// one makes the topic's entry malformed (`None`), and nothing is sized by an index.
fn checked_partition_count(m: &protocol::MetadataTopic) -> Option<usize> {
    let count = m.partitions.len();
    if count > MAX_PARTITIONS_PER_TOPIC {
        return None;
    }
    let mut seen = vec![false; count];
    for p in &m.partitions {
        let i = usize::try_from(p.partition_index).ok()?;
        let slot = seen.get_mut(i)?;
        if std::mem::replace(slot, true) {
            return None;
        }
    }
    Some(count)
}
