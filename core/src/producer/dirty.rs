//! The dirty set: partitions an input changed, so that the next pass over partitions
//! ([`ProducerCore::advance`](super::ProducerCore)) looks at those (and at those whose deadline
//! is due, [`super::timers`]) instead of at every partition (issue 22).
//!
//! A partition is marked by whatever changes it: [`ProducerCore::partition_mut`] marks the
//! partition it hands out (a Produce response, a failed or retried batch, a request built), a
//! metadata answer marks the partitions whose leader changed, records released after a
//! metadata answer mark theirs, a flush marks the partitions with a deadline armed (every open
//! batch whose linger is ahead has one), and the rare inputs that change every partition (a new
//! producer id or epoch, `close`) mark every one. Each partition is listed at most once.
//!
//! [`ProducerCore::partition_mut`]: super::ProducerCore

use super::PartitionRef;

/// Partitions marked since the last [`take`](DirtySet::take), each once.
#[derive(Debug, Default)]
pub(crate) struct DirtySet {
    list: Vec<PartitionRef>,
    /// Per topic, per partition index: whether it is in `list` (grown on demand).
    marked: Vec<Vec<bool>>,
}

impl DirtySet {
    /// Marks partition `at`.
    #[inline]
    pub(crate) fn mark(&mut self, at: PartitionRef) {
        let t = at.topic.0;
        if let Some(flag) = self.marked.get_mut(t).and_then(|row| row.get_mut(at.index)) {
            if !*flag {
                *flag = true;
                self.list.push(at);
            }
            return;
        }
        if self.marked.len() <= t {
            self.marked.resize_with(t + 1, Vec::new);
        }
        let row = &mut self.marked[t];
        if row.len() <= at.index {
            row.resize(at.index + 1, false);
        }
        row[at.index] = true;
        self.list.push(at);
    }

    /// Whether partition `at` is marked.
    #[inline]
    pub(crate) fn contains(&self, at: PartitionRef) -> bool {
        self.marked
            .get(at.topic.0)
            .and_then(|row| row.get(at.index))
            .is_some_and(|&f| f)
    }

    /// Moves the marked partitions into `out` (cleared first), in partition order, and
    /// unmarks them.
    pub(crate) fn take(&mut self, out: &mut Vec<PartitionRef>) {
        out.clear();
        std::mem::swap(out, &mut self.list);
        out.sort_unstable();
        for at in out.iter() {
            if let Some(flag) = self
                .marked
                .get_mut(at.topic.0)
                .and_then(|r| r.get_mut(at.index))
            {
                *flag = false;
            }
        }
    }

    /// The marked partitions, in the order marked.
    pub(crate) fn marked(&self) -> &[PartitionRef] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::topic::TopicIdx;

    fn p(topic: usize, index: usize) -> PartitionRef {
        PartitionRef {
            topic: TopicIdx(topic),
            index,
        }
    }

    #[test]
    fn each_partition_is_listed_once_and_taken_in_order() {
        let mut d = DirtySet::default();
        d.mark(p(1, 4));
        d.mark(p(0, 9));
        d.mark(p(1, 4));
        d.mark(p(0, 2));
        assert_eq!(d.marked().len(), 3);
        assert!(d.contains(p(0, 9)) && !d.contains(p(0, 3)));
        let mut out = vec![p(5, 5)];
        d.take(&mut out);
        assert_eq!(out, vec![p(0, 2), p(0, 9), p(1, 4)]);
        assert!(d.marked().is_empty() && !d.contains(p(0, 9)));
        d.mark(p(0, 9));
        assert_eq!(d.marked(), &[p(0, 9)]);
    }
}
