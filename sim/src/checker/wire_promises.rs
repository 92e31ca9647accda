//! The promises checked from the wire log ([`History::wire`](super::History::wire)): the
//! idempotent Produce requests the core sent and how each was resolved, in the order the
//! core saw them.

use super::{Checker, ViolationKind};
use crate::wire::{BatchKey, WireEvent};
use std::collections::{BTreeMap, BTreeSet};

impl Checker<'_> {
    /// Promise (idempotence in force): per partition, the log's records of each producer id
    /// carry sequence numbers that are contiguous within an epoch, and epochs never go back.
    pub(super) fn sequences_contiguous_per_epoch(&mut self) {
        if !self.options.idempotent {
            return;
        }
        let logs = self.logs;
        for ((topic, partition), log) in &logs.logs {
            // producer id -> (epoch, last sequence, offset)
            let mut last: BTreeMap<i64, (i16, i32, i64)> = BTreeMap::new();
            for r in log {
                if r.control.is_some() {
                    continue; // a transaction marker: no sequence
                }
                if r.producer_id < 0 {
                    let msg = format!(
                        "{topic}-{partition}@{} written without a producer id although the \
                         producer is idempotent",
                        r.offset
                    );
                    self.v(ViolationKind::SequenceGap, msg);
                    continue;
                }
                let here = (r.producer_epoch, r.sequence, r.offset);
                if let Some(&(epoch, seq, off)) = last.get(&r.producer_id) {
                    let next = if seq == i32::MAX { 0 } else { seq + 1 };
                    let ok = if r.producer_epoch == epoch {
                        r.sequence == next
                    } else {
                        r.producer_epoch > epoch
                    };
                    if !ok {
                        let msg = format!(
                            "{topic}-{partition}: producer {} epoch {} sequence {} at offset {} \
                             follows epoch {epoch} sequence {seq} at offset {off}",
                            r.producer_id, r.producer_epoch, r.sequence, r.offset
                        );
                        self.v(ViolationKind::SequenceGap, msg);
                    }
                }
                last.insert(r.producer_id, here);
            }
        }
    }
}

/// Whether sequence `a` comes after `b` in Kafka's wrapping sequence space (less than half the
/// space ahead).
fn seq_after(a: i32, b: i32) -> bool {
    let d = (i64::from(a) - i64::from(b)).rem_euclid(1 << 31);
    d > 0 && d < 1 << 30
}

