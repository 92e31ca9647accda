//! The invariant checker: the promises odradek-core makes, checked against what a run
//! observed ([`History`]) and what the brokers stored ([`LogSnapshot`]).
//!
//! Records are recognised in the logs by their content (topic, key, value, headers), so the
//! records of one run must be distinguishable; [`Workload`](crate::Workload) makes sure they are.

use crate::cluster::{AppendFate, AppendInfo, Cluster, StoredRecord};
use bytes::Bytes;
use odradek_core::{
    Acks, Instant, ProduceError, Record, RecordId, RecordMetadata, RetryCause, SendErrorKind,
};
use std::collections::BTreeMap;
use std::fmt;

/// A record `send` accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentRecord {
    /// The id `send` returned.
    pub id: RecordId,
    /// The record as sent.
    pub record: Record,
    /// When.
    pub at: Instant,
}

/// A record `send` refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedRecord {
    /// The record.
    pub record: Record,
    /// Why.
    pub kind: SendErrorKind,
    /// When.
    pub at: Instant,
    /// Whether `close` had been called.
    pub after_close: bool,
}

/// One output of the core as observed by the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// `Output::Delivered`.
    Delivered {
        /// Id.
        id: RecordId,
        /// Where.
        metadata: RecordMetadata,
        /// The record handed back.
        record: Record,
    },
    /// `Output::Failed`.
    Failed {
        /// Id.
        id: RecordId,
        /// Why.
        error: ProduceError,
        /// The record handed back.
        record: Record,
    },
    /// `Output::Closed`.
    Closed,
    /// `Connect`, `Transmit` or `Disconnect`.
    Network,
}

/// Everything a run observed at the producer's edge, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Accepted records, in acceptance order (this is "send order").
    pub sent: Vec<SentRecord>,
    /// Refused records.
    pub refused: Vec<RefusedRecord>,
    /// Every output, with the instant it was polled.
    pub outputs: Vec<(Instant, Observed)>,
}

/// The brokers' logs and append records at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSnapshot {
    /// Log of each `(topic, partition)`.
    pub logs: BTreeMap<(String, i32), Vec<StoredRecord>>,
    /// Appends, indexed by [`StoredRecord::append`].
    pub appends: Vec<AppendInfo>,
}

impl LogSnapshot {
    /// The logs of `cluster`.
    pub fn of(cluster: &Cluster) -> Self {
        LogSnapshot {
            logs: cluster
                .logs()
                .map(|(t, p, log)| ((t.to_owned(), p), log.to_vec()))
                .collect(),
            appends: cluster.appends().to_vec(),
        }
    }
}

/// What the checker may assume about the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// The producer's `acks`: with `acks=0` there are no offsets, so delivered records are
    /// only checked loosely.
    pub acks: Acks,
    /// No fault could happen: every accepted record must be delivered.
    pub expect_all_delivered: bool,
    /// Topics that exist, with partition counts (records to other topics must fail).
    pub topics: BTreeMap<String, i32>,
    /// Keyed records of one topic must all land in one partition (a hashing partitioner).
    pub key_consistency: bool,
    /// The producer's `message.max.bytes`.
    pub message_max_bytes: usize,
}

/// Which promise was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViolationKind {
    /// An accepted record got no outcome.
    MissingOutcome,
    /// A record got more than one outcome.
    DuplicateOutcome,
    /// An outcome for an id `send` never returned.
    UnknownOutcome,
    /// The record handed back differs from the one sent.
    RecordChanged,
    /// Delivered to a partition other than the one the record named, or another topic.
    WrongPartition,
    /// Delivered, but not in the log at the reported offset.
    NotInLog,
    /// The log holds a different record at the reported offset.
    WrongContent,
    /// The reported timestamp differs from the stored one.
    WrongTimestamp,
    /// Delivered records of one partition are not in send order in the log.
    OutOfOrder,
    /// A copy of a record in the log that no lost response or after-append error explains.
    UnexplainedDuplicate,
    /// A record in the log that was never sent.
    PhantomRecord,
    /// A failure that the injected faults cannot explain.
    UnexpectedFailure,
    /// `send` refused or accepted a record wrongly.
    WrongRefusal,
    /// Records with one key went to different partitions.
    KeyInconsistency,
    /// `Closed` missing, repeated, or not the last output.
    Close,
    /// The client broke the protocol (seen by the brokers).
    Protocol,
    /// The run did not end: too many steps, too much virtual time, or nothing left to do.
    Livelock,
}

