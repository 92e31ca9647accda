//! The cross-runtime conformance suite: the same checks against a real Kafka for every runtime
//! adapter, written once over the small [`Runtime`] trait.
//!
//! Each adapter's test file implements [`Runtime`] (about 40 lines: connect, send every
//! record, await every outcome, close) and instantiates the tests with
//! [`conformance_tests!`](crate::conformance_tests). Everything read back comes from Kafka's own
//! Java consumer ([`KafkaCluster::consume_topics`]), so the producer is never its own oracle.
//!
//! What is checked, record by record:
//!
//! - [`round_trip_matrix`]: every `acks` (0, 1, all) × every compression (none, gzip, snappy,
//!   lz4, zstd), each run producing to two topics (3 partitions and 1 partition) records with
//!   keys, null keys, empty and null values, all 256 byte values, headers (one with a null
//!   value, duplicate keys), explicit timestamps and explicit partitions. Every delivered
//!   offset is the offset the record is read back at; key, value, headers, timestamp and
//!   partition match; per partition, read-back order is send order; nothing extra is read.
//!   It runs on Kafka 4.1 and on the newest tested (4.4); the checks below on the newest.
//! - [`legacy_matrix`] (Kafka 3.9): `MessageSetV0` and `MessageSetV1` × none, gzip, snappy,
//!   lz4 (no headers, no zstd; v0 has no timestamps).
//! - [`legacy_format_refused`] (Kafka 4.x): the same legacy formats against a broker that
//!   lists Produce v0–v2 but rejects them (KIP-896) fail every record with
//!   `UnsupportedVersion` instead of sending them; nothing is written.
//! - [`record_too_large_for_topic`]: a 5000-byte record to a topic with
//!   `max.message.bytes=1000` fails with `Broker(MESSAGE_TOO_LARGE)`; the run's other records
//!   are delivered.
//! - [`unknown_topic`]: with auto-creation off, records to a missing topic fail with
//!   `UnknownTopic`; the others are delivered.
//! - [`closed_port`]: a producer whose only bootstrap address refuses connections fails every
//!   record with a typed error, within a bounded time (no broker needed).
//! - [`close_with_records_in_flight`]: close right after sending: every record gets exactly one
//!   outcome, and the set read back is exactly the delivered set.

use crate::kafka::{ConsumedRecord, KafkaCluster, TopicSpec, Version};
use odradek_core::protocol::ErrorCode;
use odradek_core::{
    Acks, Compression, Config, DeliveryError, Header, MessageFormat, ProduceError, Record,
    RecordMetadata, SendError,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Why a record did not get delivered.
#[derive(Debug)]
pub enum Failure {
    /// `send` refused it at once.
    Refused(SendError),
    /// It was accepted and later failed.
    Delivery(DeliveryError),
}

/// A record's outcome as the runtime reported it.
pub type Outcome = Result<RecordMetadata, Failure>;

/// What `close` reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloseCounts {
    /// Records delivered over the producer's life.
    pub delivered: u64,
    /// Records failed over the producer's life.
    pub failed: u64,
}

/// One runtime adapter, driven synchronously for the suite.
pub trait Runtime {
    /// Short name, used in topic names (lowercase ASCII letters, digits and `-`).
    fn name() -> &'static str;

    /// Connects with `config`, sends every record in order (waiting when the buffer is
    /// full), awaits every outcome, then closes. Returns the outcomes in the records' order.
    fn produce(config: Config, records: Vec<Record>) -> Vec<Outcome>;

    /// Connects, sends every record, then closes at once without awaiting any delivery
    /// first; afterwards collects every record's outcome (in the records' order) and the
    /// close report.
    fn produce_then_close(config: Config, records: Vec<Record>) -> (Vec<Outcome>, CloseCounts);
}

