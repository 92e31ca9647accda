//! EndTxn (key 26), versions 0–5: commits or aborts the producer's transaction at the
//! transaction coordinator.
//!
//! v2 lets the coordinator answer PRODUCER_FENCED, v3+ is flexible, v4 lets it answer
//! TRANSACTION_ABORTABLE (KIP-890). v5 (KIP-890 part 2, transactions v2) bumps the producer
//! epoch at the end of every transaction: the answer carries the producer id and the new
//! epoch the producer must use for its next transaction (`-1` in older versions, where the
//! epoch stays). A producer sends v5 only when the cluster's finalized `transaction.version`
//! is 2 or more; otherwise at most v4 (as the Java client does).

/// EndTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnRequest {
    /// `TransactionalId`.
    pub transactional_id: String,
    /// `ProducerId`.
    pub producer_id: i64,
    /// `ProducerEpoch`.
    pub producer_epoch: i16,
    /// `Committed`: `true` to commit, `false` to abort.
    pub committed: bool,
}

/// EndTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnResponse {
    /// `ThrottleTimeMs`.
    pub throttle_time_ms: i32,
    /// `ErrorCode`.
    pub error_code: i16,
    /// `ProducerId` (v5+; `-1` before).
    pub producer_id: i64,
    /// `ProducerEpoch` (v5+; `-1` before): the epoch of the next transaction.
    pub producer_epoch: i16,
}

impl Default for EndTxnResponse {
    fn default() -> Self {
        EndTxnResponse {
            throttle_time_ms: 0,
            error_code: 0,
            producer_id: -1,
            producer_epoch: -1,
        }
    }
}

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{api_key, Request, Response};
use bytes::{BufMut, BytesMut};

const FIRST_FLEXIBLE: i16 = 3;
/// First version whose answer carries the producer id and bumped epoch.
const FIRST_EPOCH_BUMP: i16 = 5;

fn check_version(version: i16) -> Result<(), DecodeError> {
    if (EndTxnRequest::MIN_VERSION..=EndTxnRequest::MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("EndTxn version"))
    }
}

impl Request for EndTxnRequest {
    const API_KEY: i16 = api_key::END_TXN;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FIRST_FLEXIBLE: i16 = FIRST_FLEXIBLE;
    type Response = EndTxnResponse;

    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= FIRST_FLEXIBLE;
        buf.put_string_flex(flexible, &self.transactional_id);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_bool(self.committed);
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE;
        let transactional_id = r.string_flex(flexible)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let committed = r.bool()?;
        r.tagged_fields_flex(flexible)?;
        Ok(EndTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            committed,
        })
    }
}

impl Response for EndTxnResponse {
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code);
        if version >= FIRST_EPOCH_BUMP {
            buf.put_i64(self.producer_id);
            buf.put_i16(self.producer_epoch);
        }
        buf.put_tagged_fields_flex(version >= FIRST_FLEXIBLE);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let (producer_id, producer_epoch) = if version >= FIRST_EPOCH_BUMP {
            (r.i64()?, r.i16()?)
        } else {
            (-1, -1)
        };
        r.tagged_fields_flex(version >= FIRST_FLEXIBLE)?;
        Ok(EndTxnResponse {
            throttle_time_ms,
            error_code,
            producer_id,
            producer_epoch,
        })
    }
}
