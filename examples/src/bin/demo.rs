//! # demo — a million records through every runtime, read back and verified
//!
//! ```text
//! cargo run --release -p odradek-examples --bin demo            # or: cargo xtask demo
//! cargo run --release -p odradek-examples --bin demo -- --records 200000 --compression lz4
//! cargo run --release -p odradek-examples --bin demo -- --bootstrap 127.0.0.1:9092
//! ```
//!
//! 1. Starts a local single-node Kafka (the newest tested, 4.4) with the test harness (fetching its jars with Maven
//!    the first time), unless `--bootstrap ADDR` names an existing cluster.
//! 2. For each runtime — tokio, async-std, smol, mio (the blocking producer thread) — creates a fresh
//!    topic and produces `--records` records (default 1,000,000) to it: key `k<i % 1000>`, a
//!    100-byte value that starts with the record's sequence number. Sending never waits for a
//!    delivery: the delivery futures / receipts are collected and awaited by a second task /
//!    thread, so thousands of records are in flight. A progress bar runs on stderr. The time
//!    measured runs from the first send to the last delivery.
//! 3. Reads every topic back with Kafka's own Java consumer (an independent client) and checks:
//!    the count; every sequence number exactly once; keys and values byte for byte; records of
//!    each partition in send order; every record at the partition and offset its delivery
//!    reported (all of them, not a sample).
//! 4. Prints a table — runtime, records, seconds, records/s, MB/s (key + value bytes, 10^6),
//!    verified — and stops the broker.
//!
//! Ctrl-C: the broker runs under the harness's watchdog, which stops it and deletes its data
//! when this process ends, however it ends. Exit status is non-zero unless every runtime
//! verified.
//!
//! Options: `--records N`, `--partitions P` (6), `--value-size B` (100), `--compression
//! none|gzip|snappy|lz4|zstd` (none), `--linger-ms MS` (5), `--batch-size B` (16384),
//! `--runtimes tokio,async-std,smol,mio`, `--bootstrap ADDR`, `--no-verify`.

use odradek_core::{Acks, Compression, Config, Record, TopicName};
use odradek_examples::demo::{self, read_back, Reported, Verification, Verifier};
use odradek_examples::progress::{Counters, Progress};
use odradek_tests::kafka::{self, KafkaCluster, Version};
use odradek_tests::Runtime;
use std::fmt;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Options {
    records: u64,
    partitions: i32,
    value_size: usize,
    compression: Compression,
    linger: Duration,
    batch_size: usize,
    runtimes: Vec<Runtime>,
    bootstrap: Option<String>,
    verify: bool,
}

const USAGE: &str = "usage: demo [--records N] [--partitions P] [--value-size B] \
[--compression none|gzip|snappy|lz4|zstd] [--linger-ms MS] [--batch-size B] \
[--runtimes tokio,async-std,smol,mio] [--bootstrap ADDR] [--no-verify]";

impl Options {
    fn parse() -> Result<Options, String> {
        let mut o = Options {
            records: 1_000_000,
            partitions: 6,
            value_size: 100,
            compression: Compression::None,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            runtimes: vec![
                Runtime::Tokio,
                Runtime::AsyncStd,
                Runtime::Smol,
                Runtime::Mio,
            ],
            bootstrap: None,
            verify: true,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--no-verify" {
                o.verify = false;
                continue;
            }
            if flag == "-h" || flag == "--help" {
                return Err(USAGE.to_owned());
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let num = |v: &str| -> Result<u64, String> {
                v.replace('_', "")
                    .parse()
                    .map_err(|_| format!("{flag}: not a number: {v:?}"))
            };
            match flag.as_str() {
                "--records" => o.records = num(&value)?,
                "--partitions" => o.partitions = num(&value)? as i32,
                "--value-size" => o.value_size = num(&value)? as usize,
                "--linger-ms" => o.linger = Duration::from_millis(num(&value)?),
                "--batch-size" => o.batch_size = num(&value)? as usize,
                "--bootstrap" => o.bootstrap = Some(value),
                "--compression" => {
                    o.compression = match value.as_str() {
                        "none" => Compression::None,
                        "gzip" => Compression::Gzip,
                        "snappy" => Compression::Snappy,
                        "lz4" => Compression::Lz4,
                        "zstd" => Compression::Zstd,
                        _ => return Err(format!("unknown compression {value:?}")),
                    }
                }
                "--runtimes" => {
                    o.runtimes = value
                        .split(',')
                        .map(Runtime::parse)
                        .collect::<Result<_, _>>()?
                }
                _ => return Err(format!("unknown option {flag}\n{USAGE}")),
            }
        }
        if o.records == 0 || o.partitions < 1 || o.runtimes.is_empty() {
            return Err(format!("nothing to do\n{USAGE}"));
        }
        Ok(o)
    }

