//! Produce (key 0), versions 0–12. Versions 0–2 carry a legacy MessageSet, 3+ a RecordBatch v2.

use bytes::Bytes;

/// One partition's records in a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartitionData {
    /// `index`.
    pub index: i32,
    /// `records`: an encoded record batch (v3+) or message set (v0–v2), sent as is.
    pub records: Bytes,
}

/// One topic's data in a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceTopicData {
    /// `name`.
    pub name: String,
    /// `partition_data`.
    pub partitions: Vec<ProducePartitionData>,
}

/// Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    /// `transactional_id` (v3+).
    pub transactional_id: Option<String>,
    /// `acks`: 0, 1 or -1.
    pub acks: i16,
    /// `timeout_ms`.
    pub timeout_ms: i32,
    /// `topic_data`.
    pub topics: Vec<ProduceTopicData>,
}

/// One partition's outcome in a Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartitionResponse {
    /// `index`.
    pub index: i32,
    /// `error_code`.
    pub error_code: i16,
    /// `base_offset`.
    pub base_offset: i64,
    /// `log_append_time_ms` (v2+; -1 when the topic uses CreateTime).
    pub log_append_time_ms: i64,
    /// `log_start_offset` (v5+).
    pub log_start_offset: i64,
    /// `error_message` (v8+).
    pub error_message: Option<String>,
}

/// One topic's outcomes in a Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceTopicResponse {
    /// `name`.
    pub name: String,
    /// `partition_responses`.
    pub partitions: Vec<ProducePartitionResponse>,
}

/// Produce response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceResponse {
    /// `responses`.
    pub topics: Vec<ProduceTopicResponse>,
    /// `throttle_time_ms` (v1+).
    pub throttle_time_ms: i32,
}
