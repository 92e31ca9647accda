//! What a pending record costs in heap beyond what the core charges to `buffer.memory`
//! (`ProducerCore::buffered_bytes`), split into the core's share and the driver's, at 10 B,
//! 100 B and 1 KiB values and 6, 1,000 and 5,000 partitions (issue 22 items 3 and 6).
//!
//! Each record is built as a caller builds one: its own key (`format!`) and value
//! allocations. Live heap is counted by a counting global allocator over the whole process,
//! both as requested bytes and as glibc malloc chunks (request + 8 rounded up to 16, at least
//! 32: what resident memory sees). Every partition gets one record delivered first, so the
//! per-partition state (open batch slots, timers) is in place before counting: what grows
//! after that is per record.
//!
//! * **core**: a `ProducerCore` against the simulated cluster, records sent until `send`
//!   answers `BufferFull`, nothing stepped meanwhile. Its excess over `buffered_bytes()` is
//!   what the core holds and does not charge (the caller's key and value allocations beyond
//!   their encoded size bound, which the core charges instead).
//! * **driver**: the tokio producer against a fake broker holding every Produce (one request
//!   in flight, at most 64 KiB), records sent with `try_send` until `BufferFull`, with the
//!   driver's own per-record charge set to 0 so that the core's budget decides; the
//!   delivery futures go into a vector allocated beforehand (the caller's memory, not
//!   counted). Its excess per record minus the core's is the driver's: the router's window
//!   entry and the outcome slot, with their vectors' doubling slack.
//!
//! The test asserts that the driver's per-record charge
//! ([`odradek_driver::RECORD_OVERHEAD`]) covers every measured case, and prints the table
//! (`cargo test -p odradek-tests --test record_cost -- --nocapture`).
#![allow(unsafe_code, clippy::result_large_err)]

use odradek_core::{Acks, Config, ProducerCore, Record, RecordId, SendErrorKind, TopicName};
use odradek_driver::outcomes::Router;
use odradek_driver::testing::{FakeBroker, FakeBrokerOptions};
use odradek_sim::{Cluster, ClusterConfig, NetworkConfig, TopicSpec};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

/// Live heap bytes (as requested), whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Live heap bytes as glibc malloc chunks, whole process.
static CHUNKS: AtomicIsize = AtomicIsize::new(0);

/// The chunk glibc's malloc takes for a request of `size` bytes on a 64-bit target.
fn chunk(size: usize) -> isize {
    ((size + 8 + 15) & !15).max(32) as isize
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; we only count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        CHUNKS.fetch_add(chunk(layout.size()), Ordering::Relaxed);
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        CHUNKS.fetch_sub(chunk(layout.size()), Ordering::Relaxed);
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        CHUNKS.fetch_add(chunk(new_size) - chunk(layout.size()), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `buffer.memory` of every case.
const BUFFER: usize = 16 << 20;

/// A record as a caller builds one: its own key and value allocations.
fn record(topic: &TopicName, n: u64, size: usize) -> Record {
    let mut value = vec![b'.'; size];
    let digits = n.to_string();
    let k = digits.len().min(size);
    value[..k].copy_from_slice(&digits.as_bytes()[..k]);
    Record::new(topic.clone())
        .key(format!("key-{n}"))
        .value(value)
}

/// Heap counters now: (requested, chunks).
fn live() -> (isize, isize) {
    (LIVE.load(Ordering::Relaxed), CHUNKS.load(Ordering::Relaxed))
}

/// What one case measured.
#[derive(Debug, Clone, Copy)]
struct Cost {
    records: usize,
    buffered: usize,
    /// Heap growth (requested bytes, malloc chunks) beyond `buffered`, per record.
    excess: (f64, f64),
}

fn cost(records: usize, buffered: usize, grown: (isize, isize)) -> Cost {
    let per = |g: isize| (g - buffered as isize) as f64 / records.max(1) as f64;
    Cost {
        records,
        buffered,
        excess: (per(grown.0), per(grown.1)),
    }
}

/// The core alone: records held in its batches until it refuses.
fn core_cost(partitions: i32, size: usize) -> Cost {
    let mut cc = ClusterConfig::new(7);
    cc.brokers = 1;
    cc.topics = vec![TopicSpec::new("cost", partitions)];
    cc.network = NetworkConfig::instant();
    cc.keep_records = false;
    let mut cluster = Cluster::new(cc);
    let mut config = Config::new(cluster.config().bootstrap_servers());
    config.acks = Acks::Leader;
    config.buffer_memory = BUFFER;
    let mut core = ProducerCore::new(config, 1, cluster.now()).expect("config");
    let topic = TopicName::from("cost");
    // One record to every partition, delivered.
    for p in 0..partitions {
        let mut r = record(&topic, 0, size);
        r.partition = Some(p);
        core.send(r, cluster.now()).expect("accepted");
    }
    while core.pending_records() > 0 {
        assert!(odradek_sim::step(&mut cluster, &mut core, &mut drop));
    }
    let before = live();
    let now = cluster.now();
    let mut n = 0u64;
    loop {
        match core.send(record(&topic, n, size), now) {
            Ok(_) => n += 1,
            Err(e) => {
                assert_eq!(e.kind, SendErrorKind::BufferFull);
                break;
            }
        }
    }
    let after = live();
    let c = cost(
        n as usize,
        core.buffered_bytes(),
        (after.0 - before.0, after.1 - before.1),
    );
    drop(core);
    c
}

/// The tokio driver: records held behind a broker that holds Produce, until `try_send`
/// refuses (the core's budget deciding).
fn driver_cost(partitions: i32, size: usize) -> Cost {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = FakeBroker::start(FakeBrokerOptions {
            partitions,
            keep_records: false,
            ..FakeBrokerOptions::default()
        });
        let mut config = Config::new([broker.address()]);
        config.linger = Duration::from_millis(1);
        config.buffer_memory = BUFFER;
        config.max_in_flight_requests_per_connection = 1;
        config.max_request_size = 64 * 1024;
        config.message_max_bytes = 64 * 1024;
        let producer = odradek_tokio::Producer::connect(config).await.unwrap();
        producer.set_record_overhead(0);
        let topic = TopicName::from("cost");
        let mut warm = Vec::new();
        for p in 0..partitions {
            let mut r = record(&topic, 0, size);
            r.partition = Some(p);
            warm.push(producer.send(r).await.unwrap());
        }
        for d in warm {
            d.await.expect("delivered");
        }
        broker.hold_produce();
        // Room for every delivery future (the caller's memory), taken before counting.
        let mut deliveries = Vec::with_capacity(BUFFER / 64);
        let before = live();
        let mut n = 0u64;
        loop {
            match producer.try_send(record(&topic, n, size)) {
                Ok(d) => deliveries.push(d),
                Err(e) if e.kind == SendErrorKind::BufferFull => break,
                Err(e) => panic!("{e}"),
            }
            n += 1;
        }
        let after = live();
        let c = cost(
            n as usize,
            producer.buffered_bytes(),
            (after.0 - before.0, after.1 - before.1),
        );
        broker.release_produce();
        for d in deliveries {
            d.await.expect("delivered once the broker answers");
        }
        let _ = producer.close().await;
        c
    })
}

