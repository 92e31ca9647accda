//! The transaction stage (KIP-98, KIP-360, KIP-447, KIP-890, KIP-1050): the transactional
//! producer's state, its coordinator lookups and requests, and what their answers lead to.
//! It owns [`Transactions`]; the rest comes as [`TxnCx`], split borrows of the producer.
//!
//! * **Init.** FindCoordinator (key type transaction, v1+) on any ready connection, then
//!   InitProducerId with the transactional id and `transaction.timeout.ms` to the coordinator.
//!   The grant replaces the idempotent InitProducerId ([`super::idempotence`] does not send
//!   one for a transactional producer); sequences are numbered by the idempotence stage as
//!   always. Whether the cluster runs **transactions v2** is decided here, from the
//!   coordinator's finalized `transaction.version` (≥ 2) with EndTxn v5 and Produce v12.
//! * **v1.** Before the first Produce of each partition of a transaction, AddPartitionsToTxn
//!   (v3 and below): a partition's batches wait until it is enrolled (its `txn_epoch` lags the
//!   producer's, so `PartitionState::ready` says no); each partition is asked for once per
//!   transaction. Offsets: AddOffsetsToTxn, then FindCoordinator (group), then TxnOffsetCommit
//!   (at most v4) to the group coordinator. Produce at most v11.
//! * **v2.** No AddPartitionsToTxn (Produce v12 with the transactional id enrolls), no
//!   AddOffsetsToTxn (TxnOffsetCommit v5 does it), and EndTxn v5 answers the bumped epoch the
//!   next transaction runs under.
//! * **Commit** waits for every record of the transaction to have its outcome (a flush), then
//!   sends EndTxn. A record that failed makes the transaction abortable instead. An EndTxn
//!   whose answer is lost (connection dropped, timeout) may have committed: the outcome is
//!   unknown, the core sends it again until the coordinator answers, and `abort_transaction`
//!   is refused meanwhile (KAFKA-17754). The commit is reported `Ok` only on the answer.
//! * **Abort** fails the records not sent yet, waits for those in flight, then EndTxn(abort);
//!   when the producer's sequence state was lost (KIP-360), InitProducerId with the current id
//!   and epoch bumps the epoch after it (v1; in v2 EndTxn bumps it anyway).
//! * **Errors.** NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE, a request whose connection was
//!   lost, or no connection to be had to the coordinator (refused, or its broker gone from
//!   the metadata): look the coordinator up again;
//!   CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS and other retriable codes: retry
//!   after the backoff; abortable ones: the transaction must be aborted; fenced, unsupported,
//!   authorization: fatal, every later operation and record is refused or fails.
//!   One coordinator request is in flight at a time, as in the Java client.
//!
//! [`requests`] builds each request and picks its connection; [`errors`] classifies what
//! failed and what it leads to.

mod errors;
mod requests;

use super::connection::{Connections, Io, RequestRef};
use super::idempotence::{Idempotence, PidState};
use super::topic::TopicState;
use super::txn_wire::{decode, Extra};
pub(crate) use super::txn_wire::{TxnApi, TxnVersions};
use super::PartitionRef;
use crate::error::ProduceError;
use crate::output::{BrokerAddress, Output};
use crate::rng::Rng;
use crate::time::Instant;
use crate::transaction::{GroupMetadata, TransactionError, TransactionState, TxnOffset, TxnOp};
use std::collections::{BTreeMap, BTreeSet};

/// Where the transactional producer stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Uninit,
    Init,
    Ready,
    InTxn,
    Committing,
    Aborting,
    Abortable(TransactionError),
    Fatal(TransactionError),
}

/// Offsets to commit in the transaction, and how far they got.
#[derive(Debug)]
pub(crate) struct Offsets {
    pub group: GroupMetadata,
    pub offsets: Vec<TxnOffset>,
    /// AddOffsetsToTxn answered (or not needed: v2).
    added: bool,
}

