//! # odradek-examples
//!
//! Runnable examples for odradek, and the `demo` binary.
//!
//! | run | what it shows |
//! |-----|---------------|
//! | `cargo run -p odradek-examples --example quickstart_tokio` | connect, send keyed records with headers, await deliveries, close (tokio) |
//! | `cargo run -p odradek-examples --example quickstart_async_std` | the same on async-std |
//! | `cargo run -p odradek-examples --example quickstart_smol` | the same on smol |
//! | `cargo run -p odradek-examples --example quickstart_mio` | the same with the blocking producer thread (`BlockingProducer`) |
//! | `cargo run -p odradek-examples --example mio_event_loop` | `MioProducer` inside your own `mio::Poll`, next to your own sources |
//! | `cargo run -p odradek-examples --example custom_event_loop` | driving `ProducerCore` yourself with std blocking sockets |
//! | `cargo run -p odradek-examples --example simulation -- [seed]` | a seeded run against the simulated cluster, with faults (no broker) |
//! | `cargo run --release -p odradek-examples --bin demo` | a million records through every runtime, read back and verified |
//!
//! Every broker-backed example takes the bootstrap address from `ODRADEK_BOOTSTRAP`
//! (default `127.0.0.1:9092`) and the topic from its first argument or `ODRADEK_TOPIC`.
//! The local broker the project starts (`cargo xtask kafka start`) does not auto-create topics:
//! create one first, e.g. `cargo xtask kafka topic create quickstart --partitions 3`.
//!
//! This library holds what the examples and the demo share: [`bootstrap`], [`topic`], the
//! [`progress`] bar, the demo's records and their verification ([`demo`]), and the simulation
//! example's logic ([`simulation`]), so that `cargo test -p odradek-examples` runs it offline.
#![warn(missing_docs)]
#![allow(clippy::result_large_err)]

pub mod demo;
pub mod progress;
pub mod simulation;

/// The environment variable naming the bootstrap server(s), comma-separated.
pub const BOOTSTRAP_ENV: &str = "ODRADEK_BOOTSTRAP";
/// The environment variable naming the topic, when no argument gives one.
pub const TOPIC_ENV: &str = "ODRADEK_TOPIC";
/// Where a local broker listens by default.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// Bootstrap servers from `ODRADEK_BOOTSTRAP` (comma-separated), or `127.0.0.1:9092`.
pub fn bootstrap() -> Vec<String> {
    let raw = std::env::var(BOOTSTRAP_ENV).unwrap_or_else(|_| DEFAULT_BOOTSTRAP.to_owned());
    split_servers(&raw)
}

/// Splits a comma-separated `bootstrap.servers` string, dropping blanks.
pub fn split_servers(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The topic: the first command-line argument, else `ODRADEK_TOPIC`, else `default`.
pub fn topic(default: &str) -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var(TOPIC_ENV).ok())
        .unwrap_or_else(|| default.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_split_and_trimmed() {
        assert_eq!(
            split_servers("a:1, b:2,,"),
            vec!["a:1".to_owned(), "b:2".to_owned()]
        );
        assert!(split_servers(" , ").is_empty());
    }
}
