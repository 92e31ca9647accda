//! `cargo xtask chaos`: a real 3-node Kafka under SIGKILL (or SIGSTOP) while odradek writes.
//!
//! ```text
//! chaos [--runtime tokio|async-std|mio|all] [--records N] [--kills K] [--kill-every S]
//!       [--mode kill|stop|blackhole|stall|lossy] [--stop-runs RUNTIMES] [--value-size B]
//!       [--collect ordered|unordered]
//!       [--blackhole-runs RUNTIMES] [--stall-runs RUNTIMES] [--lossy-runs RUNTIMES]
//!       [--net-records N] [--no-idempotence]
//!       [--transactional] [--txn-size N] [--txn-runs RUNTIMES] [--txn-records N] [--txn-kills K]
//! ```
//!
//! Starts a 3-node KRaft cluster (Kafka 4.4, or `ODRADEK_KAFKA_VERSION`; replication 3, `min.insync.replicas=2`), and per
//! runtime creates a topic of 6 partitions and runs the producer as its own process (this
//! binary re-executed as `chaos produce ...`, so its peak RSS is its own). While it writes,
//! the orchestrator kills the leader of a partition being written (odd kills) or a random
//! broker (even kills) with SIGKILL, waits until the partitions have moved, restarts the
//! broker on the same data, and waits until it is back in the ISR of every partition before
//! the next kill. `--mode stop` freezes the leader with SIGSTOP for longer than the
//! producer's request timeout instead, then resumes it (a zombie leader). `--stop-runs
//! mio,...` adds one such SIGSTOP run per runtime listed after the main runs, on the same
//! cluster (what `cargo xtask test` does, to start the cluster once).
//!
//! Network faults (`--blackhole-runs`, `--stall-runs`, `--lossy-runs`, each a list of runtimes or `all`; they
//! need root): every broker then also listens behind a TCP proxy of this process
//! (`odradek_tests::kafka::Proxy`) that it advertises on a listener of its own, the producer
//! bootstraps through the proxies and runs as its own user (`odradek-chaos`), and iptables
//! rules that match that user (or the proxies' ports) hit only its traffic (see
//! `odradek_tests::netfault`; the rules are removed at the end, even on a panic, and a killed
//! run's are removed by the next run). `--net-records` records each (default `--records`):
//!
//! - **blackhole**: once, halfway, every packet between the producer and the leader of a
//!   partition being written is dropped (not refused) for [`BLACKHOLE`](options::BLACKHOLE), longer than the
//!   producer's request timeout, while the brokers still see that leader alive (checked:
//!   it still leads its partitions when the blackhole is healed);
//! - **stall**: once, halfway, the proxy of the leader of a partition being written holds
//!   back every answer to the producer for [`STALL`](options::STALL) while the requests still reach the
//!   broker (half-open connections: the broker appends batches whose acknowledgements the
//!   producer never gets, times out on and sends again once healed: the broker's idempotence
//!   check must turn those into duplicates acknowledged, not appended twice);
//! - **lossy**: for the whole run, each proxy delays every chunk by [`LOSSY_DELAY`](options::LOSSY_DELAY) plus up
//!   to [`LOSSY_JITTER`](options::LOSSY_JITTER), [`LOSSY_LOSS`](options::LOSSY_LOSS) of the packets either way are dropped, a fraction
//!   [`LOSSY_RESET`](options::LOSSY_RESET) of the producer's data packets get a TCP reset (mid-request), and a
//!   proxy connection is cut every [`CUT_EVERY`](options::CUT_EVERY).
//!
//! Both run the producer idempotent (the default), so the broker rejects the copies that
//! retries after a timeout or a reset send: duplicated must be 0. Without idempotence a
//! request whose answer is lost after the broker appended it is sent again and appended
//! twice, which no client can avoid, so `cargo xtask test` makes no non-idempotent
//! network-fault run; `--no-idempotence` shows it (duplicates are then reported, not fatal).
//!
//! Pacing: the producer sends at about `N / ((K + 1) · S)` records per second and is gated
//! through its stdin (`allow <n>`): kill `i` happens once `i · N / (K + 1)` records were sent,
//! and the producer may run half a chunk past that while the broker is down and coming back,
//! so every kill lands while records are being written, however slow the restart.
//!
//! Then every record is read back with Kafka's Java consumer and compared with the
//! producer's outcome file, and one line per runtime is printed:
//!
//! ```text
//! chaos: <runtime> <N> records, <K> kills, lost 0, duplicated 0, reordered 0, failed 0, peak rss <M> MiB
//! ```
//!
//! The exit code is non-zero on any non-zero figure (duplicates are only reported, not
//! fatal, when the producer runs without idempotence), on fewer kills than asked for, or on a
//! peak RSS above `buffer.memory + 64 MiB`.

//!
//! **Transactions** (`--transactional`; `--txn-runs` adds such runs after the others, with
//! `--txn-records` records and `--txn-kills` kills each): the producer (tokio or async-std;
//! `txn_produce`) sends in transactions of `--txn-size` records (100), the gate opening for
//! whole transactions; odd kills hit the transaction coordinator's broker (the leader of the
//! `__transaction_state` partition its `transactional.id` hashes to), even ones a partition
//! leader. An abortable error aborts the transaction; a fatal one, or an operation that takes
//! over 30 s, ends the producer and starts a new one with the same `transactional.id`. Each
//! transaction is recorded as committed (the commit returned `Ok`), aborted (the abort did)
//! or unknown, and judged against a `read_committed` read (`txn_verdict`):
//!
//! ```text
//! chaos txn: <runtime> <N> records in transactions of <T>, <K> kills, committed C, aborted A, unknown U (V visible), torn 0, duplicated 0, lost 0, aborted visible 0, reordered 0, foreign 0, producers P, peak rss <M> MiB
//! ```
//!
//! A committed transaction must be fully visible, an aborted one invisible, an unknown one
//! all or nothing; nothing committed also fails the run.

// `SendError` hands the record back by value: the API shared by every odradek crate.
#![allow(clippy::result_large_err)]

mod options;
mod orchestrate;
mod produce;
mod txn_produce;
mod txn_verdict;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((role, rest)) if role == "produce" => {
            options::parse_options(rest).and_then(|o| produce::produce(&o))
        }
        _ => options::parse_options(&args).and_then(|o| orchestrate::orchestrate(&o)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chaos: error: {e}");
            ExitCode::FAILURE
        }
    }
}
