//! Decoding a hostile frame reserves no more than the frame can hold: an array count is
//! bounded only by the bytes left, and an element in memory is many times larger than its
//! smallest encoding, so `read_vec` must not size its `Vec` by the count alone. Measured with
//! a counting global allocator (per thread, so tests running in parallel do not disturb it).
#![allow(unsafe_code)]

use bytes::{BufMut, BytesMut};
use odradek_core::protocol::{
    decode_response, AddPartitionsToTxnRequest, MetadataRequest, ProduceRequest, Reader,
    TxnOffsetCommitRequest,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(by: usize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + by;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn shrank(by: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(by)));
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        shrank(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The most bytes allocated at once (above what was live before) while `f` runs.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    PEAK.with(Cell::get) - base
}

/// A response frame (after the size prefix): correlation id, an array of `count` entries
/// whose first entry is malformed at once (a string length of -2), then padding so that the
/// count passes the "fits in what is left" check.
fn hostile_frame(prefix: &[u8], count: usize, min_entry: usize) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(7); // correlation id
    b.put_slice(prefix);
    b.put_i32(count as i32);
    b.put_i16(-2);
    b.put_bytes(0, count * min_entry);
    b.to_vec()
}

#[test]
fn a_huge_produce_response_topic_count_reserves_almost_nothing() {
    // Produce v3 response: topics array first. 200,000 topics of at least 2 bytes fit in
    // ~400 KB; reserving them up front would take 200,000 × size_of::<ProduceTopicResponse>.
    let frame = hostile_frame(&[], 200_000, 2);
    let peak = peak_during(|| {
        assert!(decode_response::<ProduceRequest>(3, &frame).is_err());
    });
    assert!(peak <= 16 * 1024, "decoding reserved {peak} bytes");
}

#[test]
fn a_huge_metadata_broker_count_reserves_almost_nothing() {
    // Metadata v1 response: brokers array first; the first broker's host length is -2.
    let mut frame = BytesMut::new();
    frame.put_i32(7);
    frame.put_i32(100_000);
    frame.put_i32(1); // node id
    frame.put_i16(-2); // host: invalid length
    frame.put_bytes(0, 100_000 * 9);
    let peak = peak_during(|| {
        assert!(decode_response::<MetadataRequest>(1, &frame).is_err());
    });
    assert!(peak <= 16 * 1024, "decoding reserved {peak} bytes");
}

#[test]
fn huge_transactional_answer_topic_counts_reserve_almost_nothing() {
    // AddPartitionsToTxn v2 and TxnOffsetCommit v2 responses: throttle, then the topics
    // array; 200,000 topics of at least 6 bytes fit in the padding.
    let frame = hostile_frame(&[0, 0, 0, 0], 200_000, 6);
    let peak = peak_during(|| {
        assert!(decode_response::<AddPartitionsToTxnRequest>(2, &frame).is_err());
    });
    assert!(
        peak <= 16 * 1024,
        "AddPartitionsToTxn reserved {peak} bytes"
    );
    let peak = peak_during(|| {
        assert!(decode_response::<TxnOffsetCommitRequest>(2, &frame).is_err());
    });
    assert!(peak <= 16 * 1024, "TxnOffsetCommit reserved {peak} bytes");
}

#[test]
fn read_vec_still_reads_every_element_of_a_large_honest_array() {
    let mut b = BytesMut::new();
    for i in 0..10_000i32 {
        b.put_i32(i);
    }
    let mut r = Reader::new(&b);
    let v = r.read_vec(10_000, Reader::i32).unwrap();
    assert_eq!(v.len(), 10_000);
    assert_eq!(v[9_999], 9_999);
    r.finish().unwrap();
}
