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

mod report;
mod run;
mod setup;
#[cfg(test)]
mod tests;

use report::*;
use run::*;
use setup::*;

pub(super) const PRODUCERS: [&str; 5] = [
    "kcat",
    "java",
    "odradek-tokio",
    "odradek-async-std",
    "odradek-mio",
];
pub(super) const TIME: &str = "/usr/bin/time";
/// The name of a producer's transactional run: `odradek-tokio+txn`.
const TXN_SUFFIX: &str = "+txn";
/// Every producer's `buffer.memory` (librdkafka's `queue.buffering.max.kbytes`).
pub(super) const BUFFER_MEMORY: u64 = 32 * 1024 * 1024;
/// What issue 22 allows a producer to hold beyond `buffer.memory`.
pub(super) const RSS_SLACK: u64 = 16 * 1024 * 1024;

/// One case: a topic of `partitions` partitions, `keys` distinct keys (0: null keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Case {
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
pub(super) fn parse_cases(partitions: &str, keys: &str) -> Result<Vec<Case>, String> {
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
pub(super) struct Settings {
    records: u64,
    /// Records of the unmeasured odradek-tokio run on each fresh topic before the rounds.
    warmup: u64,
    rounds: u32,
    compression: String,
    record_size: usize,
    producers: Vec<String>,
    cases: Vec<Case>,
    /// `--transactional`: records per transaction of the `+txn` producers.
    txn_records: Option<u64>,
}

/// One producer process in one round of one case.
#[derive(Debug, Clone)]
pub(super) struct Sample {
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
            "--txn-records",
        ],
        &["--transactional"],
    )?;
    let transactional = o.switches.contains(&"--transactional");
    let mut s = Settings {
        records: o.num("--records", 1_000_000)?,
        warmup: o.num("--warmup", 200_000)?,
        txn_records: if transactional {
            Some(o.num("--txn-records", 1000)?.max(1))
        } else {
            None
        },
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
    if s.txn_records.is_some() {
        // Beside each idempotent producer, the same in transactions (kcat has none).
        let txn: Vec<String> = s
            .producers
            .iter()
            .filter(|p| *p != "kcat")
            .map(|p| format!("{p}{TXN_SUFFIX}"))
            .collect();
        s.producers.extend(txn);
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
pub(super) fn run_cases(
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
