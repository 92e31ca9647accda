//! The demo's records, their verification, and the independent read-back.
//!
//! * Record `i` of a run has key `k<i % 1000>` and a printable value of a fixed size that
//!   starts with the sequence number `i` (ten digits), then the run's tag, then filler
//!   ([`key`], [`value`], [`parse_seq`]).
//! * [`read_back`] reads a whole topic with Kafka's own Java consumer (`examples/java/ReadBack.java`,
//!   run by the JDK's single-file launcher with the jars the test harness fetched), streaming
//!   one line per record, so a million records never sit in memory as a whole.
//! * [`Verifier`] checks what was read against what was sent and what the producer reported:
//!   the count, every sequence number exactly once, each record's key and value byte for byte,
//!   per-partition send order, and that each record sits at the partition and offset its
//!   delivery reported.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Keys cycle through `k0 .. k<KEY_SPACE - 1>`.
pub const KEY_SPACE: u64 = 1000;
/// Digits of the sequence number at the start of each value.
pub const SEQ_DIGITS: usize = 10;

/// The key of record `seq`: `k<seq % 1000>`.
pub fn key(seq: u64) -> String {
    format!("k{}", seq % KEY_SPACE)
}

/// The value of record `seq` of the run tagged `tag`: `"<seq, 10 digits> <tag> "` followed by
/// filler letters (shifted by `seq`, so values differ beyond their prefix) up to `size` bytes.
/// Never shorter than the prefix; printable ASCII without tabs or newlines.
pub fn value(tag: &str, seq: u64, size: usize) -> Vec<u8> {
    let mut v = format!("{seq:0width$} {tag} ", width = SEQ_DIGITS).into_bytes();
    let mut i = seq as usize;
    while v.len() < size {
        v.push(b'a' + (i % 26) as u8);
        i += 1;
    }
    v
}

/// The sequence number at the start of a demo value.
pub fn parse_seq(value: &[u8]) -> Option<u64> {
    let digits = value.get(..SEQ_DIGITS)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Where a delivery said a record went: `(partition, offset)`; `None` when it failed or has
/// no outcome.
pub type Reported = Option<(i32, i64)>;

/// Checks records read back against the run that sent them. Feed it every record read with
/// [`record`](Verifier::record), then [`finish`](Verifier::finish).
#[derive(Debug)]
pub struct Verifier {
    tag: String,
    value_size: usize,
    reported: Vec<Reported>,
    seen: Vec<bool>,
    last_in_partition: HashMap<i32, (i64, u64)>,
    v: Verification,
}

/// What [`Verifier`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Records sent.
    pub expected: u64,
    /// Records read back.
    pub read: u64,
    /// Sequence numbers read more than once.
    pub duplicates: u64,
    /// Records read whose value is not a demo value of this run's size range.
    pub unknown: u64,
    /// Sequence numbers never read.
    pub missing: u64,
    /// Records whose key or value differs from what was sent.
    pub wrong_content: u64,
    /// Records that come after a record with a higher sequence number in their partition.
    pub out_of_order: u64,
    /// Records not at the partition and offset their delivery reported (or read although
    /// their delivery failed).
    pub offset_mismatch: u64,
    /// Deliveries that reported failure.
    pub failed_deliveries: u64,
    /// Records compared with a reported position (all of them when every delivery succeeded).
    pub offsets_compared: u64,
    /// The first few problems, described.
    pub problems: Vec<String>,
}

impl Verification {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.read == self.expected
            && self.duplicates == 0
            && self.unknown == 0
            && self.missing == 0
            && self.wrong_content == 0
            && self.out_of_order == 0
            && self.offset_mismatch == 0
            && self.failed_deliveries == 0
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read {}/{}, missing {}, duplicates {}, unknown {}, wrong content {}, out of order {}, \
             offset mismatches {} ({} compared), failed deliveries {}",
            self.read,
            self.expected,
            self.missing,
            self.duplicates,
            self.unknown,
            self.wrong_content,
            self.out_of_order,
            self.offset_mismatch,
            self.offsets_compared,
            self.failed_deliveries
        )
    }
}

const MAX_PROBLEMS: usize = 10;

