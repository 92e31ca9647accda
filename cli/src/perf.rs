//! `odradek perf`: Kafka's `ProducerPerformance` for odradek. Values of `--record-size` random
//! letters or the entries of `--payload-file` in turn; null keys, or with `--keys K` the key of
//! record `i` is [`key_of`]`(i % K)` (an extension of the Java tool, for `cargo xtask bench`);
//! optional throttling, a progress line every `--reporting-interval` seconds and a final line in
//! the Java tool's format:
//!
//! ```text
//! 1000000 records sent, 341234.5 records/sec (32.54 MB/sec), 45.31 ms avg latency, 512.00 ms max latency, 40.12 ms 50th, 90.40 ms 95th, 120.00 ms 99th, 150.20 ms 99.9th.
//! ```
//!
//! Every record gets its own freshly allocated value (a copy of the payload) and key, as a
//! producer that reads its records from anywhere must, and as `kcat -P` copies each input line:
//! no buffer is shared between records, so the producer's per-record cost is measured with the
//! allocation and copy a real caller pays (the Java tool shares one payload array instead).
//!
//! Latency runs from `send` to the moment the outcome reaches the record's callback
//! (`send_with`, as the Java tool's per-record `Callback`): nothing else is allocated or queued
//! per record besides what the producer itself does. MB/sec counts value bytes (2^20).

use crate::args::PerfArgs;
use crate::histogram::Histogram;
use crate::RuntimeKind;
use bytes::Bytes;
use odradek_core::{Config, Record, TopicName};
use odradek_driver::DeliveryResult;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A point in time on [`clock`].
type Stamp = quanta::Instant;

/// The clock latencies are measured on: quanta's, which reads the CPU's time-stamp counter
/// (about 25 ns here) where std's `Instant::now` calls `clock_gettime` (about 45 ns). A run
/// reads it twice per record (at `send` and in the record's callback); with std's clock those
/// two reads were 6 % of the tool's CPU in a profile of a 100-byte run. quanta falls back to
/// the OS clock where the counter is not usable.
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// What a finished run measured.
#[derive(Debug, Clone)]
pub struct PerfResult {
    /// Records with an outcome (delivered or failed).
    pub records: u64,
    /// Of those, failed (including records refused at `send`).
    pub failed: u64,
    /// The first failure, as text.
    pub first_error: Option<String>,
    /// First send to last outcome.
    pub elapsed: Duration,
    /// Latencies of delivered records, µs.
    pub latency: Histogram,
    /// Value bytes per record.
    pub record_size: usize,
}

impl PerfResult {
    /// Records per second.
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The final line, in `ProducerPerformance`'s format.
    pub fn final_line(&self) -> String {
        let rps = self.records_per_sec();
        let ms = |us: u64| us as f64 / 1000.0;
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {:.2} ms 50th, {:.2} ms 95th, {:.2} ms 99th, {:.2} ms 99.9th.",
            self.records,
            rps,
            rps * self.record_size as f64 / (1024.0 * 1024.0),
            self.latency.mean() / 1000.0,
            ms(self.latency.max()),
            ms(self.latency.quantile(0.50)),
            ms(self.latency.quantile(0.95)),
            ms(self.latency.quantile(0.99)),
            ms(self.latency.quantile(0.999)),
        )
    }
}

/// Counts outcomes and prints the periodic progress line.
#[derive(Debug)]
struct Stats {
    start: Stamp,
    interval: Duration,
    record_size: usize,
    all: Histogram,
    failed: u64,
    first_error: Option<String>,
    window_start: Stamp,
    window_count: u64,
    window_sum_us: u64,
    window_max_us: u64,
    last: Stamp,
}

impl Stats {
    fn new(start: Stamp, interval: Duration, record_size: usize) -> Self {
        Stats {
            start,
            interval,
            record_size,
            all: Histogram::default(),
            failed: 0,
            first_error: None,
            window_start: start,
            window_count: 0,
            window_sum_us: 0,
            window_max_us: 0,
            last: start,
        }
    }

    fn failed(&mut self, error: String) {
        self.failed += 1;
        if self.first_error.is_none() {
            eprintln!("odradek perf: a record failed: {error}");
            self.first_error = Some(error);
        }
        self.last = clock().now();
    }

