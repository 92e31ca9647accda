//! The transaction stage against the simulated cluster (Produce) and the harness's scripted
//! coordinator (the transaction APIs): requests in order, v1 and v2, enrolment, abort, a lost
//! EndTxn answer, fencing, a moved coordinator, offsets.

use crate::harness::*;
use odradek_core::protocol::{api_key, ErrorCode};
use odradek_core::{
    GroupMetadata, ProduceError, Record, SendErrorKind, TransactionError, TransactionState,
    TxnErrorClass, TxnOffset, TxnOp,
};

fn txn_config() -> odradek_core::Config {
    let mut c = idem_config();
    c.transactional_id = Some("tx-1".to_owned());
    c
}

/// Ticks until `n` transaction outputs came (bounded).
fn until_results(h: &mut Harness, n: usize) {
    for _ in 0..2_000 {
        h.drain();
        if h.txn_results.len() >= n {
            return;
        }
        if !h.tick() {
            break;
        }
    }
    assert!(
        h.txn_results.len() >= n,
        "waited for {n} transaction outputs, got {:?}; log {:?}",
        h.txn_results,
        h.coord.as_ref().map(|c| &c.log)
    );
}

/// A transactional producer, initialized.
fn ready(v2: bool) -> Harness {
    let mut h = Harness::transactional(txn_config(), v2, &[1, 2], &[("t", &[1, 2])]);
    h.drain();
    h.core.init_transactions(h.now).expect("init");
    until_results(&mut h, 1);
    assert_eq!(h.txn_results, [(TxnOp::Init, Ok(()))]);
    assert_eq!(h.core.transaction_state(), TransactionState::Ready);
    h
}

fn log(h: &Harness) -> Vec<String> {
    h.coord.as_ref().unwrap().log.clone()
}

fn coord(h: &mut Harness) -> &mut FakeCoordinator {
    h.coord.as_mut().unwrap()
}

/// One transaction of `per_partition` records to each of t-0 and t-1, committed.
fn one_transaction(h: &mut Harness, per_partition: usize, tag: &str) {
    h.core.begin_transaction().expect("begin");
    for i in 0..per_partition {
        for p in 0..2 {
            h.send("t", Some(p), &format!("{tag}-{p}-{i}"));
        }
    }
    let n = h.txn_results.len();
    h.core.commit_transaction(h.now).expect("commit");
    until_results(h, n + 1);
    assert_eq!(h.txn_results[n], (TxnOp::Commit, Ok(())));
}

