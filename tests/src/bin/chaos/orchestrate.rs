//! The orchestrator: starts the 3-node cluster, runs the producer process per runtime and
//! mode, injects the faults while it writes, and judges what it reads back.

use crate::options::*;
use odradek_tests::chaos::{self, Outcome};
use odradek_tests::kafka::{Faults, KafkaCluster, StartOptions, Version};
use odradek_tests::netfault::{self, NetLab};
use odradek_tests::Runtime;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) fn orchestrate(o: &Options) -> Result<(), String> {
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
    let txn_mode = Options {
        mode: Mode::Kill,
        kills: o.txn_kills.unwrap_or(o.kills).max(1),
        transactional: Some(o.txn_size),
        records: o.txn_records.unwrap_or(o.records),
        ..o.clone()
    };
    // The transactional producer runs on tokio and async-std.
    let main_runtimes: Vec<Runtime> = o
        .runtimes
        .iter()
        .copied()
        .filter(|&rt| o.transactional.is_none() || rt != Runtime::Mio)
        .collect();
    if main_runtimes.len() < o.runtimes.len() {
        eprintln!("chaos: --transactional: no mio run (tokio and async-std only)");
    }
    let runs = main_runtimes
        .iter()
        .map(|&rt| (rt, o))
        .chain(o.stop_runs.iter().map(|&rt| (rt, &stop_mode)))
        .chain(o.blackhole_runs.iter().map(|&rt| (rt, &blackhole_mode)))
        .chain(o.stall_runs.iter().map(|&rt| (rt, &stall_mode)))
        .chain(o.lossy_runs.iter().map(|&rt| (rt, &lossy_mode)))
        .chain(o.txn_runs.iter().map(|&rt| (rt, &txn_mode)));
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
    // A transactional run after a plain one of the same runtime and mode gets its own topic.
    let txn = if o.transactional.is_some() {
        "-txn"
    } else {
        ""
    };
    let topic = format!("chaos-{}-{mode}{txn}-{}", rt.name(), std::process::id());
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
        let coordinator = match o.transactional {
            Some(_) => {
                let c = crate::txn_verdict::coordinator_node(cluster, &topic)?;
                eprintln!(
                    "chaos: {} the transaction coordinator is node {c}",
                    rt.name()
                );
                Some(c)
            }
            None => None,
        };
        let victim = if let (Some(c), 1) = (coordinator, i % 2) {
            // Transactional runs: the transaction coordinator's broker on odd kills.
            c
        } else if i % 2 == 1 || o.transactional.is_some() {
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
        if o.transactional.is_some() {
            // The coordinators' log too, or the next kill may leave it below min.insync.
            cluster
                .wait_for_full_isr(
                    crate::txn_verdict::TXN_STATE_TOPIC,
                    Duration::from_secs(180),
                )
                .map_err(|e| e.to_string())?;
        }
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
    if let Some(size) = o.transactional {
        return crate::txn_verdict::verdict_txn(cluster, rt, o, size, &topic, &out, kills, &faults);
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
    if let Some(size) = o.transactional {
        cmd.args(["--transactional", "--txn-size", &size.to_string()]);
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
    run_problems(o, kills, peak, report.buffer_memory, &mut problems);
    Ok((line, problems))
}

/// What every run is judged on besides its records: the kills it asked for happened while
/// producing, and the producer's peak RSS stayed within buffer.memory + [`RSS_SLACK`].
pub(crate) fn run_problems(
    o: &Options,
    kills: u32,
    peak: u64,
    buffer_memory: u64,
    problems: &mut Vec<String>,
) {
    if kills < o.kills {
        problems.push(format!(
            "only {kills} of {} kills happened while producing",
            o.kills
        ));
    }
    let limit = buffer_memory + RSS_SLACK;
    if peak > limit {
        problems.push(format!(
            "peak RSS {} MiB above buffer.memory + 64 MiB = {} MiB",
            peak >> 20,
            limit >> 20
        ));
    }
}

/// Waits until a live node's metadata shows no partition of `topic` led by `dead`.
pub(crate) fn wait_leaders_moved(
    cluster: &KafkaCluster,
    topic: &str,
    dead: u32,
) -> Result<(), String> {
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

pub(crate) fn seed() -> u64 {
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
