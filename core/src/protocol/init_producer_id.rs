//! InitProducerId (key 22), versions 0–5: the producer's id and epoch.
//!
//! A producer without a transactional id sends it to any broker; the broker answers with a
//! fresh producer id and epoch 0. A transactional producer sends it, with its transactional id
//! and transaction timeout, to its transaction coordinator, which fences older instances by
//! bumping the id's epoch. From v3 the producer may send the id and epoch it holds, asking for
//! that id's epoch to be bumped (KIP-360: after UNKNOWN_PRODUCER_ID or an out-of-order
//! sequence the producer keeps its id and resets its sequences under a new epoch). v4 lets the
//! broker answer PRODUCER_FENCED, v5 TRANSACTION_ABORTABLE (KIP-890); v5 is v4 on the wire.
//! v2+ is flexible.
//!
//! Not spoken: v6 (KIP-939, two-phase commit), which adds `Enable2Pc` and `KeepPreparedTxn`
//! to the request and `OngoingTxnProducerId` / `OngoingTxnProducerEpoch` to the answer; they
//! matter only to a producer taking part in an external two-phase commit.

/// InitProducerId request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// The transactional id; `None` for an idempotent (non-transactional) producer.
    pub transactional_id: Option<String>,
    /// Transaction timeout in ms (only meaningful with a transactional id).
    pub transaction_timeout_ms: i32,
    /// The producer id held, to bump its epoch (v3+); `-1` for a new one.
    pub producer_id: i64,
    /// The epoch held (v3+); `-1` for a new producer id.
    pub producer_epoch: i16,
}

impl Default for InitProducerIdRequest {
    fn default() -> Self {
        InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id: -1,
            producer_epoch: -1,
        }
    }
}

/// InitProducerId response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// `throttle_time_ms`.
    pub throttle_time_ms: i32,
    /// Error code (0 when the id was granted).
    pub error_code: i16,
    /// The producer id granted.
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i16,
}

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{api_key, Request, Response};
use bytes::{BufMut, BytesMut};

const FIRST_FLEXIBLE: i16 = 2;

fn check_version(version: i16) -> Result<(), DecodeError> {
    if (InitProducerIdRequest::MIN_VERSION..=InitProducerIdRequest::MAX_VERSION).contains(&version)
    {
        Ok(())
    } else {
        Err(DecodeError::Invalid("InitProducerId version"))
    }
}

impl Request for InitProducerIdRequest {
    const API_KEY: i16 = api_key::INIT_PRODUCER_ID;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FIRST_FLEXIBLE: i16 = FIRST_FLEXIBLE;
    type Response = InitProducerIdResponse;

    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= FIRST_FLEXIBLE;
        buf.put_nullable_string_flex(flexible, self.transactional_id.as_deref());
        buf.put_i32(self.transaction_timeout_ms);
        if version >= 3 {
            buf.put_i64(self.producer_id);
            buf.put_i16(self.producer_epoch);
        }
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE;
        let transactional_id = r.nullable_string_flex(flexible)?;
        let transaction_timeout_ms = r.i32()?;
        let (producer_id, producer_epoch) = if version >= 3 {
            (r.i64()?, r.i16()?)
        } else {
            (-1, -1)
        };
        r.tagged_fields_flex(flexible)?;
        Ok(InitProducerIdRequest {
            transactional_id,
            transaction_timeout_ms,
            producer_id,
            producer_epoch,
        })
    }
}

impl Response for InitProducerIdResponse {
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= FIRST_FLEXIBLE;
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE;
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        r.tagged_fields_flex(flexible)?;
        Ok(InitProducerIdResponse {
            throttle_time_ms,
            error_code,
            producer_id,
            producer_epoch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode_request_body, decode_request_header, decode_response};
    use crate::protocol::{encode_request, encode_response, RequestHeader};

    fn header(version: i16) -> RequestHeader {
        RequestHeader {
            api_key: api_key::INIT_PRODUCER_ID,
            api_version: version,
            correlation_id: 7,
            client_id: Some("c".into()),
        }
    }

    #[test]
    fn request_round_trips_in_every_version_and_drops_v3_fields_below_v3() {
        let req = InitProducerIdRequest {
            producer_id: 42,
            producer_epoch: 3,
            ..Default::default()
        };
        for v in 0..=5 {
            let mut buf = BytesMut::new();
            encode_request(&header(v), &req, &mut buf);
            let (h, body) = decode_request_header(&buf[4..]).expect("header");
            assert_eq!((h.api_key, h.api_version), (api_key::INIT_PRODUCER_ID, v));
            let back: InitProducerIdRequest = decode_request_body(v, body).expect("body");
            let want = if v >= 3 {
                req.clone()
            } else {
                InitProducerIdRequest::default()
            };
            assert_eq!(back, want, "v{v}");
        }
    }

    #[test]
    fn response_round_trips_and_refuses_truncation() {
        let resp = InitProducerIdResponse {
            throttle_time_ms: 5,
            error_code: 0,
            producer_id: 1000,
            producer_epoch: 2,
        };
        for v in 0..=5 {
            let mut buf = BytesMut::new();
            encode_response::<InitProducerIdRequest>(9, v, &resp, &mut buf);
            let (h, back) = decode_response::<InitProducerIdRequest>(v, &buf[4..]).expect("ok");
            assert_eq!((h.correlation_id, back.clone()), (9, resp.clone()), "v{v}");
            for cut in 4..buf.len() - 1 {
                assert!(
                    decode_response::<InitProducerIdRequest>(v, &buf[4..cut]).is_err(),
                    "v{v} cut at {cut} must not decode"
                );
            }
        }
        assert!(decode_response::<InitProducerIdRequest>(6, &[0; 32]).is_err());
    }
}
