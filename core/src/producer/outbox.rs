//! The outbox: where every stage puts what the producer tells the outside world — the
//! [`Output`] queue the driver drains with `poll_output`, the running [`Counters`] behind
//! `stats`, and the optional [`Event`] queue behind `poll_event` — and the [`Stats`]
//! snapshot built from it (see [`crate::stats`]).
//!
//! Every record's outcome goes through it ([`Outbox::deliver`], [`Outbox::fail`]): it counts
//! the records still owed one, and releases their `buffer.memory` from the pool the caller
//! hands it. It owns no other producer state; stages hand it names and numbers explicitly.

use super::accept::AcceptedRecord;
use super::batch::Slot;
use super::connection::{ConnPhase, Connections, InFlightBatch, Target};
use super::recycle::Recycler;
use super::topic::{TopicIdx, TopicState};
use super::PartitionRef;
use crate::error::{ProduceError, RetryCause};
use crate::message::TopicName;
use crate::output::{BrokerAddress, ConnId, Delivery, Output};
use crate::stats::{BrokerStats, Counters, Event, PartitionStats, Stats};
use crate::time::Instant;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Outputs, counters and events (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// What [`poll_output`](super::ProducerCore::poll_output) hands out, oldest first.
    pub outputs: VecDeque<Output>,
    /// Running counters for [`stats`](super::ProducerCore::stats).
    pub counters: Counters,
    /// Events for [`poll_event`](super::ProducerCore::poll_event), while
    /// [`set_events`](super::ProducerCore::set_events) is on.
    pub events: Option<VecDeque<Event>>,
    /// Records accepted and not yet given their outcome.
    pub pending: usize,
    /// Closing without a delivery timeout: when `close` began or, if later, when a record
    /// last got its outcome since (delivered, or failed other than by the close's cutoff).
    /// Records still waiting (for metadata, a leader, a connection, a retry) once
    /// [`close_cutoff`](super::ProducerCore::close_cutoff) passed from it fail, so that a
    /// close that makes no progress ends (see
    /// [`ProducerCore::expire_records`](super::ProducerCore::expire_records)).
    pub close_progress: Option<Instant>,
    /// A record failed while closing without a delivery timeout, since the last pass moved
    /// [`close_progress`](Self::close_progress) (the pass moves it to its `now`: a failure is
    /// progress too, as a delivery is).
    pub failed_while_closing: bool,
    /// Transactional producer: the first record failure since the transaction stage last
    /// looked (a transaction with a failed record cannot commit). `None` otherwise.
    pub txn_failure: Option<Option<ProduceError>>,
    /// Set by [`close_now`](super::ProducerCore::close_now): every failure from then on is
    /// reported (output, counters, events) with this error, whatever step failed the record.
    pub fail_as: Option<ProduceError>,
}

/// The gauges of now that a [`Stats`] snapshot reports beside the counters.
pub(crate) struct Gauges<'a> {
    pub records_accepted: u64,
    pub pending_records: usize,
    pub buffer_bytes: usize,
    pub buffer_capacity: usize,
    pub batch_size: usize,
    pub conns: &'a Connections,
    pub brokers: &'a BTreeMap<i32, BrokerAddress>,
    pub topics: &'a [TopicState],
}