/// Instantiates the suite as `#[test]` functions for one [`Runtime`] implementation.
///
/// ```text
/// struct Tokio;
/// impl odradek_tests::conformance::Runtime for Tokio { /* ... */ }
/// odradek_tests::conformance_tests!(Tokio);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($rt:ty) => {
        #[test]
        fn round_trip_matrix() {
            if $crate::kafka::should_run("round_trip_matrix") {
                $crate::conformance::round_trip_matrix::<$rt>(
                    $crate::kafka::shared($crate::kafka::Version::V4_1).unwrap(),
                );
            }
        }
        #[test]
        fn round_trip_matrix_newest() {
            if $crate::kafka::should_run("round_trip_matrix_newest") {
                $crate::conformance::round_trip_matrix::<$rt>(
                    $crate::kafka::shared($crate::kafka::Version::NEWEST).unwrap(),
                );
            }
        }
        #[test]
        fn legacy_format_refused() {
            if $crate::kafka::should_run("legacy_format_refused") {
                $crate::conformance::legacy_format_refused::<$rt>(
                    $crate::kafka::shared($crate::kafka::Version::NEWEST).unwrap(),
                );
            }
        }
        #[test]
        fn legacy_matrix() {
            if $crate::kafka::should_run("legacy_matrix") {
                $crate::conformance::legacy_matrix::<$rt>(
                    $crate::kafka::shared($crate::kafka::Version::V3_9).unwrap(),
                );
            }
        }
        #[test]
        fn record_too_large_for_topic() {
            if $crate::kafka::should_run("record_too_large_for_topic") {
                $crate::conformance::record_too_large_for_topic::<$rt>(
                    $crate::kafka::shared($crate::kafka::Version::NEWEST).unwrap(),
                );
            }
        }
        #[test]
        fn unknown_topic() {
            if $crate::kafka::should_run("unknown_topic") {
                $crate::conformance::unknown_topic::<$rt>(
                    $crate::kafka::shared($crate::kafka::Version::NEWEST).unwrap(),
                );
            }
        }
        #[test]
        fn closed_port() {
            // Needs no broker: always runs.
            $crate::conformance::closed_port::<$rt>();
        }
        #[test]
        fn close_with_records_in_flight() {
            if $crate::kafka::should_run("close_with_records_in_flight") {
                $crate::conformance::close_with_records_in_flight::<$rt>(
                    $crate::kafka::shared($crate::kafka::Version::NEWEST).unwrap(),
                );
            }
        }
    };
}

/// Implements [`Runtime`] as `struct $rt` for an adapter crate with the async `Producer` API
/// (odradek-tokio, odradek-async-std), running each call to completion with `$block_on`.
///
/// ```text
/// fn block_on<F: std::future::Future>(f: F) -> F::Output { /* ... */ }
/// odradek_tests::async_runtime!(Tokio, "tokio", odradek_tokio, block_on);
/// ```
#[macro_export]
macro_rules! async_runtime {
    ($rt:ident, $name:literal, $adapter:ident, $block_on:expr) => {
        struct $rt;

        impl $rt {
            /// Connects, sends every record, closes either at once (`close_first`) or after
            /// every outcome came, and returns the outcomes in order and the close report.
            fn run(
                config: $adapter::Config,
                records: Vec<$adapter::Record>,
                close_first: bool,
            ) -> (Vec<$crate::conformance::Outcome>, $adapter::CloseReport) {
                $block_on(async {
                    let mut producer = Some(
                        $adapter::Producer::connect(config)
                            .await
                            .expect("valid config"),
                    );
                    let mut pending = Vec::new();
                    for r in records {
                        pending.push(producer.as_ref().expect("open").send(r).await);
                    }
                    let mut report = None;
                    if close_first {
                        report = Some(producer.take().expect("open").close().await);
                    }
                    let mut outcomes = Vec::new();
                    for p in pending {
                        outcomes.push(match p {
                            Ok(delivery) => delivery
                                .await
                                .map_err($crate::conformance::Failure::Delivery),
                            Err(e) => Err($crate::conformance::Failure::Refused(e)),
                        });
                    }
                    let report = match (report, producer) {
                        (Some(report), _) => report,
                        (None, Some(producer)) => producer.close().await,
                        (None, None) => unreachable!("closed without a report"),
                    };
                    (outcomes, report)
                })
            }
        }

        impl $crate::conformance::Runtime for $rt {
            fn name() -> &'static str {
                $name
            }

            fn produce(
                config: $adapter::Config,
                records: Vec<$adapter::Record>,
            ) -> Vec<$crate::conformance::Outcome> {
                Self::run(config, records, false).0
            }

            fn produce_then_close(
                config: $adapter::Config,
                records: Vec<$adapter::Record>,
            ) -> (
                Vec<$crate::conformance::Outcome>,
                $crate::conformance::CloseCounts,
            ) {
                let (outcomes, report) = Self::run(config, records, true);
                let counts = $crate::conformance::CloseCounts {
                    delivered: report.delivered,
                    failed: report.failed,
                };
                (outcomes, counts)
            }
        }
    };
}

