//! Transactions, read back as a `read_committed` consumer reads them.
//!
//! [`read_committed`] is Kafka's consumer with `isolation.level=read_committed` on one
//! partition's log: it reads up to the last stable offset (the first offset of the oldest
//! transaction still without a marker, or the end of the log), skips control records, keeps
//! a transactional batch until its producer's next marker — COMMIT shows it, ABORT drops it —
//! and shows non-transactional records as they come.
//!
//! [`check_transactions`] holds the producer's transactions ([`TxnHistory`]: the records and
//! offsets of each, and how it ended for the producer) against that view and the
//! coordinators' record ([`TxnSnapshot`]):
//!
//! * a committed transaction is fully visible ([`ViolationKind::TxnCommittedNotVisible`]);
//! * an aborted one is invisible ([`ViolationKind::TxnAbortedVisible`]);
//! * none, whatever its outcome (also one whose commit answer was lost), is half visible
//!   ([`ViolationKind::TxnTorn`]);
//! * no record is visible twice ([`ViolationKind::TxnVisibleTwice`]);
//! * a producer id handed to a transactional id writes nothing outside a transaction
//!   ([`ViolationKind::TxnNonTransactional`]);
//! * a record of a fenced epoch appended after the fence is never visible
//!   ([`ViolationKind::TxnFencedWriteVisible`]);
//! * offsets committed in a transaction are visible exactly when it committed
//!   ([`ViolationKind::TxnOffsets`]).

use super::{content, ContentKey, LogSnapshot, Violation, ViolationKind};
use crate::cluster::StoredRecord;
use crate::txn_coordinator::{Marker, TxnOutcome, TxnSnapshot};
use odradek_core::Record;
use std::collections::{BTreeMap, BTreeSet};

/// How a transaction ended for the producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientTxnOutcome {
    /// `commit_transaction` succeeded.
    Committed,
    /// `abort_transaction` succeeded, or the transaction was aborted for the producer (an
    /// abortable error, a fence while it was open that the producer was told of).
    Aborted,
    /// The producer does not know (its commit's answer never came, it was fenced while
    /// committing, the run ended): all or nothing, either way.
    Unknown,
}

/// One transaction as the producer ran it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTxn {
    /// The records `send` accepted inside it.
    pub records: Vec<Record>,
    /// Offsets sent with `send_offsets_to_transaction`: (group, topic, partition, offset).
    pub offsets: Vec<(String, String, i32, i64)>,
    /// How it ended.
    pub outcome: ClientTxnOutcome,
}

/// The producer's transactions, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnHistory {
    /// Transactions in the order they began.
    pub transactions: Vec<ClientTxn>,
}

/// Builds a [`TxnHistory`] as a driver sees the producer's calls: where the producer side
/// plugs in (call [`begin`](Self::begin) at `begin_transaction`, [`sent`](Self::sent) for each
/// record `send` accepted inside it, [`offsets`](Self::offsets) at
/// `send_offsets_to_transaction`, [`ended`](Self::ended) when `commit_transaction` or
/// `abort_transaction` resolves). A transaction still open at [`finish`](Self::finish), or
/// whose end the producer never learned, is [`ClientTxnOutcome::Unknown`].
///
/// ```
/// use odradek_core::Record;
/// use odradek_sim::{ClientTxnOutcome, TxnRecorder};
/// let mut r = TxnRecorder::default();
/// r.begin();
/// r.sent(Record::new("a").value("x"));
/// r.ended(ClientTxnOutcome::Committed);
/// r.begin();
/// r.offsets("g", "in", 0, 7);
/// let h = r.finish();
/// assert_eq!(h.transactions.len(), 2);
/// assert_eq!(h.transactions[1].outcome, ClientTxnOutcome::Unknown);
/// ```
#[derive(Clone, Debug, Default)]
pub struct TxnRecorder {
    history: TxnHistory,
    open: Option<ClientTxn>,
}

impl TxnRecorder {
    /// A transaction begins (one still open is ended as [`ClientTxnOutcome::Unknown`]).
    pub fn begin(&mut self) {
        self.close(ClientTxnOutcome::Unknown);
        self.open = Some(ClientTxn {
            records: Vec::new(),
            offsets: Vec::new(),
            outcome: ClientTxnOutcome::Unknown,
        });
    }