impl Verifier {
    /// A verifier for a run tagged `tag` that sent `reported.len()` records of `value_size`
    /// bytes, where `reported[seq]` is what record `seq`'s delivery said.
    pub fn new(tag: &str, value_size: usize, reported: Vec<Reported>) -> Verifier {
        let n = reported.len();
        let failed_deliveries = reported.iter().filter(|r| r.is_none()).count() as u64;
        Verifier {
            tag: tag.to_owned(),
            value_size,
            reported,
            seen: vec![false; n],
            last_in_partition: HashMap::new(),
            v: Verification {
                expected: n as u64,
                failed_deliveries,
                ..Verification::default()
            },
        }
    }

    fn problem(&mut self, what: impl FnOnce() -> String) {
        if self.v.problems.len() < MAX_PROBLEMS {
            self.v.problems.push(what());
        }
    }

    /// One record read from `partition` at `offset`. Records of one partition must be fed in
    /// offset order (as a consumer reads them); partitions may interleave.
    pub fn record(
        &mut self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        self.v.read += 1;
        let Some(seq) = value.and_then(parse_seq).filter(|&s| s < self.v.expected) else {
            self.v.unknown += 1;
            self.problem(|| {
                format!(
                    "partition {partition} offset {offset}: not a record of this run: {:?}",
                    value.map(String::from_utf8_lossy)
                )
            });
            return;
        };
        let i = seq as usize;
        if std::mem::replace(&mut self.seen[i], true) {
            self.v.duplicates += 1;
            self.problem(|| {
                format!("seq {seq} read again at partition {partition} offset {offset}")
            });
        }
        if key != Some(self::key(seq).as_bytes())
            || value != Some(self::value(&self.tag, seq, self.value_size).as_slice())
        {
            self.v.wrong_content += 1;
            self.problem(|| format!("seq {seq} at {partition}/{offset}: key or value differs"));
        }
        if let Some(&(last_offset, last_seq)) = self.last_in_partition.get(&partition) {
            if seq < last_seq {
                self.v.out_of_order += 1;
                self.problem(|| {
                    format!(
                        "partition {partition}: seq {seq} at offset {offset} after seq {last_seq} \
                         at offset {last_offset}"
                    )
                });
            }
        }
        self.last_in_partition.insert(partition, (offset, seq));
        match self.reported[i] {
            Some(at) => {
                self.v.offsets_compared += 1;
                if at != (partition, offset) {
                    self.v.offset_mismatch += 1;
                    self.problem(|| {
                        format!(
                            "seq {seq}: delivery reported {}/{}, read at {partition}/{offset}",
                            at.0, at.1
                        )
                    });
                }
            }
            None => {
                self.v.offset_mismatch += 1;
                self.problem(|| {
                    format!("seq {seq}: its delivery failed, yet it is at {partition}/{offset}")
                });
            }
        }
    }

    /// The verdict.
    pub fn finish(mut self) -> Verification {
        let missing: Vec<usize> = self
            .seen
            .iter()
            .enumerate()
            .filter(|(_, s)| !**s)
            .map(|(i, _)| i)
            .collect();
        self.v.missing = missing.len() as u64;
        if !missing.is_empty() {
            let first: Vec<usize> = missing.iter().take(10).copied().collect();
            self.problem(|| {
                format!(
                    "{} sequence numbers never read, first {first:?}",
                    missing.len()
                )
            });
        }
        self.v
    }
}

/// How a [`read_back`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadSummary {
    /// Records the consumer read.
    pub records: u64,
    /// Whether it reached the end offset of every partition (`false`: it gave up after the
    /// idle timeout).
    pub complete: bool,
    /// Wall time of the read, JVM start included.
    pub elapsed: Duration,
}

/// The Java consumer's source, run with the JDK's single-file source launcher.
pub fn read_back_source() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("java/ReadBack.java")
}

