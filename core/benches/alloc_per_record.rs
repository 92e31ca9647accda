//! Heap allocations per record made by `ProducerCore` in steady state, counted by a counting
//! global allocator that only counts inside calls into the core (the in-bench broker's own
//! decoding and encoding are excluded; the records' `Bytes` are the caller's and shared, so
//! building them allocates nothing).
//!
//! Run: `cargo bench -p odradek-core --bench alloc_per_record`
//! (optionally `-- <records>`; default 100 000 after a 20 000-record warm-up).
//!
//! Results: see the table in `throughput.rs`'s docs (kept in one place).
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
    let records: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let warmup = 20_000;
    println!("records per run: {records} (after {warmup} warm-up), 4 partitions");
    for (name, compression) in [
        ("none", Compression::None),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        for size in [100usize, 1024] {
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
                allocs as f64 / records as f64,
                (by1 - by0) as f64 / records as f64,
            );
        }
    }
}