    /// `send` accepted `record` inside the open transaction (ignored outside one).
    pub fn sent(&mut self, record: Record) {
        if let Some(t) = &mut self.open {
            t.records.push(record);
        }
    }

    /// Offsets sent to the open transaction (ignored outside one).
    pub fn offsets(&mut self, group: &str, topic: &str, partition: i32, offset: i64) {
        if let Some(t) = &mut self.open {
            t.offsets
                .push((group.to_owned(), topic.to_owned(), partition, offset));
        }
    }

    /// The open transaction ended so for the producer.
    pub fn ended(&mut self, outcome: ClientTxnOutcome) {
        self.close(outcome);
    }

    fn close(&mut self, outcome: ClientTxnOutcome) {
        if let Some(mut t) = self.open.take() {
            t.outcome = outcome;
            self.history.transactions.push(t);
        }
    }

    /// The history (an open transaction counts as [`ClientTxnOutcome::Unknown`]).
    pub fn finish(mut self) -> TxnHistory {
        self.close(ClientTxnOutcome::Unknown);
        self.history
    }
}

/// What a `read_committed` consumer reads of one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadCommitted {
    /// Indices into the log of the records it returns, in offset order.
    pub visible: Vec<usize>,
    /// The last stable offset: it reads nothing at or past it.
    pub last_stable_offset: i64,
}

/// Reads `log` as a `read_committed` consumer would (see the module docs).
pub fn read_committed(log: &[StoredRecord]) -> ReadCommitted {
    let end = log.last().map_or(0, |r| r.offset + 1);
    // The first offset of each producer's open transaction, scanning to the end.
    let mut open: BTreeMap<i64, i64> = BTreeMap::new();
    for r in log {
        match r.control {
            Some(_) => {
                open.remove(&r.producer_id);
            }
            None if r.transactional => {
                open.entry(r.producer_id).or_insert(r.offset);
            }
            None => {}
        }
    }
    let lso = open.values().copied().min().unwrap_or(end);
    let mut visible = Vec::new();
    let mut pending: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, r) in log.iter().enumerate() {
        if r.offset >= lso {
            break;
        }
        match r.control {
            Some(Marker::Commit) => {
                visible.extend(pending.remove(&r.producer_id).unwrap_or_default())
            }
            Some(Marker::Abort) => {
                pending.remove(&r.producer_id);
            }
            None if r.transactional => pending.entry(r.producer_id).or_default().push(i),
            None => visible.push(i),
        }
    }
    visible.sort_unstable();
    ReadCommitted {
        visible,
        last_stable_offset: lso,
    }
}

fn violation(kind: ViolationKind, description: String) -> Violation {
    Violation { kind, description }
}

