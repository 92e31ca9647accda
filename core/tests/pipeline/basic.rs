//! The pipeline: bootstrap, batching, retries, ordering, refusals, close.

use crate::harness::{values, Fault, Harness};
use odradek_core::protocol::ErrorCode;
use odradek_core::{Acks, Instant, Output, ProduceError, Record, RetryCause, SendErrorKind};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn happy_path_bootstrap_negotiate_metadata_produce_with_offsets() {
    let mut h = Harness::new(Harness::config(), &[1, 2], &[("t", &[1, 2])]);
    h.drain();
    let vals = values(10, "v");
    let mut ids = Vec::new();
    for (i, v) in vals.iter().enumerate() {
        ids.push(h.send("t", Some((i % 2) as i32), v));
    }
    h.settle();
    assert_eq!(h.delivered.len(), 10);
    assert!(h.failed.is_empty());
    for (i, id) in ids.iter().enumerate() {
        let (md, rec) = &h.delivered[id];
        assert_eq!(md.partition, (i % 2) as i32);
        assert_eq!(
            md.offset,
            (i / 2) as i64,
            "offset = base + index within batch"
        );
        assert_eq!(md.timestamp, 1_700_000_000_000);
        assert!(rec.is_none(), "a delivery hands no record back by default");
    }
    assert_eq!(h.log("t", 0), vec!["v-0", "v-2", "v-4", "v-6", "v-8"]);
    assert_eq!(h.produce_versions(), BTreeSet::from([12]));
    assert_eq!(h.record_formats(), BTreeSet::from([2]));
    assert_eq!(h.core.buffered_bytes(), 0);
}

/// Encode once: the record's key and value are let go at `send` (only its batch's bytes
/// carry them); with `return_successes` they are kept and handed back when delivered.
#[test]
fn a_record_is_let_go_at_send_unless_successes_return_it() {
    for keep in [false, true] {
        let mut config = Harness::config();
        config.return_successes = keep;
        config.linger = Duration::from_millis(50);
        let mut h = Harness::new(config, &[1], &[("t", &[1])]);
        h.drain();
        h.send("t", Some(0), "warm");
        h.settle();
        let value = bytes::Bytes::from(b"payload".to_vec());
        let key = bytes::Bytes::from(b"k".to_vec());
        let record = Record::new("t").key(key.clone()).value(value.clone());
        let id = h.core.send(record, h.now).expect("accepted");
        h.drain();
        assert_eq!(
            (value.is_unique(), key.is_unique()),
            (!keep, !keep),
            "return_successes = {keep}: the caller's value and key held by the core"
        );
        h.settle();
        let (_, handed_back) = &h.delivered[&id];
        match handed_back {
            Some(r) => {
                assert!(keep);
                assert_eq!(r.value.as_ref(), Some(&value));
                assert_eq!(r.key.as_ref(), Some(&key));
            }
            None => assert!(!keep, "return_successes hands the record back"),
        }
        assert_eq!(h.log("t", 0), vec!["warm", "payload"]);
        assert_eq!(h.core.buffered_bytes(), 0);
    }
}

#[test]
fn linger_timer_fires_and_seals_the_batch() {
    let mut config = Harness::config();
    config.linger = Duration::from_millis(50);
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    // Get metadata and the leader connection established first.
    h.send("t", Some(0), "warm");
    h.settle();
    let start = h.now;
    let requests = h.produce_requests();
    h.send("t", Some(0), "a");
    h.send("t", Some(0), "b");
    assert_eq!(h.produce_requests(), requests, "nothing sent before linger");
    let (at, why) = h.core.poll_timeout().expect("linger armed");
    assert_eq!(why, odradek_core::TimeoutReason::Linger);
    assert_eq!(at, start + Duration::from_millis(50));
    h.settle();
    assert_eq!(h.produce_requests(), requests + 1, "one batch for both");
    assert_eq!(h.log("t", 0), vec!["warm", "a", "b"]);
}

