//! Compression of a realistic batch: 16 KiB of RecordBatch v2 records (the Java client's
//! default `batch.size`) with 100 B and 1 KiB JSON-like values, per codec and level.
//!
//! `cargo bench -p odradek-core --bench codecs` measures the gzip compressor in use
//! (libdeflate); `--no-default-features --features gzip-zlib-rs` zlib-rs,
//! `--no-default-features` miniz_oxide (flate2's own default), `--no-default-features
//! --features gzip-zlib-ng` zlib-ng (see README, "The codecs"). With `ODRADEK_CODEC_INPUT=DIR` set, the
//! two uncompressed inputs are also written to `DIR/records-100.bin` and `DIR/records-1024.bin`, so that other clients'
//! codecs can be timed on the very same bytes.
#![allow(missing_docs)]

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use odradek_core::compression::{GZIP_DEFAULT_LEVEL, ZSTD_DEFAULT_LEVEL};
use odradek_core::record::{batch::HEADER_LEN, BatchBuilder, RecordFormat};
use odradek_core::Compression;
use std::hint::black_box;

const BATCH_BYTES: usize = 16 * 1024;

/// A small deterministic generator, so every run (and every backend) compresses the same bytes.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A JSON-like event of exactly `size` bytes: a few numeric and enumerated fields, then
/// words from a small vocabulary as free text.
fn value(rng: &mut Lcg, size: usize) -> Vec<u8> {
    const EVENTS: [&str; 5] = ["click", "view", "purchase", "scroll", "login"];
    const WORDS: [&str; 16] = [
        "alpha", "beta", "order", "cart", "user", "session", "item", "price", "blue", "large",
        "shipping", "delta", "review", "stock", "north", "coupon",
    ];
    let mut s = format!(
        r#"{{"id":{},"user":"u{:05}","event":"{}","ts":{},"amount":{}.{:02},"text":""#,
        rng.next() % 10_000_000,
        rng.next() % 50_000,
        EVENTS[(rng.next() % 5) as usize],
        1_700_000_000_000u64 + rng.next() % 1_000_000,
        rng.next() % 1000,
        rng.next() % 100,
    );
    while s.len() < size {
        s.push_str(WORDS[(rng.next() % 16) as usize]);
        s.push(' ');
    }
    s.truncate(size.saturating_sub(2));
    s.push_str("\"}");
    s.into_bytes()
}

/// The records section of a v2 batch of `size`-byte values that fills about 16 KiB.
fn records(size: usize) -> Vec<u8> {
    let mut rng = Lcg(size as u64);
    let mut b = BatchBuilder::new(RecordFormat::V2);
    let mut i = 0i64;
    while b.size() + size + 16 <= BATCH_BYTES {
        let key = format!("k{}", i % 1000);
        b.append(
            1_700_000_000_000 + i,
            Some(key.as_bytes()),
            Some(&value(&mut rng, size)),
            &[],
        )
        .unwrap();
        i += 1;
    }
    let batch = b.finish(Compression::None, None).unwrap();
    batch[HEADER_LEN..].to_vec()
}

/// The gzip compressor in this build for levels 1 and 7 to 9 (2 to 6 are odradek's own
/// deflate encoder): libdeflate (feature gzip-libdeflate, the default), else flate2's backend
/// (a C zlib wins over zlib-rs over miniz_oxide when several are enabled).
fn backend() -> &'static str {
    if cfg!(feature = "gzip-libdeflate") {
        "libdeflate"
    } else if cfg!(feature = "gzip-zlib-ng") {
        "zlib-ng"
    } else if cfg!(feature = "gzip-zlib-rs") {
        "zlib-rs"
    } else {
        "miniz_oxide"
    }
}

