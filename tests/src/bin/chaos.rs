//! `cargo xtask chaos`: a real 3-node Kafka under SIGKILL (or SIGSTOP) while odradek writes.
//!
//! ```text
//! chaos [--runtime tokio|async-std|mio|all] [--records N] [--kills K] [--kill-every S]
//!       [--mode kill|stop|blackhole|stall|lossy] [--stop-runs RUNTIMES] [--value-size B]
//!       [--collect ordered|unordered]
//!       [--blackhole-runs RUNTIMES] [--stall-runs RUNTIMES] [--lossy-runs RUNTIMES]
//!       [--net-records N] [--no-idempotence]
//! ```
//!
//! Starts a 3-node KRaft cluster (Kafka 4.4, or `ODRADEK_KAFKA_VERSION`; replication 3, `min.insync.replicas=2`), and per
//! runtime creates a topic of 6 partitions and runs the producer as its own process (this
//! binary re-executed as `chaos produce ...`, so its peak RSS is its own). While it writes,
//! the orchestrator kills the leader of a partition being written (odd kills) or a random
//! broker (even kills) with SIGKILL, waits until the partitions have moved, restarts the
//! broker on the same data, and waits until it is back in the ISR of every partition before
//! the next kill. `--mode stop` freezes the leader with SIGSTOP for longer than the
//! producer's request timeout instead, then resumes it (a zombie leader). `--stop-runs
//! mio,...` adds one such SIGSTOP run per runtime listed after the main runs, on the same
//! cluster (what `cargo xtask test` does, to start the cluster once).
//!
//! Network faults (`--blackhole-runs`, `--stall-runs`, `--lossy-runs`, each a list of runtimes or `all`; they
//! need root): every broker then also listens behind a TCP proxy of this process
//! (`odradek_tests::kafka::Proxy`) that it advertises on a listener of its own, the producer
//! bootstraps through the proxies and runs as its own user (`odradek-chaos`), and iptables
//! rules that match that user (or the proxies' ports) hit only its traffic (see
//! `odradek_tests::netfault`; the rules are removed at the end, even on a panic, and a killed
//! run's are removed by the next run). `--net-records` records each (default `--records`):
//!
//! - **blackhole**: once, halfway, every packet between the producer and the leader of a
//!   partition being written is dropped (not refused) for [`BLACKHOLE`], longer than the
//!   producer's request timeout, while the brokers still see that leader alive (checked:
//!   it still leads its partitions when the blackhole is healed);
//! - **stall**: once, halfway, the proxy of the leader of a partition being written holds
//!   back every answer to the producer for [`STALL`] while the requests still reach the
//!   broker (half-open connections: the broker appends batches whose acknowledgements the
//!   producer never gets, times out on and sends again once healed: the broker's idempotence
//!   check must turn those into duplicates acknowledged, not appended twice);
//! - **lossy**: for the whole run, each proxy delays every chunk by [`LOSSY_DELAY`] plus up
//!   to [`LOSSY_JITTER`], [`LOSSY_LOSS`] of the packets either way are dropped, a fraction
//!   [`LOSSY_RESET`] of the producer's data packets get a TCP reset (mid-request), and a
//!   proxy connection is cut every [`CUT_EVERY`].
//!
//! Both run the producer idempotent (the default), so the broker rejects the copies that
//! retries after a timeout or a reset send: duplicated must be 0. Without idempotence a
//! request whose answer is lost after the broker appended it is sent again and appended
//! twice, which no client can avoid, so `cargo xtask test` makes no non-idempotent
//! network-fault run; `--no-idempotence` shows it (duplicates are then reported, not fatal).
//!
//! Pacing: the producer sends at about `N / ((K + 1) · S)` records per second and is gated
//! through its stdin (`allow <n>`): kill `i` happens once `i · N / (K + 1)` records were sent,
//! and the producer may run half a chunk past that while the broker is down and coming back,
//! so every kill lands while records are being written, however slow the restart.
//!
//! Then every record is read back with Kafka's Java consumer and compared with the
//! producer's outcome file, and one line per runtime is printed:
//!
//! ```text
//! chaos: <runtime> <N> records, <K> kills, lost 0, duplicated 0, reordered 0, failed 0, peak rss <M> MiB
//! ```
//!
//! The exit code is non-zero on any non-zero figure (duplicates are only reported, not
//! fatal, when the producer runs without idempotence), on fewer kills than asked for, or on a
//! peak RSS above `buffer.memory + 64 MiB`.