/// odradek-mio's `BlockingProducer` as a suite [`Runtime`] (the async adapters get theirs
/// from [`async_runtime!`](crate::async_runtime)).
#[derive(Debug)]
pub struct Mio;

// The core's SendError/DeliveryError hand the record back by value, by design.
#[allow(clippy::result_large_err)]
impl Mio {
    fn wait_all(pending: Vec<Result<odradek_mio::Receipt, SendError>>) -> Vec<Outcome> {
        pending
            .into_iter()
            .map(|p| match p {
                Ok(receipt) => receipt.wait().map_err(Failure::Delivery),
                Err(e) => Err(Failure::Refused(e)),
            })
            .collect()
    }
}

#[allow(clippy::result_large_err)]
impl Runtime for Mio {
    fn name() -> &'static str {
        "mio"
    }

    fn produce(config: Config, records: Vec<Record>) -> Vec<Outcome> {
        let producer = odradek_mio::BlockingProducer::connect(config).expect("valid config");
        let pending: Vec<_> = records.into_iter().map(|r| producer.send(r)).collect();
        let outcomes = Self::wait_all(pending);
        producer.close();
        outcomes
    }

    fn produce_then_close(config: Config, records: Vec<Record>) -> (Vec<Outcome>, CloseCounts) {
        let producer = odradek_mio::BlockingProducer::connect(config).expect("valid config");
        let pending: Vec<_> = records.into_iter().map(|r| producer.send(r)).collect();
        let report = producer.close();
        let outcomes = Self::wait_all(pending);
        let counts = CloseCounts {
            delivered: report.delivered,
            failed: report.failed,
        };
        (outcomes, counts)
    }
}

const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A producer configuration for the suite: the cluster's bootstrap, short linger, bounded
/// delivery timeout, no auto-creation.
pub fn base_config(cluster: &KafkaCluster) -> Config {
    let mut config = Config::new(cluster.bootstrap_list());
    config.client_id = "odradek-conformance".to_owned();
    config.linger = Duration::from_millis(2);
    config.delivery_timeout = Some(Duration::from_secs(60));
    config.request_timeout = Duration::from_secs(20);
    config.retry_backoff = Duration::from_millis(50);
    config.allow_auto_create_topics = false;
    config
}

/// Where a suite run produces: a cluster, the producer configuration to start from, and a
/// tag that keeps its topic names apart from other runs on the same cluster. The plain suite
/// uses [`Target::plaintext`]; the secured runs (`secure.rs`) point `base` at a TLS or SASL
/// listener, while topics are still made and read back over the cluster's PLAINTEXT
/// listener by Kafka's own tools.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The cluster (its PLAINTEXT listener serves topic creation and read-back).
    pub cluster: &'a KafkaCluster,
    /// The producer configuration each run starts from (see [`base_config`]).
    pub base: Config,
    /// Appended to the runtime's name in topic names and labels (`""` or `-ssl`, say).
    pub tag: &'static str,
}

impl<'a> Target<'a> {
    /// The cluster's PLAINTEXT listener with [`base_config`].
    pub fn plaintext(cluster: &'a KafkaCluster) -> Self {
        Target {
            cluster,
            base: base_config(cluster),
            tag: "",
        }
    }

    fn prefix<R: Runtime>(&self) -> String {
        format!("{}{}", R::name(), self.tag)
    }
}

fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

fn acks_name(a: Acks) -> &'static str {
    match a {
        Acks::None => "acks0",
        Acks::Leader => "acks1",
        Acks::All => "acksall",
    }
}

