//! Counting what happens, and the [`Stats`] snapshot (see [`crate::stats`]).

use super::connection::{ConnPhase, InFlightBatch, Target};
use super::topic::TopicIdx;
use super::{PartitionRef, ProducerCore};
use crate::error::{ProduceError, RetryCause};
use crate::output::ConnId;
use crate::stats::{BrokerStats, Event, PartitionStats, Stats};
use std::time::Duration;

impl ProducerCore {
    /// Queues `make()` when events are on.
    fn event(&mut self, make: impl FnOnce(&Self) -> Event) {
        if self.events.is_some() {
            let e = make(self);
            if let Some(q) = &mut self.events {
                q.push_back(e);
            }
        }
    }

    /// A Produce request of `bytes` went to `node`.
    pub(super) fn count_request(&mut self, node: i32, bytes: usize) {
        let c = &mut self.counters;
        c.produce_requests += 1;
        c.request_bytes += bytes as u64;
        let b = c.brokers.entry(node).or_default();
        b.produce_requests += 1;
        b.request_bytes += bytes as u64;
    }

    /// `batches` (finished, not yet written into the request) go to `node`.
    pub(super) fn count_batches(&mut self, node: i32, batches: &[InFlightBatch]) {
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
                self.event(|core| Event::BatchSent {
                    topic: core.topics[at.topic].name.to_string(),
                    partition: at.number(),
                    node_id: node,
                    records,
                    bytes: wire,
                });
            }
        }
    }

    /// A Produce answer came back on `conn` after `latency`.
    pub(super) fn count_response(&mut self, conn: ConnId, latency: Duration) {
        self.counters.request_latency.record(latency);
        self.counters.last_latency = latency;
        if let Some(Target::Node(n)) = self.conns.conns.get(&conn).map(|c| c.target) {
            self.counters
                .brokers
                .entry(n)
                .or_default()
                .latency
                .record(latency);
        }
    }

    /// `records` of partition `at` were acknowledged at `base_offset` (in the answer last
    /// counted by [`Self::count_response`]).
    pub(super) fn count_acked(&mut self, at: PartitionRef, records: usize, base_offset: i64) {
        let latency = self.counters.last_latency;
        *self.counters.partition_delivered.entry(at).or_default() += records as u64;
        self.event(|core| Event::BatchAcked {
            topic: core.topics[at.topic].name.to_string(),
            partition: at.number(),
            records,
            base_offset,
            latency,
        });
    }

    /// A batch of partition `at` came back with the retriable `cause`.
    pub(super) fn count_retry(&mut self, at: PartitionRef, records: usize, cause: &RetryCause) {
        self.counters.retries.count(cause, 1);
        self.event(|core| Event::Retry {
            topic: core.topics[at.topic].name.to_string(),
            partition: at.number(),
            records,
            cause: cause.clone(),
        });
    }

    /// A record failed for good.
    pub(super) fn count_failed(&mut self, topic: &str, error: &ProduceError) {
        self.counters.records_failed += 1;
        if self.events.is_some() {
            // Consecutive failures of one topic with one error are one event.
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
    }

    /// `conn` is negotiated.
    pub(super) fn count_connected(&mut self, conn: ConnId) {
        let Some(target) = self.conns.conns.get(&conn).map(|c| c.target) else {
            return;
        };
        self.event(|core| {
            let (node_id, address) = match target {
                Target::Node(n) => (Some(n), core.metadata.brokers.get(&n).cloned()),
                Target::Bootstrap(i) => (None, core.bootstrap_address(i)),
            };
            Event::Connected {
                conn,
                node_id,
                address: address.unwrap_or_else(|| crate::output::BrokerAddress {
                    host: String::new(),
                    port: 0,
                }),
            }
        });
    }

    /// `conn` (to `target`) ended with `cause`.
    pub(super) fn count_disconnected(&mut self, conn: ConnId, target: Target, cause: &RetryCause) {
        let node_id = match target {
            Target::Node(n) => {
                self.counters.brokers.entry(n).or_default().disconnects += 1;
                Some(n)
            }
            Target::Bootstrap(_) => None,
        };
        self.event(|_| Event::Disconnected {
            conn,
            node_id,
            cause: cause.clone(),
        });
    }

    /// Partition `at`'s leader became `leader`.
    pub(super) fn count_leader_change(&mut self, at: PartitionRef, leader: Option<i32>) {
        self.event(|core| Event::LeaderChanged {
            topic: core.topics[at.topic].name.to_string(),
            partition: at.number(),
            leader,
        });
    }

    /// The snapshot behind [`ProducerCore::stats`].
    pub(super) fn stats_snapshot(&self) -> Stats {
        let c = &self.counters;
        let mut in_flight_by_node: std::collections::BTreeMap<i32, (usize, bool)> =
            Default::default();
        let mut requests_in_flight = 0;
        for conn in self.conns.conns.values() {
            let n = conn.produce_in_flight();
            requests_in_flight += n;
            if let Target::Node(node) = conn.target {
                let e = in_flight_by_node.entry(node).or_default();
                e.0 += n;
                e.1 |= matches!(conn.phase, ConnPhase::Ready(_));
            }
        }
        let mut nodes: std::collections::BTreeSet<i32> =
            self.metadata.brokers.keys().copied().collect();
        nodes.extend(c.brokers.keys().copied());
        let brokers = nodes
            .into_iter()
            .map(|node_id| {
                let counters = c.brokers.get(&node_id);
                let (requests_in_flight, connected) =
                    in_flight_by_node.get(&node_id).copied().unwrap_or_default();
                BrokerStats {
                    node_id,
                    address: self.metadata.brokers.get(&node_id).cloned(),
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
        for (t, topic) in self.topics.iter().enumerate() {
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
            records_accepted: self.next_record_id,
            records_delivered: c.records_delivered,
            records_failed: c.records_failed,
            pending_records: self.pending_records,
            buffer_bytes: self.recycler.in_use(),
            buffer_capacity: self.config.buffer_memory,
            produce_requests: c.produce_requests,
            request_bytes: c.request_bytes,
            requests_in_flight,
            batches_sent: c.batches_sent,
            batch_records: c.batch_records,
            batch_bytes: c.batch_bytes,
            batch_uncompressed_bytes: c.batch_uncompressed_bytes,
            batch_size: self.config.batch_size,
            retries: c.retries.clone(),
            request_latency: c.request_latency.clone(),
            brokers,
            partitions,
        }
    }
}