impl Checker<'_> {
    /// Promise (idempotence in force): a retry waits for the old path. When a batch of
    /// partition P (producer id I, epoch E, base sequence s) is sent again, no request
    /// carrying a batch of P with I and E sent before it is still unresolved for the client:
    /// each was answered (its response handed to the core) or its connection reported gone.
    pub(super) fn retries_wait_for_the_old_path(&mut self) {
        if !self.options.idempotent {
            return;
        }
        type Path = (String, i32, i64, i16);
        fn path(b: &BatchKey) -> Path {
            (b.topic.clone(), b.partition, b.producer_id, b.epoch)
        }
        // Unresolved requests: connection -> correlation id -> their batches.
        let mut open: BTreeMap<odradek_core::ConnId, BTreeMap<i32, Vec<BatchKey>>> =
            BTreeMap::new();
        // Per path, the unresolved requests carrying a batch of it: (connection, correlation
        // id) -> base sequence.
        let mut outstanding: BTreeMap<Path, BTreeMap<(odradek_core::ConnId, i32), i32>> =
            BTreeMap::new();
        let mut seen: BTreeSet<BatchKey> = BTreeSet::new();
        // Per path, the highest base sequence sent (wrapping order).
        let mut highest: BTreeMap<Path, i32> = BTreeMap::new();
        fn resolve(
            outstanding: &mut BTreeMap<Path, BTreeMap<(odradek_core::ConnId, i32), i32>>,
            conn: odradek_core::ConnId,
            correlation: i32,
            batches: &[BatchKey],
        ) {
            for b in batches {
                let p = path(b);
                if let Some(m) = outstanding.get_mut(&p) {
                    m.remove(&(conn, correlation));
                    if m.is_empty() {
                        outstanding.remove(&p);
                    }
                }
            }
        }
        let mut reported: BTreeSet<Path> = BTreeSet::new();
        // Per path, the current busy stretch (since it last had nothing unresolved): whether
        // its first send was a retry, and the sequences sent in it.
        let mut stretches: BTreeMap<Path, (bool, BTreeSet<i32>)> = BTreeMap::new();
        for ev in &self.history.wire {
            match ev {
                WireEvent::Sent {
                    conn,
                    correlation,
                    batches,
                } => {
                    for b in batches {
                        let p = path(b);
                        // A retry: the same batch again, or part of one sent before (a split
                        // half starts inside the range of the batch it came from: at or before
                        // the highest base sequence sent on the path, in wrapping order).
                        let seen_before = !seen.insert(b.clone());
                        let behind = highest
                            .get(&p)
                            .is_some_and(|&h| !seq_after(b.base_sequence, h));
                        if !behind {
                            highest.insert(p.clone(), b.base_sequence);
                        }
                        let retry = seen_before || behind;
                        let quiet = outstanding.get(&p).is_none_or(|m| m.is_empty());
                        let stretch = stretches.entry(p.clone()).or_default();
                        if quiet {
                            // Nothing of the partition out: a new busy stretch begins.
                            *stretch = (retry, BTreeSet::new());
                        } else if retry && !reported.contains(&p) {
                            let why = if stretch.1.contains(&b.base_sequence) {
                                "it was already sent since the partition last had nothing \
                                 in flight"
                            } else if !stretch.0 {
                                "new batches went out after the partition last had nothing \
                                 in flight, before this retry"
                            } else {
                                ""
                            };
                            if !why.is_empty() {
                                let others: Vec<String> = outstanding
                                    .get(&p)
                                    .into_iter()
                                    .flatten()
                                    .map(|((c, k), s)| format!("{c:?} corr {k} (sequence {s})"))
                                    .collect();
                                let msg = format!(
                                    "{}-{}: producer {} epoch {} retried sequence {} on \
                                     {conn:?} corr {correlation} while requests of the \
                                     partition sent before the retry began were unresolved \
                                     ({why}): {}",
                                    b.topic,
                                    b.partition,
                                    b.producer_id,
                                    b.epoch,
                                    b.base_sequence,
                                    others.join(", ")
                                );
                                reported.insert(p.clone());
                                self.v(ViolationKind::RetryBeforeChaser, msg);
                            }
                        }
                        stretch.1.insert(b.base_sequence);
                    }
                    for b in batches {
                        outstanding
                            .entry(path(b))
                            .or_default()
                            .insert((*conn, *correlation), b.base_sequence);
                    }
                    let old = open
                        .entry(*conn)
                        .or_default()
                        .insert(*correlation, batches.clone());
                    if let Some(old) = old {
                        resolve(&mut outstanding, *conn, *correlation, &old);
                        // Re-add this request's own batches (same key).
                        for b in batches {
                            outstanding
                                .entry(path(b))
                                .or_default()
                                .insert((*conn, *correlation), b.base_sequence);
                        }
                    }
                }
                WireEvent::Answered { conn, correlation } => {
                    if let Some(batches) = open.get_mut(conn).and_then(|m| m.remove(correlation)) {
                        resolve(&mut outstanding, *conn, *correlation, &batches);
                    }
                }
                WireEvent::Dropped { conn } => {
                    for (correlation, batches) in open.remove(conn).unwrap_or_default() {
                        resolve(&mut outstanding, *conn, correlation, &batches);
                    }
                }
                WireEvent::RefusedUnknownProducer { .. } => {}
            }
        }
    }

    /// Promise (idempotence in force): UNKNOWN_PRODUCER_ID is acted on. Once the client has
    /// received an answer refusing a batch (producer id, epoch, base sequence) with
    /// UNKNOWN_PRODUCER_ID, it never sends that same batch identity again: the broker lost
    /// the producer's state, so the partition restarts its sequences under a bumped epoch (or
    /// a new id). A refusal whose answer never reached the client (lost, or its connection
    /// dropped first) does not count: the client may retry what it never heard about.
    pub(super) fn unknown_producer_bumps_the_epoch(&mut self) {
        if !self.options.idempotent {
            return;
        }
        // Refusals the broker made whose answers are still on their way: (connection,
        // correlation id) -> batches.
        let mut pending: BTreeMap<(odradek_core::ConnId, i32), Vec<BatchKey>> = BTreeMap::new();
        // Batch identities the client knows were refused with UNKNOWN_PRODUCER_ID.
        let mut told: BTreeSet<BatchKey> = BTreeSet::new();
        let mut reported: BTreeSet<BatchKey> = BTreeSet::new();
        for ev in &self.history.wire {
            match ev {
                WireEvent::RefusedUnknownProducer {
                    conn,
                    correlation,
                    batch,
                } => pending
                    .entry((*conn, *correlation))
                    .or_default()
                    .push(batch.clone()),
                WireEvent::Answered { conn, correlation } => {
                    told.extend(pending.remove(&(*conn, *correlation)).unwrap_or_default());
                }
                WireEvent::Dropped { conn } => pending.retain(|(c, _), _| c != conn),
                WireEvent::Sent {
                    conn,
                    correlation,
                    batches,
                } => {
                    for b in batches {
                        if told.contains(b) && reported.insert(b.clone()) {
                            let msg = format!(
                                "{}-{}: producer {} epoch {} sequence {} sent again on {conn:?} \
                                 corr {correlation} after the client was told \
                                 UNKNOWN_PRODUCER_ID for it: no epoch bump",
                                b.topic, b.partition, b.producer_id, b.epoch, b.base_sequence
                            );
                            self.v(ViolationKind::NoEpochBump, msg);
                        }
                    }
                }
            }
        }
    }
}