    fn config(&self, bootstrap: &str) -> Config {
        let mut c = Config::new(odradek_examples::split_servers(bootstrap));
        c.client_id = "odradek-demo".to_owned();
        c.acks = Acks::All;
        c.linger = self.linger;
        c.batch_size = self.batch_size;
        c.compression = self.compression;
        c
    }
}

/// What one runtime's run produced.
struct Produced {
    /// Per sequence number, where its delivery said it went.
    reported: Vec<Reported>,
    elapsed: Duration,
    payload_bytes: u64,
    failed: u64,
    first_error: Option<String>,
}

/// Collects outcomes by sequence number and bumps the progress counters.
struct Outcomes {
    reported: Vec<Reported>,
    failed: u64,
    first_error: Option<String>,
    counters: Arc<Counters>,
}

impl Outcomes {
    fn new(n: u64, counters: Arc<Counters>) -> Outcomes {
        Outcomes {
            reported: vec![None; n as usize],
            failed: 0,
            first_error: None,
            counters,
        }
    }

    fn delivered(&mut self, seq: u64, partition: i32, offset: i64) {
        self.reported[seq as usize] = Some((partition, offset));
        self.counters.done.fetch_add(1, Ordering::Relaxed);
    }

    fn failed(&mut self, seq: u64, error: impl fmt::Display) {
        self.failed += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("record {seq}: {error}"));
        }
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        self.counters.done.fetch_add(1, Ordering::Relaxed);
    }
}

fn make_record(topic: &TopicName, tag: &str, seq: u64, value_size: usize) -> Record {
    Record::new(topic.clone())
        .key(demo::key(seq))
        .value(demo::value(tag, seq, value_size))
}

fn payload_bytes(tag: &str, n: u64, value_size: usize) -> u64 {
    (0..n)
        .map(|s| (demo::key(s).len() + demo::value(tag, s, value_size).len()) as u64)
        .sum()
}

/// The async adapters share one driver crate, so one generic function serves tokio,
/// async-std and smol: a sending future and a collecting future, polled together with `join`.
async fn produce_async<R: odradek_driver::Runtime>(
    producer: odradek_driver::Producer<R>,
    topic: &TopicName,
    tag: &str,
    opts: &Options,
    counters: Arc<Counters>,
) -> Produced {
    use futures_util::StreamExt;
    let n = opts.records;
    let (tx, mut rx) = futures_channel::mpsc::unbounded();
    let mut outcomes = Outcomes::new(n, counters.clone());
    let start = Instant::now();
    let sender = async {
        let tx = tx;
        for seq in 0..n {
            // Waits only while buffer.memory is full; never for a delivery.
            match producer
                .send(make_record(topic, tag, seq, opts.value_size))
                .await
            {
                Ok(delivery) => {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                    let _ = tx.unbounded_send((seq, Ok(delivery)));
                }
                Err(e) => {
                    let _ = tx.unbounded_send((seq, Err(e.kind.to_string())));
                }
            }
        }
    };
    let collector = async {
        while let Some((seq, delivery)) = rx.next().await {
            match delivery {
                Ok(delivery) => match delivery.await {
                    Ok(md) => outcomes.delivered(seq, md.partition, md.offset),
                    Err(e) => outcomes.failed(seq, e),
                },
                Err(refused) => outcomes.failed(seq, format!("refused: {refused}")),
            }
        }
        start.elapsed()
    };
    let ((), elapsed) = futures_util::future::join(sender, collector).await;
    let report = producer.close().await;
    if report.failed != outcomes.failed {
        eprintln!(
            "note: close report says {} failed, deliveries said {}",
            report.failed, outcomes.failed
        );
    }
    Produced {
        reported: outcomes.reported,
        elapsed,
        payload_bytes: payload_bytes(tag, n, opts.value_size),
        failed: outcomes.failed,
        first_error: outcomes.first_error,
    }
}