#[test]
fn batch_size_seals_without_waiting_for_linger() {
    let mut config = Harness::config();
    config.linger = Duration::from_secs(60);
    config.batch_num_messages = 3;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "x");
    h.core.flush(h.now);
    h.settle();
    let requests = h.produce_requests();
    for v in ["a", "b", "c"] {
        h.send("t", Some(0), v);
    }
    h.drain();
    assert_eq!(h.produce_requests(), requests + 1, "sealed at 3 records");
    assert_eq!(h.log("t", 0), vec!["x", "a", "b", "c"]);
    let mut config = Harness::config();
    config.linger = Duration::from_secs(60);
    config.batch_size = 200;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.send("t", Some(0), "x");
    h.core.flush(h.now);
    h.settle();
    let requests = h.produce_requests();
    let big = "z".repeat(60);
    h.send("t", Some(0), &big);
    h.drain();
    assert_eq!(h.produce_requests(), requests, "not full yet");
    h.send("t", Some(0), &big);
    h.drain();
    assert_eq!(
        h.produce_requests(),
        requests + 1,
        "first batch sealed by size"
    );
}

#[test]
fn not_leader_refreshes_metadata_and_resends_to_new_leader_in_order() {
    let mut h = Harness::new(Harness::config(), &[1, 2], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "v-0");
    h.settle();
    // Leadership moves to node 2; node 1 answers NOT_LEADER_OR_FOLLOWER by itself.
    h.cluster.inject(odradek_sim::Fault::MoveLeader {
        topic: "t".into(),
        partition: 0,
        to: 2,
    });
    let vals = values(30, "w");
    for (i, v) in vals.iter().enumerate() {
        h.send("t", Some(0), v);
        if i % 7 == 0 {
            h.tick();
        }
    }
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    let mut expected = vec!["v-0".to_owned()];
    expected.extend(vals);
    assert_eq!(
        h.log("t", 0),
        expected,
        "send order kept across the leader move"
    );
    let offsets: Vec<i64> = h.delivered.values().map(|(m, _)| m.offset).collect();
    assert_eq!(offsets, (0..31).collect::<Vec<_>>());
}

#[test]
fn retriable_errors_keep_order_with_records_sent_during_backoff() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    h.fault("t", 0, Fault::Error(ErrorCode::REQUEST_TIMED_OUT));
    let vals = values(40, "r");
    for (i, v) in vals.iter().enumerate() {
        h.send("t", Some(0), v);
        if i % 5 == 0 {
            h.tick();
        }
    }
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(h.log("t", 0), vals);
}

#[test]
fn retries_exhausted_fail_with_the_last_cause() {
    let mut config = Harness::config();
    config.retries = 2;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    for _ in 0..3 {
        h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    }
    let id = h.send("t", Some(0), "doomed");
    h.settle();
    assert_eq!(
        h.failed[&id].0,
        ProduceError::RetriesExhausted(RetryCause::Broker(ErrorCode::NOT_ENOUGH_REPLICAS))
    );
    assert_eq!(h.produce_requests(), 3, "first try plus two retries");
    // The partition works again afterwards.
    let ok = h.send("t", Some(0), "fine");
    h.settle();
    assert_eq!(h.delivered[&ok].0.offset, 0);
}

#[test]
fn non_retriable_error_fails_the_batch_at_once() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault("t", 0, Fault::Error(ErrorCode::INVALID_RECORD));
    let id = h.send("t", Some(0), "bad");
    h.settle();
    assert_eq!(
        h.failed[&id].0,
        ProduceError::Broker(ErrorCode::INVALID_RECORD)
    );
    assert_eq!(h.produce_requests(), 1);
}

#[test]
fn missing_partition_in_response_is_retried() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault("t", 0, Fault::Omit);
    let id = h.send("t", Some(0), "x");
    h.settle();
    assert_eq!(h.delivered[&id].0.offset, 0);
    assert_eq!(h.produce_requests(), 2);
}