    fn delivered(&mut self, sent_at: Stamp) {
        let now = clock().now();
        let us = now.saturating_duration_since(sent_at).as_micros() as u64;
        self.all.record(us);
        self.window_count += 1;
        self.window_sum_us += us;
        self.window_max_us = self.window_max_us.max(us);
        self.last = now;
        // Checking the clock per record is cheap next to a delivery; print at most once a
        // window.
        if now.saturating_duration_since(self.window_start) >= self.interval {
            let secs = now
                .saturating_duration_since(self.window_start)
                .as_secs_f64();
            let rps = self.window_count as f64 / secs;
            println!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
                self.window_count,
                rps,
                rps * self.record_size as f64 / (1024.0 * 1024.0),
                self.window_sum_us as f64 / self.window_count as f64 / 1000.0,
                self.window_max_us as f64 / 1000.0,
            );
            self.window_start = now;
            self.window_count = 0;
            self.window_sum_us = 0;
            self.window_max_us = 0;
        }
    }

    fn finish(self) -> PerfResult {
        PerfResult {
            records: self.all.count() + self.failed,
            failed: self.failed,
            first_error: self.first_error,
            elapsed: self.last.saturating_duration_since(self.start),
            latency: self.all,
            record_size: self.record_size,
        }
    }
}

/// Paces sends to `throughput` records per second (none when ≤ 0), like the Java tool's
/// throttler: sleeps only when ahead of schedule.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    start: Instant,
    per_sec: f64,
}

impl Throttle {
    /// A throttle starting now.
    pub fn new(start: Instant, per_sec: f64) -> Self {
        Throttle { start, per_sec }
    }

    /// How long to wait after `sent` records at `now`, if at all.
    pub fn delay(&self, sent: u64, now: Instant) -> Option<Duration> {
        if self.per_sec <= 0.0 {
            return None;
        }
        let due = self.start + Duration::from_secs_f64(sent as f64 / self.per_sec);
        let ahead = due.saturating_duration_since(now);
        (ahead >= Duration::from_millis(1)).then_some(ahead)
    }
}

/// `--record-size` random letters, from a small xorshift seeded by the clock (the payload's
/// content does not matter, only that it does not compress to nothing).
pub fn payload(size: usize) -> Bytes {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
        | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'A' + (x % 26) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// The key of the record numbered `n` (`i % --keys`): `n` in decimal, zero-padded to 8 digits
/// (`00012345`). `cargo xtask bench` writes the same keys into kcat's `key:value` lines and its
/// Java tool (`kafka/KeyedPerf.java`) builds the same bytes, so every producer sends the same
/// key sequence. Freshly allocated, as every record's key is.
pub fn key_of(n: u64) -> Vec<u8> {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    let mut n = n;
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = i.min(digits.len() - KEY_WIDTH);
    digits[start..].to_vec()
}

/// The minimum width of [`key_of`]'s keys.
pub const KEY_WIDTH: usize = 8;

/// The entries of a `--payload-file`, split at `delimiter` (`\n`, the Java tool's default
/// spelling, means a newline), empty ones skipped; an error if there are none.
pub fn read_payloads(path: &std::path::Path, delimiter: &str) -> Result<Vec<Bytes>, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let delimiter = if delimiter == "\\n" { "\n" } else { delimiter };
    if delimiter.is_empty() {
        return Err("--payload-delimiter must not be empty".into());
    }
    let text = Bytes::from(text);
    let delim = delimiter.as_bytes();
    let mut payloads = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delim.len() <= text.len() {
        if &text[i..i + delim.len()] == delim {
            if i > start {
                payloads.push(text.slice(start..i));
            }
            i += delim.len();
            start = i;
        } else {
            i += 1;
        }
    }
    if start < text.len() {
        payloads.push(text.slice(start..));
    }
    if payloads.is_empty() {
        return Err(format!("{}: no payloads in the file", path.display()));
    }
    Ok(payloads)
}

/// The configuration `perf` starts from: the library defaults (which match the Java client's
/// for the settings the benchmark uses: acks=all, linger.ms=5, batch.size=16384).
pub fn config(args: &PerfArgs) -> Result<Config, String> {
    crate::build_config(
        Config::new(Vec::<String>::new()),
        args.producer_config.as_deref(),
        &args.producer_props,
        args.bootstrap_server.as_deref(),
    )
}

