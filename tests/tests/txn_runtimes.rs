//! Transactions on every runtime against real brokers: Kafka 4.4 and 4.1 (transactions v2:
//! Produce v12 enrols partitions, EndTxn v5 bumps the epoch) and Kafka 3.9 (v1: AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit).
//!
//! Per runtime (odradek-tokio, odradek-async-std, odradek-smol, odradek-mio's blocking producer), one
//! transactional producer on its own topics (a 3-partition and a 2-partition topic, plus an
//! "input" topic whose consumer offsets it commits):
//!
//! 1. a transaction over both topics and every partition, with `send_offsets_to_transaction`,
//!    committed;
//! 2. a transaction with offsets, its records flushed to the brokers (so they are in the
//!    logs), then aborted;
//! 3. a third transaction, committed (the producer goes on after an abort; on the async
//!    runtimes a concurrent abort during its commit is refused with the typed error).
//!
//! Read back by Kafka's Java consumer: `read_committed` sees exactly the records of 1 and 3,
//! per partition in send order, at the offsets their delivery reported; `read_uncommitted`
//! sees 2's records too, at their offsets; the group's committed offsets are 1's and 3's,
//! never 2's.
//!
//! One broker per version for the whole binary. Skipped unless `ODRADEK_KAFKA=1`
//! (`cargo xtask test` sets it).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

use odradek_core::{
    Config, DeliveryError, GroupMetadata, Record, RecordMetadata, TransactionError, TxnOffset,
};
use odradek_tests::conformance::base_config;
use odradek_tests::kafka::{self, KafkaCluster, TopicSpec, Version};
use odradek_tests::ConsumedRecord;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Records of the first (committed) transaction.
const FIRST: usize = 30;
/// Records of the second (aborted) transaction.
const ABORTED: usize = 12;
/// Records of the third (committed) transaction.
const THIRD: usize = 10;
/// Partitions of the two output topics.
const PARTITIONS: [i32; 2] = [3, 2];

/// A future run to completion by a runtime, its output boxed.
type AnyFuture = std::pin::Pin<Box<dyn Future<Output = AnyOutput> + Send>>;
/// A boxed output.
type AnyOutput = Box<dyn std::any::Any + Send>;
/// Values per (topic, partition), in offset order, with their offsets.
type PartitionLogs = BTreeMap<(String, i32), Vec<(i64, Vec<u8>)>>;

/// Waits for a record's outcome.
type Pending = Box<dyn FnOnce() -> Result<RecordMetadata, DeliveryError>>;

/// One runtime's producer, seen through blocking calls.
trait TxnProducer {
    fn init(&self) -> Result<(), TransactionError>;
    fn begin(&self) -> Result<(), TransactionError>;
    fn send(&self, record: Record) -> Pending;
    fn flush(&self);
    fn offsets(&self, offsets: Vec<TxnOffset>, group: &str) -> Result<(), TransactionError>;
    fn commit(&self) -> Result<(), TransactionError>;
    fn abort(&self) -> Result<(), TransactionError>;
    /// Starts a commit and, while it runs, an abort: both outcomes. `None` where the runtime
    /// cannot run the two at once from one thread (the blocking producer).
    fn commit_with_concurrent_abort(
        &self,
    ) -> Option<(Result<(), TransactionError>, Result<(), TransactionError>)>;
    fn close(self: Box<Self>);
}

/// A tokio runtime for the whole binary.
fn tokio_rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// The async producers (odradek-tokio, odradek-async-std): one `Producer<R>`, each call run
/// to completion on the runtime.
struct Async<R: odradek_driver::Runtime> {
    producer: odradek_driver::Producer<R>,
    block_on: fn(AnyFuture) -> AnyOutput,
}

impl<R: odradek_driver::Runtime + Default> Async<R> {
    fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T {
        let out = (self.block_on)(Box::pin(async move { Box::new(f.await) as AnyOutput }));
        *out.downcast::<T>().expect("the future's own output")
    }
}

