//! The accept stage (Sarama's `asyncProducer.dispatcher` and `topicProducer`): topic
//! validation, record acceptance with its fast refusals and its `buffer.memory` charge, the
//! topic table (a record waits in its topic until the topic's metadata is known), the choice
//! of partition, and the hand-over to the partition ([`super::partition`]). The two ways a
//! record leaves the producer (delivered or failed) are the outbox's ([`super::outbox`]).

use super::batch::BatchLimits;
use super::dirty::DirtySet;
use super::metadata::MetadataState;
use super::outbox::Outbox;
use super::partition::PartitionRef;
use super::recycle::Recycler;
use super::topic::{Breaker, TopicIdx, TopicMeta, TopicState};
use crate::config::{Config, MessageFormat};
use crate::error::{ProduceError, SendError, SendErrorKind};
use crate::message::{Record, RecordId, TopicName};
use crate::protocol::ErrorCode;
use crate::record::{BatchBuilder, RecordError, RecordFormat};
use crate::rng::Rng;
use crate::time::Instant;
use std::collections::HashMap;
use std::collections::VecDeque;

/// A record the producer holds: accepted by `send`, not yet given an outcome.
#[derive(Debug)]
pub(crate) struct AcceptedRecord {
    /// The id `send` returned.
    pub id: RecordId,
    /// The record itself (handed back with its outcome).
    pub record: Record,
    /// The timestamp written to the batch (the record's own, or `now` at `send`).
    pub timestamp: i64,
    /// Bytes charged against `buffer.memory` for this record (its encoded size bound).
    pub size: usize,
    /// Bytes of batch capacity charged to this record against `buffer.memory` (besides
    /// `size`): at least [`BatchLimits::reserve`](super::batch::BatchLimits::reserve)
    /// (what a batch of this record alone takes), or what its batch's buffer and record list
    /// grew by, or were taken with, when it joined ([`super::partition::PartitionState::append`])
    /// if that is more. Counted in [`Recycler::charged`](super::recycle::Recycler::charged)
    /// until the record's outcome.
    pub held: usize,
    /// The record's **retry level** (Sarama's `msg.retries`): how many times it came back with
    /// a retriable error. A partition only lets records of its high watermark level through;
    /// see [`super::partition`].
    pub retries: u32,
    /// When `delivery.timeout.ms` runs out for it, if configured.
    pub deadline: Option<Instant>,
}

impl AcceptedRecord {
    /// Appends the record to `builder`, with the timestamp written at `send`. Kept out of
    /// line: inlined into `send` it costs more instructions per record (callgrind, 4
    /// partitions: 1,529 inlined, 1,494 as a call).
    #[inline(never)]
    pub(crate) fn encode_into(&self, builder: &mut BatchBuilder) -> Result<(), RecordError> {
        let r = &self.record;
        builder.append(
            self.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        )
    }
}

/// Why a topic name is not one Kafka accepts, or `None` if it is fine.
pub(crate) fn topic_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty");
    }
    if name.len() > 249 {
        return Some("longer than 249 characters");
    }
    if name == "." || name == ".." {
        return Some("\".\" and \"..\" are not allowed");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Some("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    None
}

/// The record format used to bound sizes before the broker's format is known.
pub(crate) fn sizing_format(format: MessageFormat) -> RecordFormat {
    match format {
        MessageFormat::Auto => RecordFormat::V2,
        MessageFormat::MessageSetV0 => RecordFormat::V0,
        MessageFormat::MessageSetV1 => RecordFormat::V1,
    }
}

/// Bytes one record adds to a batch, as an upper bound.
#[inline]
pub(crate) fn record_bound(format: RecordFormat, record: &Record) -> usize {
    BatchBuilder::record_size_bound(
        format,
        record.key.as_deref(),
        record.value.as_deref(),
        &record.headers,
    )
}

/// The accept stage's own state: the topic index, the last topic looked up, record ids, and
/// the partition the current `send` handed its record to.
#[derive(Debug, Default)]
pub(crate) struct Accept {
    /// Topic names to their index in the topic table.
    index: HashMap<TopicName, TopicIdx>,
    /// The last topic looked up, to skip hashing its name for the next record.
    last: Option<(TopicName, TopicIdx)>,
    /// The id the next accepted record gets (ids grow in `send` order).
    pub next_record_id: u64,
    /// The partition the current `send` handed its record to, if any.
    pub touched: Option<PartitionRef>,
}

/// What the accept stage works with besides its own state: split borrows of the producer's
/// fields, for one call.
pub(crate) struct AcceptCx<'a> {
    /// The topic table (each topic's partitions: the accumulator's state).
    pub topics: &'a mut Vec<TopicState>,
    /// The configuration in force.
    pub config: &'a Config,
    /// Batch limits and the record format to encode into.
    pub limits: &'a BatchLimits,
    /// Buffers, and the `buffer.memory` charge.
    pub pool: &'a mut Recycler,
    /// Where outcomes go.
    pub out: &'a mut Outbox,
    /// Asked for a refresh when a topic or a leader is missing.
    pub metadata: &'a mut MetadataState,
    /// Seeds each topic's partitioner.
    pub rng: &'a mut Rng,
    /// Partitions changed outside a `send` (records released after a metadata answer).
    pub dirty: &'a mut DirtySet,
    /// Whether `close` was called (new records are refused).
    pub closing: bool,
}

