//! Faults: what can go wrong ([`FaultConfig`]), the timed schedule drawn from a seed
//! ([`FaultSchedule`]), and faults a test injects by hand ([`Fault`]).
//!
//! Two kinds of fault exist. *Timed* faults (leader moves, broker crashes, connection resets)
//! are drawn up front: [`FaultSchedule::generate`] is a pure function of the configuration, the
//! seed and the start instant. *Per-response* faults (slow responses, responses lost after the
//! append, stalled connections, injected error codes) are decided by the cluster's own seeded
//! generator as each request is answered, so they too replay exactly from the seed.

use odradek_core::protocol::ErrorCode;
use odradek_core::rng::Rng;
use odradek_core::{ConnId, Instant};
use std::time::Duration;

/// The retriable error codes the cluster can inject into a partition's Produce response.
pub const RETRIABLE_PRODUCE_ERRORS: [ErrorCode; 6] = [
    ErrorCode::NOT_LEADER_OR_FOLLOWER,
    ErrorCode::LEADER_NOT_AVAILABLE,
    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode::REQUEST_TIMED_OUT,
    ErrorCode::NOT_ENOUGH_REPLICAS,
    ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
];

/// Which faults happen, and how often.
///
/// ```
/// use odradek_sim::FaultConfig;
/// assert!(FaultConfig::none().is_none());
/// assert!(!FaultConfig::chaos().is_none());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Mean virtual time between two timed faults; `None` disables timed faults.
    pub mean_interval: Option<Duration>,
    /// Timed faults are only drawn in `start..start + horizon`; afterwards the cluster heals
    /// (crashed brokers still come back after their downtime).
    pub horizon: Duration,
    /// Relative weight of leader moves among timed faults.
    pub leader_move_weight: u32,
    /// Relative weight of broker crashes.
    pub broker_crash_weight: u32,
    /// Relative weight of connection resets.
    pub connection_reset_weight: u32,
    /// How long a crashed broker stays down: uniform in this range.
    pub crash_downtime: (Duration, Duration),
    /// Probability that a response is slow (delayed by `slow_extra`).
    pub slow_response_rate: f64,
    /// The extra delay of a slow response: uniform in this range.
    pub slow_extra: (Duration, Duration),
    /// Probability that a Produce response is lost after the records were appended: the
    /// broker drops the connection instead of answering.
    pub lost_response_rate: f64,
    /// Probability that, after answering a Produce request's append, the connection stalls:
    /// that response and every later one on the connection never arrive (the client's request
    /// timeout must notice).
    pub stall_rate: f64,
    /// Probability, per partition of a Produce request, of answering with one of
    /// `error_codes` instead of appending (for NOT_ENOUGH_REPLICAS_AFTER_APPEND, after
    /// appending).
    pub error_rate: f64,
    /// The codes to inject (uniformly); defaults to [`RETRIABLE_PRODUCE_ERRORS`].
    pub error_codes: Vec<ErrorCode>,
    /// Probability, per idempotent batch arriving at a partition, that the partition first
    /// loses that producer's state (as Kafka does when the producer's entries expire or its
    /// records are deleted), so the batch is answered `UNKNOWN_PRODUCER_ID`. Only done when
    /// every earlier append of that producer to the partition has been answered to it with a
    /// success — real expiry only hits idle producers — so a correct producer still writes
    /// no duplicate: nothing it may retry is in the log.
    pub producer_state_loss_rate: f64,
    /// Hostile but well-formed values in the brokers' answers.
    pub hostile: HostileConfig,
    /// Long-lived producers: every producer id InitProducerId grants comes with state on
    /// every partition whose last sequence is just before this one, as if the producer had
    /// already written that many records there. The simulation starts the producer's
    /// sequences here too ([`ProducerCore::set_initial_sequence_for_testing`]), so a value
    /// near `i32::MAX` makes ordinary runs cross Kafka's sequence wrap-around.
    ///
    /// [`ProducerCore::set_initial_sequence_for_testing`]: odradek_core::ProducerCore::set_initial_sequence_for_testing
    pub initial_sequence: Option<i32>,
    /// Probability that a retry the broker recognises as a duplicate of a cached batch is
    /// answered DUPLICATE_SEQUENCE_NUMBER (no offset, as older brokers and some paths do)
    /// instead of success with the original offset.
    pub duplicate_answer_rate: f64,
    /// Probability, per idempotent batch arriving at a partition, that the partition's state
    /// for that producer falls back to an older snapshot (a failover to a replica that
    /// lagged): its last one to three cached batches are forgotten, so the next batch is
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (or UNKNOWN_PRODUCER_ID when nothing is left). Only when
    /// every earlier append of that producer there was answered, as for
    /// [`producer_state_loss_rate`](Self::producer_state_loss_rate): the records stay in the
    /// log, and a correct producer writes no duplicate.
    pub state_rollback_rate: f64,
    /// Share of partitions whose NOT_LEADER_OR_FOLLOWER answers (Produce v10+) name the
    /// current leader and epoch (KIP-951 `CurrentLeader`) with its address
    /// (`NodeEndpoints`), as Kafka 3.7+ does. Not a fault: applies for the whole run.
    pub leader_hint_rate: f64,
    /// Share of records, chosen by their content ([`crate::kip::poisoned`]), that every
    /// broker refuses (Produce v8+, acks 1 or all): a batch holding one is answered
    /// INVALID_RECORD naming those records (KIP-467 `RecordErrors`), as Kafka does for a
    /// record without a key on a compacted topic. Applies for the whole run.
    pub invalid_record_rate: f64,
    /// Probability, per idempotent batch arriving at a partition that holds state for its
    /// producer, that the partition's epoch for that producer has moved on (another instance
    /// of the producer bumped it), so the batch is answered INVALID_PRODUCER_EPOCH: fatal for
    /// the producer id.
    pub fence_rate: f64,
    /// The brokers refuse a batch of more records than this with MESSAGE_TOO_LARGE.
    pub max_batch_records: Option<usize>,
    /// The brokers' `message.max.bytes`: a batch (as sent) larger than this is refused with
    /// MESSAGE_TOO_LARGE.
    pub max_batch_bytes: Option<usize>,
    /// The cluster heals after the horizon: per-response faults (slow, lost, stalled,
    /// injected errors, state losses, rollbacks, fencing, hostile values) stop then too, not
    /// only the timed ones. Records sent once it has healed and settled must be delivered.
    pub heal: bool,
    /// One broker crashes at a time drawn within the horizon and never comes back (the
    /// partitions it led move to live brokers, if any).
    pub permanent_crash: bool,
}

