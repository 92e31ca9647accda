//! A topic's state (Sarama's `topicProducer`): one per topic, with its partitions, the
//! records waiting for its metadata, its partitioner, and a circuit breaker on injected time
//! (`Config::breaker_*`) that counts consecutive partitioner errors and, while open, makes
//! `send` refuse the topic. The accept stage ([`super::accept`]) drives it.

use super::accept::AcceptedRecord;
use super::partition::{Owner, PartitionState};
use super::recycle::Recycler;
use crate::error::ProduceError;
use crate::message::{Record, TopicName};
use crate::partitioner::Partitioner;
use crate::time::Instant;
use std::collections::VecDeque;
use std::time::Duration;

/// Names one topic of the producer: its index in [`ProducerCore`]'s topics. Topics are only
/// ever appended: a topic keeps its index for the producer's life, and the first `n` are the
/// `n` seen first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TopicIdx(pub usize);

impl std::ops::Index<TopicIdx> for Vec<TopicState> {
    type Output = TopicState;

    #[inline]
    fn index(&self, t: TopicIdx) -> &TopicState {
        &self[t.0]
    }
}

impl std::ops::IndexMut<TopicIdx> for Vec<TopicState> {
    #[inline]
    fn index_mut(&mut self, t: TopicIdx) -> &mut TopicState {
        &mut self[t.0]
    }
}

/// A circuit breaker: `threshold` consecutive errors open it for `timeout`; a success closes it.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    timeout: Duration,
    consecutive_errors: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, timeout: Duration) -> Self {
        Breaker {
            threshold,
            timeout,
            consecutive_errors: 0,
            open_until: None,
        }
    }

    /// Whether the breaker refuses work at `now`.
    pub(crate) fn is_open(&self, now: Instant) -> bool {
        self.open_until.is_some_and(|t| now < t)
    }

    pub(crate) fn success(&mut self) {
        self.consecutive_errors = 0;
        self.open_until = None;
    }

    pub(crate) fn error(&mut self, now: Instant) {
        self.consecutive_errors += 1;
        if self.threshold > 0 && self.consecutive_errors >= self.threshold {
            self.open_until = Some(now + self.timeout);
            self.consecutive_errors = 0;
        }
    }
}

/// What the cluster told us about a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicMeta {
    /// No metadata yet: records wait in [`TopicState::waiting`].
    Unknown,
    /// The topic exists with this many partitions.
    Known,
}

/// One topic's state.
pub(crate) struct TopicState {
    pub name: TopicName,
    pub partitioner: Box<dyn Partitioner>,
    pub breaker: Breaker,
    pub meta: TopicMeta,
    /// Records accepted before the topic's metadata was known, in send order.
    pub waiting: VecDeque<AcceptedRecord>,
    /// Metadata answers in a row that did not know the topic (auto-creation can take a moment).
    pub unknown_answers: u32,
    /// The partitions, by index.
    pub partitions: Vec<PartitionState>,
    /// The partitions the last metadata answer named a leader for, ascending — but empty when
    /// every partition has one, or none has (then every partition is a candidate, as in the
    /// Java client). Records the partitioner may place anywhere go only to these.
    pub writable: Vec<i32>,
}

impl std::fmt::Debug for TopicState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicState")
            .field("name", &self.name)
            .field("meta", &self.meta)
            .field("waiting", &self.waiting.len())
            .field("partitions", &self.partitions)
            .finish()
    }
}

/// Moves every record of partition `part` not in flight (its batches, retry batches and retry
/// buffers) to `out` (see [`TopicState::take_unsent`]).
pub(crate) fn take_unsent(
    part: &mut PartitionState,
    out: &mut Vec<AcceptedRecord>,
    owner: &mut Owner<'_>,
) {
    part.take_batches(out, owner);
    for level in &mut part.retry_state {
        out.extend(level.buf.drain(..));
    }
}

impl TopicState {
    /// Moves every record of the topic not in flight (waiting for metadata, in a partition's
    /// batches, retry batches or retry buffers) to `out`: a close without a delivery timeout
    /// gave up on them. That includes the retry batches (stamped, idempotence) — a sent batch
    /// waiting for a leader that may never come back would otherwise keep the close from
    /// ending (issue 21, bug 3); their sequences leave a hole, closed by an epoch bump.
    pub(crate) fn take_unsent(&mut self, out: &mut Vec<AcceptedRecord>, pool: &mut Recycler) {
        out.extend(self.waiting.drain(..));
        for (number, part) in self.partitions.iter_mut().enumerate() {
            let mut owner = Owner {
                topic: &self.name,
                number: number as i32,
                pool,
            };
            take_unsent(part, out, &mut owner);
        }
    }

