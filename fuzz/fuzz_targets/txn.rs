//! The transactional producer's messages: FindCoordinator (v0-v6), AddPartitionsToTxn (v0-v3),
//! AddOffsetsToTxn (v0-v4), EndTxn (v0-v5) and TxnOffsetCommit (v0-v5) responses, and their
//! requests (as the simulator decodes them): no panic, bounded allocation, and a decoded value
//! survives encode + decode unchanged.
//!
//! The first byte picks the message (bits 4-6), the version (bits 0-3, modulo the message's
//! version count) and request or response (bit 7); the rest is the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odradek_core::protocol::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
    Request, TxnOffsetCommitRequest,
};
use odradek_fuzz::{request_round_trip, response_round_trip};

fn one<R>(sel: u8, frame: &[u8])
where
    R: Request + Clone + PartialEq + std::fmt::Debug,
    R::Response: PartialEq + std::fmt::Debug,
{
    let versions = R::MAX_VERSION - R::MIN_VERSION + 1;
    let version = R::MIN_VERSION + i16::from(sel & 0x0f) % versions;
    if sel & 0x80 != 0 {
        request_round_trip::<R>(version, frame);
    } else {
        response_round_trip::<R>(version, frame);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    match (sel >> 4) & 0x07 {
        0 | 5 => one::<FindCoordinatorRequest>(sel, frame),
        1 | 6 => one::<AddPartitionsToTxnRequest>(sel, frame),
        2 | 7 => one::<AddOffsetsToTxnRequest>(sel, frame),
        3 => one::<EndTxnRequest>(sel, frame),
        _ => one::<TxnOffsetCommitRequest>(sel, frame),
    }
});
