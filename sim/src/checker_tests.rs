//! The checker on fabricated histories: it passes a correct one and reports each planted
//! violation.

use super::*;
use odradek_core::protocol::ErrorCode;
use odradek_core::TopicName;

fn t(ms: u64) -> Instant {
    crate::SIM_EPOCH + std::time::Duration::from_millis(ms)
}

fn rec(n: u64) -> Record {
    Record::new("a")
        .key(format!("k{n}"))
        .value(n.to_be_bytes().to_vec())
}

fn stored(r: &Record, offset: i64, append: usize) -> StoredRecord {
    StoredRecord {
        offset,
        timestamp: 1000 + offset,
        key: r.key.clone(),
        value: r.value.clone(),
        headers: r.headers.clone(),
        append,
        producer_id: -1,
        producer_epoch: -1,
        sequence: -1,
        transactional: false,
        control: None,
    }
}

fn append(partition: i32, base: i64, count: usize, fate: AppendFate) -> AppendInfo {
    AppendInfo {
        topic: "a".into(),
        partition,
        base_offset: base,
        count,
        broker: 1,
        conn: odradek_core::ConnId(1),
        at: t(1),
        fate,
        hostile_offset: false,
    }
}

fn delivered(id: u64, partition: i32, offset: i64) -> (Instant, Observed) {
    (
        t(2),
        Observed::Delivered {
            id: RecordId(id),
            metadata: RecordMetadata {
                topic: TopicName::from("a"),
                partition,
                offset,
                timestamp: 1000 + offset,
            },
            record: None,
        },
    )
}

fn options() -> CheckOptions {
    CheckOptions {
        acks: Acks::All,
        expect_all_delivered: false,
        topics: [("a".to_owned(), 2)].into_iter().collect(),
        key_consistency: true,
        message_max_bytes: 1 << 20,
        outcome_deadline: None,
        idempotent: false,
        write_deadline: None,
        healed_at: None,
        retry_backoff: None,
        metadata_refresh_within: None,
        broker_outages: Vec::new(),
        close_within: None,
        close_after_delivery_within: None,
        duplicate_answers: false,
        broker_max_batch_bytes: None,
        invalid_record_ppm: 0,
        fenced_at: None,
        closed_now_at: None,
    }
}

/// Three records: #0 and #1 to partition 0 (offsets 0, 1), #2 to partition 1 (offset 0).
fn good() -> (History, LogSnapshot) {
    let rs: Vec<Record> = (0..3).map(rec).collect();
    let history = History {
        sent: rs
            .iter()
            .enumerate()
            .map(|(i, r)| SentRecord {
                id: RecordId(i as u64),
                record: r.clone(),
                at: t(0),
            })
            .collect(),
        refused: Vec::new(),
        outputs: vec![
            (t(0), Observed::Network),
            delivered(0, 0, 0),
            delivered(2, 1, 0),
            delivered(1, 0, 1),
            (t(3), Observed::Closed),
        ],
        wire: Vec::new(),
        client: Vec::new(),
        close_at: None,
    };
    let mut logs = LogSnapshot::default();
    logs.logs.insert(
        ("a".into(), 0),
        vec![stored(&rs[0], 0, 0), stored(&rs[1], 1, 0)],
    );
    logs.logs
        .insert(("a".into(), 1), vec![stored(&rs[2], 0, 1)]);
    logs.appends = vec![
        append(0, 0, 2, AppendFate::Acknowledged(t(2))),
        append(1, 0, 1, AppendFate::Acknowledged(t(2))),
    ];
    (history, logs)
}

fn kinds(r: &CheckReport) -> Vec<ViolationKind> {
    r.violations.iter().map(|v| v.kind).collect()
}

#[test]
fn a_correct_history_passes() {
    let (h, l) = good();
    let r = check(&h, &l, &options());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!((r.delivered, r.failed, r.duplicates), (3, 0, 0));
}

#[test]
fn out_of_order_delivery_is_reported() {
    let (mut h, mut l) = good();
    // #0 and #1 swapped in the log and in the reported offsets: #1 was appended first.
    let rs: Vec<Record> = (0..3).map(rec).collect();
    l.logs.insert(
        ("a".into(), 0),
        vec![stored(&rs[1], 0, 0), stored(&rs[0], 1, 0)],
    );
    h.outputs[1] = delivered(0, 0, 1);
    h.outputs[3] = delivered(1, 0, 0);
    let r = check(&h, &l, &options());
    assert_eq!(
        kinds(&r),
        vec![ViolationKind::OutOfOrder],
        "{:?}",
        r.violations
    );
}