// `SendError` hands the record back by value: the API shared by every odradek crate.
#![allow(clippy::result_large_err)]

use odradek_core::{Acks, Config, Record};
use odradek_tests::chaos::{self, Outcome};
use odradek_tests::kafka::{Faults, KafkaCluster, StartOptions, Version};
use odradek_tests::netfault::{self, NetLab};
use odradek_tests::Runtime;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::pin::Pin;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: chaos [--runtime tokio|async-std|mio|all] [--records N] [--kills K] [--kill-every S]
             [--mode kill|stop|blackhole|stall|lossy] [--stop-runs RUNTIMES] [--value-size B]
             [--collect ordered|unordered]
             [--blackhole-runs RUNTIMES] [--stall-runs RUNTIMES] [--lossy-runs RUNTIMES]
             [--net-records N] [--no-idempotence]";

/// Partitions of each chaos topic.
const PARTITIONS: i32 = 6;
/// How long a frozen leader stays frozen in `--mode stop`.
const FREEZE: Duration = Duration::from_secs(8);
/// The producer's request timeout in `--mode stop` (shorter than [`FREEZE`]).
const STOP_MODE_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Allowed RSS above `buffer.memory`.
const RSS_SLACK: u64 = 64 << 20;
/// How long the producer's traffic to one leader is dropped in a blackhole run (longer than
/// [`STOP_MODE_REQUEST_TIMEOUT`], the producer's request timeout there).
const BLACKHOLE: Duration = Duration::from_secs(10);
/// How long the answers of one leader are held back in a stall run (longer than the
/// producer's request timeout there).
const STALL: Duration = Duration::from_secs(10);
/// Lossy runs: delay of every chunk in each proxy, each way.
const LOSSY_DELAY: Duration = Duration::from_millis(15);
/// Lossy runs: further random delay per chunk, up to this.
const LOSSY_JITTER: Duration = Duration::from_millis(30);
/// Lossy runs: fraction of packets dropped, each way.
const LOSSY_LOSS: f64 = 0.03;
/// Lossy runs: fraction of the producer's data packets answered with a TCP reset.
const LOSSY_RESET: f64 = 0.003;
/// Lossy runs: how often a proxy connection is cut.
const CUT_EVERY: Duration = Duration::from_secs(3);
/// How long a lossy run produces.
const LOSSY_RUN: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Kill,
    Stop,
    Blackhole,
    Stall,
    Lossy,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Kill => "kill",
            Mode::Stop => "stop",
            Mode::Blackhole => "blackhole",
            Mode::Stall => "stall",
            Mode::Lossy => "lossy",
        }
    }

    /// Whether the producer goes through the proxies, as its own user.
    fn network(self) -> bool {
        matches!(self, Mode::Blackhole | Mode::Stall | Mode::Lossy)
    }
}

