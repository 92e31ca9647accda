//! The producer process (`chaos produce ...`): sends paced and gated records on one runtime
//! and writes every record's outcome to a file for the orchestrator.

use crate::options::Options;
use odradek_core::{Acks, Config, Record};
use odradek_tests::chaos::{self, Outcome};
use odradek_tests::Runtime;
use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Outcomes by sequence number in 8 bytes each (no allocation per record), so that the RSS
/// measured is the producer's rather than this bookkeeping's: the partition in the top byte
/// ([`NONE`] and [`FAILED`] are markers), the offset plus one in the other 56 bits.
struct Slots {
    slots: Vec<u64>,
    errors: HashMap<u64, String>,
}

/// Slot marker: no outcome yet.
const NONE: u64 = 0xff << 56;
/// Slot marker: failed.
const FAILED: u64 = 0xfe << 56;

impl Slots {
    fn new(n: u64) -> Slots {
        Slots {
            slots: vec![NONE; n as usize],
            errors: HashMap::new(),
        }
    }

    fn delivered(&mut self, seq: u64, partition: i32, offset: i64) {
        let (Ok(p), Ok(o)) = (u8::try_from(partition), u64::try_from(offset + 1)) else {
            return self.failed(
                seq,
                format!("unexpected partition/offset {partition}/{offset}"),
            );
        };
        if let Some(s) = self.slots.get_mut(seq as usize) {
            *s = (u64::from(p.min(0xfd)) << 56) | (o & ((1 << 56) - 1));
        }
    }

    /// `(partition, offset)`, or `None` without an outcome, `Some((-1, _))` when failed.
    fn get(&self, seq: usize) -> Option<(i32, i64)> {
        match self.slots.get(seq).copied()? {
            NONE => None,
            FAILED => Some((-1, 0)),
            s => Some(((s >> 56) as i32, (s & ((1 << 56) - 1)) as i64 - 1)),
        }
    }

    fn failed(&mut self, seq: u64, error: String) {
        if let Some(s) = self.slots.get_mut(seq as usize) {
            *s = FAILED;
            // Keep a few messages, not one per record.
            if self.errors.len() < 100 {
                self.errors.insert(seq, error);
            }
        }
    }
}

/// The gate and progress shared by the sending loop and the stdin reader.
pub(crate) struct Pace {
    pub(crate) allowed: AtomicU64,
    sent: AtomicU64,
    start: Instant,
    rate: f64,
}

impl Pace {
    /// How long to wait before sending record `seq`: zero when it may go now.
    pub(crate) fn wait_before(&self, seq: u64) -> Duration {
        if seq >= self.allowed.load(Ordering::Relaxed) {
            return Duration::from_millis(5);
        }
        if self.rate > 0.0 && seq.is_multiple_of(64) {
            let due = self.start + Duration::from_secs_f64(seq as f64 / self.rate);
            return due.saturating_duration_since(Instant::now());
        }
        Duration::ZERO
    }

    pub(crate) fn sent(&self, n: u64) {
        self.sent.store(n, Ordering::Relaxed);
        if n.is_multiple_of(1000) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "sent {n}");
            let _ = out.flush();
        }
    }
}

pub(crate) fn record(topic: &str, seq: u64, size: usize) -> Record {
    Record::new(topic)
        .key(chaos::key(seq))
        .value(chaos::value(seq, size))
}