type Sleep = fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs `odradek perf`; returns the process exit code.
pub fn run(args: PerfArgs) -> Result<PerfResult, String> {
    let mut config = config(&args)?;
    match (args.transaction_records, config.is_transactional()) {
        (Some(_), false) => {
            config.transactional_id = Some(format!("odradek-perf-{}", std::process::id()))
        }
        (None, true) => {
            return Err("transactional.id is set: give --transaction-records too".into())
        }
        _ => {}
    }
    if args.reporting_interval <= 0.0 || !args.reporting_interval.is_finite() {
        return Err("--reporting-interval must be positive".into());
    }
    if args.stall_report < 0.0 || !args.stall_report.is_finite() {
        return Err("--stall-report must be 0 (off) or positive".into());
    }
    let job = Job {
        topic: TopicName::new(args.topic.as_str()),
        records: args.num_records,
        keys: args.keys,
        payloads: match (&args.payload_file, args.record_size) {
            (Some(file), _) => read_payloads(file, &args.payload_delimiter)?,
            (None, Some(size)) => vec![payload(size)],
            (None, None) => return Err("--record-size or --payload-file is required".into()),
        },
        throughput: args.throughput,
        interval: Duration::from_secs_f64(args.reporting_interval),
        stall_report: (args.stall_report > 0.0).then(|| Duration::from_secs_f64(args.stall_report)),
        txn: args.transaction_records,
    };
    match args.runtime {
        RuntimeKind::Tokio => {
            let rt = crate::tokio_runtime().map_err(|e| format!("tokio runtime: {e}"))?;
            rt.block_on(async {
                let producer = odradek_tokio::Producer::connect(config)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                job.run_async(producer, |d| Box::pin(tokio::time::sleep(d)))
                    .await
            })
        }
        RuntimeKind::AsyncStd => async_std::task::block_on(async {
            let producer = odradek_async_std::Producer::connect(config)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            job.run_async(producer, |d| Box::pin(async_std::task::sleep(d)))
                .await
        }),
        RuntimeKind::Mio => {
            let producer = odradek_mio::BlockingProducer::connect(config)
                .map_err(|e| format!("connect: {e}"))?;
            job.run_blocking(producer)
        }
    }
}

struct Job {
    topic: TopicName,
    records: u64,
    /// Distinct keys ([`key_of`] of `i % keys`); 0 for null keys.
    keys: u64,
    /// The values, sent in turn (one for `--record-size`).
    payloads: Vec<Bytes>,
    throughput: f64,
    interval: Duration,
    /// `--stall-report`.
    stall_report: Option<Duration>,
    /// `--transaction-records`.
    txn: Option<u64>,
}

/// A transaction operation's error, for the run's result.
fn txn_failed(op: &str, e: odradek_core::TransactionError) -> String {
    format!("{op}: {e}")
}

/// `--stall-report`'s text: what the producer holds and waits on after `quiet` without an
/// outcome. Partitions are summarised (a 5,000-partition run would print pages): how many hold
/// queued records or batches in flight, and the first few of each.
pub fn stall_report(stats: &odradek_core::Stats, quiet: Duration) -> String {
    use std::fmt::Write as _;
    let mut r = format!(
        "odradek perf: no outcome for {:.1} s: {} accepted, {} delivered, {} failed, {} pending; \
         buffer {} of {} bytes; {} produce requests, {} in flight; retries {:?}",
        quiet.as_secs_f64(),
        stats.records_accepted,
        stats.records_delivered,
        stats.records_failed,
        stats.pending_records,
        stats.buffer_bytes,
        stats.buffer_capacity,
        stats.produce_requests,
        stats.requests_in_flight,
        stats.retries,
    );
    for b in &stats.brokers {
        let addr = b.address.as_ref().map_or("?".into(), ToString::to_string);
        let _ = write!(
            r,
            "\n  broker {} {addr}: connected {}, {} in flight, {} requests, {} disconnects",
            b.node_id, b.connected, b.requests_in_flight, b.produce_requests, b.disconnects
        );
    }
    let queued: Vec<_> = stats
        .partitions
        .iter()
        .filter(|p| p.queued_records > 0)
        .collect();
    let flying: Vec<_> = stats
        .partitions
        .iter()
        .filter(|p| p.batches_in_flight > 0)
        .collect();
    let no_leader = stats
        .partitions
        .iter()
        .filter(|p| p.leader.is_none())
        .count();
    let _ = write!(
        r,
        "\n  {} partitions: {} with queued records, {} with batches in flight, {} without a leader",
        stats.partitions.len(),
        queued.len(),
        flying.len(),
        no_leader
    );
    for (what, list) in [("queued", &queued), ("in flight", &flying)] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(r, "\n  {what} (first 10):");
        for p in list.iter().take(10) {
            let _ = write!(
                r,
                " {}-{} (leader {:?}, {} queued, {} batches in flight, {} delivered)",
                p.topic,
                p.partition,
                p.leader,
                p.queued_records,
                p.batches_in_flight,
                p.records_delivered
            );
        }
    }
    r
}

