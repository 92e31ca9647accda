//! Records per second through the real ProducerCore against an instantly answering simulated
//! broker: 100 B and 1 KiB values, compression none / lz4 / zstd, linger 5 ms (virtual), on a
//! 4-partition topic with 64 keys; and 100 B uncompressed records with 100,000 distinct keys on a
//! 5,000-partition topic (`None/100B/5000p`: the many-partition case of issue 22, where work per
//! event must follow what changed, not the partition count).
//!
//! Only the time spent inside ProducerCore calls is measured (criterion's `iter_custom`): the
//! simulated broker decodes, checks and stores every batch, and that cost is not the core's.
//! The records are built before the clock starts, and the sends of a round are timed as one
//! span (two clock reads per round, not per record, which would add ~40 ns to every record).
//!
//! `cargo bench -p odradek-sim --bench core_throughput`

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use odradek_core::{Acks, Compression, Config, Output, ProducerCore, Record, TopicName};
use odradek_sim::{Cluster, ClusterConfig, NetworkConfig, TopicSpec};
use std::time::{Duration, Instant};

const BATCH: usize = 1000;

struct Rig {
    cluster: Cluster,
    core: ProducerCore,
    topic: TopicName,
    value: Bytes,
    keys: Vec<Bytes>,
    /// The key of the next record: keys go round across rounds.
    next_key: usize,
    /// The next round's records, built outside the timed span (capacity reused).
    records: Vec<Record>,
    /// Outputs taken from the core, before the broker applies them (capacity reused).
    outputs: Vec<Output>,
    /// Outputs applied, their contents taken, to hand back to the core (capacity reused).
    applied: Vec<Output>,
    in_core: Duration,
}

impl Rig {
    /// A rig producing `size`-byte values with `keys` distinct keys to a topic of
    /// `partitions` partitions.
    fn new(size: usize, compression: Compression, partitions: i32, keys: u32) -> Rig {
        let mut cc = ClusterConfig::new(1);
        cc.brokers = 1;
        cc.topics = vec![TopicSpec::new("bench", partitions)];
        cc.network = NetworkConfig::instant();
        cc.keep_records = false;
        let cluster = Cluster::new(cc);
        let mut config = Config::new(cluster.config().bootstrap_servers());
        config.acks = Acks::Leader;
        config.compression = compression;
        config.linger = Duration::from_millis(5);
        config.batch_size = 64 * 1024;
        let core = ProducerCore::new(config, 1, cluster.now()).expect("config");
        let value = Bytes::from(
            (0..size)
                .map(|i| b"odradek producer benchmark "[i % 27])
                .collect::<Vec<u8>>(),
        );
        let mut rig = Rig {
            cluster,
            core,
            topic: TopicName::from("bench"),
            value,
            keys: (0..keys)
                .map(|k| Bytes::copy_from_slice(&k.to_be_bytes()))
                .collect(),
            next_key: 0,
            records: Vec::with_capacity(BATCH),
            outputs: Vec::with_capacity(2 * BATCH),
            applied: Vec::with_capacity(2 * BATCH),
            in_core: Duration::ZERO,
        };
        // Warm up: metadata, connections, first batches (every key once, so that every
        // partition has had a batch), `BATCH` at a time: 100,000 records sent undrained
        // would pass `buffer.memory`, which charges their batches' buffers.
        rig.run(BATCH);
        let mut left = keys as usize;
        while left > 0 {
            let n = left.min(BATCH);
            rig.run(n);
            left -= n;
        }
        rig
    }

    fn timed<T>(&mut self, f: impl FnOnce(&mut ProducerCore, &mut Cluster) -> T) -> T {
        let started = Instant::now();
        let r = f(&mut self.core, &mut self.cluster);
        self.in_core += started.elapsed();
        r
    }

    /// Takes every output in one timed span (not two clock reads per output), lets the
    /// simulated broker apply them, in order, takes out their chunks and records (as a
    /// driver would), then hands them back to the core in a second timed span
    /// ([`ProducerCore::recycle`]).
    fn drain(&mut self) {
        let mut outputs = std::mem::take(&mut self.outputs);
        let mut applied = std::mem::take(&mut self.applied);
        self.timed(|core, _| {
            while let Some(out) = core.poll_output() {
                outputs.push(out);
            }
        });
        for mut out in outputs.drain(..) {
            self.cluster.apply(&out);
            match &mut out {
                Output::Transmit { data, .. } => data.clear(),
                Output::Delivered(batch) => batch.drain().for_each(drop),
                _ => {}
            }
            applied.push(out);
        }
        self.timed(|core, _| {
            for out in applied.drain(..) {
                core.recycle(out);
            }
        });
        self.outputs = outputs;
        self.applied = applied;
    }