/// One broken promise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which.
    pub kind: ViolationKind,
    /// What happened, for a human.
    pub description: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.description)
    }
}

/// What the checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Broken promises.
    pub violations: Vec<Violation>,
    /// Records delivered.
    pub delivered: usize,
    /// Records failed.
    pub failed: usize,
    /// Extra copies of records in the logs (beyond the delivered one), all explained unless
    /// a violation says otherwise.
    pub duplicates: usize,
    /// Records that failed but are in a log anyway (explained by a lost response, an
    /// after-append error, or an acknowledgement that came after the failure).
    pub failed_but_written: usize,
}

type ContentKey = (
    String,
    Option<Bytes>,
    Option<Bytes>,
    Vec<(String, Option<Bytes>)>,
);

fn content(
    topic: &str,
    key: &Option<Bytes>,
    value: &Option<Bytes>,
    headers: &[odradek_core::Header],
) -> ContentKey {
    (
        topic.to_owned(),
        key.clone(),
        value.clone(),
        headers
            .iter()
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect(),
    )
}

fn same_record(a: &Record, b: &Record) -> bool {
    a.topic == b.topic
        && a.partition == b.partition
        && a.key == b.key
        && a.value == b.value
        && a.headers == b.headers
}

fn short(r: &Record) -> String {
    let v = r.value.as_ref().map(|v| {
        if v.len() >= 8 {
            format!(
                "#{}",
                u64::from_be_bytes(v[..8].try_into().unwrap_or_default())
            )
        } else {
            format!("{v:?}")
        }
    });
    format!("{}[key {:?}, value {:?}]", r.topic, r.key, v)
}

