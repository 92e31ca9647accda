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

/// One record a broker named as the reason it refused a batch (KIP-467, Produce v8+
/// `RecordErrors`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordError {
    /// `batch_index`: the record's position in the batch (0 for its first record).
    pub batch_index: i32,
    /// `batch_index_error_message`: why this record was refused.
    pub message: Option<String>,
}

/// A partition's current leader as the broker that refused a batch knows it (KIP-951,
/// Produce v10+ tagged field `CurrentLeader`). `-1` in either field means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// `leader_id`.
    pub leader_id: i32,
    /// `leader_epoch`.
    pub leader_epoch: i32,
}

/// A broker's address in a Produce response (KIP-951, Produce v10+ tagged field
/// `NodeEndpoints`): where to reach a leader named by a [`LeaderIdAndEpoch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEndpoint {
    /// `node_id`.
    pub node_id: i32,
    /// `host`.
    pub host: String,
    /// `port`.
    pub port: i32,
    /// `rack`.
    pub rack: Option<String>,
}

/// One partition's outcome in a Produce response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
    /// `record_errors` (v8+): the records that made the broker refuse the batch.
    pub record_errors: Vec<RecordError>,
    /// `error_message` (v8+).
    pub error_message: Option<String>,
    /// `current_leader` (v10+, tag 0): sent with NOT_LEADER_OR_FOLLOWER and
    /// FENCED_LEADER_EPOCH; `None` when absent.
    pub current_leader: Option<LeaderIdAndEpoch>,
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
    ///
    /// Parsed and ignored: the producer does not mute the connection for it (the Java client
    /// does), so any value, negative or huge, is harmless; the broker still enforces its
    /// quota on its side (since KIP-219 it stops reading the connection for that long).
    pub throttle_time_ms: i32,
    /// `node_endpoints` (v10+, tag 0): addresses of the leaders named in
    /// [`ProducePartitionResponse::current_leader`].
    pub node_endpoints: Vec<NodeEndpoint>,
}

use super::primitives::{DecodeError, Reader, WireWrite};
use super::{api_key, Request, Response};
use bytes::{BufMut, BytesMut};

/// The first Produce version whose answers carry leader hints (KIP-951).
pub const HINTS_VERSION: i16 = 10;

fn check_version(version: i16) -> Result<(), DecodeError> {
    if (ProduceRequest::MIN_VERSION..=ProduceRequest::MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("Produce version"))
    }
}

/// Reads a topic array of a Produce request or response: per topic its name, its partitions
/// (each read by `partition`, at least `min_partition` bytes on the wire) and its tagged
/// fields.
fn read_topics<'a, P>(
    r: &mut Reader<'a>,
    flexible: bool,
    min_partition: usize,
    mut partition: impl FnMut(&mut Reader<'a>) -> Result<P, DecodeError>,
) -> Result<Vec<(String, Vec<P>)>, DecodeError> {
    // Smallest topic: name + partitions length.
    let n = r.array_len_flex(flexible, 2)?;
    r.read_vec(n, |r| {
        let name = r.string_flex(flexible)?;
        let n = r.array_len_flex(flexible, min_partition)?;
        let partitions = r.read_vec(n, &mut partition)?;
        r.tagged_fields_flex(flexible)?;
        Ok((name, partitions))
    })
}

impl Request for ProduceRequest {
    const API_KEY: i16 = api_key::PRODUCE;
    const MIN_VERSION: i16 = 0;
    /// 12: version 13 names topics by id (KIP-516), which this crate does not model.
    const MAX_VERSION: i16 = 12;
    const FIRST_FLEXIBLE: i16 = 9;
    type Response = ProduceResponse;