/// Options shared by both roles.
#[derive(Clone, Debug)]
struct Options {
    runtimes: Vec<Runtime>,
    records: u64,
    kills: u32,
    kill_every: Duration,
    mode: Mode,
    /// One extra SIGSTOP run (one freeze) per runtime, after the main runs.
    stop_runs: Vec<Runtime>,
    /// One blackhole run per runtime, after those.
    blackhole_runs: Vec<Runtime>,
    /// One half-open (answers withheld) run per runtime, after those.
    stall_runs: Vec<Runtime>,
    /// One slow and lossy run per runtime, after those.
    lossy_runs: Vec<Runtime>,
    /// Records of each network-fault run.
    net_records: Option<u64>,
    /// Run the producer without idempotence (duplicates are then reported, not fatal).
    no_idempotence: bool,
    value_size: usize,
    /// `true`: outcomes are collected as they come (the async `for_each_concurrent`, the
    /// blocking producer's channel shape); `false`: in send order, as the demo does.
    unordered: bool,
    // Producer role only.
    bootstrap: String,
    topic: String,
    rate: f64,
    out: String,
    request_timeout: Option<Duration>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        runtimes: Runtime::ALL.to_vec(),
        records: 200_000,
        kills: 3,
        kill_every: Duration::from_secs(10),
        mode: Mode::Kill,
        stop_runs: Vec::new(),
        blackhole_runs: Vec::new(),
        stall_runs: Vec::new(),
        lossy_runs: Vec::new(),
        net_records: None,
        no_idempotence: false,
        value_size: 100,
        unordered: true,
        bootstrap: String::new(),
        topic: String::new(),
        rate: 0.0,
        out: String::new(),
        request_timeout: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let num = |v: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{flag}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "--runtime" => o.runtimes = runtimes(value()?)?,
            "--records" => o.records = num(value()?)?,
            "--kills" => o.kills = num(value()?)? as u32,
            "--kill-every" => o.kill_every = Duration::from_secs(num(value()?)?),
            "--mode" => {
                o.mode = match value()? {
                    "kill" => Mode::Kill,
                    "stop" => Mode::Stop,
                    "blackhole" => Mode::Blackhole,
                    "stall" => Mode::Stall,
                    "lossy" => Mode::Lossy,
                    m => return Err(format!("unknown mode {m:?}\n{USAGE}")),
                }
            }
            "--stop-runs" => o.stop_runs = runtimes(value()?)?,
            "--blackhole-runs" => o.blackhole_runs = runtimes(value()?)?,
            "--stall-runs" => o.stall_runs = runtimes(value()?)?,
            "--lossy-runs" => o.lossy_runs = runtimes(value()?)?,
            "--net-records" => o.net_records = Some(num(value()?)?),
            "--no-idempotence" => o.no_idempotence = true,
            "--value-size" => o.value_size = num(value()?)? as usize,
            "--collect" => {
                o.unordered = match value()? {
                    "ordered" => false,
                    "unordered" => true,
                    c => return Err(format!("unknown --collect {c:?}\n{USAGE}")),
                }
            }
            "--bootstrap" => o.bootstrap = value()?.to_owned(),
            "--topic" => o.topic = value()?.to_owned(),
            "--rate" => {
                let v = value()?;
                o.rate = v.parse().map_err(|_| format!("--rate: {v:?}"))?;
            }
            "--out" => o.out = value()?.to_owned(),
            "--request-timeout-ms" => {
                o.request_timeout = Some(Duration::from_millis(num(value()?)?))
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if o.records == 0 || o.runtimes.is_empty() {
        return Err(format!("nothing to do\n{USAGE}"));
    }
    Ok(o)
}

/// `all` or a comma-separated list of runtimes.
fn runtimes(list: &str) -> Result<Vec<Runtime>, String> {
    match list {
        "all" => Ok(Runtime::ALL.to_vec()),
        list => list.split(',').map(Runtime::parse).collect(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((role, rest)) if role == "produce" => parse_options(rest).and_then(|o| produce(&o)),
        _ => parse_options(&args).and_then(|o| orchestrate(&o)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chaos: error: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// The orchestrator.

fn orchestrate(o: &Options) -> Result<(), String> {
    let started = Instant::now();
    // RecordTool holds everything it read (hex) before printing it.
    let heap_mib = 512 + o.records * (o.value_size as u64 + 64) * 8 / (1 << 20);
    if std::env::var_os(odradek_tests::kafka::TOOL_HEAP_ENV).is_none() {
        std::env::set_var(odradek_tests::kafka::TOOL_HEAP_ENV, format!("{heap_mib}m"));
    }
    let version = Version::from_env().map_err(|e| e.0)?;
    eprintln!("chaos: starting a 3-node Kafka {version} cluster");
    let mut start = StartOptions::new(version, 3);
    // A dead broker is fenced (and its partitions move) after 4 s without a heartbeat
    // instead of 9 s: shorter kill cycles, and a frozen leader is fenced while frozen.
    for (k, v) in [
        ("broker.session.timeout.ms", "4000"),
        ("broker.heartbeat.interval.ms", "1000"),
    ] {
        start.extra_properties.push((k.into(), v.into()));
    }
    // Network faults: proxies and the firewall chain first (fails early without root).
    let net = if o.mode.network()
        || !o.blackhole_runs.is_empty()
        || !o.stall_runs.is_empty()
        || !o.lossy_runs.is_empty()
    {
        let net = NetLab::prepare(3)?;
        start.node_listeners = net.listeners();
        eprintln!(
            "chaos: network faults: proxies at {}, iptables chain {}, producer as user {} (uid {})",
            net.bootstrap(),
            net.firewall.chain(),
            netfault::USER,
            net.uid
        );
        Some(net)
    } else {
        None
    };
    let mut cluster =
        KafkaCluster::start_with(start).map_err(|e| format!("starting the cluster: {e}"))?;
    eprintln!(
        "chaos: cluster up in {:.1?} at {}",
        started.elapsed(),
        cluster.bootstrap()
    );
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    // A lossy run is one stretch of faults, without kills.
    let main_mode = Options {
        kills: if o.mode == Mode::Lossy { 0 } else { o.kills },
        ..o.clone()
    };
    let o = &main_mode;
    let stop_mode = Options {
        mode: Mode::Stop,
        kills: 1,
        ..o.clone()
    };
    let net_records = o.net_records.unwrap_or(o.records);
    let blackhole_mode = Options {
        mode: Mode::Blackhole,
        kills: 1,
        records: net_records,
        ..o.clone()
    };
    let stall_mode = Options {
        mode: Mode::Stall,
        ..blackhole_mode.clone()
    };
    let lossy_mode = Options {
        mode: Mode::Lossy,
        kills: 0,
        records: net_records,
        kill_every: LOSSY_RUN,
        ..o.clone()
    };
    let runs = o
        .runtimes
        .iter()
        .map(|&rt| (rt, o))
        .chain(o.stop_runs.iter().map(|&rt| (rt, &stop_mode)))
        .chain(o.blackhole_runs.iter().map(|&rt| (rt, &blackhole_mode)))
        .chain(o.stall_runs.iter().map(|&rt| (rt, &stall_mode)))
        .chain(o.lossy_runs.iter().map(|&rt| (rt, &lossy_mode)));
    for (rt, o) in runs {
        let t = Instant::now();
        let result = run_one(&mut cluster, net.as_ref(), rt, o);
        // Whatever happened, the next run starts without faults.
        if let Some(net) = &net {
            if let Err(e) = net.heal() {
                failures.push(format!("healing the network: {e}"));
            }
        }
        match result {
            Ok((line, problems)) => {
                println!("{line}");
                lines.push(line);
                failures.extend(problems.into_iter().map(|p| format!("{}: {p}", rt.name())));
            }
            Err(e) => failures.push(format!("{}: {e}", rt.name())),
        }
        eprintln!("chaos: {} took {:.1?}", rt.name(), t.elapsed());
    }
    // Resume anything left frozen, then stop (a stopped JVM ignores SIGTERM until resumed).
    for id in 1..=3 {
        let _ = cluster.signal_node(id, "CONT");
    }
    cluster
        .stop()
        .map_err(|e| format!("stopping the cluster: {e}"))?;
    eprintln!("chaos: done in {:.1?}", started.elapsed());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// The producer process and what it reports on stdout.
struct ProducerProcess {
    child: Child,
    sent: Arc<AtomicU64>,
    stdin: Option<std::process::ChildStdin>,
}

impl ProducerProcess {
    fn allow(&mut self, n: u64) {
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "allow {n}");
            let _ = stdin.flush();
        }
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits until `sent` reaches `n` or the process ends; `false` if it ended first.
    fn wait_sent(&mut self, n: u64, timeout: Duration) -> Result<bool, String> {
        let deadline = Instant::now() + timeout;
        while self.sent.load(Ordering::Relaxed) < n {
            if self.exited() {
                return Ok(false);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "producer sent only {} of {n} records in {timeout:?}",
                    self.sent.load(Ordering::Relaxed)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(true)
    }
}

impl Drop for ProducerProcess {
    fn drop(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// One runtime's run: returns its chaos line and what makes it fail.
fn run_one(
    cluster: &mut KafkaCluster,
    net: Option<&NetLab>,
    rt: Runtime,
    o: &Options,
) -> Result<(String, Vec<String>), String> {
    let mode = o.mode.name();
    let net = match (o.mode.network(), net) {
        (false, _) => None,
        (true, Some(net)) => Some(net),
        (true, None) => return Err(format!("{mode} needs the network-fault setup")),
    };
    let topic = format!("chaos-{}-{mode}-{}", rt.name(), std::process::id());
    cluster
        .create_topic(&topic, PARTITIONS, 3, &[])
        .map_err(|e| format!("creating {topic}: {e}"))?;
    let out = std::env::temp_dir().join(format!("{topic}.outcomes"));
    let chunks = u64::from(o.kills) + 1;
    let chunk = (o.records / chunks).max(1);
    let rate = o.records as f64 / (chunks as f64 * o.kill_every.as_secs_f64().max(0.1));

    // The faults of a lossy run last the whole run, from before the producer connects.
    let lossy = Faults {
        delay: LOSSY_DELAY,
        jitter: LOSSY_JITTER,
        ..Faults::default()
    };
    if let (Mode::Lossy, Some(net)) = (o.mode, net) {
        net.slow_and_lossy(lossy, LOSSY_LOSS, LOSSY_RESET)?;
    }
    let mut producer = start_producer(cluster, net, rt, o, &topic, &out, rate)?;
    let ahead = chunk / 2;
    let mut faults = String::new();
    producer.allow(if o.kills == 0 {
        o.records
    } else {
        chunk + ahead
    });

    // Patience for one chunk at the paced rate, with room for a slow machine.
    // A starved machine (2 cores, 3 brokers and other work) can be slow: be patient.
    let chunk_time = Duration::from_secs_f64(chunk as f64 / rate) * 4 + Duration::from_secs(300);
    let mut kills = 0;
    let mut rng = seed();
    for i in 1..=u64::from(o.kills) {
        if !producer.wait_sent(i * chunk, chunk_time)? {
            break;
        }
        let parts = cluster
            .partitions(&topic, None)
            .map_err(|e| format!("metadata before kill {i}: {e}"))?;
        let victim = if i % 2 == 1 {
            // The leader of a partition being written (all are: keys spread over them).
            let p = &parts[(i as usize) % parts.len()];
            u32::try_from(p.leader).map_err(|_| format!("partition {} has no leader", p.index))?
        } else {
            (next(&mut rng) % 3) as u32 + 1
        };
        let t = Instant::now();
        match o.mode {
            Mode::Kill => {
                cluster.kill_node(victim).map_err(|e| e.to_string())?;
                eprintln!(
                    "chaos: {} kill {i}: SIGKILL node {victim} at {} records sent",
                    rt.name(),
                    producer.sent.load(Ordering::Relaxed)
                );
                wait_leaders_moved(cluster, &topic, victim)?;
                cluster.restart_node(victim).map_err(|e| e.to_string())?;
            }
            Mode::Stop => {
                cluster
                    .signal_node(victim, "STOP")
                    .map_err(|e| e.to_string())?;
                eprintln!(
                    "chaos: {} freeze {i}: SIGSTOP node {victim} for {FREEZE:?} at {} records sent",
                    rt.name(),
                    producer.sent.load(Ordering::Relaxed)
                );
                // The fault itself lasts this long: a frozen broker gives no sign to wait on.
                std::thread::sleep(FREEZE);
                cluster
                    .signal_node(victim, "CONT")
                    .map_err(|e| e.to_string())?;
            }
            Mode::Blackhole => {
                let net = net.ok_or("no network-fault setup")?;
                let led: Vec<i32> = parts
                    .iter()
                    .filter(|p| p.leader == victim as i32)
                    .map(|p| p.index)
                    .collect();
                net.blackhole(victim)?;
                eprintln!(
                    "chaos: {} blackhole {i}: dropping the producer's packets to and from node \
                     {victim} (leader of partitions {led:?}) for {BLACKHOLE:?} at {} records sent",
                    rt.name(),
                    producer.sent.load(Ordering::Relaxed)
                );
                std::thread::sleep(BLACKHOLE);
                let dropped: u64 = net.firewall.counters()?.iter().sum();
                // The brokers must have seen the victim alive all along: it still leads.
                let after = cluster
                    .partitions(&topic, None)
                    .map_err(|e| format!("metadata after blackhole {i}: {e}"))?;
                let still: Vec<i32> = after
                    .iter()
                    .filter(|p| p.leader == victim as i32 && led.contains(&p.index))
                    .map(|p| p.index)
                    .collect();
                net.heal()?;
                eprintln!(
                    "chaos: {} blackhole {i} healed: {dropped} packets dropped; node {victim} \
                     still leads {still:?}",
                    rt.name()
                );
                if dropped == 0 {
                    return Err(format!("blackhole {i} dropped no packet"));
                }
                if still != led {
                    return Err(format!(
                        "node {victim} lost leadership of {led:?} during the blackhole (leads \
                         {still:?}): the cluster did not see it alive"
                    ));
                }
                let _ = write!(
                    faults,
                    "{}node {victim} blackholed {BLACKHOLE:?} ({dropped} packets dropped)",
                    if faults.is_empty() { "" } else { "; " }
                );
            }
            Mode::Stall => {
                let net = net.ok_or("no network-fault setup")?;
                let held_before = net.stalled(victim)?;
                net.stall(victim)?;
                eprintln!(
                    "chaos: {} stall {i}: node {victim}'s answers to the producer held back \
                     for {STALL:?} (requests still reach it) at {} records sent",
                    rt.name(),
                    producer.sent.load(Ordering::Relaxed)
                );
                std::thread::sleep(STALL);
                let held = net.stalled(victim)? - held_before;
                net.heal()?;
                eprintln!(
                    "chaos: {} stall {i} healed: {held} chunks of answers were read from the \
                     broker while held",
                    rt.name()
                );
                if held == 0 {
                    return Err(format!("stall {i} held no answer"));
                }
                let _ = write!(
                    faults,
                    "{}node {victim} answers held {STALL:?} ({held} chunks held)",
                    if faults.is_empty() { "" } else { "; " }
                );
            }
            Mode::Lossy => return Err("a lossy run has no kills".into()),
        }
        cluster
            .wait_for_full_isr(&topic, Duration::from_secs(180))
            .map_err(|e| e.to_string())?;
        eprintln!(
            "chaos: {} node {victim} back in every ISR after {:.1?}",
            rt.name(),
            t.elapsed()
        );
        kills += 1;
        producer.allow(((i + 1) * chunk + ahead).min(o.records));
    }
    producer.allow(o.records);
    let deadline = Instant::now() + chunk_time * 2 + Duration::from_secs(300);
    let mut wait_exit = || loop {
        if let Ok(Some(status)) = producer.child.try_wait() {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the producer did not finish ({} records sent)",
                producer.sent.load(Ordering::Relaxed)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = match (o.mode, net) {
        (Mode::Lossy, Some(net)) => {
            // Cut a connection every CUT_EVERY while the producer runs (and closes).
            let cuts_before = net.cuts();
            let done = AtomicBool::new(false);
            let status = std::thread::scope(|s| {
                s.spawn(|| {
                    let mut rng = seed();
                    let mut next_cut = Instant::now() + CUT_EVERY;
                    while !done.load(Ordering::Relaxed) {
                        if Instant::now() >= next_cut {
                            net.cut_one(next(&mut rng) as usize);
                            next_cut += CUT_EVERY;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                });
                let status = wait_exit();
                done.store(true, Ordering::Relaxed);
                status
            });
            let counters = net.firewall.counters()?;
            net.heal()?;
            let [resets, dropped_out, dropped_in] = counters[..] else {
                return Err(format!("unexpected iptables counters {counters:?}"));
            };
            faults = format!(
                "delay {:?} + jitter {:?}, loss {}% ({} packets dropped), {resets} resets, \
                 {} cuts",
                LOSSY_DELAY,
                LOSSY_JITTER,
                LOSSY_LOSS * 100.0,
                dropped_out + dropped_in,
                net.cuts() - cuts_before
            );
            eprintln!("chaos: {} lossy run healed: {faults}", rt.name());
            if resets == 0 || dropped_out + dropped_in == 0 || net.cuts() == cuts_before {
                return Err(format!("the faults did not hit: {faults}"));
            }
            status?
        }
        _ => wait_exit()?,
    };
    if !status.success() {
        return Err(format!("the producer exited with {status}"));
    }
    verdict(cluster, rt, o, &topic, &out, kills, &faults)
}

/// Starts the producer process (this binary's `produce`) for one run, paced at `rate`
/// records/s; it writes its outcomes to `out`.
fn start_producer(
    cluster: &KafkaCluster,
    net: Option<&NetLab>,
    rt: Runtime,
    o: &Options,
    topic: &str,
    out: &std::path::Path,
    rate: f64,
) -> Result<ProducerProcess, String> {
    let exe = match net {
        // Run as another user: a copy it can read, wherever this checkout is.
        Some(net) => net.exe.clone(),
        None => std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?,
    };
    let mut cmd = Command::new(exe);
    cmd.arg("produce")
        .args(["--runtime", rt.name()])
        .args([
            "--bootstrap",
            &net.map_or_else(|| cluster.bootstrap(), NetLab::bootstrap),
        ])
        .args(["--topic", topic])
        .args(["--records", &o.records.to_string()])
        .args(["--value-size", &o.value_size.to_string()])
        .args(["--rate", &format!("{rate:.1}")])
        .args([
            "--collect",
            if o.unordered { "unordered" } else { "ordered" },
        ])
        .arg("--out")
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(net) = net {
        // Its own user, so that iptables' owner match hits only its packets; the outcome
        // file made beforehand and handed over, wherever the temp folder is.
        use std::os::unix::process::CommandExt;
        std::fs::File::create(out).map_err(|e| format!("creating {out:?}: {e}"))?;
        std::os::unix::fs::chown(out, Some(net.uid), Some(net.gid))
            .map_err(|e| format!("chown {out:?}: {e}"))?;
        cmd.uid(net.uid).gid(net.gid).current_dir("/");
    }
    if o.no_idempotence {
        cmd.arg("--no-idempotence");
    }
    if o.mode != Mode::Kill {
        cmd.args([
            "--request-timeout-ms",
            &STOP_MODE_REQUEST_TIMEOUT.as_millis().to_string(),
        ]);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting the producer: {e}"))?;
    let sent = Arc::new(AtomicU64::new(0));
    let stdout = child.stdout.take();
    let stdin = child.stdin.take();
    let producer = ProducerProcess {
        child,
        sent: Arc::clone(&sent),
        stdin,
    };
    if let Some(stdout) = stdout {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("sent ").and_then(|n| n.parse().ok()) {
                    sent.store(n, Ordering::Relaxed);
                }
            }
        });
    }
    Ok(producer)
}

/// Reads the run's outcomes and the topic back and judges them: the chaos line and what
/// is wrong with it, if anything.
fn verdict(
    cluster: &mut KafkaCluster,
    rt: Runtime,
    o: &Options,
    topic: &str,
    out: &std::path::Path,
    kills: u32,
    faults: &str,
) -> Result<(String, Vec<String>), String> {
    let text = std::fs::read_to_string(out).map_err(|e| format!("reading {out:?}: {e}"))?;
    let _ = std::fs::remove_file(out);
    let report = chaos::parse_report(&text, o.records as usize)?;
    let acknowledged = report
        .outcomes
        .iter()
        .filter(|x| matches!(x, Some(Outcome::Delivered { .. })))
        .count();
    let consumed = cluster
        .consume_all_timeout(topic, acknowledged, Duration::from_secs(180))
        .map_err(|e| format!("reading {topic} back: {e}"))?;
    let mut log: HashMap<i32, Vec<(i64, Option<u64>)>> = HashMap::new();
    for r in &consumed {
        let seq = r.value.as_deref().and_then(chaos::parse_seq);
        log.entry(r.partition).or_default().push((r.offset, seq));
    }
    let fig = chaos::analyse(&report.outcomes, &log);
    let peak = report.peak_rss_kib * 1024;
    let label = match o.mode {
        Mode::Kill => rt.name().to_owned(),
        Mode::Stop => format!("{}+sigstop", rt.name()),
        m => format!("{}+{}", rt.name(), m.name()),
    };
    let what = if faults.is_empty() {
        format!("{kills} kills")
    } else {
        faults.to_owned()
    };
    let line = format!(
        "chaos: {label} {} records, {what}, {fig}, peak rss {} MiB",
        o.records,
        peak.div_ceil(1 << 20)
    );
    let mut problems = Vec::new();
    let mut notes = String::new();
    if fig.unresolved + fig.misreported + fig.foreign > 0 {
        let _ = write!(
            notes,
            " unresolved {}, misreported {}, foreign {};",
            fig.unresolved, fig.misreported, fig.foreign
        );
    }
    if !fig.clean(!report.idempotent) {
        problems.push(format!("non-zero figures:{notes} {line}"));
    } else if fig.duplicated > 0 {
        eprintln!(
            "chaos: note: {} duplicates tolerated: the producer ran without idempotence",
            fig.duplicated
        );
    }
    if kills < o.kills {
        problems.push(format!(
            "only {kills} of {} kills happened while producing",
            o.kills
        ));
    }
    let limit = report.buffer_memory + RSS_SLACK;
    if peak > limit {
        problems.push(format!(
            "peak RSS {} MiB above buffer.memory + 64 MiB = {} MiB",
            peak >> 20,
            limit >> 20
        ));
    }
    Ok((line, problems))
}

/// Waits until a live node's metadata shows no partition of `topic` led by `dead`.
fn wait_leaders_moved(cluster: &KafkaCluster, topic: &str, dead: u32) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match cluster.partitions(topic, Some(dead)) {
            Ok(parts)
                if parts
                    .iter()
                    .all(|p| p.leader >= 0 && p.leader != dead as i32) =>
            {
                return Ok(())
            }
            last => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "leaders of {topic} did not move off node {dead}: {last:?}"
                    ));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    t | 1
}

/// xorshift64: enough to pick a broker.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

// ---------------------------------------------------------------------------------------
// The producer process.

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
struct Pace {
    allowed: AtomicU64,
    sent: AtomicU64,
    start: Instant,
    rate: f64,
}

impl Pace {
    /// How long to wait before sending record `seq`: zero when it may go now.
    fn wait_before(&self, seq: u64) -> Duration {
        if seq >= self.allowed.load(Ordering::Relaxed) {
            return Duration::from_millis(5);
        }
        if self.rate > 0.0 && seq.is_multiple_of(64) {
            let due = self.start + Duration::from_secs_f64(seq as f64 / self.rate);
            return due.saturating_duration_since(Instant::now());
        }
        Duration::ZERO
    }

    fn sent(&self, n: u64) {
        self.sent.store(n, Ordering::Relaxed);
        if n.is_multiple_of(1000) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "sent {n}");
            let _ = out.flush();
        }
    }
}

fn record(topic: &str, seq: u64, size: usize) -> Record {
    Record::new(topic)
        .key(chaos::key(seq))
        .value(chaos::value(seq, size))
}

fn produce(o: &Options) -> Result<(), String> {
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
fn peak_rss_kib() -> u64 {
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