/// Checks every promise; see [`ViolationKind`] for the list.
pub fn check(history: &History, logs: &LogSnapshot, options: &CheckOptions) -> CheckReport {
    let mut violations = Vec::new();
    let (mut delivered, mut failed, mut duplicates, mut failed_but_written) = (0, 0, 0, 0);
    let mut v = |kind, description: String| violations.push(Violation { kind, description });

    // 1. Exactly one outcome per accepted record.
    let index: BTreeMap<RecordId, usize> = history
        .sent
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id, i))
        .collect();
    // outcome per sent index: (output position, instant, Ok(metadata) | Err(error))
    let mut outcome: Vec<Option<(Instant, Result<RecordMetadata, ProduceError>)>> =
        vec![None; history.sent.len()];
    let mut closed = Vec::new();
    for (pos, (at, out)) in history.outputs.iter().enumerate() {
        let (id, record, result) = match out {
            Observed::Delivered {
                id,
                metadata,
                record,
            } => (id, record, Ok(metadata.clone())),
            Observed::Failed { id, error, record } => (id, record, Err(error.clone())),
            Observed::Closed => {
                closed.push(pos);
                continue;
            }
            Observed::Network => continue,
        };
        let Some(&i) = index.get(id) else {
            v(
                ViolationKind::UnknownOutcome,
                format!("outcome for unknown {id:?}"),
            );
            continue;
        };
        if !same_record(record, &history.sent[i].record) {
            v(
                ViolationKind::RecordChanged,
                format!(
                    "{id:?} handed back as {} but sent as {}",
                    short(record),
                    short(&history.sent[i].record)
                ),
            );
        }
        if outcome[i].is_some() {
            v(
                ViolationKind::DuplicateOutcome,
                format!("{id:?} got a second outcome {out:?}"),
            );
            continue;
        }
        outcome[i] = Some((*at, result));
    }
    for (i, o) in outcome.iter().enumerate() {
        if o.is_none() {
            let s = &history.sent[i];
            v(
                ViolationKind::MissingOutcome,
                format!(
                    "{:?} {} sent at {:?} got no outcome",
                    s.id,
                    short(&s.record),
                    s.at
                ),
            );
        }
    }
    match closed.as_slice() {
        [pos] if *pos + 1 == history.outputs.len() => {}
        [pos] => v(
            ViolationKind::Close,
            format!("{} outputs after Closed", history.outputs.len() - pos - 1),
        ),
        [] => v(ViolationKind::Close, "Closed never emitted".to_owned()),
        many => v(
            ViolationKind::Close,
            format!("Closed emitted {} times", many.len()),
        ),
    }

    // 2. Refusals.
    for r in &history.refused {
        let ok = match &r.kind {
            SendErrorKind::BufferFull => !r.after_close,
            SendErrorKind::Closed => r.after_close,
            SendErrorKind::RecordTooLarge { .. } => {
                r.record.payload_len() + 1024 > options.message_max_bytes
            }
            _ => false,
        };
        if !ok {
            v(
                ViolationKind::WrongRefusal,
                format!(
                    "{} refused: {:?} (after close: {})",
                    short(&r.record),
                    r.kind,
                    r.after_close
                ),
            );
        }
    }
    for s in &history.sent {
        if s.record.payload_len() > options.message_max_bytes {
            v(
                ViolationKind::WrongRefusal,
                format!(
                    "{:?} of {} payload bytes accepted over message.max.bytes {}",
                    s.id,
                    s.record.payload_len(),
                    options.message_max_bytes
                ),
            );
        }
    }

    // 3. Each outcome on its own.
    let acks0 = options.acks == Acks::None;
    let mut key_partition: BTreeMap<(String, Bytes), (i32, RecordId)> = BTreeMap::new();
    for (i, o) in outcome.iter().enumerate() {
        let Some((_, result)) = o else { continue };
        let s = &history.sent[i];
        let known = options.topics.get(s.record.topic.as_str()).copied();
        match result {
            Ok(md) => {
                delivered += 1;
                if md.topic != s.record.topic
                    || s.record.partition.is_some_and(|p| p != md.partition)
                    || known.map_or(true, |n| md.partition < 0 || md.partition >= n)
                {
                    v(
                        ViolationKind::WrongPartition,
                        format!(
                            "{:?} {} (partition {:?}) delivered to {}-{}",
                            s.id,
                            short(&s.record),
                            s.record.partition,
                            md.topic,
                            md.partition
                        ),
                    );
                    continue;
                }
                if options.key_consistency && s.record.partition.is_none() {
                    if let Some(k) = &s.record.key {
                        let e = key_partition
                            .entry((md.topic.to_string(), k.clone()))
                            .or_insert((md.partition, s.id));
                        if e.0 != md.partition {
                            v(
                                ViolationKind::KeyInconsistency,
                                format!(
                                    "key {k:?} of {} went to partition {} ({:?}) and {} ({:?})",
                                    md.topic, e.0, e.1, md.partition, s.id
                                ),
                            );
                        }
                    }
                }
                if acks0 {
                    if md.offset != -1 {
                        v(
                            ViolationKind::WrongContent,
                            format!(
                                "{:?} delivered with offset {} under acks=0",
                                s.id, md.offset
                            ),
                        );
                    }
                    continue;
                }
                let log = logs.logs.get(&(md.topic.to_string(), md.partition));
                let Some(stored) =
                    log.and_then(|l| usize::try_from(md.offset).ok().and_then(|o| l.get(o)))
                else {
                    v(
                        ViolationKind::NotInLog,
                        format!(
                            "{:?} {} delivered at {}-{}@{} but the log has no such offset",
                            s.id,
                            short(&s.record),
                            md.topic,
                            md.partition,
                            md.offset
                        ),
                    );
                    continue;
                };
                let r = &s.record;
                if stored.key != r.key
                    || stored.value != r.value
                    || content(&md.topic, &stored.key, &stored.value, &stored.headers)
                        != content(&r.topic, &r.key, &r.value, &r.headers)
                {
                    v(
                        ViolationKind::WrongContent,
                        format!(
                            "{:?} {} delivered at {}-{}@{} but the log holds key {:?} value {:?}",
                            s.id,
                            short(r),
                            md.topic,
                            md.partition,
                            md.offset,
                            stored.key,
                            stored.value.as_ref().map(|x| x.len())
                        ),
                    );
                    continue;
                }
                if stored.timestamp != -1
                    && (stored.timestamp != md.timestamp
                        || r.timestamp.is_some_and(|t| t != stored.timestamp))
                {
                    v(
                        ViolationKind::WrongTimestamp,
                        format!(
                            "{:?} reported timestamp {} (asked {:?}), stored {}",
                            s.id, md.timestamp, r.timestamp, stored.timestamp
                        ),
                    );
                }
            }
            Err(e) => {
                failed += 1;
                let allowed = !options.expect_all_delivered
                    && match e {
                        ProduceError::RetriesExhausted(RetryCause::Broker(c)) => c.is_retriable(),
                        ProduceError::RetriesExhausted(_) | ProduceError::DeliveryTimeout => true,
                        ProduceError::UnknownTopic(_) => known.is_none(),
                        ProduceError::PartitionOutOfRange { .. } => {
                            known.map_or(true, |n| s.record.partition.is_some_and(|p| p >= n))
                        }
                        _ => false,
                    };
                let allowed =
                    allowed || (known.is_none() && matches!(e, ProduceError::UnknownTopic(_)));
                if !allowed {
                    v(
                        ViolationKind::UnexpectedFailure,
                        format!("{:?} {} failed: {e:?}", s.id, short(&s.record)),
                    );
                }
            }
        }
    }

    // 4. Order: per partition, delivered offsets strictly increase in send order.
    if !acks0 {
        let mut last: BTreeMap<(String, i32), (i64, usize)> = BTreeMap::new();
        for (i, o) in outcome.iter().enumerate() {
            if let Some((_, Ok(md))) = o {
                let key = (md.topic.to_string(), md.partition);
                if let Some(&(off, j)) = last.get(&key) {
                    if md.offset <= off {
                        v(ViolationKind::OutOfOrder, format!("{}-{}: {:?} (sent #{i}) at offset {} but earlier-sent {:?} (#{j}) at {off}", md.topic, md.partition, history.sent[i].id, md.offset, history.sent[j].id));
                    }
                }
                last.insert(key, (md.offset, i));
            }
        }
    }

    // 5. Every record in the logs: sent, and any extra copy explained.
    let mut by_content: BTreeMap<ContentKey, usize> = BTreeMap::new();
    for (i, s) in history.sent.iter().enumerate() {
        by_content.insert(
            content(
                &s.record.topic,
                &s.record.key,
                &s.record.value,
                &s.record.headers,
            ),
            i,
        );
    }
    let mut copies = vec![0usize; history.sent.len()];
    for ((topic, partition), log) in &logs.logs {
        for stored in log {
            let Some(&i) =
                by_content.get(&content(topic, &stored.key, &stored.value, &stored.headers))
            else {
                v(
                    ViolationKind::PhantomRecord,
                    format!(
                        "{topic}-{partition}@{} holds a record never sent (key {:?})",
                        stored.offset, stored.key
                    ),
                );
                continue;
            };
            copies[i] += 1;
            let (out_at, result) = match &outcome[i] {
                Some((at, r)) => (Some(*at), Some(r)),
                None => (None, None),
            };
            let canonical = matches!(result, Some(Ok(md)) if !acks0 && md.topic.as_str() == topic && md.partition == *partition && md.offset == stored.offset);
            if canonical {
                continue;
            }
            if let Some(Ok(md)) = result {
                if acks0 && (md.topic.as_str() != topic || md.partition != *partition) {
                    v(
                        ViolationKind::WrongPartition,
                        format!(
                            "{:?} reported at {}-{} but stored in {topic}-{partition}",
                            history.sent[i].id, md.topic, md.partition
                        ),
                    );
                }
            }
            if acks0 {
                continue; // counted below
            }
            if matches!(result, Some(Err(_))) && copies[i] == 1 {
                failed_but_written += 1;
            } else {
                duplicates += 1;
            }
            let fate = logs.appends.get(stored.append).map(|a| a.fate);
            let explained = match fate {
                Some(f) if f.explains_duplicates() => true,
                Some(AppendFate::Acknowledged(acked)) => out_at.is_some_and(|o| o < acked),
                _ => false,
            };
            if !explained {
                v(ViolationKind::UnexplainedDuplicate, format!("{:?} {} has a copy at {topic}-{partition}@{} (append fate {fate:?}) besides its outcome {:?}", history.sent[i].id, short(&history.sent[i].record), stored.offset, result));
            }
        }
    }
    if acks0 {
        for (i, n) in copies.iter().enumerate() {
            if *n > 1 {
                duplicates += n - 1;
                v(
                    ViolationKind::UnexplainedDuplicate,
                    format!("{:?} stored {n} times under acks=0", history.sent[i].id),
                );
            }
        }
    }
    CheckReport {
        violations,
        delivered,
        failed,
        duplicates,
        failed_but_written,
    }
}

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