    /// `records` is written as non-null bytes, as is.
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= Self::FIRST_FLEXIBLE;
        if version >= 3 {
            buf.put_nullable_string_flex(flexible, self.transactional_id.as_deref());
        }
        buf.put_i16(self.acks);
        buf.put_i32(self.timeout_ms);
        buf.put_array_len_flex(flexible, self.topics.len());
        for t in &self.topics {
            buf.put_string_flex(flexible, &t.name);
            buf.put_array_len_flex(flexible, t.partitions.len());
            for p in &t.partitions {
                buf.put_i32(p.index);
                buf.put_nullable_bytes_flex(flexible, Some(&p.records));
                buf.put_tagged_fields_flex(flexible);
            }
            buf.put_tagged_fields_flex(flexible);
        }
        buf.put_tagged_fields_flex(flexible);
    }

    /// Null `records` decode as empty bytes; `transactional_id` is `None` before v3. With a
    /// reader built by [`Reader::from_bytes`] the records are zero-copy slices of the frame.
    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        check_version(version)?;
        let flexible = version >= Self::FIRST_FLEXIBLE;
        let transactional_id = if version >= 3 {
            r.nullable_string_flex(flexible)?
        } else {
            None
        };
        let acks = r.i16()?;
        let timeout_ms = r.i32()?;
        // Smallest partition: index + records length.
        let topics = read_topics(r, flexible, 5, |r| {
            let index = r.i32()?;
            let records = r.nullable_bytes_flex(flexible)?.unwrap_or_default();
            r.tagged_fields_flex(flexible)?;
            Ok(ProducePartitionData { index, records })
        })?
        .into_iter()
        .map(|(name, partitions)| ProduceTopicData { name, partitions })
        .collect();
        r.tagged_fields_flex(flexible)?;
        Ok(ProduceRequest {
            transactional_id,
            acks,
            timeout_ms,
            topics,
        })
    }
}

impl Response for ProduceResponse {
    /// Tagged fields (v10+ `current_leader`, `node_endpoints`) are written when present.
    fn encode(&self, version: i16, buf: &mut BytesMut) {
        let flexible = version >= ProduceRequest::FIRST_FLEXIBLE;
        buf.put_array_len_flex(flexible, self.topics.len());
        for t in &self.topics {
            buf.put_string_flex(flexible, &t.name);
            buf.put_array_len_flex(flexible, t.partitions.len());
            for p in &t.partitions {
                buf.put_i32(p.index);
                buf.put_i16(p.error_code);
                buf.put_i64(p.base_offset);
                if version >= 2 {
                    buf.put_i64(p.log_append_time_ms);
                }
                if version >= 5 {
                    buf.put_i64(p.log_start_offset);
                }
                if version >= 8 {
                    buf.put_array_len_flex(flexible, p.record_errors.len());
                    for e in &p.record_errors {
                        buf.put_i32(e.batch_index);
                        buf.put_nullable_string_flex(flexible, e.message.as_deref());
                        buf.put_tagged_fields_flex(flexible);
                    }
                    buf.put_nullable_string_flex(flexible, p.error_message.as_deref());
                }
                match p.current_leader {
                    Some(l) if version >= HINTS_VERSION => {
                        buf.put_uvarint(1);
                        buf.put_uvarint(0); // tag
                        buf.put_uvarint(9); // leader id + epoch + empty tags
                        buf.put_i32(l.leader_id);
                        buf.put_i32(l.leader_epoch);
                        buf.put_empty_tagged_fields();
                    }
                    _ => buf.put_tagged_fields_flex(flexible),
                }
            }
            buf.put_tagged_fields_flex(flexible);
        }
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        if version >= HINTS_VERSION && !self.node_endpoints.is_empty() {
            let mut field = BytesMut::new();
            field.put_array_len_flex(true, self.node_endpoints.len());
            for n in &self.node_endpoints {
                field.put_i32(n.node_id);
                field.put_string_flex(true, &n.host);
                field.put_i32(n.port);
                field.put_nullable_string_flex(true, n.rack.as_deref());
                field.put_empty_tagged_fields();
            }
            buf.put_uvarint(1);
            buf.put_uvarint(0); // tag
            buf.put_uvarint(u32::try_from(field.len()).unwrap_or(u32::MAX));
            buf.put_slice(&field);
        } else {
            buf.put_tagged_fields_flex(flexible);
        }
    }

