//! The pieces of `cargo xtask chaos` that need no broker: how records carry their sequence
//! number, the outcome file the producer process writes, and the comparison of those outcomes
//! with what the log holds (lost, duplicated, reordered, failed).
//!
//! The orchestration (start a 3-node cluster, kill or freeze brokers while a producer process
//! writes, read everything back) is the `chaos` binary, `tests/src/bin/chaos/`.

use std::collections::HashMap;
use std::fmt;

/// Width of the decimal sequence number at the start of every record value.
pub const SEQ_DIGITS: usize = 12;

/// The value of record `seq`: its sequence number in decimal, zero-padded, then filler up to
/// `size` bytes (at least the number).
pub fn value(seq: u64, size: usize) -> Vec<u8> {
    let mut v = format!("{seq:0width$}", width = SEQ_DIGITS).into_bytes();
    v.resize(size.max(SEQ_DIGITS), b'.');
    v
}

/// The key of record `seq`: distinct per record, so the default partitioner spreads them.
pub fn key(seq: u64) -> Vec<u8> {
    format!("key-{seq}").into_bytes()
}

/// The sequence number a record value starts with; `None` for a value this tool did not write.
pub fn parse_seq(value: &[u8]) -> Option<u64> {
    let digits = value.get(..SEQ_DIGITS)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// What the producer said about one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged at this partition and offset.
    Delivered {
        /// Partition.
        partition: i32,
        /// Offset (`-1` with acks=0).
        offset: i64,
    },
    /// Reported failed (or refused by `send`).
    Failed(String),
}

/// One outcome line of the file the producer process writes: `D <seq> <partition> <offset>`
/// or `F <seq> <error>`.
pub fn outcome_line(seq: u64, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Delivered { partition, offset } => format!("D {seq} {partition} {offset}\n"),
        Outcome::Failed(e) => format!("F {seq} {}\n", e.replace(['\n', '\r'], " ")),
    }
}

/// The producer process's report: every outcome by sequence number, its peak RSS and whether
/// it ran idempotent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerReport {
    /// Outcome per sequence number; `None` when the file had none for it.
    pub outcomes: Vec<Option<Outcome>>,
    /// Peak resident set size (VmHWM) in KiB, read by the process right before it exited.
    pub peak_rss_kib: u64,
    /// Whether the producer's configuration enabled idempotence.
    pub idempotent: bool,
    /// The producer's `buffer.memory` in bytes.
    pub buffer_memory: u64,
}

/// Parses the outcome file for `records` records: outcome lines plus `rss <KiB>`,
/// `idempotent <0|1>` and `buffer <bytes>` lines.
pub fn parse_report(text: &str, records: usize) -> Result<ProducerReport, String> {
    let mut report = ProducerReport {
        outcomes: vec![None; records],
        ..ProducerReport::default()
    };
    for line in text.lines() {
        let mut f = line.splitn(3, ' ');
        let kind = f.next().unwrap_or("");
        let bad = || format!("bad outcome line {line:?}");
        match kind {
            "D" | "F" => {
                let seq: usize = f.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
                let rest = f.next().unwrap_or("");
                let outcome = if kind == "D" {
                    let (p, o) = rest.split_once(' ').ok_or_else(bad)?;
                    Outcome::Delivered {
                        partition: p.parse().map_err(|_| bad())?,
                        offset: o.parse().map_err(|_| bad())?,
                    }
                } else {
                    Outcome::Failed(rest.to_owned())
                };
                let slot = report.outcomes.get_mut(seq).ok_or_else(bad)?;
                if slot.is_some() {
                    return Err(format!("two outcomes for record {seq}"));
                }
                *slot = Some(outcome);
            }
            "rss" => report.peak_rss_kib = f.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?,
            "idempotent" => report.idempotent = f.next() == Some("1"),
            "buffer" => {
                report.buffer_memory = f.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?
            }
            "" => {}
            _ => return Err(bad()),
        }
    }
    Ok(report)
}

/// The figures of one chaos run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Records sent.
    pub records: usize,
    /// Acknowledged, but not in the log.
    pub lost: usize,
    /// Extra copies in the log (a record there twice counts once).
    pub duplicated: usize,
    /// Records appended after a record sent later, in the same partition.
    pub reordered: usize,
    /// Records the producer reported failed.
    pub failed: usize,
    /// Records the producer reported nothing for (should never happen).
    pub unresolved: usize,
    /// Acknowledged at a partition/offset that holds another record (or none).
    pub misreported: usize,
    /// Log entries this tool did not write.
    pub foreign: usize,
}

impl Figures {
    /// Whether every figure that must be zero is, with duplicates tolerated when
    /// `allow_duplicates` (a producer without idempotence may write a retried batch twice).
    pub fn clean(&self, allow_duplicates: bool) -> bool {
        self.lost == 0
            && (allow_duplicates || self.duplicated == 0)
            && self.reordered == 0
            && self.failed == 0
            && self.unresolved == 0
            && self.misreported == 0
            && self.foreign == 0
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lost {}, duplicated {}, reordered {}, failed {}",
            self.lost, self.duplicated, self.reordered, self.failed
        )
    }
}

