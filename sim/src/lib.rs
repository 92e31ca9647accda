//! # odradek-sim
//!
//! A deterministic simulated Kafka cluster in virtual time, for testing odradek-core's
//! [`ProducerCore`](odradek_core::ProducerCore) — and your own code that embeds one.
//!
//! * [`Cluster`]: brokers (`broker-<id>:9092`), topics with partitions, each partition with a
//!   leader and a real log. Requests are decoded with odradek-core's own codecs and answered as
//!   Kafka would (ApiVersions, Metadata, Produce); responses come back after a latency, in
//!   request order per connection. Nothing reads a clock: time jumps from event to event.
//! * Faults ([`FaultConfig`], [`FaultSchedule`], [`Fault`]): leader moves, broker crashes and
//!   restarts, connection resets, slow responses, responses lost after the append, stalled
//!   connections, and each retriable Produce error code — all drawn from the seed, so a run
//!   replays exactly.
//! * [`Workload`]: seeded records (topics, keys, headers, sizes, tombstones), flushes, close.
//! * [`check`]: the core's promises — one outcome per record, delivered records in the log
//!   with the same content, per-partition send order, only explained duplicates, `Closed`
//!   once and last — reported as data ([`Violation`]).
//! * [`Simulation`]: all of it in one call, returning a [`RunReport`].
//!
//! ## One run
//!
//! ```
//! use odradek_sim::{FaultConfig, SimConfig, Simulation};
//!
//! let mut config = SimConfig::new(42);
//! config.cluster.faults = FaultConfig::chaos();
//! config.workload.records = 50;
//! let report = Simulation::new(config).run();
//! assert_eq!(report.sent, 50);
//! assert!(report.passed(), "{:#?}\nreplay: {}", report.violations, report.replay_command());
//! ```
//!
//! ## Driving your own code against the cluster
//!
//! The [`Cluster`] plays the network for anything that follows the core's drive contract:
//! feed it the core's network outputs, feed the core the cluster's [`NetEvent`]s, and let time
//! jump to whichever comes first, the cluster's next event or the core's timer.
//!
//! ```
//! use odradek_core::{Config, Output, ProducerCore, Record};
//! use odradek_sim::{Cluster, ClusterConfig, NetEvent};
//!
//! let mut cluster = Cluster::new(ClusterConfig::new(1));
//! let config = Config::new(cluster.config().bootstrap_servers());
//! let mut core = ProducerCore::new(config, 1, cluster.now()).unwrap();
//! core.send(Record::new("a").key("k").value("hello"), cluster.now()).unwrap();
//! core.close(cluster.now());
//! let mut delivered = Vec::new();
//! 'run: loop {
//!     while let Some(out) = core.poll_output() {
//!         match out {
//!             Output::Delivered { metadata, .. } => delivered.push(metadata),
//!             Output::Closed => break 'run,
//!             other => {
//!                 cluster.apply(&other);
//!             }
//!         }
//!     }
//!     let timer = core.poll_timeout().map(|(t, _)| t);
//!     match (cluster.next_event_time(), timer) {
//!         (Some(net), t) if t.map_or(true, |t| net <= t) => {
//!             let now = net;
//!             match cluster.step() {
//!                 Some(NetEvent::Connected(c)) => core.handle_connected(c, now),
//!                 Some(NetEvent::Disconnected(c)) => core.handle_disconnected(c, now),
//!                 Some(NetEvent::Received(c, bytes)) => core.handle_received(c, &bytes, now),
//!                 None => {}
//!             }
//!         }
//!         (_, Some(t)) => {
//!             cluster.advance_to(t);
//!             core.handle_timeout(cluster.now());
//!         }
//!         _ => panic!("stuck"),
//!     }
//! }
//! assert_eq!(delivered.len(), 1);
//! let md = &delivered[0];
//! let log = cluster.log("a", md.partition).unwrap();
//! assert_eq!(log[md.offset as usize].value.as_deref(), Some(&b"hello"[..]));
//! ```
//!
//! ## The suite and replaying a seed
//!
//! `cargo test -p odradek-sim --test sim` runs thousands of seeds, each with a configuration
//! drawn by [`suite_config`], and prints `sim: <seeds> seeds, <records> records, <violations>
//! violations`. A failing seed prints the command that replays it alone, with a trace:
//! `ODRADEK_SIM_SEED=<seed> cargo test -p odradek-sim --test sim -- --nocapture`
//! ([`replay_command`]).
#![warn(missing_docs)]

mod broker;
pub mod checker;
pub mod cluster;
mod cluster_faults;
pub mod config;
pub mod driver;
pub mod faults;
mod idempotence;
pub mod simulation;
pub mod variation;
pub mod workload;

pub use checker::{
    check, CheckOptions, CheckReport, History, LogSnapshot, Observed, RefusedRecord, SentRecord,
    Violation, ViolationKind,
};
pub use cluster::{AppendFate, AppendInfo, Cluster, ClusterStats, NetEvent, StoredRecord};
pub use config::{
    broker_host, replay_command, BrokerVersions, ClusterConfig, NetworkConfig, SimConfig,
    TopicSpec, BROKER_PORT, SIM_EPOCH,
};
pub use driver::{drain, step};
pub use faults::{
    Fault, FaultConfig, FaultKind, FaultSchedule, HostileConfig, ScheduledFault,
    RETRIABLE_PRODUCE_ERRORS,
};
pub use simulation::{describe, RunReport, Simulation};
pub use variation::suite_config;
pub use workload::{Action, Step, Workload, WorkloadConfig, UNKNOWN_TOPIC};