/// The blocking producer: this thread sends, a collector thread waits on the receipts.
fn produce_mio(
    config: Config,
    topic: &TopicName,
    tag: &str,
    opts: &Options,
    counters: Arc<Counters>,
) -> Result<Produced, String> {
    use odradek_mio::{BlockingProducer, Receipt};
    let n = opts.records;
    let producer = BlockingProducer::connect(config).map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Result<Receipt, String>)>();
    let mut outcomes = Outcomes::new(n, counters.clone());
    let start = Instant::now();
    let collector = std::thread::spawn(move || {
        for (seq, receipt) in rx {
            match receipt.map(Receipt::wait) {
                Ok(Ok(md)) => outcomes.delivered(seq, md.partition, md.offset),
                Ok(Err(e)) => outcomes.failed(seq, e),
                Err(refused) => outcomes.failed(seq, format!("refused: {refused}")),
            }
        }
        (outcomes, start.elapsed())
    });
    for seq in 0..n {
        // Blocks only while buffer.memory is full; never for a delivery.
        let sent = producer.send(make_record(topic, tag, seq, opts.value_size));
        if sent.is_ok() {
            counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        let _ = tx.send((seq, sent.map_err(|e| e.kind.to_string())));
    }
    drop(tx);
    let (outcomes, elapsed) = collector.join().map_err(|_| "collector thread panicked")?;
    let report = producer.close();
    if report.failed != outcomes.failed {
        eprintln!(
            "note: close report says {} failed, receipts said {}",
            report.failed, outcomes.failed
        );
    }
    Ok(Produced {
        reported: outcomes.reported,
        elapsed,
        payload_bytes: payload_bytes(tag, n, opts.value_size),
        failed: outcomes.failed,
        first_error: outcomes.first_error,
    })
}

fn produce(rt: Runtime, bootstrap: &str, topic: &str, opts: &Options) -> Result<Produced, String> {
    let config = opts.config(bootstrap);
    let topic = TopicName::from(topic);
    let tag = rt.to_string();
    let progress = Progress::start(&format!("{rt}"), opts.records);
    let counters = progress.counters();
    let produced = match rt {
        Runtime::Tokio => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let producer = odradek_tokio::Producer::connect(config)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(produce_async(producer, &topic, &tag, opts, counters).await)
            })?
        }
        Runtime::AsyncStd => async_std::task::block_on(async {
            let producer = odradek_async_std::Producer::connect(config)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(produce_async(producer, &topic, &tag, opts, counters).await)
        })?,
        Runtime::Smol => smol::block_on(async {
            let producer = odradek_smol::Producer::connect(config)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(produce_async(producer, &topic, &tag, opts, counters).await)
        })?,
        Runtime::Mio => produce_mio(config, &topic, &tag, opts, counters)?,
    };
    progress.finish();
    Ok(produced)
}

fn verify(
    rt: Runtime,
    bootstrap: &str,
    topic: &str,
    opts: &Options,
    reported: Vec<Reported>,
) -> Result<(Verification, Duration), String> {
    let mut verifier = Verifier::new(&rt.to_string(), opts.value_size, reported);
    let progress = Progress::start("read-back", opts.records);
    let counters = progress.counters();
    let summary = read_back(
        Version::NEWEST,
        bootstrap,
        topic,
        Duration::from_secs(30),
        |p, o, k, v| {
            verifier.record(p, o, k, v);
            counters.done.fetch_add(1, Ordering::Relaxed);
        },
    );
    progress.finish();
    let summary = summary?;
    let v = verifier.finish();
    if !summary.complete {
        eprintln!("read-back: stopped after 30 s without new records (before the end offsets)");
    }
    Ok((v, summary.elapsed))
}

