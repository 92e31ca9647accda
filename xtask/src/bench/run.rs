//! One producer process under GNU time: its command (kcat, the Java tool, `odradek perf`)
//! and the figures read from its output.

use super::*;

/// The settings every producer runs with, in the Java client's names.
pub(super) fn settings_props(s: &Settings, bootstrap: &str) -> Vec<String> {
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
pub(super) struct Run<'a> {
    pub(super) s: &'a Settings,
    pub(super) case: Case,
    pub(super) topic: &'a str,
    pub(super) bootstrap: &'a str,
    pub(super) odradek: &'a Path,
    pub(super) java_classes: Option<&'a Path>,
    pub(super) payloads: &'a Path,
    pub(super) input: &'a Path,
    pub(super) out_dir: &'a Path,
}

impl Run<'_> {
    /// The producer's command, and its stdin.
    pub(super) fn command(&self, producer: &str) -> Result<(Command, Stdio), String> {
        let (s, topic, bootstrap) = (self.s, self.topic, self.bootstrap);
        let n = s.records.to_string();
        let keys = self.case.keys.to_string();
        // `<producer>+txn`: the same producer in transactions of `--txn-records`.
        let (producer, txn) = match producer.strip_suffix(TXN_SUFFIX) {
            Some(base) => (base, s.txn_records),
            None => (producer, None),
        };
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
                if let Some(t) = txn {
                    c.arg(format!("transaction.records={t}"));
                }
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
                .args(["--reporting-interval", "1", "--stall-report", "5"]);
                if let Some(t) = txn {
                    c.args(["--transaction-records", &t.to_string()]);
                }
                c.arg("--producer-props").args(settings_props(s, bootstrap));
                (c, Stdio::null())
            }
        })
    }

    /// Runs `producer` once under GNU time; its output goes to `logs/<case>-<producer>-r<round>.log`.
    pub(super) fn one(&self, producer: &str, round: u32) -> Result<Sample, String> {
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
pub(super) fn parse_time(text: &str) -> Option<(f64, f64, u64)> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let f: Vec<&str> = line.split_whitespace().collect();
    match f.as_slice() {
        [_, user, sys, rss] => Some((user.parse().ok()?, sys.parse().ok()?, rss.parse().ok()?)),
        _ => None,
    }
}

/// The records/sec figure of ProducerPerformance's (and `odradek perf`'s, and KeyedPerf's)
/// final line: `N records sent, X records/sec (Y MB/sec), ... 99.9th.`
pub(super) fn parse_records_per_sec(stdout: &str) -> Option<f64> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records/sec") && l.contains("99.9th"))?;
    let before = line.split(" records/sec").next()?;
    before.rsplit(' ').next()?.parse().ok()
}