/// Kills the consumer if it is still running when the read is abandoned.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Reads every record of `topic` from the beginning with Kafka's own Java consumer (the
/// kafka-clients jar of `version`, fetched by the harness if needed), calling `on_record` for
/// each `(partition, offset, key, value)` as it streams in. The consumer stops when it has
/// reached every partition's end offset (taken when it starts, so produce first), or after
/// `idle` without new records.
pub fn read_back(
    version: odradek_tests::Version,
    bootstrap: &str,
    topic: &str,
    idle: Duration,
    mut on_record: impl FnMut(i32, i64, Option<&[u8]>, Option<&[u8]>),
) -> Result<ReadSummary, String> {
    use odradek_tests::kafka;
    let started = std::time::Instant::now();
    let fetched = kafka::fetch(version).map_err(|e| e.0)?;
    let log_config = kafka::workspace_root()
        .join("kafka")
        .join(version.as_str())
        .join(if version.is_4x() {
            "tools-log4j2.properties"
        } else {
            "tools-log4j.properties"
        });
    let stderr_path = std::env::temp_dir().join(format!(
        "odradek-readback-{}-{topic}.log",
        std::process::id()
    ));
    let stderr = std::fs::File::create(&stderr_path)
        .map_err(|e| format!("creating {}: {e}", stderr_path.display()))?;
    let mut cmd = Command::new("java");
    cmd.arg("-Xmx1g")
        .arg(format!(
            "-Dlog4j2.configurationFile=file:{}",
            log_config.display()
        ))
        .arg(format!(
            "-Dlog4j.configuration=file:{}",
            log_config.display()
        ))
        .arg("-cp")
        .arg(format!("{}/*", fetched.lib().display()))
        .arg(read_back_source())
        .args([bootstrap, topic, &idle.as_millis().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut child = KillOnDrop(cmd.spawn().map_err(|e| format!("starting java: {e}"))?);
    let stdout = child.0.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut line = Vec::with_capacity(256);
    let mut records = 0u64;
    let mut end = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading the consumer's output: {e}"))?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        match parse_line(&line)? {
            Line::Record(p, o, k, v) => {
                records += 1;
                on_record(p, o, k, v);
            }
            Line::End(count, complete) => {
                if count != records {
                    return Err(format!(
                        "consumer said {count} records, {records} were parsed"
                    ));
                }
                end = Some(complete);
            }
        }
    }
    let status = child
        .0
        .wait()
        .map_err(|e| format!("waiting for java: {e}"))?;
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_file(&stderr_path);
    match end {
        Some(complete) if status.success() => Ok(ReadSummary {
            records,
            complete,
            elapsed: started.elapsed(),
        }),
        _ => Err(format!(
            "the Java consumer failed ({status}) after {records} records:\n{}",
            tail(&log, 30)
        )),
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

enum Line<'a> {
    Record(i32, i64, Option<&'a [u8]>, Option<&'a [u8]>),
    End(u64, bool),
}

/// `R<TAB>partition<TAB>offset<TAB>key<TAB>value`, where key and value are `-` for null or `=`
/// followed by the raw bytes (the demo's values hold no newline); or
/// `END<TAB>count<TAB>complete|timeout`.
fn parse_line(line: &[u8]) -> Result<Line<'_>, String> {
    let bad = || {
        format!(
            "unexpected consumer output {:?}",
            String::from_utf8_lossy(line)
        )
    };
    let mut f = line.splitn(5, |&b| b == b'\t');
    let tag = f.next().ok_or_else(bad)?;
    let num = |s: Option<&[u8]>| -> Option<i64> { std::str::from_utf8(s?).ok()?.parse().ok() };
    match tag {
        b"R" => {
            let p = num(f.next()).ok_or_else(bad)?;
            let o = num(f.next()).ok_or_else(bad)?;
            let k = field_bytes(f.next()).ok_or_else(bad)?;
            let v = field_bytes(f.next()).ok_or_else(bad)?;
            Ok(Line::Record(i32::try_from(p).map_err(|_| bad())?, o, k, v))
        }
        b"END" => {
            let count = num(f.next()).ok_or_else(bad)?;
            let complete = f.next() == Some(b"complete");
            Ok(Line::End(count as u64, complete))
        }
        _ => Err(bad()),
    }
}

