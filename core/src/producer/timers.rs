//! Per-partition deadlines in one min-heap: each partition's next linger end, retry backoff
//! end or record delivery deadline, whichever comes first, so that a timeout looks only at the
//! partitions that are due and the next wake-up is the heap's top (issue 22).
//!
//! One deadline is armed per partition ([`PartitionTimers::arm`]); re-arming replaces it.
//! Entries are deleted lazily: the heap may hold entries of deadlines replaced since, told
//! apart by a stamp, and skipped when they reach the top. They cannot pile up: when the heap
//! holds more than twice as many entries as partitions are armed (plus a small constant), the
//! stale ones are dropped at once ([`BinaryHeap::retain`]), a cost paid for by the re-arms
//! that made them stale.

use super::PartitionRef;
use crate::output::TimeoutReason;
use crate::time::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Stale entries tolerated beyond the live ones before the heap is compacted.
const SLACK: usize = 64;

/// One heap entry: partition `part` is due at `at`, valid while its armed stamp is `stamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Instant,
    part: PartitionRef,
    stamp: u64,
}

/// A partition's armed deadline and the stamp of its heap entry.
#[derive(Debug, Clone, Copy, Default)]
struct Armed {
    at: Option<(Instant, TimeoutReason)>,
    stamp: u64,
}

/// The partitions' deadlines: at most one armed per partition.
#[derive(Debug, Default)]
pub(crate) struct PartitionTimers {
    heap: BinaryHeap<Reverse<Entry>>,
    /// Per topic, per partition index (grown on demand).
    armed: Vec<Vec<Armed>>,
    /// Partitions with a deadline armed.
    live: usize,
    /// The stamp the next armed entry gets.
    next_stamp: u64,
}

impl PartitionTimers {
    fn slot(&mut self, part: PartitionRef) -> &mut Armed {
        let t = part.topic.0;
        if self.armed.len() <= t {
            self.armed.resize_with(t + 1, Vec::new);
        }
        let row = &mut self.armed[t];
        if row.len() <= part.index {
            row.resize(part.index + 1, Armed::default());
        }
        &mut row[part.index]
    }

    fn get(&self, part: PartitionRef) -> Option<&Armed> {
        self.armed.get(part.topic.0)?.get(part.index)
    }

    fn valid(&self, e: &Entry) -> bool {
        self.get(e.part)
            .is_some_and(|a| a.stamp == e.stamp && a.at.is_some_and(|(at, _)| at == e.at))
    }

    /// Sets partition `part`'s deadline to `deadline` (`None`: no deadline), replacing the
    /// one armed before. Arming the deadline already armed changes nothing.
    pub(crate) fn arm(&mut self, part: PartitionRef, deadline: Option<(Instant, TimeoutReason)>) {
        let stamp = self.next_stamp;
        let slot = self.slot(part);
        if slot.at.map(|(at, _)| at) == deadline.map(|(at, _)| at) {
            slot.at = deadline;
            return;
        }
        let was_live = slot.at.is_some();
        slot.at = deadline;
        slot.stamp = stamp;
        match (was_live, deadline.is_some()) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
        if let Some((at, _)) = deadline {
            self.next_stamp += 1;
            self.heap.push(Reverse(Entry { at, part, stamp }));
        }
        if self.heap.len() > 2 * self.live + SLACK {
            let armed = std::mem::take(&mut self.armed);
            self.heap.retain(|Reverse(e)| {
                armed
                    .get(e.part.topic.0)
                    .and_then(|row| row.get(e.part.index))
                    .is_some_and(|a| a.stamp == e.stamp && a.at.is_some_and(|(at, _)| at == e.at))
            });
            self.armed = armed;
        }
    }

