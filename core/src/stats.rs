//! What the producer did, as data: a [`Stats`] snapshot (counters and gauges, like
//! librdkafka's statistics) and, when asked for, a queue of [`Event`]s (connections, leader
//! changes, batches sent and acknowledged, retries and failures).
//!
//! The core never logs: an adapter turns these into `tracing` events and `metrics` values (see
//! the adapters' docs for the names). Counting costs a few integer additions per batch, not
//! per record; events are only built while [`ProducerCore::set_events`] is on.
//!
//! ```
//! use odradek_core::{Config, Instant, ProducerCore, Record};
//! let now = Instant::from_unix_millis(1_700_000_000_000);
//! let mut core = ProducerCore::new(Config::new(["localhost:9092"]), 7, now).unwrap();
//! core.send(Record::new("t").value("v"), now).unwrap();
//! let stats = core.stats();
//! assert_eq!(stats.records_accepted, 1);
//! assert_eq!(stats.pending_records, 1);
//! assert_eq!(stats.records_delivered, 0);
//! ```
//!
//! [`ProducerCore::set_events`]: crate::ProducerCore::set_events

use crate::error::{ProduceError, RetryCause};
use crate::output::{BrokerAddress, ConnId};
use std::collections::BTreeMap;
use std::time::Duration;

/// A latency histogram: logarithmic buckets, four per power of two (at most 19 % wide),
/// from 1 µs to about 12 days; recording is O(1) and allocates nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: [u64; BUCKETS],
    total: u64,
    sum_us: u64,
    max_us: u64,
}

const SUB: u32 = 4;
const BUCKETS: usize = 41 * SUB as usize;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; BUCKETS],
            total: 0,
            sum_us: 0,
            max_us: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.total)
            .field("mean", &self.mean())
            .field("p50", &self.percentile(50.0))
            .field("p99", &self.percentile(99.0))
            .field("max", &self.max())
            .finish()
    }
}

fn bucket_of(us: u64) -> usize {
    if us < u64::from(SUB) {
        return us as usize;
    }
    let log = 63 - us.leading_zeros(); // >= 2
    let sub = ((us >> (log - 2)) & u64::from(SUB - 1)) as u32;
    (((log - 1) * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The upper edge (µs) of bucket `i`.
fn bucket_top(i: usize) -> u64 {
    let i = i as u32;
    if i < SUB {
        return u64::from(i);
    }
    let log = i / SUB + 1;
    let sub = u64::from(i % SUB);
    ((SUB as u64 + sub + 1) << (log - 2)) - 1
}

impl Histogram {
    /// Counts one observation.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)] += 1;
        self.total += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.max_us = self.max_us.max(us);
    }

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The mean, `None` when empty.
    pub fn mean(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_micros(self.sum_us / self.total))
    }

    /// The largest observation, `None` when empty.
    pub fn max(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_micros(self.max_us))
    }

    /// The `p`-th percentile (0–100), as the upper edge of its bucket (never above the
    /// maximum); `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * self.total as f64)
            .ceil()
            .max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_micros(bucket_top(i).min(self.max_us)));
            }
        }
        self.max()
    }
}

/// Retries by cause: connection-level causes by name, broker errors by code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetryCounts {
    /// The connection was lost with the request in flight.
    pub connection_lost: u64,
    /// No answer within `request.timeout.ms`.
    pub request_timeout: u64,
    /// The answer lacked the partition, or could not be decoded.
    pub bad_response: u64,
    /// The broker lost the idempotent producer's state (epoch bump and new sequences).
    pub sequence_reset: u64,
    /// Retriable broker error codes, by code (e.g. 6 = NOT_LEADER_OR_FOLLOWER).
    pub broker_errors: BTreeMap<i16, u64>,
}

impl RetryCounts {
    /// All retries.
    pub fn total(&self) -> u64 {
        self.connection_lost
            + self.request_timeout
            + self.bad_response
            + self.sequence_reset
            + self.broker_errors.values().sum::<u64>()
    }

    pub(crate) fn count(&mut self, cause: &RetryCause, batches: u64) {
        match cause {
            RetryCause::ConnectionLost => self.connection_lost += batches,
            RetryCause::RequestTimeout => self.request_timeout += batches,
            RetryCause::IncompleteResponse | RetryCause::MalformedResponse { .. } => {
                self.bad_response += batches
            }
            RetryCause::SequenceReset(_) => self.sequence_reset += batches,
            RetryCause::Broker(code) => *self.broker_errors.entry(code.0).or_default() += batches,
        }
    }
}