#[test]
fn missing_and_duplicate_outcomes_are_reported() {
    let (mut h, l) = good();
    let second = h.outputs[1].clone();
    h.outputs.remove(2); // #2 never gets an outcome
    h.outputs.insert(2, second); // #0 gets two
    let r = check(&h, &l, &options());
    let k = kinds(&r);
    assert!(k.contains(&ViolationKind::MissingOutcome), "{k:?}");
    assert!(k.contains(&ViolationKind::DuplicateOutcome), "{k:?}");
}

#[test]
fn closed_must_come_once_and_last() {
    let (mut h, l) = good();
    h.outputs.push((t(4), Observed::Network));
    assert_eq!(
        kinds(&check(&h, &l, &options())),
        vec![ViolationKind::Close]
    );
    let (mut h, l) = good();
    h.outputs.pop();
    assert_eq!(
        kinds(&check(&h, &l, &options())),
        vec![ViolationKind::Close]
    );
    let (mut h, l) = good();
    h.outputs.push((t(4), Observed::Closed));
    assert_eq!(
        kinds(&check(&h, &l, &options())),
        vec![ViolationKind::Close]
    );
}

#[test]
fn duplicates_are_counted_and_must_be_explained() {
    // #2 appended twice to partition 1: first copy's response was lost, second delivered.
    let (mut h, mut l) = good();
    let r2 = rec(2);
    l.logs
        .insert(("a".into(), 1), vec![stored(&r2, 0, 2), stored(&r2, 1, 1)]);
    l.appends.push(append(1, 0, 1, AppendFate::ResponseLost));
    h.outputs[2] = delivered(2, 1, 1);
    let r = check(&h, &l, &options());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.duplicates, 1);

    // The same, but the first copy's success was acknowledged before the outcome: the core
    // got an offset and reported another one.
    l.appends[2].fate = AppendFate::Acknowledged(t(1));
    let r = check(&h, &l, &options());
    assert_eq!(kinds(&r), vec![ViolationKind::UnexplainedDuplicate]);

    // After-append errors explain it too.
    l.appends[2].fate = AppendFate::ErrorAfterAppend;
    assert!(check(&h, &l, &options()).violations.is_empty());
}

#[test]
fn wrong_content_phantoms_and_missing_offsets_are_reported() {
    let (h, mut l) = good();
    let log = l.logs.get_mut(&("a".into(), 0)).unwrap();
    log[1].value = Some(Bytes::from_static(b"tampered"));
    let k = kinds(&check(&h, &l, &options()));
    assert!(k.contains(&ViolationKind::WrongContent), "{k:?}");
    assert!(k.contains(&ViolationKind::PhantomRecord), "{k:?}");

    let (h, mut l) = good();
    l.logs.get_mut(&("a".into(), 0)).unwrap().pop();
    assert_eq!(
        kinds(&check(&h, &l, &options())),
        vec![ViolationKind::NotInLog]
    );
}

