//! Whole runs: the same seed replays exactly, and the suite's seeds cover the configuration
//! and fault space.

use odradek_core::{Acks, Compression};
use odradek_sim::{suite_config, FaultConfig, SimConfig, Simulation};
use std::collections::BTreeSet;

#[test]
fn the_same_seed_replays_exactly() {
    let config = |seed| {
        let mut c = SimConfig::new(seed);
        c.cluster.faults = FaultConfig::chaos();
        c.workload.records = 60;
        c
    };
    let a = Simulation::new(config(9)).run();
    let b = Simulation::new(config(9)).run();
    assert_eq!(a.history, b.history);
    assert_eq!(a.logs, b.logs);
    assert_eq!(a.stats, b.stats);
    assert_eq!(a.virtual_duration, b.virtual_duration);
    assert_eq!(a.sent, 60);
    assert_eq!(a.delivered + a.failed, 60);
    let c = Simulation::new(config(10)).run();
    assert_ne!(a.history, c.history);
}

#[test]
fn a_fault_free_run_delivers_everything_in_order() {
    let mut config = SimConfig::new(3);
    config.workload.records = 80;
    config.trace = true;
    let report = Simulation::new(config).run();
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!(
        (report.delivered, report.failed, report.duplicates),
        (80, 0, 0)
    );
    assert!(report.trace.iter().any(|l| l.contains("core: Closed")));
    let stored: usize = report.logs.logs.values().map(|l| l.len()).sum();
    assert_eq!(stored, 80);
}

#[test]
fn suite_seeds_cover_every_fault_and_setting() {
    let configs: Vec<SimConfig> = (0..2000).map(suite_config).collect();
    let f = |pred: &dyn Fn(&SimConfig) -> bool| configs.iter().filter(|c| pred(c)).count();
    assert!(f(&|c| c.cluster.faults.is_none()) > 100);
    assert!(f(&|c| c.cluster.faults.leader_move_weight > 0) > 100);
    assert!(f(&|c| c.cluster.faults.broker_crash_weight > 0) > 100);
    assert!(f(&|c| c.cluster.faults.connection_reset_weight > 0) > 100);
    assert!(f(&|c| c.cluster.faults.slow_response_rate > 0.0) > 100);
    assert!(f(&|c| c.cluster.faults.lost_response_rate > 0.0) > 100);
    assert!(f(&|c| c.cluster.faults.stall_rate > 0.0) > 100);
    assert!(f(&|c| c.cluster.faults.error_rate > 0.0) > 100);
    assert!(f(&|c| c.cluster.versions.is_legacy()) > 100);
    assert!(f(&|c| c.workload.unknown_topic_rate > 0.0) > 30);
    let codes: BTreeSet<i16> = configs
        .iter()
        .filter(|c| c.cluster.faults.error_rate > 0.0)
        .flat_map(|c| c.cluster.faults.error_codes.iter().map(|e| e.0))
        .collect();
    assert_eq!(codes, [3, 5, 6, 7, 19, 20].into_iter().collect());
    for acks in [Acks::None, Acks::Leader, Acks::All] {
        assert!(f(&|c| c.producer.acks == acks) > 120, "{acks:?}");
    }
    // The idempotent mode's shape (acks=all, 5 in flight) in about half the modern seeds;
    // explicit `Some(false)` and the default in the others; never idempotent on a legacy
    // broker; producer-state loss and hostile values among the faults.
    let pipelined = f(&|c| {
        c.producer.acks == Acks::All
            && c.producer.max_in_flight_requests_per_connection == 5
            && c.producer.enable_idempotence != Some(false)
    });
    assert!(pipelined > 800, "{pipelined}");
    assert!(f(&|c| c.producer.enable_idempotence == Some(false)) > 300);
    assert!(f(&|c| c.producer.enable_idempotence.is_none()) > 300);
    assert_eq!(
        f(&|c| c.cluster.versions.is_legacy() && c.producer.enable_idempotence != Some(false)),
        0
    );
    // Idempotent seeds keep Java's rules (acks=all, at most 5 in flight); a defaulted
    // idempotence also runs with 1 to 4 in flight.
    assert!(configs.iter().all(|c| !c.producer.idempotence_enabled()
        || (c.producer.acks == Acks::All
            && c.producer.max_in_flight_requests_per_connection <= 5)));
    assert!(f(&|c| c.cluster.faults.producer_state_loss_rate > 0.0) > 300);
    assert!(f(&|c| c.cluster.faults.hostile.phantom_leader_rate > 0.0) > 50);
    assert!(f(&|c| c.cluster.faults.hostile.throttle_rate > 0.0) > 50);

    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        assert!(f(&|c| c.producer.compression == codec) > 200, "{codec:?}");
    }
    assert!(configs
        .iter()
        .all(|c| (20..=200).contains(&c.workload.records)));
    // zstd is never paired with a legacy broker (it needs Produce v7).
    assert_eq!(
        f(&|c| c.cluster.versions.is_legacy() && c.producer.compression == Compression::Zstd),
        0
    );
    assert!(configs.iter().all(|c| c.producer.validate().is_ok()));
}

