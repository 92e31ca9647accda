//! AddPartitionsToTxn (key 24), versions 0–3: enrols partitions in the producer's ongoing
//! transaction, at the transaction coordinator, before records are produced to them
//! (transactions v1; with transactions v2, KIP-890 part 2, Produce v12 enrols them
//! implicitly and this request is not sent).
//!
//! Only the client versions: v4+ batch several transactions and add `VerifyOnly`; the schema
//! reserves them for brokers verifying partitions with the coordinator (KIP-890 part 1), and a
//! client keeps to v3 and below. v2 lets the coordinator answer PRODUCER_FENCED; v3+ is
//! flexible. The answer has one error code per partition: a request-wide error (fenced,
//! NOT_COORDINATOR, CONCURRENT_TRANSACTIONS, ...) is repeated on every partition, and the
//! partitions that could have been added but were not because another one failed answer
//! OPERATION_NOT_ATTEMPTED.

/// One topic's partitions to enrol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopic {
    /// `Name`.
    pub name: String,
    /// `Partitions`: the partition indexes.
    pub partitions: Vec<i32>,
}

/// AddPartitionsToTxn request (v0–v3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnRequest {
    /// `V3AndBelowTransactionalId`.
    pub transactional_id: String,
    /// `V3AndBelowProducerId`.
    pub producer_id: i64,
    /// `V3AndBelowProducerEpoch`.
    pub producer_epoch: i16,
    /// `V3AndBelowTopics`.
    pub topics: Vec<AddPartitionsToTxnTopic>,
}

/// One partition's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddPartitionsToTxnPartitionResult {
    /// `PartitionIndex`.
    pub partition_index: i32,
    /// `PartitionErrorCode`.
    pub error_code: i16,
}

/// One topic's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopicResult {
    /// `Name`.
    pub name: String,
    /// `ResultsByPartition`.
    pub partitions: Vec<AddPartitionsToTxnPartitionResult>,
}

/// AddPartitionsToTxn response (v0–v3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnResponse {
    /// `ThrottleTimeMs`.
    pub throttle_time_ms: i32,
    /// `ResultsByTopicV3AndBelow`.
    pub topics: Vec<AddPartitionsToTxnTopicResult>,
}

impl AddPartitionsToTxnResponse {
    /// Every partition's answer as (topic, partition, error code), in answer order.
    pub fn errors(&self) -> impl Iterator<Item = (&str, i32, i16)> + '_ {
        self.topics.iter().flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.as_str(), p.partition_index, p.error_code))
        })
    }
}

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{api_key, Request, Response};
use bytes::{BufMut, BytesMut};

const FIRST_FLEXIBLE: i16 = 3;

fn check_version(version: i16) -> Result<(), DecodeError> {
    if (AddPartitionsToTxnRequest::MIN_VERSION..=AddPartitionsToTxnRequest::MAX_VERSION)
        .contains(&version)
    {
        Ok(())
    } else {
        Err(DecodeError::Invalid("AddPartitionsToTxn version"))
    }
}

impl Request for AddPartitionsToTxnRequest {
    const API_KEY: i16 = api_key::ADD_PARTITIONS_TO_TXN;
    const MIN_VERSION: i16 = 0;
    /// v4+ are broker-to-broker (see the module documentation).
    const MAX_VERSION: i16 = 3;
    const FIRST_FLEXIBLE: i16 = FIRST_FLEXIBLE;
    type Response = AddPartitionsToTxnResponse;

    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= FIRST_FLEXIBLE;
        buf.put_string_flex(flexible, &self.transactional_id);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_array_len_flex(flexible, self.topics.len());
        for t in &self.topics {
            buf.put_string_flex(flexible, &t.name);
            buf.put_array_len_flex(flexible, t.partitions.len());
            for p in &t.partitions {
                buf.put_i32(*p);
            }
            buf.put_tagged_fields_flex(flexible);
        }
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE;
        let transactional_id = r.string_flex(flexible)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        // A topic: name (1 or 2 bytes) + partitions length (1 or 4) + tags.
        let n = r.array_len_flex(flexible, if flexible { 3 } else { 6 })?;
        let topics = r.read_vec(n, |r| {
            let name = r.string_flex(flexible)?;
            let n = r.array_len_flex(flexible, 4)?;
            let partitions = r.read_vec(n, Reader::i32)?;
            r.tagged_fields_flex(flexible)?;
            Ok(AddPartitionsToTxnTopic { name, partitions })
        })?;
        r.tagged_fields_flex(flexible)?;
        Ok(AddPartitionsToTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            topics,
        })
    }
}

impl Response for AddPartitionsToTxnResponse {
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= FIRST_FLEXIBLE;
        buf.put_i32(self.throttle_time_ms);
        buf.put_array_len_flex(flexible, self.topics.len());
        for t in &self.topics {
            buf.put_string_flex(flexible, &t.name);
            buf.put_array_len_flex(flexible, t.partitions.len());
            for p in &t.partitions {
                buf.put_i32(p.partition_index);
                buf.put_i16(p.error_code);
                buf.put_tagged_fields_flex(flexible);
            }
            buf.put_tagged_fields_flex(flexible);
        }
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE;
        let throttle_time_ms = r.i32()?;
        let n = r.array_len_flex(flexible, if flexible { 3 } else { 6 })?;
        let topics = r.read_vec(n, |r| {
            let name = r.string_flex(flexible)?;
            let n = r.array_len_flex(flexible, if flexible { 7 } else { 6 })?;
            let partitions = r.read_vec(n, |r| {
                let partition_index = r.i32()?;
                let error_code = r.i16()?;
                r.tagged_fields_flex(flexible)?;
                Ok(AddPartitionsToTxnPartitionResult {
                    partition_index,
                    error_code,
                })
            })?;
            r.tagged_fields_flex(flexible)?;
            Ok(AddPartitionsToTxnTopicResult { name, partitions })
        })?;
        r.tagged_fields_flex(flexible)?;
        Ok(AddPartitionsToTxnResponse {
            throttle_time_ms,
            topics,
        })
    }
}