/// Varied records for `topics` (first gets explicit partitions too). `headers` and
/// `timestamps` switch those features (legacy formats lack headers; v0 lacks timestamps).
pub fn varied_records(
    topics: &[&str],
    partitions: &[i32],
    headers: bool,
    timestamps: bool,
) -> Vec<Record> {
    let all_bytes: Vec<u8> = (0..=255).collect();
    let mut out = Vec::new();
    for (t, &topic) in topics.iter().enumerate() {
        for i in 0..20u32 {
            let mut r = Record::new(topic);
            r = match i % 5 {
                0 => r
                    .key(format!("key-{}", i % 7))
                    .value(format!("value-{t}-{i}")),
                1 => r.value(all_bytes.clone()), // null key
                2 => r
                    .key(vec![0u8, 255, 10, 9, (i & 0xff) as u8])
                    .value(Vec::new()),
                3 => r.key(format!("tombstone-{i}")), // null value
                _ => r
                    .key(format!("big-{i}"))
                    .value(vec![(i & 0xff) as u8; 2000 + i as usize]),
            };
            if headers && i % 3 == 0 {
                r = r
                    .header(Header::new("trace", format!("t-{i}")))
                    .header(Header {
                        key: "nullable".into(),
                        value: None,
                    })
                    .header(Header::new("trace", vec![0u8, 1, 2]));
            }
            if timestamps && i % 2 == 0 {
                r = r.timestamp(1_700_000_000_000 + i64::from(i));
            }
            if i % 4 == 1 {
                r = r.partition((i as i32) % partitions[t]);
            }
            out.push(r);
        }
    }
    out
}

fn describe(f: &Failure) -> String {
    match f {
        Failure::Refused(e) => format!("refused: {e}"),
        Failure::Delivery(e) => format!("failed: {e} ({:?})", e.error),
    }
}

/// Compares what was sent with what Kafka's consumer read back, record by record.
///
/// `outcomes[i]` belongs to `sent[i]`; `read` maps topic to its records (partition, offset
/// order). With `offsets_known` every delivered record must be read back at its reported
/// offset; without (acks=0) the match is by position in the partition. Either way each
/// partition's records read back must be exactly the delivered ones, in send order.
pub fn check_read_back(
    label: &str,
    sent: &[Record],
    outcomes: &[Outcome],
    read: &HashMap<String, Vec<ConsumedRecord>>,
    offsets_known: bool,
    check_timestamps: bool,
) {
    assert_eq!(
        sent.len(),
        outcomes.len(),
        "{label}: one outcome per record"
    );
    // Per (topic, partition): the delivered records in send order.
    let mut expected: HashMap<(String, i32), Vec<(&Record, &RecordMetadata)>> = HashMap::new();
    for (r, o) in sent.iter().zip(outcomes) {
        if let Ok(m) = o {
            assert_eq!(m.topic, r.topic, "{label}: metadata topic");
            if let Some(p) = r.partition {
                assert_eq!(m.partition, p, "{label}: explicit partition honoured");
            }
            expected
                .entry((r.topic.to_string(), m.partition))
                .or_default()
                .push((r, m));
        }
    }
    let mut got: HashMap<(String, i32), Vec<&ConsumedRecord>> = HashMap::new();
    for recs in read.values() {
        for c in recs {
            got.entry((c.topic.clone(), c.partition))
                .or_default()
                .push(c);
        }
    }
    let mut keys: Vec<_> = expected.keys().chain(got.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    // First a summary of every partition, so a failure shows the whole picture.
    let table: Vec<String> = keys
        .iter()
        .map(|k| {
            let e = expected.get(k).map_or(0, Vec::len);
            let a = got.get(k).map_or(0, Vec::len);
            format!(
                "{}/{}: {e} delivered, {a} read{}",
                k.0,
                k.1,
                if e == a { "" } else { "  <--" }
            )
        })
        .collect();
    assert!(
        keys.iter()
            .all(|k| expected.get(k).map_or(0, Vec::len) == got.get(k).map_or(0, Vec::len)),
        "{label}: delivered and read-back counts differ:\n  {}",
        table.join("\n  ")
    );
    for key in keys {
        let exp = expected.get(&key).map_or(&[][..], |v| &v[..]);
        let act = got.get(&key).map_or(&[][..], |v| &v[..]);
        assert_eq!(
            exp.len(),
            act.len(),
            "{label}: {}/{}: {} delivered, {} read back",
            key.0,
            key.1,
            exp.len(),
            act.len()
        );
        let mut last_offset = -1;
        for (i, ((r, m), c)) in exp.iter().zip(act).enumerate() {
            let at = format!(
                "{label}: {}/{} record #{i} (offset {})",
                key.0, key.1, c.offset
            );
            if offsets_known {
                assert_eq!(m.offset, c.offset, "{at}: delivered offset = offset read");
            }
            assert!(c.offset > last_offset, "{at}: offsets increase");
            last_offset = c.offset;
            assert_eq!(r.key.as_deref(), c.key.as_deref(), "{at}: key");
            assert_eq!(r.value.as_deref(), c.value.as_deref(), "{at}: value");
            let headers: Vec<(String, Option<Vec<u8>>)> = r
                .headers
                .iter()
                .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
                .collect();
            assert_eq!(headers, c.headers, "{at}: headers");
            if check_timestamps {
                if let Some(ts) = r.timestamp {
                    assert_eq!(c.timestamp, ts, "{at}: timestamp");
                }
            }
        }
    }
}

fn assert_all_delivered(label: &str, outcomes: &[Outcome], acks: Acks) {
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            Ok(m) if acks == Acks::None => assert_eq!(m.offset, -1, "{label}: #{i} acks=0 offset"),
            Ok(m) => assert!(m.offset >= 0, "{label}: #{i} offset {}", m.offset),
            Err(f) => panic!("{label}: record #{i} {}", describe(f)),
        }
    }
}