/// Compares the producer's outcomes with the log: `log` holds, per partition, the sequence
/// numbers (or `None` for a foreign value) in offset order with their offsets.
///
/// Order is checked on first appearances only: with records sent in sequence order from one
/// thread, a partition's first copies must have increasing sequence numbers; a duplicate's
/// second copy is counted as a duplicate, not also as a reorder.
pub fn analyse(
    outcomes: &[Option<Outcome>],
    log: &HashMap<i32, Vec<(i64, Option<u64>)>>,
) -> Figures {
    let mut fig = Figures {
        records: outcomes.len(),
        ..Figures::default()
    };
    let mut seen = vec![0u32; outcomes.len()];
    let mut at: HashMap<(i32, i64), u64> = HashMap::new();
    for (&partition, entries) in log {
        let mut highest: Option<u64> = None;
        for &(offset, seq) in entries {
            let Some(seq) = seq.filter(|&s| (s as usize) < outcomes.len()) else {
                fig.foreign += 1;
                continue;
            };
            at.insert((partition, offset), seq);
            let count = &mut seen[seq as usize];
            *count += 1;
            if *count > 1 {
                fig.duplicated += 1;
                continue;
            }
            if highest.is_some_and(|h| seq < h) {
                fig.reordered += 1;
            }
            highest = highest.max(Some(seq));
        }
    }
    for (seq, outcome) in outcomes.iter().enumerate() {
        match outcome {
            None => fig.unresolved += 1,
            Some(Outcome::Failed(_)) => fig.failed += 1,
            Some(Outcome::Delivered { partition, offset }) => {
                if seen[seq] == 0 {
                    fig.lost += 1;
                } else if *offset >= 0 && at.get(&(*partition, *offset)) != Some(&(seq as u64)) {
                    fig.misreported += 1;
                }
            }
        }
    }
    fig
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(partition: i32, offset: i64) -> Option<Outcome> {
        Some(Outcome::Delivered { partition, offset })
    }

    #[test]
    fn values_carry_their_sequence_number() {
        let v = value(42, 100);
        assert_eq!(v.len(), 100);
        assert_eq!(parse_seq(&v), Some(42));
        assert_eq!(parse_seq(b"short"), None);
        assert_eq!(parse_seq(b"00000000004x......"), None);
        assert_eq!(value(7, 3).len(), SEQ_DIGITS);
    }

    #[test]
    fn report_round_trip() {
        let mut text = outcome_line(1, &Outcome::Failed("timed\nout".into()));
        text += &outcome_line(
            0,
            &Outcome::Delivered {
                partition: 3,
                offset: 9,
            },
        );
        text += "rss 2048\nidempotent 1\nbuffer 99\n";
        let r = parse_report(&text, 3).unwrap();
        assert_eq!(r.outcomes[0], delivered(3, 9));
        assert_eq!(r.outcomes[1], Some(Outcome::Failed("timed out".into())));
        assert_eq!(r.outcomes[2], None);
        assert_eq!(r.peak_rss_kib, 2048);
        assert!(r.idempotent);
        assert_eq!(r.buffer_memory, 99);
        assert!(parse_report("D 5 0 0\n", 3).is_err(), "seq out of range");
        assert!(
            parse_report("D 0 0 0\nD 0 0 1\n", 3).is_err(),
            "two outcomes"
        );
        assert!(parse_report("X\n", 3).is_err());
    }

    #[test]
    fn a_clean_run_has_zero_figures() {
        let outcomes = vec![delivered(0, 0), delivered(1, 0), delivered(0, 1)];
        let log = HashMap::from([
            (0, vec![(0, Some(0)), (1, Some(2))]),
            (1, vec![(0, Some(1))]),
        ]);
        let fig = analyse(&outcomes, &log);
        assert_eq!(fig.records, 3);
        assert!(fig.clean(false), "{fig:?}");
    }

    #[test]
    fn each_fault_is_counted() {
        let outcomes = vec![
            delivered(0, 0),                      // in the log twice
            delivered(0, 1),                      // lost
            Some(Outcome::Failed("boom".into())), // failed (and absent)
            None,                                 // unresolved
            delivered(1, 0),                      // appended after 5: reordered
            delivered(1, 7),                      // at another offset: misreported
        ];
        let log = HashMap::from([
            (0, vec![(0, Some(0)), (1, Some(0))]),
            (1, vec![(0, Some(5)), (1, Some(4)), (2, None)]),
        ]);
        let fig = analyse(&outcomes, &log);
        assert_eq!(fig.duplicated, 1);
        assert_eq!(fig.lost, 1);
        assert_eq!(fig.failed, 1);
        assert_eq!(fig.unresolved, 1);
        assert_eq!(fig.reordered, 1);
        assert_eq!(
            fig.misreported, 2,
            "4 acknowledged at (1,0), which holds 5; 5 at (1,7), empty"
        );
        assert_eq!(fig.foreign, 1);
        assert!(!fig.clean(true));
        let dup_only = Figures {
            duplicated: 3,
            ..Figures::default()
        };
        assert!(dup_only.clean(true) && !dup_only.clean(false));
    }
}
