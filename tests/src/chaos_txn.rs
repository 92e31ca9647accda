//! The pieces of `cargo xtask chaos --transactional` that need no broker: the file the
//! transactional producer process writes (one line per transaction: its records and how it
//! ended), the judgement of those transactions against what a `read_committed` consumer reads
//! back (committed, aborted, unknown, torn, duplicated, lost), and where a transactional id's
//! coordinator lives.
//!
//! Records carry their sequence number as in [`crate::chaos`]; transaction `t` holds the
//! consecutive sequence numbers `first .. first + count`.

use std::collections::HashMap;
use std::fmt;

/// How a transaction ended, as the producer saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnEnd {
    /// `commit_transaction` returned `Ok`: every record must be visible, once.
    Committed,
    /// `abort_transaction` returned `Ok`: no record may be visible.
    Aborted,
    /// Neither is known (the commit or the abort failed fatally or took too long, and a new
    /// producer with the same `transactional.id` took over): all or nothing.
    Unknown,
}

impl TxnEnd {
    fn letter(self) -> char {
        match self {
            TxnEnd::Committed => 'C',
            TxnEnd::Aborted => 'A',
            TxnEnd::Unknown => 'U',
        }
    }
}

/// One transaction of the producer: the records `first .. first + count` it accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    /// Sequence number of its first record.
    pub first: u64,
    /// Records `send` accepted into it (a refused record ends the transaction, which is then
    /// aborted, so the accepted ones are a prefix).
    pub count: u64,
    /// How it ended.
    pub end: TxnEnd,
}

/// The line of the outcome file for `txn`: `T <first> <count> <C|A|U>`.
pub fn txn_line(txn: &Txn) -> String {
    format!("T {} {} {}\n", txn.first, txn.count, txn.end.letter())
}

/// What the transactional producer process wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnReport {
    /// Its transactions, in order.
    pub txns: Vec<Txn>,
    /// Producer instances it used (a fatal error starts a new one with the same id).
    pub producers: u64,
    /// Records reported failed inside transactions whose commit returned `Ok`.
    pub misreported: u64,
    /// Its peak RSS in KiB.
    pub peak_rss_kib: u64,
    /// Its `buffer.memory`.
    pub buffer_memory: u64,
}

/// Parses the outcome file; a malformed line or overlapping transactions are an error.
pub fn parse_txn_report(text: &str) -> Result<TxnReport, String> {
    let mut r = TxnReport::default();
    let num = |s: Option<&str>, line: &str| -> Result<u64, String> {
        s.and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad outcome line {line:?}"))
    };
    for line in text.lines() {
        let mut f = line.split(' ');
        match f.next() {
            Some("T") => {
                let first = num(f.next(), line)?;
                let count = num(f.next(), line)?;
                let end = match f.next() {
                    Some("C") => TxnEnd::Committed,
                    Some("A") => TxnEnd::Aborted,
                    Some("U") => TxnEnd::Unknown,
                    _ => return Err(format!("bad outcome line {line:?}")),
                };
                if let Some(last) = r.txns.last() {
                    if first < last.first + last.count {
                        return Err(format!("transaction overlaps the one before: {line:?}"));
                    }
                }
                r.txns.push(Txn { first, count, end });
            }
            Some("producers") => r.producers = num(f.next(), line)?,
            Some("misreported") => r.misreported = num(f.next(), line)?,
            Some("rss") => r.peak_rss_kib = num(f.next(), line)?,
            Some("buffer") => r.buffer_memory = num(f.next(), line)?,
            Some("") | None => {}
            _ => return Err(format!("bad outcome line {line:?}")),
        }
    }
    Ok(r)
}

/// The figures of a transactional chaos run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnFigures {
    /// Transactions whose commit returned `Ok`.
    pub committed: u64,
    /// Transactions whose abort returned `Ok`.
    pub aborted: u64,
    /// Transactions of unknown outcome.
    pub unknown: u64,
    /// Of those, the ones found fully visible (committed after all).
    pub unknown_visible: u64,
    /// Transactions partly visible (any outcome).
    pub torn: u64,
    /// Extra copies of visible records.
    pub duplicated: u64,
    /// Records of committed transactions not visible.
    pub lost: u64,
    /// Aborted transactions with a visible record.
    pub aborted_visible: u64,
    /// Visible records out of sequence order within their partition.
    pub reordered: u64,
    /// Visible records of no transaction (or not written by this tool).
    pub foreign: u64,
}

impl TxnFigures {
    /// Whether every promise held and something committed.
    pub fn clean(&self) -> bool {
        self.committed > 0
            && self.torn == 0
            && self.duplicated == 0
            && self.lost == 0
            && self.aborted_visible == 0
            && self.reordered == 0
            && self.foreign == 0
    }
}

impl fmt::Display for TxnFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "committed {}, aborted {}, unknown {} ({} visible), torn {}, duplicated {}, lost {}, \
             aborted visible {}, reordered {}, foreign {}",
            self.committed,
            self.aborted,
            self.unknown,
            self.unknown_visible,
            self.torn,
            self.duplicated,
            self.lost,
            self.aborted_visible,
            self.reordered,
            self.foreign
        )
    }
}

