//! Records back from Kafka through its own Java client: `kafka/RecordTool.java` (binary-safe,
//! for tests) and ConsoleConsumer (for humans), and the reference producer.

use crate::cluster::KafkaCluster;
use crate::fetch::{command_exists, fnv1a, java_tool, java_tool_cp, run};
use crate::{err, io_ctx, lib_dir, workspace_root, Error, Result, Version};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

impl KafkaCluster {
    /// Reads every record of `topic` from the beginning with Kafka's Java consumer (see
    /// `kafka/RecordTool.java`), waiting (up to 60 s) until at least `expected` records
    /// arrived and the end of every partition is reached. Records come ordered by partition,
    /// then offset. Returns fewer than `expected` only if the wait timed out.
    pub fn consume_all(&self, topic: &str, expected: usize) -> Result<Vec<ConsumedRecord>> {
        self.consume_all_timeout(topic, expected, Duration::from_secs(60))
    }

    /// [`consume_all`](Self::consume_all) with an explicit timeout.
    pub fn consume_all_timeout(
        &self,
        topic: &str,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<ConsumedRecord>> {
        let mut all = self.consume_topics(&[topic], expected, timeout)?;
        Ok(all.remove(topic).unwrap_or_default())
    }

    /// Reads several topics in one consumer (one JVM), waiting until at least
    /// `expected_total` records arrived in all and every partition's end is reached. Each
    /// topic's records come ordered by partition, then offset; every topic asked for has an
    /// entry, empty if it has no records.
    pub fn consume_topics(
        &self,
        topics: &[&str],
        expected_total: usize,
        timeout: Duration,
    ) -> Result<HashMap<String, Vec<ConsumedRecord>>> {
        self.consume_topics_isolated(topics, expected_total, timeout, false)
    }

    /// [`consume_topics`](Self::consume_topics) with the consumer's `isolation.level`:
    /// `read_committed` when `committed` (records of aborted or open transactions are
    /// skipped, and a partition's end is its last stable offset), else `read_uncommitted`
    /// (every record, aborted ones included; control records are never returned).
    pub fn consume_topics_isolated(
        &self,
        topics: &[&str],
        expected_total: usize,
        timeout: Duration,
        committed: bool,
    ) -> Result<HashMap<String, Vec<ConsumedRecord>>> {
        let list = topics.join(",");
        let mut cmd = record_tool(self.version)?;
        let isolation = if committed {
            "read_committed"
        } else {
            "read_uncommitted"
        };
        cmd.args(["consume", &self.bootstrap(), &list])
            .arg(expected_total.to_string())
            .arg(timeout.as_millis().to_string())
            .arg(isolation);
        let out = run(&mut cmd, &format!("RecordTool consume {list}"))?;
        let mut map: HashMap<String, Vec<ConsumedRecord>> = topics
            .iter()
            .map(|t| ((*t).to_owned(), Vec::new()))
            .collect();
        for r in parse_consumed(&out)? {
            map.entry(r.topic.clone()).or_default().push(r);
        }
        Ok(map)
    }

    /// The committed offsets of consumer group `group` (Kafka's Admin client, waiting out
    /// pending transactional offsets): `(topic, partition, offset)`, sorted.
    pub fn group_offsets(&self, group: &str) -> Result<Vec<(String, i32, i64)>> {
        let mut cmd = record_tool(self.version)?;
        cmd.args(["group-offsets", &self.bootstrap(), group]);
        let out = run(&mut cmd, &format!("RecordTool group-offsets {group}"))?;
        parse_group_offsets(&out)
    }

    /// Produces records with Kafka's Java producer (acks=all), returning each record's
    /// `(partition, offset)` or the Java client's error message, in input order. A reference
    /// point for comparisons and a way to test the harness itself.
    pub fn produce_reference(
        &self,
        topic: &str,
        records: &[ReferenceRecord],
    ) -> Result<Vec<Result<(i32, i64), String>>> {
        let mut input = String::new();
        for r in records {
            input.push_str(&r.partition.map_or("-".into(), |p| p.to_string()));
            input.push('\t');
            input.push_str(&r.timestamp.map_or("-".into(), |t| t.to_string()));
            input.push('\t');
            input.push_str(&hex_opt(r.key.as_deref()));
            input.push('\t');
            input.push_str(&hex_opt(r.value.as_deref()));
            input.push('\t');
            input.push_str(&r.headers.len().to_string());
            for (k, v) in &r.headers {
                input.push('\t');
                input.push_str(&hex_opt(Some(k.as_bytes())));
                input.push('\t');
                input.push_str(&hex_opt(v.as_deref()));
            }
            input.push('\n');
        }
        let mut cmd = record_tool(self.version)?;
        cmd.args(["produce", &self.bootstrap(), topic])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = io_ctx(cmd.spawn(), || "starting RecordTool produce".into())?;
        if let Some(mut stdin) = child.stdin.take() {
            io_ctx(stdin.write_all(input.as_bytes()), || {
                "writing to RecordTool".into()
            })?;
        }
        let out = io_ctx(child.wait_with_output(), || "waiting for RecordTool".into())?;
        if !out.status.success() {
            return err(format!(
                "RecordTool produce failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut results = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["M", p, o] => results.push(Ok((parse_num(p)?, parse_num(o)?))),
                ["E", msg @ ..] => results.push(Err(msg.join("\t"))),
                _ => return err(format!("unexpected RecordTool line {line:?}")),
            }
        }
        if results.len() != records.len() {
            return err(format!(
                "RecordTool reported {} outcomes for {} records",
                results.len(),
                records.len()
            ));
        }
        Ok(results)
    }
}

/// A `java` command running `kafka/RecordTool.java`: compiled once per source change with
/// `javac` into `.kafka/<ver>/classes` (about 5 s, saved on every later run), or run through
/// Java's single-file source launcher when `javac` is missing.
pub(crate) fn record_tool(version: Version) -> Result<Command> {
    let src = workspace_root().join("kafka").join("RecordTool.java");
    if !command_exists("javac") {
        return Ok(java_tool(version, &src.display().to_string()));
    }
    let source = io_ctx(fs::read(&src), || format!("reading {}", src.display()))?;
    let hash = format!("{:016x}", fnv1a(&source));
    let classes = lib_dir(version).with_file_name("classes");
    let hash_file = classes.with_file_name("classes.srchash");
    // Tests of one binary run in parallel threads: one compiles, the others wait and use it
    // (other processes race through the rename below).
    static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    if !(classes.join("RecordTool.class").is_file()
        && fs::read_to_string(&hash_file).is_ok_and(|h| h.trim() == hash))
    {
        let tmp = classes.with_file_name(format!("classes.tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        run(
            Command::new("javac")
                .arg("-nowarn")
                .arg("-cp")
                .arg(format!("{}/*", lib_dir(version).display()))
                .arg("-d")
                .arg(&tmp)
                .arg(&src)
                .stdin(Stdio::null()),
            "javac RecordTool.java",
        )?;
        let _ = fs::remove_file(&hash_file);
        let _ = fs::remove_dir_all(&classes);
        // Another process may have won the race; either copy is the same code.
        if fs::rename(&tmp, &classes).is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        io_ctx(fs::write(&hash_file, format!("{hash}\n")), || {
            format!("writing {}", hash_file.display())
        })?;
    }
    let classpath = format!("{}:{}/*", classes.display(), lib_dir(version).display());
    let cmd = java_tool_cp(version, classpath, "RecordTool");
    Ok(cmd)
}

/// One record read back from Kafka by [`KafkaCluster::consume_all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp type: 0 = CreateTime, 1 = LogAppendTime, -1 = none (magic 0).
    pub timestamp_type: i8,
    /// Timestamp in ms (-1 when the record has none).
    pub timestamp: i64,
    /// Key; `None` is Kafka's null.
    pub key: Option<Vec<u8>>,
    /// Value; `None` is Kafka's null.
    pub value: Option<Vec<u8>>,
    /// Headers in order: key and optional value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A record for [`KafkaCluster::produce_reference`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferenceRecord {
    /// Explicit partition, or the Java client's default partitioner.
    pub partition: Option<i32>,
    /// Timestamp, or "now".
    pub timestamp: Option<i64>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

fn hex_opt(b: Option<&[u8]>) -> String {
    match b {
        None => "-".to_owned(),
        Some(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

fn unhex_opt(s: &str) -> Result<Option<Vec<u8>>> {
    if s == "-" {
        return Ok(None);
    }
    if !s.len().is_multiple_of(2) {
        return err(format!("odd-length hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error(format!("bad hex {s:?}")))
        })
        .collect::<Result<Vec<u8>>>()
        .map(Some)
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse().map_err(|_| Error(format!("not a number: {s:?}")))
}

/// Parses `RecordTool group-offsets` output (see `kafka/RecordTool.java`).
pub fn parse_group_offsets(out: &str) -> Result<Vec<(String, i32, i64)>> {
    let mut offsets = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["O", topic, partition, offset] => {
                offsets.push((
                    (*topic).to_owned(),
                    parse_num(partition)?,
                    parse_num(offset)?,
                ));
            }
            ["END", n] if parse_num::<usize>(n)? == offsets.len() => return Ok(offsets),
            _ => return err(format!("unexpected RecordTool line {line:?}")),
        }
    }
    err(format!("RecordTool output has no END line:\n{out}"))
}

/// Parses `RecordTool consume` output (see `kafka/RecordTool.java`).
pub fn parse_consumed(out: &str) -> Result<Vec<ConsumedRecord>> {
    let mut records = Vec::new();
    let mut end = None;
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.first().copied() {
            Some("R") if f.len() >= 9 => {
                let f = &f[1..];
                let nh: usize = parse_num(f[7])?;
                if f.len() != 8 + 2 * nh {
                    return err(format!("bad record line {line:?}"));
                }
                let mut headers = Vec::with_capacity(nh);
                for i in 0..nh {
                    let key = unhex_opt(f[8 + 2 * i])?.unwrap_or_default();
                    let key = String::from_utf8(key)
                        .map_err(|_| Error(format!("header key not UTF-8 in {line:?}")))?;
                    headers.push((key, unhex_opt(f[9 + 2 * i])?));
                }
                records.push(ConsumedRecord {
                    topic: f[0].to_owned(),
                    partition: parse_num(f[1])?,
                    offset: parse_num(f[2])?,
                    timestamp_type: parse_num(f[3])?,
                    timestamp: parse_num(f[4])?,
                    key: unhex_opt(f[5])?,
                    value: unhex_opt(f[6])?,
                    headers,
                });
            }
            Some("END") if f.len() == 3 => end = Some(parse_num::<usize>(f[1])?),
            _ => return err(format!("unexpected RecordTool line {line:?}")),
        }
    }
    match end {
        Some(n) if n == records.len() => Ok(records),
        Some(n) => err(format!(
            "RecordTool said {n} records but printed {}",
            records.len()
        )),
        None => err(format!("RecordTool output has no END line:\n{out}")),
    }
}

/// Runs Kafka's ConsoleConsumer on `topic` (from the beginning, at most `max` records, 10 s
/// idle timeout) with key, partition, offset, timestamp and headers printed, returning its
/// stdout. For humans (`cargo xtask kafka consume`); tests use [`KafkaCluster::consume_all`],
/// which is binary-safe.
pub fn console_consume(
    version: Version,
    bootstrap: &str,
    topic: &str,
    max: usize,
) -> Result<String> {
    let mut cmd = java_tool(version, "org.apache.kafka.tools.consumer.ConsoleConsumer");
    cmd.args([
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--from-beginning",
    ])
    .args(["--max-messages", &max.to_string(), "--timeout-ms", "10000"]);
    for prop in [
        "print.timestamp=true",
        "print.partition=true",
        "print.offset=true",
        "print.headers=true",
        "print.key=true",
        "print.value=true",
        "key.separator=\t",
        "headers.separator=,",
        "null.literal=<null>",
    ] {
        cmd.args([version.console_flags(false).formatter, prop]);
    }
    let out = io_ctx(cmd.output(), || "starting ConsoleConsumer".into())?;
    // ConsoleConsumer exits non-zero on its idle timeout (TimeoutException) after printing
    // what it read; that is not an error here.
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !stderr.contains("TimeoutException") {
        return err(format!(
            "ConsoleConsumer failed ({}):\n{stderr}",
            out.status
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_record_tool_output_binary_safe() {
        let out = "R\tt\t0\t5\t0\t1700000000000\t00ff0a\t-\t2\t6b31\t0910\t6b32\t-\n\
                   R\tt\t1\t0\t-1\t-1\t-\t\t0\n\
                   END\t2\tcomplete\n";
        let recs = parse_consumed(out).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].partition, 0);
        assert_eq!(recs[0].offset, 5);
        assert_eq!(recs[0].timestamp, 1_700_000_000_000);
        assert_eq!(recs[0].key.as_deref(), Some(&[0x00, 0xff, 0x0a][..]));
        assert_eq!(recs[0].value, None);
        assert_eq!(
            recs[0].headers,
            vec![
                ("k1".to_owned(), Some(vec![0x09, 0x10])),
                ("k2".to_owned(), None)
            ]
        );
        assert_eq!(recs[1].key, None);
        assert_eq!(recs[1].value, Some(Vec::new()));
        assert_eq!(recs[1].timestamp_type, -1);
    }

    #[test]
    fn rejects_truncated_or_inconsistent_output() {
        assert!(parse_consumed("R\tt\t0\t5\t0\t1\t-\t-\t0\n").is_err());
        assert!(parse_consumed("R\tt\t0\t5\t0\t1\t-\t-\t1\t6b\nEND\t1\tcomplete\n").is_err());
        assert!(parse_consumed("END\t3\tcomplete\n").is_err());
        assert!(parse_consumed("R\tt\t0\t5\t0\t1\tzz\t-\t0\nEND\t1\tcomplete\n").is_err());
    }

    #[test]
    fn parses_group_offsets() {
        let out = "O\tin\t0\t30\nO\tin\t1\t20\nEND\t2\n";
        assert_eq!(
            parse_group_offsets(out).unwrap(),
            vec![("in".to_owned(), 0, 30), ("in".to_owned(), 1, 20)]
        );
        assert!(parse_group_offsets("O\tin\t0\t30\nEND\t2\n").is_err());
        assert!(parse_group_offsets("O\tin\t0\t30\n").is_err());
    }

    #[test]
    fn hex_round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex_opt(&hex_opt(Some(&bytes))).unwrap(), Some(bytes));
        assert_eq!(unhex_opt("-").unwrap(), None);
    }
}
