//! Idempotence, the seal rule, splits and hostile answers (issue 6).

use crate::harness::{assert_sequences_sound, idem_config, values, Fault, Harness};
use odradek_core::protocol::ErrorCode;
use odradek_core::{ProduceError, Record, RecordId, RetryCause};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn idempotent_producer_gets_an_id_before_the_first_produce_and_numbers_batches() {
    let mut config = idem_config();
    config.batch_num_messages = 2;
    let mut h = Harness::idempotent(config, &[1], &[("t", &[1, 1])]);
    h.drain();
    let vals = values(9, "i");
    for (i, v) in vals.iter().enumerate() {
        h.send("t", Some((i % 2) as i32), v);
    }
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(
        h.init_requests(),
        vec![(-1, -1)],
        "one InitProducerId, a new id"
    );
    for p in 0..2 {
        let acc = h.accepted("t", p);
        assert!(acc.iter().all(|b| b.0 == 1001 && b.1 == 0), "{acc:?}");
        assert_sequences_sound(&acc);
    }
    let expected: Vec<String> = vals.iter().step_by(2).cloned().collect();
    assert_eq!(h.log("t", 0), expected);
}

#[test]
fn five_batches_in_flight_and_a_failure_of_the_second_requeues_two_to_five_in_order() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    h.defer(true);
    h.send("t", Some(0), "b1");
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    for v in ["b2", "b3", "b4", "b5"] {
        h.send("t", Some(0), v);
    }
    assert_eq!(h.deferred(), 5, "five batches of one partition in flight");
    h.send("t", Some(0), "b6");
    assert_eq!(h.deferred(), 5, "the sixth waits for room");
    // The broker appended b1, refused b2, and so refused b3..b5 as out of order.
    assert_eq!(h.log("t", 0), ["warm", "b1"]);
    h.defer(false);
    while h.release_one() {}
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(h.log("t", 0), ["warm", "b1", "b2", "b3", "b4", "b5", "b6"]);
    let acc = h.accepted("t", 0);
    assert_sequences_sound(&acc);
    assert!(
        acc.iter().all(|b| b.1 == 0),
        "no epoch bump needed: {acc:?}"
    );
    // The retries went out in sequence order: after the refusals (b2, then b3..b5 and b6,
    // sent once b1's answer made room, as out of order) the broker saw b2..b6 in order and
    // refused nothing more.
    let seen = &h.seen("t", 0);
    let last_refusal = seen.iter().rposition(|b| b.4 != 0).expect("refusals");
    let after: Vec<i32> = seen[last_refusal + 1..].iter().map(|b| b.2).collect();
    assert_eq!(after, [2, 3, 4, 5, 6], "{seen:?}");
    assert_eq!(seen.iter().filter(|b| b.4 != 0).count(), 5, "{seen:?}");
    let delivered: Vec<i64> = h.delivered.values().map(|(m, _)| m.offset).collect();
    assert_eq!(delivered, (0..7).collect::<Vec<_>>());
}

#[test]
fn a_lost_connection_with_five_in_flight_retries_everything_in_order_without_duplicates() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    h.defer(true);
    for v in ["c1", "c2", "c3", "c4", "c5"] {
        h.send("t", Some(0), v);
    }
    assert_eq!(h.deferred(), 5);
    // Every batch was appended, but the answers are lost with the connection.
    h.cluster.drop_deferred();
    h.defer(false);
    h.drop_all_conns();
    h.send("t", Some(0), "c6");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(
        h.log("t", 0),
        ["warm", "c1", "c2", "c3", "c4", "c5", "c6"],
        "the broker's duplicate check kept each record once"
    );
    assert_sequences_sound(&h.accepted("t", 0));
}