impl<R: odradek_driver::Runtime + Default> TxnProducer for Async<R> {
    fn init(&self) -> Result<(), TransactionError> {
        let p = self.producer.clone();
        self.run(async move { p.init_transactions().await })
    }
    fn begin(&self) -> Result<(), TransactionError> {
        self.producer.begin_transaction()
    }
    fn send(&self, record: Record) -> Pending {
        let p = self.producer.clone();
        let delivery = self
            .run(async move { p.send(record).await })
            .expect("taken");
        let block_on = self.block_on;
        Box::new(move || {
            let out = block_on(Box::pin(
                async move { Box::new(delivery.await) as AnyOutput },
            ));
            *out.downcast().expect("a delivery result")
        })
    }
    fn flush(&self) {
        let p = self.producer.clone();
        self.run(async move { p.flush().await })
    }
    fn offsets(&self, offsets: Vec<TxnOffset>, group: &str) -> Result<(), TransactionError> {
        let p = self.producer.clone();
        let group = GroupMetadata::new(group);
        self.run(async move { p.send_offsets_to_transaction(offsets, group).await })
    }
    fn commit(&self) -> Result<(), TransactionError> {
        let p = self.producer.clone();
        self.run(async move { p.commit_transaction().await })
    }
    fn abort(&self) -> Result<(), TransactionError> {
        let p = self.producer.clone();
        self.run(async move { p.abort_transaction().await })
    }
    fn commit_with_concurrent_abort(
        &self,
    ) -> Option<(Result<(), TransactionError>, Result<(), TransactionError>)> {
        let p = self.producer.clone();
        // `join` polls the commit first (which starts it), then the abort.
        Some(self.run(async move {
            futures_util::future::join(p.commit_transaction(), p.abort_transaction()).await
        }))
    }
    fn close(self: Box<Self>) {
        let p = self.producer.clone();
        let report = self.run(async move { p.close().await });
        assert_eq!(report.failed, 0, "{report:?}");
    }
}

fn tokio_block_on(f: AnyFuture) -> AnyOutput {
    tokio_rt().block_on(f)
}

fn async_std_block_on(f: AnyFuture) -> AnyOutput {
    async_std::task::block_on(f)
}

fn smol_block_on(f: AnyFuture) -> AnyOutput {
    smol::block_on(f)
}

/// odradek-mio's blocking producer.
struct Blocking(odradek_mio::BlockingProducer);

impl TxnProducer for Blocking {
    fn init(&self) -> Result<(), TransactionError> {
        self.0.init_transactions()
    }
    fn begin(&self) -> Result<(), TransactionError> {
        self.0.begin_transaction()
    }
    fn send(&self, record: Record) -> Pending {
        let receipt = self.0.send(record).expect("taken");
        Box::new(move || receipt.wait())
    }
    fn flush(&self) {
        self.0.flush()
    }
    fn offsets(&self, offsets: Vec<TxnOffset>, group: &str) -> Result<(), TransactionError> {
        self.0
            .send_offsets_to_transaction(offsets, GroupMetadata::new(group))
    }
    fn commit(&self) -> Result<(), TransactionError> {
        self.0.commit_transaction()
    }
    fn abort(&self) -> Result<(), TransactionError> {
        self.0.abort_transaction()
    }
    fn commit_with_concurrent_abort(
        &self,
    ) -> Option<(Result<(), TransactionError>, Result<(), TransactionError>)> {
        None
    }
    fn close(self: Box<Self>) {
        let report = self.0.close();
        assert_eq!(report.failed, 0, "{report:?}");
    }
}

fn connect(runtime: &str, config: Config) -> Box<dyn TxnProducer> {
    match runtime {
        "tokio" => {
            let producer = tokio_rt()
                .block_on(odradek_tokio::Producer::connect(config))
                .expect("valid config");
            Box::new(Async {
                producer,
                block_on: tokio_block_on,
            })
        }
        "async-std" => {
            let producer = async_std::task::block_on(odradek_async_std::Producer::connect(config))
                .expect("valid config");
            Box::new(Async {
                producer,
                block_on: async_std_block_on,
            })
        }
        "smol" => {
            let producer =
                smol::block_on(odradek_smol::Producer::connect(config)).expect("valid config");
            Box::new(Async {
                producer,
                block_on: smol_block_on,
            })
        }
        "mio" => Box::new(Blocking(
            odradek_mio::BlockingProducer::connect(config).expect("valid config"),
        )),
        other => panic!("no runtime {other}"),
    }
}

/// What one runtime's run sent: per transaction, each record's value and where it landed.
struct Sent {
    label: String,
    topics: [String; 2],
    input: String,
    group: String,
    committed: Vec<(Vec<u8>, RecordMetadata)>,
    aborted: Vec<(Vec<u8>, RecordMetadata)>,
}

