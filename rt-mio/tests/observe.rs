//! Observability of both mio producers against the fake broker: tracing events (with a
//! thread-local capturing subscriber, on the thread that runs the embedded loop), the core's
//! event queue off without one, `stats()`, and bootstrap resolution at creation.

use mio::{Events, Poll};
use odradek_driver::testing::capture::Capture;
use odradek_driver::testing::{FakeBroker, FakeBrokerOptions};
use odradek_mio::{
    BlockingProducer, Config, ConnectError, MioProducer, ProducerEvent, Record, TokenRange,
};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The tests of this binary run one at a time: tracing caches each callsite's interest
/// process-wide, and a test without a subscriber running beside one with a thread-local
/// subscriber can leave a callsite cached as uninteresting for both (seen as a flaky
/// `events_enabled()` here).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const PATIENCE: Duration = Duration::from_secs(20);
const INVALID: &str = "broker.odradek.invalid:9092";

fn config(bootstrap: &str) -> Config {
    let mut config = Config::new([bootstrap]);
    config.linger = Duration::from_millis(1);
    config
}

/// Sends `n` records through an embedded producer, drives the loop until all are delivered
/// and the producer closed, calling `each` after every iteration.
fn run_embedded(broker: &FakeBroker, n: usize, mut each: impl FnMut(&MioProducer)) -> MioProducer {
    let mut poll = Poll::new().unwrap();
    let mut producer = MioProducer::new(
        config(&broker.address()),
        poll.registry(),
        TokenRange::new(10, 8),
    )
    .unwrap();
    for i in 0..n {
        producer
            .send(
                Record::new("events")
                    .key(format!("k{i}"))
                    .value(format!("v{i}")),
            )
            .unwrap();
    }
    let mut events = Events::with_capacity(64);
    let mut delivered = 0;
    let deadline = Instant::now() + PATIENCE;
    while !producer.is_closed() {
        assert!(
            Instant::now() < deadline,
            "not done in time: {delivered} delivered"
        );
        poll.poll(&mut events, producer.timeout()).unwrap();
        for event in events.iter() {
            producer.handle_event(event);
        }
        producer.after_poll();
        while let Some(e) = producer.poll_event() {
            match e {
                ProducerEvent::Delivered { .. } => delivered += 1,
                ProducerEvent::Failed { error, .. } => panic!("{error}"),
                ProducerEvent::Closed => {}
                ProducerEvent::Transaction { op, .. } => panic!("no transaction started: {op:?}"),
            }
        }
        if delivered == n && !producer.core().is_closing() {
            producer.close();
        }
        each(&producer);
    }
    assert_eq!(delivered, n);
    producer
}

#[test]
fn embedded_producer_emits_tracing_events_and_counts() {
    let _serial = serial();
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let capture = Capture::default();
    let producer = tracing::subscriber::with_default(capture.subscriber(), || {
        tracing::callsite::rebuild_interest_cache();
        run_embedded(&broker, 25, |p| assert!(p.core().events_enabled()))
    });
    let connected = capture.named("connected");
    assert!(
        connected
            .iter()
            .any(|e| e.fields.get("address") == Some(&broker.address())),
        "{connected:?}"
    );
    let acked = capture.named("batch acknowledged");
    let records = capture.sum("batch acknowledged", "records");
    assert_eq!(records, 25, "{acked:?}");
    let stats = producer.stats();
    assert_eq!((stats.records_accepted, stats.records_delivered), (25, 25));
    assert_eq!(capture.named("batch sent").len() as u64, stats.batches_sent);
    assert!(stats.batch_bytes > 0 && stats.produce_requests > 0);
}

#[test]
fn embedded_producer_without_subscriber_keeps_the_event_queue_off() {
    let _serial = serial();
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let mut iterations = 0;
    let producer = run_embedded(&broker, 10, |p| {
        iterations += 1;
        assert!(!p.core().events_enabled());
    });
    assert!(iterations > 0);
    let stats = producer.stats();
    assert_eq!(stats.records_delivered, 10);
    assert_eq!(broker.total_records(), 10);
}

#[test]
fn blocking_producer_stats() {
    let _serial = serial();
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer = BlockingProducer::connect(config(&broker.address())).unwrap();
    let receipts: Vec<_> = (0..30)
        .map(|i| {
            producer
                .send(
                    Record::new("events")
                        .key(format!("k{i}"))
                        .value(format!("v{i}")),
                )
                .unwrap()
        })
        .collect();
    for r in receipts {
        r.wait().unwrap();
    }
    let s = producer.stats();
    assert_eq!(
        (s.records_accepted, s.records_delivered, s.records_failed),
        (30, 30, 0)
    );
    assert_eq!(s.batch_records, 30);
    assert!(s.batches_sent >= 3 && s.batch_bytes > 0, "{s:?}");
    assert!(s.request_bytes > s.batch_bytes);
    assert_eq!(s.request_latency.count(), s.produce_requests);
    assert_eq!((s.pending_records, s.requests_in_flight), (0, 0));
    let delivered: u64 = s.partitions.iter().map(|p| p.records_delivered).sum();
    assert_eq!(delivered, 30);
    assert_eq!(s.brokers.len(), 1);
    assert_eq!(s.brokers[0].produce_requests, s.produce_requests);
    assert_eq!(producer.close().delivered, 30);
}

#[test]
fn unresolvable_bootstrap_is_refused_at_creation() {
    let _serial = serial();
    let err = BlockingProducer::connect(Config::new([INVALID])).unwrap_err();
    let ConnectError::Bootstrap(e) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(e.unresolved.len(), 1);
    assert_eq!(e.unresolved[0].0, INVALID);
    assert!(err.to_string().contains(INVALID), "{err}");
    let poll = Poll::new().unwrap();
    let err = MioProducer::new(
        Config::new([INVALID]),
        poll.registry(),
        TokenRange::new(1, 2),
    )
    .unwrap_err();
    assert!(matches!(err, ConnectError::Bootstrap(_)), "{err:?}");

    // One good entry among bad ones is enough.
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer =
        BlockingProducer::connect(config(&format!("{INVALID},{}", broker.address()))).unwrap();
    producer
        .send(Record::new("events").value("v"))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(producer.close().delivered, 1);
}