/// acks × compression, two topics per run, read back and compared record by record.
pub fn round_trip_matrix<R: Runtime>(cluster: &KafkaCluster) {
    round_trip_matrix_on::<R>(&Target::plaintext(cluster));
}

/// [`round_trip_matrix`] against any [`Target`].
pub fn round_trip_matrix_on<R: Runtime>(target: &Target<'_>) {
    let acks = [Acks::None, Acks::Leader, Acks::All];
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let pairs: Vec<(Acks, Compression)> = acks
        .iter()
        .flat_map(|a| codecs.iter().map(move |c| (*a, *c)))
        .collect();
    round_trip_runs_on::<R>(target, &pairs);
}

/// The round trips of [`round_trip_matrix`] for the given (acks, compression) pairs only:
/// the shortened runs of the secured suites.
pub fn round_trip_runs_on<R: Runtime>(target: &Target<'_>, pairs: &[(Acks, Compression)]) {
    let cluster = target.cluster;
    let mut runs = Vec::new();
    let mut specs = Vec::new();
    for &(a, c) in pairs {
        {
            let base = format!(
                "{}-rt-{}-{}",
                target.prefix::<R>(),
                acks_name(a),
                compression_name(c)
            );
            let (ta, tb) = (format!("{base}-a"), format!("{base}-b"));
            specs.push(TopicSpec::new(&ta, 3, 1));
            specs.push(TopicSpec::new(&tb, 1, 1));
            runs.push((a, c, ta, tb));
        }
    }
    cluster.create_topics(&specs).unwrap();
    let mut all_sent = Vec::new();
    let mut total = 0;
    for (a, c, ta, tb) in &runs {
        let label = format!(
            "{} {} {}",
            target.prefix::<R>(),
            acks_name(*a),
            compression_name(*c)
        );
        let sent = varied_records(&[ta, tb], &[3, 1], true, true);
        let mut config = target.base.clone();
        config.acks = *a;
        config.compression = *c;
        let outcomes = R::produce(config, sent.clone());
        assert_all_delivered(&label, &outcomes, *a);
        total += sent.len();
        all_sent.push((label, sent, outcomes, *a, ta.clone(), tb.clone()));
    }
    let topics: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let read = cluster
        .consume_topics(&topics, total, READ_TIMEOUT)
        .unwrap();
    for (label, sent, outcomes, a, ta, tb) in &all_sent {
        let mine: HashMap<String, Vec<ConsumedRecord>> = [ta, tb]
            .iter()
            .map(|t| ((*t).clone(), read[*t].clone()))
            .collect();
        check_read_back(label, sent, outcomes, &mine, *a != Acks::None, true);
    }
}

