//! The queues behind the channel shape's streams (async) or receivers (odradek-mio).

use crate::report::ChannelOptions;
use odradek_core::{DeliveryError, Record, RecordMetadata};
use std::collections::VecDeque;
use std::task::Waker;

/// The queues behind the channel shape's outputs (successes, errors), with their buffering
/// policy's state. The async streams park their wakers here; blocking receivers leave them
/// `None` and wait on their own condition variable.
#[derive(Debug)]
pub struct ChannelQueues {
    /// Whether successes are queued at all.
    pub return_successes: bool,
    /// How many outcomes may wait unread before input waits.
    pub capacity: usize,
    /// Delivered records, with where they went.
    pub successes: VecDeque<(RecordMetadata, Record)>,
    /// Failed records.
    pub errors: VecDeque<DeliveryError>,
    /// The successes stream or receiver is alive.
    pub successes_open: bool,
    /// The errors stream or receiver is alive.
    pub errors_open: bool,
    /// Waker of the successes stream's last poll.
    pub successes_waker: Option<Waker>,
    /// Waker of the errors stream's last poll.
    pub errors_waker: Option<Waker>,
}

impl ChannelQueues {
    /// Queues for `options`, empty, both outputs open (successes only when returned).
    pub fn new(options: ChannelOptions) -> Self {
        ChannelQueues {
            return_successes: options.return_successes,
            capacity: options.capacity.max(1),
            successes: VecDeque::new(),
            errors: VecDeque::new(),
            successes_open: options.return_successes,
            errors_open: true,
            successes_waker: None,
            errors_waker: None,
        }
    }

    /// Outcomes queued and not yet read.
    pub fn unread(&self) -> usize {
        self.successes.len() + self.errors.len()
    }

    /// Whether input must wait (or refuse) for unread outcomes.
    pub fn is_full(&self) -> bool {
        self.unread() >= self.capacity
    }

    /// Queues one record's outcome for the streams or receivers that are open, waking the
    /// one waiting. Returns a failure nobody can observe (the errors side is closed).
    pub(super) fn push_outcome(&mut self, outcome: super::Outcome) -> Option<DeliveryError> {
        match outcome {
            Ok((metadata, record)) => {
                // The record is there: a successes stream turns on `return_successes`.
                if let Some(record) =
                    record.filter(|_| self.return_successes && self.successes_open)
                {
                    self.successes.push_back((metadata, record));
                    if let Some(w) = self.successes_waker.take() {
                        w.wake();
                    }
                }
                None
            }
            Err(e) => {
                if !self.errors_open {
                    return Some(e);
                }
                self.errors.push_back(e);
                if let Some(w) = self.errors_waker.take() {
                    w.wake();
                }
                None
            }
        }
    }

    /// The successes stream or receiver was dropped: successes are discarded from now on.
    pub(super) fn close_successes(&mut self) {
        self.successes_open = false;
        self.successes.clear();
    }

    /// The errors stream or receiver was dropped: later failures go to the report as
    /// unobserved. Returns the failures queued and now unobservable.
    pub(super) fn close_errors(&mut self) -> Vec<DeliveryError> {
        self.errors_open = false;
        self.errors.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fail, ok};
    use super::super::Router;
    use super::*;
    use odradek_core::RecordId;

    #[test]
    fn channel_outcomes_follow_the_open_streams() {
        let options = ChannelOptions {
            return_successes: true,
            capacity: 2,
        };
        let mut r = Router::new(Some(ChannelQueues::new(options)));
        for id in 0..4 {
            r.track_channel(RecordId(id));
        }
        ok(&mut r, 0);
        fail(&mut r, 1);
        assert!(r.channels_full());
        let q = r.channels.as_mut().unwrap();
        assert_eq!(q.successes.pop_front().unwrap().0.offset, 0);
        assert_eq!(q.errors.len(), 1);
        q.errors_open = false;
        q.successes_open = false;
        fail(&mut r, 2);
        ok(&mut r, 3);
        let q = r.channels.as_ref().unwrap();
        assert_eq!((q.successes.len(), q.errors.len()), (0, 1));
        let report = r.report();
        assert_eq!((report.delivered, report.failed), (2, 2));
        assert_eq!(
            report.unobserved_failed, 1,
            "failed after the errors stream closed"
        );
    }
}
