//! The transaction stage's failures: how an error code, a lost answer or an answer that
//! does not decode is classified (KIP-1050: retriable, abortable, fatal; a lost EndTxn
//! commit's outcome is unknown) and what each leads to.

use super::{Phase, Transactions, TxnAnswer, TxnCx};
use crate::error::ProduceError;
use crate::output::TimeoutReason;
use crate::producer::connection::RequestRef;
use crate::producer::idempotence::PidState;
use crate::producer::responses::retry_backoff;
use crate::producer::txn_wire::TxnApi;
use crate::protocol::ErrorCode;
use crate::time::Instant;
use crate::transaction::TransactionError;

impl Transactions {
    /// The transaction cannot commit any more.
    pub(super) fn abortable(
        &mut self,
        e: TransactionError,
        out: &mut crate::producer::outbox::Outbox,
    ) {
        if matches!(self.phase, Phase::InTxn | Phase::Committing) {
            self.phase = Phase::Abortable(e.clone());
            self.to_enroll.clear();
            self.offsets = None;
            self.finish(Err(e), out);
        }
    }

    /// The producer can only be closed.
    pub(super) fn fatal(&mut self, e: TransactionError, cx: &mut TxnCx<'_>) -> TxnAnswer {
        let record_error = match &e {
            TransactionError::Broker { code, .. } if e.is_fenced() => {
                ProduceError::ProducerFenced(*code)
            }
            TransactionError::Broker { code, .. } => ProduceError::ProducerIdRefused(*code),
            _ => ProduceError::TransactionAborted,
        };
        cx.idem.state = PidState::Fatal(record_error.clone());
        self.phase = Phase::Fatal(e.clone());
        self.to_enroll.clear();
        self.offsets = None;
        self.finish(Err(e), cx.io.out);
        TxnAnswer::FailUnsent(record_error)
    }

    /// The request `rref` got no answer (connection lost or timed out). Its coordinator is
    /// looked up again before the retry, as Java's `TxnRequestHandler` does on a disconnect:
    /// when its broker was killed, the coordinator has moved (issue 23: the core kept
    /// dialling the dead broker while the metadata still named it).
    pub(crate) fn failed(&mut self, rref: RequestRef, cx: &mut TxnCx<'_>, now: Instant) {
        let Some((req, api)) = self.in_flight else {
            return;
        };
        if req != rref {
            return;
        }
        self.in_flight = None;
        self.forget_coordinator(api);
        match api {
            TxnApi::EndTxn if self.phase == Phase::Committing => self.unknown = true,
            TxnApi::AddPartitions => self.to_enroll.append(&mut self.enrolling),
            _ => {}
        }
        self.backoff(cx, now);
    }

    /// Waits out the retry backoff (growing with the failures in a row) before the next
    /// coordinator request, and wakes the producer when it ends.
    pub(super) fn backoff(&mut self, cx: &mut TxnCx<'_>, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let at = now + retry_backoff(cx.io.config, cx.rng, self.failures);
        self.not_before = Some(at);
        cx.io.clock.lower_wake(at, TimeoutReason::RetryBackoff);
    }

    /// An answer to `api` did not decode: what it carried is as good as lost.
    pub(super) fn failed_decode(&mut self, api: TxnApi) {
        if api == TxnApi::EndTxn && self.phase == Phase::Committing {
            self.unknown = true;
        }
        if api == TxnApi::AddPartitions {
            self.to_enroll.append(&mut self.enrolling);
        }
    }

    /// An error code answered to `api`.
    pub(super) fn on_error(
        &mut self,
        api: TxnApi,
        code: ErrorCode,
        cx: &mut TxnCx<'_>,
        now: Instant,
    ) -> TxnAnswer {
        use crate::protocol::TxnErrorCategory as C;
        if api == TxnApi::AddPartitions {
            self.to_enroll.append(&mut self.enrolling);
        }
        let moved =
            code == ErrorCode::NOT_COORDINATOR || code == ErrorCode::COORDINATOR_NOT_AVAILABLE;
        if moved {
            self.forget_coordinator(api);
        }
        let error = TransactionError::Broker {
            api: api.name(),
            code,
        };
        match code.txn_category() {
            C::NoError | C::Retriable => {
                self.backoff(cx, now);
                TxnAnswer::Done
            }
            _ if code == ErrorCode::OPERATION_NOT_ATTEMPTED => {
                self.backoff(cx, now);
                TxnAnswer::Done
            }
            C::Abortable if self.phase == Phase::Aborting => {
                self.abortable_while_aborting(api, code);
                self.backoff(cx, now);
                TxnAnswer::Done
            }
            C::Abortable if self.phase != Phase::Init => {
                if code == ErrorCode::INVALID_PRODUCER_ID_MAPPING {
                    self.bump = true;
                }
                self.abortable(error, cx.io.out);
                TxnAnswer::Done
            }
            _ => self.fatal(error, cx),
        }
    }

    /// An abortable answer while the transaction is being aborted: the abort goes on (the
    /// Java client stays in `ABORTING_TRANSACTION`). A late answer to a request sent before
    /// the abort (AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit) changes nothing; an
    /// EndTxn is sent again after the backoff (TRANSACTION_ABORTABLE), except when the
    /// coordinator does not know the producer id (INVALID_PRODUCER_ID_MAPPING,
    /// UNKNOWN_PRODUCER_ID): it would refuse every EndTxn, so the abort ends with
    /// InitProducerId bumping the epoch instead, as Java's `beginCompletingTransaction` does.
    fn abortable_while_aborting(&mut self, api: TxnApi, code: ErrorCode) {
        let unmapped = code == ErrorCode::INVALID_PRODUCER_ID_MAPPING
            || code == ErrorCode::UNKNOWN_PRODUCER_ID;
        if api == TxnApi::EndTxn && unmapped {
            self.skip_end_txn = true;
        }
    }
}