/// The error for a record whose topic the cluster does not know.
pub(crate) fn unknown_topic(topic: &TopicName) -> ProduceError {
    ProduceError::UnknownTopic(topic.clone())
}

impl Accept {
    /// `send`'s checks and acceptance; see [`ProducerCore::send`].
    // The error hands the record back by value: that is the point of it.
    #[allow(clippy::result_large_err)]
    #[inline]
    pub(crate) fn accept(
        &mut self,
        record: Record,
        cx: &mut AcceptCx<'_>,
        now: Instant,
    ) -> Result<RecordId, SendError> {
        let refuse = |kind, record| Err(SendError { kind, record });
        if cx.closing {
            return refuse(SendErrorKind::Closed, record);
        }
        // A topic seen before passed the name check when it was first sent to.
        let known = self.known_topic(&record.topic);
        if known.is_none() {
            if let Some(reason) = topic_name_problem(record.topic.as_str()) {
                let topic = record.topic.as_str().to_owned();
                return refuse(SendErrorKind::InvalidTopic { topic, reason }, record);
            }
        }
        if let Some(p) = record.partition {
            if p < 0 {
                return refuse(SendErrorKind::InvalidPartition(p), record);
            }
        }
        let format = sizing_format(cx.config.message_format);
        let size = record_bound(format, &record);
        let encoded = size + BatchBuilder::overhead(format);
        if encoded > cx.config.message_max_bytes {
            let max = cx.config.message_max_bytes;
            return refuse(SendErrorKind::RecordTooLarge { size: encoded, max }, record);
        }
        // Each record is charged at least the smallest batch it could need on its own (a
        // buffer of the smallest size class holding the header and the record, and one list
        // slot), from here to its outcome; joining a batch never raises the bytes in use past
        // the budget (`PartitionState::append`), so this check keeps them within it. The one
        // exception: a record is always accepted when nothing else is held.
        let reserve = cx.limits.reserve(size);
        let cost = size.saturating_add(reserve);
        if cx.out.pending > 0 && cx.pool.in_use().saturating_add(cost) > cx.pool.budget {
            return refuse(SendErrorKind::BufferFull, record);
        }
        if let Some(t) = known {
            if cx.topics[t].breaker.is_open(now) {
                let topic = record.topic.clone();
                return refuse(SendErrorKind::BreakerOpen(topic), record);
            }
        }
        // Accepted: from here on the record has exactly one outcome.
        let id = RecordId(self.next_record_id);
        self.next_record_id += 1;
        cx.pool.sized += size;
        cx.pool.charged += reserve;
        cx.out.pending += 1;
        let pending = AcceptedRecord {
            id,
            timestamp: record.timestamp.unwrap_or_else(|| now.as_unix_millis()),
            record,
            size,
            held: reserve,
            retries: 0,
            deadline: cx.config.delivery_timeout.map(|d| now + d),
        };
        let t = match known {
            Some(t) => t,
            None => {
                let t = self.topic_for(&pending.record.topic.clone(), cx, now);
                self.last = Some((pending.record.topic.clone(), t));
                t
            }
        };
        self.route_new(t, pending, cx, now);
        Ok(id)
    }

    /// The index of a topic already seen. The last topic looked up is remembered, and a
    /// record naming the same shared `TopicName` (the usual case: one clone per record) is
    /// matched by pointer, without hashing the name.
    #[inline]
    fn known_topic(&mut self, topic: &TopicName) -> Option<TopicIdx> {
        if let Some((last, t)) = &self.last {
            let same = std::ptr::eq(last.as_str(), topic.as_str()) || last == topic;
            if same {
                return Some(*t);
            }
        }
        let t = *self.index.get(topic)?;
        self.last = Some((topic.clone(), t));
        Some(t)
    }

    /// A record handed to partition `at` (Sarama's `partitionProducer.dispatch` for one
    /// message).
    #[inline]
    fn accept_into_partition(
        &mut self,
        at: PartitionRef,
        p: AcceptedRecord,
        cx: &mut AcceptCx<'_>,
        now: Instant,
    ) {
        let limits = *cx.limits;
        let part = &mut cx.topics[at.topic].partitions[at.index];
        let sealed = if part.must_buffer(p.retries, now) {
            part.buffer(p);
            0
        } else {
            part.append(p, &limits, now, cx.pool)
        };
        // Only a buffered record can find the partition without a leader (the gate is shut).
        let leaderless = part.leader.is_none();
        self.touched = Some(at);
        if leaderless {
            // Re-resolve the leader.
            cx.metadata
                .request_after_backoff(now, cx.config.retry_backoff);
        }
        for _ in 0..sealed {
            cx.topics[at.topic].partitioner.on_batch_sealed();
        }
    }

