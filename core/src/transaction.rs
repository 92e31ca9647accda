//! The transactional producer's public types: the operations
//! ([`ProducerCore::init_transactions`](crate::ProducerCore::init_transactions) and the rest)
//! and their outcome ([`Output::Transaction`](crate::Output::Transaction)), the errors with
//! their KIP-1050 category, and what `send_offsets_to_transaction` takes.
//!
//! Each operation is started by a call on the core and ends with exactly one
//! [`Output::Transaction`](crate::Output::Transaction) naming it; a call made in the wrong
//! state is refused at once (the `Err` of the call, nothing started, no output).

use crate::error::ProduceError;
use crate::protocol::ErrorCode;

/// A transaction operation, as [`Output::Transaction`](crate::Output::Transaction) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxnOp {
    /// `init_transactions`: the producer id and epoch from the transaction coordinator
    /// (fencing any older producer with the same `transactional.id`).
    Init,
    /// `send_offsets_to_transaction`: the consumer offsets joined the transaction.
    SendOffsets,
    /// `commit_transaction`: every record of the transaction got its outcome, then the
    /// coordinator committed it. `Ok` only when the coordinator said so.
    Commit,
    /// `abort_transaction`: the coordinator aborted the transaction (and, where needed, the
    /// epoch was bumped, KIP-360): the producer is ready for the next one.
    Abort,
}

/// What the application does about a [`TransactionError`] (KIP-1050).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxnErrorClass {
    /// The operation may be tried again as it is (the core already retried what it could).
    Retriable,
    /// The transaction cannot commit: call `abort_transaction`; the producer stays usable.
    Abortable,
    /// The producer can only be closed (fenced by a newer instance with the same
    /// `transactional.id`, an unsupported broker, an authorization failure, an unexpected
    /// error). A new producer may recover from a fence.
    Fatal,
    /// The call does not fit the producer's state (begin before init, commit with no
    /// transaction open, abort while a commit's outcome is unknown, ...): nothing changed.
    Usage,
}

/// Why a transaction operation failed or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The call does not fit the producer's state; nothing changed.
    #[error("invalid transaction state: {0}")]
    InvalidState(&'static str),
    /// The producer has no `transactional.id`.
    #[error("the producer has no transactional.id")]
    NotTransactional,
    /// A coordinator answered `code` to `api` (its class is `code`'s
    /// [`txn_category`](ErrorCode::txn_category)).
    #[error("{api}: {code}")]
    Broker {
        /// The request (`InitProducerId`, `AddPartitionsToTxn`, `EndTxn`, ...).
        api: &'static str,
        /// The error code.
        code: ErrorCode,
    },
    /// A record of the transaction failed: the transaction cannot commit (abortable).
    #[error("a record of the transaction failed: {0}")]
    RecordFailed(ProduceError),
    /// The producer's sequence state was lost (KIP-360): the transaction must be aborted, and
    /// the epoch is bumped with the abort.
    #[error("the producer lost its sequence state; abort to bump the epoch")]
    SequenceLost,
    /// The brokers cannot do what the operation needs.
    #[error("transactions unsupported: {0}")]
    Unsupported(&'static str),
    /// The producer is closing.
    #[error("the producer is closed")]
    Closed,
}

impl TransactionError {
    /// What the application should do about it (KIP-1050).
    pub fn class(&self) -> TxnErrorClass {
        use crate::protocol::TxnErrorCategory as C;
        match self {
            TransactionError::InvalidState(_) | TransactionError::NotTransactional => {
                TxnErrorClass::Usage
            }
            TransactionError::Broker { code, .. } => match code.txn_category() {
                C::NoError | C::Retriable => TxnErrorClass::Retriable,
                C::Abortable => TxnErrorClass::Abortable,
                C::FatalRecoverable | C::Fatal => TxnErrorClass::Fatal,
            },
            TransactionError::RecordFailed(_) | TransactionError::SequenceLost => {
                TxnErrorClass::Abortable
            }
            TransactionError::Unsupported(_) | TransactionError::Closed => TxnErrorClass::Fatal,
        }
    }

    /// Whether a newer producer with the same `transactional.id` fenced this one.
    pub fn is_fenced(&self) -> bool {
        matches!(self, TransactionError::Broker { code, .. }
            if code.txn_category() == crate::protocol::TxnErrorCategory::FatalRecoverable)
    }
}

/// Where the transactional producer stands
/// ([`ProducerCore::transaction_state`](crate::ProducerCore::transaction_state)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionState {
    /// No `transactional.id`.
    NotTransactional,
    /// `init_transactions` not called yet.
    Uninitialized,
    /// `init_transactions` in progress.
    Initializing,
    /// No transaction open: `begin_transaction` may be called.
    Ready,
    /// A transaction is open.
    InTransaction,
    /// `commit_transaction` in progress. `outcome_unknown`: an EndTxn answer was lost, so the
    /// transaction may have committed; the core retries it until the coordinator says, and
    /// `abort_transaction` is refused meanwhile (KAFKA-17754).
    Committing {
        /// An EndTxn answer was lost.
        outcome_unknown: bool,
    },
    /// `abort_transaction` in progress.
    Aborting,
    /// The transaction cannot commit; only `abort_transaction` helps.
    AbortableError(TransactionError),
    /// The producer can only be closed.
    FatalError(TransactionError),
}

/// The consumer group metadata `send_offsets_to_transaction` takes (Java's
/// `ConsumerGroupMetadata`), as the application's consumer gives it: this crate has no
/// consumer. With a generation, member id or group instance id, TxnOffsetCommit v3+ is needed
/// (KIP-447: the group coordinator fences a zombie member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The consumer's generation; `-1` when unknown.
    pub generation_id: i32,
    /// The consumer's member id; empty when unknown.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
}

impl GroupMetadata {
    /// Metadata with only the group id (generation `-1`, no member id), as Java's
    /// `new ConsumerGroupMetadata(groupId)`.
    pub fn new(group_id: impl Into<String>) -> Self {
        GroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// One consumed partition's offset to commit in the transaction: the next offset the
/// consumer will read (Java's `OffsetAndMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to read.
    pub offset: i64,
    /// The leader epoch of the consumed record, when known.
    pub leader_epoch: Option<i32>,
    /// Metadata stored with the offset.
    pub metadata: Option<String>,
}