    /// Disarms every partition whose deadline is at or before `now`, handing each to `due`.
    pub(crate) fn pop_due(&mut self, now: Instant, mut due: impl FnMut(PartitionRef)) {
        while let Some(Reverse(e)) = self.heap.peek().copied() {
            if e.at > now {
                if self.valid(&e) {
                    break;
                }
                self.heap.pop();
                continue;
            }
            self.heap.pop();
            if self.valid(&e) {
                self.slot(e.part).at = None;
                self.live -= 1;
                due(e.part);
            }
        }
    }

    /// The earliest armed deadline (stale entries at the top are dropped on the way).
    pub(crate) fn next(&mut self) -> Option<(Instant, TimeoutReason)> {
        while let Some(Reverse(e)) = self.heap.peek().copied() {
            if self.valid(&e) {
                return self.get(e.part).and_then(|a| a.at);
            }
            self.heap.pop();
        }
        None
    }

    /// Hands every partition with a deadline armed to `f` (in no particular order): a walk
    /// over the heap, so proportional to the partitions with a deadline (an open batch, a
    /// backoff, a record waiting), not to all of them.
    pub(crate) fn for_each_armed(&self, mut f: impl FnMut(PartitionRef)) {
        for Reverse(e) in self.heap.iter() {
            if self.valid(e) {
                f(e.part);
            }
        }
    }

    /// The deadline armed for `part`.
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn armed(&self, part: PartitionRef) -> Option<(Instant, TimeoutReason)> {
        self.get(part).and_then(|a| a.at)
    }

    /// Heap entries, stale ones included.
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::topic::TopicIdx;
    use std::time::Duration;

    fn p(index: usize) -> PartitionRef {
        PartitionRef {
            topic: TopicIdx(0),
            index,
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn the_earliest_deadline_comes_first_and_re_arming_replaces() {
        let mut t = PartitionTimers::default();
        t.arm(p(1), Some((at(30), TimeoutReason::Linger)));
        t.arm(p(2), Some((at(20), TimeoutReason::RetryBackoff)));
        t.arm(p(3), Some((at(40), TimeoutReason::DeliveryTimeout)));
        assert_eq!(t.next(), Some((at(20), TimeoutReason::RetryBackoff)));
        // Partition 2 re-armed later: partition 1 is next; the old entry is skipped.
        t.arm(p(2), Some((at(50), TimeoutReason::Linger)));
        assert_eq!(t.next(), Some((at(30), TimeoutReason::Linger)));
        t.arm(p(1), None);
        assert_eq!(t.next(), Some((at(40), TimeoutReason::DeliveryTimeout)));
        let mut due = Vec::new();
        t.pop_due(at(45), |part| due.push(part));
        assert_eq!(due, vec![p(3)]);
        assert_eq!(t.armed(p(3)), None);
        assert_eq!(t.next(), Some((at(50), TimeoutReason::Linger)));
        t.pop_due(at(50), |part| due.push(part));
        assert_eq!(due, vec![p(3), p(2)]);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn a_deadline_armed_back_to_an_old_value_fires_once() {
        let mut t = PartitionTimers::default();
        t.arm(p(0), Some((at(10), TimeoutReason::Linger)));
        t.arm(p(0), Some((at(20), TimeoutReason::Linger)));
        t.arm(p(0), Some((at(10), TimeoutReason::Linger)));
        let mut due = Vec::new();
        t.pop_due(at(100), |part| due.push(part));
        assert_eq!(due, vec![p(0)]);
    }

    #[test]
    fn stale_entries_stay_bounded() {
        let mut t = PartitionTimers::default();
        for round in 0..10_000u64 {
            for i in 0..3 {
                t.arm(
                    p(i),
                    Some((at(round * 3 + i as u64 + 1), TimeoutReason::Linger)),
                );
            }
        }
        assert!(t.entries() <= 2 * 3 + SLACK, "{} entries", t.entries());
        let mut armed = Vec::new();
        t.for_each_armed(|part| armed.push(part));
        armed.sort();
        assert_eq!(armed, vec![p(0), p(1), p(2)]);
        assert_eq!(t.next(), Some((at(29_998), TimeoutReason::Linger)));
    }
}
