//! A scripted transaction (and group) coordinator for the pipeline harness: odradek-sim's
//! cluster does not speak the transaction APIs, so the harness hands it every ApiVersions,
//! FindCoordinator, InitProducerId-with-a-transactional-id, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit and EndTxn request the core transmits, and it answers as
//! Kafka's coordinator does (per-node: a request on a connection to another node than the
//! coordinator's is answered NOT_COORDINATOR), keeping a log of what it saw. Produce and
//! Metadata still go to the cluster; the harness logs Produce requests into the same log.

use bytes::BytesMut;
use odradek_core::protocol::{self, api_key, ErrorCode};
use odradek_core::protocol::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse,
    Coordinator, EndTxnRequest, EndTxnResponse, FinalizedFeature, FindCoordinatorRequest,
    FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use odradek_core::protocol::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
    TxnOffsetCommitPartitionResult, TxnOffsetCommitTopicResult,
};
use std::collections::{BTreeMap, VecDeque};

/// What to do with the next request of an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Answer this error code (nothing applied).
    Error(i16),
    /// Apply it, but never answer (the answer is lost).
    Swallow,
    /// Apply it, and answer these bytes after the correlation id instead (a malformed answer).
    Garbage(&'static [u8]),
}

/// The coordinator's state and log.
pub struct FakeCoordinator {
    /// Transactions v2 (finalized `transaction.version` 2), else v1.
    pub v2: bool,
    /// The node the transaction and group coordinators are on.
    pub node: i32,
    pub pid: i64,
    /// The current epoch of the transactional id (-1 before the first InitProducerId).
    pub epoch: i16,
    /// Requests seen, in order: `FindCoordinator(1)`, `InitProducerId(-1,-1)`,
    /// `AddPartitionsToTxn[t-0]`, `EndTxn(commit,e0)`, `Produce[t-0]`, ...
    pub log: Vec<String>,
    /// Scripted answers, per API key, in order.
    pub script: BTreeMap<i16, VecDeque<Act>>,
    /// Transactions ended: (committed, epoch of the request).
    pub ended: Vec<(bool, i16)>,
    /// The last EndTxn applied: (committed, request epoch), so a retry is recognised.
    last_end: Option<(bool, i16)>,
    /// The node of each connection (from the harness's Connect outputs).
    pub conn_node: BTreeMap<u64, i32>,
    /// TxnOffsetCommit requests seen: (group, generation, member, instance, offsets).
    pub offset_commits: Vec<TxnOffsetCommitRequest>,
}

impl FakeCoordinator {
    pub fn new(v2: bool) -> Self {
        FakeCoordinator {
            v2,
            node: 1,
            pid: 5000,
            epoch: -1,
            log: Vec::new(),
            script: BTreeMap::new(),
            ended: Vec::new(),
            last_end: None,
            conn_node: BTreeMap::new(),
            offset_commits: Vec::new(),
        }
    }

    /// The next request of `key` meets `act`.
    pub fn script(&mut self, key: i16, act: Act) {
        self.script.entry(key).or_default().push_back(act);
    }

