//! [`StageCx`]: the split borrows of the producer's fields that the sender
//! ([`super::sender`]) and responses ([`super::responses`]) stages work with for one call,
//! as the accept stage has [`AcceptCx`](super::accept::AcceptCx). The accumulator's partition
//! helpers they share (the seal rule, marking a partition changed) live here, so that the
//! stages and the router (`pass.rs`) apply them the same way.

use super::accept::AcceptedRecord;
use super::batch::{BatchLimits, SealTrigger};
use super::connection::InFlightBatch;
use super::connection::{Connections, Target};
use super::dirty::DirtySet;
use super::idempotence::Idempotence;
use super::metadata::MetadataState;
use super::outbox::Outbox;
use super::partition::{partition_and_owner, partition_mut, Owner, PartitionRef, PartitionState};
use super::recycle::Recycler;
use super::responses::retry_backoff;
use super::topic::TopicState;
use super::Clock;
use crate::config::Config;
use crate::error::RetryCause;
use crate::output::ConnId;
use crate::rng::Rng;
use crate::time::Instant;
use std::time::Duration;

/// What the sender and responses stages work with besides their own state: split borrows of
/// the producer's fields (named as they are there), for one call.
pub(crate) struct StageCx<'a> {
    /// The topic table (each topic's partitions: the accumulator's state).
    pub topics: &'a mut Vec<TopicState>,
    /// Partitions changed since the last pass ([`partition_mut`](Self::partition_mut) marks).
    pub dirty: &'a mut DirtySet,
    /// The configuration in force.
    pub config: &'a Config,
    /// Batch limits and the record format to encode into.
    pub limits: &'a BatchLimits,
    /// Buffers, and the `buffer.memory` charge.
    pub recycler: &'a mut Recycler,
    /// Where outcomes, counters and outputs go.
    pub outbox: &'a mut Outbox,
    /// The latest `now` and the wake-up.
    pub clock: &'a mut Clock,
    /// Draws the retry backoff's jitter.
    pub rng: &'a mut Rng,
    /// The producer id, epoch and generation (sequence stamps; a fenced producer).
    pub idem: &'a mut Idempotence,
    /// Brokers (for connections and labels); asked for a refresh after a retry.
    pub metadata: &'a mut MetadataState,
    /// The connections requests go out on.
    pub conns: &'a mut Connections,
    /// Open batches holding a record with an id below this seal now (`flush`/`close`).
    pub flush_upto: u64,
    /// Whether `close` was called (every open batch seals).
    pub closing: bool,
}

impl StageCx<'_> {
    /// Partition `at`'s state.
    #[inline]
    pub(crate) fn partition(&self, at: PartitionRef) -> &PartitionState {
        &self.topics[at.topic].partitions[at.index]
    }

    /// Partition `at`'s state, to change: marks it dirty, so that the next pass over
    /// partitions looks at it and its deadline is re-armed.
    #[inline]
    pub(crate) fn partition_mut(&mut self, at: PartitionRef) -> &mut PartitionState {
        partition_mut(self.topics, self.dirty, at)
    }

    /// Partition `at`'s state to change ([`partition_mut`](Self::partition_mut)), with the
    /// [`Owner`] its records leave batches under.
    #[inline]
    pub(crate) fn partition_and_owner(
        &mut self,
        at: PartitionRef,
    ) -> (&mut PartitionState, Owner<'_>) {
        partition_and_owner(self.topics, self.dirty, self.recycler, at)
    }

    /// The records of in-flight batch `b` as records on their own again, for a failure or a
    /// retry ([`InFlightBatch::into_records`]).
    pub(crate) fn unbatch(&mut self, b: InFlightBatch) -> Vec<AcceptedRecord> {
        let topic = b.partition.topic;
        b.into_records(&self.topics[topic].name, self.recycler)
    }

    /// Applies the seal rule ([`PartitionState::seal_open`]) to partition `at`; a flush or
    /// close covering the open batch stands in for its linger. A sealed batch is told to its
    /// topic's partitioner (the sticky partitioner moves on).
    #[inline]
    pub(crate) fn seal_partition(&mut self, at: PartitionRef, now: Instant) {
        let flush_upto = self.flush_upto;
        let (closing, linger) = (self.closing, self.config.linger);
        let topic = &mut self.topics[at.topic];
        let part = &mut topic.partitions[at.index];
        let force = closing
            || part
                .batches
                .back()
                .and_then(|b| b.records.first())
                .is_some_and(|p| p.id.0 < flush_upto);
        let why = if force {
            SealTrigger::Flush
        } else {
            SealTrigger::Linger(linger)
        };
        if part.seal_open(now, self.limits, why) {
            topic.partitioner.on_batch_sealed();
        }
    }

    /// Names the broker at the other end of `conn` for errors.
    pub(crate) fn broker_label(&self, conn: ConnId) -> String {
        self.conns.label(conn, &self.metadata.brokers, self.config)
    }

    /// The retry cause for a malformed answer on `conn`: which broker, and what was wrong.
    pub(crate) fn malformed_cause(&self, conn: ConnId, detail: String) -> RetryCause {
        RetryCause::MalformedResponse {
            broker: self.broker_label(conn),
            detail,
        }
    }

    /// Asks the connections stage for a connection to `target`.
    pub(crate) fn open_conn(&mut self, target: Target, now: Instant) -> Option<ConnId> {
        let brokers = &self.metadata.brokers;
        self.conns.connect(target, brokers, &mut io!(self), now)
    }

    /// The backoff before retry `attempt` ([`retry_backoff`]).
    #[inline]
    pub(crate) fn retry_backoff_for(&mut self, attempt: u32) -> Duration {
        retry_backoff(self.config, self.rng, attempt)
    }
}
