//! The `simulation` example's logic: a seeded workload against the simulated cluster with
//! every kind of fault switched on, checked against the core's promises. No broker, no clock,
//! no network: the same seed gives the same run, byte for byte.

use odradek_sim::{describe, FaultConfig, RunReport, SimConfig, Simulation};
use std::fmt::Write as _;

/// Seed used when none is given.
pub const DEFAULT_SEED: u64 = 42;
/// Records sent when no count is given.
pub const DEFAULT_RECORDS: usize = 2_000;

/// The example's configuration: three simulated brokers, [`FaultConfig::chaos`] (leader
/// moves, crashes, connection resets, slow, lost and stalled responses, injected retriable
/// errors, producer-state loss), `records` records, the producer's default configuration
/// (acks=all, and so idempotent once the core supports it).
pub fn config(seed: u64, records: usize) -> SimConfig {
    let mut config = SimConfig::new(seed);
    config.cluster.faults = FaultConfig::chaos();
    config.workload.records = records;
    config
}

/// Runs [`config`]`(seed, records)`.
pub fn run(seed: u64, records: usize) -> RunReport {
    Simulation::new(config(seed, records)).run()
}

/// The command that replays this example's run.
pub fn replay_command(seed: u64, records: usize) -> String {
    format!("cargo run -p odradek-examples --example simulation -- {seed} {records}")
}

/// A human-readable report of a run.
pub fn render(config: &SimConfig, report: &RunReport) -> String {
    let mut s = String::new();
    let st = &report.stats;
    let _ = writeln!(s, "seed {}: {}", report.seed, describe(config));
    let _ = writeln!(
        s,
        "records: {} sent, {} delivered, {} failed, {} refused at send, {} BufferFull retries",
        report.sent, report.delivered, report.failed, report.refused, report.buffer_full
    );
    let _ = writeln!(
        s,
        "explained: {} duplicate copies in the logs, {} failed records written anyway",
        report.duplicates, report.failed_but_written
    );
    let _ = writeln!(
        s,
        "cluster: {} requests ({} produce), {} batches / {} records appended",
        st.requests, st.produce_requests, st.appends, st.records_appended
    );
    let _ = writeln!(
        s,
        "faults: {} leader moves, {} crashes, {} connection resets, {} slow, {} lost, {} stalled \
         responses, injected errors {:?}",
        st.leader_moves,
        st.crashes,
        st.connection_resets,
        st.slow_responses,
        st.lost_responses,
        st.stalls,
        st.injected_errors
    );
    let _ = writeln!(
        s,
        "idempotence: {} producer ids, {} retried batches answered with their offset, \
         sequence errors {:?}, {} producer states lost",
        st.producer_ids, st.duplicate_batches, st.sequence_errors, st.producer_state_losses
    );
    let _ = writeln!(
        s,
        "{} inputs to the core, {:.3} s of virtual time",
        report.steps,
        report.virtual_duration.as_secs_f64()
    );
    if report.passed() {
        let _ = writeln!(s, "PASSED: every promise held");
    } else {
        let _ = writeln!(s, "FAILED: {} broken promise(s)", report.violations.len());
        for v in report.violations.iter().take(20) {
            let _ = writeln!(s, "  {v}");
        }
    }
    let _ = write!(
        s,
        "replay: {}",
        replay_command(report.seed, config.workload.records)
    );
    s
}
