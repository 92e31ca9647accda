//! `close_now`: the close that stops waiting (an adapter's `close(timeout)` once the timeout
//! passed). Against brokers that never answer, in virtual time: every record gets exactly
//! one outcome, `CloseTimedOut`, in flight or not, and `Closed` comes last.

use crate::harness::{idem_config, Harness};
use odradek_core::{ProduceError, Record};
use std::time::Duration;

/// Sends `n` records to `t` (two partitions) and runs until a Produce request is in flight
/// (the brokers append it but never answer), then sends `more` that stay in open batches.
/// With `defer`, the answers are kept instead (sent by `release_one`).
fn stalled(mut h: Harness, n: usize, more: usize, defer: bool) -> Harness {
    if defer {
        h.defer(true);
    } else {
        h.hold_produce(true);
    }
    h.drain();
    for i in 0..n {
        h.send("t", None, &format!("a-{i}"));
    }
    for _ in 0..20 {
        if h.produce_requests() > 0 {
            break;
        }
        h.tick();
    }
    assert!(h.produce_requests() > 0, "a Produce request went out");
    for i in 0..more {
        h.send("t", None, &format!("b-{i}"));
    }
    // Records waiting for a topic's metadata too.
    let r = Record::new("unknown-yet").value("w");
    h.core.send(r, h.now).expect("accepted");
    h.drain();
    h
}

/// Every record accepted (`accepted` of them) failed once, with `CloseTimedOut`; `Closed`
/// came once, last; no connection is left; no timer is armed.
fn assert_closed_now(h: &Harness, accepted: usize) {
    assert_eq!(h.core.pending_records(), 0);
    assert!(h.delivered.is_empty(), "nothing was acknowledged");
    assert_eq!(h.failed.len(), accepted, "every record one outcome");
    for (id, (e, _)) in &h.failed {
        assert_eq!(*e, ProduceError::CloseTimedOut, "record {id:?}");
    }
    assert_eq!(h.outcomes, accepted, "exactly one outcome each");
    assert_eq!(h.closed, 1, "Closed exactly once");
    assert_eq!(h.after_closed, 0, "nothing after Closed");
    assert!(
        h.cluster.open_connections().is_empty(),
        "every connection dropped"
    );
    assert!(h.core.poll_timeout().is_none());
}

#[test]
fn close_now_fails_in_flight_and_unsent_records() {
    let mut config = Harness::config();
    config.linger = Duration::from_millis(5);
    let h = Harness::new(config, &[1, 2], &[("t", &[1, 2])]);
    let mut h = stalled(h, 10, 5, false);
    // A graceful close first: it would wait out the request timeout and the retries.
    h.core.close(h.now);
    h.drain();
    assert_eq!(h.closed, 0);
    h.now += Duration::from_millis(200);
    h.core.close_now(h.now);
    h.drain();
    assert_closed_now(&h, 16);
    // Later inputs change nothing.
    h.now += Duration::from_secs(10);
    h.core.handle_timeout(h.now);
    h.core.close_now(h.now);
    h.drain();
    assert_closed_now(&h, 16);
}

#[test]
fn close_now_without_close_idempotent() {
    let h = Harness::idempotent(idem_config(), &[1, 2], &[("t", &[1, 2])]);
    let mut h = stalled(h, 8, 0, true);
    assert!(h.deferred() > 0, "an answer is on its way");
    h.core.close_now(h.now);
    h.drain();
    assert_closed_now(&h, 9);
    // An answer that was on its way is never read: its connection is gone.
    while h.release_one() {}
    h.drain();
    assert_closed_now(&h, 9);
    assert!(h.core.send(Record::new("t").value("late"), h.now).is_err());
}

#[test]
fn close_now_after_everything_delivered_fails_nothing() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    for i in 0..5 {
        h.send("t", None, &format!("d-{i}"));
    }
    h.settle();
    assert_eq!(h.delivered.len(), 5);
    h.core.close_now(h.now);
    h.drain();
    assert!(h.failed.is_empty());
    assert_eq!(h.closed, 1);
    assert_eq!(h.after_closed, 0);
    assert!(h.cluster.open_connections().is_empty());
}