#[test]
fn failures_are_judged_by_what_could_explain_them() {
    let (mut h, l) = good();
    let r2 = rec(2);
    h.outputs[2] = (
        t(2),
        Observed::Failed {
            id: RecordId(2),
            error: ProduceError::RetriesExhausted(RetryCause::Broker(
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
            )),
            record: r2.clone(),
        },
    );
    let mut l2 = l.clone();
    l2.logs.insert(("a".into(), 1), Vec::new());
    // Retries exhausted is fine under faults...
    let r = check(&h, &l2, &options());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.failed, 1);
    // ...but not when nothing could go wrong.
    let strict = CheckOptions {
        expect_all_delivered: true,
        ..options()
    };
    assert_eq!(
        kinds(&check(&h, &l2, &strict)),
        vec![ViolationKind::UnexpectedFailure]
    );
    // A delivery timeout naming a malformed answer is one under faults; a failure to connect
    // never is here (every broker takes connections in this history).
    let connection = |kind| {
        ProduceError::Connection(odradek_core::ConnectionError {
            broker: "broker 1 (broker-1:9092)".into(),
            kind,
            detail: "base offset past i64::MAX".into(),
        })
    };
    if let Observed::Failed { error, .. } = &mut h.outputs[2].1 {
        *error = connection(odradek_core::ConnectionErrorKind::MalformedResponse);
    }
    let r = check(&h, &l2, &options());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(
        kinds(&check(&h, &l2, &strict)),
        vec![ViolationKind::UnexpectedFailure]
    );
    if let Observed::Failed { error, .. } = &mut h.outputs[2].1 {
        *error = connection(odradek_core::ConnectionErrorKind::ConnectFailed);
    }
    assert_eq!(
        kinds(&check(&h, &l2, &options())),
        vec![ViolationKind::UnexpectedFailure]
    );
    // A retriable code reported as a fatal broker error is a bug.
    if let Observed::Failed { error, .. } = &mut h.outputs[2].1 {
        *error = ProduceError::Broker(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    }
    assert_eq!(
        kinds(&check(&h, &l2, &options())),
        vec![ViolationKind::UnexpectedFailure]
    );
    // A failed record whose success was acknowledged before the failure is a bug; one in the
    // log through a lost response is not.
    if let Observed::Failed { error, .. } = &mut h.outputs[2].1 {
        *error = ProduceError::DeliveryTimeout;
    }
    let r = check(&h, &l, &options());
    assert_eq!(kinds(&r), vec![ViolationKind::UnexplainedDuplicate]);
    let mut l3 = l.clone();
    l3.appends[1].fate = AppendFate::ResponseLost;
    let r = check(&h, &l3, &options());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.failed_but_written, 1);
}

#[test]
fn keys_must_stay_on_one_partition_and_records_come_back_unchanged() {
    let (mut h, mut l) = good();
    // #2 gets #0's key but lands on partition 1.
    let mut r2 = rec(2);
    r2.key = rec(0).key;
    h.sent[2].record = r2.clone();
    h.outputs[2] = delivered(2, 1, 0);
    l.logs.insert(("a".into(), 1), vec![stored(&r2, 0, 1)]);
    assert_eq!(
        kinds(&check(&h, &l, &options())),
        vec![ViolationKind::KeyInconsistency]
    );
    let relaxed = CheckOptions {
        key_consistency: false,
        ..options()
    };
    assert!(check(&h, &l, &relaxed).violations.is_empty());
    // A record handed back (with a failure) must be the one sent, timestamp included.
    let mut changed = r2.clone();
    changed.value = Some(Bytes::from_static(b"other"));
    let failed = |record| Observed::Failed {
        id: RecordId(2),
        error: ProduceError::DeliveryTimeout,
        record,
    };
    h.outputs[2] = (t(2), failed(changed));
    assert!(kinds(&check(&h, &l, &relaxed)).contains(&ViolationKind::RecordChanged));
    let mut stamped = r2.clone();
    stamped.timestamp = Some(7);
    h.outputs[2] = (t(2), failed(stamped));
    assert!(kinds(&check(&h, &l, &relaxed)).contains(&ViolationKind::RecordChanged));
    h.outputs[2] = (t(2), failed(r2.clone()));
    assert!(!kinds(&check(&h, &l, &relaxed)).contains(&ViolationKind::RecordChanged));
    // So must a delivered record handed back (`return_successes`).
    let mut d = delivered(2, 1, 0);
    if let Observed::Delivered { record, .. } = &mut d.1 {
        let mut other = r2.clone();
        other.value = Some(Bytes::from_static(b"other"));
        *record = Some(other);
    }
    h.outputs[2] = d;
    assert!(kinds(&check(&h, &l, &relaxed)).contains(&ViolationKind::RecordChanged));
}

#[test]
fn acks_zero_is_checked_loosely() {
    let (mut h, mut l) = good();
    for (_, o) in &mut h.outputs {
        if let Observed::Delivered { metadata, .. } = o {
            metadata.offset = -1;
        }
    }
    // #1 never made it to the log: fine with acks=0.
    l.logs.get_mut(&("a".into(), 0)).unwrap().pop();
    let loose = CheckOptions {
        acks: Acks::None,
        ..options()
    };
    let r = check(&h, &l, &loose);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    // A record stored twice under acks=0 is not explained by anything.
    let r0 = rec(0);
    l.logs
        .get_mut(&("a".into(), 0))
        .unwrap()
        .push(stored(&r0, 1, 0));
    assert_eq!(
        kinds(&check(&h, &l, &loose)),
        vec![ViolationKind::UnexplainedDuplicate]
    );
}