pub(crate) fn produce(o: &Options) -> Result<(), String> {
    let mut config = Config::new(o.bootstrap.split(',').map(str::to_owned));
    config.client_id = "odradek-chaos".into();
    config.acks = Acks::All;
    config.linger = Duration::from_millis(5);
    // Left unset on purpose (the Java default, idempotent with acks=all) unless asked.
    config.enable_idempotence = if o.no_idempotence { Some(false) } else { None };
    if let Some(t) = o.request_timeout {
        config.request_timeout = t;
    }
    let idempotent = config.idempotence_enabled();
    let buffer_memory = config.buffer_memory;
    let pace = Arc::new(Pace {
        allowed: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        start: Instant::now(),
        rate: o.rate,
    });
    // The gate: `allow <n>` lines; the orchestrator going away ends this process.
    let gate = Arc::clone(&pace);
    let records = o.records;
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("allow ").and_then(|n| n.parse().ok()) {
                gate.allowed.store(n, Ordering::Relaxed);
            }
        }
        if gate.allowed.load(Ordering::Relaxed) < records {
            eprintln!("chaos produce: the orchestrator went away");
            std::process::exit(2);
        }
    });
    if let Some(size) = o.transactional {
        config.transactional_id = Some(odradek_tests::chaos_txn::transactional_id(&o.topic));
        return crate::txn_produce::produce_txn(config, o, &pace, size);
    }
    let slots = match o.runtimes[..] {
        [Runtime::Tokio] => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let producer = odradek_tokio::Producer::connect(config)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(
                    produce_async(producer, o, &pace, |d| Box::pin(tokio::time::sleep(d))).await,
                )
            })?
        }
        [Runtime::AsyncStd] => async_std::task::block_on(async {
            let producer = odradek_async_std::Producer::connect(config)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(
                produce_async(producer, o, &pace, |d| Box::pin(async_std::task::sleep(d))).await,
            )
        })?,
        [Runtime::Smol] => smol::block_on(async {
            let producer = odradek_smol::Producer::connect(config)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(
                produce_async(producer, o, &pace, |d| {
                    Box::pin(async move {
                        smol::Timer::after(d).await;
                    })
                })
                .await,
            )
        })?,
        [Runtime::Mio] if o.unordered => produce_mio_channels(config, o, &pace)?,
        [Runtime::Mio] => produce_mio_receipts(config, o, &pace)?,
        _ => return Err("produce takes exactly one --runtime".into()),
    };
    // The producer is closed and gone: its peak is in. Measured before the file is written.
    let peak = peak_rss_kib();
    let file = std::fs::File::create(&o.out).map_err(|e| format!("creating {}: {e}", o.out))?;
    let mut text = std::io::BufWriter::new(file);
    let mut put = |line: String| text.write_all(line.as_bytes());
    let mut written = Ok(());
    for i in 0..slots.slots.len() {
        let seq = i as u64;
        match slots.get(i) {
            None => {}
            Some((-1, _)) => {
                let e = slots.errors.get(&seq).map_or("failed", String::as_str);
                written = written.and(put(chaos::outcome_line(
                    seq,
                    &Outcome::Failed(e.to_owned()),
                )));
            }
            Some((partition, offset)) => {
                written = written.and(put(chaos::outcome_line(
                    seq,
                    &Outcome::Delivered { partition, offset },
                )))
            }
        }
    }
    if let Some((seq, e)) = slots.errors.iter().min_by_key(|(s, _)| **s) {
        eprintln!(
            "chaos produce: {} failed, first: record {seq}: {e}",
            slots.slots.iter().filter(|&&s| s == FAILED).count()
        );
    }
    written = written
        .and(put(format!("rss {peak}\n")))
        .and(put(format!("idempotent {}\n", u8::from(idempotent))))
        .and(put(format!("buffer {buffer_memory}\n")));
    written
        .and(text.flush())
        .map_err(|e| format!("writing {}: {e}", o.out))
}

/// What the faults did to the producer, as its stats count it (the channel shape of
/// odradek-mio has no stats).
fn print_retries(stats: &odradek_core::Stats) {
    let r = &stats.retries;
    let disconnects: u64 = stats.brokers.iter().map(|b| b.disconnects).sum();
    eprintln!(
        "chaos produce: {} batches retried (connection lost {}, request timeout {}, bad \
         response {}, sequence reset {}, broker errors {:?}), {disconnects} disconnects",
        r.total(),
        r.connection_lost,
        r.request_timeout,
        r.bad_response,
        r.sequence_reset,
        r.broker_errors
    );
}

/// VmHWM (peak resident set) of this process, in KiB.
pub(crate) fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// tokio and async-std share the driver crate: one generic sending loop and a collector,
/// polled together. Unordered collection awaits every delivery at once; ordered awaits them
/// in send order, as the demo does.
async fn produce_async<R: odradek_driver::Runtime>(
    producer: odradek_driver::Producer<R>,
    o: &Options,
    pace: &Pace,
    sleep: impl Fn(Duration) -> Sleep,
) -> Slots {
    use futures_util::StreamExt;
    let slots = Mutex::new(Slots::new(o.records));
    let (tx, rx) = futures_channel::mpsc::unbounded();
    let sender = async {
        let tx = tx;
        for seq in 0..o.records {
            loop {
                let wait = pace.wait_before(seq);
                if wait.is_zero() {
                    break;
                }
                sleep(wait).await;
            }
            match producer.send(record(&o.topic, seq, o.value_size)).await {
                Ok(delivery) => {
                    let _ = tx.unbounded_send((seq, delivery));
                }
                Err(e) => lock(&slots).failed(seq, format!("refused: {e}")),
            }
            pace.sent(seq + 1);
            // A send that has room completes at once, so without this the collector (polled
            // by the same task) would not run until the buffer is full, and every outcome
            // that arrived meanwhile would hold its record: memory the producer no longer
            // counts, and that this process would be charged for.
            if seq % 64 == 63 {
                yield_now().await;
            }
        }
    };
    let settle =
        |seq: u64, r: Result<odradek_core::RecordMetadata, odradek_core::DeliveryError>| {
            let mut s = lock(&slots);
            match r {
                Ok(md) => s.delivered(seq, md.partition, md.offset),
                Err(e) => s.failed(seq, e.to_string()),
            }
        };
    let collector = async {
        if o.unordered {
            rx.for_each_concurrent(None, |(seq, delivery)| async move {
                settle(seq, delivery.await);
            })
            .await;
        } else {
            let mut rx = rx;
            while let Some((seq, delivery)) = rx.next().await {
                settle(seq, delivery.await);
            }
        }
    };
    futures_util::future::join(sender, collector).await;
    print_retries(&producer.stats());
    let report = producer.close().await;
    eprintln!(
        "chaos produce: close: {} delivered, {} failed",
        report.delivered, report.failed
    );
    slots.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Returns `Pending` once (waking itself), so the other futures of the task get polled.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

fn lock(m: &Mutex<Slots>) -> std::sync::MutexGuard<'_, Slots> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn paced_send_loop(o: &Options, pace: &Pace, mut send: impl FnMut(u64)) {
    for seq in 0..o.records {
        loop {
            let wait = pace.wait_before(seq);
            if wait.is_zero() {
                break;
            }
            std::thread::sleep(wait);
        }
        send(seq);
        pace.sent(seq + 1);
    }
}

