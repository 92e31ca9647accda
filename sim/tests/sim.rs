//! The seeded simulation suite: thousands of runs of the real ProducerCore against the
//! simulated cluster, each with a configuration and fault schedule drawn from its seed.
//!
//! * `cargo test -p odradek-sim --test sim` runs seeds `0..ODRADEK_SIM_SEEDS` (default 2000)
//!   on every core and prints one line: `sim: <seeds> seeds, <records> records, <violations>
//!   violations`. It exits non-zero on any violation, printing per failing seed the command
//!   that replays it.
//! * `ODRADEK_SIM_SEED=<seed> cargo test -p odradek-sim --test sim -- --nocapture` replays
//!   one seed with a full trace.
//! * `ODRADEK_SIM_FIRST=<n>` starts the range elsewhere.

use odradek_sim::{suite_config, RunReport, Simulation};
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// What one seed amounted to, cheap to send between threads.
struct Outcome {
    seed: u64,
    elapsed: std::time::Duration,
    stats: Option<odradek_sim::ClusterStats>,
    duplicates: usize,
    records: usize,
    violations: Vec<String>,
    report: Option<RunReport>,
}

fn run_seed(seed: u64, trace: bool) -> Outcome {
    let mut config = suite_config(seed);
    config.trace = trace;
    let sim = Simulation::new(config);
    let started = std::time::Instant::now();
    let result = panic::catch_unwind(AssertUnwindSafe(|| sim.run()));
    let elapsed = started.elapsed();
    match result {
        Ok(report) => Outcome {
            seed,
            elapsed,
            stats: Some(report.stats.clone()),
            duplicates: report.duplicates,
            records: report.sent,
            violations: report.violations.iter().map(|v| v.to_string()).collect(),
            report: trace.then_some(report),
        },
        Err(_) => {
            let msg = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Outcome {
                seed,
                elapsed,
                stats: None,
                duplicates: 0,
                records: 0,
                violations: vec![format!("Panic: {msg}")],
                report: None,
            }
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn replay(seed: u64) -> ExitCode {
    let config = suite_config(seed);
    println!("sim: replaying seed {seed}");
    println!("config: {}", odradek_sim::describe(&config));
    let out = run_seed(seed, true);
    if let Some(report) = &out.report {
        for line in &report.trace {
            println!("{line}");
        }
        println!(
            "sent {} delivered {} failed {} refused {} buffer-full {} duplicates {} \
             failed-but-written {} steps {} virtual {:?}",
            report.sent,
            report.delivered,
            report.failed,
            report.refused,
            report.buffer_full,
            report.duplicates,
            report.failed_but_written,
            report.steps,
            report.virtual_duration
        );
        println!("cluster: {:?}", report.stats);
    }
    for v in &out.violations {
        println!("VIOLATION {v}");
    }
    println!(
        "sim: 1 seeds, {} records, {} violations",
        out.records,
        out.violations.len()
    );
    if out.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    // Keep panics of individual seeds quiet; they are reported with their seed.
    panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let loc = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{loc}")));
    }));
    if let Some(seed) = env_u64("ODRADEK_SIM_SEED") {
        return replay(seed);
    }
    // `cargo test -- --list` and similar harness flags: nothing to list.
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let seeds = env_u64("ODRADEK_SIM_SEEDS").unwrap_or(2000);
    let first = env_u64("ODRADEK_SIM_FIRST").unwrap_or(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8) as u64;
    let next = Arc::new(AtomicU64::new(0));
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let next = Arc::clone(&next);
            std::thread::spawn(move || {
                let mut outs = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= seeds {
                        break;
                    }
                    outs.push(run_seed(first + i, false));
                }
                outs
            })
        })
        .collect();
    let mut outs: Vec<Outcome> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("suite thread"))
        .collect();
    outs.sort_by_key(|o| o.seed);
    let records: usize = outs.iter().map(|o| o.records).sum();
    let violations: usize = outs.iter().map(|o| o.violations.len()).sum();
    let failing: Vec<&Outcome> = outs.iter().filter(|o| !o.violations.is_empty()).collect();
    for o in failing.iter().take(30) {
        println!("FAIL seed {}: {} violations", o.seed, o.violations.len());
        for v in o.violations.iter().take(5) {
            println!("    {v}");
        }
        println!("    replay: {}", odradek_sim::replay_command(o.seed));
    }
    if failing.len() > 30 {
        println!("... and {} more failing seeds", failing.len() - 30);
    }
    // Coverage: what the cluster did across all seeds (stderr, so the summary stays one line).
    let mut total = odradek_sim::ClusterStats::default();
    for s in outs.iter().filter_map(|o| o.stats.as_ref()) {
        total.produce_requests += s.produce_requests;
        total.records_appended += s.records_appended;
        total.leader_moves += s.leader_moves;
        total.crashes += s.crashes;
        total.connection_resets += s.connection_resets;
        total.slow_responses += s.slow_responses;
        total.lost_responses += s.lost_responses;
        total.stalls += s.stalls;
        for (code, n) in &s.injected_errors {
            *total.injected_errors.entry(*code).or_default() += n;
        }
    }
    let duplicates: usize = outs.iter().map(|o| o.duplicates).sum();
    eprintln!(
        "sim coverage: {} produce requests, {} records appended, {duplicates} explained duplicates, \
         {} leader moves, {} crashes, {} connection resets, {} slow responses, {} lost responses, \
         {} stalls, injected errors {:?}",
        total.produce_requests,
        total.records_appended,
        total.leader_moves,
        total.crashes,
        total.connection_resets,
        total.slow_responses,
        total.lost_responses,
        total.stalls,
        total.injected_errors
    );
    if std::env::var_os("ODRADEK_SIM_VERBOSE").is_some() {
        let mut slow: Vec<&Outcome> = outs.iter().collect();
        slow.sort_by_key(|o| std::cmp::Reverse(o.elapsed));
        for o in slow.iter().take(10) {
            eprintln!(
                "slow seed {} {:?}: {}",
                o.seed,
                o.elapsed,
                odradek_sim::describe(&suite_config(o.seed))
            );
        }
    }
    eprintln!(
        "sim: {} failing seeds, {:.1}s wall clock on {threads} threads",
        failing.len(),
        started.elapsed().as_secs_f64()
    );
    println!("sim: {seeds} seeds, {records} records, {violations} violations");
    if violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
