//! What a full buffer costs: a broker that never answers Produce (a dead or frozen leader),
//! 100-byte records sent until `buffer.memory` refuses more, and the process's resident memory
//! measured before and after. Before the adapters charged each record's bookkeeping, 16 MiB of
//! `buffer.memory` held 258 MiB (2.1 KiB per 131-byte record) behind a BlockingProducer and
//! 46 MiB in the core alone (379 bytes per record).
//!
//! One test per binary: resident memory is per process, and tests run on parallel threads.

#![allow(clippy::result_large_err)]

use odradek_driver::testing::{resident_kib, FakeBroker, FakeBrokerOptions};
use odradek_mio::{BlockingProducer, Config, Record, SendErrorKind};
use std::time::Duration;

/// `buffer.memory` of these tests.
const BUFFER: u64 = 16 << 20;
/// Allowed growth beyond it: allocator slack, the test's own receipts.
const SLACK: u64 = 8 << 20;

#[test]
fn full_buffer_memory_cost() {
    let broker = FakeBroker::start(FakeBrokerOptions {
        partitions: 6,
        ..FakeBrokerOptions::default()
    });
    broker.hold_produce();
    let mut config = Config::new([broker.address()]);
    config.linger = Duration::from_millis(1);
    config.buffer_memory = BUFFER as usize;
    let producer = BlockingProducer::connect(config).unwrap();
    let before = resident_kib();
    let mut receipts = Vec::new();
    let mut n = 0u64;
    loop {
        let value = format!("{n:012}{}", ".".repeat(88));
        match producer.try_send(Record::new("mem").key(format!("key-{n}")).value(value)) {
            Ok(r) => receipts.push(r),
            Err(e) if e.kind == SendErrorKind::BufferFull => break,
            Err(e) => panic!("{e}"),
        }
        n += 1;
    }
    let after = resident_kib();
    let grown = (after.saturating_sub(before)) * 1024;
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
    drop(receipts);
    let _ = producer.close();
}
