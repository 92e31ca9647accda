//! `close_timeout` (Java's `close(Duration)`) and the records' wall-clock timestamps, once,
//! generic over the runtime; each adapter crate runs them (`tests/driver.rs`).

use super::{within, FakeBroker, FakeBrokerOptions};
use crate::{ChannelOptions, Producer, Runtime};
use futures_util::{FutureExt, StreamExt};
use odradek_core::{Config, ProduceError, Record};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LIMIT: Duration = Duration::from_secs(20);

/// A config whose graceful close would outwait [`LIMIT`] against a broker that never answers:
/// only the close's own timeout can end it in time.
fn patient(broker: &str) -> Config {
    let mut c = Config::new([broker]);
    c.linger = Duration::from_millis(2);
    c.request_timeout = Duration::from_secs(60);
    c.retry_backoff = Duration::from_millis(20);
    c
}

/// A broker that holds every Produce request (never answers): `close_timeout(200 ms)`
/// returns, every record (in flight or still buffered) failed once with `CloseTimedOut`,
/// and the report counts them.
pub async fn close_timeout_gives_up<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    broker.hold_produce();
    let producer = Producer::<R>::connect(patient(&broker.address()))
        .await
        .unwrap();
    let mut futures = Vec::new();
    for i in 0..10 {
        let r = Record::new("held").partition(i % 3).value(format!("{i}"));
        futures.push(producer.send(r).await.unwrap());
    }
    assert!(
        broker.wait_for(LIMIT, |s| s.produce_requests > 0),
        "a request in flight"
    );
    // One more behind the held request; and one sent through a clone, never awaited.
    futures.push(
        producer
            .send(Record::new("held").partition(0).value("late"))
            .await
            .unwrap(),
    );
    let other = producer.clone();
    other
        .try_send_with(Record::new("held").value("cb"), |_| {})
        .unwrap();
    drop(other);
    let report = within::<R, _>(LIMIT, producer.close_timeout(Duration::from_millis(200))).await;
    assert_eq!((report.delivered, report.failed), (0, 12));
    for f in futures {
        let outcome = f.now_or_never().expect("resolved by close_timeout");
        assert_eq!(outcome.unwrap_err().error, ProduceError::CloseTimedOut);
    }
    broker.release_produce();
}

/// Against a broker that answers, `close_timeout` is `close`: everything is delivered.
pub async fn close_timeout_delivers_when_in_time<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer = Producer::<R>::connect(patient(&broker.address()))
        .await
        .unwrap();
    for i in 0..20 {
        let r = Record::new("fine").partition(i % 3).value(format!("{i}"));
        // Dropping a delivery future does not cancel its record.
        drop(producer.send(r).await.unwrap());
    }
    let report = within::<R, _>(LIMIT, producer.close_timeout(Duration::from_secs(15))).await;
    assert_eq!((report.delivered, report.failed), (20, 0));
    assert_eq!(broker.total_records(), 20);
}

/// The channel shape's `close_timeout`: the records fail on the errors stream, once each.
pub async fn channels_close_timeout<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    broker.hold_produce();
    let (input, _successes, mut errors) =
        Producer::<R>::channels(patient(&broker.address()), ChannelOptions::default())
            .await
            .unwrap();
    for i in 0..6 {
        input
            .send(Record::new("held").partition(i % 3).value(format!("{i}")))
            .await
            .unwrap();
    }
    assert!(
        broker.wait_for(LIMIT, |s| s.produce_requests > 0),
        "a request in flight"
    );
    let report = within::<R, _>(LIMIT, input.close_timeout(Duration::from_millis(200))).await;
    assert_eq!(report.failed, 6);
    let mut seen = 0;
    while let Some(e) = within::<R, _>(LIMIT, errors.next()).await {
        assert_eq!(e.error, ProduceError::CloseTimedOut);
        seen += 1;
    }
    assert_eq!(seen, 6);
    broker.release_produce();
}

/// A record without a timestamp is written with the wall clock's at `send` (CreateTime); one
/// with a timestamp keeps it.
pub async fn timestamps_from_the_wall_clock<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer = Producer::<R>::connect(patient(&broker.address()))
        .await
        .unwrap();
    let wall = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let before = wall();
    let a = producer
        .send(Record::new("ts").partition(0).value("a"))
        .await
        .unwrap();
    let after = wall();
    let b = producer
        .send(Record::new("ts").partition(0).value("b").timestamp(1_234))
        .await
        .unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(
        (before..=after).contains(&a.timestamp),
        "{before} <= {} <= {after}",
        a.timestamp
    );
    assert_eq!(b.timestamp, 1_234);
    let log = broker.records("ts", 0);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].timestamp, a.timestamp);
    assert_eq!(log[1].timestamp, 1_234);
    within::<R, _>(LIMIT, producer.close()).await;
}
