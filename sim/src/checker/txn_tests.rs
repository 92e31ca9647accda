//! The transactional checks on hand-built logs: a `read_committed` view, and each
//! violation shown to fire on a planted fault and to stay quiet on the correct log.

use super::transactions::*;
use super::*;
use crate::txn_coordinator::{
    CommittedOffset, FenceEvent, Marker, TxnOutcome, TxnRecord, TxnSnapshot,
};

fn t(ms: u64) -> Instant {
    crate::SIM_EPOCH + Duration::from_millis(ms)
}

fn rec(topic: &str, n: u64) -> Record {
    Record::new(topic)
        .key(format!("k{n}"))
        .value(n.to_be_bytes().to_vec())
}

const PID: i64 = 1000;

/// A log under construction: records and markers, with one append each.
#[derive(Default)]
struct Log {
    logs: BTreeMap<(String, i32), Vec<StoredRecord>>,
    appends: Vec<AppendInfo>,
}

impl Log {
    fn push(&mut self, topic: &str, partition: i32, mut r: StoredRecord, at: Instant) {
        let log = self.logs.entry((topic.to_owned(), partition)).or_default();
        r.offset = log.len() as i64;
        r.append = self.appends.len();
        self.appends.push(AppendInfo {
            topic: topic.into(),
            partition,
            base_offset: r.offset,
            count: 1,
            broker: 1,
            conn: odradek_core::ConnId(1),
            at,
            fate: AppendFate::Acknowledged(at),
            hostile_offset: false,
        });
        log.push(r);
    }

    /// A data record: transactional or not, from `pid` at `epoch`.
    fn data(&mut self, r: &Record, partition: i32, pid: i64, epoch: i16, txn: bool, at: u64) {
        let stored = StoredRecord {
            offset: 0,
            timestamp: 0,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
            append: 0,
            producer_id: pid,
            producer_epoch: epoch,
            sequence: 0,
            transactional: txn,
            control: None,
        };
        self.push(&r.topic.to_string(), partition, stored, t(at));
    }

    fn marker(&mut self, topic: &str, partition: i32, epoch: i16, m: Marker, at: u64) {
        let (key, value) = crate::txn_coordinator::control_record(m);
        let stored = StoredRecord {
            offset: 0,
            timestamp: 0,
            key: Some(key),
            value: Some(value),
            headers: Vec::new(),
            append: 0,
            producer_id: PID,
            producer_epoch: epoch,
            sequence: -1,
            transactional: true,
            control: Some(m),
        };
        self.push(topic, partition, stored, t(at));
    }

    fn snapshot(&self) -> LogSnapshot {
        LogSnapshot {
            logs: self.logs.clone(),
            appends: self.appends.clone(),
        }
    }
}

fn txn(records: Vec<Record>, outcome: ClientTxnOutcome) -> ClientTxn {
    ClientTxn {
        records,
        offsets: Vec::new(),
        outcome,
    }
}

fn coordinators() -> TxnSnapshot {
    TxnSnapshot {
        transactional_pids: [PID].into_iter().collect(),
        ..TxnSnapshot::default()
    }
}

fn kinds(history: &TxnHistory, log: &Log, c: &TxnSnapshot) -> Vec<ViolationKind> {
    check_transactions(history, &log.snapshot(), c)
        .into_iter()
        .map(|v| v.kind)
        .collect()
}

#[test]
fn read_committed_shows_committed_hides_aborted_and_stops_at_the_last_stable_offset() {
    let mut log = Log::default();
    log.data(&rec("a", 1), 0, -1, -1, false, 1); // 0: plain
    log.data(&rec("a", 2), 0, PID, 0, true, 1); // 1: committed below
    log.data(&rec("a", 3), 0, 7, 0, true, 1); // 2: another producer, aborted below
    log.marker("a", 0, 0, Marker::Commit, 2); // 3
    let mut other = log.logs[&("a".to_owned(), 0)][2].clone();
    other.control = Some(Marker::Abort);
    other.key = None;
    log.push("a", 0, other, t(2)); // 4: producer 7's abort marker
    log.data(&rec("a", 4), 0, -1, -1, false, 3); // 5: plain
    let l = &log.logs[&("a".to_owned(), 0)];
    let view = read_committed(l);
    assert_eq!(view.visible, vec![0, 1, 5]);
    assert_eq!(view.last_stable_offset, 6);
    // An open transaction holds back everything after its first record, plain ones too.
    log.data(&rec("a", 5), 0, PID, 0, true, 4); // 6: open
    log.data(&rec("a", 6), 0, -1, -1, false, 4); // 7: plain, past the LSO
    let view = read_committed(&log.logs[&("a".to_owned(), 0)]);
    assert_eq!(view.visible, vec![0, 1, 5]);
    assert_eq!(view.last_stable_offset, 6);
    // Its commit releases both.
    log.marker("a", 0, 0, Marker::Commit, 5);
    let view = read_committed(&log.logs[&("a".to_owned(), 0)]);
    assert_eq!(view.visible, vec![0, 1, 5, 6, 7]);
    assert_eq!(view.last_stable_offset, 9);
}