impl Outbox {
    /// Queues an output for the driver.
    #[inline]
    pub(crate) fn push(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    /// The records of one batch were appended to partition `at` of `topic` from
    /// `base_offset` on (`-1`: no offsets, `acks=0`), at the broker's `log_append` time
    /// (`-1`: `CreateTime`), seen at `now`: emit one `Delivered` for them all and release
    /// their memory from `pool`.
    pub(crate) fn deliver(
        &mut self,
        pool: &mut Recycler,
        topic: &TopicName,
        at: PartitionRef,
        records: Vec<Slot>,
        (base_offset, log_append): (i64, i64),
        now: Instant,
    ) {
        if records.is_empty() {
            return;
        }
        let (bytes, held) = records
            .iter()
            .fold((0, 0), |(b, h), p| (b + p.sized(), h + p.held));
        pool.sized -= bytes;
        pool.charged -= held;
        self.pending -= records.len();
        self.counters.records_delivered += records.len() as u64;
        if self.close_progress.is_some() {
            // A close without a delivery timeout waits while records keep getting outcomes.
            self.close_progress = Some(now);
        }
        self.push(Output::Delivered(Delivery {
            topic: topic.clone(),
            partition: at.number(),
            base_offset,
            log_append_time: log_append,
            records,
        }));
    }

    /// Closing without a delivery timeout: a record that failed since the last call is
    /// progress, at `now` (the input it failed at): moves [`close_progress`](Self::close_progress).
    pub(crate) fn note_close_progress(&mut self, now: Instant) {
        if std::mem::take(&mut self.failed_while_closing) {
            if let Some(p) = &mut self.close_progress {
                *p = (*p).max(now);
            }
        }
    }

    /// The record failed for good: emit `Failed` and release its memory from `pool`.
    pub(crate) fn fail(&mut self, pool: &mut Recycler, p: AcceptedRecord, error: ProduceError) {
        pool.sized -= p.size;
        pool.charged -= p.held;
        self.pending -= 1;
        self.failed_while_closing |= self.close_progress.is_some();
        let error = self.fail_as.clone().unwrap_or(error);
        self.count_failed(&p.record.topic, &error);
        self.push(Output::Failed {
            id: p.id,
            error,
            record: p.record,
        });
    }

    /// Fails every record in `records` with `error`.
    pub(crate) fn fail_all(
        &mut self,
        pool: &mut Recycler,
        records: impl IntoIterator<Item = AcceptedRecord>,
        error: &ProduceError,
    ) {
        for p in records {
            self.fail(pool, p, error.clone());
        }
    }

    /// Queues `make()` when events are on.
    fn event(&mut self, make: impl FnOnce() -> Event) {
        if let Some(q) = &mut self.events {
            q.push_back(make());
        }
    }

    /// A Produce request of `bytes` bytes went to `node`.
    pub(crate) fn count_request(&mut self, node: i32, bytes: usize) {
        let c = &mut self.counters;
        c.produce_requests += 1;
        c.request_bytes += bytes as u64;
        let b = c.brokers.entry(node).or_default();
        b.produce_requests += 1;
        b.request_bytes += bytes as u64;
    }

    /// `batches` went to `node` in one request (`topic` names a topic index).
    pub(crate) fn count_batches<'t>(
        &mut self,
        node: i32,
        batches: &[InFlightBatch],
        topic: impl Fn(TopicIdx) -> &'t TopicName,
    ) {
        let c = &mut self.counters;
        for batch in batches {
            let wire = batch
                .stamp
                .as_ref()
                .map_or(batch.wire.len(), |s| s.wire.len());
            c.batches_sent += 1;
            c.batch_records += batch.records.len() as u64;
            c.batch_bytes += wire as u64;
            c.batch_uncompressed_bytes += batch.records.iter().map(|p| p.size as u64).sum::<u64>();
            *c.partition_batches.entry(batch.partition).or_default() += 1;
        }
        if self.events.is_some() {
            for batch in batches {
                let wire = batch
                    .stamp
                    .as_ref()
                    .map_or(batch.wire.len(), |s| s.wire.len());
                let (at, records) = (batch.partition, batch.records.len());
                self.event(|| Event::BatchSent {
                    topic: topic(at.topic).to_string(),
                    partition: at.number(),
                    node_id: node,
                    records,
                    bytes: wire,
                });
            }
        }
    }

    /// A Produce answer came back after `latency`, from `node` when the connection was to a
    /// known node.
    pub(crate) fn count_response(&mut self, node: Option<i32>, latency: Duration) {
        self.counters.request_latency.record(latency);
        self.counters.last_latency = latency;
        if let Some(n) = node {
            self.counters
                .brokers
                .entry(n)
                .or_default()
                .latency
                .record(latency);
        }
    }

    /// `records` records of partition `at` (of `topic`) were acknowledged at `base_offset`.
    pub(crate) fn count_acked(
        &mut self,
        at: PartitionRef,
        topic: &TopicName,
        records: usize,
        base_offset: i64,
    ) {
        let latency = self.counters.last_latency;
        *self.counters.partition_delivered.entry(at).or_default() += records as u64;
        self.event(|| Event::BatchAcked {
            topic: topic.to_string(),
            partition: at.number(),
            records,
            base_offset,
            latency,
        });
    }

    /// A batch of `records` records of partition `at` (of `topic`) goes down the retry path.
    pub(crate) fn count_retry(
        &mut self,
        at: PartitionRef,
        topic: &TopicName,
        records: usize,
        cause: &RetryCause,
    ) {
        self.counters.retries.count(cause, 1);
        self.event(|| Event::Retry {
            topic: topic.to_string(),
            partition: at.number(),
            records,
            cause: cause.clone(),
        });
    }

    /// A record of `topic` failed with `error` (consecutive failures of one topic with one
    /// error make one event).
    pub(crate) fn count_failed(&mut self, topic: &str, error: &ProduceError) {
        self.counters.records_failed += 1;
        if let Some(first @ None) = &mut self.txn_failure {
            *first = Some(error.clone());
        }
        if let Some(q) = &mut self.events {
            if let Some(Event::Failed {
                topic: last,
                records,
                error: e,
            }) = q.back_mut()
            {
                if last == topic && e == error {
                    *records += 1;
                    return;
                }
            }
            q.push_back(Event::Failed {
                topic: topic.to_owned(),
                records: 1,
                error: error.clone(),
            });
        }
    }