#[test]
fn unknown_producer_id_bumps_the_epoch_and_restarts_sequences_at_zero() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1, 1])]);
    h.drain();
    for v in ["u0", "u1", "u2"] {
        h.send("t", Some(0), v);
    }
    h.send("t", Some(1), "other");
    h.settle();
    h.lose_producer_state("t", 0);
    h.send("t", Some(0), "u3");
    h.send("t", Some(1), "other2");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(
        h.init_requests(),
        vec![(-1, -1)],
        "the epoch is bumped locally, without a request"
    );
    assert_eq!(h.log("t", 0), ["u0", "u1", "u2", "u3"]);
    let acc = h.accepted("t", 0);
    assert_eq!(
        acc.last(),
        Some(&(1001, 1, 0, 1)),
        "u3 again at sequence 0 of epoch 1"
    );
    assert_sequences_sound(&acc);
    assert_sequences_sound(&h.accepted("t", 1));
}

#[test]
fn out_of_order_on_the_first_batch_in_flight_bumps_the_epoch() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "o0");
    h.settle();
    h.fault(
        "t",
        0,
        Fault::Error(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER),
    );
    h.send("t", Some(0), "o1");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(
        h.init_requests().len(),
        1,
        "a local epoch bump: {:?}",
        h.init_requests()
    );
    assert_eq!(h.log("t", 0), ["o0", "o1"]);
    assert_eq!(h.accepted("t", 0).last(), Some(&(1001, 1, 0, 1)));
}

#[test]
fn duplicate_sequence_number_is_a_success_and_an_ambiguous_append_is_not_written_twice() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault(
        "t",
        0,
        Fault::AppendThenError(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
    );
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert_eq!(
        h.log("t", 0),
        ["a"],
        "the retry was recognised as a duplicate"
    );
    assert_eq!(
        h.delivered[&a].0.offset, 0,
        "with the offset of the first write"
    );
    h.fault("t", 0, Fault::Error(ErrorCode::DUPLICATE_SEQUENCE_NUMBER));
    let b = h.send("t", Some(0), "b");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert!(
        h.delivered.contains_key(&b),
        "DUPLICATE_SEQUENCE_NUMBER counts as delivered"
    );
}

#[test]
fn a_fenced_producer_fails_its_records_with_a_typed_error() {
    for code in [
        ErrorCode::INVALID_PRODUCER_EPOCH,
        ErrorCode::PRODUCER_FENCED,
    ] {
        let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
        h.drain();
        h.fault("t", 0, Fault::Error(code));
        let a = h.send("t", Some(0), "a");
        h.settle();
        assert_eq!(h.failed[&a].0, ProduceError::ProducerFenced(code));
        let b = h.send("t", Some(0), "b");
        h.settle();
        assert_eq!(
            h.failed[&b].0,
            ProduceError::ProducerFenced(code),
            "fatal for the id"
        );
        assert!(h.log("t", 0).is_empty());
    }
}

#[test]
fn init_producer_id_is_retried_on_retriable_errors_and_fails_records_on_fatal_ones() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.init_error(15); // COORDINATOR_NOT_AVAILABLE
    h.drain();
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert!(h.delivered.contains_key(&a));
    assert_eq!(h.init_requests().len(), 2);

    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.init_error(31); // CLUSTER_AUTHORIZATION_FAILED
    h.drain();
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert_eq!(
        h.failed[&a].0,
        ProduceError::ProducerIdRefused(ErrorCode(31))
    );
    assert_eq!(h.produce_requests(), 0, "no Produce without a producer id");
}

#[test]
fn legacy_brokers_run_without_a_defaulted_idempotence_and_fail_a_required_one() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.set_produce_max(2);
    h.drain();
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert!(h.delivered.contains_key(&a));
    assert!(h.init_requests().is_empty());
    assert_eq!(h.record_formats(), BTreeSet::from([1]));

    let mut config = idem_config();
    config.enable_idempotence = Some(true);
    let mut h = Harness::idempotent(config, &[1], &[("t", &[1])]);
    h.set_produce_max(2);
    h.drain();
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert!(matches!(
        h.failed[&a].0,
        ProduceError::IdempotenceUnavailable(_)
    ));
}

