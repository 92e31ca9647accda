//! The adapter tests, once, generic over the runtime. Each adapter crate runs every scenario
//! on its runtime (`tests/driver.rs`). Each asserts real behaviour against a [`FakeBroker`]
//! over real loopback TCP; [`within`] only guards against hangs.

use super::{refused_address, test_ca_pem, within, FakeBroker, FakeBrokerOptions, SilentBroker};
use crate::{ChannelOptions, ConnectError, Producer, Runtime};
use futures_util::{FutureExt, StreamExt};
use odradek_core::protocol::ErrorCode;
use odradek_core::{
    Acks, Config, ConfigError, ConnectionErrorKind, Header, Pem, ProduceError, Record,
    RecordMetadata, SecurityProtocol, SendErrorKind,
};
use std::collections::BTreeMap;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

fn config(broker: &str) -> Config {
    let mut c = Config::new([broker]);
    c.linger = Duration::from_millis(2);
    c.request_timeout = Duration::from_secs(5);
    c.retry_backoff = Duration::from_millis(20);
    c
}

/// Records go through to the broker; each delivery future tells where each went; keys keep
/// their partition; offsets follow send order; `close` counts them; sends after close are
/// refused with the record handed back.
pub async fn happy_path<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer = Producer::<R>::connect(config(&broker.address()))
        .await
        .unwrap();
    let mut futures = Vec::new();
    for i in 0..30 {
        let r = Record::new("events")
            .key(format!("k{}", i % 5))
            .value(format!("v{i}"))
            .header(Header::new("n", format!("{i}")));
        futures.push((i, producer.send(r).await.unwrap()));
    }
    let mut by_key: BTreeMap<String, i32> = BTreeMap::new();
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for (i, f) in futures {
        let md: RecordMetadata = within::<R, _>(LIMIT, f).await.unwrap();
        assert_eq!(md.topic.as_str(), "events");
        assert!((0..3).contains(&md.partition), "{md:?}");
        let key = format!("k{}", i % 5);
        assert_eq!(
            *by_key.entry(key.clone()).or_insert(md.partition),
            md.partition
        );
        if let Some(prev) = last_offset.insert(md.partition, md.offset) {
            assert!(md.offset > prev, "offsets follow send order");
        }
        let log = broker.records("events", md.partition);
        let rec = &log[usize::try_from(md.offset).unwrap()];
        assert_eq!(rec.value.as_deref(), Some(format!("v{i}").as_bytes()));
        assert_eq!(rec.key.as_deref(), Some(key.as_bytes()));
        assert_eq!(rec.headers, vec![Header::new("n", format!("{i}"))]);
    }
    assert_eq!(broker.total_records(), 30);
    let other = producer.clone();
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!((report.delivered, report.failed), (30, 0));
    assert!(report.unobserved_failures.is_empty());
    let refused = other
        .try_send(Record::new("events").value("late"))
        .unwrap_err();
    assert_eq!(refused.kind, SendErrorKind::Closed);
    assert_eq!(refused.record.value.as_deref(), Some(&b"late"[..]));
}

/// Invalid configuration is refused by `connect`; bad records are refused by `send` at once,
/// handed back untouched.
pub async fn immediate_refusals<R: Runtime + Default>() {
    let err = Producer::<R>::connect(Config::new(Vec::<String>::new()))
        .await
        .unwrap_err();
    assert_eq!(err, ConnectError::Config(ConfigError::NoBootstrapServers));

    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let mut c = config(&broker.address());
    c.message_max_bytes = 1024;
    let producer = Producer::<R>::connect(c).await.unwrap();
    let big = Record::new("events").value(vec![7u8; 4096]);
    let e = producer.send(big.clone()).await.unwrap_err();
    assert!(
        matches!(e.kind, SendErrorKind::RecordTooLarge { .. }),
        "{e}"
    );
    assert_eq!(e.record, big);
    let e = producer.try_send(Record::new("bad topic!")).unwrap_err();
    assert!(matches!(e.kind, SendErrorKind::InvalidTopic { .. }), "{e}");
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!((report.delivered, report.failed), (0, 0));
}

