//! The `simulation` example's run, as a test: it needs no broker, so plain `cargo test` runs it.

use odradek_examples::simulation::{config, render, run};

#[test]
fn the_simulation_example_passes_and_accounts_for_every_record() {
    let records = 500;
    for seed in [42, 7, 2024] {
        let report = run(seed, records);
        let text = render(&config(seed, records), &report);
        assert!(report.passed(), "{text}");
        assert_eq!(report.sent + report.refused, records, "{text}");
        assert_eq!(report.delivered + report.failed, report.sent, "{text}");
        assert!(report.delivered > 0, "{text}");
        assert!(text.contains(&format!(
            "replay: cargo run -p odradek-examples --example simulation -- {seed} {records}"
        )));
    }
}

#[test]
fn a_seed_replays_exactly_and_faults_really_happen() {
    let a = run(9, 300);
    let b = run(9, 300);
    assert_eq!(
        (a.delivered, a.failed, a.steps, a.virtual_duration, &a.stats),
        (b.delivered, b.failed, b.steps, b.virtual_duration, &b.stats)
    );
    let st = &a.stats;
    let faults = st.leader_moves
        + st.crashes
        + st.connection_resets
        + st.slow_responses
        + st.lost_responses
        + st.stalls
        + st.injected_errors.values().sum::<u64>();
    assert!(faults > 0, "chaos injected nothing: {st:?}");
}
