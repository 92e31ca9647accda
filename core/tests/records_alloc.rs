//! Appending to a `BatchBuilder` with enough capacity allocates nothing: each record is
//! encoded straight into the batch buffer. Counted with a counting global allocator (per
//! thread, so other tests running in parallel do not disturb the count).
#![allow(unsafe_code)]

use odradek_core::record::{BatchBuilder, RecordFormat};
use odradek_core::{Compression, Header};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn append_allocates_nothing_once_the_buffer_has_room() {
    let headers = [Header::new("trace-id", "0123456789abcdef")];
    let value = [7u8; 200];
    for format in [RecordFormat::V0, RecordFormat::V1, RecordFormat::V2] {
        let hs: &[Header] = if format == RecordFormat::V2 {
            &headers
        } else {
            &[]
        };
        let mut b = BatchBuilder::with_capacity(format, 1 << 20);
        let before = allocations();
        for i in 0..1_000i64 {
            let key = i.to_be_bytes();
            b.append(1_700_000_000_000 + i, Some(&key), Some(&value), hs)
                .unwrap();
        }
        let during = allocations() - before;
        assert_eq!(
            during, 0,
            "{format:?}: {during} allocations for 1000 appends"
        );
        assert_eq!(b.len(), 1_000);
        // Uncompressed v2 / legacy finishing does not copy the records either.
        let size = b.size();
        let before = allocations();
        let bytes = b.finish(Compression::None, None).unwrap();
        assert_eq!(bytes.len(), size);
        assert!(
            allocations() - before <= 1,
            "finish allocated more than a handle"
        );
    }
}