#[test]
fn an_expired_batch_with_a_sequence_forces_an_epoch_bump() {
    let mut config = idem_config();
    config.delivery_timeout = Some(Duration::from_secs(2));
    config.request_timeout = Duration::from_secs(1);
    config.retries = 1000;
    let mut h = Harness::idempotent(config, &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "e0");
    h.settle();
    for _ in 0..100 {
        h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    }
    let e1 = h.send("t", Some(0), "e1");
    for _ in 0..100 {
        if h.failed.contains_key(&e1) {
            break;
        }
        h.tick();
    }
    assert_eq!(h.failed[&e1].0, ProduceError::DeliveryTimeout);
    h.cluster.clear_scripts();
    let e2 = h.send("t", Some(0), "e2");
    h.settle();
    assert!(h.delivered.contains_key(&e2));
    assert_eq!(h.init_requests().len(), 1, "the epoch bumped locally");
    assert_eq!(h.log("t", 0), ["e0", "e2"]);
    assert_eq!(
        h.accepted("t", 0).last(),
        Some(&(1001, 1, 0, 1)),
        "the hole closed by a bump: e2 at sequence 0 of epoch 1"
    );
    assert_sequences_sound(&h.accepted("t", 0));
}

#[test]
fn a_batch_that_may_have_been_written_is_never_restamped_after_an_epoch_bump() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    // "a" is appended, but its answer is lost with the connection: it may be in the log.
    h.defer(true);
    let a = h.send("t", Some(0), "a");
    assert_eq!(h.deferred(), 1);
    h.cluster.drop_deferred();
    h.defer(false);
    h.drop_all_conns();
    // The broker then forgets the producer: the retry of "a" (sequence 1) is answered
    // UNKNOWN_PRODUCER_ID, and the epoch is bumped. Re-stamped at sequence 0 of the new
    // epoch, "a" would be stored a second time; it fails instead, with the cause that left
    // its outcome unknown.
    h.lose_producer_state("t", 0);
    h.settle();
    assert_eq!(
        h.failed[&a].0,
        ProduceError::RetriesExhausted(odradek_core::RetryCause::ConnectionLost)
    );
    assert_eq!(h.log("t", 0), ["warm", "a"], "written once, never twice");
    let b = h.send("t", Some(0), "b");
    h.settle();
    assert!(h.delivered.contains_key(&b), "{:?}", h.failed);
    assert_eq!(h.log("t", 0), ["warm", "a", "b"]);
    assert_eq!(h.accepted("t", 0).last(), Some(&(1001, 1, 0, 1)));
    // Under the new epoch the broker saw only "b": "a" was never sent re-stamped.
    let seen = &h.seen("t", 0);
    let new_epoch: Vec<_> = seen.iter().filter(|s| s.1 == 1).collect();
    assert_eq!(new_epoch, [&(1001, 1, 0, 1, 0)], "{seen:?}");
}

#[test]
fn a_batch_stamped_two_epochs_ago_waits_for_the_previous_epoch_in_flight() {
    // Two partitions of one broker, two requests in flight per connection. p0 runs under
    // epoch 1 with its retry a1 in flight and, behind it, a2 still stamped under epoch 0,
    // when p1's UNKNOWN_PRODUCER_ID bumps the producer to epoch 2. Re-stamping a2 moves p0
    // to epoch 2; done while a1 is in flight, a2 takes sequence 0 of epoch 2 and is written,
    // and a1, failing again, lands after it (the simulator's seed 434002).
    let mut config = idem_config();
    config.max_in_flight_requests_per_connection = 2;
    let mut h = Harness::idempotent(config, &[1], &[("t", &[1, 1])]);
    h.drain();
    h.send("t", Some(0), "w0");
    h.send("t", Some(1), "w1");
    h.settle();
    // Epoch 0: the broker forgets p0's state; a1 and a2 are refused and come back stamped;
    // the epoch is bumped to 1 for p0.
    h.defer(true);
    h.lose_producer_state("t", 0);
    let a1 = h.send("t", Some(0), "a1");
    let a2 = h.send("t", Some(0), "a2");
    assert_eq!(h.deferred(), 2);
    while h.release_one() {}
    // p1 sends b1 (its answer held) while p0 waits out its retry backoff, so p0 has one
    // request slot left: a1 goes re-stamped under epoch 1; a2, under epoch 0, waits.
    h.fault("t", 1, Fault::Error(ErrorCode::UNKNOWN_PRODUCER_ID));
    let b1 = h.send("t", Some(1), "b1");
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    while h.deferred() < 2 {
        assert!(h.tick(), "a1's retry never went out");
    }
    assert_eq!(
        h.seen("t", 0).last(),
        Some(&(1001, 1, 0, 1, 6)),
        "{:?}",
        (h.seen("t", 0), h.seen("t", 1))
    );
    // b1's refusal asks for epoch 2 (for p1; p0 keeps epoch 1 while it has batches under
    // it); a1 fails (retriable), goes again, and fails once more.
    h.defer(false);
    while h.release_one() {}
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    for id in [a1, a2, b1] {
        assert!(h.delivered.contains_key(&id));
    }
    assert!(
        h.seen("t", 1).iter().any(|s| s.1 == 2),
        "{:?}",
        (h.seen("t", 0), h.seen("t", 1))
    );
    assert_eq!(h.log("t", 0), ["w0", "a1", "a2"], "{:?}", h.seen("t", 0));
    assert_eq!(h.log("t", 1), ["w1", "b1"]);
    assert_sequences_sound(&h.accepted("t", 0));
    assert_sequences_sound(&h.accepted("t", 1));
}

