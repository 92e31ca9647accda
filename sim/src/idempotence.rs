//! The brokers' idempotent-producer state, kept per partition with its log, as Kafka 4.x's
//! `ProducerStateManager` keeps it (and snapshots it, so it survives restarts and moves with
//! leadership): for each producer id its current epoch, its last sequence number, and the
//! metadata of its last five batches (first and last sequence, base offset) to recognise a
//! retried batch.
//!
//! A batch with a producer id is checked, in Kafka's order:
//!
//! 1. the same epoch and the same first/last sequence as one of the five cached batches: a
//!    duplicate — the broker answers success with the original base offset and appends
//!    nothing;
//! 2. an epoch older than the current one: `INVALID_PRODUCER_EPOCH`;
//! 3. a newer epoch: the batch must start at sequence 0, else
//!    `OUT_OF_ORDER_SEQUENCE_NUMBER`; the five cached batches are forgotten;
//! 4. the same epoch: the batch must start right after the last sequence (wrapping from
//!    `i32::MAX` to 0), else `OUT_OF_ORDER_SEQUENCE_NUMBER`;
//! 5. no state for the producer at all (never written, or the state was lost): sequence 0 is
//!    accepted, any other is `UNKNOWN_PRODUCER_ID`.
//!
//! On the last point the simulation answers as Kafka 0.11–2.4 did. Kafka 2.5+ (KIP-360)
//! accepts any sequence when it has no state, because losing the state is only expected once
//! the producer's records left the log; the older answer is kept because it is the one that
//! makes the producer prove its recovery (bump the epoch, restart its sequences at 0). For a
//! correct producer both lead to the same log.

use std::collections::{BTreeMap, VecDeque};

/// How many batches per producer Kafka remembers to recognise retries.
pub const CACHED_BATCHES: usize = 5;

/// One remembered batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    /// The cluster's index of the append that wrote it.
    pub append: usize,
}

/// One producer's state on one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    pub last_seq: i32,
    pub batches: VecDeque<BatchMeta>,
    /// Appends of this producer to the partition whose answer may still not have reached it
    /// (indices into the cluster's appends); pruned lazily.
    pub unanswered: Vec<usize>,
    /// The state was lost (a fault): only the epoch is remembered, so that sequence 0 of
    /// that same epoch — which a long-lived producer reaches by wrapping — is not mistaken
    /// for a new producer's first batch. A newer epoch starting at 0 is accepted.
    pub lost: bool,
    /// A fencing fault moved the epoch on (another instance took the id): an older epoch
    /// is refused INVALID_PRODUCER_EPOCH even after the rest of the state is lost.
    pub fenced: bool,
}

/// What to do with an idempotent batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Append it (then call [`ProducerStates::record`]).
    Append,
    /// A retry of a batch already in the log at this base offset: answer success, append
    /// nothing.
    Duplicate(i64),
    /// Refuse it with this error code.
    Refuse(odradek_core::protocol::ErrorCode),
}

/// The sequence number after `seq`, wrapping as Kafka does.
pub(crate) fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// The last sequence of a batch of `count` records starting at `first`, wrapping.
pub(crate) fn last_seq(first: i32, count: usize) -> i32 {
    let span = (count.max(1) - 1) as i64;
    ((first as i64 + span) % (i32::MAX as i64 + 1)) as i32
}

