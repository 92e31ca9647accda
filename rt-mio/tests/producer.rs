//! odradek-mio against a fake broker on a real loopback socket. Every wait is on readiness,
//! bounded by a timeout; nothing sleeps for a fixed time.

// `SendError` hands the record back by value: the API shared by every odradek crate.
#![allow(clippy::result_large_err)]

use bytes::Bytes;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use odradek_driver::testing::{
    refused_address, test_ca_pem, FakeBroker, FakeBrokerOptions, SilentBroker,
};
use odradek_mio::odradek_core::{ConnectionErrorKind, RecordId};
use odradek_mio::{
    BlockingProducer, ChannelOptions, Config, MioProducer, ProduceError, ProducerEvent, Record,
    RecordMetadata, SendErrorKind, TokenRange,
};
use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Generous bound for anything that should happen promptly on loopback.
const PATIENCE: Duration = Duration::from_secs(20);

fn config(broker: &str) -> Config {
    let mut config = Config::new([broker]);
    config.linger = Duration::from_millis(1);
    config.retry_backoff = Duration::from_millis(20);
    config
}

/// A fake broker whose topics all have `partitions` partitions.
fn start_broker(partitions: i32) -> FakeBroker {
    FakeBroker::start(FakeBrokerOptions {
        partitions,
        ..FakeBrokerOptions::default()
    })
}

/// Checks that `metadata` points at the broker's copy of a record with `value`.
fn assert_stored(broker: &FakeBroker, metadata: &RecordMetadata, value: &[u8]) {
    let log = broker.records(metadata.topic.as_str(), metadata.partition);
    let stored = usize::try_from(metadata.offset)
        .ok()
        .and_then(|o| log.get(o))
        .unwrap_or_else(|| panic!("{metadata:?} is not in the broker's log"));
    assert_eq!(stored.value.as_deref(), Some(value), "{metadata:?}");
}

#[test]
fn embedded_loop_delivers_with_user_allotted_tokens() {
    let broker = start_broker(3);
    let mut poll = Poll::new().unwrap();
    // The user's own source, on the user's own token.
    const MINE: Token = Token(7);
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    poll.registry()
        .register(&mut listener, MINE, Interest::READABLE)
        .unwrap();
    let range = TokenRange::new(500, 4);
    let mut producer = MioProducer::new(config(&broker.address()), poll.registry(), range).unwrap();
    assert!(producer.owns(Token(500)) && producer.owns(Token(503)));
    assert!(!producer.owns(MINE) && !producer.owns(Token(504)));

    const N: usize = 20;
    let mut values = HashSet::new();
    let mut by_id = std::collections::HashMap::new();
    for i in 0..N {
        let value = format!("embedded {i}");
        values.insert(value.clone());
        let id = producer
            .send(
                Record::new("events")
                    .key(format!("k{i}"))
                    .value(value.clone()),
            )
            .unwrap();
        by_id.insert(id, value);
    }

    let mut events = Events::with_capacity(64);
    let mut producer_tokens_seen = HashSet::new();
    let mut delivered = Vec::new();
    let mut closed = false;
    let deadline = Instant::now() + PATIENCE;
    while !closed {
        assert!(
            Instant::now() < deadline,
            "timed out; delivered {}",
            delivered.len()
        );
        let timeout = producer.timeout().map_or(Duration::from_millis(100), |t| {
            t.min(Duration::from_millis(100))
        });
        poll.poll(&mut events, Some(timeout)).unwrap();
        for event in events.iter() {
            let token = event.token();
            if producer.owns(token) {
                producer_tokens_seen.insert(token);
                producer.handle_event(event);
            } else {
                assert_eq!(token, MINE, "an event for a token nobody allotted");
            }
        }
        producer.after_poll();
        while let Some(event) = producer.poll_event() {
            match event {
                ProducerEvent::Delivered {
                    id,
                    metadata,
                    record,
                } => {
                    assert!(record.is_none(), "no record handed back by default");
                    delivered.push((metadata, by_id[&id].clone()));
                }
                ProducerEvent::Failed { error, .. } => panic!("unexpected failure: {error}"),
                ProducerEvent::Closed => closed = true,
                ProducerEvent::Transaction { op, .. } => panic!("no transaction started: {op:?}"),
            }
        }
        if delivered.len() == N && !producer.core().is_closing() {
            producer.close();
        }
    }

    assert_eq!(delivered.len(), N);
    let got: HashSet<String> = delivered.iter().map(|(_, value)| value.clone()).collect();
    assert_eq!(got, values, "each record delivered exactly once");
    for (metadata, value) in &delivered {
        assert_stored(&broker, metadata, value.as_bytes());
    }
    assert_eq!(broker.total_records(), N);
    assert!(
        !producer_tokens_seen.is_empty(),
        "the producer's sockets live on tokens from its range"
    );
    assert!(producer_tokens_seen.iter().all(|t| range.contains(*t)));
    assert!(producer.is_closed());
    assert_eq!(producer.connections(), 0, "close disconnects everything");
}

