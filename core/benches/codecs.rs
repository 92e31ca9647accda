//! Compression of a realistic batch: 16 KiB of RecordBatch v2 records (the Java client's
//! default `batch.size`) with 100 B and 1 KiB JSON-like values, per codec and level.
//!
//! `cargo bench -p odradek-core --bench codecs` measures every codec as the producer runs it
//! (gzip by libdeflate, feature gzip-libdeflate) and, beside it, gzip by flate2's backend
//! (zlib-rs; the `flate2-gzip-N` cases), which compresses gzip in a build without that feature
//! (see README, "The codecs"). With `ODRADEK_CODEC_INPUT=DIR` set, the two uncompressed inputs
//! are also written to `DIR/records-100.bin` and `DIR/records-1024.bin`, so that other clients'
//! codecs can be timed on the very same bytes.
#![allow(missing_docs)]

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
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

/// The gzip compressor in this build, for every level: libdeflate (feature gzip-libdeflate,
/// the default), else flate2's backend.
fn backend() -> &'static str {
    if cfg!(feature = "gzip-libdeflate") {
        "libdeflate"
    } else {
        flate2_backend()
    }
}

/// flate2's gzip backend in this build (a C zlib wins over zlib-rs over miniz_oxide when
/// several are enabled): what compresses gzip without the gzip-libdeflate feature.
fn flate2_backend() -> &'static str {
    if cfg!(feature = "gzip-zlib-ng") {
        "zlib-ng"
    } else if cfg!(feature = "gzip-zlib-rs") {
        "zlib-rs"
    } else {
        "miniz_oxide"
    }
}

/// What one case compresses with.
#[derive(Clone, Copy)]
enum Codec {
    /// `Compression::compress`: what the producer runs.
    Odradek(Compression, Option<i32>),
    /// gzip at a level by flate2's backend directly, the way compression/gzip.rs calls it without
    /// the gzip-libdeflate feature: so that one build measures both gzip compressors (the
    /// features cannot be switched in a `cargo bench -p odradek-core` of the workspace:
    /// odradek-sim, a dev-dependency, turns odradek-core's default features back on).
    Flate2Gzip(u32),
    /// lz4 by lz4_flex (pure Rust), each 64 KiB block by `lz4_flex::block::compress_into` in
    /// the same frame the producer writes: the alternative to liblz4 (README, "The codecs").
    Lz4Flex,
}

impl Codec {
    /// The case named `name` (`gzip-6`, `zstd-3`, `lz4`, `snappy`, `flate2-gzip-6`).
    fn parse(name: &str) -> Codec {
        let level = |l: &str| l.parse::<i32>().expect("a level, e.g. gzip-6");
        match name.split_once('-') {
            Some(("gzip", l)) => Codec::Odradek(Compression::Gzip, Some(level(l))),
            Some(("zstd", l)) => Codec::Odradek(Compression::Zstd, Some(level(l))),
            Some(("flate2", rest)) => match rest.split_once('-') {
                Some(("gzip", l)) => Codec::Flate2Gzip(level(l).clamp(0, 9) as u32),
                _ => panic!("case {name}: flate2-gzip-LEVEL"),
            },
            Some(("lz4", l)) => Codec::Odradek(Compression::Lz4, Some(level(l))),
            None if name == "lz4" => Codec::Odradek(Compression::Lz4, None),
            None if name == "lz4_flex" => Codec::Lz4Flex,
            None if name == "snappy" => Codec::Odradek(Compression::Snappy, None),
            _ => panic!(
                "case {name}: gzip-LEVEL, flate2-gzip-LEVEL, zstd-LEVEL, lz4[-LEVEL], lz4_flex \
                 or snappy"
            ),
        }
    }

    /// Which library compresses: the gzip backend, or the codec's name.
    fn library(self) -> &'static str {
        match self {
            Codec::Odradek(Compression::Gzip, _) => backend(),
            Codec::Odradek(_, _) => "odradek",
            Codec::Flate2Gzip(_) => flate2_backend(),
            Codec::Lz4Flex => "lz4_flex",
        }
    }

    /// Appends the compressed `input` to `out`.
    fn compress(self, input: &[u8], out: &mut Vec<u8>) {
        match self {
            Codec::Odradek(codec, level) => codec.compress(level, input, out).unwrap(),
            Codec::Flate2Gzip(level) => flate2_gzip(level, input, out),
            Codec::Lz4Flex => lz4_flex_frame(input, out),
        }
    }

    /// The codec that reads the output back.
    fn decoder(self) -> Compression {
        match self {
            Codec::Odradek(codec, _) => codec,
            Codec::Flate2Gzip(_) => Compression::Gzip,
            Codec::Lz4Flex => Compression::Lz4,
        }
    }

    /// Reads `packed` (this codec's output for `len` bytes) back: `Compression::decompress`,
    /// or for `lz4_flex` its frame decoder.
    fn decompress(self, packed: &[u8], len: usize) -> Vec<u8> {
        match self {
            Codec::Lz4Flex => lz4_flex_unframe(packed, len),
            _ => self.decoder().decompress(packed, len).unwrap(),
        }
    }
}

