//! The routing window: one small entry per accepted record, indexed by its [`RecordId`]
//! (consecutive numbers, given out in `send` order), from the oldest still waiting to the
//! newest.
//!
//! Its size follows the records still waiting, not the records sent since the oldest of
//! them: when most of the window is routed already (one record stuck behind a million
//! delivered ones), the waiting entries at its front move to a side map of stragglers and the
//! window starts after them. So the window holds at most about twice the waiting records
//! plus [`COMPACT_SLACK`] entries, and `buffer.memory` (which every waiting record holds a
//! part of) bounds it.

use odradek_core::RecordId;
use std::collections::{BTreeMap, VecDeque};

/// Routed entries the window may hold beyond twice its waiting ones before it compacts.
const COMPACT_SLACK: usize = 1024;

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
    /// The event queue of a front end that polls for outcomes (odradek-mio's `MioProducer`).
    Event,
}

/// The routes of the records waiting for their outcome.
pub(super) struct Window {
    /// The id of `routes[0]`.
    base: u64,
    /// One entry per id from `base`; the front is never [`Route::Done`].
    routes: VecDeque<Route>,
    /// Records not yet routed, in `routes` and `stragglers`.
    live: usize,
    /// Waiting records older than `base`, moved out of a window grown sparse.
    stragglers: BTreeMap<u64, Route>,
    /// The id after the newest one tracked (what a flush started now waits for).
    end: u64,
}

impl Window {
    pub(super) fn new() -> Self {
        Window {
            base: 0,
            routes: VecDeque::new(),
            live: 0,
            stragglers: BTreeMap::new(),
            end: 0,
        }
    }

    /// Records tracked and still waiting for their outcome.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Entries held, routed ones behind the oldest waiting included.
    pub(super) fn len(&self) -> usize {
        self.routes.len() + self.stragglers.len()
    }

    /// The id after the newest one tracked: the mark of a flush started now.
    pub(super) fn end(&self) -> u64 {
        self.end
    }

    /// Whether every record tracked before `mark` has its outcome.
    pub(super) fn routed_before(&self, mark: u64) -> bool {
        let oldest = self.stragglers.keys().next().copied().unwrap_or(self.base);
        self.live == 0 || oldest >= mark
    }

    /// Tracks `id`'s route.
    pub(super) fn push(&mut self, id: RecordId, route: Route) {
        let id = id.0;
        if self.routes.is_empty() && id >= self.base {
            self.base = id;
        }
        if id < self.base {
            // Ids come from the core in increasing order; one that would not is still
            // placed, never lost.
            let before = self.stragglers.insert(id, route);
            debug_assert!(before.is_none(), "id {id} tracked twice");
            if before.is_none() {
                self.live += 1;
            }
            return;
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
        self.compact();
    }

    /// When the window holds more than twice its waiting entries plus [`COMPACT_SLACK`],
    /// moves the waiting entries at its front to the stragglers until it does not. Each
    /// entry moves at most once, so this is O(1) per record over time.
    fn compact(&mut self) {
        let in_window = self.live - self.stragglers.len();
        if self.routes.len() <= 2 * in_window + COMPACT_SLACK {
            return;
        }
        while self.routes.len() > 2 * (self.live - self.stragglers.len()) + COMPACT_SLACK / 2 {
            let Some(route) = self.routes.pop_front() else {
                break;
            };
            if !matches!(route, Route::Done) {
                self.stragglers.insert(self.base, route);
            }
            self.base += 1;
        }
        while let Some(Route::Done) = self.routes.front() {
            self.routes.pop_front();
            self.base += 1;
        }
    }

    /// Takes `id`'s route, leaving it routed; `None` for an id never tracked or routed
    /// already.
    pub(super) fn take(&mut self, id: RecordId) -> Option<Route> {
        if id.0 < self.base {
            let route = self.stragglers.remove(&id.0)?;
            self.live -= 1;
            return Some(route);
        }
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
        let mut all: VecDeque<Route> = std::mem::take(&mut self.stragglers).into_values().collect();
        all.append(&mut self.routes);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::ok;
    use super::super::{ChannelQueues, Router};
    use super::{Route, Window, COMPACT_SLACK};
    use crate::report::ChannelOptions;
    use odradek_core::RecordId;

    /// Issue 21, bug 4: one record that stays pending must not pin an entry for every record
    /// sent after it.
    #[test]
    fn a_stuck_record_does_not_pin_the_records_after_it() {
        let mut w = Window::new();
        w.push(RecordId(0), Route::Channel);
        for id in 1..1_000_000u64 {
            w.push(RecordId(id), Route::Channel);
            // Bounded by the waiting records after every push (a take only shrinks it).
            assert!(
                w.len() <= 2 * w.live() + COMPACT_SLACK,
                "{} entries",
                w.len()
            );
            assert!(w.take(RecordId(id)).is_some());
        }
        assert_eq!(w.live(), 1);
        assert!(!w.routed_before(1), "record 0 still waits");
        assert!(!w.routed_before(w.end()));
        // A second straggler, and records that go on arriving in and out of order.
        w.push(RecordId(1_000_000), Route::Slot(3));
        for id in 1_000_001..1_010_000u64 {
            w.push(RecordId(id), Route::Channel);
            assert!(w.len() <= 2 * w.live() + COMPACT_SLACK);
        }
        for id in (1_000_001..1_010_000u64).rev() {
            assert!(w.take(RecordId(id)).is_some());
        }
        assert!(matches!(w.take(RecordId(0)), Some(Route::Channel)));
        assert!(w.take(RecordId(0)).is_none(), "routed once");
        assert!(!w.routed_before(w.end()), "1000000 still waits");
        assert!(w.routed_before(1_000_000));
        assert!(matches!(w.take(RecordId(1_000_000)), Some(Route::Slot(3))));
        assert_eq!(w.live(), 0);
        assert!(w.routed_before(w.end()));
    }

    #[test]
    fn drain_hands_back_stragglers_and_window_alike() {
        let mut w = Window::new();
        w.push(RecordId(0), Route::Slot(1));
        for id in 1..10_000u64 {
            w.push(RecordId(id), Route::Channel);
            if id != 5_000 {
                w.take(RecordId(id));
            }
        }
        let live = w
            .drain()
            .into_iter()
            .filter(|r| !matches!(r, Route::Done))
            .count();
        assert_eq!(live, 2);
        assert_eq!(w.live(), 0);
    }

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