/// Hostile but well-formed values the brokers may put in their answers: each is a
/// probability per answer (Metadata or Produce), drawn from the seed. All zero in
/// [`FaultConfig::none`] and [`FaultConfig::chaos`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct HostileConfig {
    /// A Metadata answer lists a topic's partitions with a huge index (2147483646) added, or
    /// with a gap (the last partition renumbered past the count).
    pub partition_index_rate: f64,
    /// A successful Produce answer gives a base offset near `i64::MAX`, so that base offset
    /// plus record index overflows. The records' outcomes are then not checked against the
    /// log (the broker lied), only that each gets exactly one.
    pub base_offset_rate: f64,
    /// A Metadata answer names, for one partition, a leader id that is no broker.
    pub phantom_leader_rate: f64,
    /// An answer (Metadata or Produce) carries a non-zero `throttle_time_ms` (1 ms to 2 s).
    pub throttle_rate: f64,
}

impl HostileConfig {
    /// None of them.
    pub fn none() -> Self {
        HostileConfig::default()
    }

    /// Each of them with probability `rate`.
    pub fn all(rate: f64) -> Self {
        HostileConfig {
            partition_index_rate: rate,
            base_offset_rate: rate,
            phantom_leader_rate: rate,
            throttle_rate: rate,
        }
    }

    /// Whether none can happen.
    pub fn is_none(&self) -> bool {
        self.partition_index_rate <= 0.0
            && self.base_offset_rate <= 0.0
            && self.phantom_leader_rate <= 0.0
            && self.throttle_rate <= 0.0
    }
}

impl FaultConfig {
    /// No faults at all.
    pub fn none() -> Self {
        FaultConfig {
            mean_interval: None,
            horizon: Duration::ZERO,
            leader_move_weight: 0,
            broker_crash_weight: 0,
            connection_reset_weight: 0,
            crash_downtime: (Duration::ZERO, Duration::ZERO),
            slow_response_rate: 0.0,
            slow_extra: (Duration::ZERO, Duration::ZERO),
            lost_response_rate: 0.0,
            stall_rate: 0.0,
            error_rate: 0.0,
            error_codes: RETRIABLE_PRODUCE_ERRORS.to_vec(),
            producer_state_loss_rate: 0.0,
            hostile: HostileConfig::none(),
            initial_sequence: None,
            duplicate_answer_rate: 0.0,
            state_rollback_rate: 0.0,
            fence_rate: 0.0,
            max_batch_records: None,
            max_batch_bytes: None,
            heal: false,
            permanent_crash: false,
            leader_hint_rate: 0.0,
            invalid_record_rate: 0.0,
        }
    }

