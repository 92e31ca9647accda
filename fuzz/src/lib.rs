//! Shared pieces of odradek's fuzz targets: a counting allocator to bound what decoding
//! hostile bytes may allocate, round-trip helpers for the protocol messages, and the fuzzed
//! broker that drives the whole `ProducerCore` ([`broker`]).

#![allow(unsafe_code)]

pub mod broker;

use bytes::BytesMut;
use odradek_core::protocol::{self, Request, Response};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts live heap bytes (per thread) and the peak since [`peak_during`] started.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(by: usize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get().saturating_add(by);
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
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
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

/// Heap bytes live on this thread now (Rust allocations only).
pub fn live_bytes() -> usize {
    LIVE.with(Cell::get)
}

/// The most bytes allocated at once, above what was live before, while `f` runs; and its
/// result.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = live_bytes();
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get).saturating_sub(base))
}

/// How much a decoder may hold at its peak for `input` bytes: each element in memory is a few
/// times its smallest encoding, a `Vec` may double once more, and `read_vec` preallocates at
/// most 64 KiB; 48 bytes per input byte plus 256 KiB is far above an honest decode and far
/// below a count-driven reservation.
pub fn decode_budget(input: usize) -> usize {
    input.saturating_mul(48).saturating_add(256 * 1024)
}

/// How much decoding `input` bytes of record batches may hold with `limit` bytes of
/// decompression per batch: every batch (a legacy message takes 26 bytes at least) may expand
/// to `limit`, [`decompress_budget`] each, plus the records' lists.
pub fn records_budget(input: usize, limit: usize) -> usize {
    (input / 26 + 1)
        .saturating_mul(decompress_budget(0, limit))
        .saturating_add(decode_budget(input))
}

/// How much decompressing `input` bytes with an output limit of `limit` may hold at its peak:
/// the output (a growing buffer may reach twice its length before it is refused), a codec's
/// window or block buffers (at most about the limit again), and a fixed 256 KiB for the
/// codec's own state.
pub fn decompress_budget(input: usize, limit: usize) -> usize {
    limit
        .saturating_mul(3)
        .saturating_add(input.saturating_mul(4))
        .saturating_add(256 * 1024)
}

/// Decodes `frame` as a response of `R` in `version`, without panicking (the harness turns a
/// panic into a crash) and within [`decode_budget`]; when it decodes, re-encodes the body and
/// checks that decoding that gives the same value. Returns the decoded body.
pub fn response_round_trip<R: Request>(version: i16, frame: &[u8]) -> Option<R::Response>
where
    R::Response: PartialEq + std::fmt::Debug,
{
    let (header, body) = decode_response_bounded::<R>(version, frame).ok()?;
    response_re_encodes::<R>(version, &header, &body);
    Some(body)
}

/// [`protocol::decode_response`], asserting it stays within [`decode_budget`].
pub fn decode_response_bounded<R: Request>(
    version: i16,
    frame: &[u8],
) -> Result<(protocol::ResponseHeader, R::Response), protocol::DecodeError> {
    let (decoded, peak) = peak_during(|| protocol::decode_response::<R>(version, frame));
    assert!(
        peak <= decode_budget(frame.len()),
        "decoding {} bytes held {peak} bytes at once",
        frame.len()
    );
    decoded
}

/// Encodes `header` and `body` in `version` and checks that they decode to the same values,
/// with [`protocol::decode_response`] and with [`Response::decode_into`] over a kept value.
pub fn response_re_encodes<R: Request>(
    version: i16,
    header: &protocol::ResponseHeader,
    body: &R::Response,
) where
    R::Response: PartialEq + std::fmt::Debug,
{
    let header = header.clone();
    let mut buf = BytesMut::new();
    protocol::encode_response::<R>(header.correlation_id, version, body, &mut buf);
    let (h2, again) = protocol::decode_response::<R>(version, &buf[4..]).unwrap_or_else(|e| {
        panic!("v{version}: our own encoding of {body:?} does not decode: {e}")
    });
    assert_eq!(h2, header, "v{version}: header changed in a round trip");
    assert_eq!(&again, body, "v{version}: body changed in a round trip");
    // decode_into over a kept value agrees with a fresh decode.
    let mut kept = again;
    let mut r = protocol::Reader::new(&buf[4..]);
    let _ = protocol::ResponseHeader::decode(
        protocol::response_header_has_tags(R::API_KEY, version),
        &mut r,
    );
    kept.decode_into(version, &mut r)
        .expect("a body that decoded decodes into a kept value");
    assert_eq!(&kept, body, "v{version}: decode_into differs from decode");
}

/// Decodes `body` as a request of `R` in `version` (what the simulator does with the core's
/// requests) within [`decode_budget`]; when it decodes, re-encodes it and checks that decoding
/// that gives the same value.
pub fn request_round_trip<R: Request + PartialEq + std::fmt::Debug>(version: i16, body: &[u8]) {
    let (decoded, peak) = peak_during(|| protocol::decode_request_body::<R>(version, body));
    assert!(
        peak <= decode_budget(body.len()),
        "decoding {} bytes held {peak} bytes at once",
        body.len()
    );
    let Ok(req) = decoded else { return };
    let mut buf = BytesMut::new();
    req.encode(version, &mut buf);
    let again = protocol::decode_request_body::<R>(version, &buf)
        .unwrap_or_else(|e| panic!("v{version}: our own encoding of {req:?} does not decode: {e}"));
    assert_eq!(again, req, "v{version}: request changed in a round trip");
}

/// Splits a fuzz input into a version selector (its first byte, modulo `versions`) and the rest.
pub fn version_and_rest(data: &[u8], min: i16, max: i16) -> Option<(i16, &[u8])> {
    let (&first, rest) = data.split_first()?;
    let span = (max - min + 1) as u8;
    Some((min + i16::from(first % span), rest))
}
