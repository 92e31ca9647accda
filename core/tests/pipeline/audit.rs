//! Bugs 1, 3 and 6 of issue 21 (the audit), each pinned by a test that failed before its fix.

use crate::harness::{idem_config, Fault, Harness};
use odradek_core::protocol::ErrorCode;
use odradek_core::ProduceError;
use std::time::Duration;

/// Bug 1: after Kafka's sequence wrap-around (`i32::MAX` to 0) the acknowledged sequence
/// still moves forward, so an OUT_OF_ORDER_SEQUENCE_NUMBER on the first batch in flight is
/// read as lost broker state (epoch bump, the batch written once), not as an old duplicate
/// (which failed it, and every later batch of the partition, with `RetriesExhausted`).
#[test]
fn sequences_wrap_at_i32_max_and_an_out_of_order_answer_after_the_wrap_bumps_the_epoch() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    let start = i32::MAX - 1;
    h.cluster.set_initial_sequence(Some(start));
    h.core.set_initial_sequence_for_testing(start);
    h.drain();
    for v in ["w0", "w1", "w2", "w3"] {
        h.send("t", Some(0), v);
    }
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    let seqs: Vec<(i16, i32)> = h.accepted("t", 0).iter().map(|b| (b.1, b.2)).collect();
    assert_eq!(seqs, [(0, i32::MAX - 1), (0, i32::MAX), (0, 0), (0, 1)]);
    // The broker's state falls behind (a failover): the next batch, first in flight, is
    // refused as out of order.
    h.fault(
        "t",
        0,
        Fault::Error(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER),
    );
    h.send("t", Some(0), "w4");
    h.send("t", Some(0), "w5");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(h.log("t", 0), ["w0", "w1", "w2", "w3", "w4", "w5"]);
    let last: Vec<(i16, i32)> = h.accepted("t", 0)[4..].iter().map(|b| (b.1, b.2)).collect();
    assert_eq!(
        last,
        [(1, 0), (1, 1)],
        "the epoch was bumped, sequences restart at 0"
    );
}

/// Bug 3: without a delivery timeout, a sent batch waiting for a retry on a partition that
/// has no leader any more used to be skipped by the close's cut-off: no outcome, no
/// `Closed`, for as long as the leader stayed away. Now the close fails it with a delivery
/// timeout once `request.timeout.ms` passed without progress, and ends.
#[test]
fn close_without_a_delivery_timeout_ends_when_a_retried_batch_has_no_leader() {
    let mut c = idem_config();
    c.delivery_timeout = None;
    c.request_timeout = Duration::from_secs(1);
    let mut h = Harness::idempotent(c, &[1, 2], &[("t", &[2])]);
    h.drain();
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    let a = h.send("t", Some(0), "a");
    assert_eq!(h.seen("t", 0).len(), 1, "sent once, refused");
    // The leader goes away for good: the batch, stamped, waits for a leader that never comes.
    h.cluster.set_broker_up(2, false);
    let closed_at = h.now;
    h.core.close(h.now);
    h.drain();
    while h.closed == 0 && h.now < closed_at + Duration::from_secs(60) {
        if !h.tick() {
            break;
        }
    }
    assert_eq!(h.closed, 1, "close ended");
    assert!(
        h.now <= closed_at + Duration::from_secs(3),
        "within the request timeout of the last progress (plus one more): {:?}",
        h.now - closed_at
    );
    assert_eq!(h.failed[&a].0, ProduceError::DeliveryTimeout);
    assert_eq!(h.core.pending_records(), 0);
}

/// Bug 6: an idempotent batch's retries back off like every other retry (KIP-580): the
/// `retry.backoff.ms` doubles per attempt, with ±20 % jitter, up to `retry.backoff.max.ms`;
/// it used to be a fixed `retry.backoff.ms`.
#[test]
fn idempotent_retries_back_off_exponentially() {
    let mut c = idem_config();
    c.retry_backoff = Duration::from_millis(100);
    c.retry_backoff_max = Duration::from_secs(10);
    let mut h = Harness::idempotent(c, &[1], &[("t", &[1])]);
    h.drain();
    for _ in 0..4 {
        h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    }
    let b = h.send("t", Some(0), "b");
    let mut sends = vec![h.now];
    for _ in 0..1000 {
        if h.delivered.contains_key(&b) || !h.tick() {
            break;
        }
        if h.seen("t", 0).len() > sends.len() {
            sends.push(h.now);
        }
    }
    assert!(h.delivered.contains_key(&b), "{:?}", h.failed);
    assert_eq!(sends.len(), 5, "four refusals, then the append");
    for (k, w) in sends.windows(2).enumerate() {
        let gap = w[1] - w[0];
        let policy = Duration::from_millis(100) * (1 << k);
        assert!(
            gap >= policy.mul_f64(0.8) && gap <= policy.mul_f64(1.2) + Duration::from_millis(5),
            "retry {} after {gap:?}, the policy says {policy:?} ± 20 %",
            k + 1
        );
    }
}
