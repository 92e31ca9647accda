//! AddOffsetsToTxn (key 25), versions 0–4: tells the transaction coordinator that the
//! transaction will commit offsets of a consumer group, before TxnOffsetCommit goes to that
//! group's coordinator (transactions v1; with transactions v2, TxnOffsetCommit v5 does both and
//! this request is not sent).
//!
//! v2 lets the coordinator answer PRODUCER_FENCED, v3+ is flexible, v4 lets it answer
//! TRANSACTION_ABORTABLE (KIP-890).

/// AddOffsetsToTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsetsToTxnRequest {
    /// `TransactionalId`.
    pub transactional_id: String,
    /// `ProducerId`.
    pub producer_id: i64,
    /// `ProducerEpoch`.
    pub producer_epoch: i16,
    /// `GroupId`: the consumer group whose offsets the transaction will commit.
    pub group_id: String,
}

/// AddOffsetsToTxn response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddOffsetsToTxnResponse {
    /// `ThrottleTimeMs`.
    pub throttle_time_ms: i32,
    /// `ErrorCode`.
    pub error_code: i16,
}

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{api_key, Request, Response};
use bytes::{BufMut, BytesMut};

const FIRST_FLEXIBLE: i16 = 3;

fn check_version(version: i16) -> Result<(), DecodeError> {
    if (AddOffsetsToTxnRequest::MIN_VERSION..=AddOffsetsToTxnRequest::MAX_VERSION)
        .contains(&version)
    {
        Ok(())
    } else {
        Err(DecodeError::Invalid("AddOffsetsToTxn version"))
    }
}

impl Request for AddOffsetsToTxnRequest {
    const API_KEY: i16 = api_key::ADD_OFFSETS_TO_TXN;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;
    const FIRST_FLEXIBLE: i16 = FIRST_FLEXIBLE;
    type Response = AddOffsetsToTxnResponse;

    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= FIRST_FLEXIBLE;
        buf.put_string_flex(flexible, &self.transactional_id);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_string_flex(flexible, &self.group_id);
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE;
        let transactional_id = r.string_flex(flexible)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let group_id = r.string_flex(flexible)?;
        r.tagged_fields_flex(flexible)?;
        Ok(AddOffsetsToTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            group_id,
        })
    }
}

impl Response for AddOffsetsToTxnResponse {
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code);
        buf.put_tagged_fields_flex(version >= FIRST_FLEXIBLE);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        r.tagged_fields_flex(version >= FIRST_FLEXIBLE)?;
        Ok(AddOffsetsToTxnResponse {
            throttle_time_ms,
            error_code,
        })
    }
}