/// A tiny `buffer.memory`: `try_send` refuses with `BufferFull` (record handed back), `send`
/// waits and resumes once an outcome frees space; nothing is lost or reordered.
pub async fn backpressure<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions {
        produce_delay: Duration::from_millis(200),
        ..FakeBrokerOptions::default()
    });
    let mut c = config(&broker.address());
    c.message_max_bytes = 1024;
    c.buffer_memory = 2048;
    let producer = Producer::<R>::connect(c).await.unwrap();
    let rec = |i: usize| Record::new("bp").partition(0).value(vec![i as u8; 500]);
    let mut futures = Vec::new();
    let mut refused = None;
    for i in 0..20 {
        match producer.try_send(rec(i)) {
            Ok(f) => futures.push(f),
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (i, e) = refused.expect("a 2 KiB buffer must fill within 20 records of 500 bytes");
    assert_eq!(e.kind, SendErrorKind::BufferFull);
    assert_eq!(e.record, rec(i));
    assert!(!futures.is_empty());
    // `send` waits for space instead of refusing ...
    let waited = within::<R, _>(LIMIT, producer.send(rec(i))).await.unwrap();
    // ... which only an outcome can free: some earlier record is already resolved.
    let mut resolved = 0;
    let mut rest = Vec::new();
    for mut f in futures {
        match (&mut f).now_or_never() {
            Some(r) => {
                r.unwrap();
                resolved += 1;
            }
            None => rest.push(f),
        }
    }
    assert!(resolved > 0, "send returned before any outcome freed space");
    for f in rest {
        within::<R, _>(LIMIT, f).await.unwrap();
    }
    within::<R, _>(LIMIT, waited).await.unwrap();
    let log = broker.records("bp", 0);
    assert_eq!(log.len(), i + 1);
    for (n, r) in log.iter().enumerate() {
        assert_eq!(
            r.value.as_deref(),
            Some(&vec![n as u8; 500][..]),
            "order kept"
        );
    }
    within::<R, _>(LIMIT, producer.close()).await;
}

/// Nothing listens: the record fails with a typed error within `delivery.timeout.ms` (plus
/// slack), handed back.
pub async fn connection_refused<R: Runtime + Default>() {
    let address = refused_address();
    let mut c = config(&address);
    c.delivery_timeout = Some(Duration::from_millis(800));
    c.request_timeout = Duration::from_millis(500);
    let producer = Producer::<R>::connect(c).await.unwrap();
    let r = Record::new("nowhere").value("x");
    let f = producer.send(r.clone()).await.unwrap();
    let err = within::<R, _>(LIMIT, f).await.unwrap_err();
    assert!(
        matches!(
            &err.error,
            ProduceError::Connection(cause)
                if cause.kind == ConnectionErrorKind::ConnectFailed
                    && cause.broker == address
        ),
        "the cause is the refused connect, not a bare timeout: {err:?}"
    );
    // Handed back as sent, with the wall-clock timestamp it was stamped with at `send`.
    let stamped = err.record.timestamp.expect("stamped at send");
    assert_eq!(err.record, r.timestamp(stamped));
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!(
        (report.delivered, report.failed, report.unobserved_failed),
        (0, 1, 0)
    );
}

/// `close` with requests in flight waits for them: every record gets its outcome, even those
/// whose future was dropped.
pub async fn close_with_records_in_flight<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions {
        produce_delay: Duration::from_millis(150),
        ..FakeBrokerOptions::default()
    });
    let producer = Producer::<R>::connect(config(&broker.address()))
        .await
        .unwrap();
    let mut kept = Vec::new();
    for i in 0..40 {
        let f = producer
            .send(
                Record::new("inflight")
                    .partition(i % 3)
                    .value(format!("{i}")),
            )
            .await
            .unwrap();
        if i % 2 == 0 {
            kept.push(f);
        }
    }
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!((report.delivered, report.failed), (40, 0));
    for f in kept {
        assert!(f.now_or_never().expect("resolved by close").is_ok());
    }
    assert_eq!(broker.total_records(), 40);
}

