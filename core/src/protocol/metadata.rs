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
    ///
    /// Parsed and ignored: the producer does not mute the connection for it (the Java client
    /// does), so any value, negative or huge, is harmless; the broker still enforces its
    /// quota on its side (since KIP-219 it stops reading the connection for that long).
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

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{api_key, Request, Response};
use bytes::{BufMut, BytesMut};

/// `topic_authorized_operations` / `cluster_authorized_operations` when not requested
/// (`INT32_MIN`, Kafka's "omitted" value).
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

fn check_version(version: i16) -> Result<(), DecodeError> {
    if (MetadataRequest::MIN_VERSION..=MetadataRequest::MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("Metadata version"))
    }
}

impl Request for MetadataRequest {
    const API_KEY: i16 = api_key::METADATA;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 12;
    const FIRST_FLEXIBLE: i16 = 9;
    type Response = MetadataResponse;

    /// v0 has no null array: `None` (all topics) is written as an empty array, which is how
    /// v0 asks for all topics. Topic ids (v10+) are written as the zero UUID; the
    /// `include_*_authorized_operations` flags (v8+) as false.
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= Self::FIRST_FLEXIBLE;
        let topics = self.topics.as_deref();
        if version == 0 {
            buf.put_array_len(topics.map_or(0, <[String]>::len));
        } else {
            buf.put_nullable_array_len_flex(flexible, topics.map(<[String]>::len));
        }
        for name in topics.unwrap_or_default() {
            if version >= 10 {
                buf.put_uuid(&[0; 16]);
            }
            buf.put_string_flex(flexible, name);
            buf.put_tagged_fields_flex(flexible);
        }
        if version >= 4 {
            buf.put_bool(self.allow_auto_topic_creation);
        }
        if (8..=10).contains(&version) {
            buf.put_bool(false); // include_cluster_authorized_operations
        }
        if version >= 8 {
            buf.put_bool(false); // include_topic_authorized_operations
        }
        buf.put_tagged_fields_flex(flexible);
    }

    /// v0's empty array decodes as `None` (all topics). Versions before 4 decode
    /// `allow_auto_topic_creation` as `true` (what those brokers do). A null topic name
    /// (v10+, a request by topic id, which this crate never sends) is refused.
    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= Self::FIRST_FLEXIBLE;
        // Smallest topic entry: a name (2 bytes classic, 1 compact) plus tags / uuid.
        let min = 2 + if version >= 10 { 16 } else { 0 };
        let count = if version == 0 {
            Some(r.array_len(min)?).filter(|&n| n > 0)
        } else {
            r.nullable_array_len_flex(flexible, min)?
        };
        let topics = match count {
            None => None,
            Some(n) => Some(r.read_vec(n, |r| {
                if version >= 10 {
                    r.uuid()?;
                }
                let name = r
                    .nullable_string_flex(flexible)?
                    .ok_or(DecodeError::Invalid("null topic name in Metadata request"))?;
                r.tagged_fields_flex(flexible)?;
                Ok(name)
            })?),
        };
        let allow_auto_topic_creation = if version >= 4 { r.bool()? } else { true };
        if (8..=10).contains(&version) {
            r.bool()?;
        }
        if version >= 8 {
            r.bool()?;
        }
        r.tagged_fields_flex(flexible)?;
        Ok(MetadataRequest {
            topics,
            allow_auto_topic_creation,
        })
    }
}

