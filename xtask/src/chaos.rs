//! `cargo xtask chaos`: runs the `chaos` binary of odradek-tests (a real 3-node Kafka under
//! SIGKILL or SIGSTOP, or network faults between it and the producer, while odradek
//! produces; see `tests/src/bin/chaos/`), and the short version that `cargo xtask test`
//! runs.

use std::process::Command;

/// The `cargo run` command for the chaos binary with `args`.
pub fn command(mut cargo: Command, args: &[&str]) -> Command {
    cargo.args(["run", "-q", "-p", "odradek-tests", "--bin", "chaos", "--"]);
    cargo.args(args);
    cargo
}

/// The short run of `cargo xtask test`: 200k records and 3 kills for every runtime, then one
/// SIGSTOP run (mio), then per runtime a leader blackhole run, a half-open (answers held)
/// run and a slow and lossy run of 50k records each (about 20 s each; they need root, which
/// CI has, and install iptables if missing), then one transactional run (tokio, 20k records
/// in transactions of 100, one kill: the transaction coordinator's broker, which also leads
/// about a third of the topic's partitions; about 2 min), on one cluster.
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
        "--blackhole-runs",
        "all",
        "--stall-runs",
        "all",
        "--lossy-runs",
        "all",
        "--net-records",
        "50000",
        "--txn-runs",
        "tokio",
        "--txn-records",
        "20000",
        "--txn-kills",
        "1",
    ]
}