/// Failures nobody awaited are not lost: `close` reports them with their records.
pub async fn close_reports_unobserved_failures<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions {
        produce_error: Some(ErrorCode::INVALID_RECORD.0),
        ..FakeBrokerOptions::default()
    });
    let producer = Producer::<R>::connect(config(&broker.address()))
        .await
        .unwrap();
    let mut kept = Vec::new();
    for i in 0..5 {
        let f = producer
            .send(Record::new("bad").partition(0).value(format!("{i}")))
            .await
            .unwrap();
        if i < 2 {
            kept.push(f);
        }
    }
    for f in kept {
        let e = within::<R, _>(LIMIT, f).await.unwrap_err();
        assert_eq!(e.error, ProduceError::Broker(ErrorCode::INVALID_RECORD));
    }
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!(
        (report.delivered, report.failed, report.unobserved_failed),
        (0, 5, 3)
    );
    let mut values: Vec<_> = report
        .unobserved_failures
        .iter()
        .map(|e| e.record.value.clone().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, vec!["2", "3", "4"]);
}

/// `send_with`: each callback runs exactly once with its record's outcome (where it went, or
/// why it failed with the record handed back), without the producer's lock held (a callback
/// sends again), and `flush` / `close` count callback records like any other. A refused
/// record comes back and its callback never runs.
pub async fn send_with_callbacks<R: Runtime + Default>() {
    use std::sync::{Arc, Mutex};
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer = Producer::<R>::connect(config(&broker.address()))
        .await
        .unwrap();
    type Seen = Arc<Mutex<Vec<(usize, Result<RecordMetadata, String>)>>>;
    let seen: Seen = Arc::default();
    for i in 0..200usize {
        let seen2 = Arc::clone(&seen);
        let again = producer.clone();
        let r = Record::new("events")
            .key(format!("k{}", i % 7))
            .value(format!("v{i}"));
        producer
            .send_with(r, move |outcome| {
                let outcome = outcome.map_err(|e| e.to_string());
                if i == 0 {
                    // Re-entering the producer from a callback does not deadlock.
                    again
                        .try_send_with(Record::new("events").value("again"), |o| {
                            assert!(o.is_ok(), "{o:?}")
                        })
                        .unwrap();
                }
                seen2.lock().unwrap().push((i, outcome));
            })
            .await
            .unwrap();
    }
    let refused = producer
        .try_send_with(Record::new("bad topic!").value("x"), |_| {
            panic!("a refused record's callback must not run")
        })
        .unwrap_err();
    assert_eq!(refused.record.value.as_deref(), Some(&b"x"[..]));
    within::<R, _>(LIMIT, producer.flush()).await;
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.len(),
            200,
            "every callback ran once before flush returned"
        );
        let mut ids: Vec<usize> = seen.iter().map(|(i, _)| *i).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..200).collect::<Vec<_>>());
        for (i, outcome) in seen.iter() {
            let md = outcome.as_ref().expect("delivered");
            let log = broker.records("events", md.partition);
            let rec = &log[usize::try_from(md.offset).unwrap()];
            assert_eq!(rec.value.as_deref(), Some(format!("v{i}").as_bytes()));
        }
    }
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!((report.delivered, report.failed), (201, 0));
    assert_eq!(broker.total_records(), 201);

    // Failures reach the callback with the record.
    let broker = FakeBroker::start(FakeBrokerOptions {
        produce_error: Some(ErrorCode::INVALID_RECORD.0),
        ..FakeBrokerOptions::default()
    });
    let producer = Producer::<R>::connect(config(&broker.address()))
        .await
        .unwrap();
    let slot = Arc::new(Mutex::new(None));
    let slot2 = Arc::clone(&slot);
    let r = Record::new("bad").partition(0).value("lost");
    producer
        .send_with(r, move |outcome| {
            assert!(
                slot2.lock().unwrap().replace(outcome).is_none(),
                "ran twice"
            );
        })
        .await
        .unwrap();
    within::<R, _>(LIMIT, producer.flush()).await;
    let outcome = slot.lock().unwrap().take();
    let e = outcome
        .expect("the callback ran before flush returned")
        .unwrap_err();
    assert_eq!(e.error, ProduceError::Broker(ErrorCode::INVALID_RECORD));
    assert_eq!(e.record.value.as_deref(), Some(&b"lost"[..]));
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!(
        (report.delivered, report.failed, report.unobserved_failed),
        (0, 1, 0)
    );
}

