//! Bugs 1, 3 and 6 of issue 21 (the audit), each pinned by a test that failed before its fix.

use crate::harness::{idem_config, Fault, Harness};
use odradek_core::protocol::ErrorCode;

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
    assert_eq!(last, [(1, 0), (1, 1)], "the epoch was bumped, sequences restart at 0");
}