/// Legacy MessageSet v0/v1 against Kafka 3.9.
pub fn legacy_matrix<R: Runtime>(cluster: &KafkaCluster) {
    assert_eq!(
        cluster.version(),
        Version::V3_9,
        "the legacy formats need Kafka 3.9"
    );
    let formats = [MessageFormat::MessageSetV0, MessageFormat::MessageSetV1];
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
    ];
    let mut runs = Vec::new();
    let mut specs = Vec::new();
    for (fi, f) in formats.into_iter().enumerate() {
        for (ci, c) in codecs.into_iter().enumerate() {
            let acks = if (fi + ci) % 2 == 0 {
                Acks::All
            } else {
                Acks::Leader
            };
            let v = if f == MessageFormat::MessageSetV0 {
                "v0"
            } else {
                "v1"
            };
            let base = format!("{}-legacy-{v}-{}", R::name(), compression_name(c));
            let (ta, tb) = (format!("{base}-a"), format!("{base}-b"));
            specs.push(TopicSpec::new(&ta, 3, 1));
            specs.push(TopicSpec::new(&tb, 1, 1));
            runs.push((f, c, acks, ta, tb));
        }
    }
    cluster.create_topics(&specs).unwrap();
    let mut all = Vec::new();
    let mut total = 0;
    for (f, c, a, ta, tb) in &runs {
        let label = format!(
            "{} {f:?} {} {}",
            R::name(),
            compression_name(*c),
            acks_name(*a)
        );
        let v1 = *f == MessageFormat::MessageSetV1;
        let sent = varied_records(&[ta, tb], &[3, 1], false, v1);
        let mut config = base_config(cluster);
        config.acks = *a;
        config.compression = *c;
        config.message_format = *f;
        let outcomes = R::produce(config, sent.clone());
        assert_all_delivered(&label, &outcomes, *a);
        total += sent.len();
        all.push((label, sent, outcomes, v1, ta.clone(), tb.clone()));
    }
    let topics: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let read = cluster
        .consume_topics(&topics, total, READ_TIMEOUT)
        .unwrap();
    for (label, sent, outcomes, v1, ta, tb) in &all {
        let mine: HashMap<String, Vec<ConsumedRecord>> = [ta, tb]
            .iter()
            .map(|t| ((*t).clone(), read[*t].clone()))
            .collect();
        check_read_back(label, sent, outcomes, &mine, true, *v1);
    }
}

/// Kafka 4.0+ lists Produce v0–v2 in its ApiVersions answer (KAFKA-18659) but rejects them
/// (KIP-896): a producer configured for `MessageSetV0` or `MessageSetV1` fails every record
/// with a typed [`ProduceError::UnsupportedVersion`] naming KIP-896, without sending any (the
/// topic stays empty), and then closes with every record accounted for.
pub fn legacy_format_refused<R: Runtime>(cluster: &KafkaCluster) {
    assert!(
        cluster.version().is_4x(),
        "needs a Kafka 4.x broker, not {}",
        cluster.version()
    );
    let topic = format!("{}-legacy-refused", R::name());
    cluster
        .create_topics(&[TopicSpec::new(&topic, 2, 1)])
        .unwrap();
    for format in [MessageFormat::MessageSetV0, MessageFormat::MessageSetV1] {
        let sent: Vec<Record> = (0..4)
            .map(|i| {
                Record::new(topic.as_str())
                    .key(format!("k{i}"))
                    .value(format!("{format:?} {i}"))
            })
            .collect();
        let mut config = base_config(cluster);
        config.message_format = format;
        config.delivery_timeout = Some(Duration::from_secs(30));
        let outcomes = R::produce(config, sent.clone());
        assert_eq!(outcomes.len(), sent.len(), "{format:?}");
        for (i, (r, o)) in sent.iter().zip(&outcomes).enumerate() {
            match o {
                Err(Failure::Delivery(e)) => {
                    assert!(
                        matches!(
                            &e.error,
                            ProduceError::UnsupportedVersion { reason, .. }
                                if reason.contains("KIP-896")
                        ),
                        "{format:?} #{i}: expected UnsupportedVersion (KIP-896), got {:?}",
                        e.error
                    );
                    assert_handed_back(&e.record, r, "the failed record is handed back");
                }
                other => panic!(
                    "{format:?} #{i}: expected UnsupportedVersion, got {:?}",
                    other.as_ref().map_err(describe)
                ),
            }
        }
    }
    // Nothing reached the log: a record written through Produce v0–v2 would be read back here.
    let read = cluster
        .consume_topics(&[&topic], 0, Duration::from_secs(5))
        .unwrap();
    assert!(
        read.values().all(Vec::is_empty),
        "records reached {topic}: {read:?}"
    );
}

