//! The invariant checker: the promises odradek-core makes, checked against what a run
//! observed ([`History`]) and what the brokers stored ([`LogSnapshot`]).
//!
//! Records are recognised in the logs by their content (topic, key, value, headers), so the
//! records of one run must be distinguishable; [`Workload`](crate::Workload) makes sure they are.

use crate::cluster::{AppendFate, AppendInfo, Cluster, StoredRecord};
use crate::wire::WireEvent;
use bytes::Bytes;
use odradek_core::protocol::ErrorCode;
use odradek_core::{
    Acks, Instant, ProduceError, Record, RecordId, RecordMetadata, RetryCause, SendErrorKind,
};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

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
        /// The record handed back (with `return_successes`).
        record: Option<Record>,
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
    /// Idempotent Produce requests sent and their resolutions, in the order the core saw
    /// them (recorded when idempotence is in force).
    pub wire: Vec<WireEvent>,
    /// Produce and Metadata requests the client transmitted and what their answers told it,
    /// with times (recorded when the cluster's client log is on).
    pub client: Vec<crate::client_log::ClientEvent>,
    /// When `close` was called, if it was.
    pub close_at: Option<Instant>,
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
    /// The longest a record may wait for its outcome after `send`: the delivery timeout plus
    /// one request timeout; `None` when there is no delivery timeout.
    pub outcome_deadline: Option<Duration>,
    /// Idempotence is in force: no record may be in a log twice, and the sequences of each
    /// producer id are contiguous per epoch.
    pub idempotent: bool,
    /// The latest a record may be appended after `send`: the delivery timeout plus the
    /// network's longest one-way latency (a request sent before the deadline arrives by
    /// then); `None` when there is no delivery timeout.
    pub write_deadline: Option<Duration>,
    /// Records sent at or after this instant (to topics that exist) must be delivered: the
    /// cluster had healed and settled by then. `None`: no such promise in this run.
    pub healed_at: Option<Instant>,
    /// The retry backoff policy (`retry.backoff.ms`, `retry.backoff.max.ms`): no record is
    /// sent again sooner than 0.8 x the policy's backoff for its attempt after the answer
    /// that refused it (checked from [`History::client`]). `None`: not checked.
    pub retry_backoff: Option<(Duration, Duration)>,
    /// After a NOT_LEADER_OR_FOLLOWER answer, the client sends a Metadata request within this
    /// long (the suite allows the refresh's backoff, a Metadata request in flight timing out
    /// and a slow answer on a new connection), and before it sends the refused records again.
    /// `None`: not checked.
    pub metadata_refresh_within: Option<Duration>,
    /// When brokers were down (crashed, back; `None`: never): a NOT_LEADER answer whose
    /// refresh window overlaps one is not held to [`metadata_refresh_within`]
    /// (the producer may have no broker to ask).
    ///
    /// [`metadata_refresh_within`]: Self::metadata_refresh_within
    pub broker_outages: Vec<(Instant, Option<Instant>)>,
    /// `Closed` comes within this long of the later of `close` and the last outcome before
    /// it (the last progress), even when a fault never heals. `None`: not checked.
    pub close_within: Option<Duration>,
    /// Without a delivery timeout: `Closed` comes within this long of the later of `close`
    /// and the last progress before it: a delivery, or a failure other than the close
    /// cut-off's (a delivery timeout or a connection error). `None`: not checked.
    pub close_after_delivery_within: Option<Duration>,
    /// The brokers may answer a recognised retry DUPLICATE_SEQUENCE_NUMBER without an offset:
    /// a record delivered with offset -1 (acks != 0) is then looked up in its partition's log.
    pub duplicate_answers: bool,
    /// The brokers refuse batches over this many bytes: a record that large alone may fail
    /// with MESSAGE_TOO_LARGE.
    pub broker_max_batch_bytes: Option<usize>,
    /// The cluster fenced the producer (INVALID_PRODUCER_EPOCH) at this instant: records may
    /// fail with `ProducerFenced` from then on.
    pub fenced_at: Option<Instant>,
    /// The run's close timed out here (`close_now`): records without an outcome then fail
    /// with `CloseTimedOut`, written or not.
    pub closed_now_at: Option<Instant>,
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
    /// The core held more than `buffer.memory` after an input (`buffered_bytes`), beyond the
    /// documented exception of one record alone.
    BufferMemory,
    /// An outcome arrived later than the delivery timeout plus one request timeout after
    /// the send.
    LateOutcome,
    /// With idempotence in force, a record is in a log more than once.
    IdempotentDuplicate,
    /// A record was written by a request sent after its delivery deadline (a retry that
    /// should have failed it).
    SentAfterDeadline,
    /// With idempotence in force, a log's sequence numbers for a producer id skip, repeat or
    /// go back within an epoch, or its epochs go back.
    SequenceGap,
    /// With idempotence in force, a retried batch was sent while a request carrying an
    /// earlier batch of its partition (same producer id and epoch) was still unresolved for
    /// the client (neither answered nor its connection dropped).
    RetryBeforeChaser,
    /// With idempotence in force, a batch was sent again under the same producer id, epoch
    /// and base sequence after the client had been told UNKNOWN_PRODUCER_ID for it (the
    /// producer must bump its epoch and restart the partition's sequences first).
    NoEpochBump,
    /// A record sent after the cluster healed (all brokers up, leaders known, no fault
    /// pending, settled) was not delivered.
    HealedNotDelivered,
    /// A record was sent again sooner after the answer that refused it than the retry
    /// backoff policy allows.
    RetryTooSoon,
    /// A NOT_LEADER_OR_FOLLOWER answer was not followed by a metadata refresh in time, or the
    /// refused records went out again before one.
    NoMetadataRefresh,
    /// `close` did not end within the request timeout of the last progress.
    SlowClose,
    /// A transaction the producer committed is not visible to a `read_committed` reader.
    TxnCommittedNotVisible,
    /// A transaction the producer aborted is visible to a `read_committed` reader.
    TxnAbortedVisible,
    /// A transaction is partly visible to a `read_committed` reader.
    TxnTorn,
    /// A transactional record is visible more than once.
    TxnVisibleTwice,
    /// A transactional producer's record in a log outside any transaction.
    TxnNonTransactional,
    /// A record of a fenced epoch, appended after the fence, is visible.
    TxnFencedWriteVisible,
    /// Offsets committed in a transaction visible without it committing, or not visible
    /// although it committed.
    TxnOffsets,
    /// A transactional producer alone with its `transactional.id` (no second instance to
    /// fence it) was fenced or failed fatally.
    TxnFatalAlone,
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
    /// Records checked by the healed-cluster promise.
    pub healed_checked: usize,
    /// Retries whose backoff was checked.
    pub backoff_checked: usize,
    /// NOT_LEADER answers whose metadata refresh was checked.
    pub metadata_checked: usize,
    /// Deliveries answered DUPLICATE_SEQUENCE_NUMBER (offset -1) found in the log.
    pub duplicate_deliveries: usize,
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
        && a.timestamp == b.timestamp
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

