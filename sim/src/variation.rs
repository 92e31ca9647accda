//! [`suite_config`]: a whole run's configuration drawn from a seed, so that a range of seeds
//! covers the configuration space (acks, compression, linger, batch sizes, in-flight limits,
//! retries, timeouts, partitioners, broker versions, idempotence) and every kind of fault.
//!
//! * **Idempotent mode**: [`IDEMPOTENT_SHARE_PERCENT`] of the seeds with a modern broker run
//!   the producer with `enable.idempotence = true`, acks=all and 5 requests in flight per
//!   connection (so up to 5 batches per partition in flight), with producer-state loss among
//!   the faults. The mode is only chosen when the core says idempotence is in force
//!   ([`Config::idempotence_enabled`](odradek_core::Config::idempotence_enabled)); until the
//!   core implements it those seeds fall back to the default (`None`) with the same acks,
//!   in-flight limit and retries.
//! * **Hostile values** ([`hostile_for`]): one seed in four among those with faults gets some
//!   of the kinds in [`DEFAULT_HOSTILE`] (every kind: huge or sparse partition indices,
//!   base offsets near `i64::MAX`, a leader that is no broker, throttle times).

use crate::config::{BrokerVersions, NetworkConfig, SimConfig, TopicSpec};
use crate::faults::{FaultConfig, HostileConfig, RETRIABLE_PRODUCE_ERRORS};
use odradek_core::rng::Rng;
use odradek_core::{Acks, Compression, PartitionerConfig};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn pick<T: Clone>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below(items.len() as u64) as usize].clone()
}

/// The share of seeds (with a modern broker) that run the idempotent producer, in percent.
pub const IDEMPOTENT_SHARE_PERCENT: u64 = 50;

/// The kinds of hostile value, by the names [`hostile_for`] and `ODRADEK_SIM_HOSTILE` use:
/// `index` (a huge or sparse partition index in Metadata), `offset` (a base offset near
/// `i64::MAX` in Produce), `leader` (a leader id that is no broker), `throttle` (a non-zero
/// `throttle_time_ms`).
pub const HOSTILE_KINDS: [&str; 4] = ["index", "offset", "leader", "throttle"];

/// The hostile kinds [`suite_config`] draws into seeds that have faults: all of
/// [`HOSTILE_KINDS`] (the core bounds partition indices, issue 6 §2.3, and refuses base
/// offsets that would overflow, §2.5).
pub const DEFAULT_HOSTILE: &[&str] = &["index", "offset", "leader", "throttle"];

/// The hostile values seed `seed` gets, among `kinds` (names from [`HOSTILE_KINDS`]): none
/// for three seeds in four; for the others each kind with probability 1/2, at a rate of
/// 5–30% of answers. Drawn from a generator of its own, so the choice changes nothing else
/// in the seed's configuration.
///
/// ```
/// use odradek_sim::variation::{hostile_for, HOSTILE_KINDS};
/// let any = (0..100).any(|s| !hostile_for(s, &HOSTILE_KINDS).is_none());
/// assert!(any);
/// assert_eq!(hostile_for(7, &HOSTILE_KINDS), hostile_for(7, &HOSTILE_KINDS));
/// assert!((0..100).all(|s| hostile_for(s, &["throttle"]).base_offset_rate == 0.0));
/// ```
pub fn hostile_for(seed: u64, kinds: &[&str]) -> HostileConfig {
    let mut rng = Rng::new(seed ^ 0x4057_11E0_BAD0_0004);
    if rng.below(4) != 0 {
        return HostileConfig::none();
    }
    let mut rate = |kind: &str| {
        let r = if rng.below(2) == 0 {
            0.05 + rng.unit() * 0.25
        } else {
            0.0
        };
        if kinds.contains(&kind) {
            r
        } else {
            0.0
        }
    };
    HostileConfig {
        partition_index_rate: rate("index"),
        base_offset_rate: rate("offset"),
        phantom_leader_rate: rate("leader"),
        throttle_rate: rate("throttle"),
    }
}

