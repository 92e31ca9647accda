//! `cargo xtask bench`: odradek perf on each runtime against Kafka's Java client (`kafka/
//! KeyedPerf.java`) and `kcat -P`, same broker, same settings, same records, alternating over
//! rounds; each producer process's CPU (user + sys) and peak RSS from GNU time. One case per
//! `--partitions` entry, each on a fresh topic of that many partitions, keyed (`--keys`) or
//! not. Writes `target/bench/report.md` (every case, with the goal ratios of issue 22),
//! `target/bench/rounds-<case>.tsv`, `target/bench/chart-<case>.png` (drawn by `odradek
//! bench-chart`) and every run's output in `target/bench/logs/`.

use crate::kafka::{self, KafkaCluster, StartOptions, Version};
use crate::{cargo, status, Opts};
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const PRODUCERS: [&str; 5] = [
    "kcat",
    "java",
    "odradek-tokio",
    "odradek-async-std",
    "odradek-mio",
];
const TIME: &str = "/usr/bin/time";
/// Every producer's `buffer.memory` (librdkafka's `queue.buffering.max.kbytes`).
const BUFFER_MEMORY: u64 = 32 * 1024 * 1024;
/// What issue 22 allows a producer to hold beyond `buffer.memory`.
const RSS_SLACK: u64 = 16 * 1024 * 1024;

/// One case: a topic of `partitions` partitions, `keys` distinct keys (0: null keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Case {
    partitions: i32,
    keys: u64,
}

impl Case {
    /// `p<partitions>-k<keys>`, for file and topic names.
    fn tag(&self) -> String {
        format!("p{}-k{}", self.partitions, self.keys)
    }

    /// Issue 22's goal for the odradek runtimes in this case, as ratios to kcat's mean:
    /// (CPU/record at most, records/s at least); `None` for a case the issue sets none for.
    fn goal(&self) -> Option<(f64, f64)> {
        match (self.partitions, self.keys) {
            (6, 0) => Some((0.5, 1.3)),
            (1000, 100_000) => Some((0.45, 1.5)),
            (5000, 100_000) => Some((0.12, 5.0)),
            _ => None,
        }
    }
}

/// `--partitions 6,1000,5000` with `--keys 0,100000,100000` (one entry per case) or `--keys K`
/// (every case).
fn parse_cases(partitions: &str, keys: &str) -> Result<Vec<Case>, String> {
    fn list<T: std::str::FromStr>(flag: &str, text: &str) -> Result<Vec<T>, String> {
        text.split(',')
            .map(|x| {
                x.trim()
                    .parse()
                    .map_err(|_| format!("{flag}: not a number: {x:?}"))
            })
            .collect()
    }
    let partitions: Vec<i32> = list("--partitions", partitions)?;
    let keys: Vec<u64> = list("--keys", keys)?;
    if let Some(p) = partitions.iter().find(|&&p| p < 1) {
        return Err(format!("--partitions: {p} is not a partition count"));
    }
    let keys = match keys.len() {
        1 => vec![keys[0]; partitions.len()],
        n if n == partitions.len() => keys,
        n => {
            return Err(format!(
                "--keys has {n} entries for {} --partitions: give one, or one per case",
                partitions.len()
            ))
        }
    };
    Ok(partitions
        .into_iter()
        .zip(keys)
        .map(|(partitions, keys)| Case { partitions, keys })
        .collect())
}

#[derive(Clone)]
struct Settings {
    records: u64,
    /// Records of the unmeasured odradek-tokio run on each fresh topic before the rounds.
    warmup: u64,
    rounds: u32,
    compression: String,
    record_size: usize,
    producers: Vec<String>,
    cases: Vec<Case>,
}

/// One producer process in one round of one case.
#[derive(Debug, Clone)]
struct Sample {
    case: Case,
    producer: String,
    round: u32,
    records_per_sec: f64,
    cpu_us_per_record: f64,
    rss_kib: u64,
    wall_secs: f64,
}