#[test]
fn committed_and_aborted_transactions_as_they_should_be_pass() {
    let mut log = Log::default();
    let (a, b, c) = (rec("a", 1), rec("b", 2), rec("a", 3));
    log.data(&a, 0, PID, 0, true, 1);
    log.data(&b, 0, PID, 0, true, 1);
    log.marker("a", 0, 0, Marker::Commit, 2);
    log.marker("b", 0, 0, Marker::Commit, 2);
    log.data(&c, 1, PID, 0, true, 3);
    log.marker("a", 1, 0, Marker::Abort, 4);
    let history = TxnHistory {
        transactions: vec![
            txn(vec![a, b], ClientTxnOutcome::Committed),
            txn(vec![c], ClientTxnOutcome::Aborted),
        ],
    };
    assert_eq!(kinds(&history, &log, &coordinators()), vec![]);
}

#[test]
fn a_committed_transaction_without_its_markers_is_not_visible() {
    let mut log = Log::default();
    let a = rec("a", 1);
    log.data(&a, 0, PID, 0, true, 1);
    let history = TxnHistory {
        transactions: vec![txn(vec![a.clone()], ClientTxnOutcome::Committed)],
    };
    assert_eq!(
        kinds(&history, &log, &coordinators()),
        vec![ViolationKind::TxnCommittedNotVisible]
    );
    // Undecided for the producer: nothing visible is fine.
    let history = TxnHistory {
        transactions: vec![txn(vec![a], ClientTxnOutcome::Unknown)],
    };
    assert_eq!(kinds(&history, &log, &coordinators()), vec![]);
}

#[test]
fn an_aborted_transaction_that_shows_is_reported() {
    let mut log = Log::default();
    let a = rec("a", 1);
    log.data(&a, 0, PID, 0, true, 1);
    log.marker("a", 0, 0, Marker::Commit, 2);
    let history = TxnHistory {
        transactions: vec![txn(vec![a.clone()], ClientTxnOutcome::Aborted)],
    };
    assert_eq!(
        kinds(&history, &log, &coordinators()),
        vec![ViolationKind::TxnAbortedVisible]
    );
    let history = TxnHistory {
        transactions: vec![txn(vec![a], ClientTxnOutcome::Unknown)],
    };
    assert_eq!(kinds(&history, &log, &coordinators()), vec![]);
}

#[test]
fn a_transaction_committed_on_one_partition_and_aborted_on_another_is_torn() {
    let mut log = Log::default();
    let (a, b) = (rec("a", 1), rec("b", 2));
    log.data(&a, 0, PID, 0, true, 1);
    log.data(&b, 0, PID, 0, true, 1);
    log.marker("a", 0, 0, Marker::Commit, 2);
    log.marker("b", 0, 0, Marker::Abort, 2);
    for outcome in [
        ClientTxnOutcome::Committed,
        ClientTxnOutcome::Aborted,
        ClientTxnOutcome::Unknown,
    ] {
        let history = TxnHistory {
            transactions: vec![txn(vec![a.clone(), b.clone()], outcome)],
        };
        assert_eq!(
            kinds(&history, &log, &coordinators()),
            vec![ViolationKind::TxnTorn],
            "{outcome:?}"
        );
    }
}