/// Prints [`stall_report`] whenever no outcome has arrived for `quiet` (checked every 100 ms
/// of wall time, on its own thread, until `done` is sent or dropped).
fn watch_stalls(
    stats: SharedStats,
    quiet: Duration,
    producer_stats: impl Fn() -> odradek_core::Stats + Send + 'static,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (done, rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let mut reported_at: Option<Stamp> = None;
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(Duration::from_millis(100))
        {
            let last = stats.lock().unwrap_or_else(PoisonError::into_inner).last;
            let now = clock().now();
            let since = now.saturating_duration_since(reported_at.map_or(last, |r| r.max(last)));
            if since >= quiet {
                let s = producer_stats();
                if s.pending_records > 0 {
                    eprintln!("{}", stall_report(&s, now.saturating_duration_since(last)));
                }
                reported_at = Some(now);
            }
        }
    });
    (done, thread)
}

/// The outcome counter shared with every record's callback. It lives as long as the process
/// (one per run, about 30 KiB): each callback borrows it instead of holding a reference
/// count, whose increment per send on the sending thread and decrement per callback on the
/// I/O thread bounced one cache line between the two for every record.
type SharedStats = &'static Mutex<Stats>;

/// Counts one outcome (runs in the record's callback, on the producer's I/O task or thread).
fn observe(stats: SharedStats, sent_at: Stamp, outcome: DeliveryResult) {
    let mut stats = stats.lock().unwrap_or_else(PoisonError::into_inner);
    match outcome {
        Ok(_) => stats.delivered(sent_at),
        Err(e) => stats.failed(e.to_string()),
    }
}

fn finish(stats: SharedStats, refused: Vec<String>) -> PerfResult {
    let mut stats = {
        let mut g = stats.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = Stats::new(g.start, g.interval, g.record_size);
        std::mem::replace(&mut *g, fresh)
    };
    for e in refused {
        stats.failed(e);
    }
    stats.finish()
}

impl Job {
    /// Record `i` of the run: the payloads in turn, each copied into a value of its own, and
    /// its key, if any.
    fn record(&self, i: u64) -> Record {
        let payload = &self.payloads[(i % self.payloads.len() as u64) as usize];
        let record = Record::new(self.topic.clone()).value(payload.to_vec());
        if self.keys == 0 {
            record
        } else {
            record.key(key_of(i % self.keys))
        }
    }

    /// Whether record `i` opens a transaction (`--transaction-records`).
    fn begins(&self, i: u64) -> bool {
        self.txn.is_some_and(|n| i % n == 0)
    }

    /// Whether record `i` closes one: the transaction's last record or the run's.
    fn commits(&self, i: u64) -> bool {
        self.txn
            .is_some_and(|n| (i + 1) % n == 0 || i + 1 == self.records)
    }

    /// The mean value size (for MB/sec).
    fn record_size(&self) -> usize {
        let total: usize = self.payloads.iter().map(Bytes::len).sum();
        total / self.payloads.len().max(1)
    }

    /// When to pause after `sent` records, if throttled (no clock read when unthrottled).
    fn pause(&self, throttle: &Throttle, sent: u64) -> Option<Duration> {
        (self.throughput > 0.0)
            .then(|| throttle.delay(sent, Instant::now()))
            .flatten()
    }

    /// The clock starts: the throttle and the shared figures of a run.
    fn start(&self) -> (Throttle, SharedStats) {
        let stats = Stats::new(clock().now(), self.interval, self.record_size());
        (
            Throttle::new(Instant::now(), self.throughput),
            Box::leak(Box::new(Mutex::new(stats))),
        )
    }