pub fn bench(args: &[&str]) -> Result<(), String> {
    let o = Opts::parse(
        args,
        &[
            "--records",
            "--rounds",
            "--compression",
            "--record-size",
            "--producers",
            "--bootstrap",
            "--partitions",
            "--keys",
            "--warmup",
        ],
        &[],
    )?;
    let s = Settings {
        records: o.num("--records", 1_000_000)?,
        warmup: o.num("--warmup", 200_000)?,
        rounds: o.num("--rounds", 3)?,
        compression: o.get("--compression").unwrap_or("none").to_owned(),
        record_size: o.num("--record-size", 100)?,
        producers: o
            .get("--producers")
            .map_or(PRODUCERS.iter().map(|p| p.to_string()).collect(), |l| {
                l.split(',').map(|p| p.trim().to_owned()).collect()
            }),
        cases: parse_cases(
            o.get("--partitions").unwrap_or("6"),
            o.get("--keys").unwrap_or("0"),
        )?,
    };
    if s.records == 0 || s.rounds == 0 {
        return Err("--records and --rounds must be at least 1".into());
    }
    if s.records > i32::MAX as u64 {
        return Err("--records: at most 2^31 - 1 (the Java tool counts in an int)".into());
    }
    for p in &s.producers {
        if !PRODUCERS.contains(&p.as_str()) {
            return Err(format!("unknown producer {p:?}; known: {PRODUCERS:?}"));
        }
    }
    let out_dir = kafka::workspace_root().join("target").join("bench");
    let logs = out_dir.join("logs");
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;

    eprintln!("==> building odradek (release)");
    let mut c = cargo();
    c.args([
        "build",
        "--release",
        "-p",
        "odradek-cli",
        "--bin",
        "odradek",
    ]);
    status(c)?;
    let odradek = kafka::workspace_root().join("target/release/odradek");
    ensure_tool("time", Path::new(TIME).is_file())?;
    if s.producers.iter().any(|p| p == "kcat") {
        ensure_tool("kcat", kafka::command_exists("kcat"))?;
    }
    crate::fetch_timed(Version::V4_1)?;
    let java_classes = if s.producers.iter().any(|p| p == "java") {
        Some(compile_java_tool(&out_dir)?)
    } else {
        None
    };

    // The broker: an existing one, or a fresh local node for this run.
    let mut cluster = None;
    let bootstrap = match o.get("--bootstrap") {
        Some(b) => b.to_owned(),
        None => {
            let mut opts = StartOptions::new(Version::V4_1, 1);
            opts.name = Some(format!("bench-{}", std::process::id()));
            let c = KafkaCluster::start_with(opts).map_err(|e| e.0)?;
            let b = c.bootstrap();
            cluster = Some(c);
            b
        }
    };
    eprintln!("==> broker {bootstrap}");

    // One set of values for every producer: PAYLOADS distinct JSON-like lines, which the Java
    // tool and odradek perf read with their payload file and kcat reads, repeated, from stdin.
    let payloads = out_dir.join(format!("payloads-{}.txt", s.record_size));
    write_payloads(&payloads, s.record_size)?;

    let result = run_cases(
        &s,
        cluster.as_ref(),
        &bootstrap,
        &odradek,
        java_classes.as_deref(),
        &payloads,
        &out_dir,
    );
    if let Some(mut c) = cluster.take() {
        c.stop().map_err(|e| e.0)?;
    }
    let samples = result?;

    for case in &s.cases {
        let tsv_path = out_dir.join(format!("rounds-{}.tsv", case.tag()));
        let tsv = rounds_tsv(&s.producers, samples.iter().filter(|x| x.case == *case));
        fs::write(&tsv_path, &tsv).map_err(|e| format!("{}: {e}", tsv_path.display()))?;
        let chart = out_dir.join(format!("chart-{}.png", case.tag()));
        let mut c = Command::new(&odradek);
        c.arg("bench-chart")
            .arg(&tsv_path)
            .arg(&chart)
            .arg("--title")
            .arg(format!(
                "{} partitions, {}; {} records of {} B, {}, acks=all, idempotent, {} rounds (mean, min-max)",
                case.partitions,
                keys_text(case.keys),
                s.records,
                s.record_size,
                s.compression,
                s.rounds
            ));
        status(c)?;
    }
    let report = report(&s, &samples);
    print!("{report}");
    let report_path = out_dir.join("report.md");
    fs::write(&report_path, &report).map_err(|e| format!("{}: {e}", report_path.display()))?;
    eprintln!(
        "==> wrote {}, rounds-*.tsv, chart-*.png and logs/ in {}",
        report_path.display(),
        out_dir.display()
    );
    Ok(())
}