impl Response for MetadataResponse {
    /// Topic ids (v10+) are written as the zero UUID, authorized operations (v8+) as
    /// `INT32_MIN` (not requested).
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= MetadataRequest::FIRST_FLEXIBLE;
        if version >= 3 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_array_len_flex(flexible, self.brokers.len());
        for b in &self.brokers {
            buf.put_i32(b.node_id);
            buf.put_string_flex(flexible, &b.host);
            buf.put_i32(b.port);
            if version >= 1 {
                buf.put_nullable_string_flex(flexible, b.rack.as_deref());
            }
            buf.put_tagged_fields_flex(flexible);
        }
        if version >= 2 {
            buf.put_nullable_string_flex(flexible, self.cluster_id.as_deref());
        }
        if version >= 1 {
            buf.put_i32(self.controller_id);
        }
        buf.put_array_len_flex(flexible, self.topics.len());
        for t in &self.topics {
            buf.put_i16(t.error_code);
            buf.put_string_flex(flexible, &t.name);
            if version >= 10 {
                buf.put_uuid(&[0; 16]);
            }
            if version >= 1 {
                buf.put_bool(t.is_internal);
            }
            buf.put_array_len_flex(flexible, t.partitions.len());
            for p in &t.partitions {
                buf.put_i16(p.error_code);
                buf.put_i32(p.partition_index);
                buf.put_i32(p.leader_id);
                if version >= 7 {
                    buf.put_i32(p.leader_epoch);
                }
                put_i32_array(buf, flexible, &p.replica_nodes);
                put_i32_array(buf, flexible, &p.isr_nodes);
                if version >= 5 {
                    put_i32_array(buf, flexible, &p.offline_replicas);
                }
                buf.put_tagged_fields_flex(flexible);
            }
            if version >= 8 {
                buf.put_i32(AUTHORIZED_OPERATIONS_OMITTED);
            }
            buf.put_tagged_fields_flex(flexible);
        }
        if (8..=10).contains(&version) {
            buf.put_i32(AUTHORIZED_OPERATIONS_OMITTED);
        }
        buf.put_tagged_fields_flex(flexible);
    }

    /// Fields absent in `version` take Kafka's defaults: `throttle_time_ms` 0, `rack` and
    /// `cluster_id` null, `controller_id` -1, `is_internal` false, `leader_epoch` -1,
    /// `offline_replicas` empty. A null topic name (v12+, only for requests by topic id)
    /// decodes as the empty string.
    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= MetadataRequest::FIRST_FLEXIBLE;
        let throttle_time_ms = if version >= 3 { r.i32()? } else { 0 };
        // Smallest broker: node_id + host + port (+ rack, + tags).
        let n = r.array_len_flex(flexible, 9)?;
        let brokers = r.read_vec(n, |r| {
            let node_id = r.i32()?;
            let host = r.string_flex(flexible)?;
            let port = r.i32()?;
            let rack = if version >= 1 {
                r.nullable_string_flex(flexible)?
            } else {
                None
            };
            r.tagged_fields_flex(flexible)?;
            Ok(MetadataBroker {
                node_id,
                host,
                port,
                rack,
            })
        })?;
        let cluster_id = if version >= 2 {
            r.nullable_string_flex(flexible)?
        } else {
            None
        };
        let controller_id = if version >= 1 { r.i32()? } else { -1 };
        // Smallest topic: error_code + name + partitions length.
        let n = r.array_len_flex(flexible, 4)?;
        let topics = r.read_vec(n, |r| {
            let error_code = r.i16()?;
            let name = r.nullable_string_flex(flexible)?.unwrap_or_default();
            if version >= 10 {
                r.uuid()?;
            }
            let is_internal = if version >= 1 { r.bool()? } else { false };
            // Smallest partition: error_code, index, leader and two arrays.
            let n = r.array_len_flex(flexible, 12)?;
            let partitions = r.read_vec(n, |r| {
                let error_code = r.i16()?;
                let partition_index = r.i32()?;
                let leader_id = r.i32()?;
                let leader_epoch = if version >= 7 { r.i32()? } else { -1 };
                let replica_nodes = read_i32_array(r, flexible)?;
                let isr_nodes = read_i32_array(r, flexible)?;
                let offline_replicas = if version >= 5 {
                    read_i32_array(r, flexible)?
                } else {
                    Vec::new()
                };
                r.tagged_fields_flex(flexible)?;
                Ok(MetadataPartition {
                    error_code,
                    partition_index,
                    leader_id,
                    leader_epoch,
                    replica_nodes,
                    isr_nodes,
                    offline_replicas,
                })
            })?;
            if version >= 8 {
                r.i32()?; // topic_authorized_operations
            }
            r.tagged_fields_flex(flexible)?;
            Ok(MetadataTopic {
                error_code,
                name,
                is_internal,
                partitions,
            })
        })?;
        if (8..=10).contains(&version) {
            r.i32()?; // cluster_authorized_operations
        }
        r.tagged_fields_flex(flexible)?;
        Ok(MetadataResponse {
            throttle_time_ms,
            brokers,
            cluster_id,
            controller_id,
            topics,
        })
    }
}

fn put_i32_array(buf: &mut BytesMut, flexible: bool, v: &[i32]) {
    buf.put_array_len_flex(flexible, v.len());
    for x in v {
        buf.put_i32(*x);
    }
}

fn read_i32_array(r: &mut Reader<'_>, flexible: bool) -> Result<Vec<i32>, DecodeError> {
    let n = r.array_len_flex(flexible, 4)?;
    r.read_vec(n, Reader::i32)
}
