//! Metadata (key 3), versions 0–12.

/// Metadata request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataRequest {
    /// Topics to describe; `None` means all topics (v1+; v0 uses an empty list for all).
    pub topics: Option<Vec<String>>,
    /// `allow_auto_topic_creation` (v4+).
    pub allow_auto_topic_creation: bool,
}

/// A broker in a metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    /// `node_id`.
    pub node_id: i32,
    /// `host`.
    pub host: String,
    /// `port`.
    pub port: i32,
    /// `rack` (v1+).
    pub rack: Option<String>,
}

/// A partition in a metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPartition {
    /// `error_code`.
    pub error_code: i16,
    /// `partition_index`.
    pub partition_index: i32,
    /// `leader_id` (-1 when there is none).
    pub leader_id: i32,
    /// `leader_epoch` (v7+; -1 otherwise).
    pub leader_epoch: i32,
    /// `replica_nodes`.
    pub replica_nodes: Vec<i32>,
    /// `isr_nodes`.
    pub isr_nodes: Vec<i32>,
    /// `offline_replicas` (v5+).
    pub offline_replicas: Vec<i32>,
}

/// A topic in a metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    /// `error_code`.
    pub error_code: i16,
    /// `name`.
    pub name: String,
    /// `is_internal` (v1+).
    pub is_internal: bool,
    /// `partitions`.
    pub partitions: Vec<MetadataPartition>,
}

/// Metadata response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataResponse {
    /// `throttle_time_ms` (v3+).
    pub throttle_time_ms: i32,
    /// `brokers`.
    pub brokers: Vec<MetadataBroker>,
    /// `cluster_id` (v2+).
    pub cluster_id: Option<String>,
    /// `controller_id` (v1+; -1 otherwise).
    pub controller_id: i32,
    /// `topics`.
    pub topics: Vec<MetadataTopic>,
}
