//! What a full buffer costs behind the async driver (odradek-tokio): a broker that holds every
//! Produce (a dead or frozen leader), 100-byte records sent until `buffer.memory` refuses
//! more, and the process's resident memory before and after. Delivery futures are kept, as a
//! caller awaiting them would.
//!
//! One test per binary: resident memory is per process, and tests run on parallel threads
//! (the unpaced sender is in `memory_tokio_unpaced.rs`).

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