/// What a batch of one record adds to the record's payload at most (batch header, record
/// framing, a compression frame): a record this much under a broker's batch cap always fits.
pub(crate) const BATCH_SLACK: usize = 256;

/// What became of one accepted record: when its outcome was polled, and the outcome.
type Outcome = Option<(Instant, Result<RecordMetadata, ProduceError>)>;

/// The checker's working state: the inputs, the violations found so far and the counters.
struct Checker<'a> {
    history: &'a History,
    logs: &'a LogSnapshot,
    options: &'a CheckOptions,
    violations: Vec<Violation>,
    report: CheckReport,
    /// Per sent index: the record's copy in the log was answered with a hostile base offset,
    /// so its reported offset is not the log's and only its outcome count is checked.
    lied_to: Vec<bool>,
}

/// Sent records by content, to recognise them in the logs.
fn sent_by_content(history: &History) -> BTreeMap<ContentKey, usize> {
    history
        .sent
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let r = &s.record;
            (content(&r.topic, &r.key, &r.value, &r.headers), i)
        })
        .collect()
}

/// Per sent index, whether a copy of it is in an append answered with a hostile offset.
fn lied_to(history: &History, logs: &LogSnapshot) -> Vec<bool> {
    let mut out = vec![false; history.sent.len()];
    if !logs.appends.iter().any(|a| a.hostile_offset) {
        return out;
    }
    let by_content = sent_by_content(history);
    for ((topic, _), log) in &logs.logs {
        for r in log {
            if logs.appends.get(r.append).is_some_and(|a| a.hostile_offset) {
                if let Some(&i) = by_content.get(&content(topic, &r.key, &r.value, &r.headers)) {
                    out[i] = true;
                }
            }
        }
    }
    out
}

