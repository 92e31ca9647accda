//! A seeded generator of records to send ([`Workload`]): several topics and partitions, keyed
//! and unkeyed records, headers, values of various sizes, flushes, and finally `close`.
//!
//! Every generated record is unique (its value starts with its sequence number, and a
//! tombstone has a unique key), which is how the checker recognises it in the logs.

use bytes::Bytes;
use odradek_core::rng::Rng;
use odradek_core::{Header, Instant, Record};
use std::time::Duration;

/// Shape of a generated workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadConfig {
    /// Records to send.
    pub records: usize,
    /// Mean virtual time between two sends (exponentially distributed); records sent in a
    /// burst share an instant.
    pub mean_gap: Duration,
    /// Probability that a record is sent at the same instant as the previous one.
    pub burst_rate: f64,
    /// Probability that a record has a key.
    pub key_rate: f64,
    /// Keys are drawn from `key-0 .. key-<key_space>` (so keys repeat).
    pub key_space: u32,
    /// Probability that a record carries headers (0 for legacy formats, which cannot).
    pub header_rate: f64,
    /// Value sizes: uniform in this range (at least 8 bytes, the sequence number).
    pub value_size: (usize, usize),
    /// Probability of a large value (`large_value_size` bytes).
    pub large_rate: f64,
    /// Size of a large value.
    pub large_value_size: usize,
    /// Probability of a tombstone (null value, unique key).
    pub tombstone_rate: f64,
    /// Probability that a record names its partition explicitly.
    pub explicit_partition_rate: f64,
    /// Probability that a record carries an explicit timestamp.
    pub explicit_timestamp_rate: f64,
    /// Probability of a `flush` after a send.
    pub flush_rate: f64,
    /// Probability that a record goes to a topic that does not exist.
    pub unknown_topic_rate: f64,
    /// Probability that a record is larger than the producer's `message.max.bytes` (it must
    /// be refused at `send`); set together with [`WorkloadConfig::oversize_bytes`].
    pub oversize_rate: f64,
    /// The size of an oversized value.
    pub oversize_bytes: usize,
    /// Records sent after the others, starting [`tail_at`](Self::tail_at) after the start
    /// (or right after the others, if later): for checks of what a healed cluster must do.
    pub tail_records: usize,
    /// When the [`tail_records`](Self::tail_records) start, after the workload's start.
    pub tail_at: Duration,
}

impl Default for WorkloadConfig {
    /// 100 records, ~1 ms apart, a third in bursts, half keyed (16 keys), 20% with headers,
    /// values of 8–300 bytes, 2% of 5 KiB, 3% tombstones, flushes now and then.
    fn default() -> Self {
        WorkloadConfig {
            records: 100,
            mean_gap: Duration::from_millis(1),
            burst_rate: 0.3,
            key_rate: 0.5,
            key_space: 16,
            header_rate: 0.2,
            value_size: (8, 300),
            large_rate: 0.02,
            large_value_size: 5 * 1024,
            tombstone_rate: 0.03,
            explicit_partition_rate: 0.05,
            explicit_timestamp_rate: 0.1,
            flush_rate: 0.01,
            unknown_topic_rate: 0.0,
            oversize_rate: 0.0,
            oversize_bytes: 0,
            tail_records: 0,
            tail_at: Duration::ZERO,
        }
    }
}

/// What a workload does at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `send` this record.
    Send(Record),
    /// `flush`.
    Flush,
    /// `close` (always last).
    Close,
}

/// One timed action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When.
    pub at: Instant,
    /// What.
    pub action: Action,
}

/// The name of a topic that never exists in the simulated cluster.
pub const UNKNOWN_TOPIC: &str = "no-such-topic";

/// A list of timed sends, flushes and a final close.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Workload {
    /// The steps, in time order; the last is [`Action::Close`].
    pub steps: Vec<Step>,
}