#[test]
fn an_outcome_after_delivery_timeout_plus_request_timeout_is_late() {
    let (mut h, l) = good();
    let bounded = CheckOptions {
        outcome_deadline: Some(std::time::Duration::from_millis(10)),
        ..options()
    };
    assert!(check(&h, &l, &bounded).violations.is_empty());
    // #1's outcome 12 ms after its send.
    h.outputs[3].0 = t(12);
    assert_eq!(
        kinds(&check(&h, &l, &bounded)),
        vec![ViolationKind::LateOutcome]
    );
    // A failure is as late as a delivery; without a delivery timeout there is no bound.
    h.outputs[3] = (
        t(12),
        Observed::Failed {
            id: RecordId(1),
            error: ProduceError::DeliveryTimeout,
            record: rec(1),
        },
    );
    let mut l2 = l.clone();
    l2.logs.get_mut(&("a".into(), 0)).unwrap().pop();
    assert_eq!(
        kinds(&check(&h, &l2, &bounded)),
        vec![ViolationKind::LateOutcome]
    );
    assert!(check(&h, &l2, &options()).violations.is_empty());
}

fn idempotent_logs(seqs: &[(i16, i32)]) -> (History, LogSnapshot) {
    let (h, mut l) = good();
    let p0 = l.logs.get_mut(&("a".into(), 0)).unwrap();
    for (r, (epoch, seq)) in p0.iter_mut().zip(seqs) {
        r.producer_id = 7;
        r.producer_epoch = *epoch;
        r.sequence = *seq;
    }
    let p1 = l.logs.get_mut(&("a".into(), 1)).unwrap();
    p1[0].producer_id = 7;
    p1[0].producer_epoch = 0;
    p1[0].sequence = 0;
    (h, l)
}

#[test]
fn with_idempotence_sequences_are_contiguous_per_epoch() {
    let idem = CheckOptions {
        idempotent: true,
        ..options()
    };
    for ok in [[(0, 0), (0, 1)], [(0, 5), (1, 0)], [(0, i32::MAX), (0, 0)]] {
        let (h, l) = idempotent_logs(&ok);
        let r = check(&h, &l, &idem);
        assert!(r.violations.is_empty(), "{ok:?}: {:?}", r.violations);
    }
    for bad in [[(0, 0), (0, 2)], [(0, 1), (0, 1)], [(1, 0), (0, 1)]] {
        let (h, l) = idempotent_logs(&bad);
        assert_eq!(
            kinds(&check(&h, &l, &idem)),
            vec![ViolationKind::SequenceGap],
            "{bad:?}"
        );
    }
    // Without idempotence in force, sequences are not looked at.
    let (h, l) = idempotent_logs(&[(0, 0), (0, 2)]);
    assert!(check(&h, &l, &options()).violations.is_empty());
    // A batch without a producer id under idempotence is a gap in the promise too.
    let (h, l) = good();
    assert!(kinds(&check(&h, &l, &idem)).contains(&ViolationKind::SequenceGap));
}

#[test]
fn with_idempotence_no_duplicate_is_explained() {
    let (h, mut l) = idempotent_logs(&[(0, 0), (0, 1)]);
    // A copy of #0 from an append whose response was lost: explained without idempotence,
    // a violation with it.
    let mut copy = stored(&rec(0), 2, 2);
    copy.producer_id = 7;
    copy.producer_epoch = 0;
    copy.sequence = 2;
    l.logs.get_mut(&("a".into(), 0)).unwrap().push(copy);
    l.appends.push(append(0, 2, 1, AppendFate::ResponseLost));
    let r = check(&h, &l, &options());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.duplicates, 1);
    let idem = CheckOptions {
        idempotent: true,
        ..options()
    };
    assert_eq!(
        kinds(&check(&h, &l, &idem)),
        vec![ViolationKind::IdempotentDuplicate]
    );
}

