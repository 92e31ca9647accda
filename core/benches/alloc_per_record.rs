//! Heap allocations per record made by `ProducerCore` in steady state, counted by a counting
//! global allocator that only counts inside calls into the core (the in-bench broker's own
//! decoding and encoding are excluded; the records' `Bytes` are the caller's and shared, so
//! building them allocates nothing).
//!
//! Run: `cargo bench -p odradek-core --bench alloc_per_record`
//! (`-- [records] [--codec=none|lz4|zstd] [--size=BYTES] [--warmup=RECORDS]`; default
//! 100 000 records after a 20 000-record warm-up, every codec, 100 B and 1 KiB).
//!
//! Results (before/after this branch, allocations per record, 100 000 records):
//! 100 B none 1.29 → 0.10, lz4 1.32 → 0.13, zstd 1.30 → 0.11; 1 KiB none 3.07 → 0.80,
//! lz4 3.33 → 1.07, zstd 3.20 → 0.93. What remains is per batch and per request, not per
//! record. The full table, throughput and instruction counts are in `throughput.rs`'s docs.
#![allow(unsafe_code)]

#[path = "support/mod.rs"]
mod support;

use odradek_core::Compression;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn note(size: usize) {
    let on = COUNTING.try_with(Cell::get).unwrap_or(false);
    if on {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        let _ = BYTES.try_with(|c| c.set(c.get() + size as u64));
    }
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn scope(on: bool) {
    COUNTING.with(|c| c.set(on));
}

fn counts() -> (u64, u64) {
    (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get))
}

fn main() {
    // `[records] [--codec=none|lz4|zstd] [--size=BYTES] [--warmup=RECORDS]`; other
    // arguments (cargo bench passes `--bench`) are ignored.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")).map(str::to_owned))
    };
    let records: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let warmup: u64 = opt("warmup").and_then(|w| w.parse().ok()).unwrap_or(20_000);
    let only_codec = opt("codec");
    let only_size: Option<usize> = opt("size").and_then(|s| s.parse().ok());
    println!("records per run: {records} (after {warmup} warm-up), 4 partitions");
    for (name, compression) in [
        ("none", Compression::None),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        if only_codec.as_deref().is_some_and(|c| c != name) {
            continue;
        }
        for size in [100usize, 1024] {
            if only_size.is_some_and(|s| s != size) {
                continue;
            }
            let mut b = support::Bench::new(support::config(compression), 4, size, scope);
            for _ in 0..warmup {
                b.send_one();
            }
            b.flush();
            let (a0, by0) = counts();
            for _ in 0..records {
                b.send_one();
            }
            b.flush();
            let (a1, by1) = counts();
            assert_eq!(b.delivered, warmup + records, "every record delivered");
            let allocs = a1 - a0;
            println!(
                "{size:>5} B  {name:<4}  {:>8.4} allocations/record  {:>9.1} bytes allocated/record  ({allocs} allocations)",
                allocs as f64 / records.max(1) as f64,
                (by1 - by0) as f64 / records.max(1) as f64,
            );
        }
    }
}