/// A record over the topic's `max.message.bytes` fails with `MESSAGE_TOO_LARGE`; the others
/// in the same run (in another partition) are delivered.
pub fn record_too_large_for_topic<R: Runtime>(cluster: &KafkaCluster) {
    record_too_large_for_topic_on::<R>(&Target::plaintext(cluster));
}

/// [`record_too_large_for_topic`] against any [`Target`].
pub fn record_too_large_for_topic_on<R: Runtime>(target: &Target<'_>) {
    let cluster = target.cluster;
    let topic = format!("{}-too-large", target.prefix::<R>());
    cluster
        .create_topics(&[TopicSpec::new(&topic, 2, 1).config("max.message.bytes", "1000")])
        .unwrap();
    let mut sent: Vec<Record> = (0..3)
        .map(|i| {
            Record::new(topic.as_str())
                .partition(0)
                .value(format!("small-{i}"))
        })
        .collect();
    sent.push(
        Record::new(topic.as_str())
            .partition(1)
            .value(vec![7u8; 5000]),
    );
    sent.extend((3..6).map(|i| {
        Record::new(topic.as_str())
            .partition(0)
            .value(format!("small-{i}"))
    }));
    let mut config = target.base.clone();
    config.message_max_bytes = 1024 * 1024; // the producer lets it through; the broker refuses
    config.acks = Acks::All;
    let outcomes = R::produce(config, sent.clone());
    for (i, o) in outcomes.iter().enumerate() {
        if i == 3 {
            match o {
                Err(Failure::Delivery(e)) => {
                    assert_eq!(e.error, ProduceError::Broker(ErrorCode::MESSAGE_TOO_LARGE));
                    assert_handed_back(
                        &e.record,
                        &sent[3],
                        "the failed record is handed back intact",
                    );
                }
                other => panic!("the 5000-byte record: expected MESSAGE_TOO_LARGE, got {other:?}"),
            }
        } else {
            assert!(
                o.is_ok(),
                "small record #{i}: {:?}",
                o.as_ref().err().map(describe)
            );
        }
    }
    let read = cluster.consume_topics(&[&topic], 6, READ_TIMEOUT).unwrap();
    check_read_back("too-large", &sent, &outcomes, &read, true, false);
}

/// Records to a missing topic (auto-creation off on the broker and in the producer) fail with
/// `UnknownTopic`; the others are delivered.
pub fn unknown_topic<R: Runtime>(cluster: &KafkaCluster) {
    unknown_topic_on::<R>(&Target::plaintext(cluster));
}

/// [`unknown_topic`] against any [`Target`].
pub fn unknown_topic_on<R: Runtime>(target: &Target<'_>) {
    let cluster = target.cluster;
    let good = format!("{}-known", target.prefix::<R>());
    let missing = format!("{}-never-created", target.prefix::<R>());
    cluster
        .create_topics(&[TopicSpec::new(&good, 2, 1)])
        .unwrap();
    let sent: Vec<Record> = (0..10)
        .map(|i| {
            let topic = if i % 3 == 1 {
                missing.as_str()
            } else {
                good.as_str()
            };
            Record::new(topic)
                .key(format!("k{i}"))
                .value(format!("v{i}"))
        })
        .collect();
    let mut config = target.base.clone();
    config.delivery_timeout = Some(Duration::from_secs(30));
    let outcomes = R::produce(config, sent.clone());
    for (i, (r, o)) in sent.iter().zip(&outcomes).enumerate() {
        if r.topic.as_str() == missing {
            match o {
                Err(Failure::Delivery(e)) => {
                    assert_eq!(
                        e.error,
                        ProduceError::UnknownTopic(missing.as_str().into()),
                        "#{i}"
                    );
                    assert_handed_back(&e.record, r, "the failed record is handed back");
                }
                other => panic!("#{i} to the missing topic: expected UnknownTopic, got {other:?}"),
            }
        } else {
            assert!(
                o.is_ok(),
                "#{i} to {good}: {:?}",
                o.as_ref().err().map(describe)
            );
        }
    }
    let read = cluster.consume_topics(&[&good], 7, READ_TIMEOUT).unwrap();
    check_read_back("unknown-topic", &sent, &outcomes, &read, true, false);
}

