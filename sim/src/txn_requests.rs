//! The transactional requests as the coordinators answer them (FindCoordinator,
//! InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn); the rules are listed in [`crate::txn_coordinator`].

use crate::cluster::Cluster;
use crate::config::{broker_host, BROKER_PORT};
use crate::txn_coordinator::{fenced_code, txn_api_max, TxnEntry, TxnState};
use bytes::BytesMut;
use odradek_core::protocol::{
    self, api_key, AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, Coordinator, EndTxnRequest, EndTxnResponse, ErrorCode,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    Request, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use odradek_core::ConnId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

impl Cluster {
    /// Answers a transactional request (FindCoordinator, AddPartitionsToTxn,
    /// AddOffsetsToTxn, TxnOffsetCommit, EndTxn) arriving at `broker`; `false` when `key` is
    /// none of them or transactions are off.
    pub(crate) fn handle_txn_frame(
        &mut self,
        conn: ConnId,
        broker: i32,
        (key, v, corr): (i16, i16, i32),
        body: &[u8],
    ) -> bool {
        if self.txn.is_none() {
            return false;
        }
        let mut out = BytesMut::new();
        match key {
            api_key::FIND_COORDINATOR => {
                let Some(req) = self.decode_txn::<FindCoordinatorRequest>(conn, v, body) else {
                    return true;
                };
                let resp = self.find_coordinator(&req);
                self.note(|| format!("broker {broker}: FindCoordinator v{v} {req:?} -> {resp:?}"));
                protocol::encode_response::<FindCoordinatorRequest>(corr, v, &resp, &mut out);
            }
            api_key::ADD_PARTITIONS_TO_TXN => {
                let Some(req) = self.decode_txn::<AddPartitionsToTxnRequest>(conn, v, body) else {
                    return true;
                };
                let resp = self.add_partitions_to_txn(broker, v, &req);
                self.note(|| format!("broker {broker}: AddPartitionsToTxn v{v} -> {resp:?}"));
                protocol::encode_response::<AddPartitionsToTxnRequest>(corr, v, &resp, &mut out);
            }
            api_key::ADD_OFFSETS_TO_TXN => {
                let Some(req) = self.decode_txn::<AddOffsetsToTxnRequest>(conn, v, body) else {
                    return true;
                };
                let code = self.add_offsets_to_txn(broker, v, &req);
                self.note(|| format!("broker {broker}: AddOffsetsToTxn v{v} -> {code}"));
                let resp = AddOffsetsToTxnResponse {
                    throttle_time_ms: 0,
                    error_code: code.0,
                };
                protocol::encode_response::<AddOffsetsToTxnRequest>(corr, v, &resp, &mut out);
            }
            api_key::TXN_OFFSET_COMMIT => {
                let Some(req) = self.decode_txn::<TxnOffsetCommitRequest>(conn, v, body) else {
                    return true;
                };
                let resp = self.txn_offset_commit(conn, broker, v, &req);
                self.note(|| format!("broker {broker}: TxnOffsetCommit v{v} -> {resp:?}"));
                protocol::encode_response::<TxnOffsetCommitRequest>(corr, v, &resp, &mut out);
            }
            api_key::END_TXN => {
                let Some(req) = self.decode_txn::<EndTxnRequest>(conn, v, body) else {
                    return true;
                };
                let resp = self.end_txn(conn, broker, v, &req);
                self.note(|| {
                    format!(
                        "broker {broker}: EndTxn v{v} {} ({} epoch {}) -> {} {} {}",
                        if req.committed { "commit" } else { "abort" },
                        req.producer_id,
                        req.producer_epoch,
                        ErrorCode(resp.error_code).name(),
                        resp.producer_id,
                        resp.producer_epoch
                    )
                });
                protocol::encode_response::<EndTxnRequest>(corr, v, &resp, &mut out);
                if self.script.lose_end_txn_answers > 0 || self.txn_fault_loses_answer() {
                    self.script.lose_end_txn_answers =
                        self.script.lose_end_txn_answers.saturating_sub(1);
                    self.note(|| {
                        format!("script: EndTxn answer corr {corr} lost, {conn:?} dropped")
                    });
                    self.kill(conn);
                    return true;
                }
            }
            _ => return false,
        }
        self.send_response(conn, out.freeze(), Vec::new());
        true
    }

    /// Decodes a transactional request in an advertised version; a violation (and the
    /// connection closed) otherwise.
    fn decode_txn<R: Request>(&mut self, conn: ConnId, v: i16, body: &[u8]) -> Option<R> {
        let max = txn_api_max(R::API_KEY);
        let decoded = if (0..=max).contains(&v) {
            protocol::decode_request_body::<R>(v, body).map_err(|e| e.to_string())
        } else {
            Err(format!("outside the advertised 0..={max}"))
        };
        match decoded {
            Ok(r) => Some(r),
            Err(e) => {
                self.violation(format!(
                    "{conn:?}: bad request (api {}) v{v}: {e}",
                    R::API_KEY
                ));
                self.kill(conn);
                None
            }
        }
    }

    fn find_coordinator(&mut self, req: &FindCoordinatorRequest) -> FindCoordinatorResponse {
        let keys: Vec<String> = if req.keys.is_empty() {
            vec![String::new()]
        } else {
            req.keys.clone()
        };
        let group = req.key_type == protocol::find_coordinator::key_type::GROUP;
        let known = group || req.key_type == protocol::find_coordinator::key_type::TRANSACTION;
        let coordinators = keys
            .into_iter()
            .map(|key| {
                let node = if known && !key.is_empty() {
                    self.coordinator_of(group, &key)
                } else {
                    None
                };
                let code = match node {
                    _ if !known => ErrorCode::INVALID_REQUEST,
                    _ if key.is_empty() => ErrorCode::INVALID_REQUEST,
                    None => ErrorCode::COORDINATOR_NOT_AVAILABLE,
                    Some(_) => ErrorCode::NONE,
                };
                let (host, port) = match node {
                    Some(n) => self
                        .script
                        .advertised(n)
                        .unwrap_or_else(|| (broker_host(n), BROKER_PORT)),
                    None => (String::new(), 0),
                };
                Coordinator {
                    key: Some(key),
                    node_id: node.unwrap_or(-1),
                    host,
                    port: if node.is_some() { i32::from(port) } else { -1 },
                    error_code: code.0,
                    error_message: None,
                }
            })
            .collect();
        FindCoordinatorResponse {
            throttle_time_ms: 0,
            coordinators,
        }
    }

    /// InitProducerId with a transactional id, at `broker`.
    pub(crate) fn init_transactional_producer_id(
        &mut self,
        broker: i32,
        v: i16,
        req: &InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        let mut resp = InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: 0,
            producer_id: -1,
            producer_epoch: -1,
        };
        let id = req.transactional_id.clone().unwrap_or_default();
        let code = self.coordinator_check(false, &id, broker);
        if !code.is_ok() {
            resp.error_code = code.0;
            return resp;
        }
        let max = self.coordinators().config.max_timeout;
        let timeout = Duration::from_millis(u64::try_from(req.transaction_timeout_ms).unwrap_or(0));
        if timeout.is_zero() || timeout > max {
            resp.error_code = ErrorCode::INVALID_TRANSACTION_TIMEOUT.0;
            return resp;
        }
        if !self.coordinators().entries.contains_key(&id) {
            let pid = self.next_producer_id;
            self.next_producer_id += 1;
            self.stats.producer_ids += 1;
            let c = self.coordinators();
            c.snapshot.transactional_pids.insert(pid);
            c.entries.insert(
                id,
                TxnEntry {
                    producer_id: pid,
                    epoch: 0,
                    last_epoch: -1,
                    timeout,
                    state: TxnState::Empty,
                    current: None,
                    pending_offsets: BTreeMap::new(),
                    pending_markers: BTreeSet::new(),
                    marker_epoch: -1,
                    marker_pid: -1,
                },
            );
            resp.producer_id = pid;
            resp.producer_epoch = 0;
            return resp;
        }
        let e = self.coordinators().entries.get_mut(&id).expect("present");
        e.timeout = timeout;
        let (pid, epoch, last_epoch, state) = (e.producer_id, e.epoch, e.last_epoch, e.state);
        if req.producer_id >= 0
            && (req.producer_id != pid
                || (req.producer_epoch != epoch && req.producer_epoch != last_epoch))
        {
            resp.error_code = fenced_code(api_key::INIT_PRODUCER_ID, v).0;
            return resp;
        }
        match state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                resp.error_code = ErrorCode::CONCURRENT_TRANSACTIONS.0;
            }
            TxnState::Ongoing => {
                // Fence the ongoing transaction: abort it under a bumped epoch; the producer
                // retries once the markers are written.
                self.bump_epoch(&id);
                self.begin_end(&id, false, true);
                if let Some(t) = self.current_txn_mut(&id) {
                    t.fenced = true;
                }
                resp.error_code = ErrorCode::CONCURRENT_TRANSACTIONS.0;
            }
            // Kafka's prepareIncrementProducerEpoch: the last epoch (a bump whose answer was
            // lost) gets the current one again, unbumped; a bump from the current epoch keeps
            // it as the last; a new producer (no epoch given) clears it.
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                if req.producer_id >= 0 && req.producer_epoch != epoch =>
            {
                resp.producer_id = pid;
                resp.producer_epoch = epoch;
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let (pid, epoch) = self.bump_epoch(&id);
                if req.producer_id < 0 {
                    let e = self.coordinators().entries.get_mut(&id).expect("present");
                    e.last_epoch = -1;
                }
                resp.producer_id = pid;
                resp.producer_epoch = epoch;
            }
        }
        resp
    }

    /// Checks a request's producer id and epoch against `id`'s: NONE, or the error.
    fn check_producer(&mut self, api: i16, v: i16, id: &str, pid: i64, epoch: i16) -> ErrorCode {
        let Some(e) = self.coordinators().entries.get(id) else {
            return ErrorCode::INVALID_PRODUCER_ID_MAPPING;
        };
        if e.producer_id != pid {
            ErrorCode::INVALID_PRODUCER_ID_MAPPING
        } else if e.epoch != epoch {
            fenced_code(api, v)
        } else if matches!(e.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            ErrorCode::CONCURRENT_TRANSACTIONS
        } else {
            ErrorCode::NONE
        }
    }

    fn add_partitions_to_txn(
        &mut self,
        broker: i32,
        v: i16,
        req: &AddPartitionsToTxnRequest,
    ) -> AddPartitionsToTxnResponse {
        let id = &req.transactional_id;
        let mut code = self.coordinator_check(false, id, broker);
        if code.is_ok() {
            code = self.check_producer(
                api_key::ADD_PARTITIONS_TO_TXN,
                v,
                id,
                req.producer_id,
                req.producer_epoch,
            );
        }
        let unknown: BTreeSet<(String, i32)> = req
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.name.clone(), *p)))
            .filter(|(t, p)| self.leader(t, *p).is_none())
            .collect();
        let per_partition = |t: &str, p: i32| {
            if !code.is_ok() {
                code
            } else if unknown.is_empty() {
                ErrorCode::NONE
            } else if unknown.contains(&(t.to_owned(), p)) {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                ErrorCode::OPERATION_NOT_ATTEMPTED
            }
        };
        let resp = AddPartitionsToTxnResponse {
            throttle_time_ms: 0,
            topics: req
                .topics
                .iter()
                .map(
                    |t| protocol::add_partitions_to_txn::AddPartitionsToTxnTopicResult {
                        name: t.name.clone(),
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| {
                                protocol::add_partitions_to_txn::AddPartitionsToTxnPartitionResult {
                                    partition_index: *p,
                                    error_code: per_partition(&t.name, *p).0,
                                }
                            })
                            .collect(),
                    },
                )
                .collect(),
        };
        if code.is_ok() && unknown.is_empty() {
            for t in &req.topics {
                for p in &t.partitions {
                    self.enrol_partition(id, &t.name, *p);
                }
            }
        }
        resp
    }

    fn add_offsets_to_txn(
        &mut self,
        broker: i32,
        v: i16,
        req: &AddOffsetsToTxnRequest,
    ) -> ErrorCode {
        let id = &req.transactional_id;
        let mut code = self.coordinator_check(false, id, broker);
        if code.is_ok() {
            code = self.check_producer(
                api_key::ADD_OFFSETS_TO_TXN,
                v,
                id,
                req.producer_id,
                req.producer_epoch,
            );
        }
        if code.is_ok() {
            self.ensure_ongoing(id);
            if let Some(t) = self.current_txn_mut(id) {
                t.groups.insert(req.group_id.clone());
            }
        }
        code
    }

    fn txn_offset_commit(
        &mut self,
        conn: ConnId,
        broker: i32,
        v: i16,
        req: &TxnOffsetCommitRequest,
    ) -> TxnOffsetCommitResponse {
        let v2 = self.coordinators().config.is_v2();
        let mut code = self.coordinator_check(true, &req.group_id, broker);
        if v >= 5 && !v2 {
            self.violation(format!(
                "{conn:?}: TxnOffsetCommit v{v} while transaction.version is below 2"
            ));
            code = ErrorCode::UNSUPPORTED_VERSION;
        }
        let id = &req.transactional_id;
        if code.is_ok() {
            code = self.check_producer(
                api_key::TXN_OFFSET_COMMIT,
                v,
                id,
                req.producer_id,
                req.producer_epoch,
            );
        }
        if code.is_ok() {
            if v >= 5 {
                self.ensure_ongoing(id);
                if let Some(t) = self.current_txn_mut(id) {
                    t.groups.insert(req.group_id.clone());
                }
            } else {
                let added = self
                    .coordinators()
                    .entries
                    .get(id)
                    .filter(|e| e.state == TxnState::Ongoing)
                    .and_then(|e| e.current)
                    .is_some_and(|i| {
                        self.txn.as_ref().expect("on").snapshot.transactions[i]
                            .groups
                            .contains(&req.group_id)
                    });
                if !added {
                    code = ErrorCode::INVALID_TXN_STATE;
                }
            }
        }
        if code.is_ok() {
            let e = self.coordinators().entries.get_mut(id).expect("present");
            for t in &req.topics {
                for p in &t.partitions {
                    e.pending_offsets.insert(
                        (req.group_id.clone(), t.name.clone(), p.partition_index),
                        p.committed_offset,
                    );
                }
            }
        }
        TxnOffsetCommitResponse {
            throttle_time_ms: 0,
            topics: req
                .topics
                .iter()
                .map(
                    |t| protocol::txn_offset_commit::TxnOffsetCommitTopicResult {
                        name: t.name.clone(),
                        partitions: t
                            .partitions
                            .iter()
                            .map(
                                |p| protocol::txn_offset_commit::TxnOffsetCommitPartitionResult {
                                    partition_index: p.partition_index,
                                    error_code: code.0,
                                },
                            )
                            .collect(),
                    },
                )
                .collect(),
        }
    }

    fn end_txn(
        &mut self,
        conn: ConnId,
        broker: i32,
        v: i16,
        req: &EndTxnRequest,
    ) -> EndTxnResponse {
        let mut resp = EndTxnResponse::default();
        let v2 = self.coordinators().config.is_v2();
        let bumps = v >= 5;
        if bumps && !v2 {
            self.violation(format!(
                "{conn:?}: EndTxn v{v} while transaction.version is below 2"
            ));
            resp.error_code = ErrorCode::UNSUPPORTED_VERSION.0;
            return resp;
        }
        let id = req.transactional_id.clone();
        let code = self.coordinator_check(false, &id, broker);
        if !code.is_ok() {
            resp.error_code = code.0;
            return resp;
        }
        let Some(e) = self.coordinators().entries.get(&id).cloned() else {
            resp.error_code = ErrorCode::INVALID_PRODUCER_ID_MAPPING.0;
            return resp;
        };
        if e.producer_id != req.producer_id {
            resp.error_code = ErrorCode::INVALID_PRODUCER_ID_MAPPING.0;
            return resp;
        }
        // KIP-890: a v5 retry carries the epoch before the bump its first attempt made.
        let retry = bumps && e.last_epoch >= 0 && req.producer_epoch == e.last_epoch;
        if !retry && req.producer_epoch != e.epoch {
            resp.error_code = fenced_code(api_key::END_TXN, v).0;
            return resp;
        }
        let commit = req.committed;
        let code = match (e.state, commit) {
            (TxnState::Ongoing, _) if retry => fenced_code(api_key::END_TXN, v),
            (TxnState::Ongoing, _) => {
                if bumps {
                    self.bump_epoch(&id);
                }
                self.begin_end(&id, commit, false);
                ErrorCode::NONE
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                ErrorCode::CONCURRENT_TRANSACTIONS
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false)
                if retry || !bumps =>
            {
                ErrorCode::NONE
            }
            (TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort, false)
                if bumps && !retry =>
            {
                // An abort with nothing in the transaction: the epoch is bumped all the same.
                self.bump_epoch(&id);
                let c = self.coordinators();
                c.entries.get_mut(&id).expect("present").state = TxnState::CompleteAbort;
                ErrorCode::NONE
            }
            _ => ErrorCode::INVALID_TXN_STATE,
        };
        resp.error_code = code.0;
        if bumps && code.is_ok() {
            let e = &self.coordinators().entries[&id];
            resp.producer_id = e.producer_id;
            resp.producer_epoch = e.epoch;
        }
        resp
    }
}