/// Every case in turn: a fresh topic, kcat's input, the rounds, the topic deleted.
fn run_cases(
    s: &Settings,
    cluster: Option<&KafkaCluster>,
    bootstrap: &str,
    odradek: &Path,
    java_classes: Option<&Path>,
    payloads: &Path,
    out_dir: &Path,
) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for case in &s.cases {
        let topic = format!("bench-{}-{}", case.tag(), std::process::id());
        eprintln!(
            "==> case {}: topic {topic} of {} partitions, {}",
            case.tag(),
            case.partitions,
            keys_text(case.keys)
        );
        let t = Instant::now();
        match cluster {
            Some(c) => c
                .create_topic(&topic, case.partitions, 1, &[])
                .map_err(|e| e.0)?,
            None => topic_command(bootstrap, &topic, Some(case.partitions))?,
        }
        eprintln!("    topic ready in {:.1} s", t.elapsed().as_secs_f64());
        let input = out_dir.join(format!(
            "records-{}x{}-k{}.txt",
            s.records, s.record_size, case.keys
        ));
        if s.producers.iter().any(|p| p == "kcat") {
            write_input(&input, payloads, s.records, case.keys)?;
        }
        let run = Run {
            s,
            case: *case,
            topic: &topic,
            bootstrap,
            odradek,
            java_classes,
            payloads,
            input: &input,
            out_dir,
        };
        // The first producer on a fresh topic ran up to 17x slower than the same producer in
        // the next round (kcat, 1,000 partitions: 16 k against 279 k records/s), whichever it
        // was: the broker's first writes to each partition. One unmeasured run takes that.
        if s.warmup > 0 {
            let warm = Settings {
                records: s.warmup,
                ..s.clone()
            };
            let t = Instant::now();
            let w = Run { s: &warm, ..run }.one("odradek-tokio", 0)?;
            eprintln!(
                "    warm-up: {} records by odradek-tokio, {:.0} records/s, {:.1} s (not counted)",
                s.warmup,
                w.records_per_sec,
                t.elapsed().as_secs_f64()
            );
        }
        for round in 1..=s.rounds {
            // Rotate the order each round, so no producer always runs first or last.
            let n = s.producers.len();
            for i in 0..n {
                let producer = &s.producers[(i + round as usize - 1) % n];
                eprintln!("==> {} round {round}/{}: {producer}", case.tag(), s.rounds);
                let sample = run.one(producer, round)?;
                eprintln!(
                    "    {:.0} records/s, {:.2} µs CPU/record, {} MiB peak RSS, {:.1} s",
                    sample.records_per_sec,
                    sample.cpu_us_per_record,
                    sample.rss_kib / 1024,
                    sample.wall_secs
                );
                samples.push(sample);
            }
        }
        // Free the broker of this case's partitions before the next one.
        if let Err(e) = topic_command(bootstrap, &topic, None) {
            eprintln!("    (could not delete {topic}: {e})");
        }
    }
    Ok(samples)
}