fn bench(c: &mut Criterion) {
    let dump = std::env::var_os("ODRADEK_CODEC_INPUT").map(std::path::PathBuf::from);
    let backend = backend();
    let cases = [
        (Compression::Gzip, Some(GZIP_DEFAULT_LEVEL), "gzip-6"),
        (Compression::Gzip, Some(1), "gzip-1"),
        (Compression::Zstd, Some(ZSTD_DEFAULT_LEVEL), "zstd-3"),
        (Compression::Lz4, None, "lz4"),
        (Compression::Snappy, None, "snappy"),
    ];
    let mut g = c.benchmark_group(format!("compress_16KiB/{backend}"));
    for size in [100usize, 1024] {
        let input = records(size);
        if let Some(dir) = &dump {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("records-{size}.bin")), &input).unwrap();
        }
        g.throughput(Throughput::Bytes(input.len() as u64));
        for (codec, level, name) in cases {
            let mut out = Vec::with_capacity(input.len() + 1024);
            codec.compress(level, &input, &mut out).unwrap();
            // The ratio, once per case, for the README (criterion prints the speed).
            println!(
                "{backend} {name} {size} B records: {} -> {} bytes ({:.2}x)",
                input.len(),
                out.len(),
                input.len() as f64 / out.len() as f64
            );
            assert_eq!(codec.decompress(&out, input.len()).unwrap(), input);
            g.bench_with_input(
                BenchmarkId::new(name, format!("{size}B")),
                &input,
                |b, input| {
                    b.iter(|| {
                        out.clear();
                        codec.compress(level, black_box(input), &mut out).unwrap();
                        black_box(out.len())
                    })
                },
            );
        }
    }
    g.finish();
}

/// `ODRADEK_CODEC_ROUNDS=N` skips criterion and compresses one case
/// (`ODRADEK_CODEC_CASE=NAME/SIZE`, e.g. `gzip-6/100B`; any gzip or zstd level) N times, for an instruction count
/// (callgrind) or a CPU time (`/usr/bin/time`) that depends less on the machine's load than
/// criterion's wall clock (`cargo xtask codecs` does that for every case, beside the Go
/// clients' codecs on the same bytes). With `ODRADEK_CODEC_INPUT=DIR` it also writes the
/// case's input to `DIR/records-SIZE.bin`:
///
/// ```sh
/// ODRADEK_CODEC_ROUNDS=50 ODRADEK_CODEC_CASE=gzip-6/100B valgrind --tool=callgrind \
///   --toggle-collect='odradek_core::compression::Compression::compress' target/release/deps/codecs-*
/// ```
fn rounds(n: usize) {
    let case = std::env::var("ODRADEK_CODEC_CASE").unwrap_or_else(|_| "gzip-6/100B".into());
    let (name, size) = case.split_once('/').expect("NAME/SIZE, e.g. gzip-6/1024B");
    let size: usize = size.trim_end_matches('B').parse().expect("size in bytes");
    let level = |l: &str| Some(l.parse::<i32>().expect("a level, e.g. gzip-6"));
    let (codec, level) = match name.split_once('-') {
        Some(("gzip", l)) => (Compression::Gzip, level(l)),
        Some(("zstd", l)) => (Compression::Zstd, level(l)),
        None if name == "lz4" => (Compression::Lz4, None),
        None if name == "snappy" => (Compression::Snappy, None),
        _ => panic!("case {name}: gzip-LEVEL, zstd-LEVEL, lz4 or snappy"),
    };
    let input = records(size);
    if let Some(dir) = std::env::var_os("ODRADEK_CODEC_INPUT").map(std::path::PathBuf::from) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("records-{size}.bin")), &input).unwrap();
    }
    let mut out = Vec::with_capacity(input.len() + 1024);
    for _ in 0..n {
        out.clear();
        codec.compress(level, black_box(&input), &mut out).unwrap();
        black_box(out.len());
    }
    // gzip levels 2 to 6 are odradek's own encoder whatever the features (compression.rs).
    let encoder = match (codec, level) {
        (Compression::Gzip, Some(2..=6)) => "odradek-deflate",
        _ => backend(),
    };
    println!(
        "{encoder} {case}: {n} x {} bytes -> {} bytes",
        input.len(),
        out.len()
    );
}

criterion_group!(benches, bench);

fn main() {
    if let Some(n) = std::env::var("ODRADEK_CODEC_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return rounds(n);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
