//! Issue 22 item 6 in the simulation: how many records each batch carries when a producer
//! keeps a 32 MiB buffer full across 5,000 partitions (100,000 keys, 100-byte values,
//! acks=all, idempotent), charged per pending record what a front end charges on top of the
//! core ([`odradek_sim::front_end_full`]).
//!
//! With the driver's former 1 KiB per record, the buffer held at most ~21,000 records here:
//! about 4 per partition, spread over the batches in flight, so the broker appended ~1,600
//! batches of 3.8 records per request (the slow 5,000-partition run of the issue: the broker
//! busy appending tiny batches). With the measured 128 bytes (odradek-driver's
//! `RECORD_OVERHEAD`, see `tests/tests/record_cost.rs`) ~48,000 fit: ~840 batches of 6.9
//! records per request. (The rest of the ~700 bytes each record takes of the budget is the
//! core's own charge: at least a batch of the record alone, 440 bytes beside its size.)
//!
//! Virtual time (1 ms each way), nothing timed; the shape is read from the simulated
//! broker's counters once the first half of the records went through. (Debug builds of the
//! core check every partition after every input, which is what this test's time goes to.)
//!
//! `cargo test -p odradek-sim --test small_batches -- --nocapture`

use bytes::Bytes;
use odradek_core::{Acks, Config, Output, ProducerCore, Record, SendErrorKind, TopicName};
use odradek_sim::{front_end_full, step, Cluster, ClusterConfig, NetworkConfig, TopicSpec};
use std::time::Duration;

const PARTITIONS: i32 = 5_000;
const KEYS: usize = 100_000;
const RECORDS: usize = 120_000;
/// The shape is measured from this record on until the last is sent: past the first fill
/// of the buffer (whose records all wait for metadata and join batches together), before
/// the final drain.
const STEADY_FROM: usize = 60_000;
/// odradek-driver's `RECORD_OVERHEAD` (this crate cannot depend on odradek-driver, which
/// depends on it); `tests/tests/record_cost.rs` checks the driver's value against the heap.
const DRIVER_OVERHEAD: usize = 128;
/// What the driver charged before the core charged each record its batch share.
const FORMER_OVERHEAD: usize = 1024;
/// The least mean records per batch the broker must see in steady state. Measured: 6.89
/// with the 128-byte charge (47,935 records pending at most), 3.78 with 1 KiB (21,024).
const MIN_RECORDS_PER_BATCH: f64 = 5.0;

/// The shape of the Produce traffic the broker saw in steady state.
#[derive(Debug)]
struct Shape {
    records_per_batch: f64,
    batches_per_request: f64,
    most_pending: usize,
}

fn run(record_overhead: usize) -> Shape {
    let mut cc = ClusterConfig::new(5);
    cc.brokers = 1;
    cc.topics = vec![TopicSpec::new("wide", PARTITIONS)];
    cc.network = NetworkConfig {
        latency_min: Duration::from_millis(1),
        latency_max: Duration::from_millis(1),
        fragment_responses: false,
    };
    cc.keep_records = false;
    let mut cluster = Cluster::new(cc);
    let mut config = Config::new(cluster.config().bootstrap_servers());
    config.acks = Acks::All;
    config.enable_idempotence = Some(true);
    config.buffer_memory = 32 << 20;
    let mut core = ProducerCore::new(config, 1, cluster.now()).expect("config");
    let topic = TopicName::from("wide");
    let all = Bytes::from(
        (0..KEYS)
            .flat_map(|i| format!("key-{i:06}").into_bytes())
            .collect::<Vec<u8>>(),
    );
    let keys: Vec<Bytes> = (0..KEYS).map(|i| all.slice(i * 10..i * 10 + 10)).collect();
    let value = Bytes::from(vec![b'v'; 100]);
    let mut failed = 0usize;
    let mut on_output = |o: Output| {
        if let Output::Failed { .. } = o {
            failed += 1;
        }
    };
    let mut sent = 0usize;
    let mut most_pending = 0usize;
    let mut start = None;
    let mut end = None;
    let mut steps = 0u64;
    while sent < RECORDS || core.pending_records() > 0 {
        let room = sent < RECORDS && !front_end_full(&core, record_overhead);
        if room {
            let record = Record {
                topic: topic.clone(),
                partition: None,
                // A spread of keys: the i-th record takes key i * 7919 (a prime) mod KEYS.
                key: Some(keys[sent * 7919 % KEYS].clone()),
                value: Some(value.clone()),
                headers: Vec::new(),
                timestamp: None,
            };
            match core.send(record, cluster.now()) {
                Ok(_) => {
                    sent += 1;
                    let s = cluster.stats();
                    let counts = (s.records_appended, s.appends, s.produce_requests);
                    if sent == STEADY_FROM {
                        start = Some(counts);
                    } else if sent == RECORDS {
                        end = Some(counts);
                    }
                    continue;
                }
                Err(e) => assert_eq!(e.kind, SendErrorKind::BufferFull, "{e}"),
            }
        }
        most_pending = most_pending.max(core.pending_records());
        steps += 1;
        assert!(steps < 10_000_000, "stuck");
        assert!(step(&mut cluster, &mut core, &mut on_output), "stuck");
    }
    assert_eq!(failed, 0, "records failed");
    let (records0, appends0, requests0) = start.expect("measured");
    let (records1, appends1, requests1) = end.expect("measured");
    let records = records1 - records0;
    let appends = appends1 - appends0;
    let requests = requests1 - requests0;
    Shape {
        records_per_batch: records as f64 / appends as f64,
        batches_per_request: appends as f64 / requests as f64,
        most_pending,
    }
}

/// With the driver's measured charge, batches carry many records.
#[test]
fn a_full_buffer_makes_batches_of_many_records() {
    let shape = run(DRIVER_OVERHEAD);
    println!("charged {DRIVER_OVERHEAD} B per record: {shape:?}");
    assert!(
        shape.records_per_batch >= MIN_RECORDS_PER_BATCH,
        "{:.2} records per batch, {:.0} batches per request (at most {} pending), want at \
         least {MIN_RECORDS_PER_BATCH} records per batch",
        shape.records_per_batch,
        shape.batches_per_request,
        shape.most_pending
    );
}

/// The bound tells the two charges apart: the former one makes the tiny batches of item 6.
#[test]
fn the_former_charge_made_tiny_batches() {
    let shape = run(FORMER_OVERHEAD);
    println!("charged {FORMER_OVERHEAD} B per record: {shape:?}");
    assert!(
        shape.records_per_batch < MIN_RECORDS_PER_BATCH,
        "the former charge made {:.2} records per batch ({:.0} per request): the bound shows \
         nothing",
        shape.records_per_batch,
        shape.batches_per_request
    );
}