#[test]
fn offsets_from_a_hostile_answer_are_not_held_against_the_producer() {
    let (mut h, mut l) = good();
    // #2's append was answered with a base offset near i64::MAX, and reported so.
    h.outputs[2] = delivered(2, 1, i64::MAX - 5000);
    assert_eq!(
        kinds(&check(&h, &l, &options())),
        vec![ViolationKind::NotInLog, ViolationKind::UnexplainedDuplicate]
    );
    l.appends[1].hostile_offset = true;
    let r = check(&h, &l, &options());
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    // It still needs exactly one outcome.
    h.outputs.remove(2);
    assert_eq!(
        kinds(&check(&h, &l, &options())),
        vec![ViolationKind::MissingOutcome]
    );
}

#[test]
fn a_record_appended_after_its_delivery_deadline_was_sent_too_late() {
    let (h, mut l) = good();
    let bounded = CheckOptions {
        write_deadline: Some(std::time::Duration::from_millis(5)),
        ..options()
    };
    assert!(check(&h, &l, &bounded).violations.is_empty());
    // Partition 1's append (of #2) happened 6 ms after the send.
    l.appends[1].at = t(6);
    assert_eq!(
        kinds(&check(&h, &l, &bounded)),
        vec![ViolationKind::SentAfterDeadline]
    );
    assert!(check(&h, &l, &options()).violations.is_empty());
}

fn batch(partition: i32, base_sequence: i32) -> crate::wire::BatchKey {
    crate::wire::BatchKey {
        topic: "a".into(),
        partition,
        producer_id: 7,
        epoch: 0,
        base_sequence,
    }
}

fn sent(conn: u64, correlation: i32, batches: &[(i32, i32)]) -> WireEvent {
    WireEvent::Sent {
        conn: odradek_core::ConnId(conn),
        correlation,
        batches: batches.iter().map(|&(p, s)| batch(p, s)).collect(),
    }
}

fn answered(conn: u64, correlation: i32) -> WireEvent {
    WireEvent::Answered {
        conn: odradek_core::ConnId(conn),
        correlation,
    }
}

/// The violation kinds of an idempotent history (sequences 0 and 1 of partition 0 logged)
/// with `wire` as its wire log.
fn run_wire(wire: Vec<WireEvent>, options: &CheckOptions) -> Vec<ViolationKind> {
    let (mut h, l) = idempotent_logs(&[(0, 0), (0, 1)]);
    h.wire = wire;
    kinds(&check(&h, &l, options))
}

#[test]
fn a_retry_waits_until_every_earlier_request_of_its_partition_is_resolved() {
    let idem = CheckOptions {
        idempotent: true,
        ..options()
    };
    let run = run_wire;
    // Sequences 0 and 1 of partition 0 in flight; 0 is answered (an error), 1 comes back,
    // then 0 is retried: fine. Partition 1's request in flight does not matter.
    let ok = vec![
        sent(1, 1, &[(0, 0), (1, 0)]),
        sent(1, 2, &[(0, 1)]),
        answered(1, 1),
        sent(1, 3, &[(1, 1)]),
        answered(1, 2),
        sent(1, 4, &[(0, 0)]),
    ];
    assert!(run(ok, &idem).is_empty());
    // The retry of 0 goes out while 1 is still in flight: broken.
    let early = vec![
        sent(1, 1, &[(0, 0)]),
        sent(1, 2, &[(0, 1)]),
        answered(1, 1),
        sent(1, 3, &[(0, 0)]),
        answered(1, 2),
    ];
    assert_eq!(
        run(early.clone(), &idem),
        vec![ViolationKind::RetryBeforeChaser]
    );
    // Not looked at without idempotence.
    assert!(run(early, &options()).is_empty());
    // A dropped connection resolves what was in flight on it: the retry may go on another.
    let dropped = vec![
        sent(1, 1, &[(0, 0)]),
        sent(1, 2, &[(0, 1)]),
        WireEvent::Dropped {
            conn: odradek_core::ConnId(1),
        },
        sent(2, 1, &[(0, 0)]),
    ];
    assert!(run(dropped, &idem).is_empty());
    // A retry while the original itself is unresolved (on another connection) is broken too.
    let twice = vec![sent(1, 1, &[(0, 0)]), sent(2, 1, &[(0, 0)])];
    assert_eq!(run(twice, &idem), vec![ViolationKind::RetryBeforeChaser]);
    // Retries flushed together once nothing was in flight may be pipelined.
    let flushed = vec![
        sent(1, 1, &[(0, 0)]),
        sent(1, 2, &[(0, 1)]),
        answered(1, 1),
        answered(1, 2),
        sent(1, 3, &[(0, 0)]),
        sent(1, 4, &[(0, 1)]),
    ];
    assert!(run(flushed, &idem).is_empty());
    // But not behind a new batch that went out first.
    let behind_new = vec![
        sent(1, 1, &[(0, 0)]),
        answered(1, 1),
        sent(1, 2, &[(0, 1)]),
        sent(1, 3, &[(0, 0)]),
    ];
    assert_eq!(
        run(behind_new, &idem),
        vec![ViolationKind::RetryBeforeChaser]
    );
    // A new epoch starts a new path: sequence 0 of epoch 1 is no retry.
    let mut bumped = batch(0, 0);
    bumped.epoch = 1;
    let new_epoch = vec![
        sent(1, 1, &[(0, 0)]),
        WireEvent::Sent {
            conn: odradek_core::ConnId(1),
            correlation: 2,
            batches: vec![bumped],
        },
    ];
    assert!(run(new_epoch, &idem).is_empty());
}