/// The producer states of one partition, by producer id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProducerStates {
    pub entries: BTreeMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Judges a batch of `count` records from `pid`/`epoch` starting at sequence `first`.
    pub fn check(&self, pid: i64, epoch: i16, first: i32, count: usize) -> Verdict {
        use odradek_core::protocol::ErrorCode;
        let Some(e) = self.entries.get(&pid) else {
            return if first == 0 {
                Verdict::Append
            } else {
                Verdict::Refuse(ErrorCode::UNKNOWN_PRODUCER_ID)
            };
        };
        if e.lost {
            if e.fenced && epoch < e.epoch {
                return Verdict::Refuse(ErrorCode::INVALID_PRODUCER_EPOCH);
            }
            return if first == 0 && epoch > e.epoch {
                Verdict::Append
            } else {
                Verdict::Refuse(ErrorCode::UNKNOWN_PRODUCER_ID)
            };
        }
        let last = last_seq(first, count);
        if epoch == e.epoch {
            if let Some(b) = e
                .batches
                .iter()
                .find(|b| b.first_seq == first && b.last_seq == last)
            {
                return Verdict::Duplicate(b.base_offset);
            }
        }
        if epoch < e.epoch {
            return Verdict::Refuse(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        let expected = if epoch > e.epoch {
            0
        } else {
            next_seq(e.last_seq)
        };
        if first != expected {
            return Verdict::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        }
        Verdict::Append
    }

    /// Forgets `pid`'s state but its epoch ([`ProducerEntry::lost`]).
    pub fn lose(&mut self, pid: i64) {
        if let Some(e) = self.entries.get_mut(&pid) {
            e.lost = true;
            e.batches.clear();
        }
    }

    /// Records an appended batch (after [`check`](Self::check) said [`Verdict::Append`]).
    pub fn record(
        &mut self,
        pid: i64,
        epoch: i16,
        first: i32,
        count: usize,
        base_offset: i64,
        append: usize,
    ) {
        let e = self.entries.entry(pid).or_insert_with(|| ProducerEntry {
            epoch,
            ..ProducerEntry::default()
        });
        if e.epoch != epoch || e.lost {
            e.epoch = epoch;
            e.batches.clear();
            e.lost = false;
        }
        let last = last_seq(first, count);
        e.last_seq = last;
        if e.batches.len() == CACHED_BATCHES {
            e.batches.pop_front();
        }
        e.batches.push_back(BatchMeta {
            first_seq: first,
            last_seq: last,
            base_offset,
            append,
        });
        e.unanswered.push(append);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odradek_core::protocol::ErrorCode;

    fn appended(s: &mut ProducerStates, pid: i64, epoch: i16, first: i32, n: usize, off: i64) {
        assert_eq!(s.check(pid, epoch, first, n), Verdict::Append);
        s.record(pid, epoch, first, n, off, 0);
    }

    #[test]
    fn sequences_must_follow_and_retries_of_the_last_five_are_duplicates() {
        let mut s = ProducerStates::default();
        // A new producer must start at 0.
        assert_eq!(
            s.check(7, 0, 3, 2),
            Verdict::Refuse(ErrorCode::UNKNOWN_PRODUCER_ID)
        );
        for i in 0..7 {
            appended(&mut s, 7, 0, i * 2, 2, 100 + i as i64 * 2);
        }
        // Last five batches (seq 4..13) are recognised with their offsets.
        assert_eq!(s.check(7, 0, 12, 2), Verdict::Duplicate(112));
        assert_eq!(s.check(7, 0, 4, 2), Verdict::Duplicate(104));
        // Older ones, partial overlaps and gaps are out of order.
        for (first, n) in [(2, 2), (12, 1), (13, 2), (15, 1), (0, 2)] {
            assert_eq!(
                s.check(7, 0, first, n),
                Verdict::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER),
                "first {first} count {n}"
            );
        }
        assert_eq!(s.check(7, 0, 14, 3), Verdict::Append);
        // Another producer id has its own state.
        assert_eq!(s.check(8, 0, 0, 1), Verdict::Append);
    }

    #[test]
    fn epochs_fence_and_a_new_epoch_restarts_at_zero() {
        let mut s = ProducerStates::default();
        appended(&mut s, 1, 3, 0, 4, 0);
        assert_eq!(
            s.check(1, 2, 4, 1),
            Verdict::Refuse(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
        assert_eq!(
            s.check(1, 4, 4, 1),
            Verdict::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        appended(&mut s, 1, 4, 0, 1, 4);
        // The old epoch's batches are forgotten: a retry of them is fenced, not a duplicate.
        assert_eq!(
            s.check(1, 3, 0, 4),
            Verdict::Refuse(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
        assert_eq!(s.check(1, 4, 0, 1), Verdict::Duplicate(4));
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert_eq!(last_seq(i32::MAX - 1, 3), 0);
        assert_eq!(next_seq(i32::MAX), 0);
        let mut s = ProducerStates::default();
        appended(&mut s, 1, 0, 0, 1, 0);
        s.entries.get_mut(&1).unwrap().last_seq = i32::MAX - 2;
        appended(&mut s, 1, 0, i32::MAX - 1, 3, 1);
        assert_eq!(s.check(1, 0, 1, 1), Verdict::Append);
    }
}
