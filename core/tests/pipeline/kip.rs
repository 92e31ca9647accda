//! Newer brokers' Produce answers: KIP-951 leader hints (`CurrentLeader`, `NodeEndpoints`,
//! Produce v10+) and KIP-467 per-record errors (`RecordErrors`, Produce v8+).

use crate::harness::{assert_sequences_sound, idem_config, values, Fault, Harness};
use odradek_core::protocol::{api_key, ErrorCode};
use odradek_core::{ProduceError, RecordId};
use odradek_sim::Fault as ClusterFault;
use std::time::Duration;

fn move_leader(h: &mut Harness, to: i32) {
    h.cluster.inject(ClusterFault::MoveLeader {
        topic: "t".into(),
        partition: 0,
        to,
    });
}

/// The API keys of the requests the brokers saw from index `from` on.
fn keys_since(h: &Harness, from: usize) -> Vec<i16> {
    h.cluster.requests()[from..]
        .iter()
        .map(|r| r.api_key)
        .collect()
}

/// The broker that appended the last batch of t-0.
fn last_append_broker(h: &Harness) -> i32 {
    let a = h.cluster.appends().iter().rev().find(|a| a.topic == "t");
    a.expect("an append").broker
}

#[test]
fn a_newer_leader_hint_sends_the_retry_to_the_new_leader_at_once_without_metadata() {
    let mut h = Harness::new(Harness::config(), &[1, 2], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "a");
    h.settle();
    move_leader(&mut h, 2); // epoch 0 -> 1
    h.fault(
        "t",
        0,
        Fault::NotLeader {
            leader: 2,
            epoch: 1,
        },
    );
    let from = h.cluster.requests().len();
    let id = h.send("t", Some(0), "b");
    let before = h.now;
    // No time passes: neither the retry backoff nor a Metadata answer is waited for.
    while !h.delivered.contains_key(&id) {
        let (at, _) = h.core.poll_timeout().expect("a deadline");
        assert!(
            at - before < Duration::from_millis(100),
            "waited for the backoff"
        );
        assert!(h.tick());
    }
    let keys = keys_since(&h, from);
    let produce: Vec<usize> = (0..keys.len())
        .filter(|&i| keys[i] == api_key::PRODUCE)
        .collect();
    assert!(produce.len() >= 2, "refused, then sent again: {keys:?}");
    assert!(
        !keys[produce[0]..=produce[1]].contains(&api_key::METADATA),
        "no Metadata request between the refusal and the retry: {keys:?}"
    );
    assert_eq!(last_append_broker(&h), 2);
    assert_eq!(h.log("t", 0), ["a", "b"]);
    assert_eq!(h.core.stats().leader_hints_used, 1);
    // Metadata is still refreshed in the background.
    for _ in 0..50 {
        if keys_since(&h, from).contains(&api_key::METADATA) {
            break;
        }
        h.tick();
    }
    assert!(keys_since(&h, from).contains(&api_key::METADATA));
    // And later records go to the new leader too.
    h.send("t", Some(0), "c");
    h.settle();
    assert_eq!(last_append_broker(&h), 2);
    assert_eq!(h.log("t", 0), ["a", "b", "c"]);
}

/// A hint is used only when its epoch is newer than what the producer knows: an equal one
/// naming another broker, or an older one, waits for the backoff and a Metadata answer.
#[test]
fn an_equal_or_older_epoch_hint_is_not_used() {
    for older in [false, true] {
        let mut config = Harness::config();
        config.metadata_max_age = Duration::from_millis(200);
        let mut h = Harness::new(config, &[1, 2], &[("t", &[1])]);
        h.drain();
        h.send("t", Some(0), "a");
        h.settle();
        let hint = if older {
            // 1 -> 2 -> 1: epoch 2; the producer learns it from a periodic refresh.
            move_leader(&mut h, 2);
            move_leader(&mut h, 1);
            let from = h.cluster.requests().len();
            while !keys_since(&h, from).contains(&api_key::METADATA) {
                assert!(h.tick());
            }
            h.drain();
            Fault::NotLeader {
                leader: 2,
                epoch: 1,
            }
        } else {
            Fault::NotLeader {
                leader: 2,
                epoch: 0,
            }
        };
        h.fault("t", 0, hint);
        let from = h.cluster.requests().len();
        let id = h.send("t", Some(0), "b");
        assert!(
            !h.delivered.contains_key(&id),
            "older {older}: sent at once"
        );
        h.settle();
        let keys = keys_since(&h, from);
        let produce: Vec<usize> = (0..keys.len())
            .filter(|&i| keys[i] == api_key::PRODUCE)
            .collect();
        assert!(
            keys[produce[0]..produce[1]].contains(&api_key::METADATA),
            "older {older}: a Metadata answer before the retry: {keys:?}"
        );
        assert_eq!(last_append_broker(&h), 1, "older {older}");
        assert_eq!(h.log("t", 0), ["a", "b"]);
        assert_eq!(h.core.stats().leader_hints_used, 0);
    }
}