    /// Every kind of fault, often: a timed fault every ~150 ms for 5 s of virtual time,
    /// 5% slow responses, 3% lost responses, 1% stalls, 8% injected errors, 2% producer
    /// state losses (idempotent producers only). No hostile values.
    pub fn chaos() -> Self {
        FaultConfig {
            mean_interval: Some(Duration::from_millis(150)),
            horizon: Duration::from_secs(5),
            leader_move_weight: 4,
            broker_crash_weight: 1,
            connection_reset_weight: 2,
            crash_downtime: (Duration::from_millis(50), Duration::from_millis(1500)),
            slow_response_rate: 0.05,
            slow_extra: (Duration::from_millis(20), Duration::from_millis(3000)),
            lost_response_rate: 0.03,
            stall_rate: 0.01,
            error_rate: 0.08,
            error_codes: RETRIABLE_PRODUCE_ERRORS.to_vec(),
            producer_state_loss_rate: 0.02,
            hostile: HostileConfig::none(),
            ..FaultConfig::none()
        }
    }

    /// Whether no fault of any kind can happen.
    pub fn is_none(&self) -> bool {
        let timed = self.mean_interval.is_some()
            && self.horizon > Duration::ZERO
            && self.leader_move_weight + self.broker_crash_weight + self.connection_reset_weight
                > 0;
        !timed
            && self.slow_response_rate <= 0.0
            && self.lost_response_rate <= 0.0
            && self.stall_rate <= 0.0
            && (self.error_rate <= 0.0 || self.error_codes.is_empty())
            && self.producer_state_loss_rate <= 0.0
            && self.hostile.is_none()
            && self.duplicate_answer_rate <= 0.0
            && self.state_rollback_rate <= 0.0
            && self.fence_rate <= 0.0
            && self.max_batch_records.is_none()
            && self.max_batch_bytes.is_none()
            && !self.permanent_crash
    }

    /// Whether per-response faults apply at `now` (always, unless the cluster
    /// [heals](Self::heal) and `now` is past the horizon after `start`).
    pub fn active_at(&self, start: Instant, now: Instant) -> bool {
        !self.heal || now < start + self.horizon
    }
}

impl Default for FaultConfig {
    /// [`FaultConfig::none`].
    fn default() -> Self {
        FaultConfig::none()
    }
}

/// The kind of a timed fault in a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// A partition's leadership moves to another live broker.
    LeaderMove,
    /// A broker crashes (its connections reset) and restarts after a while.
    BrokerCrash,
    /// One open connection is reset.
    ConnectionReset,
}

/// One timed fault of a schedule. Its target (which partition, broker or connection) is
/// chosen from `pick` when it happens, among what exists then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledFault {
    /// When.
    pub at: Instant,
    /// What.
    pub kind: FaultKind,
    /// Random bits choosing the target.
    pub pick: u64,
    /// For crashes: how long the broker stays down.
    pub downtime: Duration,
}

/// The timed faults of a run, in time order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FaultSchedule {
    entries: Vec<ScheduledFault>,
}

impl FaultSchedule {
    /// Draws the schedule for `config` from `seed`, starting at `start`. The same arguments
    /// always give the same schedule.
    ///
    /// ```
    /// use odradek_sim::{FaultConfig, FaultSchedule, SIM_EPOCH};
    /// let a = FaultSchedule::generate(&FaultConfig::chaos(), 9, SIM_EPOCH);
    /// let b = FaultSchedule::generate(&FaultConfig::chaos(), 9, SIM_EPOCH);
    /// assert_eq!(a, b);
    /// assert!(!a.entries().is_empty());
    /// ```
    pub fn generate(config: &FaultConfig, seed: u64, start: Instant) -> Self {
        let mut entries = Vec::new();
        let Some(mean) = config.mean_interval else {
            return FaultSchedule { entries };
        };
        let total = config.leader_move_weight as u64
            + config.broker_crash_weight as u64
            + config.connection_reset_weight as u64;
        if total == 0 || mean.is_zero() {
            return FaultSchedule { entries };
        }
        let mut rng = Rng::new(seed ^ 0x5EED_FA17_0000_0001);
        let end = start + config.horizon;
        let mut t = start;
        loop {
            // Exponential inter-arrival times with the configured mean.
            let u = rng.unit();
            let gap = mean.as_secs_f64() * -(1.0 - u).ln();
            t += Duration::from_secs_f64(gap.min(3600.0));
            if t >= end {
                break;
            }
            let mut w = rng.below(total);
            let kind = if w < config.leader_move_weight as u64 {
                FaultKind::LeaderMove
            } else {
                w -= config.leader_move_weight as u64;
                if w < config.broker_crash_weight as u64 {
                    FaultKind::BrokerCrash
                } else {
                    FaultKind::ConnectionReset
                }
            };
            let pick = rng.next_u64();
            let downtime = uniform(&mut rng, config.crash_downtime);
            entries.push(ScheduledFault {
                at: t,
                kind,
                pick,
                downtime,
            });
        }
        FaultSchedule { entries }
    }