#[test]
fn a_batch_refused_with_unknown_producer_id_is_not_sent_again_under_its_old_epoch() {
    let idem = CheckOptions {
        idempotent: true,
        ..options()
    };
    let run = run_wire;
    let refused = |conn: u64, correlation: i32| WireEvent::RefusedUnknownProducer {
        conn: odradek_core::ConnId(conn),
        correlation,
        batch: batch(0, 0),
    };
    // The client was told (the answer arrived), then sent the same identity again.
    let told = vec![
        sent(1, 1, &[(0, 0)]),
        refused(1, 1),
        answered(1, 1),
        sent(1, 2, &[(0, 0)]),
    ];
    assert_eq!(run(told.clone(), &idem), vec![ViolationKind::NoEpochBump]);
    assert!(run(told, &options()).is_empty(), "only with idempotence");
    // The answer never reached the client (its connection dropped): the retry is fine.
    let unheard = vec![
        sent(1, 1, &[(0, 0)]),
        refused(1, 1),
        WireEvent::Dropped {
            conn: odradek_core::ConnId(1),
        },
        sent(2, 1, &[(0, 0)]),
    ];
    assert!(run(unheard, &idem).is_empty());
    // Told, then restarted under a bumped epoch: fine.
    let mut bumped = batch(0, 0);
    bumped.epoch = 1;
    let after_bump = vec![
        sent(1, 1, &[(0, 0)]),
        refused(1, 1),
        answered(1, 1),
        WireEvent::Sent {
            conn: odradek_core::ConnId(1),
            correlation: 2,
            batches: vec![bumped],
        },
    ];
    assert!(run(after_bump, &idem).is_empty());
}

/// The client-log key of record `n` (see [`rec`]).
fn key(n: u64) -> u64 {
    let r = rec(n);
    crate::client_log::record_key("a", r.key.as_deref(), r.value.as_deref())
}

#[test]
fn records_sent_after_the_cluster_healed_must_be_delivered() {
    let (mut h, l) = good();
    let healed = CheckOptions {
        healed_at: Some(t(0)),
        ..options()
    };
    let r = check(&h, &l, &healed);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.healed_checked, 3);
    // A timeout after the cluster healed is a broken promise, not a fault's doing.
    h.outputs[2] = (
        t(2),
        Observed::Failed {
            id: RecordId(2),
            error: ProduceError::DeliveryTimeout,
            record: rec(2),
        },
    );
    let r = check(&h, &l, &healed);
    assert!(kinds(&r).contains(&ViolationKind::HealedNotDelivered));
    // Sent before it healed: not held to it.
    let later = CheckOptions {
        healed_at: Some(t(1)),
        ..healed
    };
    let r = check(&h, &l, &later);
    assert!(!kinds(&r).contains(&ViolationKind::HealedNotDelivered));
}

