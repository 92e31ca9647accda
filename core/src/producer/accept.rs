//! The accepting stage (Sarama's `asyncProducer.dispatcher`): topic validation, record
//! acceptance with its fast refusals, `buffer.memory` accounting, and the two ways a record
//! leaves the producer (delivered or failed), each counted exactly once.

use super::partition::PartitionRef;
use super::topic::TopicIdx;
use super::ProducerCore;
use crate::config::MessageFormat;
use crate::error::{ProduceError, SendError, SendErrorKind};
use crate::message::{Record, RecordId, TopicName};
use crate::output::{Delivery, Output};
use crate::record::{BatchBuilder, RecordError, RecordFormat};
use crate::time::Instant;

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
    /// Appends the record to `builder`, with the timestamp written at `send`.
    #[inline]
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

impl ProducerCore {
    /// `send`'s checks and acceptance; see [`ProducerCore::send`].
    // The error hands the record back by value: that is the point of it.
    #[allow(clippy::result_large_err)]
    pub(super) fn accept_record(
        &mut self,
        record: Record,
        now: Instant,
    ) -> Result<RecordId, SendError> {
        let refuse = |kind, record| Err(SendError { kind, record });
        if self.closing {
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
        let format = sizing_format(self.config.message_format);
        let size = record_bound(format, &record);
        let encoded = size + BatchBuilder::overhead(format);
        if encoded > self.config.message_max_bytes {
            let max = self.config.message_max_bytes;
            return refuse(SendErrorKind::RecordTooLarge { size: encoded, max }, record);
        }
        // Each record is charged at least the smallest batch it could need on its own (a
        // buffer of the smallest size class holding the header and the record, and one list
        // slot), from here to its outcome; joining a batch never raises the bytes in use past
        // the budget (`PartitionState::append`), so this check keeps them within it. The one
        // exception: a record is always accepted when nothing else is held.
        let reserve = self.limits.reserve(size);
        let cost = size.saturating_add(reserve);
        if self.pending_records > 0
            && self.recycler.in_use().saturating_add(cost) > self.recycler.budget
        {
            return refuse(SendErrorKind::BufferFull, record);
        }
        if let Some(t) = known {
            if self.topics[t].breaker.is_open(now) {
                let topic = record.topic.clone();
                return refuse(SendErrorKind::BreakerOpen(topic), record);
            }
        }
        // Accepted: from here on the record has exactly one outcome.
        let id = RecordId(self.next_record_id);
        self.next_record_id += 1;
        self.recycler.sized += size;
        self.recycler.charged += reserve;
        self.pending_records += 1;
        let pending = AcceptedRecord {
            id,
            timestamp: record.timestamp.unwrap_or_else(|| now.as_unix_millis()),
            record,
            size,
            held: reserve,
            retries: 0,
            deadline: self.config.delivery_timeout.map(|d| now + d),
        };
        let t = match known {
            Some(t) => t,
            None => {
                let t = self.topic_for(&pending.record.topic.clone(), now);
                self.last_topic = Some((pending.record.topic.clone(), t));
                t
            }
        };
        self.route_new(t, pending, now);
        Ok(id)
    }

    /// The index of a topic already seen. The last topic looked up is remembered, and a
    /// record naming the same shared `TopicName` (the usual case: one clone per record) is
    /// matched by pointer, without hashing the name.
    #[inline]
    fn known_topic(&mut self, topic: &TopicName) -> Option<TopicIdx> {
        if let Some((last, t)) = &self.last_topic {
            let same = std::ptr::eq(last.as_str(), topic.as_str()) || last == topic;
            if same {
                return Some(*t);
            }
        }
        let t = *self.topic_index.get(topic)?;
        self.last_topic = Some((topic.clone(), t));
        Some(t)
    }

    /// The records of one batch were appended to partition `at` from `base_offset` on (`-1`:
    /// no offsets, `acks=0`), at the broker's `log_append` time (`-1`: `CreateTime`): emit one
    /// `Delivered` for them all and release their memory.
    pub(super) fn deliver_batch(
        &mut self,
        records: Vec<AcceptedRecord>,
        at: PartitionRef,
        base_offset: i64,
        log_append: i64,
    ) {
        if records.is_empty() {
            return;
        }
        let (bytes, held) = records
            .iter()
            .fold((0, 0), |(b, h), p| (b + p.size, h + p.held));
        self.recycler.sized -= bytes;
        self.recycler.charged -= held;
        self.pending_records -= records.len();
        self.outbox.counters.records_delivered += records.len() as u64;
        if self.metadata.close_progress.is_some() {
            // A close without a delivery timeout waits while records keep being delivered.
            self.metadata.close_progress = Some(self.last_now);
        }
        self.outbox.push(Output::Delivered(Delivery {
            topic: self.topics[at.topic].name.clone(),
            partition: at.number(),
            base_offset,
            log_append_time: log_append,
            records,
        }));
    }

    /// The record failed for good: emit `Failed` and release its memory.
    pub(super) fn fail(&mut self, p: AcceptedRecord, error: ProduceError) {
        self.release(&p);
        self.outbox.count_failed(&p.record.topic, &error);
        self.outbox.push(Output::Failed {
            id: p.id,
            error,
            record: p.record,
        });
    }

    /// Fails every record in `records` with `error`.
    pub(super) fn fail_all(
        &mut self,
        records: impl IntoIterator<Item = AcceptedRecord>,
        error: &ProduceError,
    ) {
        for p in records {
            self.fail(p, error.clone());
        }
    }

    fn release(&mut self, p: &AcceptedRecord) {
        self.recycler.sized -= p.size;
        self.recycler.charged -= p.held;
        self.pending_records -= 1;
    }

    /// The error for a record whose topic the cluster does not know.
    pub(super) fn unknown_topic(topic: &TopicName) -> ProduceError {
        ProduceError::UnknownTopic(topic.clone())
    }
}

impl ProducerCore {
    /// A record handed to partition `at` (Sarama's `partitionProducer.dispatch` for one
    /// message).
    #[inline]
    pub(super) fn accept_into_partition(
        &mut self,
        at: PartitionRef,
        p: AcceptedRecord,
        now: Instant,
    ) {
        let limits = self.limits;
        let part = &mut self.topics[at.topic].partitions[at.index];
        let sealed = if part.must_buffer(p.retries, now) {
            part.buffer(p);
            0
        } else {
            part.append(p, &limits, now, &mut self.recycler)
        };
        // Only a buffered record can find the partition without a leader (the gate is shut).
        let leaderless = part.leader.is_none();
        self.touched = Some(at);
        if leaderless {
            // Re-resolve the leader.
            self.metadata
                .request_after_backoff(now, self.config.retry_backoff);
        }
        self.batches_sealed(at, sealed);
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
