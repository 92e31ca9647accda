//! `cargo xtask bench`: odradek perf on each runtime against Kafka's Java ProducerPerformance
//! and `kcat -P`, same broker, same settings, alternating over rounds; each producer process's
//! CPU (user + sys) and peak RSS from GNU time. Writes `target/bench/report.md`,
//! `target/bench/rounds.tsv` and `target/bench/chart.png` (drawn by `odradek bench-chart`).

use crate::kafka::{self, KafkaCluster, StartOptions, Version};
use crate::{cargo, status, Opts};
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::Path;
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
const TOPIC: &str = "bench";

struct Settings {
    records: u64,
    rounds: u32,
    compression: String,
    record_size: usize,
    producers: Vec<String>,
}

/// One producer process in one round.
struct Sample {
    producer: String,
    round: u32,
    records_per_sec: f64,
    cpu_us_per_record: f64,
    rss_kib: u64,
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
        ],
        &[],
    )?;
    let s = Settings {
        records: o.num("--records", 1_000_000)?,
        rounds: o.num("--rounds", 3)?,
        compression: o.get("--compression").unwrap_or("none").to_owned(),
        record_size: o.num("--record-size", 100)?,
        producers: o
            .get("--producers")
            .map_or(PRODUCERS.iter().map(|p| p.to_string()).collect(), |l| {
                l.split(',').map(|p| p.trim().to_owned()).collect()
            }),
    };
    if s.records == 0 || s.rounds == 0 {
        return Err("--records and --rounds must be at least 1".into());
    }
    for p in &s.producers {
        if !PRODUCERS.contains(&p.as_str()) {
            return Err(format!("unknown producer {p:?}; known: {PRODUCERS:?}"));
        }
    }
    let out_dir = kafka::workspace_root().join("target").join("bench");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;

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

    // The broker: an existing one, or a fresh local node for this run.
    let mut cluster = None;
    let bootstrap = match o.get("--bootstrap") {
        Some(b) => b.to_owned(),
        None => {
            crate::fetch_timed(Version::V4_1)?;
            let mut opts = StartOptions::new(Version::V4_1, 1);
            opts.name = Some(format!("bench-{}", std::process::id()));
            let c = KafkaCluster::start_with(opts).map_err(|e| e.0)?;
            c.create_topic(TOPIC, 6, 1, &[]).map_err(|e| e.0)?;
            let b = c.bootstrap();
            cluster = Some(c);
            b
        }
    };
    eprintln!("==> broker {bootstrap}, topic {TOPIC}");

    // One set of values for every producer: PAYLOADS distinct JSON-like lines, which the Java
    // tool and odradek perf read with --payload-file and kcat reads, repeated, from stdin.
    let payloads = out_dir.join(format!("payloads-{}.txt", s.record_size));
    write_payloads(&payloads, s.record_size)?;
    let input = out_dir.join(format!("records-{}x{}.txt", s.records, s.record_size));
    if s.producers.iter().any(|p| p == "kcat") {
        write_input(&input, &payloads, s.records)?;
    }

    let mut samples = Vec::new();
    for round in 1..=s.rounds {
        // Rotate the order each round, so no producer always runs first or last.
        let n = s.producers.len();
        for i in 0..n {
            let producer = &s.producers[(i + round as usize - 1) % n];
            eprintln!("==> round {round}/{}: {producer}", s.rounds);
            let sample = run_one(
                producer,
                round,
                &s,
                &bootstrap,
                &odradek,
                (&payloads, &input),
                &out_dir,
            )?;
            eprintln!(
                "    {:.0} records/s, {:.2} µs CPU/record, {} MiB peak RSS",
                sample.records_per_sec,
                sample.cpu_us_per_record,
                sample.rss_kib / 1024
            );
            samples.push(sample);
        }
    }
    if let Some(mut c) = cluster.take() {
        c.stop().map_err(|e| e.0)?;
    }

    let mut tsv = String::from("producer\tround\trecords_per_sec\tcpu_us_per_record\trss_kib\n");
    for p in &s.producers {
        for x in samples.iter().filter(|x| &x.producer == p) {
            let _ = writeln!(
                tsv,
                "{}\t{}\t{:.1}\t{:.4}\t{}",
                x.producer, x.round, x.records_per_sec, x.cpu_us_per_record, x.rss_kib
            );
        }
    }
    let tsv_path = out_dir.join("rounds.tsv");
    fs::write(&tsv_path, &tsv).map_err(|e| format!("{}: {e}", tsv_path.display()))?;
    let report = report(&s, &samples);
    print!("{report}");
    let report_path = out_dir.join("report.md");
    fs::write(&report_path, &report).map_err(|e| format!("{}: {e}", report_path.display()))?;
    let chart = out_dir.join("chart.png");
    let mut c = Command::new(&odradek);
    c.arg("bench-chart")
        .arg(&tsv_path)
        .arg(&chart)
        .arg("--title")
        .arg(format!(
            "{} records of {} B, {}, acks=all, linger 5 ms, batch 16384, {} rounds (mean, min-max)",
            s.records, s.record_size, s.compression, s.rounds
        ));
    status(c)?;
    eprintln!(
        "==> wrote {}, {} and {}",
        report_path.display(),
        tsv_path.display(),
        chart.display()
    );
    Ok(())
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

