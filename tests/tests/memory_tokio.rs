//! What a full buffer costs behind the async driver (odradek-tokio): a broker that holds every
//! Produce (a dead or frozen leader), 100-byte records sent until `buffer.memory` refuses
//! more, and the process's resident memory before and after. Delivery futures are kept, as a
//! caller awaiting them would.
//!
//! One test per binary: resident memory is per process, and tests run on parallel threads.

#![allow(clippy::result_large_err)]

use odradek_core::{Config, Record, SendErrorKind};
use odradek_driver::testing::{resident_kib, FakeBroker, FakeBrokerOptions};
use std::time::Duration;

/// `buffer.memory` of the test.
const BUFFER: u64 = 16 << 20;
/// Allowed growth beyond it: allocator slack, the test's own futures.
const SLACK: u64 = 8 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_buffer_stays_within_buffer_memory() {
    let broker = FakeBroker::start(FakeBrokerOptions {
        partitions: 6,
        ..FakeBrokerOptions::default()
    });
    broker.hold_produce();
    let mut config = Config::new([broker.address()]);
    config.linger = Duration::from_millis(1);
    config.buffer_memory = BUFFER as usize;
    let producer = odradek_tokio::Producer::connect(config).await.unwrap();
    let before = resident_kib();
    let mut deliveries = Vec::new();
    let mut n = 0u64;
    loop {
        let value = format!("{n:012}{}", ".".repeat(88));
        match producer.try_send(Record::new("mem").key(format!("key-{n}")).value(value)) {
            Ok(d) => deliveries.push(d),
            Err(e) if e.kind == SendErrorKind::BufferFull => break,
            Err(e) => panic!("{e}"),
        }
        n += 1;
    }
    let grown = resident_kib().saturating_sub(before) * 1024;
    eprintln!(
        "records {n}, buffered {} B, rss +{grown} B = {} B per record",
        producer.buffered_bytes(),
        grown / n.max(1)
    );
    assert!(
        grown <= BUFFER + SLACK,
        "a full buffer of {BUFFER} B grew the process by {grown} B"
    );
    broker.release_produce();
    for d in deliveries {
        d.await.expect("delivered once the broker answers");
    }
    let _ = producer.close().await;
}

/// An unpaced sender against a broker that answers every Produce after 20 ms: the records
/// held, with every outcome still queued for the driver task, stay within `buffer.memory`.
/// Before the driver counted a record until its outcome was routed (not only until the core
/// emitted it), a sender that outran the driver task piled up delivered records in the
/// queued outputs: 95 MB after 100k records here. The fake broker keeps only offsets, so
/// the process's growth is the producer's.
#[test]
fn unpaced_sender_stays_within_buffer_memory() {
    use futures_util::StreamExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = FakeBroker::start(FakeBrokerOptions {
            partitions: 6,
            produce_delay: Duration::from_millis(20),
            keep_records: false,
            ..FakeBrokerOptions::default()
        });
        let mut config = Config::new([broker.address()]);
        config.buffer_memory = BUFFER as usize;
        let producer = odradek_tokio::Producer::connect(config).await.unwrap();
        let before = resident_kib();
        let (tx, rx) = futures_channel::mpsc::unbounded();
        let sender = async {
            let tx = tx;
            for n in 0..100_000u64 {
                let value = format!("{n:012}{}", ".".repeat(88));
                let record = Record::new("mem").key(format!("key-{n}")).value(value);
                let _ = tx.unbounded_send(producer.send(record).await.unwrap());
            }
        };
        let collector = rx.for_each_concurrent(None, |d| async move {
            let _ = d.await;
        });
        futures_util::future::join(sender, collector).await;
        let grown = resident_kib().saturating_sub(before) * 1024;
        assert!(
            grown <= BUFFER + SLACK,
            "100k records through a {BUFFER} B buffer grew the process by {grown} B"
        );
        let _ = producer.close().await;
    });
}