#[test]
fn a_retry_sooner_than_the_backoff_policy_is_reported() {
    use crate::client_log::ClientEvent;
    let (mut h, l) = good();
    let policy = CheckOptions {
        retry_backoff: Some((Duration::from_millis(100), Duration::from_secs(1))),
        ..options()
    };
    let refused = |ms, code: ErrorCode| ClientEvent::ProduceRefused {
        at: t(ms),
        code: code.0,
        records: vec![key(0)],
    };
    let sent = |ms| ClientEvent::ProduceSent {
        at: t(ms),
        records: vec![key(0)],
    };
    // Attempt 1 after 100 ms (80 ms is the floor), attempt 2 after 160 ms (200 x 0.8).
    h.client = vec![
        sent(0),
        refused(1, ErrorCode::NOT_ENOUGH_REPLICAS),
        sent(81),
        refused(82, ErrorCode::NOT_ENOUGH_REPLICAS),
        sent(242),
    ];
    let r = check(&h, &l, &policy);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.backoff_checked, 2);
    // The second retry after a fixed 100 ms: too soon for attempt 2.
    h.client[4] = sent(182);
    let r = check(&h, &l, &policy);
    assert_eq!(kinds(&r), [ViolationKind::RetryTooSoon]);
    // OUT_OF_ORDER (behind another batch) is not an attempt of its own: attempt 1's backoff.
    h.client[3] = refused(82, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
    let r = check(&h, &l, &policy);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
}

#[test]
fn not_leader_must_lead_to_a_metadata_refresh_before_the_retry() {
    use crate::client_log::ClientEvent;
    let (mut h, l) = good();
    let opts = CheckOptions {
        metadata_refresh_within: Some(Duration::from_millis(500)),
        ..options()
    };
    let not_leader = ClientEvent::ProduceRefused {
        at: t(1),
        code: ErrorCode::NOT_LEADER_OR_FOLLOWER.0,
        records: vec![key(1)],
    };
    let resent = |ms| ClientEvent::ProduceSent {
        at: t(ms),
        records: vec![key(1)],
    };
    h.client = vec![
        not_leader.clone(),
        ClientEvent::MetadataSent { at: t(50) },
        resent(60),
    ];
    let r = check(&h, &l, &opts);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.metadata_checked, 1);
    // Sent again before any refresh.
    h.client = vec![
        not_leader.clone(),
        resent(40),
        ClientEvent::MetadataSent { at: t(50) },
    ];
    assert_eq!(
        kinds(&check(&h, &l, &opts)),
        [ViolationKind::NoMetadataRefresh]
    );
    // A refresh only with the periodic one, long after.
    h.client = vec![
        not_leader.clone(),
        ClientEvent::MetadataSent { at: t(900) },
        resent(910),
    ];
    assert_eq!(
        kinds(&check(&h, &l, &opts)),
        [ViolationKind::NoMetadataRefresh]
    );
    // ... unless a broker was down meanwhile (no one to ask).
    let down = CheckOptions {
        broker_outages: vec![(t(0), Some(t(800)))],
        ..opts
    };
    assert!(check(&h, &l, &down).violations.is_empty());
}

#[test]
fn close_must_end_soon_after_the_last_progress() {
    let (mut h, l) = good();
    let opts = CheckOptions {
        close_within: Some(Duration::from_millis(100)),
        ..options()
    };
    h.close_at = Some(t(1));
    assert!(check(&h, &l, &opts).violations.is_empty());
    let n = h.outputs.len();
    h.outputs[n - 1] = (t(500), Observed::Closed);
    assert_eq!(kinds(&check(&h, &l, &opts)), [ViolationKind::SlowClose]);
}

#[test]
fn a_duplicate_sequence_answer_is_found_in_the_log() {
    let (mut h, l) = good();
    // #1 delivered without an offset (DUPLICATE_SEQUENCE_NUMBER answer).
    let mut d = delivered(1, 0, -1);
    if let Observed::Delivered { metadata, .. } = &mut d.1 {
        metadata.timestamp = 1001; // the log's (offset 1)
    }
    h.outputs[3] = d;
    let r = check(&h, &l, &options());
    assert!(kinds(&r).contains(&ViolationKind::NotInLog));
    let dup = CheckOptions {
        duplicate_answers: true,
        ..options()
    };
    let r = check(&h, &l, &dup);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.duplicate_deliveries, 1);
}