/// Creates (`Some(partitions)`) or deletes a topic with Kafka's TopicCommand.
fn topic_command(bootstrap: &str, topic: &str, create: Option<i32>) -> Result<(), String> {
    let mut c = kafka::java_tool(Version::V4_1, "org.apache.kafka.tools.TopicCommand");
    c.args(["--bootstrap-server", bootstrap, "--topic", topic]);
    match create {
        Some(p) => c.args(["--create", "--partitions", &p.to_string()]),
        None => c.arg("--delete"),
    };
    let out = c
        .output()
        .map_err(|e| format!("TopicCommand: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "TopicCommand {topic} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Compiles `kafka/KeyedPerf.java` against the Kafka 4.1 jars into `target/bench/java`
/// (again only when the source changed); returns that folder.
fn compile_java_tool(out_dir: &Path) -> Result<PathBuf, String> {
    let src = kafka::workspace_root().join("kafka").join("KeyedPerf.java");
    let classes = out_dir.join("java");
    let copy = classes.join("KeyedPerf.java.built");
    let source = fs::read(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    if classes.join("KeyedPerf.class").is_file() && fs::read(&copy).ok() == Some(source.clone()) {
        return Ok(classes);
    }
    ensure_tool("default-jdk-headless", kafka::command_exists("javac"))?;
    eprintln!("==> javac kafka/KeyedPerf.java");
    let _ = fs::remove_dir_all(&classes);
    let mut c = Command::new("javac");
    c.arg("-nowarn")
        .arg("-cp")
        .arg(format!("{}/*", kafka::lib_dir(Version::V4_1).display()))
        .arg("-d")
        .arg(&classes)
        .arg(&src);
    status(c)?;
    fs::write(&copy, &source).map_err(|e| format!("{}: {e}", copy.display()))?;
    Ok(classes)
}

fn keys_text(keys: u64) -> String {
    if keys == 0 {
        "null keys".into()
    } else {
        format!("{keys} keys")
    }
}

fn ensure_tool(package: &str, present: bool) -> Result<(), String> {
    if present {
        return Ok(());
    }
    eprintln!("==> {package} is missing: apt-get update && apt-get install -y {package}");
    let mut c = Command::new("apt-get");
    c.arg("update").stdout(Stdio::null());
    status(c)?;
    let mut c = Command::new("apt-get");
    c.args(["install", "-y", "-q", package]);
    status(c)
}

/// Distinct values in the payload file.
const PAYLOADS: u64 = 10_000;

/// `PAYLOADS` lines of exactly `size` bytes: JSON-like events (an id, a user, an event name, a
/// timestamp, then words from a small vocabulary), so that compressed runs compress what a
/// real topic might hold, and every producer sends the same bytes.
fn write_payloads(path: &Path, size: usize) -> Result<(), String> {
    const WORDS: [&str; 16] = [
        "alpha", "beta", "order", "cart", "user", "session", "item", "price", "blue", "large",
        "shipping", "delta", "review", "stock", "north", "coupon",
    ];
    let e = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut w = std::io::BufWriter::new(fs::File::create(path).map_err(e)?);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..PAYLOADS {
        let mut line = format!(
            r#"{{"id":{i},"user":"u{:05}","event":"e{}","ts":{},"text":""#,
            next() % 50_000,
            next() % 8,
            1_700_000_000_000 + next() % 1_000_000
        );
        while line.len() < size {
            line.push_str(WORDS[(next() % 16) as usize]);
            line.push(' ');
        }
        line.truncate(size.saturating_sub(2));
        line.push_str(&r#""}"#[..size.min(2)]);
        line.push('\n');
        w.write_all(line.as_bytes()).map_err(e)?;
    }
    w.flush().map_err(e)
}

/// The key of the record numbered `n`, as `odradek perf --keys` (`key_of`) and
/// `kafka/KeyedPerf.java` build it: `n` in decimal, zero-padded to 8 digits.
fn key_of(n: u64) -> String {
    format!("{n:08}")
}

/// kcat's stdin: the payload file's lines in turn, `records` lines in all; with `keys` > 0,
/// each line `key:value` with record `i`'s key [`key_of`]`(i % keys)` (kcat runs with `-K :`,
/// which splits at the first `:`; keys are digits and never hold one).
fn write_input(path: &Path, payloads: &Path, records: u64, keys: u64) -> Result<(), String> {
    let lines = fs::read(payloads).map_err(|e| format!("{}: {e}", payloads.display()))?;
    let lines: Vec<&[u8]> = lines.split_inclusive(|&b| b == b'\n').collect();
    let e = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut w = std::io::BufWriter::new(fs::File::create(path).map_err(e)?);
    for i in 0..records {
        if keys > 0 {
            write!(w, "{}:", key_of(i % keys)).map_err(e)?;
        }
        w.write_all(lines[(i % lines.len() as u64) as usize])
            .map_err(e)?;
    }
    w.flush().map_err(e)
}

/// The settings every producer runs with, in the Java client's names.
fn settings_props(s: &Settings, bootstrap: &str) -> Vec<String> {
    vec![
        format!("bootstrap.servers={bootstrap}"),
        "acks=all".into(),
        "enable.idempotence=true".into(),
        "linger.ms=5".into(),
        "batch.size=16384".into(),
        format!("buffer.memory={BUFFER_MEMORY}"),
        format!("compression.type={}", s.compression),
    ]
}

/// What one case's runs share.
struct Run<'a> {
    s: &'a Settings,
    case: Case,
    topic: &'a str,
    bootstrap: &'a str,
    odradek: &'a Path,
    java_classes: Option<&'a Path>,
    payloads: &'a Path,
    input: &'a Path,
    out_dir: &'a Path,
}

impl Run<'_> {
    /// The producer's command, and its stdin.
    fn command(&self, producer: &str) -> Result<(Command, Stdio), String> {
        let (s, topic, bootstrap) = (self.s, self.topic, self.bootstrap);
        let n = s.records.to_string();
        let keys = self.case.keys.to_string();
        Ok(match producer {
            "kcat" => {
                let mut c = Command::new("kcat");
                c.args(["-P", "-b", bootstrap, "-t", topic]);
                if self.case.keys > 0 {
                    c.args(["-K", ":"]);
                }
                for x in [
                    "acks=all".to_owned(),
                    "enable.idempotence=true".to_owned(),
                    "linger.ms=5".to_owned(),
                    "batch.size=16384".to_owned(),
                    format!("queue.buffering.max.kbytes={}", BUFFER_MEMORY / 1024),
                    format!("compression.codec={}", s.compression),
                ] {
                    c.arg("-X").arg(x);
                }
                let input = fs::File::open(self.input)
                    .map_err(|e| format!("{}: {e}", self.input.display()))?;
                (c, Stdio::from(input))
            }
            "java" => {
                // The harness's tool command with our classes first on the class path, minus
                // its start-up flags (C1 only, serial GC), which would handicap a throughput run.
                let classes = self.java_classes.expect("compiled when java runs");
                let tool = kafka::java_tool(Version::V4_1, "KeyedPerf");
                let mut c = Command::new(tool.get_program());
                let mut classpath_next = false;
                for a in tool.get_args() {
                    if classpath_next {
                        let mut cp = classes.as_os_str().to_owned();
                        cp.push(":");
                        cp.push(a);
                        c.arg(cp);
                        classpath_next = false;
                        continue;
                    }
                    match a.to_str() {
                        Some("-XX:TieredStopAtLevel=1" | "-XX:+UseSerialGC") => {}
                        Some("-cp") => {
                            classpath_next = true;
                            c.arg(a);
                        }
                        _ => {
                            c.arg(a);
                        }
                    }
                }
                c.args([bootstrap, topic, &n, &keys])
                    .arg(self.payloads)
                    .args(settings_props(s, bootstrap));
                (c, Stdio::null())
            }
            odr => {
                let runtime = odr.strip_prefix("odradek-").expect("known producer");
                let mut c = Command::new(self.odradek);
                c.args([
                    "perf",
                    "--topic",
                    topic,
                    "--num-records",
                    &n,
                    "--keys",
                    &keys,
                ])
                .arg("--payload-file")
                .arg(self.payloads)
                .args(["--throughput", "-1", "--runtime", runtime])
                .args(["--reporting-interval", "1", "--stall-report", "5"])
                .arg("--producer-props")
                .args(settings_props(s, bootstrap));
                (c, Stdio::null())
            }
        })
    }

    /// Runs `producer` once under GNU time; its output goes to `logs/<case>-<producer>-r<round>.log`.
    fn one(&self, producer: &str, round: u32) -> Result<Sample, String> {
        let (inner, stdin) = self.command(producer)?;
        let time_file = self.out_dir.join("time.txt");
        let mut c = Command::new(TIME);
        c.arg("-f")
            .arg("%e %U %S %M")
            .arg("-o")
            .arg(&time_file)
            .arg(inner.get_program())
            .args(inner.get_args())
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let t = Instant::now();
        let out = c
            .output()
            .map_err(|e| format!("{producer}: cannot start: {e}"))?;
        let wall = t.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let log = self
            .out_dir
            .join("logs")
            .join(format!("{}-{producer}-r{round}.log", self.case.tag()));
        let _ = fs::write(
            &log,
            format!("$ {c:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"),
        );
        if !out.status.success() {
            return Err(format!(
                "{producer} failed ({}), see {}:\n{stdout}\n{stderr}",
                out.status,
                log.display()
            ));
        }
        let times =
            fs::read_to_string(&time_file).map_err(|e| format!("{}: {e}", time_file.display()))?;
        let (user, sys, rss_kib) =
            parse_time(&times).ok_or_else(|| format!("bad time output {times:?}"))?;
        let records = self.s.records;
        let records_per_sec = match producer {
            // kcat reports nothing: count its whole process (start-up included, which is tiny).
            "kcat" => records as f64 / wall,
            _ => parse_records_per_sec(&stdout)
                .ok_or_else(|| format!("{producer}: no final line in {stdout:?}"))?,
        };
        Ok(Sample {
            case: self.case,
            producer: producer.to_owned(),
            round,
            records_per_sec,
            cpu_us_per_record: (user + sys) * 1e6 / records as f64,
            rss_kib,
            wall_secs: wall,
        })
    }
}

/// `%e %U %S %M` (the last line: GNU time puts a "Command exited with..." line before it on
/// failure) → (user s, sys s, max RSS KiB).
fn parse_time(text: &str) -> Option<(f64, f64, u64)> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let f: Vec<&str> = line.split_whitespace().collect();
    match f.as_slice() {
        [_, user, sys, rss] => Some((user.parse().ok()?, sys.parse().ok()?, rss.parse().ok()?)),
        _ => None,
    }
}

/// The records/sec figure of ProducerPerformance's (and `odradek perf`'s, and KeyedPerf's)
/// final line: `N records sent, X records/sec (Y MB/sec), ... 99.9th.`
fn parse_records_per_sec(stdout: &str) -> Option<f64> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records/sec") && l.contains("99.9th"))?;
    let before = line.split(" records/sec").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

/// One case's rounds file, for `odradek bench-chart` (which reads the first five columns).
fn rounds_tsv<'a>(producers: &[String], samples: impl Iterator<Item = &'a Sample>) -> String {
    let samples: Vec<&Sample> = samples.collect();
    let mut tsv =
        String::from("producer\tround\trecords_per_sec\tcpu_us_per_record\trss_kib\twall_s\n");
    for p in producers {
        for x in samples.iter().filter(|x| &x.producer == p) {
            let _ = writeln!(
                tsv,
                "{}\t{}\t{:.1}\t{:.4}\t{}\t{:.2}",
                x.producer, x.round, x.records_per_sec, x.cpu_us_per_record, x.rss_kib, x.wall_secs
            );
        }
    }
    tsv
}

/// (min, mean, max).
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, v.iter().sum::<f64>() / v.len() as f64, max)
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn is_odradek(producer: &str) -> bool {
    producer.starts_with("odradek-")
}

