//! An unpaced sender behind the async driver (odradek-tokio) stays within `buffer.memory`:
//! its own binary, as resident memory is per process and the tests of one binary run on
//! parallel threads (beside `memory_tokio.rs`'s full buffer, each passed alone and their sum
//! did not).

#![allow(clippy::result_large_err)]

use odradek_core::{Config, Record};
use odradek_driver::testing::{resident_kib, FakeBroker, FakeBrokerOptions};
use std::time::Duration;

/// `buffer.memory` of the test.
const BUFFER: u64 = 16 << 20;
/// Allowed growth beyond it: allocator slack, the test's own futures.
const SLACK: u64 = 8 << 20;

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
        eprintln!("100k records, rss +{grown} B");
        assert!(
            grown <= BUFFER + SLACK,
            "100k records through a {BUFFER} B buffer grew the process by {grown} B"
        );
        let _ = producer.close().await;
    });
}
