//! # odradek-sim
//!
//! A deterministic simulated Kafka cluster in virtual time, for testing odradek-core's
//! [`ProducerCore`](odradek_core::ProducerCore) — and your own code that embeds one.
//!
//! * [`Cluster`]: brokers (`broker-<id>:9092`), topics with partitions, each partition with a
//!   leader and a real log. Requests are decoded with odradek-core's own codecs and answered as
//!   Kafka would (ApiVersions, Metadata, InitProducerId, Produce); responses come back after a
//!   latency, in request order per connection. Nothing reads a clock: time jumps from event to
//!   event.
//! * Idempotent producers: InitProducerId (v0–4) hands out producer ids (v3+ bumps the epoch
//!   of an id it is shown), and each partition keeps, with its log, per producer id the
//!   epoch, the last sequence and the last five batches. A retried batch is answered with its
//!   original offset and not appended; a sequence gap is `OUT_OF_ORDER_SEQUENCE_NUMBER`, an
//!   old epoch `INVALID_PRODUCER_EPOCH`, a producer without state must start at sequence 0
//!   (else `UNKNOWN_PRODUCER_ID`). Every stored record keeps its producer id, epoch and
//!   sequence ([`StoredRecord`]).
//! * Faults ([`FaultConfig`], [`FaultSchedule`], [`Fault`]): leader moves, broker crashes and
//!   restarts, connection resets, slow responses, responses lost after the append, stalled
//!   connections, each retriable Produce error code, and producer-state loss on a partition
//!   (only while every append of that producer there has been answered, so that a correct
//!   producer still writes no duplicate) — all drawn from the seed, so a run replays exactly.
//!   And what a real cluster does besides (issue 21): long-lived producers whose sequences
//!   start near `i32::MAX` (so runs cross the wrap-around), DUPLICATE_SEQUENCE_NUMBER answers,
//!   producer state that falls back to an older snapshot, INVALID_PRODUCER_EPOCH, brokers'
//!   batch caps (MESSAGE_TOO_LARGE, so the producer splits), a cluster that heals, and a
//!   broker that never comes back.
//! * Hostile but well-formed values ([`HostileConfig`], off unless asked for): a huge or
//!   sparse partition index in Metadata, a base offset near `i64::MAX` in Produce, a leader
//!   that is no broker, a non-zero throttle time.
//! * Scripted behaviour ([`script`]), off unless asked for and drawing nothing from the seed:
//!   per-partition faults consumed by the next Produce ([`ScriptedFault`]), answers swallowed,
//!   deferred or corrupted ([`ProduceAnswers`]), Produce requests held unread, InitProducerId
//!   errors, topics with chosen leaders, advertised addresses, and a record of what the
//!   brokers saw — for tests that need one exact story (odradek-core's pipeline tests, the
//!   driver's `FakeBroker`).
//! * Transactions ([`TxnConfig`], off unless asked for, drawing nothing from the seed): a
//!   transaction coordinator and group coordinators on the brokers (FindCoordinator,
//!   InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn,
//!   TxnOffsetCommit, EndTxn; transactions v1 and v2), COMMIT/ABORT markers in the logs,
//!   fencing, timeouts, coordinator moves and crashes ([`txn_coordinator`]); and
//!   [`read_committed`] / [`check_transactions`], the logs read as a `read_committed`
//!   consumer and a producer's transactions ([`TxnRecorder`]) checked against them.
//! * [`Workload`]: seeded records (topics, keys, headers, sizes, tombstones), flushes, close.
//! * [`check`]: the core's promises, one function each — one outcome per record, each within
//!   delivery timeout + one request timeout of its send, none sent after its delivery
//!   deadline, delivered records in the log with the
//!   same content, per-partition send order, only explained duplicates (none at all with
//!   idempotence, and contiguous sequences per epoch), `Closed` once and last — and
//!   liveness and timeliness: records sent to a healed cluster are delivered, no retry goes
//!   out sooner than its backoff, a NOT_LEADER answer leads to a metadata refresh, `close`
//!   ends within a request timeout of the last progress (from the cluster's client log,
//!   [`client_log`]) — reported as data ([`Violation`]).
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
//!             Output::Delivered(batch) => delivered.extend(batch.iter().map(|(_, m)| m)),
//!             Output::Closed => break 'run,
//!             other => {
//!                 cluster.apply(&other);
//!             }
//!         }
//!     }
//!     let timer = core.poll_timeout().map(|(t, _)| t);
//!     match (cluster.next_event_time(), timer) {
//!         (Some(net), t) if t.is_none_or(|t| net <= t) => {
//!             let now = net;
//!             match cluster.step() {
//!                 Some(NetEvent::Connected(c)) => core.handle_connected(c, now),
//!                 Some(NetEvent::Disconnected(c)) => core.handle_disconnected(c, now),
//!                 Some(NetEvent::Received(c, bytes)) => core.handle_received(c, &bytes, now),
//!                 Some(NetEvent::Written(c, n)) => core.handle_written(c, n, now),
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
//! `cargo test -p odradek-sim --test sim` runs 5,000 seeds (`ODRADEK_SIM_SEEDS` to change it;
//! a soak of a million runs in flat memory), each with a configuration drawn by
//! [`suite_config`] — half of the modern-broker seeds with the idempotent producer and 5
//! requests in flight once the core supports it — and prints `sim: <seeds> seeds, <records>
//! records, <violations> violations`. `ODRADEK_SIM_HOSTILE=1` adds hostile values to one seed
//! in four. A failing seed prints the command that replays it alone, with a trace:
//! `ODRADEK_SIM_SEED=<seed> cargo test -p odradek-sim --test sim -- --nocapture`
//! ([`replay_command`]).
#![warn(missing_docs)]

mod broker;
pub mod checker;
pub mod client_log;
pub mod cluster;
mod cluster_faults;
pub mod config;
pub mod driver;
pub mod faults;
mod idempotence;
pub mod kip;
pub mod script;
pub mod simulation;
pub mod txn_coordinator;
mod txn_markers;
mod txn_requests;
pub mod txn_run;
pub mod variation;
pub mod wire;
pub mod workload;

pub use checker::transactions::{
    check_transactions, read_committed, ClientTxn, ClientTxnOutcome, ReadCommitted, TxnHistory,
    TxnRecorder,
};
pub use checker::{
    check, CheckOptions, CheckReport, History, LogSnapshot, Observed, RefusedRecord, SentRecord,
    Violation, ViolationKind,
};
pub use cluster::{AppendFate, AppendInfo, Cluster, ClusterStats, NetEvent, StoredRecord};
pub use config::{
    broker_host, replay_command, BrokerVersions, ClusterConfig, NetworkConfig, SimConfig,
    TopicSpec, BROKER_PORT, SIM_EPOCH,
};
pub use driver::{drain, feed, front_end_full, step};
pub use faults::{
    Fault, FaultConfig, FaultKind, FaultSchedule, HostileConfig, ScheduledFault,
    RETRIABLE_PRODUCE_ERRORS,
};
pub use script::{ProduceAnswers, ScriptedFault, SeenBatch, SeenRequest};
pub use simulation::{describe, RunReport, Simulation};
pub use txn_coordinator::{
    CommittedOffset, FenceEvent, Marker, TxnConfig, TxnFaults, TxnOutcome, TxnRecord, TxnSnapshot,
};
pub use txn_run::{
    run_transactional, run_txn_config, txn_replay_command, txn_suite_config, PlannedTxn,
    TxnRunReport, TxnSimConfig,
};
pub use variation::suite_config;
pub use workload::{Action, Step, Workload, WorkloadConfig, UNKNOWN_TOPIC};