/// The suite's faults for `seed`: none, a single kind in focus, or a mix (part of
/// [`suite_config`], drawing from its generator in turn).
fn suite_faults(rng: &mut Rng, seed: u64) -> FaultConfig {
    let mut f = FaultConfig::none();
    let mode = rng.below(20);
    let horizon = ms(500 + rng.below(3000));
    match mode {
        0..=2 => {} // no faults: every record must be delivered
        3..=11 => {
            // One kind at a time, strongly, so each is exercised alone.
            f.horizon = horizon;
            f.crash_downtime = (ms(20), ms(800));
            f.slow_extra = (ms(10), ms(2500));
            match rng.below(9) {
                0 => {
                    f.mean_interval = Some(ms(30 + rng.below(200)));
                    f.leader_move_weight = 1;
                }
                1 => {
                    f.mean_interval = Some(ms(100 + rng.below(400)));
                    f.broker_crash_weight = 1;
                }
                2 => {
                    f.mean_interval = Some(ms(30 + rng.below(200)));
                    f.connection_reset_weight = 1;
                }
                3 => f.slow_response_rate = 0.05 + rng.unit() * 0.2,
                4 => f.lost_response_rate = 0.02 + rng.unit() * 0.1,
                5 => f.stall_rate = 0.01 + rng.unit() * 0.05,
                6 => {
                    f.error_rate = 0.05 + rng.unit() * 0.25;
                    f.error_codes = vec![pick(rng, &RETRIABLE_PRODUCE_ERRORS)];
                }
                7 => f.error_rate = 0.05 + rng.unit() * 0.2,
                _ => {
                    // Producer state loss (only idempotent producers have any), with lost
                    // responses and errors so retries are around.
                    f.producer_state_loss_rate = 0.05 + rng.unit() * 0.2;
                    f.lost_response_rate = 0.02;
                    f.error_rate = 0.05;
                }
            }
        }
        _ => {
            f = FaultConfig::chaos();
            f.horizon = horizon;
            f.mean_interval = Some(ms(50 + rng.below(300)));
            let scale = 0.3 + rng.unit();
            f.slow_response_rate *= scale;
            f.lost_response_rate *= scale;
            f.stall_rate *= scale;
            f.error_rate *= scale;
            f.producer_state_loss_rate *= scale;
        }
    }
    if !f.is_none() {
        f.hostile = hostile_for(seed, DEFAULT_HOSTILE);
    }
    (f.leader_hint_rate, f.invalid_record_rate) = kip_rates_for(seed);
    f
}

/// The rates of newer brokers' answers for seed `seed` (every seed, with faults or not):
/// KIP-951 leader hints on every partition for 3 seeds in 8, on a share of the partitions for
/// 2 in 8, none for the rest (older brokers; the backoff and metadata-refresh checks after
/// NOT_LEADER apply to partitions without hints); KIP-467 refused records for one seed in
/// four, at 0.5–3% of records. Drawn from a generator of their own, so the choice changes
/// nothing else in the seed's configuration.
pub fn kip_rates_for(seed: u64) -> (f64, f64) {
    let mut rng = Rng::new(seed ^ 0x0951_0467_5EED_0005);
    let hints = match rng.below(8) {
        0..=2 => 1.0,
        3 | 4 => 0.2 + rng.unit() * 0.6,
        _ => 0.0,
    };
    let refused = if rng.below(4) == 0 {
        0.005 + rng.unit() * 0.025
    } else {
        0.0
    };
    (hints, refused)
}