#[test]
fn garbage_response_drops_connection_and_retries_without_loss() {
    for raw in [
        vec![0, 0, 0, 2, 0xff], // truncated frame then nothing: ok until more; add garbage below
        vec![0, 0, 0, 4, 0x7f, 0, 0, 1], // unknown correlation id
        vec![0x7f, 0xff, 0xff, 0xff], // oversized frame
        vec![0xff, 0xff, 0xff, 0xff], // negative size
        vec![0, 0, 0, 1, 0],    // too short for a correlation id
    ] {
        let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
        h.drain();
        h.send("t", Some(0), "a");
        h.settle();
        let disconnects = h.disconnects;
        // A truncated frame followed by a disconnect is the same story.
        let truncated = raw.len() == 5 && raw[3] == 2;
        h.corrupt_next_produce(raw.clone());
        let id = h.send("t", Some(0), "b");
        h.core.flush(h.now);
        h.drain();
        if truncated {
            let conn = *h.cluster.open_connections().iter().max().expect("conn");
            h.cluster.inject(odradek_sim::Fault::ResetConnection(conn));
            h.drain();
        }
        h.settle();
        assert!(
            truncated || h.disconnects > disconnects,
            "{raw:?}: connection dropped"
        );
        assert!(
            h.delivered.contains_key(&id),
            "{raw:?}: retried and delivered"
        );
        // The first append went through before the bad answer: at-least-once, order kept.
        let log = h.log("t", 0);
        assert_eq!(log.first().map(String::as_str), Some("a"));
        assert_eq!(log.last().map(String::as_str), Some("b"));
    }
}

#[test]
fn request_timeout_drops_connection_and_retries() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "a");
    h.settle();
    h.hold_produce(true);
    let id = h.send("t", Some(0), "b");
    h.core.flush(h.now);
    h.drain();
    let before = h.disconnects;
    h.tick(); // request timeout
    assert!(h.disconnects > before);
    h.hold_produce(false);
    h.settle();
    assert!(h.delivered.contains_key(&id));
}

#[test]
fn acks_zero_delivers_on_transmit_with_offset_minus_one() {
    let mut config = Harness::config();
    config.acks = Acks::None;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    let a = h.send("t", Some(0), "a");
    let b = h.send("t", Some(0), "b");
    h.settle();
    assert_eq!(h.delivered[&a].0.offset, -1);
    assert_eq!(h.delivered[&b].0.offset, -1);
    assert_eq!(h.log("t", 0), vec!["a", "b"]);
}

#[test]
fn refusals_hand_the_record_back_and_change_nothing() {
    let mut config = Harness::config();
    config.message_max_bytes = 2000;
    config.buffer_memory = 4000;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    let check = |h: &mut Harness, r: Record, want: fn(&SendErrorKind) -> bool| {
        let pending = h.core.pending_records();
        let bytes = h.core.buffered_bytes();
        let err = h.core.send(r.clone(), h.now).expect_err("refused");
        assert!(want(&err.kind), "{:?}", err.kind);
        assert_eq!(err.record, r);
        assert_eq!(h.core.pending_records(), pending);
        assert_eq!(h.core.buffered_bytes(), bytes);
        assert!(h.core.poll_output().is_none());
    };
    let big = Record::new("t").value(vec![0u8; 3000]);
    check(&mut h, big, |k| {
        matches!(k, SendErrorKind::RecordTooLarge { .. })
    });
    for bad in ["", ".", "..", "a b", &"x".repeat(250)] {
        check(&mut h, Record::new(bad), |k| {
            matches!(k, SendErrorKind::InvalidTopic { .. })
        });
    }
    check(&mut h, Record::new("t").partition(-1), |k| {
        matches!(k, SendErrorKind::InvalidPartition(-1))
    });
    // Fill the buffer: the broker holds its answers, so nothing is released.
    h.hold_produce(true);
    let mut accepted = 0;
    loop {
        match h
            .core
            .send(Record::new("t").partition(0).value(vec![1u8; 1500]), h.now)
        {
            Ok(_) => accepted += 1,
            Err(e) => {
                assert_eq!(e.kind, SendErrorKind::BufferFull);
                break;
            }
        }
        assert!(accepted < 10);
    }
    h.drain();
    h.hold_produce(false);
    check(&mut h, Record::new("t").value(vec![1u8; 1500]), |k| {
        matches!(k, SendErrorKind::BufferFull)
    });
    h.core.close(h.now);
    // What close itself emits (it may connect to send what is held) is not the refusal's.
    h.drain();
    check(&mut h, Record::new("t").value("x"), |k| {
        matches!(k, SendErrorKind::Closed)
    });
    h.settle();
    assert_eq!(h.delivered.len(), accepted);
    assert_eq!(h.closed, 1);
}