#[test]
fn a_record_visible_twice_is_reported() {
    let mut log = Log::default();
    let a = rec("a", 1);
    log.data(&a, 0, PID, 0, true, 1);
    log.data(&a, 0, PID, 0, true, 1);
    log.marker("a", 0, 0, Marker::Commit, 2);
    let history = TxnHistory {
        transactions: vec![txn(vec![a], ClientTxnOutcome::Committed)],
    };
    assert_eq!(
        kinds(&history, &log, &coordinators()),
        vec![ViolationKind::TxnVisibleTwice]
    );
}

#[test]
fn a_transactional_producer_writing_outside_a_transaction_is_reported() {
    let mut log = Log::default();
    log.data(&rec("a", 1), 0, PID, 0, false, 1);
    let history = TxnHistory::default();
    assert_eq!(
        kinds(&history, &log, &coordinators()),
        vec![ViolationKind::TxnNonTransactional]
    );
    // The same record from an idempotent producer that is not transactional is fine.
    let mut log = Log::default();
    log.data(&rec("a", 1), 0, PID + 1, 0, false, 1);
    assert_eq!(kinds(&history, &log, &coordinators()), vec![]);
}

#[test]
fn a_fenced_epochs_later_write_must_not_show() {
    let fenced = TxnSnapshot {
        fences: vec![FenceEvent {
            transactional_id: "t".into(),
            producer_id: PID,
            epoch: 1,
            at: t(5),
        }],
        ..coordinators()
    };
    let a = rec("a", 1);
    let history = TxnHistory {
        transactions: vec![txn(vec![a.clone()], ClientTxnOutcome::Unknown)],
    };
    // Written at epoch 0 after the fence, and committed: a zombie got through.
    let mut log = Log::default();
    log.data(&a, 0, PID, 0, true, 6);
    log.marker("a", 0, 0, Marker::Commit, 7);
    assert_eq!(
        kinds(&history, &log, &fenced),
        vec![ViolationKind::TxnFencedWriteVisible]
    );
    // Written before the fence: fine.
    let mut log = Log::default();
    log.data(&a, 0, PID, 0, true, 4);
    log.marker("a", 0, 0, Marker::Commit, 4);
    assert_eq!(kinds(&history, &log, &fenced), vec![]);
    // At the new epoch after the fence: fine.
    let mut log = Log::default();
    log.data(&a, 0, PID, 1, true, 6);
    log.marker("a", 0, 1, Marker::Commit, 7);
    assert_eq!(kinds(&history, &log, &fenced), vec![]);
}

#[test]
fn offsets_are_visible_exactly_with_their_transaction() {
    let record = |outcome| TxnRecord {
        transactional_id: "t".into(),
        producer_id: PID,
        epoch: 0,
        partitions: Default::default(),
        groups: ["g".to_owned()].into_iter().collect(),
        outcome,
        timed_out: false,
        fenced: false,
        began_at: t(1),
        completed_at: Some(t(2)),
    };
    let key = ("g".to_owned(), "in".to_owned(), 0);
    let with = |offset: Option<i64>, txn: usize| TxnSnapshot {
        transactions: vec![record(TxnOutcome::Committed), record(TxnOutcome::Aborted)],
        offsets: offset
            .map(|offset| (key.clone(), CommittedOffset { offset, txn }))
            .into_iter()
            .collect(),
        ..coordinators()
    };
    let offsets = |o: i64| vec![("g".to_owned(), "in".to_owned(), 0, o)];
    let history = TxnHistory {
        transactions: vec![
            ClientTxn {
                records: Vec::new(),
                offsets: offsets(10),
                outcome: ClientTxnOutcome::Committed,
            },
            ClientTxn {
                records: Vec::new(),
                offsets: offsets(20),
                outcome: ClientTxnOutcome::Aborted,
            },
        ],
    };
    let log = Log::default();
    assert_eq!(kinds(&history, &log, &with(Some(10), 0)), vec![]);
    // The aborted transaction's offset shows.
    assert_eq!(
        kinds(&history, &log, &with(Some(20), 0)),
        vec![ViolationKind::TxnOffsets]
    );
    // The committed transaction's offset does not show.
    assert_eq!(
        kinds(&history, &log, &with(None, 0)),
        vec![ViolationKind::TxnOffsets]
    );
    // The coordinators credit it to the aborted transaction.
    assert_eq!(
        kinds(&history, &log, &with(Some(10), 1)),
        vec![ViolationKind::TxnOffsets]
    );
}