/// `-` is null, `=` + bytes is a value; anything else is malformed (`None`).
#[allow(clippy::option_option)]
fn field_bytes(s: Option<&[u8]>) -> Option<Option<&[u8]>> {
    match s? {
        b"-" => Some(None),
        [b'=', rest @ ..] => Some(Some(rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported_in_order(n: u64, partitions: i32) -> Vec<Reported> {
        (0..n)
            .map(|s| {
                Some((
                    (s % partitions as u64) as i32,
                    (s / partitions as u64) as i64,
                ))
            })
            .collect()
    }

    fn feed_all(v: &mut Verifier, n: u64, partitions: i32) {
        for s in 0..n {
            let (p, o) = (
                (s % partitions as u64) as i32,
                (s / partitions as u64) as i64,
            );
            v.record(p, o, Some(key(s).as_bytes()), Some(&value("t", s, 100)));
        }
    }

    #[test]
    fn values_carry_their_sequence_number_and_size() {
        let v = value("tokio", 123, 100);
        assert_eq!(v.len(), 100);
        assert!(v.starts_with(b"0000000123 tokio "));
        assert_eq!(parse_seq(&v), Some(123));
        assert_ne!(value("tokio", 124, 100)[20..], v[20..]);
        assert_eq!(parse_seq(b"12345"), None);
        assert_eq!(parse_seq(b"00000x0001 t"), None);
        assert_eq!(key(12_345), "k345");
        assert!(
            value("a-very-long-tag", 1, 4).len() > 4,
            "never cut the prefix"
        );
    }

    #[test]
    fn a_faithful_read_back_verifies() {
        let mut v = Verifier::new("t", 100, reported_in_order(600, 6));
        feed_all(&mut v, 600, 6);
        let r = v.finish();
        assert!(r.ok(), "{r}: {:?}", r.problems);
        assert_eq!((r.read, r.offsets_compared), (600, 600));
    }

    #[test]
    fn loss_duplication_reordering_and_wrong_offsets_are_each_caught() {
        // Lost: seq 5 never read.
        let mut v = Verifier::new("t", 100, reported_in_order(10, 1));
        for s in (0..10).filter(|&s| s != 5) {
            v.record(
                0,
                s as i64,
                Some(key(s).as_bytes()),
                Some(&value("t", s, 100)),
            );
        }
        let r = v.finish();
        assert_eq!((r.missing, r.ok()), (1, false));
        assert!(
            r.problems.iter().any(|p| p.contains("[5]")),
            "{:?}",
            r.problems
        );

        // Duplicated: seq 3 twice (the second copy also sits at an unreported offset).
        let mut v = Verifier::new("t", 100, reported_in_order(4, 1));
        for (o, s) in [0u64, 1, 2, 3, 3].into_iter().enumerate() {
            v.record(
                0,
                o as i64,
                Some(key(s).as_bytes()),
                Some(&value("t", s, 100)),
            );
        }
        let r = v.finish();
        assert_eq!((r.duplicates, r.offset_mismatch, r.read), (1, 1, 5));

        // Reordered within a partition: offsets as reported, but 2 before 1.
        let mut v = Verifier::new("t", 100, vec![Some((0, 0)), Some((0, 2)), Some((0, 1))]);
        for (o, s) in [0u64, 2, 1].into_iter().enumerate() {
            v.record(
                0,
                o as i64,
                Some(key(s).as_bytes()),
                Some(&value("t", s, 100)),
            );
        }
        let r = v.finish();
        assert_eq!((r.out_of_order, r.offset_mismatch), (1, 0));

        // Wrong content, unknown value, failed delivery.
        let mut v = Verifier::new("t", 100, vec![Some((0, 0)), None]);
        v.record(0, 0, Some(b"k999"), Some(&value("t", 0, 100)));
        v.record(0, 1, Some(b"k1"), Some(b"garbage"));
        let r = v.finish();
        assert_eq!(
            (r.wrong_content, r.unknown, r.failed_deliveries, r.missing),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn consumer_lines_parse_byte_for_byte() {
        match parse_line(b"R\t3\t42\t=k7\t=a\tb") {
            Ok(Line::Record(3, 42, Some(b"k7"), Some(b"a\tb"))) => {}
            _ => panic!("record line"),
        }
        match parse_line(b"R\t0\t0\t-\t=") {
            Ok(Line::Record(0, 0, None, Some(b""))) => {}
            _ => panic!("null key, empty value"),
        }
        assert!(matches!(
            parse_line(b"END\t7\tcomplete"),
            Ok(Line::End(7, true))
        ));
        assert!(matches!(
            parse_line(b"END\t7\ttimeout"),
            Ok(Line::End(7, false))
        ));
        assert!(parse_line(b"R\tx\t0\t-\t-").is_err());
        assert!(parse_line(b"R\t0\t0\tk\t-").is_err());
        assert!(parse_line(b"log4j: hello").is_err());
    }
}
