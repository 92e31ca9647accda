//! TxnOffsetCommit (key 28), versions 0–5: commits consumer offsets inside the producer's
//! transaction, at the consumer group's coordinator; they become visible when the
//! transaction commits.
//!
//! v2 adds the committed leader epoch; v3+ is flexible and carries the consumer's group
//! metadata (generation, member id, group instance id: KIP-447), so that the group coordinator
//! fences a zombie member. A producer given real group metadata therefore needs v3+ (brokers
//! 2.5+); below v3 it is dropped, as the Java client refuses to send it there. v4 lets the
//! coordinator answer TRANSACTION_ABORTABLE (KIP-890). v5 is v4 on the wire; with transactions
//! v2 (KIP-890 part 2) it also does what AddOffsetsToTxn did (the group joins the transaction
//! implicitly), and the schema forbids it when transactions v2 are off: a producer sends v5
//! only when the finalized `transaction.version` is 2 or more, and otherwise at most v4 after
//! an AddOffsetsToTxn.

/// One partition's offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitPartition {
    /// `PartitionIndex`.
    pub partition_index: i32,
    /// `CommittedOffset`: the next offset the consumer will read.
    pub committed_offset: i64,
    /// `CommittedLeaderEpoch` (v2+; `-1` when unknown or before v2).
    pub committed_leader_epoch: i32,
    /// `CommittedMetadata` (nullable).
    pub committed_metadata: Option<String>,
}

/// One topic's offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitTopic {
    /// `Name`.
    pub name: String,
    /// `Partitions`.
    pub partitions: Vec<TxnOffsetCommitPartition>,
}

/// TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest {
    /// `TransactionalId`.
    pub transactional_id: String,
    /// `GroupId`.
    pub group_id: String,
    /// `ProducerId`.
    pub producer_id: i64,
    /// `ProducerEpoch`.
    pub producer_epoch: i16,
    /// `GenerationId` (v3+; `-1` when unknown or before v3).
    pub generation_id: i32,
    /// `MemberId` (v3+; empty when unknown or before v3).
    pub member_id: String,
    /// `GroupInstanceId` (v3+, nullable; `None` before v3).
    pub group_instance_id: Option<String>,
    /// `Topics`.
    pub topics: Vec<TxnOffsetCommitTopic>,
}

impl TxnOffsetCommitRequest {
    /// The lowest version that carries everything in this request: 3 when it holds group
    /// metadata (a generation, member id or group instance id other than the defaults), 2 when
    /// it holds a leader epoch, 0 otherwise. Older versions would drop those fields.
    pub fn min_version(&self) -> i16 {
        if self.generation_id != -1
            || !self.member_id.is_empty()
            || self.group_instance_id.is_some()
        {
            3
        } else if self
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|p| p.committed_leader_epoch != -1)
        {
            2
        } else {
            0
        }
    }
}

/// One partition's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOffsetCommitPartitionResult {
    /// `PartitionIndex`.
    pub partition_index: i32,
    /// `ErrorCode`.
    pub error_code: i16,
}

/// One topic's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitTopicResult {
    /// `Name`.
    pub name: String,
    /// `Partitions`.
    pub partitions: Vec<TxnOffsetCommitPartitionResult>,
}

/// TxnOffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnOffsetCommitResponse {
    /// `ThrottleTimeMs`.
    pub throttle_time_ms: i32,
    /// `Topics`.
    pub topics: Vec<TxnOffsetCommitTopicResult>,
}

impl TxnOffsetCommitResponse {
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
/// First version with the committed leader epoch.
const FIRST_LEADER_EPOCH: i16 = 2;
/// First version with the group metadata (KIP-447).
const FIRST_GROUP_METADATA: i16 = 3;

fn check_version(version: i16) -> Result<(), DecodeError> {
    if (TxnOffsetCommitRequest::MIN_VERSION..=TxnOffsetCommitRequest::MAX_VERSION)
        .contains(&version)
    {
        Ok(())
    } else {
        Err(DecodeError::Invalid("TxnOffsetCommit version"))
    }
}

impl Request for TxnOffsetCommitRequest {
    const API_KEY: i16 = api_key::TXN_OFFSET_COMMIT;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FIRST_FLEXIBLE: i16 = FIRST_FLEXIBLE;
    type Response = TxnOffsetCommitResponse;

    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= FIRST_FLEXIBLE;
        buf.put_string_flex(flexible, &self.transactional_id);
        buf.put_string_flex(flexible, &self.group_id);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        if version >= FIRST_GROUP_METADATA {
            buf.put_i32(self.generation_id);
            buf.put_compact_string(&self.member_id);
            buf.put_compact_nullable_string(self.group_instance_id.as_deref());
        }
        buf.put_array_len_flex(flexible, self.topics.len());
        for t in &self.topics {
            buf.put_string_flex(flexible, &t.name);
            buf.put_array_len_flex(flexible, t.partitions.len());
            for p in &t.partitions {
                buf.put_i32(p.partition_index);
                buf.put_i64(p.committed_offset);
                if version >= FIRST_LEADER_EPOCH {
                    buf.put_i32(p.committed_leader_epoch);
                }
                buf.put_nullable_string_flex(flexible, p.committed_metadata.as_deref());
                buf.put_tagged_fields_flex(flexible);
            }
            buf.put_tagged_fields_flex(flexible);
        }
        buf.put_tagged_fields_flex(flexible);
    }

    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE;
        let transactional_id = r.string_flex(flexible)?;
        let group_id = r.string_flex(flexible)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let (generation_id, member_id, group_instance_id) = if version >= FIRST_GROUP_METADATA {
            (r.i32()?, r.compact_string()?, r.compact_nullable_string()?)
        } else {
            (-1, String::new(), None)
        };
        let n = r.array_len_flex(flexible, if flexible { 3 } else { 6 })?;
        let topics = r.read_vec(n, |r| {
            let name = r.string_flex(flexible)?;
            // index 4 + offset 8 + metadata (2, or 1 and a tag byte): 14 either way.
            let n = r.array_len_flex(flexible, 14)?;
            let partitions = r.read_vec(n, |r| {
                let partition_index = r.i32()?;
                let committed_offset = r.i64()?;
                let committed_leader_epoch = if version >= FIRST_LEADER_EPOCH {
                    r.i32()?
                } else {
                    -1
                };
                let committed_metadata = r.nullable_string_flex(flexible)?;
                r.tagged_fields_flex(flexible)?;
                Ok(TxnOffsetCommitPartition {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch,
                    committed_metadata,
                })
            })?;
            r.tagged_fields_flex(flexible)?;
            Ok(TxnOffsetCommitTopic { name, partitions })
        })?;
        r.tagged_fields_flex(flexible)?;
        Ok(TxnOffsetCommitRequest {
            transactional_id,
            group_id,
            producer_id,
            producer_epoch,
            generation_id,
            member_id,
            group_instance_id,
            topics,
        })
    }
}

impl Response for TxnOffsetCommitResponse {
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
                Ok(TxnOffsetCommitPartitionResult {
                    partition_index,
                    error_code,
                })
            })?;
            r.tagged_fields_flex(flexible)?;
            Ok(TxnOffsetCommitTopicResult { name, partitions })
        })?;
        r.tagged_fields_flex(flexible)?;
        Ok(TxnOffsetCommitResponse {
            throttle_time_ms,
            topics,
        })
    }
}