/// One broker's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrokerStats {
    /// Node id.
    pub node_id: i32,
    /// Advertised address.
    pub address: Option<BrokerAddress>,
    /// A connection is open and negotiated.
    pub connected: bool,
    /// Produce requests sent to it.
    pub produce_requests: u64,
    /// Bytes of those requests.
    pub request_bytes: u64,
    /// Produce requests awaiting its answer now.
    pub requests_in_flight: usize,
    /// Connections to it that were lost or dropped.
    pub disconnects: u64,
    /// Produce round trips (send to answer).
    pub latency: Histogram,
}

/// One partition's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionStats {
    /// Topic.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Leader node, if known.
    pub leader: Option<i32>,
    /// Records held for it (batched, waiting or awaiting a retry), not in flight.
    pub queued_records: usize,
    /// Batches of it in flight now.
    pub batches_in_flight: usize,
    /// Batches of it sent (retries included).
    pub batches_sent: u64,
    /// Records of it acknowledged.
    pub records_delivered: u64,
}

/// A snapshot of what a producer did and holds ([`ProducerCore::stats`]).
///
/// [`ProducerCore::stats`]: crate::ProducerCore::stats
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Records `send` accepted.
    pub records_accepted: u64,
    /// Records acknowledged (or, with acks=0, written).
    pub records_delivered: u64,
    /// Records failed for good.
    pub records_failed: u64,
    /// Records accepted and not yet resolved.
    pub pending_records: usize,
    /// Bytes of records held (counted against `buffer.memory`).
    pub buffer_bytes: usize,
    /// `buffer.memory`.
    pub buffer_capacity: usize,
    /// Produce requests sent.
    pub produce_requests: u64,
    /// Bytes of Produce requests sent.
    pub request_bytes: u64,
    /// Produce requests awaiting an answer now.
    pub requests_in_flight: usize,
    /// Record batches sent (a batch sent again counts again).
    pub batches_sent: u64,
    /// Records in those batches.
    pub batch_records: u64,
    /// Bytes of those batches as sent (compressed).
    pub batch_bytes: u64,
    /// Bytes of those batches' records before compression, as estimated at `send` (keys,
    /// values, headers and per-record framing).
    pub batch_uncompressed_bytes: u64,
    /// `batch.size`, for [`Stats::average_batch_fill`].
    pub batch_size: usize,
    /// Batches sent again, by cause.
    pub retries: RetryCounts,
    /// Partitions sent straight to a new leader a Produce answer named (KIP-951
    /// `CurrentLeader`), without waiting for metadata.
    pub leader_hints_used: u64,
    /// Records failed alone because a broker named them in a refused batch (KIP-467
    /// `RecordErrors`); the rest of their batch was sent again.
    pub records_rejected_alone: u64,
    /// Produce round trips, all brokers.
    pub request_latency: Histogram,
    /// Per broker, by node id.
    pub brokers: Vec<BrokerStats>,
    /// Per partition, in topic order.
    pub partitions: Vec<PartitionStats>,
}

impl Stats {
    /// Records per batch sent, on average.
    pub fn average_batch_records(&self) -> f64 {
        ratio(self.batch_records, self.batches_sent)
    }

    /// Bytes per batch sent, on average (as sent).
    pub fn average_batch_bytes(&self) -> f64 {
        ratio(self.batch_bytes, self.batches_sent)
    }

    /// How full batches were on average: uncompressed bytes per batch over `batch.size`.
    pub fn average_batch_fill(&self) -> f64 {
        ratio(self.batch_uncompressed_bytes, self.batches_sent) / self.batch_size.max(1) as f64
    }

