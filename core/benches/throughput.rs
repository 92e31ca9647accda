//! Records per second through `ProducerCore` against the instant in-bench broker
//! (`support/mod.rs`): 100 B and 1 KiB values, compression none / lz4 / zstd, default config
//! (linger 5 ms, batch.size 16 KiB, acks=all), 4 partitions. Each iteration sends one record
//! and drives the core until it is quiet, answering requests at once.
//!
//! Run: `cargo bench -p odradek-core --bench throughput`
//!
//! # Measured (2-core VM shared with other jobs, so ±15 %; same machine, same bench code)
//!
//! "before" = the core at `d86930e` (records encoded when the request was built, every input
//! scanning every partition, `poll_timeout` scanning every partition, one request buffer the
//! batches were copied into); "after" = this branch. Records/s, criterion median, including
//! the instant broker's own decoding (so the core's share of the gain is larger):
//!
//! | value | codec | before | after |
//! |------:|:------|-------:|------:|
//! | 100 B | none  | 1.13 M/s | 2.85 M/s |
//! | 1 KiB | none  | 0.69 M/s | 1.25 M/s |
//! | 100 B | lz4   | 0.92 M/s | 2.10 M/s |
//! | 1 KiB | lz4   | 0.55 M/s | 1.27 M/s |
//! | 100 B | zstd  | 0.89 M/s | 1.31 M/s |
//! | 1 KiB | zstd  | 0.26 M/s | 0.32 M/s |
//!
//! Heap allocations made by the core per record in steady state
//! (`cargo bench -p odradek-core --bench alloc_per_record`, 100 000 records after 20 000):
//!
//! | value | codec | before | after |
//! |------:|:------|-------:|------:|
//! | 100 B | none  | 1.29 | 0.10 |
//! | 1 KiB | none  | 3.07 | 0.80 |
//! | 100 B | lz4   | 1.32 | 0.13 |
//! | 1 KiB | lz4   | 3.33 | 1.07 |
//! | 100 B | zstd  | 1.30 | 0.11 |
//! | 1 KiB | zstd  | 3.20 | 0.93 |
//!
//! None of the remaining allocations is per record: they are per batch / per request
//! (the batch buffer, the records vector, compression output, the request's framing and
//! chunk list, the response decoding), so per record they shrink as batches grow (a 16 KiB
//! batch holds ~130 records of 100 B, ~15 of 1 KiB).
//!
//! Instructions executed inside `ProducerCore` per 100 B uncompressed record (valgrind
//! callgrind, no `perf` counters on this VM):
//!
//! ```text
//! cargo bench -p odradek-core --bench alloc_per_record --no-run
//! valgrind --tool=callgrind --toggle-collect='*ProducerCore*' \
//!     target/release/deps/alloc_per_record-<hash> <N> --codec=none --size=100 --warmup=2000
//! ```
//!
//! (Ir at N = 20 000 minus Ir at N = 0, divided by 20 000): before 2 403, after 749. Before,
//! the top self costs were `poll_timeout`'s scan of every partition and SipHash of the topic
//! name per record; after, `memcpy` of the value into the batch (12 %), then `send` itself.

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
