//! InitProducerId responses (every version this crate speaks) and requests (as the simulator
//! decodes them): no panic, bounded allocation, and a decoded value survives encode + decode
//! unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odradek_core::protocol::InitProducerIdRequest;
use odradek_fuzz::{request_round_trip, response_round_trip};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let version = i16::from(sel & 0x7f) % (5 + 1);
    if sel & 0x80 != 0 {
        request_round_trip::<InitProducerIdRequest>(version, frame);
    } else {
        response_round_trip::<InitProducerIdRequest>(version, frame);
    }
});