    /// Uncompressed over sent bytes of the batches (1.0 without compression; 0 when nothing
    /// was sent).
    pub fn compression_ratio(&self) -> f64 {
        ratio(self.batch_uncompressed_bytes, self.batch_bytes)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Something that happened, for logs and traces ([`ProducerCore::poll_event`]). Built only
/// while [`ProducerCore::set_events`] is on.
///
/// [`ProducerCore::poll_event`]: crate::ProducerCore::poll_event
/// [`ProducerCore::set_events`]: crate::ProducerCore::set_events
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A connection is negotiated and ready for requests.
    Connected {
        /// Connection.
        conn: ConnId,
        /// Broker node id (`None` for a bootstrap server).
        node_id: Option<i32>,
        /// Where.
        address: BrokerAddress,
    },
    /// A connection ended (lost, timed out, or dropped by the core).
    Disconnected {
        /// Connection.
        conn: ConnId,
        /// Broker node id (`None` for a bootstrap server).
        node_id: Option<i32>,
        /// What its in-flight requests are retried for.
        cause: RetryCause,
    },
    /// A partition's leader changed in a Metadata answer.
    LeaderChanged {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The new leader, `None` when it has none.
        leader: Option<i32>,
    },
    /// A record batch went into a Produce request.
    BatchSent {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Broker node id.
        node_id: i32,
        /// Records in the batch.
        records: usize,
        /// Bytes as sent.
        bytes: usize,
    },
    /// A record batch was acknowledged.
    BatchAcked {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Records in the batch.
        records: usize,
        /// Offset of its first record (-1 when the broker gives none).
        base_offset: i64,
        /// Send to answer.
        latency: Duration,
    },
    /// A batch is to be sent again.
    Retry {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Records in the batch.
        records: usize,
        /// Why.
        cause: RetryCause,
    },
    /// Records of a partition failed for good.
    Failed {
        /// Topic.
        topic: String,
        /// Records.
        records: usize,
        /// Why.
        error: ProduceError,
    },
}

/// The core's running counters (the snapshot adds the gauges).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub records_delivered: u64,
    pub records_failed: u64,
    pub produce_requests: u64,
    pub request_bytes: u64,
    pub batches_sent: u64,
    pub batch_records: u64,
    pub batch_bytes: u64,
    pub batch_uncompressed_bytes: u64,
    pub retries: RetryCounts,
    pub leader_hints_used: u64,
    pub records_rejected_alone: u64,
    pub request_latency: Histogram,
    /// The round trip of the Produce answer being applied.
    pub last_latency: Duration,
    /// Per node id.
    pub brokers: BTreeMap<i32, BrokerCounters>,
    /// Batches sent per partition.
    pub partition_batches: BTreeMap<crate::producer::PartitionRef, u64>,
    /// Records acknowledged per partition.
    pub partition_delivered: BTreeMap<crate::producer::PartitionRef, u64>,
}

/// A broker's running counters.
#[derive(Debug, Default)]
pub(crate) struct BrokerCounters {
    pub produce_requests: u64,
    pub request_bytes: u64,
    pub disconnects: u64,
    pub latency: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_contain_their_values() {
        let mut last = 0;
        for us in (0..5000u64).chain([1 << 20, 1 << 30, u64::MAX / 2]) {
            let b = bucket_of(us);
            assert!(b >= last || us >= 1 << 20, "{us}");
            last = b;
            assert!(bucket_top(b) >= us || b == BUCKETS - 1, "{us} in {b}");
            if b > 0 && b < BUCKETS - 1 {
                assert!(bucket_top(b - 1) < us, "{us} in {b}");
            }
        }
    }

    #[test]
    fn percentiles_are_within_a_bucket_of_the_truth() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(50.0), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.max(), Some(Duration::from_millis(100)));
        assert_eq!(h.mean(), Some(Duration::from_micros(50_500)));
        let p50 = h.percentile(50.0).unwrap().as_micros() as f64;
        assert!((50_000.0..=50_000.0 * 1.2).contains(&p50), "{p50}");
        let p99 = h.percentile(99.0).unwrap().as_micros() as f64;
        assert!((99_000.0..=100_000.0).contains(&p99), "{p99}");
        assert_eq!(h.percentile(100.0), Some(Duration::from_millis(100)));
    }

    #[test]
    fn derived_ratios() {
        let s = Stats {
            batches_sent: 4,
            batch_records: 40,
            batch_bytes: 1000,
            batch_uncompressed_bytes: 4000,
            batch_size: 2000,
            ..Stats::default()
        };
        assert_eq!(s.average_batch_records(), 10.0);
        assert_eq!(s.average_batch_bytes(), 250.0);
        assert_eq!(s.compression_ratio(), 4.0);
        assert_eq!(s.average_batch_fill(), 0.5);
        assert_eq!(Stats::default().compression_ratio(), 0.0);
    }
}