    /// Fields absent in `version` take Kafka's defaults: `log_append_time_ms` and
    /// `log_start_offset` -1, `error_message` null, `throttle_time_ms` 0, `record_errors`,
    /// `current_leader` and `node_endpoints` empty. From v10 the tagged fields
    /// `current_leader` and `node_endpoints` (tag 0 at their levels) are read; other tags are
    /// skipped. Every list is bounded by the bytes left in the frame.
    fn decode(version: i16, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = ProduceResponse::default();
        out.decode_into(version, r)?;
        Ok(out)
    }

    /// As [`decode`](Self::decode), reusing the topic list, each topic's name and partition
    /// list: a producer decoding its Produce answers into one kept value allocates nothing
    /// once these have grown (an `error_message` is still a new string).
    fn decode_into(&mut self, version: i16, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        check_version(version)?;
        let flexible = version >= ProduceRequest::FIRST_FLEXIBLE;
        // Smallest topic: name + partitions length.
        let n = r.array_len_flex(flexible, 2)?;
        self.topics.truncate(n);
        for i in 0..n {
            let name = r.str_flex(flexible)?;
            if i == self.topics.len() {
                self.topics.push(ProduceTopicResponse {
                    name: String::new(),
                    partitions: Vec::new(),
                });
            }
            let t = &mut self.topics[i];
            t.name.clear();
            t.name.push_str(name);
            t.partitions.clear();
            // Smallest partition: index + error_code + base_offset.
            let m = r.array_len_flex(flexible, 14)?;
            for _ in 0..m {
                t.partitions
                    .push(read_partition_response(version, flexible, r)?);
            }
            r.tagged_fields_flex(flexible)?;
        }
        self.throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        self.node_endpoints.clear();
        if version >= HINTS_VERSION {
            let endpoints = &mut self.node_endpoints;
            r.tagged_fields(|tag, f| {
                if tag == 0 {
                    // Smallest endpoint: id + host length + port + rack length + tags.
                    let n = f.array_len_flex(true, 8)?;
                    *endpoints = f.read_vec(n, |f| {
                        let node_id = f.i32()?;
                        let host = f.string_flex(true)?;
                        let port = f.i32()?;
                        let rack = f.nullable_string_flex(true)?;
                        f.skip_tagged_fields()?;
                        Ok(NodeEndpoint {
                            node_id,
                            host,
                            port,
                            rack,
                        })
                    })?;
                }
                Ok(())
            })?;
        } else {
            r.tagged_fields_flex(flexible)?;
        }
        Ok(())
    }
}

/// One partition of a Produce response in `version`.
fn read_partition_response(
    version: i16,
    flexible: bool,
    r: &mut Reader<'_>,
) -> Result<ProducePartitionResponse, DecodeError> {
    let index = r.i32()?;
    let error_code = r.i16()?;
    let base_offset = r.i64()?;
    let log_append_time_ms = if version >= 2 { r.i64()? } else { -1 };
    let log_start_offset = if version >= 5 { r.i64()? } else { -1 };
    let (record_errors, error_message) = if version >= 8 {
        // record_errors: batch_index + nullable message (+ tags): at least 5 bytes each.
        let n = r.array_len_flex(flexible, 5)?;
        let errors = r.read_vec(n, |r| {
            let batch_index = r.i32()?;
            let message = r.nullable_string_flex(flexible)?;
            r.tagged_fields_flex(flexible)?;
            Ok(RecordError {
                batch_index,
                message,
            })
        })?;
        (errors, r.nullable_string_flex(flexible)?)
    } else {
        (Vec::new(), None)
    };
    let mut current_leader = None;
    if version >= HINTS_VERSION {
        r.tagged_fields(|tag, f| {
            if tag == 0 {
                let leader_id = f.i32()?;
                let leader_epoch = f.i32()?;
                f.skip_tagged_fields()?;
                current_leader = Some(LeaderIdAndEpoch {
                    leader_id,
                    leader_epoch,
                });
            }
            Ok(())
        })?;
    } else {
        r.tagged_fields_flex(flexible)?;
    }
    Ok(ProducePartitionResponse {
        index,
        error_code,
        base_offset,
        log_append_time_ms,
        log_start_offset,
        record_errors,
        error_message,
        current_leader,
    })
}