/// One LZ4 frame of `input` as the producer writes it (same header, 64 KiB independent
/// blocks, raw when a block does not shrink), each block compressed by lz4_flex.
#[inline(never)]
fn lz4_flex_frame(input: &[u8], out: &mut Vec<u8>) {
    const HEADER: [u8; 7] = [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];
    out.extend_from_slice(&HEADER);
    for block in input.chunks(64 * 1024) {
        let at = out.len();
        out.resize(
            at + 4 + lz4_flex::block::get_maximum_output_size(block.len()),
            0,
        );
        let n = lz4_flex::block::compress_into(block, &mut out[at + 4..]).unwrap();
        if n < block.len() {
            out.truncate(at + 4 + n);
            out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
        } else {
            out.truncate(at);
            out.extend_from_slice(&(block.len() as u32 | 0x8000_0000).to_le_bytes());
            out.extend_from_slice(block);
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
}

/// lz4_flex's frame decoder on `packed`, as odradek-core decoded lz4 before it used liblz4
/// both ways (the frame check it ran first is left out).
#[inline(never)]
fn lz4_flex_unframe(packed: &[u8], len: usize) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::with_capacity(packed.len().saturating_mul(4).min(len));
    lz4_flex::frame::FrameDecoder::new(packed)
        .take(len as u64 + 1)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// One gzip member of `input` at `level` by flate2's backend, appended to `out` (not inlined,
/// so that callgrind can collect it: `--toggle-collect='codecs::flate2_gzip'`).
#[inline(never)]
fn flate2_gzip(level: u32, input: &[u8], out: &mut Vec<u8>) {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
    enc.write_all(input).unwrap();
    enc.finish().unwrap();
}

fn bench(c: &mut Criterion) {
    let dump = std::env::var_os("ODRADEK_CODEC_INPUT").map(std::path::PathBuf::from);
    let backend = backend();
    let cases = [
        "gzip-6",
        "gzip-1",
        "flate2-gzip-6",
        "flate2-gzip-1",
        "zstd-3",
        "lz4",
        "lz4-1",
        "lz4_flex",
        "snappy",
    ];
    let mut g = c.benchmark_group(format!("compress_16KiB/{backend}"));
    for size in [100usize, 1024] {
        let input = records(size);
        if let Some(dir) = &dump {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("records-{size}.bin")), &input).unwrap();
        }
        g.throughput(Throughput::Bytes(input.len() as u64));
        for name in cases {
            let codec = Codec::parse(name);
            let mut out = Vec::with_capacity(input.len() + 1024);
            codec.compress(&input, &mut out);
            // The ratio, once per case, for the README (criterion prints the speed).
            println!(
                "{} {name} {size} B records: {} -> {} bytes ({:.2}x)",
                codec.library(),
                input.len(),
                out.len(),
                input.len() as f64 / out.len() as f64
            );
            assert_eq!(codec.decompress(&out, input.len()), input);
            g.bench_with_input(
                BenchmarkId::new(name, format!("{size}B")),
                &input,
                |b, input| {
                    b.iter(|| {
                        out.clear();
                        codec.compress(black_box(input), &mut out);
                        black_box(out.len())
                    })
                },
            );
        }
    }
    g.finish();
}

/// `ODRADEK_CODEC_ROUNDS=N` skips criterion and compresses one case
/// (`ODRADEK_CODEC_CASE=NAME/SIZE`, e.g. `gzip-6/100B`; any gzip, flate2-gzip, zstd or lz4
/// level; `lz4_flex`) N times (with `ODRADEK_CODEC_DECODE=1` set, decompresses its output N
/// times instead), for an instruction count (callgrind) or a CPU time (`/usr/bin/time`) that depends
/// less on the machine's load than criterion's wall clock (`cargo xtask codecs` does that for every case, beside the Go
/// clients' codecs on the same bytes). With `ODRADEK_CODEC_INPUT=DIR` it also writes the
/// case's input to `DIR/records-SIZE.bin`:
///
/// ```sh
/// ODRADEK_CODEC_ROUNDS=50 ODRADEK_CODEC_CASE=gzip-6/100B valgrind --tool=callgrind \
///   --toggle-collect='odradek_core::compression::Compression::compress' \
///   --toggle-collect='codecs::flate2_gzip' target/release/deps/codecs-*
/// ```
fn rounds(n: usize) {
    let case = std::env::var("ODRADEK_CODEC_CASE").unwrap_or_else(|_| "gzip-6/100B".into());
    let (name, size) = case.split_once('/').expect("NAME/SIZE, e.g. gzip-6/1024B");
    let size: usize = size.trim_end_matches('B').parse().expect("size in bytes");
    let codec = Codec::parse(name);
    let input = records(size);
    if let Some(dir) = std::env::var_os("ODRADEK_CODEC_INPUT").map(std::path::PathBuf::from) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("records-{size}.bin")), &input).unwrap();
    }
    let mut out = Vec::with_capacity(input.len() + 1024);
    if std::env::var_os("ODRADEK_CODEC_DECODE").is_some() {
        // Decompress instead: the case's output, N times.
        codec.compress(&input, &mut out);
        for _ in 0..n {
            black_box(codec.decompress(black_box(&out), input.len()));
        }
        println!(
            "{} {case}: {n} x {} bytes decompressed",
            codec.library(),
            out.len()
        );
        return;
    }
    for _ in 0..n {
        out.clear();
        codec.compress(black_box(&input), &mut out);
        black_box(out.len());
    }
    println!(
        "{} {case}: {n} x {} bytes -> {} bytes",
        codec.library(),
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