/// kcat's stdin: the payload file's lines in turn, `records` lines in all.
fn write_input(path: &Path, payloads: &Path, records: u64) -> Result<(), String> {
    let lines = fs::read(payloads).map_err(|e| format!("{}: {e}", payloads.display()))?;
    let lines: Vec<&[u8]> = lines.split_inclusive(|&b| b == b'\n').collect();
    let e = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut w = std::io::BufWriter::new(fs::File::create(path).map_err(e)?);
    for i in 0..records {
        w.write_all(lines[(i % lines.len() as u64) as usize])
            .map_err(e)?;
    }
    w.flush().map_err(e)
}

fn settings_props(s: &Settings, bootstrap: &str) -> Vec<String> {
    vec![
        format!("bootstrap.servers={bootstrap}"),
        "acks=all".into(),
        "linger.ms=5".into(),
        "batch.size=16384".into(),
        format!("compression.type={}", s.compression),
    ]
}

fn run_one(
    producer: &str,
    round: u32,
    s: &Settings,
    bootstrap: &str,
    odradek: &Path,
    (payloads, input): (&Path, &Path),
    out_dir: &Path,
) -> Result<Sample, String> {
    let n = s.records.to_string();
    let mut stdin = Stdio::null();
    let inner = match producer {
        "kcat" => {
            let mut c = Command::new("kcat");
            c.args(["-P", "-b", bootstrap, "-t", TOPIC])
                .args([
                    "-X",
                    "acks=all",
                    "-X",
                    "linger.ms=5",
                    "-X",
                    "batch.size=16384",
                ])
                .args(["-X", &format!("compression.codec={}", s.compression)]);
            stdin = Stdio::from(fs::File::open(input).map_err(|e| e.to_string())?);
            c
        }
        "java" => {
            // The harness's tool command, minus its start-up flags (C1 only, serial GC), which
            // would handicap a throughput run.
            let tool =
                kafka::java_tool(Version::V4_1, "org.apache.kafka.tools.ProducerPerformance");
            let mut c = Command::new(tool.get_program());
            c.args(tool.get_args().filter(|a| {
                !matches!(
                    a.to_str(),
                    Some("-XX:TieredStopAtLevel=1" | "-XX:+UseSerialGC")
                )
            }));
            c.args(["--topic", TOPIC, "--num-records", &n, "--payload-file"])
                .arg(payloads)
                .args(["--throughput", "-1", "--producer-props"])
                .args(settings_props(s, bootstrap));
            c
        }
        odr => {
            let runtime = odr.strip_prefix("odradek-").expect("known producer");
            let mut c = Command::new(odradek);
            c.args([
                "perf",
                "--topic",
                TOPIC,
                "--num-records",
                &n,
                "--payload-file",
            ])
            .arg(payloads)
            .args([
                "--throughput",
                "-1",
                "--runtime",
                runtime,
                "--producer-props",
            ])
            .args(settings_props(s, bootstrap));
            c
        }
    };
    let time_file = out_dir.join("time.txt");
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
    if !out.status.success() {
        return Err(format!(
            "{producer} failed ({}):\n{stdout}\n{stderr}",
            out.status
        ));
    }
    let times =
        fs::read_to_string(&time_file).map_err(|e| format!("{}: {e}", time_file.display()))?;
    let (user, sys, rss_kib) =
        parse_time(&times).ok_or_else(|| format!("bad time output {times:?}"))?;
    let records_per_sec = match producer {
        // kcat reports nothing: count its whole process (start-up included, which is tiny).
        "kcat" => s.records as f64 / wall,
        _ => parse_records_per_sec(&stdout)
            .ok_or_else(|| format!("{producer}: no final line in {stdout:?}"))?,
    };
    Ok(Sample {
        producer: producer.to_owned(),
        round,
        records_per_sec,
        cpu_us_per_record: (user + sys) * 1e6 / s.records as f64,
        rss_kib,
    })
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

/// The records/sec figure of ProducerPerformance's (and `odradek perf`'s) final line:
/// `N records sent, X records/sec (Y MB/sec), ... 99.9th.`
fn parse_records_per_sec(stdout: &str) -> Option<f64> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records/sec") && l.contains("99.9th"))?;
    let before = line.split(" records/sec").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, v.iter().sum::<f64>() / v.len() as f64, max)
}