/// The transaction stage's state.
#[derive(Debug)]
pub(crate) struct Transactions {
    id: String,
    timeout_ms: i32,
    phase: Phase,
    /// The operation awaiting its [`Output::Transaction`].
    op: Option<TxnOp>,
    /// Transactions v2 (decided at init from the coordinator's versions).
    pub v2: bool,
    /// The transaction coordinator's node.
    coordinator: Option<i32>,
    /// The group coordinator's node, for the group of [`offsets`](Self::offsets).
    group_coordinator: Option<i32>,
    in_flight: Option<(RequestRef, TxnApi)>,
    not_before: Option<Instant>,
    failures: u32,
    /// v1: the transaction's number; a partition whose `txn_epoch` differs is not enrolled.
    pub txn_epoch: u32,
    /// v1: partitions asked for in this transaction, those waiting for AddPartitionsToTxn,
    /// and those in the request in flight.
    asked: BTreeSet<PartitionRef>,
    to_enroll: Vec<PartitionRef>,
    enrolling: Vec<PartitionRef>,
    offsets: Option<Offsets>,
    /// The coordinator knows the transaction (a partition or the offsets joined it).
    started: bool,
    /// EndTxn answered (an abort then bumps the epoch when `bump`).
    ended: bool,
    /// The producer's sequence state was lost: the epoch is bumped with the abort.
    bump: bool,
    /// An EndTxn(commit) got no answer: it may have committed.
    unknown: bool,
    /// The coordinator does not know the producer id: the abort skips EndTxn and ends with
    /// InitProducerId (see `abortable_while_aborting`).
    skip_end_txn: bool,
}

/// What the transaction stage needs besides its own state.
pub(crate) struct TxnCx<'a> {
    /// Records of the transaction not yet given an outcome.
    pub pending: usize,
    pub conns: &'a mut Connections,
    pub io: Io<'a>,
    pub rng: &'a mut Rng,
    pub brokers: &'a mut BTreeMap<i32, BrokerAddress>,
    pub topics: &'a Vec<TopicState>,
    pub idem: &'a mut Idempotence,
}

/// What an answer (or a step) leads to, for the router.
pub(crate) enum TxnAnswer {
    Done,
    /// The answer does not decode: the connection is malformed.
    Malformed(String),
    /// A producer id and epoch were granted (InitProducerId, or EndTxn v5), sequences to
    /// start at `start`.
    Granted {
        pid: i64,
        epoch: i16,
        start: i32,
    },
    /// These partitions joined the transaction (v1): their batches may go.
    Enrolled(Vec<PartitionRef>),
    /// Records not sent fail with this: the producer is fenced or cannot go on, or an abort
    /// waits for records and a batch came back for a retry (Java's `abortUndrainedBatches`).
    FailUnsent(ProduceError),
}

impl Transactions {
    pub(crate) fn new(id: String, timeout: std::time::Duration) -> Self {
        Transactions {
            id,
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            phase: Phase::Uninit,
            op: None,
            v2: false,
            coordinator: None,
            group_coordinator: None,
            in_flight: None,
            not_before: None,
            failures: 0,
            txn_epoch: 0,
            asked: BTreeSet::new(),
            to_enroll: Vec::new(),
            enrolling: Vec::new(),
            offsets: None,
            started: false,
            ended: false,
            bump: false,
            unknown: false,
            skip_end_txn: false,
        }
    }

    /// The state as the public API shows it.
    pub(crate) fn state(&self) -> TransactionState {
        match &self.phase {
            Phase::Uninit => TransactionState::Uninitialized,
            Phase::Init => TransactionState::Initializing,
            Phase::Ready => TransactionState::Ready,
            Phase::InTxn => TransactionState::InTransaction,
            Phase::Committing => TransactionState::Committing {
                outcome_unknown: self.unknown,
            },
            Phase::Aborting => TransactionState::Aborting,
            Phase::Abortable(e) => TransactionState::AbortableError(e.clone()),
            Phase::Fatal(e) => TransactionState::FatalError(e.clone()),
        }
    }

