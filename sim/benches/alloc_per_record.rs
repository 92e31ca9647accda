//! Heap allocations per record in steady state, counted by a global allocator, inside
//! ProducerCore calls only (the simulated broker's own allocations are not counted).
//!
//! `cargo bench -p odradek-sim --bench alloc_per_record`
#![allow(unsafe_code)]

use bytes::Bytes;
use odradek_core::{Acks, Compression, Config, ProducerCore, Record, TopicName};
use odradek_sim::{Cluster, ClusterConfig, NetEvent, NetworkConfig, TopicSpec};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counts allocations made while the current thread is inside a core call.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Allocations inside `send` alone.
static SEND_ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Allocations inside `poll_output` alone.
static POLL_ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALL_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static IN_CORE: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; we only count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALL_ALLOCS.fetch_add(1, Ordering::Relaxed);
        if IN_CORE.try_with(|c| c.get()).unwrap_or(false) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALL_ALLOCS.fetch_add(1, Ordering::Relaxed);
        if IN_CORE.try_with(|c| c.get()).unwrap_or(false) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn in_core<T>(f: impl FnOnce() -> T) -> T {
    IN_CORE.with(|c| c.set(true));
    let r = f();
    IN_CORE.with(|c| c.set(false));
    r
}

/// Drives one step, counting only the core's allocations.
fn step(cluster: &mut Cluster, core: &mut ProducerCore) -> bool {
    drain(cluster, core);
    let timer = core.poll_timeout().map(|(t, _)| t);
    match (cluster.next_event_time(), timer) {
        (Some(net), t) if t.map_or(true, |t| net <= t) => {
            if let Some(ev) = cluster.step() {
                let now = cluster.now();
                in_core(|| match ev {
                    NetEvent::Connected(c) => core.handle_connected(c, now),
                    NetEvent::Disconnected(c) => core.handle_disconnected(c, now),
                    NetEvent::Received(c, bytes) => core.handle_received(c, &bytes, now),
                });
            }
        }
        (_, Some(t)) => {
            cluster.advance_to(t);
            let now = cluster.now();
            in_core(|| core.handle_timeout(now));
        }
        _ => return false,
    }
    drain(cluster, core);
    true
}

fn drain(cluster: &mut Cluster, core: &mut ProducerCore) {
    loop {
        let before = ALLOCS.load(Ordering::Relaxed);
        let out = in_core(|| core.poll_output());
        POLL_ALLOCS.fetch_add(ALLOCS.load(Ordering::Relaxed) - before, Ordering::Relaxed);
        let Some(out) = out else { break };
        cluster.apply(&out);
    }
}

/// Allocations per record in steady state: (all core calls, `send`, `poll_output`, whole loop).
fn measure(
    size: usize,
    compression: Compression,
    linger: Duration,
    records: usize,
) -> (f64, f64, f64, f64) {
    let mut cc = ClusterConfig::new(1);
    cc.brokers = 1;
    cc.topics = vec![TopicSpec::new("bench", 4)];
    cc.network = NetworkConfig::instant();
    cc.keep_records = false;
    let mut cluster = Cluster::new(cc);
    let mut config = Config::new(cluster.config().bootstrap_servers());
    config.acks = Acks::Leader;
    config.compression = compression;
    config.linger = linger;
    config.batch_size = 64 * 1024;
    let mut core = ProducerCore::new(config, 1, cluster.now()).expect("config");
    let topic = TopicName::from("bench");
    let value = Bytes::from(vec![b'x'; size]);
    let keys: Vec<Bytes> = (0..64u32)
        .map(|k| Bytes::copy_from_slice(&k.to_be_bytes()))
        .collect();
    let round = |n: usize, cluster: &mut Cluster, core: &mut ProducerCore| {
        for i in 0..n {
            let record = Record {
                topic: topic.clone(),
                partition: None,
                key: Some(keys[i % keys.len()].clone()),
                value: Some(value.clone()),
                headers: Vec::new(),
                timestamp: None,
            };
            let now = cluster.now();
            let before = ALLOCS.load(Ordering::Relaxed);
            let accepted = in_core(|| core.send(record, now).is_ok());
            SEND_ALLOCS.fetch_add(ALLOCS.load(Ordering::Relaxed) - before, Ordering::Relaxed);
            assert!(accepted, "send refused");
            if i % 1000 == 999 {
                while core.pending_records() > 0 {
                    assert!(step(cluster, core), "stuck");
                }
            }
        }
        while core.pending_records() > 0 {
            assert!(step(cluster, core), "stuck");
        }
    };
    // Warm up: metadata, connections, buffers grown to their steady size.
    round(records, &mut cluster, &mut core);
    let counters =
        || [&ALLOCS, &SEND_ALLOCS, &POLL_ALLOCS, &ALL_ALLOCS].map(|c| c.load(Ordering::Relaxed));
    let before = counters();
    round(records, &mut cluster, &mut core);
    let after = counters();
    let per = |i: usize| (after[i] - before[i]) as f64 / records as f64;
    (per(0), per(1), per(2), per(3))
}

fn main() {
    // `cargo test --benches` runs benches in test mode; keep that quick.
    let records = if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        2_000
    };
    println!("alloc_per_record: heap allocations per record in steady state ({records} records, 1000 per drain)");
    let linger = Duration::from_millis(5);
    let cases = [100usize, 1024]
        .into_iter()
        .flat_map(|size| {
            [Compression::None, Compression::Lz4, Compression::Zstd].map(|c| (size, c, linger))
        })
        // linger.ms=0 seals a batch per record when records arrive faster than requests return.
        .chain([(100, Compression::None, Duration::ZERO)]);
    for (size, compression, linger) in cases {
        let (core, send, poll, all) = measure(size, compression, linger, records);
        println!(
            "  {size:>5} B {:<5} linger {linger:>4?}  core {core:>7.3} allocs/record (send {send:.3}, \
             poll_output {poll:.3}, handle_* {:.3})   whole loop incl. simulated broker {all:.2}",
            format!("{compression:?}"),
            core - send - poll
        );
    }
}
