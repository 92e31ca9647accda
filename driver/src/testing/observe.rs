//! The observability scenarios (stats, metrics, tracing, bootstrap resolution), generic over
//! the runtime like [`super::scenarios`]; each adapter crate runs them (`tests/observe.rs`,
//! `tests/tracing.rs`).

use super::capture::{Capture, Recorder};
use super::{within, FakeBroker, FakeBrokerOptions};
use crate::{ConnectError, Producer, Runtime};
use odradek_core::{Config, Record};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);
const INVALID: &str = "broker.odradek.invalid:9092";

fn config(broker: &str) -> Config {
    let mut c = Config::new([broker]);
    c.linger = Duration::from_millis(2);
    c.request_timeout = Duration::from_secs(5);
    c
}

/// Sends `n` records (keys spread over the partitions) and waits for every outcome.
async fn produce<R: Runtime + Default>(producer: &Producer<R>, n: usize) {
    let mut futures = Vec::new();
    for i in 0..n {
        let r = Record::new("events")
            .key(format!("k{i}"))
            .value(format!("value {i}"));
        futures.push(producer.send(r).await.unwrap());
    }
    for f in futures {
        within::<R, _>(LIMIT, f).await.unwrap();
    }
}

/// `stats()` after producing: the figures match what the broker got, per broker and per
/// partition; `record_metrics` publishes them.
pub async fn stats_after_producing<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer = Producer::<R>::connect(config(&broker.address()))
        .await
        .unwrap();
    let before = producer.stats();
    assert_eq!((before.records_accepted, before.batches_sent), (0, 0));
    produce(&producer, 40).await;
    assert_eq!(broker.total_records(), 40);
    let s = producer.stats();
    assert_eq!(s.records_accepted, 40);
    assert_eq!(s.records_delivered, 40);
    assert_eq!(s.records_failed, 0);
    assert_eq!(s.pending_records, 0);
    assert_eq!(s.requests_in_flight, 0);
    assert_eq!(
        s.batch_records, 40,
        "no retries, so each record was sent once"
    );
    assert!(s.batches_sent >= 3, "three partitions: {s:?}");
    assert!(
        s.batch_bytes > 0 && s.request_bytes > s.batch_bytes,
        "{s:?}"
    );
    assert!(s.produce_requests >= 1);
    assert_eq!(s.request_latency.count(), s.produce_requests);
    assert_eq!(s.retries.total(), 0);
    assert_eq!(s.brokers.len(), 1, "{:?}", s.brokers);
    assert!(s.brokers[0].connected);
    assert_eq!(s.brokers[0].produce_requests, s.produce_requests);
    assert_eq!(s.partitions.len(), 3, "{:?}", s.partitions);
    let delivered: u64 = s.partitions.iter().map(|p| p.records_delivered).sum();
    let batches: u64 = s.partitions.iter().map(|p| p.batches_sent).sum();
    assert_eq!((delivered, batches), (40, s.batches_sent));
    for p in &s.partitions {
        assert_eq!(
            p.records_delivered as usize,
            broker.records("events", p.partition).len()
        );
    }

    let rec = Recorder::default();
    metrics::with_local_recorder(&rec, || crate::observe::record_metrics(&s));
    assert_eq!(rec.counter("odradek_records_delivered_total"), Some(40));
    assert_eq!(rec.counter("odradek_records_sent_total"), Some(40));
    assert_eq!(
        rec.counter("odradek_batches_sent_total"),
        Some(s.batches_sent)
    );
    assert_eq!(rec.gauge("odradek_in_flight_requests"), Some(0.0));
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!(report.delivered, 40);
}

/// A bootstrap list none of whose entries resolves is refused at `connect`, naming them; one
/// good entry among bad ones is enough.
pub async fn unresolvable_bootstrap<R: Runtime + Default>() {
    let other = "other.odradek.invalid:1";
    let err = Producer::<R>::connect(Config::new([format!("{INVALID},{other}")]))
        .await
        .unwrap_err();
    let ConnectError::Bootstrap(e) = &err else {
        panic!("{err:?}");
    };
    let entries: Vec<&str> = e.unresolved.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(entries, [INVALID, other]);
    assert!(err.to_string().contains(INVALID), "{err}");
    let err = Producer::<R>::channels(Config::new([INVALID]), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Bootstrap(_)), "{err:?}");

    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer = Producer::<R>::connect(config(&format!("{INVALID},{}", broker.address())))
        .await
        .unwrap();
    produce(&producer, 3).await;
    assert_eq!(broker.total_records(), 3);
    within::<R, _>(LIMIT, producer.close()).await;
}

/// With a subscriber for odradek events installed (globally, by the caller), connecting and
/// producing show up as tracing events with their figures.
pub async fn tracing_events<R: Runtime + Default>(capture: &Capture) {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer = Producer::<R>::connect(config(&broker.address()))
        .await
        .unwrap();
    produce(&producer, 30).await;
    let stats = producer.stats();
    within::<R, _>(LIMIT, producer.close()).await;

    let connected = capture.named("connected");
    assert!(
        connected
            .iter()
            .any(|e| e.fields.get("address") == Some(&broker.address())),
        "{connected:?}"
    );
    assert!(
        connected.iter().any(|e| e.fields.contains_key("node_id")),
        "a broker connection names its node: {connected:?}"
    );
    let acked = capture.named("batch acknowledged");
    let records = capture.sum("batch acknowledged", "records");
    assert_eq!(records, 30, "{acked:?}");
    assert!(acked.iter().all(|e| e.level == tracing::Level::DEBUG));
    let sent = capture.named("batch sent");
    assert_eq!(sent.len() as u64, stats.batches_sent);
    assert_eq!(capture.sum("batch sent", "bytes"), stats.batch_bytes);
    assert!(capture.named("batch retried").is_empty());

    // A refused connect is a WARN naming the address and the I/O error.
    let refused = super::refused_address();
    let producer = Producer::<R>::connect(config(&refused)).await.unwrap();
    let seen = || {
        capture
            .named("connect failed")
            .into_iter()
            .find(|e| e.fields.get("address") == Some(&refused))
    };
    within::<R, _>(LIMIT, async {
        while seen().is_none() {
            R::default().sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let failed = seen().unwrap();
    assert_eq!(failed.level, tracing::Level::WARN);
    assert!(!failed.fields["error"].is_empty());
    within::<R, _>(LIMIT, producer.close()).await;
}