#[test]
fn close_delivers_everything_then_emits_closed_last() {
    let mut config = Harness::config();
    config.linger = Duration::from_secs(30);
    let mut h = Harness::new(config, &[1, 2], &[("t", &[1, 2]), ("u", &[2])]);
    h.drain();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(h.send(if i % 3 == 0 { "u" } else { "t" }, None, &format!("c-{i}")));
    }
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    h.core.close(h.now);
    assert!(h.core.is_closing());
    h.settle();
    for _ in 0..10 {
        h.tick();
    }
    assert_eq!(h.delivered.len(), 20);
    assert_eq!(h.closed, 1, "Closed exactly once");
    assert_eq!(h.after_closed, 0, "nothing after Closed");
    assert!(
        h.cluster.open_connections().is_empty(),
        "every connection disconnected"
    );
    assert!(h.core.poll_timeout().is_none());
}

#[test]
fn unknown_topic_fails_after_metadata_retries() {
    let mut config = Harness::config();
    config.retries = 2;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    let id = h.send("nope", None, "x");
    h.settle();
    assert_eq!(h.failed[&id].0, ProduceError::UnknownTopic("nope".into()));
    let id = h.send("t", Some(5), "x");
    h.settle();
    assert!(matches!(
        h.failed[&id].0,
        ProduceError::PartitionOutOfRange {
            partition: 5,
            count: 1,
            ..
        }
    ));
}

#[test]
fn topic_created_while_waiting_is_found_by_metadata_retry() {
    let mut h = Harness::new(Harness::config(), &[1], &[]);
    h.drain();
    let id = h.send("late", Some(0), "x");
    h.tick();
    h.cluster.create_topic("late", &[1]);
    h.settle();
    assert_eq!(h.delivered[&id].0.offset, 0);
}

#[test]
fn broker_down_then_delivery_timeout() {
    let mut config = Harness::config();
    config.delivery_timeout = Some(Duration::from_secs(3));
    let mut h = Harness::new(config, &[1, 2], &[("t", &[2])]);
    h.cluster.set_broker_up(2, false);
    h.drain();
    let id = h.send("t", Some(0), "x");
    h.settle();
    assert_eq!(h.failed[&id].0, ProduceError::DeliveryTimeout);
    assert!(h.now >= Instant::from_unix_millis(1_700_000_003_000));
}

#[test]
fn ambiguous_append_then_error_is_retried_and_in_flight_never_times_out_early() {
    let mut config = Harness::config();
    config.delivery_timeout = Some(Duration::from_secs(2));
    config.request_timeout = Duration::from_secs(10);
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "a");
    h.settle();
    h.hold_produce(true);
    let id = h.send("t", Some(0), "b");
    h.core.flush(h.now);
    h.drain();
    // Past the delivery timeout, the batch is still in flight: no outcome yet.
    h.now += Duration::from_secs(3);
    h.core.handle_timeout(h.now);
    h.drain();
    assert!(!h.failed.contains_key(&id) && !h.delivered.contains_key(&id));
    h.hold_produce(false);
    h.settle();
    assert_eq!(h.failed[&id].0, ProduceError::DeliveryTimeout);
}

#[test]
fn legacy_broker_gets_legacy_format_and_modern_one_never_below_v3() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.set_produce_max(2);
    h.drain();
    h.send("t", Some(0), "old");
    h.settle();
    assert_eq!(h.produce_versions(), BTreeSet::from([2]));
    assert_eq!(h.record_formats(), BTreeSet::from([1]));
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.set_produce_max(3);
    h.drain();
    h.send("t", Some(0), "new");
    h.settle();
    assert_eq!(h.produce_versions(), BTreeSet::from([3]));
    assert_eq!(h.record_formats(), BTreeSet::from([2]));
}

#[test]
fn append_then_error_is_retried_at_least_once_in_order() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault(
        "t",
        0,
        Fault::AppendThenError(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
    );
    let a = h.send("t", Some(0), "a");
    h.tick();
    let b = h.send("t", Some(0), "b");
    h.settle();
    // Without idempotence the retry duplicates "a", but "b" never overtakes it.
    assert_eq!(h.log("t", 0), vec!["a", "a", "b"]);
    assert_eq!(h.delivered[&a].0.offset, 1);
    assert_eq!(h.delivered[&b].0.offset, 2);
}