/// Every Produce entry of the log names partitions an earlier AddPartitionsToTxn enrolled
/// since the last EndTxn (v1: no batch of an unenrolled partition goes out).
fn assert_enrolled_before_produce(log: &[String]) {
    let mut enrolled: Vec<String> = Vec::new();
    for line in log {
        if line.contains(" !") {
            continue; // answered with an error: nothing happened
        } else if line.starts_with("EndTxn") {
            enrolled.clear();
        } else if let Some(list) = line.strip_prefix("AddPartitionsToTxn[") {
            for p in list.trim_end_matches(']').split(',') {
                assert!(
                    !enrolled.contains(&p.to_owned()),
                    "{p} enrolled twice: {log:?}"
                );
                enrolled.push(p.to_owned());
            }
        } else if line.starts_with("Produce") {
            for p in ["t-0", "t-1"] {
                if line.contains(&format!("{p} ")) {
                    assert!(
                        enrolled.contains(&p.to_owned()),
                        "{line} before enrolment: {log:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn v1_happy_path_requests_in_order_enrolled_once_per_transaction() {
    let mut h = ready(false);
    one_transaction(&mut h, 3, "a");
    one_transaction(&mut h, 2, "b");
    h.settle();
    let log = log(&h);
    assert_eq!(log[0], "FindCoordinator(1)");
    assert_eq!(log[1], "InitProducerId(-1,-1)");
    assert_enrolled_before_produce(&log);
    // Each partition joined each transaction once.
    let adds: usize = h
        .coord
        .as_ref()
        .unwrap()
        .seen("AddPartitionsToTxn")
        .iter()
        .map(|l| l.matches("t-").count())
        .sum();
    assert_eq!(adds, 4, "{log:?}");
    // v1: Produce at most v11, carrying the transactional id, batches flagged, epoch 0 both
    // times; EndTxn v4 ends each transaction under the same epoch.
    let produce = h.coord.as_ref().unwrap().seen("Produce");
    assert!(!produce.is_empty());
    for p in &produce {
        assert!(p.starts_with("Produce v11 id=tx-1 ["), "{p}");
        assert!(!p.contains("plain") && p.contains("txn e0"), "{p}");
    }
    assert_eq!(
        h.coord.as_ref().unwrap().seen("EndTxn"),
        ["EndTxn v4 (commit,e0)", "EndTxn v4 (commit,e0)"]
    );
    assert_eq!(h.delivered.len(), 10);
    assert!(h.failed.is_empty());
    assert_eq!(h.log("t", 0), ["a-0-0", "a-0-1", "a-0-2", "b-0-0", "b-0-1"]);
    let mut accepted = h.accepted("t", 0);
    accepted.extend(
        h.accepted("t", 1)
            .into_iter()
            .map(|(p, e, s, n)| (p + 1, e, s, n)),
    );
    assert_sequences_sound(&accepted);
}

#[test]
fn v2_happy_path_no_add_partitions_and_an_epoch_per_transaction() {
    let mut h = ready(true);
    one_transaction(&mut h, 2, "a");
    one_transaction(&mut h, 2, "b");
    one_transaction(&mut h, 1, "c");
    h.settle();
    let c = h.coord.as_ref().unwrap();
    assert!(c.seen("AddPartitionsToTxn").is_empty(), "{:?}", c.log);
    assert_eq!(
        c.seen("EndTxn"),
        [
            "EndTxn v5 (commit,e0)",
            "EndTxn v5 (commit,e1)",
            "EndTxn v5 (commit,e2)"
        ]
    );
    // Produce v12 enrolls; each transaction's batches carry the epoch EndTxn returned.
    let produce = c.seen("Produce");
    for p in &produce {
        assert!(p.starts_with("Produce v12 id=tx-1 ["), "{p}");
        assert!(!p.contains("plain"), "{p}");
    }
    let epochs: Vec<i16> = h.accepted("t", 0).iter().map(|b| b.1).collect();
    assert_eq!(epochs, [0, 0, 1, 1, 2]);
    // A new epoch starts its sequences at 0.
    assert_sequences_sound(&h.accepted("t", 0));
    assert_sequences_sound(&h.accepted("t", 1));
    assert_eq!(h.delivered.len(), 10);
    assert_eq!(h.log("t", 1), ["a-1-0", "a-1-1", "b-1-0", "b-1-1", "c-1-0"]);
}

#[test]
fn usage_errors_are_refused_and_change_nothing() {
    let mut h = Harness::transactional(txn_config(), true, &[1], &[("t", &[1])]);
    h.drain();
    assert!(matches!(
        h.core.begin_transaction(),
        Err(TransactionError::InvalidState(_))
    ));
    let refused = h.core.send(Record::new("t").value("x"), h.now).unwrap_err();
    assert!(matches!(
        &refused.kind,
        SendErrorKind::Transaction(e) if e.class() == TxnErrorClass::Usage
    ));
    assert!(h.core.commit_transaction(h.now).is_err());
    assert!(h.core.abort_transaction(h.now).is_err());
    h.core.init_transactions(h.now).unwrap();
    assert!(h.core.init_transactions(h.now).is_err(), "init twice");
    until_results(&mut h, 1);
    // Ready, no transaction open: sends are refused until begin.
    assert!(h.core.send(Record::new("t").value("x"), h.now).is_err());
    assert_eq!(h.core.pending_records(), 0);
    h.core.begin_transaction().unwrap();
    assert!(h.core.begin_transaction().is_err(), "begin twice");
    // A producer without a transactional id has no transactions.
    let mut plain = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    assert_eq!(
        plain.core.init_transactions(plain.now),
        Err(TransactionError::NotTransactional)
    );
    assert_eq!(
        plain.core.transaction_state(),
        TransactionState::NotTransactional
    );
    plain.send("t", Some(0), "plain");
    plain.settle();
    assert_eq!(plain.delivered.len(), 1);
}

#[test]
fn abort_fails_unsent_records_waits_for_in_flight_ones_then_ends() {
    for v2 in [false, true] {
        let mut c = txn_config();
        c.linger = std::time::Duration::from_secs(60);
        c.batch_num_messages = 100;
        let mut h = Harness::transactional(c, v2, &[1, 2], &[("t", &[1, 2])]);
        h.drain();
        h.core.init_transactions(h.now).unwrap();
        until_results(&mut h, 1);
        h.core.begin_transaction().unwrap();
        // In flight: answers held.
        h.defer(true);
        let in_flight = h.send("t", Some(0), "in-flight");
        h.core.flush(h.now);
        h.drain();
        assert_eq!(h.deferred(), 1, "v2={v2}: the first record is in flight");
        // Not sent: a long linger keeps the next ones in their open batch.
        let mut unsent = Vec::new();
        for i in 0..3 {
            unsent.push(h.send("t", Some(1), &format!("unsent-{i}")));
        }
        h.core.abort_transaction(h.now).expect("abort");
        h.drain();
        for id in &unsent {
            match h.failed.get(id) {
                Some((ProduceError::TransactionAborted, _)) => {}
                other => panic!("v2={v2}: {id:?} -> {other:?}"),
            }
        }
        assert!(
            h.coord.as_ref().unwrap().seen("EndTxn").is_empty(),
            "waits for in flight"
        );
        assert_eq!(h.core.transaction_state(), TransactionState::Aborting);
        h.defer(false);
        while h.release_one() {}
        until_results(&mut h, 2);
        assert_eq!(h.txn_results[1], (TxnOp::Abort, Ok(())), "v2={v2}");
        assert!(h.delivered.contains_key(&in_flight));
        let ends = h.coord.as_ref().unwrap().seen("EndTxn");
        assert_eq!(ends.len(), 1, "{ends:?}");
        assert!(ends[0].contains("(abort,e0)"), "{ends:?}");
        assert_eq!(h.core.pending_records(), 0);
        // The producer is usable again.
        one_transaction(&mut h, 1, "after");
        h.settle();
        assert_eq!(h.log("t", 0), ["in-flight", "after-0-0"], "v2={v2}");
        assert_eq!(h.log("t", 1), ["after-1-0"], "v2={v2}");
    }
}

#[test]
fn lost_end_txn_answer_is_retried_until_committed_once_and_abort_is_refused_meanwhile() {
    for v2 in [false, true] {
        let mut h = ready(v2);
        h.core.begin_transaction().unwrap();
        h.send("t", Some(0), "x");
        coord(&mut h).script(api_key::END_TXN, Act::Swallow);
        h.core.commit_transaction(h.now).unwrap();
        let mut saw_unknown = false;
        for _ in 0..2_000 {
            if h.txn_results.len() > 1 {
                break;
            }
            if h.core.transaction_state()
                == (TransactionState::Committing {
                    outcome_unknown: true,
                })
            {
                saw_unknown = true;
                // KAFKA-17754: it may have committed, so it cannot be aborted.
                let refused = h.core.abort_transaction(h.now);
                assert!(
                    matches!(&refused, Err(e) if e.class() == TxnErrorClass::Usage),
                    "{refused:?}"
                );
                assert!(h.core.send(Record::new("t").value("y"), h.now).is_err());
            }
            assert!(h.tick());
        }
        assert!(
            saw_unknown,
            "v2={v2}: the lost answer left the outcome unknown"
        );
        assert_eq!(h.txn_results[1], (TxnOp::Commit, Ok(())), "v2={v2}");
        let c = h.coord.as_ref().unwrap();
        assert_eq!(c.seen("EndTxn").len(), 2, "sent twice: {:?}", c.log);
        assert_eq!(c.ended, [(true, 0)], "committed once");
        // v2: the retry's answer still carried the bumped epoch, used next.
        one_transaction(&mut h, 1, "next");
        let want = if v2 { 1 } else { 0 };
        assert_eq!(h.accepted("t", 1).last().map(|b| b.1), Some(want));
    }
}

#[test]
fn fenced_by_a_newer_producer_is_fatal_and_refuses_everything_after() {
    let mut h = ready(false);
    h.core.begin_transaction().unwrap();
    h.send("t", Some(0), "x");
    h.settle();
    // A second producer with the same transactional id: InitProducerId bumps the epoch.
    coord(&mut h).epoch += 1;
    h.send("t", Some(0), "y");
    h.core.commit_transaction(h.now).unwrap();
    until_results(&mut h, 2);
    let (op, result) = h.txn_results[1].clone();
    assert_eq!(op, TxnOp::Commit);
    let e = result.unwrap_err();
    assert_eq!(e.class(), TxnErrorClass::Fatal);
    assert!(e.is_fenced(), "{e}");
    assert!(matches!(
        h.core.transaction_state(),
        TransactionState::FatalError(_)
    ));
    assert_eq!(h.core.begin_transaction(), Err(e.clone()));
    assert_eq!(h.core.abort_transaction(h.now), Err(e.clone()));
    assert_eq!(h.core.commit_transaction(h.now), Err(e.clone()));
    let refused = h.core.send(Record::new("t").value("z"), h.now).unwrap_err();
    assert_eq!(refused.kind, SendErrorKind::Transaction(e));
    assert_eq!(h.core.pending_records(), 0);
}

#[test]
fn fenced_at_init_is_fatal() {
    let mut h = Harness::transactional(txn_config(), true, &[1], &[("t", &[1])]);
    coord(&mut h).script(
        api_key::INIT_PRODUCER_ID,
        Act::Error(ErrorCode::PRODUCER_FENCED.0),
    );
    h.drain();
    h.core.init_transactions(h.now).unwrap();
    until_results(&mut h, 1);
    let e = h.txn_results[0].1.clone().unwrap_err();
    assert!(e.is_fenced() && e.class() == TxnErrorClass::Fatal, "{e}");
    assert!(h.core.begin_transaction().is_err());
}

#[test]
fn coordinator_moved_is_found_again() {
    let mut h = ready(false);
    h.core.begin_transaction().unwrap();
    // The coordinator moves to node 2: node 1 answers NOT_COORDINATOR from now on.
    coord(&mut h).node = 2;
    h.send("t", Some(0), "x");
    h.send("t", Some(1), "y");
    h.core.commit_transaction(h.now).unwrap();
    until_results(&mut h, 2);
    assert_eq!(h.txn_results[1], (TxnOp::Commit, Ok(())));
    let c = h.coord.as_ref().unwrap();
    assert_eq!(c.seen("FindCoordinator(1)").len(), 2, "{:?}", c.log);
    assert_enrolled_before_produce(&c.log);
    assert_eq!(c.ended, [(true, 0)]);
    assert_eq!(h.delivered.len(), 2);
}

#[test]
fn retriable_coordinator_errors_are_retried_after_backoff() {
    let mut h = ready(false);
    coord(&mut h).script(
        api_key::ADD_PARTITIONS_TO_TXN,
        Act::Error(ErrorCode::CONCURRENT_TRANSACTIONS.0),
    );
    coord(&mut h).script(
        api_key::END_TXN,
        Act::Error(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.0),
    );
    one_transaction(&mut h, 1, "a");
    let c = h.coord.as_ref().unwrap();
    assert_eq!(c.seen("AddPartitionsToTxn").len(), 2, "{:?}", c.log);
    assert_eq!(c.seen("EndTxn").len(), 2, "{:?}", c.log);
    assert_eq!(c.ended, [(true, 0)]);
}

#[test]
fn abortable_error_fails_the_commit_and_abort_recovers() {
    let mut h = ready(false);
    coord(&mut h).script(
        api_key::ADD_PARTITIONS_TO_TXN,
        Act::Error(ErrorCode::TOPIC_AUTHORIZATION_FAILED.0),
    );
    h.core.begin_transaction().unwrap();
    let id = h.send("t", Some(0), "x");
    // The AddPartitionsToTxn answer made the transaction abortable: commit is refused.
    let e = h.core.commit_transaction(h.now).unwrap_err();
    assert_eq!(e.class(), TxnErrorClass::Abortable, "{e}");
    assert_eq!(h.txn_results.len(), 1);
    assert!(matches!(
        h.core.transaction_state(),
        TransactionState::AbortableError(_)
    ));
    assert!(h.core.send(Record::new("t").value("y"), h.now).is_err());
    h.core.abort_transaction(h.now).unwrap();
    until_results(&mut h, 2);
    assert_eq!(h.txn_results[1], (TxnOp::Abort, Ok(())));
    assert!(matches!(
        h.failed.get(&id),
        Some((ProduceError::TransactionAborted, _))
    ));
    one_transaction(&mut h, 1, "after");
    assert_eq!(h.log("t", 0), ["after-0-0"]);
}

#[test]
fn offsets_join_the_transaction_v1_and_v2() {
    for v2 in [false, true] {
        let mut h = ready(v2);
        h.core.begin_transaction().unwrap();
        h.send("t", Some(0), "x");
        let group = GroupMetadata {
            group_id: "g".to_owned(),
            generation_id: 7,
            member_id: "m-1".to_owned(),
            group_instance_id: Some("i-1".to_owned()),
        };
        let offsets = vec![TxnOffset {
            topic: "in".to_owned(),
            partition: 3,
            offset: 42,
            leader_epoch: Some(5),
            metadata: None,
        }];
        h.core
            .send_offsets_to_transaction(offsets, group, h.now)
            .unwrap();
        until_results(&mut h, 2);
        assert_eq!(h.txn_results[1], (TxnOp::SendOffsets, Ok(())), "v2={v2}");
        h.core.commit_transaction(h.now).unwrap();
        until_results(&mut h, 3);
        assert_eq!(h.txn_results[2], (TxnOp::Commit, Ok(())));
        let c = h.coord.as_ref().unwrap();
        let commit = &c.offset_commits[0];
        assert_eq!(
            (commit.generation_id, commit.member_id.as_str()),
            (7, "m-1")
        );
        assert_eq!(commit.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(commit.topics[0].partitions[0].committed_offset, 42);
        assert_eq!(commit.topics[0].partitions[0].committed_leader_epoch, 5);
        if v2 {
            assert!(c.seen("AddOffsetsToTxn").is_empty(), "{:?}", c.log);
            assert_eq!(c.seen("TxnOffsetCommit"), ["TxnOffsetCommit v5 (g)"]);
        } else {
            assert_eq!(c.seen("AddOffsetsToTxn"), ["AddOffsetsToTxn(g)"]);
            assert_eq!(c.seen("FindCoordinator(0)").len(), 1, "{:?}", c.log);
            assert_eq!(c.seen("TxnOffsetCommit"), ["TxnOffsetCommit v4 (g)"]);
        }
    }
}

#[test]
fn lost_producer_state_makes_the_transaction_abortable_and_the_abort_bumps_the_epoch() {
    // KIP-360 (v1): UNKNOWN_PRODUCER_ID inside a transaction cannot be fixed by a local
    // bump; the transaction is abortable, and the abort is followed by InitProducerId with
    // the current id and epoch, which bumps it. The next transaction starts at sequence 0.
    let mut h = ready(false);
    one_transaction(&mut h, 1, "a");
    h.lose_producer_state("t", 0);
    h.core.begin_transaction().unwrap();
    h.send("t", Some(0), "b");
    for _ in 0..50 {
        if matches!(
            h.core.transaction_state(),
            TransactionState::AbortableError(_)
        ) {
            break;
        }
        assert!(h.tick());
    }
    let TransactionState::AbortableError(e) = h.core.transaction_state() else {
        panic!("{:?}", h.core.transaction_state());
    };
    assert_eq!(e.class(), TxnErrorClass::Abortable, "{e}");
    assert!(h.core.commit_transaction(h.now).is_err());
    h.core.abort_transaction(h.now).unwrap();
    until_results(&mut h, 3);
    assert_eq!(h.txn_results[2], (TxnOp::Abort, Ok(())));
    let c = h.coord.as_ref().unwrap();
    assert_eq!(
        c.seen("InitProducerId"),
        ["InitProducerId(-1,-1)", "InitProducerId(5000,0)"],
        "{:?}",
        c.log
    );
    assert_eq!(c.epoch, 1);
    assert_eq!(h.core.pending_records(), 0);
    one_transaction(&mut h, 1, "c");
    h.settle();
    assert_eq!(h.log("t", 0), ["a-0-0", "c-0-0"]);
    assert_eq!(h.accepted("t", 0).last(), Some(&(5000, 1, 0, 1)));
}

#[test]
fn malformed_coordinator_answers_drop_the_connection_and_are_retried_without_panic() {
    for v2 in [false, true] {
        let mut h = ready(v2);
        // Every transaction answer the stage reads, cut short or garbled once.
        for (key, garbage) in [
            (api_key::ADD_PARTITIONS_TO_TXN, &[0u8, 0, 0][..]),
            (api_key::ADD_OFFSETS_TO_TXN, &[0xff; 40][..]),
            (
                api_key::TXN_OFFSET_COMMIT,
                &[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff][..],
            ),
            (api_key::END_TXN, &[][..]),
        ] {
            coord(&mut h).script(key, Act::Garbage(garbage));
        }
        h.core.begin_transaction().unwrap();
        h.send("t", Some(0), "x");
        let offsets = vec![TxnOffset {
            topic: "in".to_owned(),
            partition: 0,
            offset: 1,
            leader_epoch: None,
            metadata: None,
        }];
        h.core
            .send_offsets_to_transaction(offsets, GroupMetadata::new("g"), h.now)
            .unwrap();
        until_results(&mut h, 2);
        assert_eq!(h.txn_results[1], (TxnOp::SendOffsets, Ok(())), "v2={v2}");
        h.core.commit_transaction(h.now).unwrap();
        until_results(&mut h, 3);
        assert_eq!(h.txn_results[2], (TxnOp::Commit, Ok(())), "v2={v2}");
        let c = h.coord.as_ref().unwrap();
        assert_eq!(c.ended, [(true, 0)], "committed once: {:?}", c.log);
        assert_eq!(c.seen("EndTxn").len(), 2, "{:?}", c.log);
        assert!(
            h.disconnects >= if v2 { 2 } else { 4 },
            "each malformed answer dropped its connection: {} {:?}",
            h.disconnects,
            c.log
        );
        h.settle();
        assert_eq!(h.log("t", 0), ["x"]);
    }
}

#[test]
fn invalid_producer_epoch_from_a_leader_is_abortable_not_fatal_for_a_transactional_producer() {
    let mut h = ready(false);
    h.core.begin_transaction().unwrap();
    h.fault("t", 0, Fault::Error(ErrorCode::INVALID_PRODUCER_EPOCH));
    let id = h.send("t", Some(0), "x");
    h.settle();
    assert!(matches!(
        h.failed.get(&id),
        Some((ProduceError::Broker(ErrorCode::INVALID_PRODUCER_EPOCH), _))
    ));
    let TransactionState::AbortableError(e) = h.core.transaction_state() else {
        panic!("{:?}", h.core.transaction_state());
    };
    assert_eq!(e.class(), TxnErrorClass::Abortable);
    h.core.abort_transaction(h.now).unwrap();
    until_results(&mut h, 2);
    assert_eq!(h.txn_results[1], (TxnOp::Abort, Ok(())));
    // The abort bumped the epoch (KIP-360), and the producer goes on under it.
    assert_eq!(h.coord.as_ref().unwrap().epoch, 1);
    one_transaction(&mut h, 1, "after");
    assert_eq!(h.accepted("t", 0).last(), Some(&(5000, 1, 0, 1)));
}

#[test]
fn v2_lost_producer_state_is_aborted_and_the_end_txn_epoch_restarts_the_sequences() {
    let mut h = ready(true);
    one_transaction(&mut h, 1, "a");
    h.core.begin_transaction().unwrap();
    // Each v2 transaction starts a new epoch at sequence 0: the state is lost mid-way.
    h.send("t", Some(0), "b");
    h.settle();
    h.lose_producer_state("t", 0);
    h.send("t", Some(0), "b2");
    for _ in 0..50 {
        if matches!(
            h.core.transaction_state(),
            TransactionState::AbortableError(_)
        ) {
            break;
        }
        assert!(h.tick());
    }
    h.core.abort_transaction(h.now).unwrap();
    until_results(&mut h, 3);
    assert_eq!(h.txn_results[2], (TxnOp::Abort, Ok(())));
    let c = h.coord.as_ref().unwrap();
    // v2: EndTxn(abort) v5 bumps the epoch; no InitProducerId is needed for it.
    assert_eq!(c.seen("InitProducerId").len(), 1, "{:?}", c.log);
    assert_eq!(
        c.seen("EndTxn").last().map(String::as_str),
        Some("EndTxn v5 (abort,e1)")
    );
    one_transaction(&mut h, 1, "c");
    h.settle();
    // "b" is in the log (aborted: a read_committed consumer skips it), "b2" never was.
    assert_eq!(h.log("t", 0), ["a-0-0", "b", "c-0-0"]);
    assert_eq!(h.accepted("t", 0).last(), Some(&(5000, 2, 0, 1)));
}

#[test]
fn abortable_coordinator_error_during_an_abort_retries_the_end_txn_not_fatal() {
    for v2 in [false, true] {
        let mut h = ready(v2);
        coord(&mut h).script(
            api_key::END_TXN,
            Act::Error(ErrorCode::TRANSACTION_ABORTABLE.0),
        );
        h.core.begin_transaction().unwrap();
        let id = h.send("t", Some(0), "x");
        // Delivered first, so the coordinator knows the transaction and the abort needs EndTxn.
        for _ in 0..2_000 {
            h.drain();
            if h.delivered.contains_key(&id) || !h.tick() {
                break;
            }
        }
        assert!(h.delivered.contains_key(&id), "v2 {v2}: {:?}", log(&h));
        h.core.abort_transaction(h.now).unwrap();
        until_results(&mut h, 2);
        // The abort went on (the EndTxn sent again after the backoff) and ended: the producer
        // is usable, not fatal as it was when the abortable answer was taken for a fatal one.
        assert_eq!(h.txn_results[1], (TxnOp::Abort, Ok(())), "v2 {v2}");
        assert_eq!(h.core.transaction_state(), TransactionState::Ready);
        let c = h.coord.as_ref().unwrap();
        assert_eq!(c.seen("EndTxn").len(), 2, "v2 {v2}: {:?}", c.log);
        assert_eq!(c.ended.len(), 1, "v2 {v2}: {:?}", c.log);
        assert!(!c.ended[0].0, "v2 {v2}: an abort: {:?}", c.log);
        one_transaction(&mut h, 1, "after");
        assert_eq!(h.log("t", 0).last().map(String::as_str), Some("after-0-0"));
    }
}

/// The coordinator's broker is killed mid-commit, as in the chaos run (issue 23): its
/// connection is lost (with the EndTxn in flight, or idle before the commit), every reconnect
/// is refused, the metadata still names it, and the coordinator has moved to node 2. The
/// commit completes through a new FindCoordinator, with no user action (it dialled the dead
/// broker until its timeout before).
#[test]
fn coordinator_broker_killed_mid_commit_is_looked_up_again() {
    for (v2, in_flight) in [(false, true), (true, true), (false, false), (true, false)] {
        let case = format!("v2={v2} end_txn_in_flight={in_flight}");
        // The partitions' leader is node 2: only the coordinator is on the killed broker.
        let mut h = Harness::transactional(txn_config(), v2, &[1, 2], &[("t", &[2, 2])]);
        h.drain();
        h.core.init_transactions(h.now).expect("init");
        until_results(&mut h, 1);
        h.core.begin_transaction().unwrap();
        h.send("t", Some(0), "x");
        h.send("t", Some(1), "y");
        h.settle();
        if in_flight {
            coord(&mut h).script(api_key::END_TXN, Act::Swallow);
            h.core.commit_transaction(h.now).unwrap();
            h.drain();
            assert_eq!(
                coord(&mut h).seen("EndTxn").len(),
                1,
                "{case}: {:?}",
                log(&h)
            );
        }
        h.kill_broker(1);
        coord(&mut h).node = 2;
        if !in_flight {
            h.core.commit_transaction(h.now).unwrap();
        }
        let refused_before = h.connects;
        until_results(&mut h, 2);
        assert_eq!(h.txn_results[1], (TxnOp::Commit, Ok(())), "{case}");
        let c = h.coord.as_ref().unwrap();
        assert_eq!(c.seen("FindCoordinator(1)").len(), 2, "{case}: {:?}", c.log);
        assert_eq!(c.ended, [(true, 0)], "{case}: committed once");
        assert_eq!(h.delivered.len(), 2, "{case}");
        // It did not keep dialling the dead broker.
        assert!(
            h.connects - refused_before <= 3,
            "{case}: {} connects",
            h.connects - refused_before
        );
        assert_eq!(
            h.core.transaction_state(),
            TransactionState::Ready,
            "{case}"
        );
    }
}