/// The blocking producer's channel shape: outcomes as they come, from two receiver threads.
fn produce_mio_channels(config: Config, o: &Options, pace: &Pace) -> Result<Slots, String> {
    use odradek_mio::{BlockingProducer, ChannelOptions};
    let (input, successes, errors) = BlockingProducer::channels(
        config,
        ChannelOptions {
            return_successes: true,
            capacity: 4096,
        },
    )
    .map_err(|e| e.to_string())?;
    let slots = Arc::new(Mutex::new(Slots::new(o.records)));
    let s1 = Arc::clone(&slots);
    let ok = std::thread::spawn(move || {
        for (md, record) in successes.into_iter().flatten() {
            if let Some(seq) = record.value.as_deref().and_then(chaos::parse_seq) {
                lock(&s1).delivered(seq, md.partition, md.offset);
            }
        }
    });
    let s2 = Arc::clone(&slots);
    let failed = std::thread::spawn(move || {
        for e in errors {
            if let Some(seq) = e.record.value.as_deref().and_then(chaos::parse_seq) {
                lock(&s2).failed(seq, e.error.to_string());
            }
        }
    });
    let refused = AtomicBool::new(false);
    paced_send_loop(o, pace, |seq| {
        if let Err(e) = input.send(record(&o.topic, seq, o.value_size)) {
            refused.store(true, Ordering::Relaxed);
            lock(&slots).failed(seq, format!("refused: {e}"));
        }
    });
    let report = input.close();
    eprintln!(
        "chaos produce: close: {} delivered, {} failed",
        report.delivered, report.failed
    );
    ok.join().map_err(|_| "successes thread panicked")?;
    failed.join().map_err(|_| "errors thread panicked")?;
    let slots = Arc::try_unwrap(slots).map_err(|_| "outcome slots still shared")?;
    Ok(slots.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// The blocking producer with receipts waited for in send order (the demo's way).
fn produce_mio_receipts(config: Config, o: &Options, pace: &Pace) -> Result<Slots, String> {
    use odradek_mio::{BlockingProducer, Receipt};
    let producer = BlockingProducer::connect(config).map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Receipt)>();
    let slots = Arc::new(Mutex::new(Slots::new(o.records)));
    let s1 = Arc::clone(&slots);
    let collector = std::thread::spawn(move || {
        for (seq, receipt) in rx {
            match receipt.wait() {
                Ok(md) => lock(&s1).delivered(seq, md.partition, md.offset),
                Err(e) => lock(&s1).failed(seq, e.to_string()),
            }
        }
    });
    paced_send_loop(o, pace, |seq| {
        match producer.send(record(&o.topic, seq, o.value_size)) {
            Ok(receipt) => {
                let _ = tx.send((seq, receipt));
            }
            Err(e) => lock(&slots).failed(seq, format!("refused: {e}")),
        }
    });
    drop(tx);
    collector.join().map_err(|_| "collector thread panicked")?;
    print_retries(&producer.stats());
    let report = producer.close();
    eprintln!(
        "chaos produce: close: {} delivered, {} failed",
        report.delivered, report.failed
    );
    let slots = Arc::try_unwrap(slots).map_err(|_| "outcome slots still shared")?;
    Ok(slots.into_inner().unwrap_or_else(|p| p.into_inner()))
}
