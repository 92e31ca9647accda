//! Metadata: bootstrap, Metadata requests for every topic the producer has seen, applying the
//! answer (brokers, partition counts, leaders), and refreshes — soon after errors (with
//! `retry.backoff.ms`, growing exponentially up to `retry.backoff.max.ms` while errors go on)
//! and at least every `metadata.max.age.ms`.
//!
//! Answers are untrusted: a topic whose partition indices are not exactly `0..count` (sparse,
//! duplicate, negative, or more than [`MAX_PARTITIONS_PER_TOPIC`]) is treated as malformed —
//! nothing changes for it and metadata is asked again after a backoff — and a leader id that
//! names no broker of the answer makes its partition leaderless.

use super::connection::{Connections, Io, RequestKind, RequestRef, Target};
use super::leader_hint::LeaderEpoch;
use super::partition::PartitionState;
use super::responses::retry_backoff;
use super::topic::{TopicMeta, TopicState};
use crate::config::Config;
use crate::output::BrokerAddress;
use crate::protocol::{self, ErrorCode, MetadataRequest, MetadataResponse};
use crate::rng::Rng;
use crate::time::Instant;
use std::collections::BTreeMap;
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
    /// exponential refresh backoff ([`MetadataState::backoff`]).
    pub failures: u32,
    /// How many topics (the first ones of `ProducerCore::topics`) the Metadata request in
    /// flight asked about.
    pub asked: usize,
    /// Set while an answer is applied when it left something to find.
    pub answer_incomplete: bool,
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

/// What a Metadata answer says about one topic, for the router to act on.
pub(crate) enum TopicAnswer {
    /// Nothing to act on now (asked again, or left for a later answer).
    Skipped,
    /// The topic is not usable (`code` says why): its waiting records may fail.
    Unknown(ErrorCode),
    /// The topic's partitions and leaders were applied; these partitions' leaders changed.
    Leaders(Vec<(usize, Option<i32>)>),
}

impl MetadataState {
    /// Sends a Metadata request for `topics` if one is due and a connection is ready; opens
    /// a connection (to a known broker, else a bootstrap address, in rotation, honouring
    /// reconnect backoff) if none is. Nothing while a request is out or the producer is
    /// closing with nothing left (`idle_closing`).
    pub(crate) fn step(
        &mut self,
        conns: &mut Connections,
        topics: &[TopicState],
        idle_closing: bool,
        io: &mut Io<'_>,
        now: Instant,
    ) {
        if self.in_flight.is_some() || idle_closing {
            return;
        }
        let due = self
            .next_refresh(io.config.metadata_max_age)
            .is_some_and(|t| now >= t);
        if !due {
            return;
        }
        if let Some((conn, version)) = conns.ready_for_metadata() {
            let body = MetadataRequest {
                topics: Some(topics.iter().map(|t| t.name.to_string()).collect()),
                allow_auto_topic_creation: io.config.allow_auto_create_topics,
            };
            let kind = RequestKind::Metadata { version };
            self.asked = topics.len();
            self.in_flight = conns.transmit(conn, version, &body, Some(kind), io, now);
            self.due = None;
            return;
        }
        if conns.any_opening() {
            return; // wait for it
        }
        let mut targets: Vec<Target> = self.brokers.keys().map(|n| Target::Node(*n)).collect();
        targets.extend((0..io.config.bootstrap_servers.len()).map(Target::Bootstrap));
        let n = targets.len();
        for i in 0..n {
            let target = targets[(conns.rotation + i) % n];
            if conns.may_connect(target, now) {
                conns.rotation = (conns.rotation + i + 1) % n;
                if conns.connect(target, &self.brokers, io, now).is_some() {
                    return;
                }
            }
        }
    }

    /// The Metadata request `rref` failed (its connection ended): try again after the
    /// backoff.
    pub(crate) fn failed(
        &mut self,
        rref: RequestRef,
        config: &Config,
        rng: &mut Rng,
        now: Instant,
    ) {
        if self.in_flight == Some(rref) {
            self.in_flight = None;
        }
        let backoff = self.backoff(config, rng);
        self.request_after_backoff(now, backoff);
    }

    /// The backoff before the next metadata refresh after an answer that failed or left
    /// something to find (a missing topic, a leaderless partition holding records, a
    /// malformed topic): exponential in the failures in a row, capped at
    /// `retry.backoff.max.ms`, with jitter ([`retry_backoff`]). A complete answer resets the
    /// count.
    pub(crate) fn backoff(&mut self, config: &Config, rng: &mut Rng) -> Duration {
        self.failures = self.failures.saturating_add(1);
        retry_backoff(config, rng, self.failures)
    }