#[test]
fn an_epoch_bump_at_the_last_epoch_asks_for_a_new_producer_id() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.cluster.set_init_producer_epoch(i16::MAX - 1);
    h.drain();
    h.send("t", Some(0), "x0");
    h.settle();
    h.cluster.set_init_producer_epoch(0);
    // First loss: bumped locally to the last epoch.
    h.lose_producer_state("t", 0);
    h.send("t", Some(0), "x1");
    h.settle();
    assert_eq!(h.init_requests().len(), 1, "{:?}", h.init_requests());
    assert_eq!(h.accepted("t", 0).last(), Some(&(1001, i16::MAX, 0, 1)));
    // Second loss: the epoch cannot grow, so InitProducerId gives a new id.
    h.lose_producer_state("t", 0);
    h.send("t", Some(0), "x2");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(h.init_requests(), vec![(-1, -1), (-1, -1)]);
    assert_eq!(h.accepted("t", 0).last(), Some(&(1002, 0, 0, 1)));
    assert_eq!(h.log("t", 0), ["x0", "x1", "x2"]);
    assert_sequences_sound(&h.accepted("t", 0));
}

#[test]
fn message_too_large_splits_the_batch_in_order_and_fails_only_a_single_record() {
    for idempotent in [false, true] {
        let mut config = idem_config();
        config.batch_num_messages = 8;
        config.linger = Duration::from_millis(5);
        let mut h = Harness::new(config, &[1], &[("t", &[1])]);
        h.set_idempotent(idempotent);
        h.drain();
        h.send("t", Some(0), "warm");
        h.settle();
        h.cluster.set_max_batch_records(Some(2));
        let vals = values(8, "s");
        for v in &vals {
            h.send("t", Some(0), v);
        }
        h.settle();
        assert!(h.failed.is_empty(), "{:?}", h.failed);
        let mut want = vec!["warm".to_owned()];
        want.extend(vals.clone());
        assert_eq!(h.log("t", 0), want, "idempotent: {idempotent}");
        if idempotent {
            assert_sequences_sound(&h.accepted("t", 0));
            // The halves took the big batch's own sequences: 1 + 8 records, no gap.
            assert_eq!(h.init_requests().len(), 1, "no bump needed for a split");
        }
        h.cluster.set_max_batch_records(Some(0));
        let one = h.send("t", Some(0), "alone");
        h.settle();
        assert_eq!(
            h.failed[&one].0,
            ProduceError::Broker(ErrorCode::MESSAGE_TOO_LARGE)
        );
    }
}