#[test]
fn a_leader_metadata_did_not_list_is_reached_through_node_endpoints() {
    let mut h = Harness::new(Harness::config(), &[1, 2, 3], &[("t", &[1])]);
    h.cluster.hide_from_metadata(3, true);
    h.drain();
    h.send("t", Some(0), "a");
    h.settle();
    let connects = h.connects;
    move_leader(&mut h, 3);
    h.fault(
        "t",
        0,
        Fault::NotLeader {
            leader: 3,
            epoch: 1,
        },
    );
    let from = h.cluster.requests().len();
    let id = h.send("t", Some(0), "b");
    for _ in 0..10 {
        if h.delivered.contains_key(&id) {
            break;
        }
        h.tick();
    }
    assert!(h.delivered.contains_key(&id));
    assert_eq!(h.connects, connects + 1, "one new connection: to broker 3");
    assert_eq!(last_append_broker(&h), 3);
    assert_eq!(h.log("t", 0), ["a", "b"]);
    let keys = keys_since(&h, from);
    let last_produce = keys.iter().rposition(|k| *k == api_key::PRODUCE).unwrap();
    assert!(
        !keys[..last_produce].contains(&api_key::METADATA),
        "no Metadata before the retry: {keys:?}"
    );
}

/// Sends `vals` to t-0 as one batch (the linger holds them) and settles.
fn send_batch(h: &mut Harness, vals: &[String]) -> Vec<RecordId> {
    vals.iter().map(|v| h.send("t", Some(0), v)).collect()
}

fn assert_rejected(h: &Harness, id: RecordId, index: i32) {
    match &h.failed[&id].0 {
        ProduceError::RecordRejected { code, message } => {
            assert_eq!(*code, ErrorCode::INVALID_RECORD);
            assert_eq!(
                *message,
                format!("record {index} refused by the simulated broker")
            );
        }
        other => panic!("record {index}: {other:?}"),
    }
}

#[test]
fn named_records_fail_alone_and_the_rest_is_delivered_in_order() {
    for idempotent in [false, true] {
        let mut config = if idempotent {
            idem_config()
        } else {
            Harness::config()
        };
        config.linger = Duration::from_millis(20);
        config.batch_num_messages = 100;
        let mut h = if idempotent {
            Harness::idempotent(config, &[1], &[("t", &[1])])
        } else {
            Harness::new(config, &[1], &[("t", &[1])])
        };
        h.drain();
        h.fault("t", 0, Fault::RejectRecords(vec![1, 3]));
        let vals = values(8, "v");
        let ids = send_batch(&mut h, &vals[..5]);
        // A later batch while the first is refused (in flight behind it with idempotence).
        h.tick();
        let later = send_batch(&mut h, &vals[5..]);
        h.settle();
        assert_eq!(h.failed.len(), 2, "idempotent {idempotent}: {:?}", h.failed);
        assert_rejected(&h, ids[1], 1);
        assert_rejected(&h, ids[3], 3);
        for id in [ids[0], ids[2], ids[4]].iter().chain(&later) {
            assert!(
                h.delivered.contains_key(id),
                "idempotent {idempotent}: {id:?}"
            );
        }
        assert_eq!(
            h.log("t", 0),
            ["v-0", "v-2", "v-4", "v-5", "v-6", "v-7"],
            "idempotent {idempotent}"
        );
        assert_eq!(h.core.stats().records_rejected_alone, 2);
        if idempotent {
            assert_sequences_sound(&h.accepted("t", 0));
        }
    }
}

/// A list naming an index outside the batch is malformed, and one naming every record
/// leaves nothing to send: the whole batch fails with the partition's error.
#[test]
fn record_errors_naming_no_record_of_the_batch_or_all_fail_the_batch() {
    for named in [vec![7], vec![0, 1]] {
        let mut config = Harness::config();
        config.linger = Duration::from_millis(20);
        let mut h = Harness::new(config, &[1], &[("t", &[1])]);
        h.drain();
        h.fault("t", 0, Fault::RejectRecords(named.clone()));
        let ids = send_batch(&mut h, &values(2, "v"));
        h.settle();
        for id in ids {
            let e = &h.failed[&id].0;
            if named.len() == 2 {
                // Each named: each fails with its own message.
                assert!(matches!(e, ProduceError::RecordRejected { .. }), "{e:?}");
            } else {
                assert_eq!(*e, ProduceError::Broker(ErrorCode::INVALID_RECORD));
            }
        }
        assert!(h.log("t", 0).is_empty());
    }
}