/// The stall detector of issue 22 ("no run slower than half the median of its case"): the
/// odradek runs of one case whose records/s is under half the median of that case's odradek
/// runs (the goal is set for odradek's runtimes; kcat and Java are the yardsticks).
fn slow_runs<'a>(case: &[&'a Sample]) -> Vec<&'a Sample> {
    let rps: Vec<f64> = case
        .iter()
        .filter(|x| is_odradek(&x.producer))
        .map(|x| x.records_per_sec)
        .collect();
    let Some(m) = median(&rps) else {
        return Vec::new();
    };
    case.iter()
        .copied()
        .filter(|x| is_odradek(&x.producer) && x.records_per_sec < m / 2.0)
        .collect()
}

fn report(s: &Settings, samples: &[Sample]) -> String {
    let budget_mib = (BUFFER_MEMORY + RSS_SLACK) / (1024 * 1024);
    let mut r = String::new();
    let _ = writeln!(
        r,
        "{} records of {} B, compression {}, every producer with acks=all, enable.idempotence=true, \
         linger.ms=5, batch.size=16384 and buffer.memory={} (kcat: queue.buffering.max.kbytes={}, \
         queue.buffering.max.messages left at 100000); each record's value (and key) freshly \
         allocated; one local Kafka 4.1 node, a fresh topic per case, warmed up by {} unmeasured \
         records (odradek-tokio); {} rounds, producers alternating. Mean (min–max) over the rounds; ratios are to kcat's mean; RSS is the \
         largest peak, checked against buffer.memory + 16 MiB = {budget_mib} MiB. Goal: issue 22's \
         ratio for the odradek runtimes (✓ met, ✗ not). Slow: a run under half the median \
         records/s of the case's odradek runs.\n",
        s.records,
        s.record_size,
        s.compression,
        BUFFER_MEMORY,
        BUFFER_MEMORY / 1024,
        s.warmup,
        s.rounds
    );
    for case in &s.cases {
        let runs: Vec<&Sample> = samples.iter().filter(|x| x.case == *case).collect();
        r.push_str(&case_table(s, *case, &runs));
        r.push('\n');
    }
    r
}