/// The driver's own bookkeeping per pending record, alone: a [`Router`] tracking `n`
/// tickets (the route in its window, the outcome slot, the free list), per record (requested
/// bytes, malloc chunks), beyond what its first record took (the tables' first allocations,
/// once per producer). With `events`, routes to the event queue instead (odradek-mio's
/// `MioProducer`).
fn router_cost(n: usize, events: bool) -> (f64, f64) {
    let topic = TopicName::from("cost");
    let mut tickets = Vec::with_capacity(n);
    let mut router = Router::new(None);
    let mut track = |i: usize| {
        if events {
            router.track_event(RecordId(i as u64));
        } else {
            tickets.push(router.track_ticket(RecordId(i as u64), topic.clone()));
        }
    };
    track(0);
    let before = live();
    for i in 1..n {
        track(i);
    }
    let after = live();
    let per = |g: isize| g as f64 / (n - 1) as f64;
    (per(after.0 - before.0), per(after.1 - before.1))
}

#[test]
fn pending_record_cost() {
    // Just past a doubling of the router's vectors (the worst case) and between two.
    let mut router_worst: f64 = 0.0;
    let mut events_worst: f64 = 0.0;
    for n in [4_097, 12_000, 16_385, 24_000, 32_769] {
        let (req, chunks) = router_cost(n, false);
        let (ereq, echunks) = router_cost(n, true);
        println!(
            "router alone, {n} records: tickets {req:.1} / {chunks:.1}, events {ereq:.1} / {echunks:.1} \
             B per record (req / chunks)"
        );
        router_worst = router_worst.max(chunks);
        events_worst = events_worst.max(echunks);
    }
    for size in [10usize, 100, 1024] {
        let topic = TopicName::from("cost");
        let mut held = Vec::with_capacity(10_000);
        let before = live();
        for n in 0..10_000u64 {
            held.push(record(&topic, 1_000_000 + n, size));
        }
        let after = live();
        println!(
            "a caller's record of {size} B: {} B inline, its key and value {:.1} / {:.1} B (req / chunks)",
            std::mem::size_of::<Record>(),
            (after.0 - before.0) as f64 / 1e4,
            (after.1 - before.1) as f64 / 1e4,
        );
    }
    println!(
        "value B | partitions | core: records, buffered B, excess B/record (req / chunks) | \
         driver: records, excess B/record (req / chunks) | driver - core (req / chunks)"
    );
    let mut worst_core = f64::MIN;
    let mut worst_driver = f64::MIN;
    for &size in &[10usize, 100, 1024] {
        for &partitions in &[6, 1000, 5000] {
            let c = core_cost(partitions, size);
            let d = driver_cost(partitions, size);
            println!(
                "{size:>5} | {partitions:>5} | {:>6} {:>9} {:>7.1} / {:>7.1} | {:>6} {:>7.1} / {:>7.1} | {:>6.1} / {:>6.1}",
                c.records,
                c.buffered,
                c.excess.0,
                c.excess.1,
                d.records,
                d.excess.0,
                d.excess.1,
                d.excess.0 - c.excess.0,
                d.excess.1 - c.excess.1,
            );
            worst_core = worst_core.max(c.excess.1);
            worst_driver = worst_driver.max(d.excess.1);
        }
    }
    println!(
        "worst excess per record (malloc chunks): core {worst_core:.1} B, driver {worst_driver:.1} B, \
         router alone {router_worst:.1} B (events {events_worst:.1} B); charged by the driver: {} B",
        odradek_driver::RECORD_OVERHEAD
    );
    assert!(
        events_worst <= 32.0,
        "the router holds {events_worst:.1} B per event-routed record, MioProducer charges 32"
    );
    assert!(
        router_worst <= odradek_driver::RECORD_OVERHEAD as f64,
        "the router holds {router_worst:.1} B per record, the driver charges {}",
        odradek_driver::RECORD_OVERHEAD
    );
    assert!(
        worst_driver <= odradek_driver::RECORD_OVERHEAD as f64,
        "a pending record holds {worst_driver:.1} B beyond buffered_bytes, the driver charges {}",
        odradek_driver::RECORD_OVERHEAD
    );
}