    /// Log entries starting with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<String> {
        self.log
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The whole request in `data` (size prefix included): answered here (`Some(answer)`,
    /// `Some(None)` for a lost answer) or left to the cluster (`None`).
    pub fn handle(&mut self, conn: u64, data: &[u8]) -> Option<Option<Vec<u8>>> {
        let frame = data.get(4..)?;
        let (header, body) = protocol::decode_request_header(frame).ok()?;
        let (key, v, corr) = (header.api_key, header.api_version, header.correlation_id);
        if key == api_key::PRODUCE {
            self.log_produce(v, body);
            return None;
        }
        let handled = matches!(
            key,
            api_key::API_VERSIONS
                | api_key::FIND_COORDINATOR
                | api_key::ADD_PARTITIONS_TO_TXN
                | api_key::ADD_OFFSETS_TO_TXN
                | api_key::END_TXN
                | api_key::TXN_OFFSET_COMMIT
                | api_key::INIT_PRODUCER_ID
        );
        if !handled {
            return None;
        }
        let act = if key == api_key::API_VERSIONS || key == api_key::FIND_COORDINATOR {
            None
        } else {
            self.script.get_mut(&key).and_then(VecDeque::pop_front)
        };
        // A coordinator request on a connection to another node: NOT_COORDINATOR.
        let on_node = self.conn_node.get(&conn) == Some(&self.node);
        let code = match act {
            Some(Act::Error(c)) => c,
            _ if !on_node && key != api_key::API_VERSIONS && key != api_key::FIND_COORDINATOR => {
                ErrorCode::NOT_COORDINATOR.0
            }
            _ => 0,
        };
        let mut out = BytesMut::new();
        match key {
            api_key::API_VERSIONS => {
                let _ = protocol::decode_request_body::<ApiVersionsRequest>(v, body).ok()?;
                let resp = self.api_versions();
                let v = v.min(3);
                protocol::encode_response::<ApiVersionsRequest>(corr, v, &resp, &mut out);
            }
            api_key::FIND_COORDINATOR => {
                let req = protocol::decode_request_body::<FindCoordinatorRequest>(v, body).ok()?;
                self.log.push(format!("FindCoordinator({})", req.key_type));
                let resp = FindCoordinatorResponse {
                    throttle_time_ms: 0,
                    coordinators: req
                        .keys
                        .iter()
                        .map(|k| Coordinator {
                            key: Some(k.clone()),
                            node_id: self.node,
                            host: odradek_sim::broker_host(self.node),
                            port: 9092,
                            error_code: 0,
                            error_message: None,
                        })
                        .collect(),
                };
                protocol::encode_response::<FindCoordinatorRequest>(corr, v, &resp, &mut out);
            }
            api_key::INIT_PRODUCER_ID => {
                let req = protocol::decode_request_body::<InitProducerIdRequest>(v, body).ok()?;
                req.transactional_id.as_ref()?;
                self.log.push(format!(
                    "InitProducerId({},{})",
                    req.producer_id, req.producer_epoch
                ));
                let mut resp = InitProducerIdResponse {
                    throttle_time_ms: 0,
                    error_code: code,
                    producer_id: -1,
                    producer_epoch: -1,
                };
                if code == 0 {
                    if req.producer_id >= 0 && req.producer_epoch != self.epoch {
                        resp.error_code = ErrorCode::PRODUCER_FENCED.0;
                    } else {
                        // Fences every older instance; aborts an open transaction.
                        self.epoch += 1;
                        self.last_end = None;
                        resp.producer_id = self.pid;
                        resp.producer_epoch = self.epoch;
                    }
                }
                protocol::encode_response::<InitProducerIdRequest>(corr, v, &resp, &mut out);
            }
            api_key::ADD_PARTITIONS_TO_TXN => {
                let req =
                    protocol::decode_request_body::<AddPartitionsToTxnRequest>(v, body).ok()?;
                let names: Vec<String> = req
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(move |p| format!("{}-{p}", t.name)))
                    .collect();
                self.log
                    .push(format!("AddPartitionsToTxn[{}]", names.join(",")));
                let code = self.fence_code(code, req.producer_epoch);
                let resp = AddPartitionsToTxnResponse {
                    throttle_time_ms: 0,
                    topics: req
                        .topics
                        .iter()
                        .map(|t| AddPartitionsToTxnTopicResult {
                            name: t.name.clone(),
                            partitions: t
                                .partitions
                                .iter()
                                .map(|&p| AddPartitionsToTxnPartitionResult {
                                    partition_index: p,
                                    error_code: code,
                                })
                                .collect(),
                        })
                        .collect(),
                };
                protocol::encode_response::<AddPartitionsToTxnRequest>(corr, v, &resp, &mut out);
            }
            api_key::ADD_OFFSETS_TO_TXN => {
                let req = protocol::decode_request_body::<AddOffsetsToTxnRequest>(v, body).ok()?;
                self.log.push(format!("AddOffsetsToTxn({})", req.group_id));
                let resp = AddOffsetsToTxnResponse {
                    throttle_time_ms: 0,
                    error_code: self.fence_code(code, req.producer_epoch),
                };
                protocol::encode_response::<AddOffsetsToTxnRequest>(corr, v, &resp, &mut out);
            }
            api_key::TXN_OFFSET_COMMIT => {
                let req = protocol::decode_request_body::<TxnOffsetCommitRequest>(v, body).ok()?;
                self.log
                    .push(format!("TxnOffsetCommit v{v} ({})", req.group_id));
                let code = self.fence_code(code, req.producer_epoch);
                let resp = TxnOffsetCommitResponse {
                    throttle_time_ms: 0,
                    topics: req
                        .topics
                        .iter()
                        .map(|t| TxnOffsetCommitTopicResult {
                            name: t.name.clone(),
                            partitions: t
                                .partitions
                                .iter()
                                .map(|p| TxnOffsetCommitPartitionResult {
                                    partition_index: p.partition_index,
                                    error_code: code,
                                })
                                .collect(),
                        })
                        .collect(),
                };
                self.offset_commits.push(req);
                protocol::encode_response::<TxnOffsetCommitRequest>(corr, v, &resp, &mut out);
            }
            api_key::END_TXN => {
                let req = protocol::decode_request_body::<EndTxnRequest>(v, body).ok()?;
                let what = if req.committed { "commit" } else { "abort" };
                self.log
                    .push(format!("EndTxn v{v} ({what},e{})", req.producer_epoch));
                let mut resp = EndTxnResponse {
                    error_code: code,
                    ..EndTxnResponse::default()
                };
                if code == 0 {
                    let retry = self.last_end == Some((req.committed, req.producer_epoch));
                    if !retry {
                        resp.error_code = self.fence_code(0, req.producer_epoch);
                        if resp.error_code == 0 {
                            self.ended.push((req.committed, req.producer_epoch));
                            self.last_end = Some((req.committed, req.producer_epoch));
                            if self.v2 {
                                self.epoch += 1;
                            }
                        }
                    }
                    if resp.error_code == 0 && v >= 5 {
                        resp.producer_id = self.pid;
                        resp.producer_epoch = self.epoch;
                    }
                }
                protocol::encode_response::<EndTxnRequest>(corr, v, &resp, &mut out);
            }
            _ => return None,
        }
        if let Some(last) = self.log.last_mut() {
            // An error answer is marked: `AddPartitionsToTxn[t-0] !16`.
            if let Some(err) = peek_error(key, v, &out) {
                last.push_str(&format!(" !{err}"));
            }
        }
        match act {
            Some(Act::Swallow) => return Some(None),
            Some(Act::Garbage(bytes)) => {
                let mut g = ((4 + bytes.len()) as i32).to_be_bytes().to_vec();
                g.extend_from_slice(&corr.to_be_bytes());
                g.extend_from_slice(bytes);
                return Some(Some(g));
            }
            _ => {}
        }
        Some(Some(out.to_vec()))
    }