impl Checker<'_> {
    fn v(&mut self, kind: ViolationKind, description: String) {
        self.violations.push(Violation { kind, description });
    }

    fn acks0(&self) -> bool {
        self.options.acks == Acks::None
    }

    /// Promise: every accepted record gets exactly one outcome, for an id `send` returned;
    /// a failure hands the record back unchanged (rebuilt from its batch's bytes when it was
    /// encoded). Returns the outcome per sent index.
    fn exactly_one_outcome(&mut self) -> Vec<Outcome> {
        let history = self.history;
        let index: BTreeMap<RecordId, usize> = history
            .sent
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        let mut outcome: Vec<Outcome> = vec![None; history.sent.len()];
        for (at, out) in &history.outputs {
            let (id, record, result) = match out {
                Observed::Delivered {
                    id,
                    metadata,
                    record,
                } => (id, record.as_ref(), Ok(metadata.clone())),
                Observed::Failed { id, error, record } => (id, Some(record), Err(error.clone())),
                Observed::Closed | Observed::Network => continue,
            };
            let Some(&i) = index.get(id) else {
                self.v(
                    ViolationKind::UnknownOutcome,
                    format!("outcome for unknown {id:?}"),
                );
                continue;
            };
            // A failure hands back the record as sent, and so does a delivery with
            // `return_successes` (without, it hands none back).
            if let Some(record) = record.filter(|r| !same_record(r, &history.sent[i].record)) {
                self.v(
                    ViolationKind::RecordChanged,
                    format!(
                        "{id:?} handed back as {} but sent as {}",
                        short(record),
                        short(&history.sent[i].record)
                    ),
                );
            }
            if outcome[i].is_some() {
                self.v(
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
                self.v(
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
        outcome
    }

    /// Promise: `Closed` is emitted exactly once, as the last output.
    fn closed_once_and_last(&mut self) {
        let outputs = &self.history.outputs;
        let closed: Vec<usize> = outputs
            .iter()
            .enumerate()
            .filter(|(_, (_, o))| *o == Observed::Closed)
            .map(|(i, _)| i)
            .collect();
        match closed.as_slice() {
            [pos] if *pos + 1 == outputs.len() => {}
            [pos] => self.v(
                ViolationKind::Close,
                format!("{} outputs after Closed", outputs.len() - pos - 1),
            ),
            [] => self.v(ViolationKind::Close, "Closed never emitted".to_owned()),
            many => self.v(
                ViolationKind::Close,
                format!("Closed emitted {} times", many.len()),
            ),
        }
    }

    /// Promise: `send` refuses a record only for a reason that holds (buffer full before
    /// close, closed after it, too large), and never accepts one over `message.max.bytes`.
    fn refusals_justified(&mut self) {
        let (history, options) = (self.history, self.options);
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
                self.v(
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
                self.v(
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
    }

    /// Promise: each outcome is right on its own — a delivery names the record's partition
    /// and the offset where the log holds it, with its timestamp; keys stay on one
    /// partition; a failure is one the faults can explain.
    fn outcomes_correct(&mut self, outcome: &[Outcome]) {
        let (history, options) = (self.history, self.options);
        let mut key_partition: BTreeMap<(String, Bytes), (i32, RecordId)> = BTreeMap::new();
        for (i, o) in outcome.iter().enumerate() {
            let Some((at, result)) = o else { continue };
            let s = &history.sent[i];
            let known = options.topics.get(s.record.topic.as_str()).copied();
            match result {
                Ok(md) => {
                    self.report.delivered += 1;
                    if md.topic != s.record.topic
                        || s.record.partition.is_some_and(|p| p != md.partition)
                        || known.map_or(true, |n| md.partition < 0 || md.partition >= n)
                    {
                        self.v(
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
                                let msg = format!(
                                    "key {k:?} of {} went to partition {} ({:?}) and {} ({:?})",
                                    md.topic, e.0, e.1, md.partition, s.id
                                );
                                self.v(ViolationKind::KeyInconsistency, msg);
                            }
                        }
                    }
                    if !self.lied_to[i] {
                        self.delivery_in_log(s, md);
                    }
                }
                Err(e) => {
                    self.report.failed += 1;
                    let allowed = !options.expect_all_delivered
                        && match e {
                            ProduceError::RetriesExhausted(RetryCause::Broker(c)) => {
                                c.is_retriable()
                            }
                            // A lost producer state is fixed by an epoch bump, never by
                            // using up the retries.
                            ProduceError::RetriesExhausted(RetryCause::SequenceReset(_)) => false,
                            ProduceError::RetriesExhausted(_) | ProduceError::DeliveryTimeout => {
                                true
                            }
                            // A delivery timeout that names the malformed answer behind it
                            // (hostile values in an answer make it malformed).
                            ProduceError::Connection(c) => {
                                c.kind == odradek_core::ConnectionErrorKind::MalformedResponse
                            }
                            ProduceError::UnknownTopic(_) => known.is_none(),
                            // The brokers' cap refuses a batch of this record alone.
                            ProduceError::Broker(c) if *c == ErrorCode::MESSAGE_TOO_LARGE => {
                                options
                                    .broker_max_batch_bytes
                                    .is_some_and(|cap| s.record.payload_len() + BATCH_SLACK > cap)
                            }
                            ProduceError::ProducerFenced(_) => {
                                options.fenced_at.is_some_and(|t| *at >= t)
                            }
                            ProduceError::CloseTimedOut => options.closed_now_at == Some(*at),
                            ProduceError::PartitionOutOfRange { .. } => {
                                known.map_or(true, |n| s.record.partition.is_some_and(|p| p >= n))
                            }
                            _ => false,
                        };
                    let allowed =
                        allowed || (known.is_none() && matches!(e, ProduceError::UnknownTopic(_)));
                    if !allowed {
                        self.v(
                            ViolationKind::UnexpectedFailure,
                            format!("{:?} {} failed: {e:?}", s.id, short(&s.record)),
                        );
                    }
                }
            }
        }
    }

    /// Part of [`outcomes_correct`](Self::outcomes_correct): the log holds a delivered record
    /// at the reported offset, with the reported timestamp.
    fn delivery_in_log(&mut self, s: &SentRecord, md: &RecordMetadata) {
        if self.acks0() {
            if md.offset != -1 {
                self.v(
                    ViolationKind::WrongContent,
                    format!(
                        "{:?} delivered with offset {} under acks=0",
                        s.id, md.offset
                    ),
                );
            }
            return;
        }
        let log = self.logs.logs.get(&(md.topic.to_string(), md.partition));
        let Some(stored) = log.and_then(|l| usize::try_from(md.offset).ok().and_then(|o| l.get(o)))
        else {
            self.v(
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
            return;
        };
        let r = &s.record;
        if stored.key != r.key
            || stored.value != r.value
            || content(&md.topic, &stored.key, &stored.value, &stored.headers)
                != content(&r.topic, &r.key, &r.value, &r.headers)
        {
            self.v(
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
            return;
        }
        if stored.timestamp != -1
            && (stored.timestamp != md.timestamp
                || r.timestamp.is_some_and(|t| t != stored.timestamp))
        {
            self.v(
                ViolationKind::WrongTimestamp,
                format!(
                    "{:?} reported timestamp {} (asked {:?}), stored {}",
                    s.id, md.timestamp, r.timestamp, stored.timestamp
                ),
            );
        }
    }

    /// Promise: per partition, delivered offsets strictly increase in send order.
    fn send_order_kept(&mut self, outcome: &[Outcome]) {
        if self.acks0() {
            return;
        }
        let history = self.history;
        let mut last: BTreeMap<(String, i32), (i64, usize)> = BTreeMap::new();
        for (i, o) in outcome.iter().enumerate() {
            if self.lied_to[i] {
                continue;
            }
            if let Some((_, Ok(md))) = o {
                let key = (md.topic.to_string(), md.partition);
                if let Some(&(off, j)) = last.get(&key) {
                    if md.offset <= off {
                        let msg = format!(
                            "{}-{}: {:?} (sent #{i}) at offset {} but earlier-sent {:?} (#{j}) \
                             at {off}",
                            md.topic,
                            md.partition,
                            history.sent[i].id,
                            md.offset,
                            history.sent[j].id
                        );
                        self.v(ViolationKind::OutOfOrder, msg);
                    }
                }
                last.insert(key, (md.offset, i));
            }
        }
    }

    /// Promise: every record's outcome arrives no later than its delivery timeout plus one
    /// request timeout after its send (the last request may be answered, or time out, after
    /// the delivery deadline).
    fn outcome_within_delivery_timeout(&mut self, outcome: &[Outcome]) {
        let Some(bound) = self.options.outcome_deadline else {
            return;
        };
        let history = self.history;
        for (i, o) in outcome.iter().enumerate() {
            let Some((at, result)) = o else { continue };
            let s = &history.sent[i];
            let late = at.saturating_duration_since(s.at);
            if late > bound {
                let what = if result.is_ok() {
                    "delivered"
                } else {
                    "failed"
                };
                let msg = format!(
                    "{:?} {} sent at {:?} {what} {late:?} later, over the bound {bound:?} \
                     (delivery timeout + request timeout)",
                    s.id,
                    short(&s.record),
                    s.at
                );
                self.v(ViolationKind::LateOutcome, msg);
            }
        }
    }

    /// Promise: no record is sent after its delivery deadline — every copy in the logs was
    /// appended within the delivery timeout plus one network latency of the record's send.
    fn no_send_after_delivery_deadline(&mut self) {
        let Some(bound) = self.options.write_deadline else {
            return;
        };
        let (history, logs) = (self.history, self.logs);
        let by_content = sent_by_content(history);
        for ((topic, partition), log) in &logs.logs {
            for r in log {
                let Some(&i) = by_content.get(&content(topic, &r.key, &r.value, &r.headers)) else {
                    continue; // a phantom, reported elsewhere
                };
                let Some(a) = logs.appends.get(r.append) else {
                    continue;
                };
                let s = &history.sent[i];
                let after = a.at.saturating_duration_since(s.at);
                if after > bound {
                    let msg = format!(
                        "{:?} {} sent at {:?} appended at {topic}-{partition}@{} {after:?} later, \
                         past its delivery deadline (bound {bound:?})",
                        s.id,
                        short(&s.record),
                        s.at,
                        r.offset
                    );
                    self.v(ViolationKind::SentAfterDeadline, msg);
                }
            }
        }
    }

    /// Promise: every record in the logs was sent, and any extra copy is explained by a
    /// response the producer never saw (without idempotence) — with idempotence in force,
    /// there is no extra copy at all.
    fn log_copies_explained(&mut self, outcome: &[Outcome]) {
        let (history, logs) = (self.history, self.logs);
        let acks0 = self.acks0();
        let idempotent = self.options.idempotent;
        let by_content = sent_by_content(history);
        let mut copies = vec![0usize; history.sent.len()];
        for ((topic, partition), log) in &logs.logs {
            for stored in log {
                if stored.control.is_some() {
                    continue; // a transaction marker, written by the coordinator
                }
                let Some(&i) =
                    by_content.get(&content(topic, &stored.key, &stored.value, &stored.headers))
                else {
                    self.v(
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
                let canonical = matches!(result, Some(Ok(md)) if !acks0
                    && md.topic.as_str() == topic
                    && md.partition == *partition
                    && md.offset == stored.offset);
                if canonical || self.lied_to[i] {
                    continue;
                }
                if let Some(Ok(md)) = result {
                    if acks0 && (md.topic.as_str() != topic || md.partition != *partition) {
                        let msg = format!(
                            "{:?} reported at {}-{} but stored in {topic}-{partition}",
                            history.sent[i].id, md.topic, md.partition
                        );
                        self.v(ViolationKind::WrongPartition, msg);
                    }
                }
                if acks0 {
                    continue; // counted below
                }
                if matches!(result, Some(Err(_))) && copies[i] == 1 {
                    self.report.failed_but_written += 1;
                } else {
                    self.report.duplicates += 1;
                }
                let fate = logs.appends.get(stored.append).map(|a| a.fate);
                // In flight when the close timed out: it may have been written.
                let close_timed_out = matches!(result, Some(Err(ProduceError::CloseTimedOut)))
                    && out_at.is_some()
                    && out_at == self.options.closed_now_at;
                let explained = close_timed_out
                    || match fate {
                        Some(f) if f.explains_duplicates() => true,
                        Some(AppendFate::Acknowledged(acked)) => out_at.is_some_and(|o| o < acked),
                        _ => false,
                    };
                if !explained {
                    let msg = format!(
                        "{:?} {} has a copy at {topic}-{partition}@{} (append fate {fate:?}) \
                         besides its outcome {:?}",
                        history.sent[i].id,
                        short(&history.sent[i].record),
                        stored.offset,
                        result
                    );
                    self.v(ViolationKind::UnexplainedDuplicate, msg);
                }
            }
        }
        for (i, n) in copies.iter().enumerate() {
            if *n <= 1 {
                continue;
            }
            if acks0 {
                self.report.duplicates += n - 1;
                self.v(
                    ViolationKind::UnexplainedDuplicate,
                    format!("{:?} stored {n} times under acks=0", history.sent[i].id),
                );
            } else if idempotent {
                let msg = format!(
                    "{:?} {} stored {n} times although the producer is idempotent",
                    history.sent[i].id,
                    short(&history.sent[i].record)
                );
                self.v(ViolationKind::IdempotentDuplicate, msg);
            }
        }
    }
}

/// Checks every promise; see [`ViolationKind`] for the list. Each promise is one function
/// of the checker, named after it.
pub fn check(history: &History, logs: &LogSnapshot, options: &CheckOptions) -> CheckReport {
    let mut c = Checker {
        history,
        logs,
        options,
        violations: Vec::new(),
        report: CheckReport::default(),
        lied_to: lied_to(history, logs),
    };
    let mut outcome = c.exactly_one_outcome();
    c.resolve_duplicate_answers(&mut outcome);
    c.closed_once_and_last();
    c.refusals_justified();
    c.outcomes_correct(&outcome);
    c.send_order_kept(&outcome);
    c.outcome_within_delivery_timeout(&outcome);
    c.no_send_after_delivery_deadline();
    c.log_copies_explained(&outcome);
    c.sequences_contiguous_per_epoch();
    c.retries_wait_for_the_old_path();
    c.unknown_producer_bumps_the_epoch();
    c.healed_records_delivered(&outcome);
    c.retries_respect_the_backoff();
    c.not_leader_refreshes_metadata();
    c.close_ends_in_time();
    CheckReport {
        violations: c.violations,
        ..c.report
    }
}

mod timeliness;
pub mod transactions;
mod wire_promises;

#[cfg(test)]
#[path = "checker/txn_tests.rs"]
mod txn_tests;

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
