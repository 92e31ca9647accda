//! Micro-benchmarks of the record hot path: appending records to a batch and finishing it,
//! per format and codec.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use odradek_core::record::{BatchBuilder, RecordFormat};
use odradek_core::{Compression, Header};
use std::hint::black_box;

const RECORDS: usize = 1_000;

/// A builder over a buffer whose pages are already touched, as a recycled buffer is in steady
/// state.
fn builder(format: RecordFormat, value: &[u8]) -> BatchBuilder {
    let n = RECORDS * (value.len() + 64) + 64;
    let mut buf = bytes::BytesMut::with_capacity(n);
    buf.resize(n, 0);
    BatchBuilder::with_buffer(format, buf)
}

fn fill_into(mut b: BatchBuilder, value: &[u8], headers: &[Header]) -> BatchBuilder {
    for i in 0..RECORDS as i64 {
        let key = i.to_be_bytes();
        b.append(1_700_000_000_000 + i, Some(&key), Some(value), headers)
            .unwrap();
    }
    b
}

fn bench(c: &mut Criterion) {
    let value = b"a moderately repetitive payload, ".repeat(4); // ~130 bytes
    let headers = [Header::new("trace-id", "0123456789abcdef")];
    let mut g = c.benchmark_group("append_1000");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for format in [RecordFormat::V1, RecordFormat::V2] {
        let hs: &[Header] = if format == RecordFormat::V2 {
            &headers
        } else {
            &[]
        };
        g.bench_function(format!("{format:?}"), |b| {
            b.iter_batched(
                || builder(format, &value),
                |builder| black_box(fill_into(builder, &value, hs)),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("finish_1000");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        g.bench_function(format!("V2/{codec:?}"), |b| {
            b.iter_batched(
                || fill_into(builder(RecordFormat::V2, &value), &value, &headers),
                |builder| black_box(builder.finish(codec, None).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