    /// `conn` is ready for requests; `peer` names its node and address (asked only while
    /// events are on).
    pub(crate) fn count_connected(
        &mut self,
        conn: ConnId,
        peer: impl FnOnce() -> (Option<i32>, Option<BrokerAddress>),
    ) {
        self.event(|| {
            let (node_id, address) = peer();
            Event::Connected {
                conn,
                node_id,
                address: address.unwrap_or_else(|| BrokerAddress {
                    host: String::new(),
                    port: 0,
                }),
            }
        });
    }

    /// `conn`, to `target`, ended because of `cause`.
    pub(crate) fn count_disconnected(&mut self, conn: ConnId, target: Target, cause: &RetryCause) {
        let node_id = match target {
            Target::Node(n) => {
                self.counters.brokers.entry(n).or_default().disconnects += 1;
                Some(n)
            }
            Target::Bootstrap(_) => None,
        };
        self.event(|| Event::Disconnected {
            conn,
            node_id,
            cause: cause.clone(),
        });
    }

    /// Partition `at` (of `topic`) has a new leader.
    pub(crate) fn count_leader_change(
        &mut self,
        at: PartitionRef,
        topic: &TopicName,
        leader: Option<i32>,
    ) {
        self.event(|| Event::LeaderChanged {
            topic: topic.to_string(),
            partition: at.number(),
            leader,
        });
    }

    /// The [`Stats`] snapshot: the counters, and the gauges of now from `g`.
    pub(crate) fn snapshot(&self, g: Gauges<'_>) -> Stats {
        let c = &self.counters;
        let mut in_flight_by_node: BTreeMap<i32, (usize, bool)> = Default::default();
        let mut requests_in_flight = 0;
        for conn in g.conns.conns.values() {
            let n = conn.produce_in_flight();
            requests_in_flight += n;
            if let Target::Node(node) = conn.target {
                let e = in_flight_by_node.entry(node).or_default();
                e.0 += n;
                e.1 |= matches!(conn.phase, ConnPhase::Ready(_));
            }
        }
        let mut nodes: std::collections::BTreeSet<i32> = g.brokers.keys().copied().collect();
        nodes.extend(c.brokers.keys().copied());
        let brokers = nodes
            .into_iter()
            .map(|node_id| {
                let counters = c.brokers.get(&node_id);
                let (requests_in_flight, connected) =
                    in_flight_by_node.get(&node_id).copied().unwrap_or_default();
                BrokerStats {
                    node_id,
                    address: g.brokers.get(&node_id).cloned(),
                    connected,
                    produce_requests: counters.map_or(0, |b| b.produce_requests),
                    request_bytes: counters.map_or(0, |b| b.request_bytes),
                    requests_in_flight,
                    disconnects: counters.map_or(0, |b| b.disconnects),
                    latency: counters.map(|b| b.latency.clone()).unwrap_or_default(),
                }
            })
            .collect();
        let mut partitions = Vec::new();
        for (t, topic) in g.topics.iter().enumerate() {
            for (index, part) in topic.partitions.iter().enumerate() {
                let at = PartitionRef {
                    topic: TopicIdx(t),
                    index,
                };
                partitions.push(PartitionStats {
                    topic: topic.name.to_string(),
                    partition: at.number(),
                    leader: part.leader,
                    queued_records: part.held(),
                    batches_in_flight: part.in_flight.len(),
                    batches_sent: c.partition_batches.get(&at).copied().unwrap_or(0),
                    records_delivered: c.partition_delivered.get(&at).copied().unwrap_or(0),
                });
            }
        }
        Stats {
            records_accepted: g.records_accepted,
            records_delivered: c.records_delivered,
            records_failed: c.records_failed,
            pending_records: g.pending_records,
            buffer_bytes: g.buffer_bytes,
            buffer_capacity: g.buffer_capacity,
            produce_requests: c.produce_requests,
            request_bytes: c.request_bytes,
            requests_in_flight,
            batches_sent: c.batches_sent,
            batch_records: c.batch_records,
            batch_bytes: c.batch_bytes,
            batch_uncompressed_bytes: c.batch_uncompressed_bytes,
            batch_size: g.batch_size,
            retries: c.retries.clone(),
            leader_hints_used: c.leader_hints_used,
            records_rejected_alone: c.records_rejected_alone,
            request_latency: c.request_latency.clone(),
            brokers,
            partitions,
        }
    }
}