/// `flush` sends at once despite a long `linger` and returns when every earlier record has
/// its outcome.
pub async fn flush_ignores_linger<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let mut c = config(&broker.address());
    c.linger = Duration::from_secs(3600);
    let producer = Producer::<R>::connect(c).await.unwrap();
    let mut futures = Vec::new();
    for i in 0..5 {
        futures.push(
            producer
                .send(Record::new("flush").value(format!("{i}")))
                .await
                .unwrap(),
        );
    }
    within::<R, _>(LIMIT, producer.flush()).await;
    for f in futures {
        assert!(f.now_or_never().expect("resolved by flush").is_ok());
    }
    assert_eq!(broker.total_records(), 5);
    within::<R, _>(LIMIT, producer.close()).await;
}

/// Dropping the last handle closes gracefully in the background: futures still resolve.
pub async fn dropping_the_last_handle_delivers<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let producer = Producer::<R>::connect(config(&broker.address()))
        .await
        .unwrap();
    let f = producer.send(Record::new("drop").value("x")).await.unwrap();
    drop(producer);
    within::<R, _>(LIMIT, f).await.unwrap();
    assert_eq!(
        broker.records("drop", 0).len()
            + broker.records("drop", 1).len()
            + broker.records("drop", 2).len(),
        1
    );
}

/// Channel shape with a successes stream nobody reads: no deadlock. Input waits (or
/// `try_send` refuses) at `capacity` unread outcomes; reading one lets input go on; dropping
/// the stream lifts the limit; the errors stream ends after close.
pub async fn channels_unread_successes_do_not_deadlock<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let (input, successes, mut errors) = Producer::<R>::channels(
        config(&broker.address()),
        ChannelOptions {
            return_successes: true,
            capacity: 4,
        },
    )
    .await
    .unwrap();
    let mut successes = successes.expect("return_successes");
    for i in 0..4 {
        input
            .send(Record::new("ch").partition(0).value(format!("{i}")))
            .await
            .unwrap();
    }
    within::<R, _>(LIMIT, input.flush()).await;
    let e = input
        .try_send(Record::new("ch").partition(0).value("4"))
        .unwrap_err();
    assert_eq!(e.kind, SendErrorKind::BufferFull);
    let (md, rec) = within::<R, _>(LIMIT, successes.next()).await.unwrap();
    assert_eq!((md.partition, md.offset), (0, 0));
    assert_eq!(rec.value.as_deref(), Some(&b"0"[..]));
    input.try_send(e.record).unwrap();
    drop(successes);
    for i in 5..25 {
        within::<R, _>(
            LIMIT,
            input.send(Record::new("ch").partition(0).value(format!("{i}"))),
        )
        .await
        .unwrap();
    }
    within::<R, _>(LIMIT, input.flush()).await;
    let report = within::<R, _>(LIMIT, input.close()).await;
    assert_eq!((report.delivered, report.failed), (25, 0));
    assert!(within::<R, _>(LIMIT, errors.next()).await.is_none());
    let log = broker.records("ch", 0);
    let values: Vec<String> = log
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(values, (0..25).map(|i| i.to_string()).collect::<Vec<_>>());
}