/// Judges `txns` against what a `read_committed` consumer read: `log` holds per partition the
/// sequence number of each record in offset order (`None` for a value this tool did not
/// write).
pub fn analyse_txns(txns: &[Txn], log: &HashMap<i32, Vec<Option<u64>>>) -> TxnFigures {
    let mut fig = TxnFigures::default();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    for records in log.values() {
        let mut last: Option<u64> = None;
        for seq in records {
            let Some(seq) = *seq else {
                fig.foreign += 1;
                continue;
            };
            *seen.entry(seq).or_default() += 1;
            if last.is_some_and(|l| seq <= l) {
                fig.reordered += 1;
            }
            last = Some(seq);
        }
    }
    let mut owned = 0u64;
    for t in txns {
        let mut visible = 0;
        for seq in t.first..t.first + t.count {
            if let Some(&n) = seen.get(&seq) {
                visible += 1;
                fig.duplicated += n - 1;
                owned += n;
            }
        }
        let whole = visible == t.count;
        if visible > 0 && !whole {
            fig.torn += 1;
        }
        match t.end {
            TxnEnd::Committed => {
                fig.committed += 1;
                fig.lost += t.count - visible;
            }
            TxnEnd::Aborted => {
                fig.aborted += 1;
                if visible > 0 {
                    fig.aborted_visible += 1;
                }
            }
            TxnEnd::Unknown => {
                fig.unknown += 1;
                if whole && t.count > 0 {
                    fig.unknown_visible += 1;
                }
            }
        }
    }
    let total: u64 = seen.values().sum();
    fig.foreign += total - owned;
    fig
}

/// The `transactional.id` of the chaos producer writing `topic`.
pub fn transactional_id(topic: &str) -> String {
    format!("odradek-{topic}")
}

/// Java's `String.hashCode` of `s` (UTF-16 code units).
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__transaction_state` partition that holds `transactional_id` (Kafka's
/// `Utils.abs(id.hashCode) % partitions`): its leader is the id's transaction coordinator.
pub fn coordinator_partition(transactional_id: &str, partitions: i32) -> i32 {
    let h = java_hash(transactional_id);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(first: u64, count: u64, end: TxnEnd) -> Txn {
        Txn { first, count, end }
    }

    #[test]
    fn report_round_trips_and_rejects_overlap() {
        let txns = [
            txn(0, 3, TxnEnd::Committed),
            txn(3, 2, TxnEnd::Aborted),
            txn(5, 3, TxnEnd::Unknown),
        ];
        let mut text: String = txns.iter().map(txn_line).collect();
        text.push_str("producers 2\nmisreported 0\nrss 1234\nbuffer 33554432\n");
        let r = parse_txn_report(&text).unwrap();
        assert_eq!(r.txns, txns);
        assert_eq!((r.producers, r.peak_rss_kib), (2, 1234));
        assert_eq!(r.buffer_memory, 33_554_432);
        assert!(parse_txn_report("T 0 3 C\nT 2 3 C\n").is_err());
        assert!(parse_txn_report("T 0 3 X\n").is_err());
        assert!(parse_txn_report("what\n").is_err());
    }

    #[test]
    fn clean_run() {
        let txns = [
            txn(0, 3, TxnEnd::Committed),
            txn(3, 2, TxnEnd::Aborted),
            txn(5, 2, TxnEnd::Unknown),
            txn(7, 2, TxnEnd::Unknown),
        ];
        // Partition 0: 0, 2, 7; partition 1: 1, 8 (the second unknown one committed).
        let log = HashMap::from([
            (0, vec![Some(0), Some(2), Some(7)]),
            (1, vec![Some(1), Some(8)]),
        ]);
        let fig = analyse_txns(&txns, &log);
        assert!(fig.clean(), "{fig}");
        assert_eq!((fig.committed, fig.aborted, fig.unknown), (1, 1, 2));
        assert_eq!(fig.unknown_visible, 1);
    }

    #[test]
    fn every_violation_counts() {
        let txns = [
            txn(0, 3, TxnEnd::Committed), // 1 missing: torn, lost 1
            txn(3, 2, TxnEnd::Aborted),   // visible: aborted visible, torn
            txn(5, 2, TxnEnd::Unknown),   // half: torn
            txn(7, 2, TxnEnd::Committed), // 7 twice: duplicated
            txn(9, 1, TxnEnd::Committed), // missing entirely: lost 1, not torn
        ];
        let log = HashMap::from([
            (0, vec![Some(0), Some(3), Some(5), Some(7), Some(7)]),
            (1, vec![Some(8), Some(1), Some(42), None]),
        ]);
        let fig = analyse_txns(&txns, &log);
        assert!(!fig.clean());
        assert_eq!(fig.torn, 3, "{fig}");
        assert_eq!(fig.lost, 2, "{fig}");
        assert_eq!(fig.aborted_visible, 1, "{fig}");
        assert_eq!(fig.duplicated, 1, "{fig}");
        // 7 after 7 on partition 0, 1 after 8 on partition 1.
        assert_eq!(fig.reordered, 2, "{fig}");
        // 42 belongs to no transaction; None is not ours.
        assert_eq!(fig.foreign, 2, "{fig}");
    }

    #[test]
    fn nothing_committed_is_not_clean() {
        let fig = analyse_txns(&[txn(0, 2, TxnEnd::Aborted)], &HashMap::new());
        assert_eq!(fig.aborted, 1);
        assert!(!fig.clean());
    }

    #[test]
    fn coordinator_partition_matches_java() {
        // "hello".hashCode() == 99162322 in Java; 99162322 % 50 == 22.
        assert_eq!(java_hash("hello"), 99_162_322);
        assert_eq!(coordinator_partition("hello", 50), 22);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs gives 0.
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
        assert_eq!(coordinator_partition("polygenelubricants", 50), 0);
        // A negative hash: "odradek-chaos-txn".hashCode() is taken by its absolute value.
        let h = java_hash("odradek-chaos-txn");
        assert_eq!(
            coordinator_partition("odradek-chaos-txn", 50),
            (h.unsigned_abs() % 50) as i32
        );
    }
}
