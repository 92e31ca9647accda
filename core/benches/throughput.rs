//! Records per second through `ProducerCore` against the instant in-bench broker
//! (`support/mod.rs`): 100 B and 1 KiB values, compression none / lz4 / zstd, default config
//! (linger 5 ms, batch.size 16 KiB, acks=all), 4 partitions. Each iteration sends one record
//! and drives the core until it is quiet, answering requests at once.
//!
//! Run: `cargo bench -p odradek-core --bench throughput`
//!
//! RESULTS-PLACEHOLDER

#[path = "support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use odradek_core::Compression;

fn no_scope(_: bool) {}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("produce");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(4));
    for (name, compression) in [
        ("none", Compression::None),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        for size in [100usize, 1024] {
            const N: u64 = 10_000;
            g.throughput(Throughput::Elements(N));
            g.bench_function(format!("{name}/{size}B"), |bench| {
                bench.iter_batched_ref(
                    || support::Bench::new(support::config(compression), 4, size, no_scope),
                    |b| {
                        for _ in 0..N {
                            b.send_one();
                        }
                        b.flush();
                    },
                    BatchSize::PerIteration,
                );
            });
        }
    }
    g.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
