//! Robustness: every truncation of every valid body fails, random and mutated bytes never
//! panic, and huge frame prefixes are refused before allocation.

use super::*;

/// Valid encodings of every message in every version: (description, api key, version,
/// is_response, body bytes).
fn valid_bodies() -> Vec<(i16, i16, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut push = |k: i16, v: i16, resp: bool, f: &dyn Fn(&mut BytesMut)| {
        let mut b = BytesMut::new();
        f(&mut b);
        out.push((k, v, resp, b.to_vec()));
    };
    for v in 0..=3 {
        push(18, v, false, &|b| api_versions_request().encode(v, b));
        push(18, v, true, &|b| api_versions_response().encode(v, b));
    }
    for v in 0..=12 {
        for m in metadata_requests() {
            push(3, v, false, &|b| m.encode(v, b));
        }
        push(3, v, true, &|b| metadata_response().encode(v, b));
        for m in produce_requests() {
            push(0, v, false, &|b| m.encode(v, b));
        }
        push(0, v, true, &|b| produce_response().encode(v, b));
    }
    for v in 0..=6 {
        for m in txn::find_coordinator_requests() {
            push(10, v, false, &|b| m.encode(v, b));
        }
        for m in txn::find_coordinator_responses() {
            push(10, v, true, &|b| m.encode(v, b));
        }
    }
    for v in 0..=4 {
        push(25, v, false, &|b| txn::add_offsets_request().encode(v, b));
        let resp = AddOffsetsToTxnResponse {
            throttle_time_ms: 1,
            error_code: 90,
        };
        push(25, v, true, &|b| resp.encode(v, b));
    }
    for v in 0..=3 {
        push(24, v, false, &|b| {
            txn::add_partitions_request().encode(v, b)
        });
        push(24, v, true, &|b| {
            txn::add_partitions_response().encode(v, b)
        });
    }
    for v in 0..=5 {
        push(26, v, false, &|b| txn::end_txn_request().encode(v, b));
        push(26, v, true, &|b| txn::end_txn_response().encode(v, b));
        push(28, v, false, &|b| {
            txn::txn_offset_commit_request().encode(v, b)
        });
        push(28, v, true, &|b| {
            txn::txn_offset_commit_response().encode(v, b)
        });
        let init = InitProducerIdRequest {
            transactional_id: Some("txn-1".into()),
            transaction_timeout_ms: 60_000,
            producer_id: 4,
            producer_epoch: 2,
        };
        push(22, v, false, &|b| init.encode(v, b));
        let resp = InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: 0,
            producer_id: 4,
            producer_epoch: 3,
        };
        push(22, v, true, &|b| resp.encode(v, b));
    }
    out
}

fn decode_any(k: i16, v: i16, resp: bool, bytes: &[u8]) -> bool {
    let mut r = Reader::new(bytes);
    let ok = match (k, resp) {
        (18, false) => ApiVersionsRequest::decode(v, &mut r).is_ok(),
        (18, true) => ApiVersionsResponse::decode(v, &mut r).is_ok(),
        (3, false) => MetadataRequest::decode(v, &mut r).is_ok(),
        (3, true) => MetadataResponse::decode(v, &mut r).is_ok(),
        (0, false) => ProduceRequest::decode(v, &mut r).is_ok(),
        (0, true) => ProduceResponse::decode(v, &mut r).is_ok(),
        (10, false) => FindCoordinatorRequest::decode(v, &mut r).is_ok(),
        (10, true) => FindCoordinatorResponse::decode(v, &mut r).is_ok(),
        (22, false) => InitProducerIdRequest::decode(v, &mut r).is_ok(),
        (22, true) => InitProducerIdResponse::decode(v, &mut r).is_ok(),
        (24, false) => AddPartitionsToTxnRequest::decode(v, &mut r).is_ok(),
        (24, true) => AddPartitionsToTxnResponse::decode(v, &mut r).is_ok(),
        (25, false) => AddOffsetsToTxnRequest::decode(v, &mut r).is_ok(),
        (25, true) => AddOffsetsToTxnResponse::decode(v, &mut r).is_ok(),
        (26, false) => EndTxnRequest::decode(v, &mut r).is_ok(),
        (26, true) => EndTxnResponse::decode(v, &mut r).is_ok(),
        (28, false) => TxnOffsetCommitRequest::decode(v, &mut r).is_ok(),
        (28, true) => TxnOffsetCommitResponse::decode(v, &mut r).is_ok(),
        _ => unreachable!(),
    };
    ok && r.remaining() == 0
}

#[test]
fn every_truncation_of_every_body_fails() {
    for (k, v, resp, bytes) in valid_bodies() {
        assert!(decode_any(k, v, resp, &bytes), "key {k} v{v} resp {resp}");
        for n in 0..bytes.len() {
            assert!(
                !decode_any(k, v, resp, &bytes[..n]),
                "key {k} v{v} resp {resp}: prefix {n} of {} decoded",
                bytes.len()
            );
        }
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = crate::rng::Rng::new(0x0dd_2a0e);
    let bodies = valid_bodies();
    for _ in 0..8000 {
        // Pure noise.
        let len = rng.below(64) as usize;
        let noise: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let (k, v, resp, _) = &bodies[rng.below(bodies.len() as u64) as usize];
        decode_any(*k, *v, *resp, &noise);
        let _ = decode_request_header(&noise);
        let _ = decode_response::<ProduceRequest>(*v, &noise);
        // A valid body with a few bytes overwritten (often with 0xff / 0x7f: huge lengths).
        let (k, v, resp, body) = &bodies[rng.below(bodies.len() as u64) as usize];
        let mut m = body.clone();
        if !m.is_empty() {
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(m.len() as u64) as usize;
                m[i] = match rng.below(3) {
                    0 => 0xff,
                    1 => 0x7f,
                    _ => rng.next_u64() as u8,
                };
            }
        }
        decode_any(*k, *v, *resp, &m);
    }
}

#[test]
fn huge_frame_prefix_refused_before_allocation() {
    let mut d = FrameDecoder::new(100 * 1024 * 1024);
    d.push(&[0x7f, 0xff, 0xff, 0xff, 0]);
    assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
    assert_eq!(d.buffered(), 5);
}
