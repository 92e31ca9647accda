//! The transaction stage's requests: which connection each goes on (the coordinator's, or
//! any ready one for FindCoordinator, connecting first when needed) and how it is built.

use super::{Phase, Transactions, TxnAnswer, TxnCx};
use crate::output::ConnId;
use crate::producer::connection::{RequestKind, Target};
use crate::producer::txn_wire::{offset_commit_request, TxnApi};
use crate::protocol::{self, Request};
use crate::protocol::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, EndTxnRequest,
    FindCoordinatorRequest, InitProducerIdRequest,
};
use crate::time::Instant;
use crate::transaction::TransactionError;

impl Transactions {
    /// Builds and transmits `api`'s request on the right connection (asking for one first
    /// when there is none).
    pub(super) fn send(&mut self, api: TxnApi, cx: &mut TxnCx<'_>, now: Instant) -> TxnAnswer {
        let node = match api {
            TxnApi::FindTxnCoordinator | TxnApi::FindGroupCoordinator => None,
            TxnApi::OffsetCommit => self.group_coordinator,
            _ => self.coordinator,
        };
        let (conn, versions) = match node {
            None => match cx
                .conns
                .ready_for(|v| v.txn.find_coordinator.map(|_| v.clone()))
            {
                Some(found) => found,
                None => return TxnAnswer::Done,
            },
            Some(node) => {
                let target = Target::Node(node);
                match cx.conns.by_target.get(&target).copied() {
                    Some(conn) => match cx.conns.conns.get(&conn).and_then(|c| c.versions()) {
                        Some(v) => (conn, v.clone()),
                        None => return TxnAnswer::Done,
                    },
                    None => {
                        let connecting = cx.conns.may_connect(target, now)
                            && cx
                                .conns
                                .connect(target, cx.brokers, &mut cx.io, now)
                                .is_some();
                        if !connecting {
                            // Either the brokers of the last metadata answer do not include
                            // the coordinator's, or the last connection to it failed (lost,
                            // or refused: its broker may be dead while the metadata still
                            // names it). Ask again who coordinates, as Java does when the
                            // coordinator is not ready; it answers the same node if it has
                            // not moved, dialled again once its reconnect backoff ends.
                            self.forget_coordinator(api);
                            self.backoff(cx, now); // no input may come: wake to try again
                        }
                        return TxnAnswer::Done;
                    }
                }
            }
        };
        let t = versions.txn;
        let pid = cx.idem.producer_id;
        let epoch = cx.idem.epoch;
        let id = self.id.clone();
        let unsupported = |what| TransactionError::Unsupported(what);
        let sent = match api {
            TxnApi::FindTxnCoordinator | TxnApi::FindGroupCoordinator => {
                let (key_type, key) = if api == TxnApi::FindTxnCoordinator {
                    (protocol::find_coordinator::key_type::TRANSACTION, id)
                } else {
                    let group = self.offsets.as_ref().map(|o| o.group.group_id.clone());
                    (
                        protocol::find_coordinator::key_type::GROUP,
                        group.unwrap_or_default(),
                    )
                };
                let body = FindCoordinatorRequest {
                    key_type,
                    keys: vec![key],
                };
                self.transmit(conn, t.find_coordinator, api, &body, cx, now)
            }
            TxnApi::InitProducerId => {
                let Some(v) = versions.init_producer_id else {
                    return self.fatal(unsupported("no InitProducerId at the coordinator"), cx);
                };
                let bump = self.phase == Phase::Aborting && v >= 3;
                if self.phase == Phase::Init {
                    self.v2 = t.v2;
                }
                let body = InitProducerIdRequest {
                    transactional_id: Some(id),
                    transaction_timeout_ms: self.timeout_ms,
                    producer_id: if bump { pid } else { -1 },
                    producer_epoch: if bump { epoch } else { -1 },
                };
                self.transmit(conn, Some(v), api, &body, cx, now)
            }
            TxnApi::AddPartitions => {
                let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
                for &at in &self.to_enroll {
                    let name = cx.topics[at.topic].name.as_str();
                    match topics.last_mut().filter(|t| t.name == name) {
                        Some(t) => t.partitions.push(at.number()),
                        None => topics.push(AddPartitionsToTxnTopic {
                            name: name.to_owned(),
                            partitions: vec![at.number()],
                        }),
                    }
                }
                let body = AddPartitionsToTxnRequest {
                    transactional_id: id,
                    producer_id: pid,
                    producer_epoch: epoch,
                    topics,
                };
                let sent = self.transmit(conn, t.add_partitions, api, &body, cx, now);
                if matches!(sent, Ok(true)) {
                    self.enrolling = std::mem::take(&mut self.to_enroll);
                }
                sent
            }
            TxnApi::AddOffsets => {
                let group_id = self.offsets.as_ref().map(|o| o.group.group_id.clone());
                let body = AddOffsetsToTxnRequest {
                    transactional_id: id,
                    producer_id: pid,
                    producer_epoch: epoch,
                    group_id: group_id.unwrap_or_default(),
                };
                self.transmit(conn, t.add_offsets, api, &body, cx, now)
            }
            TxnApi::OffsetCommit => {
                let Some(o) = &self.offsets else {
                    return TxnAnswer::Done;
                };
                let body = offset_commit_request(id, pid, epoch, o);
                let version = t.offset_commit.filter(|&v| v >= body.min_version());
                if version.is_none() {
                    let e =
                        unsupported("TxnOffsetCommit with group metadata needs v3+ (Kafka 2.5+)");
                    self.abortable(e, cx.io.out);
                    return TxnAnswer::Done;
                }
                if self.v2 {
                    self.started = true;
                }
                self.transmit(conn, version, api, &body, cx, now)
            }
            TxnApi::EndTxn => {
                let body = EndTxnRequest {
                    transactional_id: id,
                    producer_id: pid,
                    producer_epoch: epoch,
                    committed: self.phase == Phase::Committing,
                };
                self.transmit(conn, t.end_txn, api, &body, cx, now)
            }
        };
        match sent {
            Ok(_) => TxnAnswer::Done,
            Err(e) => self.fatal(e, cx),
        }
    }