/// Checks the producer's transactions against the logs read `read_committed` and the
/// coordinators' record (see the module docs).
pub fn check_transactions(
    history: &TxnHistory,
    logs: &LogSnapshot,
    coordinators: &TxnSnapshot,
) -> Vec<Violation> {
    let mut out = Vec::new();
    // Visible copies of each record content, and the records visible after a fence.
    let mut visible: BTreeMap<ContentKey, usize> = BTreeMap::new();
    for ((topic, partition), log) in &logs.logs {
        let view = read_committed(log);
        for &i in &view.visible {
            let r = &log[i];
            *visible
                .entry(content(topic, &r.key, &r.value, &r.headers))
                .or_default() += 1;
            for f in &coordinators.fences {
                let after = logs.appends.get(r.append).is_some_and(|a| a.at > f.at);
                if r.producer_id == f.producer_id && r.producer_epoch < f.epoch && after {
                    out.push(violation(
                        ViolationKind::TxnFencedWriteVisible,
                        format!(
                            "{topic}-{partition}@{}: producer {} epoch {} written after {} \
                             was fenced below epoch {}, yet visible",
                            r.offset, r.producer_id, r.producer_epoch, f.transactional_id, f.epoch
                        ),
                    ));
                }
            }
        }
        for r in log {
            if r.control.is_none()
                && !r.transactional
                && coordinators.transactional_pids.contains(&r.producer_id)
            {
                out.push(violation(
                    ViolationKind::TxnNonTransactional,
                    format!(
                        "{topic}-{partition}@{}: producer {} (transactional) wrote outside \
                         a transaction",
                        r.offset, r.producer_id
                    ),
                ));
            }
        }
    }
    for (n, txn) in history.transactions.iter().enumerate() {
        let total = txn.records.len();
        let mut seen = 0;
        for r in &txn.records {
            let copies = visible
                .get(&content(&r.topic, &r.key, &r.value, &r.headers))
                .copied()
                .unwrap_or(0);
            if copies > 1 {
                out.push(violation(
                    ViolationKind::TxnVisibleTwice,
                    format!(
                        "transaction {n}: {} visible {copies} times",
                        super::short(r)
                    ),
                ));
            }
            seen += usize::from(copies > 0);
        }
        let what = format!("transaction {n} ({:?}, {total} records)", txn.outcome);
        if seen > 0 && seen < total {
            out.push(violation(
                ViolationKind::TxnTorn,
                format!("{what}: {seen} visible, {} not", total - seen),
            ));
        } else if txn.outcome == ClientTxnOutcome::Committed && total > 0 && seen == 0 {
            out.push(violation(
                ViolationKind::TxnCommittedNotVisible,
                format!("{what}: committed, none visible"),
            ));
        } else if txn.outcome == ClientTxnOutcome::Aborted && seen > 0 {
            out.push(violation(
                ViolationKind::TxnAbortedVisible,
                format!("{what}: aborted, all visible"),
            ));
        }
    }
    out.extend(check_offsets(history, coordinators));
    out
}

/// Offsets committed in transactions: visible exactly with their transaction.
fn check_offsets(history: &TxnHistory, coordinators: &TxnSnapshot) -> Vec<Violation> {
    let mut out = Vec::new();
    // The coordinators' own record: a visible offset comes from a committed transaction.
    for ((group, topic, partition), c) in &coordinators.offsets {
        let t = coordinators.transactions.get(c.txn);
        if !t.is_some_and(|t| t.outcome == TxnOutcome::Committed && t.completed_at.is_some()) {
            out.push(violation(
                ViolationKind::TxnOffsets,
                format!(
                    "{group} {topic}-{partition}: offset {} visible from transaction {} \
                     that did not commit",
                    c.offset, c.txn
                ),
            ));
        }
    }
    // The producer's: per (group, topic, partition), the values that may be visible.
    let keys: BTreeSet<(String, String, i32)> = history
        .transactions
        .iter()
        .flat_map(|t| t.offsets.iter())
        .map(|(g, t, p, _)| (g.clone(), t.clone(), *p))
        .collect();
    for key in keys {
        let writes: Vec<(ClientTxnOutcome, i64)> = history
            .transactions
            .iter()
            .flat_map(|t| {
                t.offsets
                    .iter()
                    .filter(|(g, tp, p, _)| (g, tp, p) == (&key.0, &key.1, &key.2))
                    .map(move |o| (t.outcome, o.3))
            })
            .collect();
        let last_committed = writes
            .iter()
            .rposition(|(o, _)| *o == ClientTxnOutcome::Committed);
        let from = last_committed.unwrap_or(0);
        let allowed: BTreeSet<i64> = writes[from..]
            .iter()
            .filter(|(o, _)| *o != ClientTxnOutcome::Aborted)
            .map(|(_, v)| *v)
            .collect();
        let shown = coordinators.offsets.get(&key).map(|c| c.offset);
        let (group, topic, partition) = &key;
        match shown {
            Some(v) if !allowed.contains(&v) => out.push(violation(
                ViolationKind::TxnOffsets,
                format!(
                    "{group} {topic}-{partition}: offset {v} visible, but no committed (or \
                     undecided) transaction since the last commit wrote it (allowed {allowed:?})"
                ),
            )),
            None if last_committed.is_some() => out.push(violation(
                ViolationKind::TxnOffsets,
                format!(
                    "{group} {topic}-{partition}: a committed transaction wrote offsets, none \
                     visible"
                ),
            )),
            _ => {}
        }
    }
    out
}