/// `n` records over both topics and every partition, values `{tag}-{i}`.
fn records(topics: &[String; 2], tag: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let t = i % 2;
            let partition = (i / 2) as i32 % PARTITIONS[t];
            Record::new(topics[t].as_str())
                .partition(partition)
                .key(format!("k{i}"))
                .value(format!("{tag}-{i}"))
        })
        .collect()
}

fn offset(input: &str, partition: i32, offset: i64) -> TxnOffset {
    TxnOffset {
        topic: input.to_owned(),
        partition,
        offset,
        leader_epoch: None,
        metadata: None,
    }
}

/// Sends `records` in the open transaction; the pending outcomes with their values.
fn send_all(p: &dyn TxnProducer, records: Vec<Record>) -> Vec<(Vec<u8>, Pending)> {
    records
        .into_iter()
        .map(|r| {
            let value = r.value.clone().expect("a value").to_vec();
            (value, p.send(r))
        })
        .collect()
}

fn wait_all(label: &str, pending: Vec<(Vec<u8>, Pending)>) -> Vec<(Vec<u8>, RecordMetadata)> {
    pending
        .into_iter()
        .map(|(v, wait)| match wait() {
            Ok(m) => (v, m),
            Err(e) => panic!("{label}: {:?} failed: {e}", String::from_utf8_lossy(&v)),
        })
        .collect()
}

/// One runtime's three transactions (see the module docs).
fn run(cluster: &KafkaCluster, runtime: &str, tag: &str) -> Sent {
    let label = format!("{runtime} on Kafka {}", cluster.version());
    let base = format!("txnrt-{runtime}-{tag}-{}", std::process::id());
    let topics = [format!("{base}-a"), format!("{base}-b")];
    let input = format!("{base}-in");
    cluster
        .create_topics(&[
            TopicSpec::new(&topics[0], PARTITIONS[0], 1),
            TopicSpec::new(&topics[1], PARTITIONS[1], 1),
            TopicSpec::new(&input, 2, 1),
        ])
        .unwrap();
    let group = format!("{base}-group");
    let mut config = base_config(cluster);
    config.client_id = format!("odradek-txn-{runtime}");
    config.transactional_id = Some(format!("{base}-txn"));
    let started = Instant::now();
    let p = connect(runtime, config);
    p.init().unwrap_or_else(|e| panic!("{label}: init: {e}"));

    // 1: committed, with offsets.
    p.begin().unwrap();
    let first = send_all(&*p, records(&topics, "c1", FIRST));
    p.offsets(vec![offset(&input, 0, 10), offset(&input, 1, 20)], &group)
        .unwrap_or_else(|e| panic!("{label}: offsets: {e}"));
    p.commit()
        .unwrap_or_else(|e| panic!("{label}: commit 1: {e}"));
    let mut committed = wait_all(&label, first);

    // 2: records in the logs, offsets sent, then aborted.
    p.begin().unwrap();
    let second = send_all(&*p, records(&topics, "ab", ABORTED));
    p.offsets(vec![offset(&input, 0, 99), offset(&input, 1, 99)], &group)
        .unwrap_or_else(|e| panic!("{label}: offsets 2: {e}"));
    p.flush();
    let aborted = wait_all(&label, second);
    p.abort().unwrap_or_else(|e| panic!("{label}: abort: {e}"));

    // 3: committed after the abort; a concurrent abort is refused while the commit runs.
    p.begin().unwrap();
    let third = send_all(&*p, records(&topics, "c3", THIRD));
    p.offsets(vec![offset(&input, 0, 30)], &group)
        .unwrap_or_else(|e| panic!("{label}: offsets 3: {e}"));
    match p.commit_with_concurrent_abort() {
        Some((commit, abort)) => {
            commit.unwrap_or_else(|e| panic!("{label}: commit 3: {e}"));
            let refused = abort.expect_err("an abort during a commit is refused");
            assert!(
                matches!(refused, TransactionError::InvalidState(_)),
                "{label}: {refused:?}"
            );
        }
        None => p
            .commit()
            .unwrap_or_else(|e| panic!("{label}: commit 3: {e}")),
    }
    committed.extend(wait_all(&label, third));
    p.close();
    eprintln!(
        "{label}: 3 transactions ({} + {} records committed, {} aborted) in {:?}",
        FIRST,
        THIRD,
        ABORTED,
        started.elapsed()
    );
    Sent {
        label,
        topics,
        input,
        group,
        committed,
        aborted,
    }
}

