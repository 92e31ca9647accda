//! The transaction stage's wire side ([`super::txn`]): the versions agreed per broker, the
//! answers decoded into what the stage needs, the TxnOffsetCommit request built.

use super::txn::Offsets;
use crate::output::BrokerAddress;
use crate::protocol::{self, api_key, ApiVersionsResponse, ErrorCode, Request};
use crate::protocol::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, TxnOffsetCommitPartition, TxnOffsetCommitRequest, TxnOffsetCommitTopic,
};

/// Which transaction request a [`RequestKind::Txn`](super::connection::RequestKind::Txn) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnApi {
    FindTxnCoordinator,
    FindGroupCoordinator,
    InitProducerId,
    AddPartitions,
    AddOffsets,
    OffsetCommit,
    EndTxn,
}

impl TxnApi {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TxnApi::FindTxnCoordinator | TxnApi::FindGroupCoordinator => "FindCoordinator",
            TxnApi::InitProducerId => "InitProducerId",
            TxnApi::AddPartitions => "AddPartitionsToTxn",
            TxnApi::AddOffsets => "AddOffsetsToTxn",
            TxnApi::OffsetCommit => "TxnOffsetCommit",
            TxnApi::EndTxn => "EndTxn",
        }
    }
}

/// The transaction APIs' versions agreed with one broker, and whether it runs transactions v2.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TxnVersions {
    /// FindCoordinator (v1+: key types).
    pub find_coordinator: Option<i16>,
    pub add_partitions: Option<i16>,
    pub add_offsets: Option<i16>,
    /// TxnOffsetCommit: v5 only with transactions v2.
    pub offset_commit: Option<i16>,
    /// EndTxn: v5 only with transactions v2.
    pub end_txn: Option<i16>,
    /// Finalized `transaction.version` ≥ 2, EndTxn v5 and Produce v12 (KIP-890 part 2).
    pub v2: bool,
}

impl TxnVersions {
    /// The versions both sides speak, from an ApiVersions answer.
    pub(crate) fn negotiate(resp: &ApiVersionsResponse) -> Self {
        let tv2 = resp
            .finalized_level("transaction.version")
            .is_some_and(|l| l >= 2);
        let top = if tv2 { 5 } else { 4 };
        let pick = |key: i16, lo: i16, hi: i16| {
            resp.range(key)
                .and_then(|theirs| protocol::negotiate((lo, hi), theirs))
        };
        let end_txn = pick(api_key::END_TXN, 0, top);
        TxnVersions {
            find_coordinator: pick(
                api_key::FIND_COORDINATOR,
                1,
                FindCoordinatorRequest::MAX_VERSION,
            ),
            add_partitions: pick(api_key::ADD_PARTITIONS_TO_TXN, 0, 3),
            add_offsets: pick(api_key::ADD_OFFSETS_TO_TXN, 0, 4),
            offset_commit: pick(api_key::TXN_OFFSET_COMMIT, 0, top),
            end_txn,
            v2: tv2 && end_txn == Some(5) && pick(api_key::PRODUCE, 12, 12).is_some(),
        }
    }
}

/// What an answer carries besides its error code.
pub(crate) enum Extra {
    None,
    Node(i32, BrokerAddress),
    Pid(i64, i16),
}

/// Decodes `api`'s answer: its first error code, and what else the stage needs.
pub(crate) fn decode(
    api: TxnApi,
    version: i16,
    frame: &[u8],
    id: &str,
    offsets: Option<&Offsets>,
) -> Result<(ErrorCode, Extra), protocol::DecodeError> {
    fn first(mut codes: impl Iterator<Item = i16>) -> ErrorCode {
        ErrorCode(codes.find(|&c| c != 0).unwrap_or(0))
    }
    Ok(match api {
        TxnApi::FindTxnCoordinator | TxnApi::FindGroupCoordinator => {
            let (_, r) = protocol::decode_response::<FindCoordinatorRequest>(version, frame)?;
            let key = if api == TxnApi::FindTxnCoordinator {
                id.to_owned()
            } else {
                offsets
                    .map(|o| o.group.group_id.clone())
                    .unwrap_or_default()
            };
            match r.coordinator(&key) {
                None => (ErrorCode::COORDINATOR_NOT_AVAILABLE, Extra::None),
                Some((_, _, _, code)) if code != 0 => (ErrorCode(code), Extra::None),
                Some((node, host, port, _)) => {
                    let port = u16::try_from(port)
                        .map_err(|_| protocol::DecodeError::Invalid("coordinator port"))?;
                    if node < 0 {
                        return Err(protocol::DecodeError::Invalid("coordinator node id"));
                    }
                    let addr = BrokerAddress {
                        host: host.to_owned(),
                        port,
                    };
                    (ErrorCode::NONE, Extra::Node(node, addr))
                }
            }
        }
        TxnApi::InitProducerId => {
            let (_, r) = protocol::decode_response::<InitProducerIdRequest>(version, frame)?;
            if r.error_code == 0 && (r.producer_id < 0 || r.producer_epoch < 0) {
                return Err(protocol::DecodeError::Invalid(
                    "InitProducerId granted no id",
                ));
            }
            (
                ErrorCode(r.error_code),
                Extra::Pid(r.producer_id, r.producer_epoch),
            )
        }
        TxnApi::AddPartitions => {
            let (_, r) = protocol::decode_response::<AddPartitionsToTxnRequest>(version, frame)?;
            (first(r.errors().map(|e| e.2)), Extra::None)
        }
        TxnApi::AddOffsets => {
            let (_, r) = protocol::decode_response::<AddOffsetsToTxnRequest>(version, frame)?;
            (ErrorCode(r.error_code), Extra::None)
        }
        TxnApi::OffsetCommit => {
            let (_, r) = protocol::decode_response::<TxnOffsetCommitRequest>(version, frame)?;
            (first(r.errors().map(|e| e.2)), Extra::None)
        }
        TxnApi::EndTxn => {
            let (_, r) = protocol::decode_response::<EndTxnRequest>(version, frame)?;
            let extra = if r.producer_id >= 0 && r.producer_epoch >= 0 {
                Extra::Pid(r.producer_id, r.producer_epoch)
            } else {
                Extra::None
            };
            (ErrorCode(r.error_code), extra)
        }
    })
}

/// The TxnOffsetCommit request for `o`.
pub(crate) fn offset_commit_request(
    id: String,
    pid: i64,
    epoch: i16,
    o: &Offsets,
) -> TxnOffsetCommitRequest {
    let mut topics: Vec<TxnOffsetCommitTopic> = Vec::new();
    for off in &o.offsets {
        let p = TxnOffsetCommitPartition {
            partition_index: off.partition,
            committed_offset: off.offset,
            committed_leader_epoch: off.leader_epoch.unwrap_or(-1),
            committed_metadata: off.metadata.clone(),
        };
        match topics.iter_mut().find(|t| t.name == off.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(TxnOffsetCommitTopic {
                name: off.topic.clone(),
                partitions: vec![p],
            }),
        }
    }
    TxnOffsetCommitRequest {
        transactional_id: id,
        group_id: o.group.group_id.clone(),
        producer_id: pid,
        producer_epoch: epoch,
        generation_id: o.group.generation_id,
        member_id: o.group.member_id.clone(),
        group_instance_id: o.group.group_instance_id.clone(),
        topics,
    }
}
