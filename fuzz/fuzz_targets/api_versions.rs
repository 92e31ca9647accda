//! ApiVersions responses (v0-v3, with Kafka's v0 fallback) and requests: no panic, bounded
//! allocation, and a decoded value survives encode + decode unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odradek_core::protocol::{ApiVersionsRequest, ErrorCode};
use odradek_fuzz::{decode_response_bounded, request_round_trip, response_re_encodes};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let version = i16::from(sel % 4);
    if sel & 0x80 != 0 {
        return request_round_trip::<ApiVersionsRequest>(version, frame);
    }
    let Ok((header, body)) = decode_response_bounded::<ApiVersionsRequest>(version, frame) else {
        return;
    };
    // An UNSUPPORTED_VERSION answer may have been read as the v0 fallback; its encoding in
    // `version` need not read the same way, so only the other answers must round-trip.
    if body.error_code != ErrorCode::UNSUPPORTED_VERSION.0 || version == 0 {
        response_re_encodes::<ApiVersionsRequest>(version, &header, &body);
    }
});