    /// Sends `n` records and drives until every one has its outcome; returns the time spent
    /// inside core calls.
    fn run(&mut self, n: usize) -> Duration {
        self.in_core = Duration::ZERO;
        let mut records = std::mem::take(&mut self.records);
        let first = self.next_key;
        self.next_key = (first + n) % self.keys.len();
        records.extend((first..first + n).map(|i| Record {
            topic: self.topic.clone(),
            partition: None,
            key: Some(self.keys[i % self.keys.len()].clone()),
            value: Some(self.value.clone()),
            headers: Vec::new(),
            timestamp: None,
        }));
        let now = self.cluster.now();
        let accepted = self.timed(|core, _| {
            records
                .drain(..)
                .map(|record| core.send(record, now).is_ok())
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(accepted, n, "send refused");
        self.records = records;
        while self.core.pending_records() > 0 {
            self.drain();
            let timer = self.core.poll_timeout().map(|(t, _)| t);
            match (self.cluster.next_event_time(), timer) {
                (Some(net), t) if t.is_none_or(|t| net <= t) => {
                    if let Some(ev) = self.cluster.step() {
                        let now = self.cluster.now();
                        self.timed(|core, _| odradek_sim::feed(core, ev, now));
                    }
                }
                (_, Some(t)) => {
                    self.cluster.advance_to(t);
                    let now = self.cluster.now();
                    self.timed(|core, _| core.handle_timeout(now));
                }
                _ => panic!("stuck with {} records pending", self.core.pending_records()),
            }
            self.drain();
        }
        self.in_core
    }
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_throughput");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    for size in [100usize, 1024] {
        for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
            // Built inside the routine, so a filtered-out case costs nothing.
            let mut rig = None;
            group.bench_with_input(
                BenchmarkId::new(format!("{compression:?}"), format!("{size}B")),
                &size,
                |b, &size| {
                    let rig = rig.get_or_insert_with(|| Rig::new(size, compression, 4, 64));
                    b.iter_custom(|iters| (0..iters).map(|_| rig.run(BATCH)).sum())
                },
            );
        }
    }
    // Many partitions: 100 B, no compression, 100,000 keys over 5,000 partitions.
    let mut rig = None;
    group.bench_function(BenchmarkId::new("None", "100B/5000p"), |b| {
        let rig = rig.get_or_insert_with(|| Rig::new(100, Compression::None, 5000, 100_000));
        b.iter_custom(|iters| (0..iters).map(|_| rig.run(BATCH)).sum())
    });
    group.finish();
}

criterion_group!(benches, throughput);

/// `ODRADEK_CORE_ROUNDS=N` skips criterion and runs N rounds of 1000 records of one case
/// (`ODRADEK_CORE_CASE`, default `None/100B`; `None/100B/5000p` for the many-partition case) after the warm-up, for an instruction count
/// that does not depend on the machine's load:
///
/// ```sh
/// ODRADEK_CORE_ROUNDS=20 valgrind --tool=callgrind \
///   --toggle-collect='odradek_core::producer::ProducerCore::send' \
///   --toggle-collect='odradek_core::producer::ProducerCore::poll_output' \
///   --toggle-collect='odradek_core::producer::ProducerCore::handle_received' \
///   --toggle-collect='odradek_core::producer::ProducerCore::handle_timeout' \
///   --toggle-collect='odradek_core::producer::ProducerCore::recycle' \
///   target/release/deps/core_throughput-*
/// ```
///
/// Ir collected / 21 064 is the core's instructions per record for `None/100B` (the warm-up,
/// 1000 records and one per key, is collected too; for `None/100B/5000p` it is 101 000
/// records, so take the difference of two round counts). Only these public calls are
/// collected; a wider pattern such as `ProducerCore::*` also matches calls nested in them
/// (`ProducerCore::pump`), where callgrind's toggle switches collection off, and undercounts.
fn rounds(n: usize) {
    let case = std::env::var("ODRADEK_CORE_CASE").unwrap_or_else(|_| "None/100B".into());
    let (case_only, partitions) = match case.strip_suffix("/5000p") {
        Some(c) => (c, 5000),
        None => (case.as_str(), 4),
    };
    let keys = if partitions == 4 { 64 } else { 100_000 };
    let (codec, size) = case_only
        .split_once('/')
        .expect("CODEC/SIZE[/5000p], e.g. Lz4/1024B");
    let compression = match codec {
        "None" => Compression::None,
        "Lz4" => Compression::Lz4,
        "Zstd" => Compression::Zstd,
        other => panic!("codec {other}: None, Lz4 or Zstd"),
    };
    let size: usize = size.trim_end_matches('B').parse().expect("size in bytes");
    let mut rig = Rig::new(size, compression, partitions, keys);
    let spent: Duration = (0..n).map(|_| rig.run(BATCH)).sum();
    let records = n * BATCH;
    println!(
        "{case}: {records} records, {:.0} ns per record inside the core",
        spent.as_nanos() as f64 / records as f64
    );
}

fn main() {
    if let Some(n) = std::env::var("ODRADEK_CORE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return rounds(n);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