    async fn run_async<R: odradek_driver::Runtime>(
        &self,
        producer: odradek_driver::Producer<R>,
        sleep: Sleep,
    ) -> Result<PerfResult, String>
    where
        odradek_driver::Producer<R>: Clone + Send + 'static,
    {
        let (throttle, stats) = self.start();
        #[cfg(feature = "alloc-stats")]
        {
            eprintln!("connected; {}", crate::alloc_stats::report());
            let p = producer.clone();
            crate::alloc_stats::start_sampler(move || (p.pending_records(), p.buffered_bytes()));
        }
        let watch = self.stall_report.map(|quiet| {
            let p = producer.clone();
            watch_stalls(stats, quiet, move || p.stats())
        });
        let mut refused = Vec::new();
        if self.txn.is_some() {
            let init = producer.init_transactions().await;
            init.map_err(|e| txn_failed("init_transactions", e))?;
        }
        for i in 0..self.records {
            if self.begins(i) {
                let begin = producer.begin_transaction();
                begin.map_err(|e| txn_failed("begin_transaction", e))?;
            }
            let at = clock().now();
            let sent = producer
                .send_with(self.record(i), move |outcome| observe(stats, at, outcome))
                .await;
            if let Err(e) = sent {
                refused.push(e.to_string());
            }
            if self.commits(i) {
                let commit = producer.commit_transaction().await;
                commit.map_err(|e| txn_failed("commit_transaction", e))?;
            }
            if let Some(d) = self.pause(&throttle, i + 1) {
                sleep(d).await;
            }
        }
        // Every callback has run once flush returns.
        producer.flush().await;
        if let Some((done, thread)) = watch {
            drop(done);
            let _ = thread.join();
        }
        let result = finish(stats, refused);
        producer.close().await;
        Ok(result)
    }