/// Creates a topic on a cluster we did not start, with Kafka's own TopicCommand.
fn create_topic_external(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    kafka::fetch(Version::NEWEST).map_err(|e| e.0)?;
    let out = kafka::java_tool(Version::NEWEST, "org.apache.kafka.tools.TopicCommand")
        .args([
            "--bootstrap-server",
            bootstrap,
            "--create",
            "--topic",
            topic,
        ])
        .args(["--partitions", &partitions.to_string()])
        .output()
        .map_err(|e| format!("starting TopicCommand: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "TopicCommand --create {topic} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

struct Row {
    rt: Runtime,
    records: u64,
    elapsed: Duration,
    payload_bytes: u64,
    verified: String,
    ok: bool,
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<10} | {:>9} | {:>7} | {:>9} | {:>6} | verified",
        "runtime", "records", "seconds", "records/s", "MB/s"
    );
    println!(
        "{:-<10}-|-{:->9}-|-{:->7}-|-{:->9}-|-{:->6}-|-{:-<40}",
        "", "", "", "", "", ""
    );
    for r in rows {
        let secs = r.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{:<10} | {:>9} | {:>7.2} | {:>9.0} | {:>6.1} | {}",
            r.rt.to_string(),
            r.records,
            secs,
            r.records as f64 / secs,
            r.payload_bytes as f64 / 1e6 / secs,
            r.verified
        );
    }
}

fn run(opts: &Options) -> Result<bool, String> {
    println!(
        "odradek demo: {} records per runtime, {} partitions (replication 1), keys k0..k{}, \
         values {} B; producer: acks=all, linger.ms={}, batch.size={}, compression={:?}, \
         max.in.flight.requests.per.connection=5, enable.idempotence left at its default (on \
         with acks=all when the broker grants a producer id: up to 5 batches per partition in \
         flight, kept in order by their sequences), buffer.memory=32 MiB",
        opts.records,
        opts.partitions,
        demo::KEY_SPACE - 1,
        opts.value_size,
        opts.linger.as_millis(),
        opts.batch_size,
        opts.compression,
    );

    let mut cluster = None;
    let bootstrap = match &opts.bootstrap {
        Some(b) => b.clone(),
        None => {
            eprintln!(
                "starting a local Kafka {} (the first run fetches its jars with Maven)...",
                Version::NEWEST
            );
            let t = Instant::now();
            let c = KafkaCluster::start(Version::NEWEST, 1).map_err(|e| e.0)?;
            eprintln!(
                "Kafka {} ready at {} in {:.1?}",
                Version::NEWEST,
                c.bootstrap(),
                t.elapsed()
            );
            let b = c.bootstrap();
            cluster = Some(c);
            b
        }
    };

    let run_id = format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        std::process::id()
    );
    let mut rows = Vec::new();
    for &rt in &opts.runtimes {
        let topic = format!("odradek-demo-{rt}-{run_id}");
        match &cluster {
            Some(c) => c
                .create_topic(&topic, opts.partitions, 1, &[])
                .map_err(|e| e.0)?,
            None => create_topic_external(&bootstrap, &topic, opts.partitions)?,
        }
        eprintln!("{rt}: producing {} records to {topic}", opts.records);
        let produced = produce(rt, &bootstrap, &topic, opts)?;
        if let Some(e) = &produced.first_error {
            eprintln!("{rt}: {} records failed; first: {e}", produced.failed);
        }
        let (verified, ok) = if opts.verify {
            let (v, took) = verify(rt, &bootstrap, &topic, opts, produced.reported)?;
            eprintln!("{rt}: read back in {:.1?}: {v}", took);
            for p in &v.problems {
                eprintln!("{rt}:   {p}");
            }
            if v.ok() {
                (
                    format!(
                        "yes ({} read, {} offsets match)",
                        v.read, v.offsets_compared
                    ),
                    true,
                )
            } else {
                (format!("NO: {v}"), false)
            }
        } else {
            ("not checked (--no-verify)".to_owned(), produced.failed == 0)
        };
        rows.push(Row {
            rt,
            records: opts.records,
            elapsed: produced.elapsed,
            payload_bytes: produced.payload_bytes,
            verified,
            ok,
        });
    }
    print_table(&rows);
    println!(
        "seconds: first send to last delivery; MB/s: key + value bytes (10^6) per second; \
         verified: read back with Kafka's Java consumer"
    );

    if let Some(mut c) = cluster {
        let t = Instant::now();
        c.stop().map_err(|e| e.0)?;
        eprintln!("Kafka stopped in {:.1?}", t.elapsed());
    }
    Ok(rows.iter().all(|r| r.ok))
}

fn main() -> ExitCode {
    let opts = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("demo: verification FAILED (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("demo: error: {e}");
            ExitCode::FAILURE
        }
    }
}
