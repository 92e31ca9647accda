//! Produce responses (v0-v12) and requests (as the simulator decodes them, records included):
//! no panic, bounded allocation, a decoded value survives encode + decode unchanged, and
//! decoding into a kept response (the core reuses one) gives what a fresh decode gives even
//! when the kept one held a different answer before.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odradek_core::protocol::{self, ProduceRequest, ProduceResponse};
use odradek_fuzz::{peak_during, request_round_trip, response_round_trip};

/// The decompression limit per batch.
const LIMIT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let version = i16::from(sel & 0x7f) % 13;
    if sel & 0x80 != 0 {
        request_round_trip::<ProduceRequest>(version, rest);
        if let Ok(req) = protocol::decode_request_body::<ProduceRequest>(version, rest) {
            for p in req.topics.iter().flat_map(|t| &t.partitions) {
                let (_, peak) =
                    peak_during(|| odradek_core::record::decode_records(&p.records, LIMIT));
                assert!(peak <= odradek_fuzz::records_budget(p.records.len(), LIMIT));
            }
        }
        return;
    }
    // Two frames: the first decoded into the kept response, then the second over it.
    let split = rest.iter().position(|&b| b == 0xfe).unwrap_or(rest.len());
    let (first, second) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
    let Some(fresh) = response_round_trip::<ProduceRequest>(version, second) else {
        return;
    };
    let mut kept = ProduceResponse::default();
    if let Some(f) = response_round_trip::<ProduceRequest>(version, first) {
        kept = f;
    }
    protocol::decode_response_into::<ProduceRequest>(version, second, &mut kept)
        .expect("a frame that decodes fresh decodes into a kept response");
    assert_eq!(kept, fresh, "decode_into over an older answer differs");
});