#[test]
fn the_open_batch_keeps_growing_while_its_partition_has_a_batch_in_flight() {
    // Round trip (here: an answer held for 200 ms) much longer than linger: before the fix
    // the open batch was sealed every 5 ms and the partition degenerated to tiny batches.
    for linger in [Duration::from_millis(5), Duration::ZERO] {
        let mut config = Harness::config();
        config.linger = linger;
        config.enable_idempotence = Some(false);
        let mut h = Harness::new(config, &[1], &[("t", &[1])]);
        h.drain();
        h.send("t", Some(0), "warm");
        h.settle();
        h.defer(true);
        h.send("t", Some(0), "first");
        h.now += Duration::from_millis(10);
        h.core.handle_timeout(h.now);
        h.drain();
        assert_eq!(h.deferred(), 1, "the first batch is in flight");
        for i in 0..40 {
            h.now += Duration::from_millis(5);
            h.send("t", Some(0), &format!("g{i}"));
        }
        h.defer(false);
        while h.release_one() {}
        h.settle();
        let sizes: Vec<usize> = h.seen("t", 0).iter().map(|b| b.3).collect();
        assert_eq!(
            sizes,
            vec![1, 1, 40],
            "linger {linger:?}: one big batch after the round trip"
        );
        assert_eq!(h.log("t", 0).len(), 42);
    }
}

#[test]
fn a_hostile_base_offset_near_i64_max_is_a_malformed_answer_not_a_panic() {
    let mut config = Harness::config();
    config.batch_num_messages = 3;
    config.enable_idempotence = Some(false);
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    h.fault("t", 0, Fault::BaseOffset(i64::MAX - 1));
    let ids: Vec<RecordId> = ["a", "b", "c"]
        .iter()
        .map(|v| h.send("t", Some(0), v))
        .collect();
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    for id in &ids {
        let off = h.delivered[id].0.offset;
        assert!(
            (0..10).contains(&off),
            "a sane offset from the retry, got {off}"
        );
    }
}

#[test]
fn a_partition_whose_batch_fails_locally_sends_its_next_batch_at_once() {
    let mut config = Harness::config();
    config.linger = Duration::ZERO;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.set_produce_max(2); // MessageSet v1: no headers
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    let start = h.now;
    let mut r = Record::new("t").value("with-header");
    r.partition = Some(0);
    r.headers.push(odradek_core::Header::new("h", "x"));
    let bad = h.core.send(r, h.now).expect("accepted");
    let good = h
        .core
        .send(Record::new("t").value("next").partition(0), h.now);
    let good = good.expect("accepted");
    h.drain();
    assert!(matches!(h.failed[&bad].0, ProduceError::Encoding(_)));
    assert!(
        h.delivered.contains_key(&good),
        "sent at once, not after a timer"
    );
    assert_eq!(h.now, start);
}

#[test]
fn a_failed_batch_is_not_resent_before_the_batches_behind_it_have_come_back() {
    // The chaser: b2 failed while b3 and b4 were still out; its retry (and anything newer)
    // waits until both are answered, even after the backoff is over.
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    h.defer(true);
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    for v in ["b2", "b3", "b4"] {
        h.send("t", Some(0), v);
    }
    assert_eq!(h.deferred(), 3);
    let requests = h.produce_requests();
    assert!(
        h.release_one(),
        "b2's refusal arrives; b3, b4 are still out"
    );
    h.send("t", Some(0), "b5");
    for _ in 0..5 {
        h.now += Duration::from_millis(100);
        h.core.handle_timeout(h.now);
        h.drain();
    }
    assert_eq!(
        h.produce_requests(),
        requests,
        "nothing of the partition goes while the old path is still out"
    );
    h.defer(false);
    while h.release_one() {}
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(h.log("t", 0), ["warm", "b2", "b3", "b4", "b5"]);
    assert_sequences_sound(&h.accepted("t", 0));
}

