//! The routing window: one small entry per accepted record, indexed by its [`RecordId`]
//! (consecutive numbers, given out in `send` order), from the oldest still waiting to the
//! newest.

use odradek_core::RecordId;
use std::collections::VecDeque;

/// Where one accepted record's outcome goes.
#[derive(Clone, Copy)]
pub(super) enum Route {
    /// Routed already (only behind the front of the window).
    Done,
    /// The channel shape's streams or receivers.
    Channel,
    /// A [`Ticket`](super::Ticket)'s slot.
    Slot(usize),
    /// A callback: pool, index in the pool.
    Callback(u32, usize),
}

/// The routes of the records waiting for their outcome.
pub(super) struct Window {
    /// The id of `routes[0]`.
    base: u64,
    /// One entry per id from `base`; the front is never [`Route::Done`].
    routes: VecDeque<Route>,
    /// Entries of `routes` not yet routed.
    live: usize,
    /// The id after the newest one tracked (what a flush started now waits for).
    end: u64,
}

impl Window {
    pub(super) fn new() -> Self {
        Window {
            base: 0,
            routes: VecDeque::new(),
            live: 0,
            end: 0,
        }
    }

    /// Records tracked and still waiting for their outcome.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Entries held, routed ones behind the oldest waiting included.
    pub(super) fn len(&self) -> usize {
        self.routes.len()
    }

    /// The id after the newest one tracked: the mark of a flush started now.
    pub(super) fn end(&self) -> u64 {
        self.end
    }

    /// Whether every record tracked before `mark` has its outcome.
    pub(super) fn routed_before(&self, mark: u64) -> bool {
        self.live == 0 || self.base >= mark
    }

    /// Tracks `id`'s route.
    pub(super) fn push(&mut self, id: RecordId, route: Route) {
        let id = id.0;
        if self.routes.is_empty() {
            self.base = id;
        }
        // Ids come from the core in increasing order (the first two branches are for one
        // that would not: it is still placed, never lost).
        if id < self.base {
            for _ in id..self.base {
                self.routes.push_front(Route::Done);
            }
            self.base = id;
        }
        let i = (id - self.base) as usize;
        if i < self.routes.len() {
            debug_assert!(
                matches!(self.routes[i], Route::Done),
                "id {id} tracked twice"
            );
            if !matches!(self.routes[i], Route::Done) {
                self.live -= 1;
            }
            self.routes[i] = route;
        } else {
            // Ids the core skipped (none today) are routed already.
            while self.routes.len() < i {
                self.routes.push_back(Route::Done);
            }
            self.routes.push_back(route);
        }
        self.live += 1;
        self.end = self.end.max(id + 1);
    }

    /// Takes `id`'s route, leaving it routed; `None` for an id never tracked or routed
    /// already.
    pub(super) fn take(&mut self, id: RecordId) -> Option<Route> {
        let route =
            id.0.checked_sub(self.base)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| self.routes.get_mut(i))
                .map(|r| std::mem::replace(r, Route::Done));
        match route {
            Some(Route::Done) | None => None,
            Some(route) => {
                self.live -= 1;
                while let Some(Route::Done) = self.routes.front() {
                    self.routes.pop_front();
                    self.base += 1;
                }
                Some(route)
            }
        }
    }

    /// Takes every route (the producer died); nothing is waiting any more.
    pub(super) fn drain(&mut self) -> VecDeque<Route> {
        self.live = 0;
        std::mem::take(&mut self.routes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::ok;
    use super::super::{ChannelQueues, Router};
    use crate::report::ChannelOptions;
    use odradek_core::RecordId;

    #[test]
    fn flush_waits_for_the_lowest_id_whatever_the_completion_order() {
        let mut r = Router::new(Some(ChannelQueues::new(ChannelOptions::default())));
        assert!(r.flushed(r.flush_mark()));
        for id in 10..15 {
            r.track_channel(RecordId(id));
        }
        let mark = r.flush_mark();
        assert_eq!(mark, 15);
        assert_eq!(r.pending(), 5);
        ok(&mut r, 12);
        ok(&mut r, 13);
        assert!(!r.flushed(12), "10 and 11 still wait");
        ok(&mut r, 10);
        assert!(!r.flushed(12));
        ok(&mut r, 11);
        assert!(r.flushed(12));
        assert!(!r.flushed(mark), "14 still waits");
        r.track_channel(RecordId(15));
        ok(&mut r, 14);
        assert!(r.flushed(mark), "15 came after the mark");
        assert!(!r.flushed(r.flush_mark()));
        ok(&mut r, 15);
        assert_eq!(r.pending(), 0);
        assert!(r.settle(), "outcomes were routed");
        assert!(!r.settle(), "and only once");
        let report = r.report();
        assert_eq!((report.delivered, report.failed), (6, 0));
    }
}