    fn run_blocking(&self, producer: odradek_mio::BlockingProducer) -> Result<PerfResult, String> {
        let (throttle, stats) = self.start();
        #[cfg(feature = "alloc-stats")]
        {
            eprintln!("connected; {}", crate::alloc_stats::report());
            let p = producer.clone();
            crate::alloc_stats::start_sampler(move || (p.pending_records(), p.buffered_bytes()));
        }
        let watch = self.stall_report.map(|quiet| {
            let p = producer.clone();
            watch_stalls(stats, quiet, move || p.stats())
        });
        let mut refused = Vec::new();
        if self.txn.is_some() {
            let init = producer.init_transactions();
            init.map_err(|e| txn_failed("init_transactions", e))?;
        }
        for i in 0..self.records {
            if self.begins(i) {
                let begin = producer.begin_transaction();
                begin.map_err(|e| txn_failed("begin_transaction", e))?;
            }
            let at = clock().now();
            if let Err(e) = producer.send_with(self.record(i), move |o| observe(stats, at, o)) {
                refused.push(e.to_string());
            }
            if self.commits(i) {
                let commit = producer.commit_transaction();
                commit.map_err(|e| txn_failed("commit_transaction", e))?;
            }
            if let Some(d) = self.pause(&throttle, i + 1) {
                std::thread::sleep(d);
            }
        }
        producer.flush();
        if let Some((done, thread)) = watch {
            drop(done);
            let _ = thread.join();
        }
        let result = finish(stats, refused);
        producer.close();
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_paces_only_when_ahead() {
        let t0 = Instant::now();
        let none = Throttle::new(t0, -1.0);
        assert_eq!(none.delay(1_000_000, t0), None);
        let t = Throttle::new(t0, 1000.0);
        // 500 records at t0: 0.5 s ahead.
        let d = t.delay(500, t0).unwrap();
        assert!((d.as_secs_f64() - 0.5).abs() < 1e-6, "{d:?}");
        // Behind schedule: no wait.
        assert_eq!(t.delay(500, t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn payload_file_entries_are_split_at_the_delimiter() {
        let dir = std::env::temp_dir().join(format!("odradek-perf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("payloads.txt");
        std::fs::write(&file, "one\ntwo\n\nthree").unwrap();
        let got = read_payloads(&file, "\\n").unwrap();
        assert_eq!(got, [&b"one"[..], b"two", b"three"].map(Bytes::from_static));
        std::fs::write(&file, "a||bb||").unwrap();
        assert_eq!(
            read_payloads(&file, "||").unwrap(),
            [&b"a"[..], b"bb"].map(Bytes::from_static)
        );
        std::fs::write(&file, "\n\n").unwrap();
        assert!(read_payloads(&file, "\\n")
            .unwrap_err()
            .contains("no payloads"));
        assert!(read_payloads(&dir.join("missing"), "\\n").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_are_zero_padded_decimals() {
        assert_eq!(key_of(0), b"00000000");
        assert_eq!(key_of(12_345), b"00012345");
        assert_eq!(key_of(99_999_999), b"99999999");
        assert_eq!(key_of(123_456_789), b"123456789");
        assert_eq!(key_of(u64::MAX), u64::MAX.to_string().as_bytes());
    }

    fn job(keys: u64) -> Job {
        Job {
            topic: TopicName::new("t"),
            records: 10,
            keys,
            payloads: vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cde")],
            throughput: -1.0,
            interval: Duration::from_secs(5),
            stall_report: None,
            txn: None,
        }
    }

    #[test]
    fn transactions_of_n_records_and_a_shorter_last_one() {
        let j = Job {
            txn: Some(4),
            ..job(0)
        };
        let begins: Vec<u64> = (0..10).filter(|&i| j.begins(i)).collect();
        let commits: Vec<u64> = (0..10).filter(|&i| j.commits(i)).collect();
        assert_eq!(begins, [0, 4, 8]);
        assert_eq!(commits, [3, 7, 9]);
        let plain = job(0);
        assert!(!(0..10).any(|i| plain.begins(i) || plain.commits(i)));
    }

    #[test]
    fn every_record_owns_its_value_and_key() {
        let j = job(3);
        let (a, b) = (j.record(0), j.record(2));
        assert_eq!(a.value.as_deref(), Some(&b"ab"[..]));
        assert_eq!(b.value.as_deref(), Some(&b"ab"[..]));
        assert_eq!(j.record(1).value.as_deref(), Some(&b"cde"[..]));
        // Not one buffer shared by the records nor with the payload list.
        let (va, vb) = (a.value.as_ref().unwrap(), b.value.as_ref().unwrap());
        assert_ne!(va.as_ptr(), vb.as_ptr());
        assert_ne!(va.as_ptr(), j.payloads[0].as_ptr());
        assert_eq!(a.key.as_deref(), Some(&b"00000000"[..]));
        assert_eq!(b.key.as_deref(), Some(&b"00000002"[..]));
        assert_eq!(j.record(3).key.as_deref(), Some(&b"00000000"[..]));
        assert_eq!(job(0).record(5).key, None);
    }

    #[test]
    fn stall_report_names_what_holds_the_records() {
        use odradek_core::stats::{BrokerStats, PartitionStats};
        let part = |partition, queued, flying| PartitionStats {
            topic: "t".into(),
            partition,
            leader: Some(1),
            queued_records: queued,
            batches_in_flight: flying,
            ..Default::default()
        };
        let mut partitions: Vec<PartitionStats> = (0..5000).map(|p| part(p, 0, 0)).collect();
        partitions[7] = part(7, 12, 0);
        partitions[9] = part(9, 0, 2);
        partitions[11].leader = None;
        let stats = odradek_core::Stats {
            records_accepted: 100,
            records_delivered: 40,
            pending_records: 60,
            requests_in_flight: 1,
            brokers: vec![BrokerStats {
                node_id: 1,
                connected: true,
                requests_in_flight: 1,
                ..Default::default()
            }],
            partitions,
            ..Default::default()
        };
        let r = stall_report(&stats, Duration::from_millis(12_500));
        assert!(r.starts_with("odradek perf: no outcome for 12.5 s: 100 accepted, 40 delivered, 0 failed, 60 pending"), "{r}");
        assert!(r.contains("broker 1 ?: connected true, 1 in flight"), "{r}");
        assert!(r.contains("5000 partitions: 1 with queued records, 1 with batches in flight, 1 without a leader"), "{r}");
        assert!(
            r.contains("queued (first 10): t-7 (leader Some(1), 12 queued"),
            "{r}"
        );
        assert!(
            r.contains("in flight (first 10): t-9 (leader Some(1), 0 queued, 2 batches in flight"),
            "{r}"
        );
        assert!(
            r.lines().count() < 10,
            "one line per broker, not per partition: {r}"
        );
    }

    #[test]
    fn payload_is_letters_of_the_size_asked() {
        let p = payload(100);
        assert_eq!(p.len(), 100);
        assert!(p.iter().all(u8::is_ascii_uppercase));
        assert!(p.iter().any(|&b| b != p[0]), "not one repeated byte");
        assert!(payload(0).is_empty());
    }

    #[test]
    fn final_line_in_the_java_format() {
        let mut latency = Histogram::default();
        for _ in 0..3 {
            latency.record(2_000);
        }
        let r = PerfResult {
            records: 4,
            failed: 1,
            first_error: None,
            elapsed: Duration::from_secs(2),
            latency,
            record_size: 1024 * 1024,
        };
        assert_eq!(r.records_per_sec(), 2.0);
        assert_eq!(
            r.final_line(),
            "4 records sent, 2.0 records/sec (2.00 MB/sec), 2.00 ms avg latency, 2.00 ms max latency, 2.00 ms 50th, 2.00 ms 95th, 2.00 ms 99th, 2.00 ms 99.9th."
        );
    }
}