#[test]
fn a_compressed_batch_over_message_max_bytes_is_split_not_failed() {
    use odradek_core::record::{BatchBuilder, RecordFormat};
    use odradek_core::Compression;
    // Incompressible values and timestamps far apart: the size bound's slack is smaller than
    // gzip's framing, so the compressed batch exceeds a limit the bound said it fits.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let (v1, v2) = (noise(300), noise(300));
    let (t1, t2) = (0i64, i64::MAX / 4);
    let bound = |v: &[u8]| BatchBuilder::record_size_bound(RecordFormat::V2, None, Some(v), &[]);
    let max = BatchBuilder::overhead(RecordFormat::V2) + bound(&v1) + bound(&v2);
    let mut b = BatchBuilder::new(RecordFormat::V2);
    b.append(t1, None, Some(&v1), &[]).unwrap();
    b.append(t2, None, Some(&v2), &[]).unwrap();
    let compressed = b.finish(Compression::Gzip, None).unwrap().len();
    assert!(compressed > max, "precondition: {compressed} > {max}");

    let mut config = Harness::config();
    config.compression = Compression::Gzip;
    config.message_max_bytes = max;
    config.linger = Duration::from_secs(60);
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    let a = h
        .core
        .send(Record::new("t").value(v1).timestamp(t1).partition(0), h.now)
        .expect("fits by the bound");
    let b = h
        .core
        .send(Record::new("t").value(v2).timestamp(t2).partition(0), h.now)
        .expect("fits by the bound");
    h.core.flush(h.now);
    h.settle();
    assert!(h.failed.is_empty(), "split, not failed: {:?}", h.failed);
    assert_eq!((h.delivered[&a].0.offset, h.delivered[&b].0.offset), (0, 1));
    let sizes: Vec<usize> = h.seen("t", 0).iter().map(|b| b.3).collect();
    assert_eq!(sizes, [1, 1], "two halves");
}

#[test]
fn idempotent_under_random_faults_every_record_is_written_once_and_in_order() {
    for seed in 1..=60u64 {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut config = idem_config();
        config.batch_num_messages = 3;
        config.linger = Duration::from_millis(1);
        config.retries = 1000;
        config.delivery_timeout = None;
        let mut h = Harness::idempotent(config, &[1], &[("t", &[1, 1, 1])]);
        h.drain();
        h.defer(true);
        let mut sent: Vec<Vec<String>> = vec![Vec::new(); 3];
        for i in 0..200 {
            if rnd(8) == 0 {
                let f = match rnd(3) {
                    0 => Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS),
                    1 => Fault::AppendThenError(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
                    _ => Fault::Error(ErrorCode::REQUEST_TIMED_OUT),
                };
                h.fault("t", rnd(3) as i32, f);
            }
            let p = rnd(3) as usize;
            let v = format!("s{seed}-{i}");
            h.send("t", Some(p as i32), &v);
            sent[p].push(v);
            for _ in 0..rnd(3) {
                h.release_one();
            }
            if rnd(40) == 0 {
                // Answers lost with the connection (some batches were appended).
                h.drop_all_conns();
                h.drain();
            }
            if rnd(5) == 0 {
                h.now += Duration::from_millis(rnd(150));
                h.core.handle_timeout(h.now);
                h.drain();
            }
        }
        h.defer(false);
        while h.release_one() {}
        h.settle();
        // A record may fail only when its outcome was left unknown (an answer lost, an error
        // after the append) and the broker no longer remembers it; it is then in the log
        // (checked below), never written twice, and never reported delivered without an
        // offset.
        for (id, (e, _)) in &h.failed {
            assert!(
                matches!(
                    e,
                    ProduceError::RetriesExhausted(
                        RetryCause::ConnectionLost
                            | RetryCause::Broker(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND)
                            | RetryCause::Broker(ErrorCode::REQUEST_TIMED_OUT)
                    )
                ),
                "seed {seed}: {id:?} failed with {e:?}"
            );
        }
        for (id, (md, _)) in &h.delivered {
            assert!(
                md.offset >= 0,
                "seed {seed}: {id:?} delivered at offset {}",
                md.offset
            );
        }
        let failed: BTreeSet<Vec<u8>> = h
            .failed
            .values()
            .filter_map(|(_, r)| r.value.as_ref().map(|v| v.to_vec()))
            .collect();
        for (p, sent) in sent.iter().enumerate() {
            let log = h.log("t", p);
            // Every record in send order, once; only a failed one may be missing.
            let want: Vec<String> = sent
                .iter()
                .filter(|v| log.contains(*v) || !failed.contains(v.as_bytes()))
                .cloned()
                .collect();
            assert_eq!(log, want, "seed {seed} partition {p}");
            assert_sequences_sound(&h.accepted("t", p as i32));
        }
    }
}