/// Closing without a delivery timeout waits as long as records keep being delivered: a
/// healthy cluster that needs many round trips (one small batch per request, one partition,
/// slow network) to drain what was sent before `close` delivers all of it, although that
/// takes many request timeouts. (Before, every record not in flight failed
/// `request.timeout.ms` after `close`, progress or not.)
#[test]
fn a_close_without_delivery_timeout_waits_while_records_are_delivered() {
    let mut config = SimConfig::new(5);
    config.cluster.topics = vec![odradek_sim::TopicSpec::new("alpha", 1)];
    config.cluster.network.latency_min = std::time::Duration::from_millis(2);
    config.cluster.network.latency_max = std::time::Duration::from_millis(3);
    config.producer.delivery_timeout = None;
    config.producer.enable_idempotence = Some(false);
    config.producer.acks = Acks::Leader;
    config.producer.linger = std::time::Duration::ZERO;
    config.producer.batch_size = 256;
    config.producer.request_timeout = std::time::Duration::from_millis(100);
    config.workload.records = 150;
    // Every record at one instant, then `close` at once.
    config.workload.burst_rate = 1.0;
    config.workload.flush_rate = 0.0;
    config.workload.value_size = (100, 200);
    config.workload.large_rate = 0.0;
    let report = Simulation::new(config).run();
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!((report.delivered, report.failed), (150, 0));
    // Draining took far longer than one request timeout: at least 4 ms per round trip.
    assert!(
        report.virtual_duration > std::time::Duration::from_millis(400),
        "{:?}",
        report.virtual_duration
    );
}

/// The records that failed with `CloseTimedOut` in a run.
fn closed_now(report: &odradek_sim::RunReport) -> usize {
    report
        .history
        .outputs
        .iter()
        .filter(|(_, o)| {
            matches!(
                o,
                odradek_sim::Observed::Failed {
                    error: odradek_core::ProduceError::CloseTimedOut,
                    ..
                }
            )
        })
        .count()
}

#[test]
fn a_close_that_times_out_fails_what_is_left_once() {
    let mut config = SimConfig::new(5);
    config.cluster.topics = vec![odradek_sim::TopicSpec::new("alpha", 2)];
    config.cluster.network.latency_min = std::time::Duration::from_millis(2);
    config.cluster.network.latency_max = std::time::Duration::from_millis(3);
    config.producer.linger = std::time::Duration::ZERO;
    config.producer.batch_size = 256;
    config.workload.records = 150;
    // Every record at one instant, then `close`, which gives up 30 ms later: some records
    // are delivered by then, the rest (in flight or never sent) fail with CloseTimedOut.
    config.workload.burst_rate = 1.0;
    config.workload.flush_rate = 0.0;
    config.workload.value_size = (100, 200);
    config.workload.large_rate = 0.0;
    config.close_timeout = Some(std::time::Duration::from_millis(30));
    let report = Simulation::new(config).run();
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!(report.delivered + report.failed, 150);
    assert!(
        report.delivered > 0,
        "some delivered before the timeout: {}",
        report.failed
    );
    assert!(
        report.failed > 0,
        "some left at the timeout: {}",
        report.delivered
    );
    assert_eq!(closed_now(&report), report.failed);
}

#[test]
fn suite_seeds_close_with_a_timeout_and_keep_every_promise() {
    let seeds: Vec<u64> = (0..400)
        .filter(|&s| odradek_sim::variation::close_timeout_for(s).is_some())
        .collect();
    assert!(
        seeds.len() > 40,
        "{} seeds close with a timeout",
        seeds.len()
    );
    let mut failed = 0;
    for &seed in &seeds {
        let report = Simulation::new(suite_config(seed)).run();
        assert!(report.passed(), "seed {seed}: {:#?}", report.violations);
        failed += closed_now(&report);
    }
    assert!(
        failed > 0,
        "a close timed out with records left on some seed"
    );
}
