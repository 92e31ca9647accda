//! `cargo xtask chaos`: runs the `chaos` binary of odradek-tests (a real 3-node Kafka under
//! SIGKILL or SIGSTOP while odradek produces; see `tests/src/bin/chaos.rs`), and the short
//! version that `cargo xtask test` runs.

use std::process::Command;

/// The `cargo run` command for the chaos binary with `args`.
pub fn command(mut cargo: Command, args: &[&str]) -> Command {
    cargo.args(["run", "-q", "-p", "odradek-tests", "--bin", "chaos", "--"]);
    cargo.args(args);
    cargo
}

/// The short run of `cargo xtask test`: 200k records and 3 kills for every runtime, then one
/// SIGSTOP run (mio), on one cluster.
pub fn test_args() -> Vec<&'static str> {
    vec![
        "--runtime",
        "all",
        "--records",
        "200000",
        "--kills",
        "3",
        "--kill-every",
        "5",
        "--stop-runs",
        "mio",
    ]
}
