//! Stats and events (issue 8, observability).

use crate::harness::{Fault, Harness};
use odradek_core::protocol::ErrorCode;
use odradek_core::ProduceError;

#[test]
fn stats_count_records_batches_requests_and_retries() {
    let mut config = Harness::config();
    config.compression = odradek_core::Compression::Gzip;
    let mut h = Harness::new(config, &[1, 2], &[("t", &[1, 2])]);
    h.drain();
    h.core.set_events(true);
    let value = "x".repeat(200);
    for i in 0..10 {
        h.send("t", Some(i % 2), &value);
    }
    h.fault("t", 1, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    h.core.flush(h.now);
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    let s = h.core.stats();
    assert_eq!(
        (s.records_accepted, s.records_delivered, s.records_failed),
        (10, 10, 0)
    );
    assert_eq!((s.pending_records, s.buffer_bytes), (0, 0));
    assert_eq!(s.requests_in_flight, 0);
    assert_eq!(s.produce_requests, h.produce_requests() as u64);
    assert_eq!(s.request_latency.count(), s.produce_requests);
    // Partition 1's batch was sent twice (one NOT_ENOUGH_REPLICAS retry).
    assert_eq!(
        s.retries.broker_errors.get(&19),
        Some(&1),
        "{:?}",
        s.retries
    );
    assert_eq!(s.retries.total(), 1);
    let part = |p: i32| s.partitions.iter().find(|x| x.partition == p).unwrap();
    assert_eq!(
        (part(0).records_delivered, part(1).records_delivered),
        (5, 5)
    );
    assert_eq!(part(1).batches_sent, part(0).batches_sent + 1);
    assert_eq!(s.batches_sent, part(0).batches_sent + part(1).batches_sent);
    assert_eq!(s.batch_records, 15, "5 + 5, and the retried 5 again");
    assert!(s.compression_ratio() > 3.0, "{}", s.compression_ratio());
    assert_eq!(part(1).leader, Some(2));
    let sent: u64 = s.brokers.iter().map(|b| b.produce_requests).sum();
    assert_eq!(sent, s.produce_requests);
    assert!(s.brokers.iter().all(|b| b.address.is_some()));
    assert_eq!(
        s.request_bytes,
        s.brokers.iter().map(|b| b.request_bytes).sum()
    );

    let mut events = Vec::new();
    while let Some(e) = h.core.poll_event() {
        events.push(e);
    }
    let count = |f: &dyn Fn(&odradek_core::Event) -> bool| events.iter().filter(|e| f(e)).count();
    use odradek_core::Event;
    assert!(
        count(&|e| matches!(
            e,
            Event::Connected {
                node_id: Some(_),
                ..
            }
        )) >= 2
    );
    assert_eq!(
        count(&|e| matches!(e, Event::BatchSent { .. })) as u64,
        s.batches_sent
    );
    assert_eq!(count(&|e| matches!(e, Event::BatchAcked { .. })), 2);
    assert_eq!(
        count(&|e| matches!(
            e,
            Event::Retry {
                partition: 1,
                records: 5,
                ..
            }
        )),
        1
    );
}

#[test]
fn events_are_off_by_default_and_failures_are_grouped() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "a");
    h.settle();
    assert_eq!(h.core.poll_event(), None, "nothing is built while off");
    h.core.set_events(true);
    for _ in 0..3 {
        h.fault("t", 0, Fault::Error(ErrorCode::INVALID_RECORD));
    }
    for v in ["b", "c", "d"] {
        h.send("t", Some(0), v);
    }
    h.core.flush(h.now);
    h.settle();
    assert_eq!(h.failed.len(), 3);
    let failed: Vec<_> = std::iter::from_fn(|| h.core.poll_event())
        .filter(|e| matches!(e, odradek_core::Event::Failed { .. }))
        .collect();
    let records: usize = failed
        .iter()
        .map(|e| match e {
            odradek_core::Event::Failed { records, error, .. } => {
                assert_eq!(*error, ProduceError::Broker(ErrorCode::INVALID_RECORD));
                *records
            }
            _ => 0,
        })
        .sum();
    assert_eq!(records, 3);
    assert!(failed.len() <= 3);
    assert_eq!(h.core.stats().records_failed, 3);
}
