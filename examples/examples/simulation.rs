//! # simulation — a seeded run against the simulated cluster, with faults
//!
//! ```text
//! cargo run -p odradek-examples --example simulation -- [seed] [records]
//! ```
//!
//! Drives a real `ProducerCore` against `odradek-sim`'s cluster of three brokers with every
//! fault switched on (leader moves, broker crashes, connection resets, slow, lost and stalled
//! responses, injected retriable errors), then checks the core's promises: one outcome per
//! record, per-partition order, no unexplained duplicates, `Closed` last. Needs no broker and
//! no network; time is virtual. The same seed replays the same run exactly; the report ends
//! with the command that does so. Exits non-zero if a promise was broken.

use odradek_examples::simulation::{config, render, DEFAULT_RECORDS, DEFAULT_SEED};
use odradek_sim::Simulation;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let seed = args
        .next()
        .map(|s| s.parse().expect("seed: a number"))
        .unwrap_or(DEFAULT_SEED);
    let records = args
        .next()
        .map(|s| s.parse().expect("records: a number"))
        .unwrap_or(DEFAULT_RECORDS);

    let config = config(seed, records);
    let report = Simulation::new(config.clone()).run();
    println!("{}", render(&config, &report));
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