fn report(s: &Settings, samples: &[Sample]) -> String {
    let of = |p: &str, f: fn(&Sample) -> f64| -> Vec<f64> {
        samples.iter().filter(|x| x.producer == p).map(f).collect()
    };
    let kcat_rps = stats(&of("kcat", |x| x.records_per_sec)).1;
    let kcat_cpu = stats(&of("kcat", |x| x.cpu_us_per_record)).1;
    let kcat_rss = stats(&of("kcat", |x| x.rss_kib as f64)).2;
    let ratio = |v: f64, base: f64| {
        if base.is_finite() && base > 0.0 {
            format!("{:.2}×", v / base)
        } else {
            "–".into()
        }
    };
    let mut r = String::new();
    let _ = writeln!(
        r,
        "{} records of {} B (null keys), compression {}, acks=all, linger.ms=5, batch.size=16384, \
         topic of 6 partitions on one local Kafka 4.1 node; {} rounds, producers alternating. \
         Mean (min–max) over the rounds; ratios are to kcat's mean; RSS is the largest peak.\n",
        s.records, s.record_size, s.compression, s.rounds
    );
    let _ = writeln!(
        r,
        "| producer | records/s | ×kcat | CPU µs/record | ×kcat | peak RSS MiB | ×kcat |"
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|---|");
    for p in &s.producers {
        let rps = stats(&of(p, |x| x.records_per_sec));
        let cpu = stats(&of(p, |x| x.cpu_us_per_record));
        let rss = stats(&of(p, |x| x.rss_kib as f64));
        let _ = writeln!(
            r,
            "| {p} | {:.0}k ({:.0}k–{:.0}k) | {} | {:.2} ({:.2}–{:.2}) | {} | {:.0} | {} |",
            rps.1 / 1e3,
            rps.0 / 1e3,
            rps.2 / 1e3,
            ratio(rps.1, kcat_rps),
            cpu.1,
            cpu.0,
            cpu.2,
            ratio(cpu.1, kcat_cpu),
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
            write_input(&input, &payloads, PAYLOADS + 3).unwrap();
            let kcat = fs::read_to_string(&input).unwrap();
            let kcat: Vec<&str> = kcat.lines().collect();
            assert_eq!(kcat.len() as u64, PAYLOADS + 3);
            assert_eq!(&kcat[..PAYLOADS as usize], &lines[..]);
            assert_eq!(&kcat[PAYLOADS as usize..], &lines[..3]);
        }
        fs::remove_dir_all(&dir).unwrap();
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