#[test]
fn blocking_producer_delivers_from_several_threads() {
    let broker = start_broker(3);
    let producer = Arc::new(BlockingProducer::connect(config(&broker.address())).unwrap());
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let producer = Arc::clone(&producer);
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let value = format!("thread {t} record {i}");
                        let receipt = producer
                            .send(
                                Record::new("events")
                                    .key(format!("{t}"))
                                    .value(value.clone()),
                            )
                            .unwrap();
                        (value, receipt)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let receipts: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut offsets = HashSet::new();
    for (value, receipt) in receipts {
        let metadata = receipt.wait().expect("delivered");
        assert_stored(&broker, &metadata, value.as_bytes());
        assert!(offsets.insert((metadata.partition, metadata.offset)));
    }
    let producer = Arc::try_unwrap(producer).unwrap();
    producer.flush();
    assert_eq!(producer.pending_records(), 0);
    let report = producer.close();
    assert_eq!(report.delivered, 75);
    assert_eq!(report.failed, 0);
    assert!(report.all_delivered());
    assert_eq!(broker.total_records(), 75);
}

/// `send_with`: every callback runs once with its own record's outcome, before `flush`
/// returns; a callback may send again (no lock is held while it runs); a refused record
/// comes back and its callback never runs; failures reach the callback with the record.
#[test]
fn blocking_send_with_runs_each_callback_once() {
    let broker = start_broker(3);
    let producer = BlockingProducer::connect(config(&broker.address())).unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..100usize {
        let tx = tx.clone();
        let again = producer.clone();
        let r = Record::new("events").value(format!("v{i}"));
        producer
            .send_with(r, move |outcome| {
                if i == 0 {
                    again
                        .try_send_with(Record::new("events").value("again"), |o| {
                            assert!(o.is_ok(), "{o:?}")
                        })
                        .unwrap();
                }
                tx.send((i, outcome)).unwrap();
            })
            .unwrap();
    }
    drop(tx);
    let refused = producer
        .try_send_with(Record::new("bad topic!").value("x"), |_| {
            panic!("a refused record's callback must not run")
        })
        .unwrap_err();
    assert_eq!(refused.record.value.as_deref(), Some(&b"x"[..]));
    producer.flush();
    let seen: Vec<_> = rx.try_iter().collect();
    assert_eq!(seen.len(), 100, "every callback ran before flush returned");
    let mut ids: Vec<usize> = seen.iter().map(|(i, _)| *i).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..100).collect::<Vec<_>>());
    for (i, outcome) in &seen {
        let metadata = outcome.as_ref().expect("delivered");
        assert_stored(&broker, metadata, format!("v{i}").as_bytes());
    }
    let report = producer.close();
    assert_eq!((report.delivered, report.failed), (101, 0));
    assert_eq!(broker.total_records(), 101);

    let broker = FakeBroker::start(FakeBrokerOptions {
        produce_error: Some(odradek_core::protocol::ErrorCode::INVALID_RECORD.0),
        ..FakeBrokerOptions::default()
    });
    let producer = BlockingProducer::connect(config(&broker.address())).unwrap();
    let (tx, rx) = mpsc::channel();
    let r = Record::new("bad").partition(0).value("lost");
    producer.send_with(r, move |o| tx.send(o).unwrap()).unwrap();
    let e = rx.recv_timeout(PATIENCE).expect("ran").unwrap_err();
    assert!(matches!(e.error, ProduceError::Broker(_)), "{e}");
    assert_eq!(e.record.value.as_deref(), Some(&b"lost"[..]));
    assert!(rx.try_recv().is_err(), "once");
    let report = producer.close();
    assert_eq!(
        (report.delivered, report.failed, report.unobserved_failed),
        (0, 1, 0)
    );
}