    /// The topic's index, creating its state (and asking for its metadata) on first use.
    fn topic_for(&mut self, name: &TopicName, cx: &mut AcceptCx<'_>, now: Instant) -> TopicIdx {
        if let Some(&t) = self.index.get(name) {
            return t;
        }
        let seed = cx.rng.next_u64();
        let state = TopicState {
            name: name.clone(),
            partitioner: cx.config.partitioner.build(name, seed),
            breaker: Breaker::new(cx.config.breaker_error_threshold, cx.config.breaker_timeout),
            meta: TopicMeta::Unknown,
            waiting: VecDeque::new(),
            unknown_answers: 0,
            partitions: Vec::new(),
            writable: Vec::new(),
        };
        cx.topics.push(state);
        let t = TopicIdx(cx.topics.len() - 1);
        self.index.insert(name.clone(), t);
        // A new topic needs metadata now, without backoff.
        cx.metadata.request_now(now);
        t
    }

    /// A freshly accepted record: partition it if the topic's metadata is known, else wait.
    ///
    /// A record that starts a wait for an unknown topic asks for metadata (unless a refresh is
    /// already due or out): the topic may have been given up on as unknown before, which left
    /// no refresh pending but the periodic one.
    #[inline]
    fn route_new(&mut self, t: TopicIdx, p: AcceptedRecord, cx: &mut AcceptCx<'_>, now: Instant) {
        if cx.topics[t].meta == TopicMeta::Unknown || !cx.topics[t].waiting.is_empty() {
            let topic = &mut cx.topics[t];
            if topic.meta == TopicMeta::Unknown
                && topic.waiting.is_empty()
                && cx.metadata.due.is_none()
                && cx.metadata.in_flight.is_none()
            {
                cx.metadata.request_now(now);
            }
            topic.waiting.push_back(p);
            return;
        }
        self.partition_and_accept(t, p, cx, now);
    }

    /// Sarama's `partitionMessage`: choose the partition (the record's own, or the
    /// partitioner's), then hand the record to that partition's stage.
    ///
    /// A record that need not map to a fixed partition
    /// ([`Partitioner::requires_consistency_for`] is false: keyless records, the random,
    /// round-robin and sticky partitioners) is placed among the partitions that have a leader
    /// ([`TopicState::writable`]), so it neither waits on a leaderless partition nor keeps the
    /// sticky partitioner there; the partitioner picks an index among those.
    #[inline]
    fn partition_and_accept(
        &mut self,
        t: TopicIdx,
        p: AcceptedRecord,
        cx: &mut AcceptCx<'_>,
        now: Instant,
    ) {
        match cx.topics[t].choose_partition(&p.record, now) {
            Ok(index) => self.accept_into_partition(PartitionRef { topic: t, index }, p, cx, now),
            Err(e) => cx.out.fail(cx.pool, p, e),
        }
    }

    /// After a metadata answer: hand each known topic's waiting records on, in send order, and
    /// fail those of topics the cluster still does not know after `retries` answers.
    pub(crate) fn release_waiting(&mut self, cx: &mut AcceptCx<'_>, now: Instant) {
        for t in (0..cx.topics.len()).map(TopicIdx) {
            match cx.topics[t].meta {
                TopicMeta::Known => {
                    while let Some(p) = cx.topics[t].waiting.pop_front() {
                        self.touched = None;
                        self.partition_and_accept(t, p, cx, now);
                        if let Some(at) = self.touched.take() {
                            cx.dirty.mark(at);
                        }
                    }
                }
                TopicMeta::Unknown => {}
            }
        }
    }

    /// The cluster answered that topic `t` does not exist (or could not be described, `code`).
    pub(crate) fn topic_unknown(&self, t: TopicIdx, code: ErrorCode, cx: &mut AcceptCx<'_>) {
        let topic = &mut cx.topics[t];
        let retriable = code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            || code == ErrorCode::LEADER_NOT_AVAILABLE
            || code.is_retriable();
        topic.unknown_answers += 1;
        if retriable && topic.unknown_answers <= cx.config.retries {
            if !topic.waiting.is_empty() {
                // Asked again after the metadata backoff, once the whole answer is applied.
                cx.metadata.answer_incomplete = true;
            }
            return;
        }
        let error = if code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION {
            unknown_topic(&topic.name)
        } else {
            ProduceError::Broker(code)
        };
        topic.unknown_answers = 0;
        let waiting: Vec<AcceptedRecord> = topic.waiting.drain(..).collect();
        cx.out.fail_all(cx.pool, waiting, &error);
    }
}

#[cfg(test)]
mod tests {
    use super::topic_name_problem;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(topic_name_problem("events.v1_a-b").is_none());
        assert!(topic_name_problem("").is_some());
        assert!(topic_name_problem(".").is_some());
        assert!(topic_name_problem("..").is_some());
        assert!(topic_name_problem("a b").is_some());
        assert!(topic_name_problem("ü").is_some());
        assert!(topic_name_problem(&"x".repeat(249)).is_none());
        assert!(topic_name_problem(&"x".repeat(250)).is_some());
    }
}