/// Channel shape: failures come out of the errors stream with their records; no successes
/// stream unless asked for.
pub async fn channels_errors_stream<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions {
        produce_error: Some(ErrorCode::INVALID_RECORD.0),
        ..FakeBrokerOptions::default()
    });
    let (input, successes, mut errors) =
        Producer::<R>::channels(config(&broker.address()), ChannelOptions::default())
            .await
            .unwrap();
    assert!(successes.is_none());
    for i in 0..3 {
        input
            .send(Record::new("errs").partition(1).value(format!("{i}")))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = within::<R, _>(LIMIT, errors.next()).await.unwrap();
        assert_eq!(e.error, ProduceError::Broker(ErrorCode::INVALID_RECORD));
        seen.push(e.record.value.unwrap());
    }
    seen.sort();
    assert_eq!(seen, vec!["0", "1", "2"]);
    drop(input); // the last input handle: closes by itself
    assert!(within::<R, _>(LIMIT, errors.next()).await.is_none());
}

/// The broker drops the connection on the first Produce requests: the I/O error reaches the
/// core, which reconnects and retries; every record is appended once, in order.
pub async fn connection_lost_is_retried<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions {
        drop_produce_requests: 2,
        ..FakeBrokerOptions::default()
    });
    let producer = Producer::<R>::connect(config(&broker.address()))
        .await
        .unwrap();
    let mut futures = Vec::new();
    for i in 0..10 {
        let r = Record::new("flaky").partition(0).value(format!("{i}"));
        futures.push(producer.send(r).await.unwrap());
    }
    for (i, f) in futures.into_iter().enumerate() {
        let md = within::<R, _>(LIMIT, f).await.unwrap();
        assert_eq!(md.offset, i as i64);
    }
    let values: Vec<_> = broker
        .records("flaky", 0)
        .into_iter()
        .map(|r| r.value.unwrap())
        .collect();
    assert_eq!(values, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(broker.connections() >= 2, "a new connection after the drop");
    within::<R, _>(LIMIT, producer.close()).await;
}

/// Many records over several partitions: several requests in flight, vectored writes of
/// many batches; every record delivered, each partition's log in send order.
pub async fn many_records_in_order<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let mut c = config(&broker.address());
    c.batch_size = 2048;
    let producer = Producer::<R>::connect(c).await.unwrap();
    let mut futures = Vec::new();
    for i in 0..3000u32 {
        let r = Record::new("bulk")
            .partition((i % 3) as i32)
            .value(i.to_be_bytes().to_vec());
        futures.push(producer.send(r).await.unwrap());
    }
    within::<R, _>(LIMIT, producer.flush()).await;
    for f in futures {
        f.now_or_never().expect("resolved by flush").unwrap();
    }
    for p in 0..3u32 {
        let got: Vec<u32> = broker
            .records("bulk", p as i32)
            .iter()
            .map(|r| u32::from_be_bytes(r.value.as_deref().unwrap().try_into().unwrap()))
            .collect();
        let want: Vec<u32> = (0..3000).filter(|i| i % 3 == p).collect();
        assert_eq!(got, want);
    }
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!((report.delivered, report.failed), (3000, 0));
}

/// `acks=0`: the broker never answers; records count as delivered once written (offset -1),
/// and `close` still writes everything before it drops the connection.
pub async fn acks_none_writes_everything<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let mut c = config(&broker.address());
    c.acks = Acks::None;
    let producer = Producer::<R>::connect(c).await.unwrap();
    let mut futures = Vec::new();
    for i in 0..20 {
        let r = Record::new("fire").partition(0).value(format!("{i}"));
        futures.push(producer.send(r).await.unwrap());
    }
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!((report.delivered, report.failed), (20, 0));
    for f in futures {
        assert_eq!(f.now_or_never().expect("resolved").unwrap().offset, -1);
    }
    // The broker reads on its own thread: give it the time it needs, bounded.
    for _ in 0..200 {
        if broker.total_records() == 20 {
            break;
        }
        R::default().sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(broker.total_records(), 20);
}