fn small_buffer_config(broker: &str) -> Config {
    let mut config = config(broker);
    config.linger = Duration::ZERO;
    config.max_request_size = 1024;
    config.message_max_bytes = 1024;
    config.buffer_memory = 1024;
    config
}

#[test]
fn backpressure_try_send_refuses_and_send_waits_for_space() {
    let broker = start_broker(1);
    broker.hold_produce();
    let producer =
        Arc::new(BlockingProducer::connect(small_buffer_config(&broker.address())).unwrap());
    let value = Bytes::from(vec![b'x'; 300]);
    let mut receipts = Vec::new();
    let mut refused = None;
    for _ in 0..64 {
        match producer.try_send(Record::new("bp").value(value.clone())) {
            Ok(receipt) => receipts.push(receipt),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("a 1 KiB buffer fills up");
    assert_eq!(refused.kind, SendErrorKind::BufferFull);
    assert_eq!(
        refused.record.value.as_ref(),
        Some(&value),
        "the record comes back"
    );
    assert!(
        !receipts.is_empty(),
        "records fit before the buffer is full"
    );

    // `send` waits while the buffer is full...
    let (done_tx, done_rx) = mpsc::channel();
    let sender = {
        let producer = Arc::clone(&producer);
        let value = value.clone();
        std::thread::spawn(move || {
            let receipt = producer.send(Record::new("bp").value(value));
            done_tx.send(()).unwrap();
            receipt
        })
    };
    assert_eq!(
        done_rx.recv_timeout(Duration::from_millis(300)),
        Err(mpsc::RecvTimeoutError::Timeout),
        "send returned while the buffer was full"
    );
    // ...and proceeds once responses free space.
    broker.release_produce();
    done_rx
        .recv_timeout(PATIENCE)
        .expect("send proceeds once space frees");
    let last = sender.join().unwrap().expect("accepted after waiting");
    receipts.push(last);
    for receipt in receipts {
        let metadata = receipt.wait().expect("delivered");
        assert_stored(&broker, &metadata, &value);
    }
    let producer = Arc::try_unwrap(producer).unwrap();
    let report = producer.close();
    assert!(report.all_delivered());
}

#[test]
fn refused_connection_fails_records_within_delivery_timeout() {
    let address = refused_address();
    let mut config = config(&address);
    config.delivery_timeout = Some(Duration::from_millis(800));
    config.request_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let producer = BlockingProducer::connect(config).unwrap();
    let mut receipt = producer.send(Record::new("nowhere").value("lost")).unwrap();
    // A second record whose receipt nobody keeps: its failure must reach the report.
    drop(
        producer
            .send(Record::new("nowhere").value("unseen"))
            .unwrap(),
    );

    let outcome = receipt
        .wait_timeout(PATIENCE)
        .expect("an outcome within delivery.timeout");
    let error = outcome.expect_err("nothing listens there");
    assert!(
        matches!(
            &error.error,
            ProduceError::Connection(cause)
                if cause.kind == ConnectionErrorKind::ConnectFailed
                    && cause.broker == address
        ),
        "unexpected error {:?}",
        error.error
    );
    assert_eq!(error.record.value.as_deref(), Some(&b"lost"[..]));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed only after {:?}",
        started.elapsed()
    );

    let report = producer.close();
    assert_eq!(report.failed, 2);
    assert_eq!(report.delivered, 0);
    assert_eq!(report.unobserved_failed, 1);
    assert_eq!(
        report.unobserved_failures[0].record.value.as_deref(),
        Some(&b"unseen"[..])
    );
}

#[test]
fn close_with_records_in_flight_reports_every_outcome() {
    let broker = start_broker(2);
    broker.hold_produce();
    let producer = BlockingProducer::connect(config(&broker.address())).unwrap();
    let mut kept = Vec::new();
    for i in 0..30 {
        let value = format!("in flight {i}");
        let receipt = producer
            .send(Record::new("closing").value(value.clone()))
            .unwrap();
        if i % 2 == 0 {
            kept.push((value, receipt));
        } // the odd ones' receipts are dropped: their outcomes still count
    }
    assert!(
        broker.wait_for(PATIENCE, |st| st.produce_requests > 0),
        "records reach the broker"
    );
    let (report_tx, report_rx) = mpsc::channel();
    let closer = std::thread::spawn(move || report_tx.send(producer.close()).unwrap());
    assert!(
        report_rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "close returned with records still in flight"
    );
    broker.release_produce();
    let report = report_rx.recv_timeout(PATIENCE).expect("close finishes");
    closer.join().unwrap();
    assert_eq!(report.delivered, 30);
    assert_eq!(report.failed, 0);
    for (value, receipt) in kept {
        let metadata = receipt.wait().expect("delivered before close returned");
        assert_stored(&broker, &metadata, value.as_bytes());
    }
    assert_eq!(broker.total_records(), 30);
    assert!(
        broker.wait_for(PATIENCE, |st| st.open_connections == 0),
        "close drops every connection"
    );
}

#[test]
fn unread_channels_never_block_the_producer() {
    let broker = start_broker(1);
    let options = ChannelOptions {
        return_successes: true,
        capacity: 4,
    };
    let (input, successes, errors) =
        BlockingProducer::channels(config(&broker.address()), options).unwrap();
    let successes = successes.expect("asked for successes");
    for i in 0..4 {
        input
            .send(Record::new("chan").value(format!("c{i}")))
            .unwrap();
    }
    // Nobody reads, yet every record still gets its outcome and flush returns.
    input.flush();
    assert_eq!(broker.total_records(), 4);
    // Four unread outcomes fill the queues: input is refused, not the producer stuck.
    let refused = input
        .try_send(Record::new("chan").value("c4"))
        .expect_err("capacity is 4");
    assert_eq!(refused.kind, SendErrorKind::BufferFull);
    // Reading one makes room.
    let (metadata, record) = successes
        .recv_timeout(PATIENCE)
        .expect("a success is queued");
    assert_stored(&broker, &metadata, record.value.as_ref().unwrap());
    input.try_send(refused.record).expect("room after one read");
    // Dropping the successes receiver means "not interested": input flows freely.
    drop(successes);
    for i in 5..20 {
        input
            .send(Record::new("chan").value(format!("c{i}")))
            .unwrap();
    }
    let report = input.close();
    assert_eq!(report.delivered, 20);
    assert_eq!(report.failed, 0);
    assert_eq!(broker.total_records(), 20);
    // The errors receiver ends once the producer is closed.
    assert!(errors.recv().is_none());
}

#[test]
fn dropping_the_last_handle_closes_in_the_background_and_receipts_still_resolve() {
    let broker = start_broker(1);
    let producer = BlockingProducer::connect(config(&broker.address())).unwrap();
    let clone = producer.clone();
    let receipt = producer
        .send(Record::new("dropped").value("still delivered"))
        .unwrap();
    drop(producer);
    // Another handle is alive: the producer still takes records.
    let second = clone.send(Record::new("dropped").value("second")).unwrap();
    drop(clone);
    let metadata = receipt
        .wait()
        .expect("delivered after the handles were dropped");
    assert_stored(&broker, &metadata, b"still delivered");
    let metadata = second.wait().expect("delivered");
    assert_stored(&broker, &metadata, b"second");
    // The background close disconnects: the broker sees its connections end.
    assert!(broker.wait_for(PATIENCE, |st| st.connections > 0
        && st.open_connections == 0));
}

#[test]
fn invalid_configuration_is_refused_at_connect() {
    let err = BlockingProducer::connect(Config::new(["no-port"])).unwrap_err();
    assert!(matches!(
        err,
        odradek_mio::ConnectError::Config(odradek_mio::ConfigError::BadAddress(_))
    ));
    let poll = Poll::new().unwrap();
    let err = MioProducer::new(
        Config::new(Vec::<String>::new()),
        poll.registry(),
        TokenRange::new(1, 1),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        odradek_mio::ConnectError::Config(odradek_mio::ConfigError::NoBootstrapServers)
    ));
}