    /// The faults, in time order.
    pub fn entries(&self) -> &[ScheduledFault] {
        &self.entries
    }

    /// How many faults of `kind` the schedule holds.
    pub fn count(&self, kind: FaultKind) -> usize {
        self.entries.iter().filter(|e| e.kind == kind).count()
    }
}

/// A uniform duration in `range` (inclusive).
pub(crate) fn uniform(rng: &mut Rng, range: (Duration, Duration)) -> Duration {
    let (lo, hi) = (range.0.as_nanos() as u64, range.1.as_nanos() as u64);
    if hi <= lo {
        return range.0;
    }
    Duration::from_nanos(lo + rng.below(hi - lo + 1))
}

/// A fault injected by hand with [`Cluster::inject`](crate::Cluster::inject).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Moves the leadership of `topic`/`partition` to broker `to`.
    MoveLeader {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// New leader's node id.
        to: i32,
    },
    /// Crashes broker `node` for `downtime`: its connections reset, connecting to it fails,
    /// the partitions it leads move to live brokers when there are any.
    CrashBroker {
        /// Node id.
        node: i32,
        /// How long it stays down.
        downtime: Duration,
    },
    /// Resets one connection (the client learns of it after the network latency).
    ResetConnection(ConnId),
    /// The next Produce response on any connection is lost after the append (the broker
    /// drops the connection instead of answering).
    LoseNextProduceResponse,
    /// The next Produce partition response answers `ErrorCode` (appending first for
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    FailNextPartition(ErrorCode),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SIM_EPOCH;

    #[test]
    fn schedule_is_a_pure_function_of_the_seed() {
        let c = FaultConfig::chaos();
        let a = FaultSchedule::generate(&c, 1, SIM_EPOCH);
        assert_eq!(a, FaultSchedule::generate(&c, 1, SIM_EPOCH));
        let b = FaultSchedule::generate(&c, 2, SIM_EPOCH);
        assert_ne!(a, b);
        // Sorted, inside the horizon, and every kind shows up over a long horizon.
        let mut long = c.clone();
        long.horizon = Duration::from_secs(60);
        let s = FaultSchedule::generate(&long, 3, SIM_EPOCH);
        assert!(s.entries().windows(2).all(|w| w[0].at <= w[1].at));
        assert!(s
            .entries()
            .iter()
            .all(|e| e.at > SIM_EPOCH && e.at < SIM_EPOCH + long.horizon));
        for kind in [
            FaultKind::LeaderMove,
            FaultKind::BrokerCrash,
            FaultKind::ConnectionReset,
        ] {
            assert!(s.count(kind) > 0, "{kind:?} never drawn");
        }
        // Crash downtimes stay within the configured range.
        assert!(s
            .entries()
            .iter()
            .all(|e| e.downtime >= c.crash_downtime.0 && e.downtime <= c.crash_downtime.1));
    }

    #[test]
    fn no_faults_means_an_empty_schedule() {
        let s = FaultSchedule::generate(&FaultConfig::none(), 5, SIM_EPOCH);
        assert!(s.entries().is_empty());
        let mut only_resets = FaultConfig::none();
        only_resets.mean_interval = Some(Duration::from_millis(10));
        only_resets.horizon = Duration::from_secs(1);
        only_resets.connection_reset_weight = 1;
        assert!(!only_resets.is_none());
        let s = FaultSchedule::generate(&only_resets, 5, SIM_EPOCH);
        assert!(s.entries().len() > 10);
        assert_eq!(s.count(FaultKind::ConnectionReset), s.entries().len());
    }
}