    /// Moves the records waiting for the topic's metadata whose delivery deadline passed at
    /// `now` to `out` (those in partitions: [`PartitionState::take_expired`]).
    pub(crate) fn take_expired_waiting(&mut self, now: Instant, out: &mut Vec<AcceptedRecord>) {
        while self
            .waiting
            .front()
            .is_some_and(|p| p.deadline.is_some_and(|d| now >= d))
        {
            if let Some(p) = self.waiting.pop_front() {
                out.push(p);
            }
        }
    }

    /// The earliest delivery deadline of a record of the topic not in flight (a scan of its
    /// partitions, for debug builds' check of the fast wake-up).
    #[cfg(debug_assertions)]
    pub(crate) fn earliest_deadline(&self) -> Option<Instant> {
        self.waiting
            .front()
            .and_then(|p| p.deadline)
            .into_iter()
            .chain(self.partitions.iter().filter_map(|p| p.earliest_deadline()))
            .min()
    }

    /// Sarama's `partitionMessage`: the partition `record` goes to (its own, or the
    /// partitioner's, placed among [`writable`](Self::writable) when it need not map to a
    /// fixed partition), as an index into [`partitions`](Self::partitions). The breaker counts
    /// the partitioner's errors.
    pub(crate) fn choose_partition(
        &mut self,
        record: &Record,
        now: Instant,
    ) -> Result<usize, ProduceError> {
        let count = self.partitions.len() as i32;
        let chosen = match record.partition {
            Some(partition) if partition >= count => Err(ProduceError::PartitionOutOfRange {
                topic: self.name.clone(),
                partition,
                count,
            }),
            Some(partition) => Ok(partition),
            None if count == 0 => Err(ProduceError::Partitioner("topic has no partitions".into())),
            None => {
                let among = if self.writable.is_empty()
                    || self.partitioner.requires_consistency_for(record)
                {
                    None
                } else {
                    Some(&self.writable)
                };
                let n = among.map_or(count, |w| w.len() as i32);
                match self.partitioner.partition(record, n) {
                    Ok(choice) if (0..n).contains(&choice) => {
                        self.breaker.success();
                        Ok(among.map_or(choice, |w| w[choice as usize]))
                    }
                    Ok(choice) => {
                        self.breaker.error(now);
                        Err(ProduceError::Partitioner(format!(
                            "partitioner chose {choice} of {n} partitions"
                        )))
                    }
                    Err(reason) => {
                        self.breaker.error(now);
                        Err(ProduceError::Partitioner(reason))
                    }
                }
            }
        };
        chosen.map(|partition| partition as usize)
    }
}

/// Moves the batches of every partition led by `node` to `out` and marks those partitions
/// (an authentication failure with the leader). Returns how many partitions it looked at.
pub(crate) fn take_led_by(
    topics: &mut [TopicState],
    node: i32,
    out: &mut Vec<AcceptedRecord>,
    pool: &mut Recycler,
    dirty: &mut super::dirty::DirtySet,
) -> u64 {
    let mut visited = 0;
    for (t, topic) in topics.iter_mut().enumerate() {
        visited += topic.partitions.len() as u64;
        for (index, part) in topic.partitions.iter_mut().enumerate() {
            if part.leader == Some(node) {
                let mut owner = Owner {
                    topic: &topic.name,
                    number: index as i32,
                    pool,
                };
                part.take_batches(out, &mut owner);
                dirty.mark(super::PartitionRef {
                    topic: TopicIdx(t),
                    index,
                });
            }
        }
    }
    visited
}

/// Moves every record not in flight of every topic to `out` ([`TopicState::take_unsent`]);
/// returns whether a partition lost a sequence by it (idempotence: an epoch bump is needed).
pub(crate) fn take_all_unsent(
    topics: &mut [TopicState],
    out: &mut Vec<AcceptedRecord>,
    pool: &mut Recycler,
) -> bool {
    let mut lost = false;
    for topic in topics {
        topic.take_unsent(out, pool);
        for part in &mut topic.partitions {
            lost |= part.take_sequence_loss();
        }
    }
    lost
}