#[test]
fn unread_errors_do_not_stop_close() {
    let mut config = config(&refused_address());
    config.delivery_timeout = Some(Duration::from_millis(500));
    config.request_timeout = Duration::from_millis(400);
    let options = ChannelOptions {
        return_successes: false,
        capacity: 2,
    };
    let (input, successes, errors) = BlockingProducer::channels(config, options).unwrap();
    assert!(successes.is_none(), "successes were not asked for");
    input.send(Record::new("nowhere").value("e0")).unwrap();
    input.send(Record::new("nowhere").value("e1")).unwrap();
    // Nobody reads the errors; close still finishes with both outcomes.
    let report = input.close();
    assert_eq!(report.failed, 2);
    assert_eq!(
        report.unobserved_failed, 0,
        "both are queued on the errors receiver"
    );
    let mut values: Vec<_> = errors
        .map(|e| String::from_utf8(e.record.value.unwrap().to_vec()).unwrap())
        .collect();
    values.sort();
    assert_eq!(values, ["e0", "e1"], "the receiver yields both, then ends");
}

/// acks=0 records are reported delivered when their Produce request is handed to the socket,
/// so `close` must write every byte queued before the connection goes (issue 6, §2 item 4).
/// The core emits the last Transmit, the records' Delivered, the Disconnect and Closed in one
/// batch of outputs; enough bytes that the socket cannot take them in one write.
fn acks_none_config(broker: &str) -> Config {
    let mut config = config(broker);
    config.acks = odradek_mio::Acks::None;
    // Nothing leaves before close: the whole backlog goes out with the Disconnect.
    config.linger = Duration::from_secs(30);
    config.batch_size = 256 * 1024;
    config
}