impl Workload {
    /// Draws a workload from `seed` over `topics` (`(name, partition count)`), starting at
    /// `start`. The same arguments give the same workload.
    ///
    /// ```
    /// use odradek_sim::{Workload, WorkloadConfig, SIM_EPOCH};
    /// let topics = [("a".to_owned(), 3)];
    /// let w = Workload::generate(&WorkloadConfig::default(), &topics, 5, SIM_EPOCH);
    /// assert_eq!(w.records().count(), 100);
    /// assert_eq!(w, Workload::generate(&WorkloadConfig::default(), &topics, 5, SIM_EPOCH));
    /// ```
    pub fn generate(
        config: &WorkloadConfig,
        topics: &[(String, i32)],
        seed: u64,
        start: Instant,
    ) -> Self {
        let mut rng = Rng::new(seed ^ 0x3052_4B10_AD00_0007);
        let mut steps = Vec::with_capacity(config.records + 1);
        let mut t = start;
        for seq in 0..config.records + config.tail_records {
            if seq > 0 && seq == config.records {
                t = t.max(start + config.tail_at);
            }
            if seq > 0 && rng.unit() >= config.burst_rate {
                let gap = config.mean_gap.as_secs_f64() * -(1.0 - rng.unit()).ln();
                t += Duration::from_secs_f64(gap.min(60.0));
            }
            let unknown = !topics.is_empty() && rng.unit() < config.unknown_topic_rate;
            let (topic, partitions) = if topics.is_empty() || unknown {
                (UNKNOWN_TOPIC.to_owned(), 1)
            } else {
                topics[rng.below(topics.len() as u64) as usize].clone()
            };
            let mut record = Record::new(topic.as_str());
            let tombstone = rng.unit() < config.tombstone_rate;
            if tombstone {
                record = record.key(format!("tomb-{seq}"));
            } else {
                if rng.unit() < config.key_rate {
                    let k = rng.below(config.key_space.max(1) as u64);
                    record = record.key(format!("key-{k}"));
                }
                let size = if config.oversize_bytes > 0 && rng.unit() < config.oversize_rate {
                    config.oversize_bytes
                } else if rng.unit() < config.large_rate {
                    config.large_value_size
                } else {
                    let (lo, hi) = config.value_size;
                    lo + rng.below((hi.saturating_sub(lo) + 1) as u64) as usize
                };
                record = record.value(value_bytes(seq as u64, size, &mut rng));
            }
            if rng.unit() < config.header_rate {
                let n = 1 + rng.below(3);
                for h in 0..n {
                    let header = if rng.below(5) == 0 {
                        Header {
                            key: format!("h{h}"),
                            value: None,
                        }
                    } else {
                        Header::new(format!("h{h}"), format!("v{seq}-{h}"))
                    };
                    record = record.header(header);
                }
            }
            if partitions > 0 && !unknown && rng.unit() < config.explicit_partition_rate {
                record = record.partition(rng.below(partitions as u64) as i32);
            }
            if rng.unit() < config.explicit_timestamp_rate {
                record = record.timestamp(t.as_unix_millis() - rng.below(10_000) as i64);
            }
            steps.push(Step {
                at: t,
                action: Action::Send(record),
            });
            if rng.unit() < config.flush_rate {
                steps.push(Step {
                    at: t,
                    action: Action::Flush,
                });
            }
        }
        steps.push(Step {
            at: t,
            action: Action::Close,
        });
        Workload { steps }
    }

    /// The records, in send order.
    pub fn records(&self) -> impl Iterator<Item = &Record> + '_ {
        self.steps.iter().filter_map(|s| match &s.action {
            Action::Send(r) => Some(r),
            _ => None,
        })
    }
}

/// A value of `size` bytes (at least 8) that starts with `seq`, big-endian: unique per record.
fn value_bytes(seq: u64, size: usize, rng: &mut Rng) -> Bytes {
    let size = size.max(8);
    let mut v = Vec::with_capacity(size);
    v.extend_from_slice(&seq.to_be_bytes());
    // Compressible but not constant: runs of a few letters.
    while v.len() < size {
        let b = b'a' + rng.below(4) as u8;
        let run = 1 + rng.below(8) as usize;
        for _ in 0..run.min(size - v.len()) {
            v.push(b);
        }
    }
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SIM_EPOCH;
    use std::collections::BTreeSet;

    #[test]
    fn records_are_unique_in_order_and_end_with_close() {
        let topics = vec![("a".to_owned(), 3), ("b".to_owned(), 1)];
        let config = WorkloadConfig {
            records: 500,
            tombstone_rate: 0.1,
            ..WorkloadConfig::default()
        };
        let w = Workload::generate(&config, &topics, 11, SIM_EPOCH);
        assert_eq!(w.records().count(), 500);
        assert_eq!(w.steps.last().unwrap().action, Action::Close);
        assert!(w.steps.windows(2).all(|s| s[0].at <= s[1].at));
        let ids: BTreeSet<_> = w
            .records()
            .map(|r| (r.key.clone(), r.value.clone(), format!("{:?}", r.headers)))
            .collect();
        assert_eq!(ids.len(), 500, "records must be distinguishable");
        assert!(w.records().any(|r| r.value.is_none()));
        assert!(w.records().any(|r| !r.headers.is_empty()));
        assert!(w.records().all(|r| r.topic.as_str() != UNKNOWN_TOPIC));
        assert!(w
            .records()
            .filter_map(|r| r.partition)
            .all(|p| (0..3).contains(&p)));
    }
}