/// The configuration the suite runs for `seed`: a pure function of the seed.
///
/// ```
/// let a = odradek_sim::suite_config(3);
/// let b = odradek_sim::suite_config(3);
/// assert_eq!(odradek_sim::describe(&a), odradek_sim::describe(&b));
/// assert!((20..=200).contains(&a.workload.records));
/// ```
pub fn suite_config(seed: u64) -> SimConfig {
    let mut rng = Rng::new(seed ^ 0x5017_E0F1_7A11_0003);
    let mut config = SimConfig::new(seed);
    let c = &mut config.cluster;

    // Cluster shape.
    c.brokers = pick(&mut rng, &[1, 2, 3, 3, 3, 4, 5]);
    let ntopics = 1 + rng.below(3) as usize;
    c.topics = (0..ntopics)
        .map(|i| TopicSpec::new(["alpha", "beta", "gamma"][i], 1 + rng.below(6) as i32))
        .collect();
    let legacy = rng.below(10) == 0;
    let idempotent = !legacy && rng.below(100) < IDEMPOTENT_SHARE_PERCENT;
    c.versions = if legacy {
        BrokerVersions::kafka_0_10()
    } else {
        BrokerVersions::modern()
    };
    c.network = if rng.below(8) == 0 {
        NetworkConfig::instant()
    } else {
        let lo = rng.below(1000);
        NetworkConfig {
            latency_min: Duration::from_micros(lo),
            latency_max: Duration::from_micros(lo + rng.below(5000)),
            fragment_responses: rng.below(2) == 0,
        }
    };

    c.faults = suite_faults(&mut rng, seed);

    // Producer.
    let p = &mut config.producer;
    p.acks = match rng.below(20) {
        0..=8 => Acks::All,
        9..=16 => Acks::Leader,
        _ => Acks::None,
    };
    let codecs: &[Compression] = if legacy {
        &[
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
        ]
    } else {
        &[
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ]
    };
    p.compression = pick(&mut rng, codecs);
    p.linger = pick(&mut rng, &[ms(0), ms(1), ms(5), ms(20)]);
    p.batch_size = pick(&mut rng, &[256, 1024, 4096, 16 * 1024]);
    p.batch_num_messages = pick(&mut rng, &[0, 5, 50, 10_000]);
    p.max_request_records = pick(&mut rng, &[0, 0, 0, 10, 40]);
    p.max_in_flight_requests_per_connection = 1 + rng.below(5) as usize;
    p.retries = pick(&mut rng, &[0, 1, 3, 10, 10, 10, 100]);
    p.retry_backoff = ms(1 + rng.below(200));
    p.request_timeout = ms(300 + rng.below(4000));
    p.delivery_timeout = pick(
        &mut rng,
        &[None, Some(ms(5_000)), Some(ms(30_000)), Some(ms(120_000))],
    );
    p.metadata_max_age = pick(&mut rng, &[ms(200), ms(5_000), ms(300_000)]);
    p.partitioner = pick(
        &mut rng,
        &[
            PartitionerConfig::Murmur2,
            PartitionerConfig::Murmur2,
            PartitionerConfig::Fnv1a,
            PartitionerConfig::RoundRobin,
            PartitionerConfig::Random,
            PartitionerConfig::Sticky,
        ],
    );
    // Successes hand records back in about a quarter of the seeds: tied to a draw already
    // made, so every earlier seed keeps its shape (and the soak finds stay what they were).
    p.return_successes = p.batch_num_messages == 50;
    let small = rng.below(6) == 0;
    if small {
        p.max_request_size = 16 * 1024;
        p.message_max_bytes = 8 * 1024;
        p.buffer_memory = 16 * 1024;
    }
    // Idempotence: explicit and pipelined in the idempotent mode; otherwise the default or
    // explicitly off (always off against legacy brokers, which have no producer ids).
    if idempotent {
        p.acks = Acks::All;
        p.max_in_flight_requests_per_connection = 5;
        p.retries = pick(&mut rng, &[3, 10, 100, u32::MAX]);
        p.enable_idempotence = Some(true);
        if !p.idempotence_enabled() {
            // The core cannot do it yet: run the same shape with the default.
            p.enable_idempotence = None;
        }
    } else if legacy || rng.below(2) == 0 {
        p.enable_idempotence = Some(false);
    } else {
        p.enable_idempotence = None;
    }
    config.max_steps = 200_000;
    config.max_virtual_time = Duration::from_secs(3600);

    // Workload.
    let w = &mut config.workload;
    w.records = 20 + rng.below(181) as usize;
    w.mean_gap = Duration::from_micros(50 + rng.below(3000));
    w.burst_rate = rng.unit() * 0.8;
    w.key_rate = rng.unit();
    w.header_rate = if legacy { 0.0 } else { rng.unit() * 0.5 };
    w.flush_rate = rng.unit() * 0.03;
    w.unknown_topic_rate = if rng.below(20) == 0 { 0.05 } else { 0.0 };
    if rng.below(10) == 0 {
        w.oversize_rate = 0.05;
        w.oversize_bytes = config.producer.message_max_bytes + 1;
    }
    real_cluster_faults(seed, &mut config);
    config.timer_lateness = timer_lateness_for(seed);
    config.close_timeout = close_timeout_for(seed);
    config
}