const ACKS_NONE_RECORDS: usize = 400;

fn acks_none_value(i: usize) -> Vec<u8> {
    let mut v = format!("acks0 {i:06} ").into_bytes();
    v.resize(16 * 1024, b'.');
    v
}

fn wait_for_records(broker: &FakeBroker, n: usize) -> usize {
    broker.wait_for(PATIENCE, |st| st.records >= n);
    broker.total_records()
}

#[test]
fn blocking_close_with_acks_none_writes_everything_queued() {
    let broker = start_broker(2);
    let producer = BlockingProducer::connect(acks_none_config(&broker.address())).unwrap();
    for i in 0..ACKS_NONE_RECORDS {
        producer
            .send(Record::new("acks0").value(acks_none_value(i)))
            .unwrap();
    }
    let report = producer.close();
    assert_eq!(report.delivered, ACKS_NONE_RECORDS as u64);
    assert_eq!(report.failed, 0);
    assert_eq!(
        wait_for_records(&broker, ACKS_NONE_RECORDS),
        ACKS_NONE_RECORDS,
        "every record reported delivered reaches the broker"
    );
    let mut seen: Vec<Vec<u8>> = (0..2)
        .flat_map(|p| broker.records("acks0", p))
        .filter_map(|r| r.value.map(|v| v.to_vec()))
        .collect();
    seen.sort();
    let mut want: Vec<Vec<u8>> = (0..ACKS_NONE_RECORDS).map(acks_none_value).collect();
    want.sort();
    assert!(seen == want, "each record exactly once");
}