    /// A Metadata answer to `rref` arrived: decoded, with how many of the producer's topics
    /// it was asked about (the first `asked`: topics are only ever appended; none we can be
    /// sure of when it answers a request we do not know). An answer that does not decode
    /// fails the request and says how (`Err`).
    pub(crate) fn decode(
        &mut self,
        rref: RequestRef,
        version: i16,
        frame: &[u8],
        conns: &mut Connections,
        (config, rng): (&Config, &mut Rng),
        now: Instant,
    ) -> Result<(MetadataResponse, usize), String> {
        let resp = match protocol::decode_response::<MetadataRequest>(version, frame) {
            Ok((_, r)) => {
                conns.proved(rref.conn);
                r
            }
            Err(e) => {
                self.failed(rref, config, rng, now);
                return Err(format!("Metadata v{version} answer does not decode: {e}"));
            }
        };
        let asked = if self.in_flight == Some(rref) {
            self.in_flight = None;
            self.asked
        } else {
            0
        };
        self.last_refresh = Some(now);
        Ok((resp, asked))
    }

    /// The brokers an answer names (those with a usable port).
    pub(crate) fn set_brokers(&mut self, resp: &MetadataResponse) {
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
        self.brokers = brokers;
    }

    /// Applies an answer's entry `found` for `topic` (`unasked`: the request went out
    /// before the topic was seen).
    pub(crate) fn apply_topic(
        &mut self,
        topic: &mut TopicState,
        found: Option<&protocol::MetadataTopic>,
        unasked: bool,
        now: Instant,
    ) -> TopicAnswer {
        let usable = found.filter(|m| m.error_code == 0 && !m.partitions.is_empty());
        let Some(m) = usable else {
            if found.is_none() && topic.meta == TopicMeta::Unknown && unasked {
                // Not in the answer at all: the request went out before this topic was
                // seen (Kafka answers every topic it is asked about, with an error when
                // it does not exist). Ask again rather than count it as unknown.
                self.request_now(now);
            } else if topic.meta == TopicMeta::Unknown {
                // With an error, or left out of an answer that was asked about it (a
                // broker that does that every time must not make us ask in a loop).
                // No error but no partitions either: not usable yet, as
                // LEADER_NOT_AVAILABLE would say (never "failed with NONE").
                return TopicAnswer::Unknown(match found {
                    None => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    Some(m) if m.error_code == 0 => ErrorCode::LEADER_NOT_AVAILABLE,
                    Some(m) => ErrorCode(m.error_code),
                });
            } else {
                // A topic we knew went missing from the answer: find the leaders again soon.
                self.answer_incomplete = true;
            }
            return TopicAnswer::Skipped;
        };
        let Some(count) = checked_partition_count(m) else {
            // Malformed for this topic (sparse, duplicate, negative or huge indices):
            // like an undecodable answer, change nothing and ask again after a backoff.
            self.answer_incomplete = true;
            return TopicAnswer::Skipped;
        };
        let brokers = &self.brokers;
        let (leaderless, changed) =
            topic.apply_answer(m, count, |node| node >= 0 && brokers.contains_key(&node));
        if leaderless {
            self.answer_incomplete = true;
        }
        TopicAnswer::Leaders(changed)
    }

    /// Every topic of an answer was applied: if it left something to find, ask again after
    /// the backoff; else the failures in a row are over.
    pub(crate) fn answer_applied(&mut self, config: &Config, rng: &mut Rng, now: Instant) {
        if std::mem::take(&mut self.answer_incomplete) {
            let backoff = self.backoff(config, rng);
            self.request_after_backoff(now, backoff);
        } else {
            self.failures = 0;
        }
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
        let mut leaders = vec![(None, -1); self.partitions.len()];
        for p in &m.partitions {
            if let Some(slot) = usize::try_from(p.partition_index)
                .ok()
                .and_then(|i| leaders.get_mut(i))
            {
                *slot = (
                    is_broker(p.leader_id).then_some(p.leader_id),
                    p.leader_epoch,
                );
            }
        }
        let mut leaderless = false;
        let mut writable = Vec::new();
        let mut changed = Vec::new();
        for (i, (part, (leader, epoch))) in self.partitions.iter_mut().zip(leaders).enumerate() {
            let known = part.leader_epoch;
            let leader = if epoch >= 0 && epoch < known.epoch && is_broker(known.node) {
                // Older than what a leader hint (KIP-951) told: a stale broker's answer;
                // keep the newer leader, as Java's `Metadata` does.
                Some(known.node)
            } else {
                if epoch >= 0 || known.epoch < 0 {
                    part.leader_epoch = LeaderEpoch {
                        epoch,
                        node: leader.unwrap_or(-1),
                    };
                }
                leader
            };
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
