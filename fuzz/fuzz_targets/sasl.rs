//! SaslHandshake (v0-v1) and SaslAuthenticate (v0-v2) responses and requests: no panic,
//! bounded allocation, and a decoded value survives encode + decode unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odradek_core::protocol::{SaslAuthenticateRequest, SaslHandshakeRequest};
use odradek_fuzz::{request_round_trip, response_round_trip};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let request = sel & 0x80 != 0;
    if sel & 0x40 != 0 {
        let version = i16::from(sel % 2);
        if request {
            request_round_trip::<SaslHandshakeRequest>(version, frame);
        } else {
            response_round_trip::<SaslHandshakeRequest>(version, frame);
        }
    } else {
        let version = i16::from(sel % 3);
        if request {
            request_round_trip::<SaslAuthenticateRequest>(version, frame);
        } else {
            response_round_trip::<SaslAuthenticateRequest>(version, frame);
        }
    }
});