    /// `code`, or PRODUCER_FENCED when `epoch` is older than the id's.
    fn fence_code(&self, code: i16, epoch: i16) -> i16 {
        if code == 0 && epoch < self.epoch {
            ErrorCode::PRODUCER_FENCED.0
        } else {
            code
        }
    }

    fn api_versions(&self) -> ApiVersionsResponse {
        let range = |api_key, min_version, max_version| ApiVersionRange {
            api_key,
            min_version,
            max_version,
        };
        // The same version ranges either way (EndTxn v5, Produce v12): only the finalized
        // feature level decides v1 or v2, as KIP-890 says.
        let tv = if self.v2 { 2 } else { 0 };
        ApiVersionsResponse {
            api_keys: vec![
                range(api_key::PRODUCE, 3, 12),
                range(api_key::METADATA, 0, 12),
                range(api_key::FIND_COORDINATOR, 0, 6),
                range(api_key::API_VERSIONS, 0, 3),
                range(api_key::INIT_PRODUCER_ID, 0, 5),
                range(api_key::ADD_PARTITIONS_TO_TXN, 0, 5),
                range(api_key::ADD_OFFSETS_TO_TXN, 0, 4),
                range(api_key::END_TXN, 0, 5),
                range(api_key::TXN_OFFSET_COMMIT, 0, 5),
            ],
            finalized_features_epoch: 1,
            finalized_features: vec![FinalizedFeature {
                name: "transaction.version".to_owned(),
                max_version_level: tv,
                min_version_level: tv,
            }],
            ..ApiVersionsResponse::default()
        }
    }

    /// Logs a Produce request: `Produce v12 [t-0 txn e3]` per batch (transactional bit,
    /// producer epoch).
    fn log_produce(&mut self, v: i16, body: &[u8]) {
        let Ok(req) = protocol::decode_request_body::<protocol::ProduceRequest>(v, body) else {
            return;
        };
        let mut parts = Vec::new();
        for t in &req.topics {
            for p in &t.partitions {
                let r = &p.records;
                let txn_bit = r.get(22).is_some_and(|a| a & 0x10 != 0);
                let epoch = r
                    .get(51..53)
                    .map_or(-1, |e| i16::from_be_bytes([e[0], e[1]]));
                let flag = if txn_bit { "txn" } else { "plain" };
                parts.push(format!("{}-{} {flag} e{epoch}", t.name, p.index));
            }
        }
        let id = req.transactional_id.as_deref().unwrap_or("-");
        self.log
            .push(format!("Produce v{v} id={id} [{}]", parts.join(",")));
    }
}

/// The error code of the answer in `out` (a response frame), when it is not 0.
fn peek_error(key: i16, v: i16, out: &[u8]) -> Option<i16> {
    let frame = out.get(4..)?;
    let code = match key {
        api_key::INIT_PRODUCER_ID => {
            protocol::decode_response::<InitProducerIdRequest>(v, frame)
                .ok()?
                .1
                .error_code
        }
        api_key::ADD_PARTITIONS_TO_TXN => {
            let r = protocol::decode_response::<AddPartitionsToTxnRequest>(v, frame)
                .ok()?
                .1;
            let code = r.errors().map(|e| e.2).find(|&c| c != 0).unwrap_or(0);
            code
        }
        api_key::ADD_OFFSETS_TO_TXN => {
            protocol::decode_response::<AddOffsetsToTxnRequest>(v, frame)
                .ok()?
                .1
                .error_code
        }
        api_key::TXN_OFFSET_COMMIT => {
            let r = protocol::decode_response::<TxnOffsetCommitRequest>(v, frame)
                .ok()?
                .1;
            let code = r.errors().map(|e| e.2).find(|&c| c != 0).unwrap_or(0);
            code
        }
        api_key::END_TXN => {
            protocol::decode_response::<EndTxnRequest>(v, frame)
                .ok()?
                .1
                .error_code
        }
        _ => 0,
    };
    (code != 0).then_some(code)
}