    /// The retry backoff's end, while one runs.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.not_before
    }

    fn refuse(&self, usage: &'static str) -> TransactionError {
        match &self.phase {
            Phase::Fatal(e) => e.clone(),
            _ => TransactionError::InvalidState(usage),
        }
    }

    /// `init_transactions`.
    pub(crate) fn init(&mut self) -> Result<(), TransactionError> {
        if self.phase != Phase::Uninit {
            return Err(self.refuse("init_transactions was called already"));
        }
        self.phase = Phase::Init;
        self.op = Some(TxnOp::Init);
        Ok(())
    }

    /// `begin_transaction` (local). Returns the transaction's number for the partitions.
    pub(crate) fn begin(&mut self) -> Result<u32, TransactionError> {
        if self.phase != Phase::Ready {
            return Err(self.refuse("begin_transaction needs a ready producer (init_transactions done, no transaction open)"));
        }
        self.phase = Phase::InTxn;
        self.started = false;
        self.ended = false;
        self.asked.clear();
        if !self.v2 {
            self.txn_epoch = self.txn_epoch.wrapping_add(1).max(1);
        }
        Ok(self.txn_epoch)
    }

    /// Whether `send` may take a record now.
    pub(crate) fn may_send(&self) -> Result<(), TransactionError> {
        match &self.phase {
            Phase::InTxn => Ok(()),
            Phase::Abortable(e) | Phase::Fatal(e) => Err(e.clone()),
            Phase::Committing | Phase::Aborting => Err(TransactionError::InvalidState(
                "the transaction is completing",
            )),
            _ => Err(TransactionError::InvalidState(
                "no transaction open: call begin_transaction",
            )),
        }
    }

    /// A record joined the transaction.
    pub(crate) fn sent(&mut self) {
        if self.v2 {
            self.started = true;
        }
    }

    /// `send_offsets_to_transaction`.
    pub(crate) fn send_offsets(
        &mut self,
        offsets: Vec<TxnOffset>,
        group: GroupMetadata,
    ) -> Result<(), TransactionError> {
        if self.phase != Phase::InTxn || self.op.is_some() {
            return Err(match &self.phase {
                Phase::Abortable(e) => e.clone(),
                _ => self.refuse("send_offsets_to_transaction needs an open transaction and no operation in progress"),
            });
        }
        if self.group_coordinator.is_some()
            && self.offsets.as_ref().map(|o| &o.group.group_id) != Some(&group.group_id)
        {
            self.group_coordinator = None;
        }
        self.offsets = Some(Offsets {
            group,
            offsets,
            added: self.v2,
        });
        self.op = Some(TxnOp::SendOffsets);
        Ok(())
    }

    /// `commit_transaction`: the router flushes after this.
    pub(crate) fn commit(&mut self) -> Result<(), TransactionError> {
        match &self.phase {
            Phase::InTxn if self.op.is_none() => {
                self.phase = Phase::Committing;
                self.op = Some(TxnOp::Commit);
                self.unknown = false;
                Ok(())
            }
            Phase::Abortable(e) => Err(e.clone()),
            _ => Err(self.refuse(
                "commit_transaction needs an open transaction and no operation in progress",
            )),
        }
    }

    /// `abort_transaction`: the router fails the records not sent yet after this.
    pub(crate) fn abort(
        &mut self,
        out: &mut super::outbox::Outbox,
    ) -> Result<(), TransactionError> {
        match &self.phase {
            Phase::InTxn | Phase::Abortable(_) => {}
            Phase::Committing => {
                return Err(TransactionError::InvalidState(
                    "a commit is in progress and its outcome may be unknown: \
                     call commit_transaction's outcome, not abort (KAFKA-17754)",
                ))
            }
            _ => return Err(self.refuse("abort_transaction needs an open transaction")),
        }
        if let Some(op) = self.op.take() {
            let e = TransactionError::InvalidState("the transaction was aborted");
            out.push(Output::Transaction { op, result: Err(e) });
        }
        self.phase = Phase::Aborting;
        self.op = Some(TxnOp::Abort);
        self.offsets = None;
        self.to_enroll.clear();
        self.ended = false;
        self.skip_end_txn = false;
        Ok(())
    }

    /// Ends the pending operation with `result`.
    fn finish(&mut self, result: Result<(), TransactionError>, out: &mut super::outbox::Outbox) {
        if let Some(op) = self.op.take() {
            out.push(Output::Transaction { op, result });
        }
    }

    /// coordinator request when one is due.
    pub(crate) fn step(&mut self, cx: &mut TxnCx<'_>, now: Instant) -> TxnAnswer {
        // A record of the transaction failed since the last step: it cannot commit.
        if let Some(e) = cx.io.out.txn_failure.as_mut().and_then(Option::take) {
            self.abortable(TransactionError::RecordFailed(e), cx.io.out);
        }
        match &cx.idem.state {
            PidState::Needed { bump: true } | PidState::Requesting { bump: true, .. }
                if !matches!(self.phase, Phase::Fatal(_) | Phase::Init) =>
            {
                self.bump = true;
                self.abortable(TransactionError::SequenceLost, cx.io.out);
            }
            PidState::Fatal(e) if !matches!(self.phase, Phase::Fatal(_)) => {
                let e = match e {
                    ProduceError::ProducerFenced(code) => TransactionError::Broker {
                        api: "Produce",
                        code: *code,
                    },
                    _ => TransactionError::Unsupported("the brokers cannot do idempotence"),
                };
                return self.fatal(e, cx);
            }
            _ => {}
        }
        if self.phase == Phase::Aborting && cx.pending > 0 {
            return TxnAnswer::FailUnsent(ProduceError::TransactionAborted);
        }
        if self.in_flight.is_some() || self.not_before.is_some_and(|t| now < t) {
            return TxnAnswer::Done;
        }
        self.not_before = None;
        let Some(api) = self.next_request(cx) else {
            return TxnAnswer::Done;
        };
        self.send(api, cx, now)
    }

    /// The next coordinator request the state calls for, if any; completes what needs none.
    fn next_request(&mut self, cx: &mut TxnCx<'_>) -> Option<TxnApi> {
        let txn = |me: &Self, api| {
            Some(if me.coordinator.is_none() {
                TxnApi::FindTxnCoordinator
            } else {
                api
            })
        };
        match self.phase {
            Phase::Init => {
                if matches!(cx.idem.state, PidState::Undecided) {
                    return None;
                }
                txn(self, TxnApi::InitProducerId)
            }
            Phase::InTxn | Phase::Committing => {
                if !self.to_enroll.is_empty() {
                    return txn(self, TxnApi::AddPartitions);
                }
                if let Some(o) = &self.offsets {
                    if !o.added {
                        return txn(self, TxnApi::AddOffsets);
                    }
                    return Some(match self.group_coordinator {
                        None => TxnApi::FindGroupCoordinator,
                        Some(_) => TxnApi::OffsetCommit,
                    });
                }
                if self.phase != Phase::Committing || cx.pending > 0 {
                    return None;
                }
                if !self.started {
                    self.completed(cx.io.out);
                    return None;
                }
                txn(self, TxnApi::EndTxn)
            }
            Phase::Aborting => {
                if cx.pending > 0 {
                    return None;
                }
                if !self.ended && self.started && !self.skip_end_txn {
                    return txn(self, TxnApi::EndTxn);
                }
                if (self.bump && !self.v2) || self.skip_end_txn {
                    return txn(self, TxnApi::InitProducerId);
                }
                self.completed(cx.io.out);
                None
            }
            _ => None,
        }
    }

    /// The transaction ended (committed or aborted): ready for the next one.
    fn completed(&mut self, out: &mut super::outbox::Outbox) {
        self.phase = Phase::Ready;
        self.started = false;
        self.ended = false;
        self.unknown = false;
        self.bump = false;
        self.skip_end_txn = false;
        self.asked.clear();
        self.finish(Ok(()), out);
    }

    /// Notes partition `at` of the pass (v1): one with batches that is not enrolled in the
    /// transaction is asked for, once.
    pub(crate) fn note_partition(&mut self, at: PartitionRef, enrolled: bool, has_records: bool) {
        if !self.v2
            && !enrolled
            && has_records
            && matches!(self.phase, Phase::InTxn | Phase::Committing)
            && self.asked.insert(at)
        {
            self.to_enroll.push(at);
        }
    }

    /// The answer to `rref`, a request of `api` in `version`.
    pub(crate) fn on_answer(
        &mut self,
        rref: RequestRef,
        (api, version): (TxnApi, i16),
        frame: &[u8],
        cx: &mut TxnCx<'_>,
        now: Instant,
    ) -> TxnAnswer {
        if self.in_flight != Some((rref, api)) {
            return TxnAnswer::Done;
        }
        self.in_flight = None;
        let decoded = decode(api, version, frame, &self.id, self.offsets.as_ref());
        let (code, extra) = match decoded {
            Ok(x) => x,
            Err(e) => {
                self.failed_decode(api);
                self.backoff(cx, now);
                return TxnAnswer::Malformed(format!(
                    "{} v{version} answer does not decode: {e}",
                    api.name()
                ));
            }
        };
        cx.conns.proved(rref.conn);
        if !code.is_ok() {
            return self.on_error(api, code, cx, now);
        }
        self.failures = 0;
        match (api, extra) {
            (TxnApi::FindTxnCoordinator | TxnApi::FindGroupCoordinator, Extra::Node(n, addr)) => {
                cx.brokers.entry(n).or_insert(addr);
                if api == TxnApi::FindTxnCoordinator {
                    self.coordinator = Some(n);
                } else {
                    self.group_coordinator = Some(n);
                }
                TxnAnswer::Done
            }
            (TxnApi::InitProducerId, Extra::Pid(pid, epoch)) => {
                let start = if self.phase == Phase::Init {
                    cx.idem.first_seq
                } else {
                    0
                };
                if self.phase == Phase::Init {
                    self.phase = Phase::Ready;
                    self.finish(Ok(()), cx.io.out);
                } else {
                    self.completed(cx.io.out);
                }
                TxnAnswer::Granted { pid, epoch, start }
            }
            (TxnApi::AddPartitions, _) => {
                self.started = true;
                TxnAnswer::Enrolled(std::mem::take(&mut self.enrolling))
            }
            (TxnApi::AddOffsets, _) => {
                self.started = true;
                if let Some(o) = &mut self.offsets {
                    o.added = true;
                }
                TxnAnswer::Done
            }
            // Not when an abort came meanwhile: it still has its EndTxn to send.
            (TxnApi::OffsetCommit, _) if self.op == Some(TxnOp::SendOffsets) => {
                self.offsets = None;
                self.finish(Ok(()), cx.io.out);
                TxnAnswer::Done
            }
            (TxnApi::EndTxn, extra) => {
                self.ended = true;
                let granted = match extra {
                    Extra::Pid(pid, epoch) if self.v2 => Some((pid, epoch)),
                    _ => None,
                };
                if self.phase == Phase::Committing || !self.bump || self.v2 {
                    self.completed(cx.io.out);
                }
                match granted {
                    Some((pid, epoch)) => TxnAnswer::Granted {
                        pid,
                        epoch,
                        start: 0,
                    },
                    None => TxnAnswer::Done,
                }
            }
            _ => TxnAnswer::Done,
        }
    }
}