#[test]
fn api_versions_falls_back_to_v0_on_unsupported_version() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.set_api_versions_max(2);
    h.drain();
    let id = h.send("t", Some(0), "x");
    h.settle();
    assert_eq!(h.delivered[&id].0.offset, 0);
    // Bootstrap and leader connection: each tries v3, then v0.
    assert_eq!(h.api_versions_seen(), vec![3, 0, 3, 0]);
    assert_eq!(h.produce_versions(), BTreeSet::from([12]));
}

#[test]
fn one_batch_per_partition_in_flight_while_other_partitions_pipeline() {
    let mut config = Harness::config();
    config.batch_num_messages = 1;
    let mut h = Harness::new(config, &[1], &[("t", &[1, 1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    let before = h.produce_requests();
    h.hold_produce(true);
    for i in 0..4 {
        h.send("t", Some(0), &format!("p0-{i}"));
    }
    h.drain();
    assert_eq!(
        h.produce_requests(),
        before + 1,
        "partition 0: one batch in flight"
    );
    h.send("t", Some(1), "p1-0");
    h.drain();
    assert_eq!(
        h.produce_requests(),
        before + 2,
        "partition 1 pipelines beside it"
    );
    h.hold_produce(false);
    h.settle();
    // The held answer was lost: request timeout, retry (a duplicate, no idempotence), order kept.
    assert_eq!(
        h.log("t", 0),
        ["warm", "p0-0", "p0-0", "p0-1", "p0-2", "p0-3"]
    );
}

#[test]
fn zstd_on_a_broker_without_produce_v7_fails_as_unsupported_version() {
    let mut config = Harness::config();
    config.compression = odradek_core::Compression::Zstd;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.set_produce_max(6);
    h.drain();
    let id = h.send("t", Some(0), "x");
    h.settle();
    // Version negotiation, said as such (issue 21, bug 8: it was an "encoding" error).
    match &h.failed[&id].0 {
        ProduceError::UnsupportedVersion { broker, reason } => {
            assert!(broker.starts_with("broker 1"), "{broker}");
            assert!(reason.contains("zstd"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn send_after_backoff_ran_out_but_before_the_timer_still_queues_behind_retries() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    h.send("t", Some(0), "a");
    h.core.flush(h.now);
    h.drain();
    // The retry backoff (100 ms) is over, but the driver sends before its timer fires.
    h.now += Duration::from_millis(150);
    h.send("t", Some(0), "b");
    h.settle();
    assert_eq!(h.log("t", 0), ["warm", "a", "b"]);
}

#[test]
fn topic_absent_from_an_answer_that_did_not_ask_for_it_is_asked_for_again() {
    // Found by the simulator (seed 1398): a record for topic "b" arrived while a Metadata
    // request for ["a"] was out; the answer (rightly) lacked "b", and the core counted that as
    // "b does not exist", failing the record at once with retries = 0.
    let mut config = Harness::config();
    config.retries = 0;
    let mut h = Harness::new(config, &[1], &[("a", &[1]), ("b", &[1])]);
    h.drain();
    let a = h
        .core
        .send(Record::new("a").value("x"), h.now)
        .expect("accepted");
    let mut held = None;
    while let Some(out) = h.core.poll_output() {
        match out {
            Output::Transmit { conn, data } if held.is_none() => held = Some((conn, data)),
            other => panic!("unexpected output before the metadata answer: {other:?}"),
        }
    }
    let (conn, data) = held.expect("a Metadata request for topic a");
    let b = h
        .core
        .send(Record::new("b").value("y"), h.now)
        .expect("accepted");
    let bytes: Vec<u8> = data.iter().flat_map(|c| c.iter().copied()).collect();
    h.on_bytes(conn, &bytes);
    h.settle();
    assert!(h.failed.is_empty(), "no failures: {:?}", h.failed);
    assert_eq!(h.delivered[&a].0.offset, 0);
    assert_eq!(h.delivered[&b].0.offset, 0);
}

// ---- idempotence, the seal rule, splits and hostile answers (issue 6) ----