/// `acks=0` against a broker that stops reading (issue 21, bugs 2 and 5): unwritten requests
/// keep their `buffer.memory` (the buffer fills and stays full instead of queueing without
/// end); the request timeout drops the stuck connection, whose unwritten bytes go with it,
/// and the records go again on a new one: each is in the log at most once.
#[test]
fn blocking_acks_none_stalled_broker_bounds_memory_and_writes_once() {
    let broker = start_broker(1);
    let mut c = config(&broker.address());
    c.acks = odradek_mio::Acks::None;
    c.message_max_bytes = 64 * 1024;
    c.buffer_memory = 256 * 1024;
    c.request_timeout = Duration::from_secs(3);
    c.delivery_timeout = Some(Duration::from_secs(60));
    let producer = BlockingProducer::connect(c).unwrap();
    broker.hold_produce();
    let rec = |i: u32| {
        let mut value = vec![b'x'; 1024];
        value[..4].copy_from_slice(&i.to_be_bytes());
        Record::new("stall").partition(0).value(value)
    };
    // Up to 64 MiB, far more than the socket buffers and 256 KiB of buffer.memory. Sending
    // goes on, retrying while the buffer is full, until it has stayed full for 0.3 s and
    // then the request timeout has made the producer connect again (the pressure keeps
    // unwritten requests waiting past it).
    let mut receipts = Vec::new();
    let mut full_since: Option<Instant> = None;
    let mut stayed_full: Option<usize> = None;
    let give_up = Instant::now() + PATIENCE;
    let mut i = 0u32;
    while i < 65_536 && Instant::now() < give_up {
        if stayed_full.is_some_and(|before| broker.connections() > before) {
            break;
        }
        match producer.try_send(rec(i)) {
            Ok(r) => {
                receipts.push(r);
                full_since = None;
                i += 1;
            }
            Err(e) => {
                assert_eq!(e.kind, SendErrorKind::BufferFull);
                let since = *full_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(300) && stayed_full.is_none() {
                    stayed_full = Some(broker.connections());
                }
                // The buffer is meant to stay full: try again shortly.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    let Some(before) = stayed_full else {
        panic!(
            "unwritten acks=0 requests must hold buffer.memory: {} records of 1 KiB taken",
            receipts.len()
        );
    };
    assert!(
        broker.connections() > before,
        "no new connection after the request timeout"
    );
    let sent = receipts.len();
    broker.release_produce();
    let report = producer.close();
    assert_eq!(report.delivered + report.failed, sent as u64);
    let delivered = report.delivered as usize;
    let logged = broker.numbered_records_once("stall", 0, delivered, PATIENCE);
    assert_eq!(logged, delivered);
}

#[test]
fn embedded_close_with_acks_none_writes_everything_queued() {
    let broker = start_broker(2);
    let mut poll = Poll::new().unwrap();
    let mut producer = MioProducer::new(
        acks_none_config(&broker.address()),
        poll.registry(),
        TokenRange::new(100, 8),
    )
    .unwrap();
    for i in 0..ACKS_NONE_RECORDS {
        producer
            .send(Record::new("acks0").value(acks_none_value(i)))
            .unwrap();
    }
    producer.close();
    let mut delivered = 0;
    let closed = std::cell::Cell::new(false);
    drive_until(
        &mut poll,
        &mut producer,
        |event| match event {
            ProducerEvent::Delivered { .. } => delivered += 1,
            ProducerEvent::Failed { error, .. } => panic!("unexpected failure: {error}"),
            ProducerEvent::Closed => closed.set(true),
            ProducerEvent::Transaction { op, .. } => panic!("no transaction started: {op:?}"),
        },
        |_| closed.get(),
    );
    assert_eq!(delivered, ACKS_NONE_RECORDS);
    assert_eq!(producer.connections(), 0, "close disconnects everything");
    assert_eq!(
        wait_for_records(&broker, ACKS_NONE_RECORDS),
        ACKS_NONE_RECORDS,
        "every record reported delivered reaches the broker"
    );
}

/// `SSL` to a broker that takes the TCP connection and never answers the handshake: the
/// connect deadline (here `request.timeout.ms`) ends each attempt and the record fails with
/// the typed TLS cause at its delivery timeout; a missing CA file is refused at connect.
#[test]
fn tls_handshake_that_never_finishes_fails_with_a_typed_cause() {
    use odradek_mio::{ConnectError, ConnectionErrorKind, Pem, SecurityProtocol};
    let silent = SilentBroker::start();
    let mut config = config(&silent.address());
    config.security_protocol = SecurityProtocol::Ssl;
    config.tls.ca = Some(Pem::Text(test_ca_pem()));
    config.request_timeout = Duration::from_millis(300);
    config.delivery_timeout = Some(Duration::from_millis(1000));
    let started = Instant::now();
    let producer = BlockingProducer::connect(config.clone()).unwrap();
    let mut receipt = producer.send(Record::new("stuck").value("x")).unwrap();
    let error = receipt
        .wait_timeout(PATIENCE)
        .expect("an outcome within delivery.timeout")
        .expect_err("the handshake never finishes");
    match &error.error {
        ProduceError::Connection(cause) => {
            assert_eq!(cause.kind, ConnectionErrorKind::TimedOut, "{cause}");
            assert_eq!(cause.broker, silent.address());
        }
        other => panic!("expected a TLS timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(producer.close().failed, 1);

    config.tls.ca = Some(Pem::File("/nonexistent/odradek-ca.pem".into()));
    match BlockingProducer::connect(config) {
        Err(ConnectError::Tls(e)) => assert!(e.to_string().contains("ssl.ca.location"), "{e}"),
        Err(other) => panic!("expected a TLS settings error, got {other}"),
        Ok(_) => panic!("a missing CA file must be refused"),
    }
}

/// The embedded producer polled with nothing but its own [`MioProducer::timeout`] (no cap of
/// the loop's own): more records than one wake-up's work cap takes, many partitions, sends
/// between polls refused while the buffer is full. Every record must be delivered once, and
/// no poll may sleep to the loop's safety limit while records wait: that would be a lost
/// wake-up (work left behind a cap, a send that needed the driver, a timer not covered by
/// `timeout()`) of the kind that made a 5,000-partition run idle for two minutes.
#[test]
fn embedded_loop_on_its_own_timeout_never_sleeps_with_work_left() {
    const N: usize = 20_000;
    const SAFETY: Duration = Duration::from_secs(10);
    let broker = start_broker(64);
    let mut c = config(&broker.address());
    c.linger = Duration::from_millis(5);
    c.buffer_memory = 1 << 20;
    let mut poll = Poll::new().unwrap();
    let mut producer = MioProducer::new(c, poll.registry(), TokenRange::new(10, 8)).unwrap();
    let mut events = Events::with_capacity(64);
    let (mut sent, mut delivered, mut stalls) = (0, 0, 0);
    let mut seen = HashSet::new();
    let give_up = Instant::now() + PATIENCE * 3;
    while !producer.is_closed() {
        assert!(
            Instant::now() < give_up,
            "timed out: {sent} sent, {delivered} delivered"
        );
        while sent < N {
            let value = format!("{sent:08}{}", "v".repeat(200));
            match producer.send(Record::new("many").key(format!("k{sent}")).value(value)) {
                Ok(_) => sent += 1,
                Err(e) if e.kind == SendErrorKind::BufferFull => break,
                Err(e) => panic!("{e}"),
            }
        }
        if sent == N && delivered == N && !producer.core().is_closing() {
            producer.close();
        }
        // Outcomes are drained after every call into the producer, as documented.
        drain(&mut producer, &mut delivered, &mut seen);
        if producer.is_closed() {
            break;
        }
        let timeout = producer.timeout().map_or(SAFETY, |t| t.min(SAFETY));
        let started = Instant::now();
        poll.poll(&mut events, Some(timeout)).unwrap();
        if events.is_empty() && started.elapsed() >= SAFETY {
            stalls += 1;
            eprintln!(
                "slept {SAFETY:?}: {sent} sent, {delivered} delivered, {} pending",
                producer.core().pending_records()
            );
        }
        for event in events.iter() {
            producer.handle_event(event);
        }
        producer.after_poll();
        drain(&mut producer, &mut delivered, &mut seen);
    }
    assert_eq!(
        stalls, 0,
        "polls that slept to the safety limit with records waiting"
    );
    assert_eq!((sent, delivered), (N, N));
    assert_eq!(broker.total_records(), N);
}

/// Takes every outcome the producer has, checking each record is delivered once.
fn drain(producer: &mut MioProducer, delivered: &mut usize, seen: &mut HashSet<RecordId>) {
    while let Some(event) = producer.poll_event() {
        match event {
            ProducerEvent::Delivered { id, .. } => {
                *delivered += 1;
                assert!(seen.insert(id), "delivered twice");
            }
            ProducerEvent::Failed { error, .. } => panic!("unexpected failure: {error}"),
            ProducerEvent::Closed => {}
            ProducerEvent::Transaction { op, .. } => panic!("no transaction started: {op:?}"),
        }
    }
}

/// Drives `producer` until `done` says so (or [`PATIENCE`] runs out), handing every event to
/// `on_event`.
fn drive_until(
    poll: &mut Poll,
    producer: &mut MioProducer,
    mut on_event: impl FnMut(ProducerEvent),
    mut done: impl FnMut(&MioProducer) -> bool,
) {
    let mut events = Events::with_capacity(64);
    let deadline = Instant::now() + PATIENCE;
    while !done(producer) {
        assert!(Instant::now() < deadline, "timed out");
        let timeout = producer.timeout().map_or(Duration::from_millis(100), |t| {
            t.min(Duration::from_millis(100))
        });
        poll.poll(&mut events, Some(timeout)).unwrap();
        for event in events.iter() {
            producer.handle_event(event);
        }
        producer.after_poll();
        while let Some(e) = producer.poll_event() {
            on_event(e);
        }
    }
}

/// An event of the embedded transactional producer: a delivered record's id, or a
/// transaction operation's outcome.
type Seen = (
    Option<RecordId>,
    Option<(
        odradek_mio::TxnOp,
        Result<(), odradek_mio::TransactionError>,
    )>,
);

/// The embedded producer's transactions: each operation starts at once and ends with one
/// `ProducerEvent::Transaction`, after the record outcomes it waited for; a second operation
/// while one runs is refused; the coordinator (the simulator's, transactions v2) records a
/// committed then an aborted transaction.
#[test]
fn embedded_transactions_end_with_events() {
    use odradek_driver::testing::{TxnConfig, TxnOutcome};
    use odradek_mio::{GroupMetadata, TransactionError, TxnOffset, TxnOp};
    use std::cell::RefCell;
    let broker = FakeBroker::start(FakeBrokerOptions {
        transactions: TxnConfig::v2(),
        ..FakeBrokerOptions::default()
    });
    let mut poll = Poll::new().unwrap();
    let mut c = config(&broker.address());
    c.transactional_id = Some("embedded-txn".into());
    let mut producer = MioProducer::new(c, poll.registry(), TokenRange::new(10, 8)).unwrap();
    // What came, in order: a delivered record's id, or a transaction operation's outcome.
    let seen: RefCell<Vec<Seen>> = RefCell::new(Vec::new());
    let on_event = |e: ProducerEvent| match e {
        ProducerEvent::Delivered { id, .. } => seen.borrow_mut().push((Some(id), None)),
        ProducerEvent::Failed { error, .. } => panic!("{error}"),
        ProducerEvent::Transaction { op, result } => {
            seen.borrow_mut().push((None, Some((op, result))))
        }
        ProducerEvent::Closed => {}
    };
    let txn_events =
        |seen: &RefCell<Vec<Seen>>| seen.borrow().iter().filter(|(_, t)| t.is_some()).count();

    producer.init_transactions().unwrap();
    assert!(
        matches!(
            producer.commit_transaction(),
            Err(TransactionError::InvalidState(_))
        ),
        "a second operation while init runs is refused"
    );
    drive_until(&mut poll, &mut producer, on_event, |_| {
        txn_events(&seen) == 1
    });

    producer.begin_transaction().unwrap();
    let ids: Vec<RecordId> = (0..5)
        .map(|i| {
            producer
                .send(
                    Record::new("events")
                        .partition(i % 3)
                        .value(format!("t{i}")),
                )
                .unwrap()
        })
        .collect();
    let offsets = vec![TxnOffset {
        topic: "in".into(),
        partition: 0,
        offset: 3,
        leader_epoch: None,
        metadata: None,
    }];
    producer
        .send_offsets_to_transaction(offsets, GroupMetadata::new("embedded-group"))
        .unwrap();
    drive_until(&mut poll, &mut producer, on_event, |_| {
        txn_events(&seen) == 2
    });
    producer.commit_transaction().unwrap();
    drive_until(&mut poll, &mut producer, on_event, |_| {
        txn_events(&seen) == 3
    });

    // Aborted once its record is in the log (an abort before anything reached a partition
    // is answered INVALID_TXN_STATE by the simulator's v2 coordinator, OK by Kafka 4.1).
    producer.begin_transaction().unwrap();
    let aborted = producer
        .send(Record::new("events").partition(0).value("aborted"))
        .unwrap();
    producer.flush();
    let delivered =
        |seen: &RefCell<Vec<Seen>>| seen.borrow().iter().any(|(id, _)| *id == Some(aborted));
    drive_until(&mut poll, &mut producer, on_event, |_| delivered(&seen));
    producer.abort_transaction().unwrap();
    drive_until(&mut poll, &mut producer, on_event, |_| {
        txn_events(&seen) == 4
    });
    producer.close();
    drive_until(&mut poll, &mut producer, on_event, MioProducer::is_closed);

    let seen = seen.into_inner();
    let txns: Vec<(TxnOp, Result<(), TransactionError>)> =
        seen.iter().filter_map(|(_, t)| t.clone()).collect();
    assert_eq!(
        txns,
        [
            (TxnOp::Init, Ok(())),
            (TxnOp::SendOffsets, Ok(())),
            (TxnOp::Commit, Ok(())),
            (TxnOp::Abort, Ok(())),
        ]
    );
    // The commit's event comes after every record of its transaction was delivered.
    let commit_at = seen
        .iter()
        .position(|(_, t)| matches!(t, Some((TxnOp::Commit, _))))
        .unwrap();
    let delivered: HashSet<RecordId> = seen[..commit_at].iter().filter_map(|(id, _)| *id).collect();
    assert!(ids.iter().all(|id| delivered.contains(id)), "{seen:?}");
    let outcomes: Vec<TxnOutcome> = broker
        .txn_snapshot()
        .transactions
        .iter()
        .map(|t| t.outcome)
        .collect();
    assert_eq!(outcomes, [TxnOutcome::Committed, TxnOutcome::Aborted]);
}
