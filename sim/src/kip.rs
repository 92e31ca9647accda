//! The brokers' answers from newer Kafka: leader hints (KIP-951: `CurrentLeader` on a
//! NOT_LEADER_OR_FOLLOWER partition, `NodeEndpoints` for the leaders named, Produce v10+) and
//! per-record errors (KIP-467: INVALID_RECORD naming the records that made a broker refuse a
//! batch, Produce v8+).
//!
//! Which records a broker refuses is decided by their content ([`poisoned`]), never by
//! chance per attempt, so every broker refuses the same records on every attempt (as Kafka's
//! validation does) and the checker can tell a refusal the producer was right to report
//! ([`ProduceError::RecordRejected`](odradek_core::ProduceError::RecordRejected)) from one it
//! made up.

use crate::client_log::record_key;
use crate::cluster::Cluster;
use crate::config::{broker_host, BROKER_PORT};
use crate::script::ScriptedFault;
use odradek_core::protocol::{
    ErrorCode, LeaderIdAndEpoch, NodeEndpoint, ProducePartitionResponse, ProduceResponse,
    RecordError,
};
use odradek_core::record::DecodedBatch;
use std::hash::{Hash, Hasher};

/// The first Produce version with `RecordErrors`.
const RECORD_ERRORS_VERSION: i16 = 8;

/// Whether the brokers refuse the record of `topic` with `key` and `value` when `ppm` records
/// in a million are refused (the same answer for the same content, always).
pub fn poisoned(ppm: u64, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> bool {
    ppm > 0 && (record_key(topic, key, value) % 1_000_000) < ppm
}

/// A rate as records in a million.
pub fn ppm(rate: f64) -> u64 {
    (rate.clamp(0.0, 1.0) * 1_000_000.0) as u64
}

/// The message a broker gives for a refused record at `index`.
pub fn rejection_message(index: i32) -> String {
    format!("record {index} refused by the simulated broker")
}

impl Cluster {
    /// Leaves broker `node` out of every Metadata answer (or lists it again): it is still
    /// reachable, so a producer can only find it through a leader hint's `NodeEndpoints`.
    pub fn hide_from_metadata(&mut self, node: i32, hidden: bool) {
        if hidden {
            self.script.hidden.insert(node);
        } else {
            self.script.hidden.remove(&node);
        }
    }

    /// Whether Metadata answers list broker `node`.
    pub(crate) fn listed(&self, node: i32) -> bool {
        !self.script.hidden.contains(&node)
    }

    /// The answer to a scripted [`ScriptedFault::NotLeader`] or
    /// [`ScriptedFault::RejectRecords`] for partition `index` in Produce `v`, if `scripted`
    /// is one.
    pub(crate) fn scripted_kip_answer(
        scripted: Option<&ScriptedFault>,
        index: i32,
        v: i16,
    ) -> Option<ProducePartitionResponse> {
        let mut p = ProducePartitionResponse {
            index,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            ..Default::default()
        };
        match scripted? {
            ScriptedFault::NotLeader { leader, epoch } => {
                p.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.0;
                p.current_leader = Some(LeaderIdAndEpoch {
                    leader_id: *leader,
                    leader_epoch: *epoch,
                });
            }
            ScriptedFault::RejectRecords(indices) => {
                p.error_code = ErrorCode::INVALID_RECORD.0;
                if v >= RECORD_ERRORS_VERSION {
                    p.error_message = Some("batch refused".to_owned());
                    p.record_errors = indices
                        .iter()
                        .map(|&i| RecordError {
                            batch_index: i,
                            message: Some(rejection_message(i)),
                        })
                        .collect();
                }
            }
            _ => return None,
        }
        Some(p)
    }

    /// The records of `decoded` (one partition's batch in Produce `v` with `acks`) that the
    /// brokers refuse ([`poisoned`] with the run's `invalid_record_rate`), as `RecordErrors`;
    /// empty when none is, or the version cannot say which (before v8), or nobody would hear
    /// (acks=0).
    pub(crate) fn record_errors(
        &self,
        topic: &str,
        decoded: &[DecodedBatch],
        v: i16,
        acks: i16,
    ) -> Vec<RecordError> {
        let rate = ppm(self.config.faults.invalid_record_rate);
        if rate == 0 || v < RECORD_ERRORS_VERSION || acks == 0 {
            return Vec::new();
        }
        decoded
            .iter()
            .flat_map(|b| b.records.iter())
            .enumerate()
            .filter(|(_, r)| poisoned(rate, topic, r.key.as_deref(), r.value.as_deref()))
            .map(|(i, _)| RecordError {
                batch_index: i as i32,
                message: Some(rejection_message(i as i32)),
            })
            .collect()
    }

    /// Whether the brokers give leader hints for `topic`/`partition` in this run: for a share
    /// `leader_hint_rate` of the partitions, drawn from a hash of the seed and the partition
    /// (so the cluster's other draws are unchanged). A partition either always gets them
    /// (when the leader is known and up) or never, as a cluster of Kafka 3.7+ brokers or of
    /// older ones would.
    pub(crate) fn hints_for(&self, topic: &str, partition: i32) -> bool {
        let rate = self.config.faults.leader_hint_rate;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.config.seed, topic, partition).hash(&mut h);
        rate >= 1.0 || (rate > 0.0 && (h.finish() % 1_000_000) < ppm(rate))
    }

    /// Adds to `p` (answered NOT_LEADER_OR_FOLLOWER by `broker` in Produce `v`) the
    /// partition's current leader and epoch when [`hints_for`](Self::hints_for) says so and
    /// the leader is up.
    pub(crate) fn add_leader_hint(
        &mut self,
        topic: &str,
        p: &mut ProducePartitionResponse,
        (broker, v): (i32, i16),
    ) {
        if v < odradek_core::protocol::produce::HINTS_VERSION
            || p.error_code != ErrorCode::NOT_LEADER_OR_FOLLOWER.0
            || !self.hints_for(topic, p.index)
        {
            return;
        }
        let Some(part) = usize::try_from(p.index)
            .ok()
            .and_then(|i| self.topics.get(topic)?.get(i))
        else {
            return;
        };
        let (leader, epoch) = (part.leader, part.epoch);
        if leader == broker || !self.is_up(leader) {
            return;
        }
        p.current_leader = Some(LeaderIdAndEpoch {
            leader_id: leader,
            leader_epoch: epoch,
        });
        self.stats.leader_hints += 1;
    }

    /// Fills `resp.node_endpoints` with the address of every leader its partitions name.
    pub(crate) fn add_node_endpoints(&self, resp: &mut ProduceResponse) {
        let mut nodes: Vec<i32> = resp
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.current_leader.map(|l| l.leader_id))
            .filter(|n| *n >= 1 && *n <= self.up.len() as i32)
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        resp.node_endpoints = nodes
            .into_iter()
            .map(|n| {
                let (host, port) = self
                    .script
                    .advertised(n)
                    .unwrap_or_else(|| (broker_host(n), BROKER_PORT));
                NodeEndpoint {
                    node_id: n,
                    host,
                    port: i32::from(port),
                    rack: None,
                }
            })
            .collect();
    }
}