    /// Transmits `body` as `api` in `version` (`Err` when the broker does not speak it).
    pub(super) fn transmit<R: Request>(
        &mut self,
        conn: ConnId,
        version: Option<i16>,
        api: TxnApi,
        body: &R,
        cx: &mut TxnCx<'_>,
        now: Instant,
    ) -> Result<bool, TransactionError> {
        let Some(version) = version else {
            return Err(TransactionError::Unsupported(match api {
                TxnApi::FindTxnCoordinator | TxnApi::FindGroupCoordinator => {
                    "no FindCoordinator v1+ (key types)"
                }
                TxnApi::AddPartitions => "the coordinator does not speak AddPartitionsToTxn",
                TxnApi::AddOffsets => "the coordinator does not speak AddOffsetsToTxn",
                TxnApi::OffsetCommit => "the group coordinator does not speak TxnOffsetCommit",
                _ => "the coordinator does not speak EndTxn",
            }));
        };
        let kind = RequestKind::Txn { api, version };
        let sent = cx
            .conns
            .transmit(conn, version, body, Some(kind), &mut cx.io, now);
        if let Some(rref) = sent {
            self.in_flight = Some((rref, api));
        }
        Ok(sent.is_some())
    }

    /// Forgets the coordinator `api` goes to (the group's for TxnOffsetCommit), so that
    /// FindCoordinator is sent again.
    pub(super) fn forget_coordinator(&mut self, api: TxnApi) {
        if matches!(api, TxnApi::OffsetCommit | TxnApi::FindGroupCoordinator) {
            self.group_coordinator = None;
        } else {
            self.coordinator = None;
        }
    }
}