/// A closed port: every record fails within the delivery timeout (plus slack for a loaded
/// machine) with `ProduceError::Connection` naming the broker and the refused connect; none
/// is reported delivered.
pub fn closed_port<R: Runtime>() {
    // Bind and drop: nothing listens there afterwards.
    let port = crate::kafka::free_ports(1).unwrap()[0];
    let broker = format!("127.0.0.1:{port}");
    let mut config = Config::new([broker.clone()]);
    config.delivery_timeout = Some(Duration::from_secs(3));
    config.retry_backoff = Duration::from_millis(50);
    config.request_timeout = Duration::from_secs(2);
    let sent: Vec<Record> = (0..5)
        .map(|i| Record::new("nowhere").value(format!("v{i}")))
        .collect();
    let started = Instant::now();
    let outcomes = R::produce(config, sent.clone());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "outcomes took {took:?}");
    assert_eq!(outcomes.len(), sent.len());
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            Err(Failure::Delivery(e)) => {
                // The cause is the refused connect, naming the broker, not a bare timeout.
                assert!(
                    matches!(
                        &e.error,
                        ProduceError::Connection(cause)
                            if cause.kind == odradek_core::ConnectionErrorKind::ConnectFailed
                                && cause.broker == broker
                    ),
                    "#{i}: {:?}",
                    e.error
                );
                assert_handed_back(&e.record, &sent[i], "the failed record is handed back");
            }
            other => panic!("#{i}: expected a delivery failure, got {other:?}"),
        }
    }
}

/// Asserts that `got`, a record handed back with its failure, is the record `sent`: the
/// same in everything, except that a record sent without a timestamp comes back with the
/// wall-clock one the driver stamped it with at `send`.
#[track_caller]
pub fn assert_handed_back(got: &Record, sent: &Record, what: &str) {
    let expected = match (sent.timestamp, got.timestamp) {
        (None, Some(stamped)) => sent.clone().timestamp(stamped),
        _ => sent.clone(),
    };
    assert_eq!(got, &expected, "{what}");
}

/// Close right after sending 500 records: each gets exactly one outcome, the close report
/// agrees, and the records read back are exactly the delivered ones.
pub fn close_with_records_in_flight<R: Runtime>(cluster: &KafkaCluster) {
    close_with_records_in_flight_on::<R>(&Target::plaintext(cluster));
}

/// [`close_with_records_in_flight`] against any [`Target`].
pub fn close_with_records_in_flight_on<R: Runtime>(target: &Target<'_>) {
    let cluster = target.cluster;
    let topic = format!("{}-close-in-flight", target.prefix::<R>());
    cluster
        .create_topics(&[TopicSpec::new(&topic, 3, 1)])
        .unwrap();
    let sent: Vec<Record> = (0..500)
        .map(|i| {
            Record::new(topic.as_str())
                .key(format!("k{}", i % 13))
                .value(format!("v{i}"))
        })
        .collect();
    let mut config = target.base.clone();
    config.linger = Duration::from_millis(20);
    let (outcomes, counts) = R::produce_then_close(config, sent.clone());
    assert_eq!(outcomes.len(), sent.len(), "one outcome per record");
    let delivered = outcomes.iter().filter(|o| o.is_ok()).count();
    for (i, o) in outcomes.iter().enumerate() {
        if let Err(f) = o {
            // A typed failure carrying the record back.
            match f {
                Failure::Delivery(e) => {
                    assert_handed_back(&e.record, &sent[i], "the failed record is handed back")
                }
                Failure::Refused(e) => panic!("#{i} refused before close: {e}"),
            }
        }
    }
    assert_eq!(
        counts.delivered as usize, delivered,
        "close report: delivered"
    );
    assert_eq!(
        counts.failed as usize,
        sent.len() - delivered,
        "close report: failed"
    );
    let read = cluster
        .consume_topics(&[&topic], delivered, READ_TIMEOUT)
        .unwrap();
    check_read_back("close-in-flight", &sent, &outcomes, &read, true, false);
}