fn case_table(s: &Settings, case: Case, runs: &[&Sample]) -> String {
    let of = |p: &str, f: fn(&Sample) -> f64| -> Vec<f64> {
        runs.iter()
            .filter(|x| x.producer == p)
            .map(|x| f(x))
            .collect()
    };
    let kcat_rps = stats(&of("kcat", |x| x.records_per_sec)).1;
    let kcat_cpu = stats(&of("kcat", |x| x.cpu_us_per_record)).1;
    let kcat_rss = stats(&of("kcat", |x| x.rss_kib as f64)).2;
    let known = |base: f64| base.is_finite() && base > 0.0;
    let ratio = |v: f64, base: f64| {
        if known(base) {
            format!("{:.2}×", v / base)
        } else {
            "–".into()
        }
    };
    // "≤ 0.50× ✓": the goal and whether the mean meets it.
    let goal = |v: f64, base: f64, limit: Option<f64>, at_most: bool| match limit {
        Some(l) if known(base) => {
            let met = if at_most {
                v / base <= l
            } else {
                v / base >= l
            };
            let sign = if at_most { "≤" } else { "≥" };
            format!("{sign} {l:.2}× {}", if met { "✓" } else { "✗" })
        }
        Some(l) => format!("{} {l:.2}×", if at_most { "≤" } else { "≥" }),
        None => "–".into(),
    };
    let slow = slow_runs(runs);
    let budget_kib = (BUFFER_MEMORY + RSS_SLACK) / 1024;
    let mut r = String::new();
    let _ = writeln!(
        r,
        "### {} partitions, {}\n",
        case.partitions,
        keys_text(case.keys)
    );
    if case.goal().is_none() {
        let _ = writeln!(r, "(issue 22 sets no goal for this case)\n");
    }
    let _ = writeln!(
        r,
        "| producer | records/s | ×kcat | goal | CPU µs/record | ×kcat | goal | peak RSS MiB | ×kcat | ≤ {} MiB | slow runs |",
        budget_kib / 1024
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &s.producers {
        let rps = stats(&of(p, |x| x.records_per_sec));
        let cpu = stats(&of(p, |x| x.cpu_us_per_record));
        let rss = stats(&of(p, |x| x.rss_kib as f64));
        if !rps.1.is_finite() {
            continue;
        }
        let g = case.goal().filter(|_| is_odradek(p));
        let over = runs
            .iter()
            .filter(|x| &x.producer == p && x.rss_kib > budget_kib)
            .count();
        let rss_check = if over == 0 {
            "pass".to_owned()
        } else {
            format!("FAIL ({over} of {})", of(p, |x| x.rss_kib as f64).len())
        };
        let slow: Vec<String> = slow
            .iter()
            .filter(|x| &x.producer == p)
            .map(|x| {
                format!(
                    "round {}: {:.0}k/s in {:.0} s",
                    x.round,
                    x.records_per_sec / 1e3,
                    x.wall_secs
                )
            })
            .collect();
        let slow = match (is_odradek(p), slow.is_empty()) {
            (false, _) => "–".to_owned(),
            (true, true) => "none".to_owned(),
            (true, false) => format!("**{}**", slow.join("; ")),
        };
        let _ = writeln!(
            r,
            "| {p} | {:.0}k ({:.0}k–{:.0}k) | {} | {} | {:.2} ({:.2}–{:.2}) | {} | {} | {:.0} | {} | {rss_check} | {slow} |",
            rps.1 / 1e3,
            rps.0 / 1e3,
            rps.2 / 1e3,
            ratio(rps.1, kcat_rps),
            goal(rps.1, kcat_rps, g.map(|g| g.1), false),
            cpu.1,
            cpu.0,
            cpu.2,
            ratio(cpu.1, kcat_cpu),
            goal(cpu.1, kcat_cpu, g.map(|g| g.0), true),
            rss.2 / 1024.0,
            ratio(rss.2, kcat_rss),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_producer_gets_the_same_distinct_values_of_the_size_asked() {
        let dir = std::env::temp_dir().join(format!("odradek-bench-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (payloads, input) = (dir.join("p.txt"), dir.join("in.txt"));
        for size in [1, 100, 1024] {
            write_payloads(&payloads, size).unwrap();
            let text = fs::read_to_string(&payloads).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len() as u64, PAYLOADS);
            assert!(lines.iter().all(|l| l.len() == size), "size {size}");
            if size >= 100 {
                let distinct: std::collections::HashSet<_> = lines.iter().collect();
                assert_eq!(distinct.len(), lines.len());
            }
            write_input(&input, &payloads, PAYLOADS + 3, 0).unwrap();
            let kcat = fs::read_to_string(&input).unwrap();
            let kcat: Vec<&str> = kcat.lines().collect();
            assert_eq!(kcat.len() as u64, PAYLOADS + 3);
            assert_eq!(&kcat[..PAYLOADS as usize], &lines[..]);
            assert_eq!(&kcat[PAYLOADS as usize..], &lines[..3]);
            // Keyed: `key:value`, key i % keys, the values as without keys.
            write_input(&input, &payloads, PAYLOADS + 3, 7).unwrap();
            let keyed = fs::read_to_string(&input).unwrap();
            for (i, line) in keyed.lines().enumerate() {
                let (k, v) = line.split_once(':').unwrap();
                assert_eq!(k, key_of(i as u64 % 7));
                assert_eq!(v, kcat[i]);
            }
            assert_eq!(keyed.lines().count(), kcat.len());
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_match_odradek_perf_and_the_java_tool() {
        // The same spelling as `odradek perf`'s key_of and KeyedPerf.key (8 digits, padded).
        assert_eq!(key_of(0), "00000000");
        assert_eq!(key_of(99_999), "00099999");
        assert_eq!(key_of(123_456_789), "123456789");
        let java =
            fs::read_to_string(kafka::workspace_root().join("kafka/KeyedPerf.java")).unwrap();
        assert!(java.contains("Math.max(8, digits.length())"));
    }

    #[test]
    fn cases_from_partition_and_key_lists() {
        let c = |p, k| Case {
            partitions: p,
            keys: k,
        };
        assert_eq!(parse_cases("6", "0").unwrap(), [c(6, 0)]);
        assert_eq!(
            parse_cases("6,1000,5000", "0,100000,100000").unwrap(),
            [c(6, 0), c(1000, 100_000), c(5000, 100_000)]
        );
        assert_eq!(
            parse_cases("6, 1000", "50").unwrap(),
            [c(6, 50), c(1000, 50)]
        );
        assert!(parse_cases("6,1000", "0,1,2")
            .unwrap_err()
            .contains("one per case"));
        assert!(parse_cases("6,x", "0")
            .unwrap_err()
            .contains("--partitions"));
        assert!(parse_cases("0", "0").is_err());
        assert!(parse_cases("6", "-1").is_err());
        assert_eq!(c(6, 0).goal(), Some((0.5, 1.3)));
        assert_eq!(c(5000, 100_000).goal(), Some((0.12, 5.0)));
        assert_eq!(c(6, 100).goal(), None);
        assert_eq!(c(1000, 100_000).tag(), "p1000-k100000");
    }

    fn sample(case: Case, producer: &str, round: u32, rps: f64, cpu: f64, rss_mib: u64) -> Sample {
        Sample {
            case,
            producer: producer.into(),
            round,
            records_per_sec: rps,
            cpu_us_per_record: cpu,
            rss_kib: rss_mib * 1024,
            wall_secs: 1e6 / rps,
        }
    }

    #[test]
    fn slow_runs_are_under_half_the_median_of_odradek_runs() {
        let case = Case {
            partitions: 5000,
            keys: 100_000,
        };
        let runs = [
            sample(case, "kcat", 1, 10_000.0, 11.0, 300),
            sample(case, "odradek-tokio", 1, 180_000.0, 4.6, 200),
            sample(case, "odradek-tokio", 2, 170_000.0, 4.6, 200),
            sample(case, "odradek-mio", 1, 190_000.0, 4.6, 200),
            sample(case, "odradek-mio", 2, 7_800.0, 6.0, 200),
        ];
        let refs: Vec<&Sample> = runs.iter().collect();
        let slow = slow_runs(&refs);
        // Median of the odradek runs: 175k; kcat is never flagged.
        assert_eq!(slow.len(), 1);
        assert_eq!(
            (slow[0].producer.as_str(), slow[0].round),
            ("odradek-mio", 2)
        );
        assert!(slow_runs(&refs[..1]).is_empty());
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn report_has_goals_rss_checks_and_slow_runs_per_case() {
        let six = Case {
            partitions: 6,
            keys: 0,
        };
        let many = Case {
            partitions: 5000,
            keys: 100_000,
        };
        let s = Settings {
            records: 1_000_000,
            warmup: 1000,
            rounds: 2,
            compression: "none".into(),
            record_size: 100,
            producers: vec!["kcat".into(), "odradek-tokio".into(), "odradek-mio".into()],
            cases: vec![six, many],
        };
        let samples = [
            sample(six, "kcat", 1, 1_000_000.0, 1.0, 100),
            sample(six, "odradek-tokio", 1, 1_400_000.0, 0.4, 30),
            sample(six, "odradek-tokio", 2, 1_200_000.0, 0.6, 50),
            sample(six, "odradek-mio", 1, 1_300_000.0, 0.5, 40),
            sample(many, "kcat", 1, 100_000.0, 10.0, 300),
            sample(many, "odradek-tokio", 1, 180_000.0, 4.0, 200),
            sample(many, "odradek-mio", 1, 190_000.0, 4.5, 210),
            sample(many, "odradek-mio", 2, 8_000.0, 6.0, 220),
        ];
        let r = report(&s, &samples);
        assert!(r.contains("enable.idempotence=true"), "{r}");
        assert!(r.contains("buffer.memory=33554432"), "{r}");
        let six_table =
            &r[r.find("### 6 partitions, null keys").unwrap()..r.find("### 5000").unwrap()];
        // tokio at 6: 1.30× records/s (goal ≥ 1.30 met), CPU 0.50× (≤ 0.50 met), one run
        // over 48 MiB.
        let tokio = six_table
            .lines()
            .find(|l| l.starts_with("| odradek-tokio"))
            .unwrap();
        assert!(
            tokio.contains("| 1300k (1200k–1400k) | 1.30× | ≥ 1.30× ✓ |"),
            "{tokio}"
        );
        assert!(
            tokio.contains("| 0.50 (0.40–0.60) | 0.50× | ≤ 0.50× ✓ |"),
            "{tokio}"
        );
        assert!(tokio.contains("| FAIL (1 of 2) | none |"), "{tokio}");
        let kcat = six_table.lines().find(|l| l.starts_with("| kcat")).unwrap();
        assert!(kcat.contains("| 1.00× | – |"), "{kcat}");
        assert!(kcat.contains("| FAIL (1 of 1) | – |"), "{kcat}");
        let many_table = &r[r.find("### 5000 partitions, 100000 keys").unwrap()..];
        let mio = many_table
            .lines()
            .find(|l| l.starts_with("| odradek-mio"))
            .unwrap();
        // 99k records/s mean: 0.99× kcat, short of ≥ 5×; CPU 0.53×, over ≤ 0.12×.
        assert!(mio.contains("| 0.99× | ≥ 5.00× ✗ |"), "{mio}");
        assert!(mio.contains("| 0.53× | ≤ 0.12× ✗ |"), "{mio}");
        assert!(mio.contains("**round 2: 8k/s in 125 s**"), "{mio}");
        let tsv = rounds_tsv(&s.producers, samples.iter().filter(|x| x.case == many));
        assert_eq!(tsv.lines().count(), 5);
        assert_eq!(
            tsv.lines().nth(3).unwrap(),
            "odradek-mio\t1\t190000.0\t4.5000\t215040\t5.26"
        );
    }

    #[test]
    fn parses_time_and_final_lines() {
        assert_eq!(
            parse_time("3.20 1.50 0.25 51200\n"),
            Some((1.5, 0.25, 51200))
        );
        assert_eq!(
            parse_time("Command exited with non-zero status 1\n3.20 1.50 0.25 51200\n"),
            Some((1.5, 0.25, 51200))
        );
        assert_eq!(parse_time("garbage"), None);
        let java = "500000 records sent, 100000.0 records/sec (9.54 MB/sec), 1.0 ms avg latency, 10.0 ms max latency.\n\
            1000000 records sent, 170184.315174 records/sec (16.23 MB/sec), 96.01 ms avg latency, 420.00 ms max latency, 80 ms 50th, 250 ms 95th, 380 ms 99th, 410 ms 99.9th.\n";
        assert_eq!(parse_records_per_sec(java), Some(170184.315174));
        assert_eq!(parse_records_per_sec("nothing"), None);
    }
}