/// `acks=0` against a broker that stops reading (issue 21, bugs 2 and 5): a request counts
/// as done only once it is written, so unwritten requests keep their `buffer.memory` and
/// `try_send` is refused with `BufferFull` instead of queueing without end; the request
/// timeout drops the stuck connection and the records go again on a new one, and the old
/// connection's unwritten bytes are dropped with it, so once the broker reads again every
/// record is in its log at most once.
pub async fn acks_none_stalled_broker<R: Runtime + Default>() {
    let broker = FakeBroker::start(FakeBrokerOptions::default());
    let mut c = config(&broker.address());
    c.acks = Acks::None;
    c.message_max_bytes = 64 * 1024;
    c.buffer_memory = 256 * 1024;
    c.request_timeout = Duration::from_secs(3);
    c.delivery_timeout = Some(Duration::from_secs(60));
    let producer = Producer::<R>::connect(c).await.unwrap();
    // Every Produce request is held, and the broker reads nothing more on its connection.
    broker.hold_produce();
    let rec = |i: u32| {
        let mut value = vec![b'x'; 1024];
        value[..4].copy_from_slice(&i.to_be_bytes());
        Record::new("stall").partition(0).value(value)
    };
    // Up to 64 MiB of records, far more than the socket buffers and 256 KiB of
    // buffer.memory. Sending goes on, waiting while the buffer is full, until the buffer
    // has stayed full for 0.3 s and then the request timeout has made the producer
    // connect again (the pressure keeps unwritten requests waiting past it).
    let mut futures = Vec::new();
    let mut full_for = 0;
    let mut stayed_full: Option<usize> = None;
    let give_up = std::time::Instant::now() + LIMIT;
    let mut i = 0u32;
    while i < 65_536 && std::time::Instant::now() < give_up {
        if stayed_full.is_some_and(|before| broker.connections() > before) {
            break;
        }
        match producer.try_send(rec(i)) {
            Ok(f) => {
                futures.push(f);
                full_for = 0;
                i += 1;
                if i % 64 == 0 {
                    // Let the driver write what it can.
                    R::default().sleep(Duration::from_millis(1)).await;
                }
            }
            Err(e) => {
                assert_eq!(e.kind, SendErrorKind::BufferFull);
                full_for += 1;
                if full_for == 60 && stayed_full.is_none() {
                    stayed_full = Some(broker.connections());
                }
                R::default().sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let Some(before) = stayed_full else {
        panic!(
            "unwritten acks=0 requests must hold buffer.memory: {} records of 1 KiB taken",
            futures.len()
        );
    };
    assert!(
        broker.connections() > before,
        "no new connection after the request timeout"
    );
    let sent = futures.len();
    broker.release_produce();
    let report = within::<R, _>(LIMIT * 3, producer.close()).await;
    assert_eq!(report.delivered + report.failed, sent as u64);
    let delivered = report.delivered as usize;
    // Bytes the old connection's socket had taken still arrive: waited for, bounded.
    let logged = broker.numbered_records_once("stall", 0, delivered, LIMIT);
    assert_eq!(logged, delivered);
}

/// Against a real broker at `bootstrap`, to an existing `topic`: records delivered with
/// offsets in order, keys on one partition each, close reports them all.
pub async fn real_broker_smoke<R: Runtime + Default>(bootstrap: &str, topic: &str) {
    let mut c = Config::new([bootstrap]);
    c.linger = Duration::from_millis(5);
    let producer = Producer::<R>::connect(c).await.unwrap();
    let mut futures = Vec::new();
    for i in 0..200 {
        let r = Record::new(topic)
            .key(format!("k{}", i % 7))
            .value(format!("v{i}"))
            .header(Header::new("i", format!("{i}")));
        futures.push((i, producer.send(r).await.unwrap()));
    }
    let mut by_key: BTreeMap<String, i32> = BTreeMap::new();
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for (i, f) in futures {
        let md = within::<R, _>(Duration::from_secs(60), f).await.unwrap();
        let key = format!("k{}", i % 7);
        assert_eq!(*by_key.entry(key).or_insert(md.partition), md.partition);
        if let Some(prev) = last.insert(md.partition, md.offset) {
            assert!(md.offset > prev);
        }
    }
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!((report.delivered, report.failed), (200, 0));
}

/// `SSL` to a broker that accepts the TCP connection and never answers the handshake: the
/// connect timeout (here `request.timeout.ms`) ends each attempt, and the record fails at its
/// delivery timeout with the typed cause, not a bare timeout; nothing hangs.
pub async fn tls_handshake_times_out<R: Runtime + Default>() {
    let silent = SilentBroker::start();
    let mut c = config(&silent.address());
    c.security_protocol = SecurityProtocol::Ssl;
    c.tls.ca = Some(Pem::Text(test_ca_pem()));
    c.request_timeout = Duration::from_millis(300);
    c.delivery_timeout = Some(Duration::from_millis(1000));
    let producer = Producer::<R>::connect(c).await.unwrap();
    let r = Record::new("stuck").value("x");
    let f = producer.send(r.clone()).await.unwrap();
    let err = within::<R, _>(LIMIT, f).await.unwrap_err();
    match &err.error {
        ProduceError::Connection(cause) => {
            assert_eq!(cause.kind, ConnectionErrorKind::TimedOut, "{cause}");
            assert_eq!(cause.broker, silent.address());
        }
        other => panic!("expected a TLS timeout, got {other:?}"),
    }
    // Handed back as sent, with the wall-clock timestamp it was stamped with at `send`.
    let stamped = err.record.timestamp.expect("stamped at send");
    assert_eq!(err.record, r.timestamp(stamped));
    let report = within::<R, _>(LIMIT, producer.close()).await;
    assert_eq!((report.delivered, report.failed), (0, 1));
}

/// Unusable TLS settings are refused at `connect`, naming the setting.
pub async fn tls_bad_settings_refused_at_connect<R: Runtime + Default>() {
    let mut c = config(&refused_address());
    c.security_protocol = SecurityProtocol::Ssl;
    c.tls.ca = Some(Pem::File("/nonexistent/odradek-ca.pem".into()));
    match Producer::<R>::connect(c).await {
        Err(ConnectError::Tls(e)) => assert!(e.to_string().contains("ssl.ca.location"), "{e}"),
        Err(other) => panic!("expected a TLS settings error, got {other}"),
        Ok(_) => panic!("a missing CA file must be refused"),
    }
}

/// Transactions through the producer handle against the simulator's transaction
/// coordinator, v1 (AddPartitionsToTxn) and v2 (Produce v12 enrols): a committed transaction
/// over two topics with consumer offsets, an aborted one (its records flushed into the log
/// first, its offsets never visible), and a third whose commit refuses a concurrent abort with
/// the typed error. The coordinator's record must say committed, aborted, committed, with the
/// partitions each wrote to and the group's offsets of the committed ones.
pub async fn transactions<R: Runtime + Default>() {
    use odradek_core::{GroupMetadata, TransactionError, TransactionState, TxnOffset};
    use odradek_sim::{TxnConfig, TxnOutcome};
    for txn in [TxnConfig::v1(), TxnConfig::v2()] {
        let v2 = txn.is_v2();
        let broker = FakeBroker::start(FakeBrokerOptions {
            transactions: txn,
            ..FakeBrokerOptions::default()
        });
        let mut c = config(&broker.address());
        c.transactional_id = Some("scenario-txn".into());
        let producer = Producer::<R>::connect(c).await.unwrap();
        let offsets = |offset| {
            vec![TxnOffset {
                topic: "in".into(),
                partition: 0,
                offset,
                leader_epoch: None,
                metadata: None,
            }]
        };
        let group = GroupMetadata::new("scenario-group");
        // Before init: refused by the core, nothing started.
        assert!(matches!(
            producer.begin_transaction(),
            Err(TransactionError::InvalidState(_))
        ));
        within::<R, _>(LIMIT, producer.init_transactions())
            .await
            .unwrap();
        assert_eq!(producer.transaction_state(), TransactionState::Ready);

        // 1: committed, two topics, offsets.
        producer.begin_transaction().unwrap();
        let mut first = Vec::new();
        for i in 0..6 {
            let topic = if i % 2 == 0 { "a" } else { "b" };
            let r = Record::new(topic).partition(i / 2).value(format!("c{i}"));
            first.push(producer.send(r).await.unwrap());
        }
        within::<R, _>(
            LIMIT,
            producer.send_offsets_to_transaction(offsets(5), group.clone()),
        )
        .await
        .unwrap();
        within::<R, _>(LIMIT, producer.commit_transaction())
            .await
            .unwrap();
        // The commit flushed: every record already has its outcome.
        for f in first {
            let md = f.now_or_never().expect("resolved by the commit").unwrap();
            let log = broker.records(md.topic.as_str(), md.partition);
            assert!(!log.is_empty());
        }

        // 2: flushed into the log, then aborted.
        producer.begin_transaction().unwrap();
        let mut second = Vec::new();
        for i in 0..4 {
            let r = Record::new("a").partition(i % 3).value(format!("x{i}"));
            second.push(producer.send(r).await.unwrap());
        }
        within::<R, _>(
            LIMIT,
            producer.send_offsets_to_transaction(offsets(99), group.clone()),
        )
        .await
        .unwrap();
        within::<R, _>(LIMIT, producer.flush()).await;
        for f in second {
            f.now_or_never().expect("flushed").unwrap();
        }
        within::<R, _>(LIMIT, producer.abort_transaction())
            .await
            .unwrap();

        // 3: an abort while the commit runs is refused; the commit goes through.
        producer.begin_transaction().unwrap();
        let last = producer
            .send(Record::new("b").partition(0).value("c-last"))
            .await
            .unwrap();
        within::<R, _>(
            LIMIT,
            producer.send_offsets_to_transaction(offsets(7), group.clone()),
        )
        .await
        .unwrap();
        let (commit, abort) = within::<R, _>(
            LIMIT,
            futures_util::future::join(producer.commit_transaction(), producer.abort_transaction()),
        )
        .await;
        commit.unwrap();
        let refused = abort.expect_err("refused while the commit runs");
        assert!(
            matches!(refused, TransactionError::InvalidState(_)),
            "{refused:?}"
        );
        last.now_or_never()
            .expect("resolved by the commit")
            .unwrap();
        let report = producer.close().await;
        assert_eq!((report.delivered, report.failed), (11, 0), "{report:?}");

        // The coordinator writes the markers (and makes the offsets visible) after it
        // answered EndTxn: wait until the last transaction is complete.
        let mut snap = broker.txn_snapshot();
        for _ in 0..500 {
            if snap.transactions.len() == 3
                && snap.transactions.iter().all(|t| t.completed_at.is_some())
            {
                break;
            }
            R::default().sleep(Duration::from_millis(10)).await;
            snap = broker.txn_snapshot();
        }
        let outcomes: Vec<TxnOutcome> = snap.transactions.iter().map(|t| t.outcome).collect();
        assert_eq!(
            outcomes,
            [
                TxnOutcome::Committed,
                TxnOutcome::Aborted,
                TxnOutcome::Committed
            ],
            "v2 {v2}: {snap:?}"
        );
        let wrote: Vec<usize> = snap
            .transactions
            .iter()
            .map(|t| t.partitions.len())
            .collect();
        assert_eq!(
            wrote,
            [6, 3, 1],
            "v2 {v2}: partitions enrolled per transaction"
        );
        let visible = &snap.offsets[&("scenario-group".into(), "in".into(), 0)];
        assert_eq!(visible.offset, 7, "v2 {v2}: the committed offsets only");
        if v2 {
            // Transactions v2: the epoch is bumped by every EndTxn.
            let epochs: Vec<i16> = snap.transactions.iter().map(|t| t.epoch).collect();
            assert!(epochs.windows(2).all(|w| w[1] > w[0]), "{epochs:?}");
        }
    }
}
