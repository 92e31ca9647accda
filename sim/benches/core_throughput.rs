//! Records per second through the real ProducerCore against an instantly answering simulated
//! broker: 100 B and 1 KiB values, compression none / lz4 / zstd.
//!
//! `cargo bench -p odradek-sim --bench core_throughput`

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use odradek_core::{Acks, Compression, Config, ProducerCore, Record, TopicName};
use odradek_sim::{step, Cluster, ClusterConfig, NetworkConfig, TopicSpec};
use std::time::Duration;

const BATCH: usize = 1000;

struct Rig {
    cluster: Cluster,
    core: ProducerCore,
    topic: TopicName,
    value: Bytes,
}

impl Rig {
    fn new(size: usize, compression: Compression) -> Rig {
        let mut cc = ClusterConfig::new(1);
        cc.brokers = 1;
        cc.topics = vec![TopicSpec::new("bench", 4)];
        cc.network = NetworkConfig::instant();
        let cluster = Cluster::new(cc);
        let mut config = Config::new(cluster.config().bootstrap_servers());
        config.acks = Acks::Leader;
        config.compression = compression;
        config.linger = Duration::from_millis(5);
        config.batch_size = 64 * 1024;
        let core = ProducerCore::new(config, 1, cluster.now()).expect("config");
        let topic = TopicName::from("bench");
        let value = Bytes::from(
            (0..size)
                .map(|i| b"odradek producer benchmark "[i % 27])
                .collect::<Vec<u8>>(),
        );
        // Warm up: metadata, connections, first batches.
        let mut rig = Rig {
            cluster,
            core,
            topic,
            value,
        };
        rig.run(BATCH);
        rig
    }

    /// Sends `n` records and drives until every one has its outcome.
    fn run(&mut self, n: usize) {
        for i in 0..n {
            let key = Bytes::copy_from_slice(&(i as u32 % 64).to_be_bytes());
            let record = Record {
                topic: self.topic.clone(),
                partition: None,
                key: Some(key),
                value: Some(self.value.clone()),
                headers: Vec::new(),
                timestamp: None,
            };
            let now = self.cluster.now();
            self.core.send(record, now).expect("send");
        }
        while self.core.pending_records() > 0 {
            assert!(
                step(&mut self.cluster, &mut self.core, &mut |_| {}),
                "stuck"
            );
        }
    }
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_throughput");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    for size in [100usize, 1024] {
        for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let mut rig = Rig::new(size, compression);
            group.bench_with_input(
                BenchmarkId::new(format!("{compression:?}"), format!("{size}B")),
                &size,
                |b, _| b.iter(|| rig.run(BATCH)),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