/// Seed `seed`'s close timeout ([`SimConfig::close_timeout`]): none for four seeds in five,
/// else 0, 5, 50, 500 ms or 5 s after the close. Drawn from a generator of its own, so every
/// other choice of a seed stays what it was.
///
/// ```
/// use odradek_sim::variation::close_timeout_for;
/// assert!((0..100).any(|s| close_timeout_for(s).is_some()));
/// assert!((0..100).any(|s| close_timeout_for(s).is_none()));
/// ```
pub fn close_timeout_for(seed: u64) -> Option<Duration> {
    let mut rng = Rng::new(seed ^ 0xC105_E71E_0000_0025);
    if rng.below(5) != 0 {
        return None;
    }
    Some(ms(pick(&mut rng, &[0, 5, 50, 500, 5000])))
}

/// How late seed `seed`'s timers may fire ([`SimConfig::timer_lateness`]): on time for two
/// seeds in three, else up to 1, 5 or 20 ms. Drawn from a generator of its own, so every other
/// choice of a seed stays what it was.
///
/// ```
/// use odradek_sim::variation::timer_lateness_for;
/// assert!((0..100).any(|s| !timer_lateness_for(s).is_zero()));
/// assert!((0..100).all(|s| timer_lateness_for(s) <= std::time::Duration::from_millis(20)));
/// ```
pub fn timer_lateness_for(seed: u64) -> Duration {
    let mut rng = Rng::new(seed ^ 0x7137_E1A7_E000_0022);
    if rng.below(3) != 0 {
        return Duration::ZERO;
    }
    ms(pick(&mut rng, &[1, 5, 20]))
}

/// The settling time after a healed cluster's last fault, before records sent must be
/// delivered: a stalled request times out (request timeout), a slow answer on its way
/// arrives (the longest slow extra), the retry behind it backs off (the longest backoff),
/// a request in flight meanwhile times out too, plus a second of margin.
pub fn settle_time(config: &SimConfig) -> Duration {
    let p = &config.producer;
    2 * p.request_timeout
        + config.cluster.faults.slow_extra.1
        + p.retry_backoff_max.max(p.retry_backoff)
        + Duration::from_secs(1)
}

/// What a real cluster does that the first suite did not draw (issue 21): long-lived
/// producers whose sequences cross the wrap-around, every idempotence answer
/// (DUPLICATE_SEQUENCE_NUMBER, state that falls behind, INVALID_PRODUCER_EPOCH), brokers whose
/// size caps make the producer split batches, a cluster that heals (with records sent after
/// it has, which must be delivered), and a broker that never comes back. Drawn from a
/// generator of its own, so every other choice of a seed stays what it was.
fn real_cluster_faults(seed: u64, config: &mut SimConfig) {
    let mut rng = Rng::new(seed ^ 0x1551_E210_2100_0021);
    let idempotent = config.producer.idempotence_enabled();
    let legacy = config.cluster.versions.is_legacy();
    let f = &mut config.cluster.faults;
    let faulty = !f.is_none();
    // Long-lived partitions: a third of the idempotent seeds start 0..40 before i32::MAX.
    if idempotent && rng.below(3) == 0 {
        f.initial_sequence = Some(i32::MAX - rng.below(40) as i32);
    }
    if idempotent && faulty {
        if rng.below(2) == 0 {
            f.duplicate_answer_rate = 0.3 + 0.7 * rng.unit();
        }
        if rng.below(3) == 0 {
            f.state_rollback_rate = 0.02 + 0.1 * rng.unit();
        }
        if rng.below(15) == 0 {
            f.fence_rate = 0.002 + 0.01 * rng.unit();
        }
    }
    // Broker caps: a quarter of all seeds.
    if rng.below(4) == 0 {
        let which = rng.below(3);
        if which != 1 {
            f.max_batch_records = Some(pick(&mut rng, &[1, 2, 3, 5, 8]));
        }
        if which != 0 {
            f.max_batch_bytes = Some(pick(&mut rng, &[700, 1024, 2048, 4096]));
        }
    }
    let _ = legacy;
    if faulty {
        match rng.below(10) {
            0..=4 => f.heal = true,
            5 if f.horizon > Duration::ZERO => f.permanent_crash = true,
            _ => {}
        }
    }
    if f.heal {
        let tail_at = f.horizon + f.crash_downtime.1 + settle_time(config);
        let w = &mut config.workload;
        w.tail_records = 3 + rng.below(15) as usize;
        w.tail_at = tail_at;
    }
}
