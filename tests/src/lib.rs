//! Cross-runtime conformance and real-broker test support.
//!
//! - [`kafka`]: fetch, start and stop a real Apache Kafka (4.1 or 3.9, one or three KRaft
//!   nodes) and read records back with Kafka's own Java client: the `odradek-kafka-harness`
//!   crate (which `xtask` also uses), re-exported.
//!
//! - [`chaos`]: record layout and outcome analysis of `cargo xtask chaos` (the orchestration
//!   is the `chaos` binary).
//!
//! - [`netfault`]: the network faults of `cargo xtask chaos`: iptables rules on the
//!   producer's traffic only (its own user), removed by a guard.
//!
//! - [`secure`]: a single-node Kafka 4.1 with SSL (mutual TLS), SASL_PLAINTEXT and SASL_SSL
//!   listeners, its test certificates (rcgen) and SASL users, and Kafka's console clients
//!   over each.
//!
//! - [`conformance`]: the cross-runtime suite, generic over [`conformance::Runtime`];
//!   each adapter's test file (`tests/tests/conformance_*.rs`) instantiates it with
//!   [`conformance_tests!`].
//!
//! Real-broker tests are skipped (with a message) unless `ODRADEK_KAFKA=1`, which
//! `cargo xtask test` sets; see [`kafka::should_run`].

#![warn(missing_docs)]

pub use odradek_kafka_harness as kafka;

pub mod chaos;
pub mod chaos_txn;
pub mod conformance;
pub mod netfault;
pub mod runtime;
pub mod secure;

pub use kafka::{ConsumedRecord, KafkaCluster, Version};
pub use runtime::Runtime;