/// Values per (topic, partition), in offset order, with their offsets.
fn by_partition<'a>(records: impl Iterator<Item = (&'a [u8], &'a str, i32, i64)>) -> PartitionLogs {
    let mut map = PartitionLogs::new();
    for (value, topic, partition, offset) in records {
        map.entry((topic.to_owned(), partition))
            .or_default()
            .push((offset, value.to_vec()));
    }
    for list in map.values_mut() {
        list.sort();
    }
    map
}

fn sent_map<'a>(sent: impl Iterator<Item = &'a (Vec<u8>, RecordMetadata)>) -> PartitionLogs {
    by_partition(sent.map(|(v, m)| (v.as_slice(), m.topic.as_str(), m.partition, m.offset)))
}

fn read_map(read: &HashMap<String, Vec<ConsumedRecord>>, topics: &[String; 2]) -> PartitionLogs {
    by_partition(topics.iter().flat_map(|t| &read[t]).map(|r| {
        (
            r.value.as_deref().unwrap_or_default(),
            r.topic.as_str(),
            r.partition,
            r.offset,
        )
    }))
}

/// Reads every run's topics back both ways and checks them (see the module docs).
fn check(cluster: &KafkaCluster, runs: &[Sent]) {
    let topics: Vec<&str> = runs
        .iter()
        .flat_map(|s| s.topics.iter().map(String::as_str))
        .collect();
    let committed_total: usize = runs.iter().map(|s| s.committed.len()).sum();
    let all_total: usize = committed_total + runs.iter().map(|s| s.aborted.len()).sum::<usize>();
    let committed = cluster
        .consume_topics_isolated(&topics, committed_total, READ_TIMEOUT, true)
        .unwrap();
    let uncommitted = cluster
        .consume_topics_isolated(&topics, all_total, READ_TIMEOUT, false)
        .unwrap();
    for s in runs {
        // Sent order per partition is offset order: the values were numbered in send order.
        for list in sent_map(s.committed.iter()).values() {
            let values: Vec<&[u8]> = list.iter().map(|(_, v)| v.as_slice()).collect();
            let mut in_order = values.clone();
            in_order.sort_by_key(|v| {
                let text = String::from_utf8_lossy(v).into_owned();
                let (tag, i) = text.split_once('-').expect("tag-i");
                (tag.to_owned(), i.parse::<usize>().expect("a number"))
            });
            assert_eq!(values, in_order, "{}: offsets follow send order", s.label);
        }
        let read_committed = read_map(&committed, &s.topics);
        assert_eq!(
            read_committed,
            sent_map(s.committed.iter()),
            "{}: read_committed is exactly the committed records, at their offsets",
            s.label
        );
        let read_uncommitted = read_map(&uncommitted, &s.topics);
        assert_eq!(
            read_uncommitted,
            sent_map(s.committed.iter().chain(&s.aborted)),
            "{}: read_uncommitted has the aborted records too, at their offsets",
            s.label
        );
        let offsets = cluster.group_offsets(&s.group).unwrap();
        assert_eq!(
            offsets,
            vec![(s.input.clone(), 0, 30), (s.input.clone(), 1, 20)],
            "{}: the group's offsets are the committed transactions', not the aborted one's",
            s.label
        );
        eprintln!(
            "{}: read_committed {} records, read_uncommitted {} ({} aborted), group offsets {:?}",
            s.label,
            read_committed.values().map(Vec::len).sum::<usize>(),
            read_uncommitted.values().map(Vec::len).sum::<usize>(),
            s.aborted.len(),
            offsets
        );
    }
}

fn every_runtime(version: Version, tag: &str) {
    let cluster = kafka::shared(version).unwrap();
    let runs: Vec<Sent> = ["tokio", "async-std", "smol", "mio"]
        .into_iter()
        .map(|rt| run(cluster, rt, tag))
        .collect();
    check(cluster, &runs);
}

#[test]
fn transactions_on_every_runtime_against_kafka_4_4() {
    if kafka::should_run("transactions_on_every_runtime_against_kafka_4_4") {
        every_runtime(Version::V4_4, "44");
    }
}

#[test]
fn transactions_on_every_runtime_against_kafka_4_1() {
    if kafka::should_run("transactions_on_every_runtime_against_kafka_4_1") {
        every_runtime(Version::V4_1, "41");
    }
}

#[test]
fn transactions_on_every_runtime_against_kafka_3_9() {
    if kafka::should_run("transactions_on_every_runtime_against_kafka_3_9") {
        every_runtime(Version::V3_9, "39");
    }
}
