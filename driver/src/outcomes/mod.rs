//! Outcome routing shared by every odradek handle layer: the async driver (odradek-tokio,
//! odradek-async-std) and odradek-mio's `BlockingProducer` both keep a [`Router`] under their
//! producer lock and hand out [`Ticket`]s (inside their delivery futures and receipts).
//!
//! # What a record costs on its way to its outcome
//!
//! Nothing is allocated per record in steady state:
//!
//! * the route of each accepted record is one small entry in a sliding window indexed by the
//!   core's [`RecordId`] (consecutive numbers, given out in `send` order), not a map entry;
//! * a delivery future or receipt is a [`Ticket`]: an index into one shared table of outcome
//!   slots ([`Slots`]), reused as tickets come and go, instead of a one-shot channel each;
//!   the table has its own lock, taken once per *drain* of outcomes by the driver side
//!   ([`Router::settle`], which also takes back the slots tickets released) and once per
//!   poll or drop by the ticket side; handing a slot to a new ticket takes no lock;
//! * a callback given to `send_with` is stored by value in a pool of its own type (one pool
//!   per closure type, found by `TypeId`), reused as callbacks run.
//!
//! The window spans from the oldest record still waiting to the newest: when one partition
//! stalls (a leader down, retries until `delivery.timeout`) while others deliver, it holds
//! one 16-byte entry per record accepted meanwhile, as the earlier flush bookkeeping did with
//! one byte.
//!
//! # The promise
//!
//! Every id passed to one of the `track_*` methods gets exactly one outcome: its ticket
//! resolves, its callback runs once, or it goes to the channel queues (or is counted and,
//! for a failure nobody can observe any more, kept for the [`CloseReport`]). If the producer
//! dies first, [`Router::abort_all`] resolves every waiting record as
//! [`ProduceError::Aborted`].

mod callbacks;
mod channels;
mod slots;
mod window;

use crate::report::CloseReport;
use callbacks::Pools;
pub use callbacks::ReadyCallbacks;
pub use channels::ChannelQueues;
use odradek_core::{DeliveryError, ProduceError, Record, RecordId, RecordMetadata, TopicName};
use slots::SlotResult;
pub use slots::{Slots, Ticket};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use window::{Route, Window};

/// A record's outcome: where it was appended, or why it failed (with the record).
pub type DeliveryResult = Result<RecordMetadata, DeliveryError>;

/// A record's outcome as queued for a front end that polls for them
/// ([`Router::track_event`]): its id, where it was appended or why it failed, the record.
pub type EventOutcome = (RecordId, Outcome);

/// One record's outcome as the router hands it on: delivered (with the record only when
/// [`Config::return_successes`](odradek_core::Config::return_successes) kept it), or failed
/// with the record handed back.
pub type Outcome = Result<(RecordMetadata, Option<Record>), DeliveryError>;

/// How many unobserved failures (whose ticket, callback or errors stream was dropped) are
/// kept with their records for the [`CloseReport`]; past this only the count grows.
pub const UNOBSERVED_KEEP: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves the data between two complete
    // operations; keep going rather than poisoning every handle.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Failures nobody could observe: counted, the first [`UNOBSERVED_KEEP`] kept.
#[derive(Debug, Default)]
struct Unobserved {
    count: u64,
    kept: Vec<DeliveryError>,
}

impl Unobserved {
    fn push(&mut self, e: DeliveryError) {
        self.count += 1;
        if self.kept.len() < UNOBSERVED_KEEP {
            self.kept.push(e);
        }
    }
}

/// The routing state of one producer, kept under its lock: where each accepted record's
/// outcome goes, the channel queues, the counts for the [`CloseReport`].
pub struct Router {
    /// The route of each record waiting for its outcome.
    window: Window,
    slots: Arc<Slots>,
    /// Slots ready for new tickets (each `Waiting(None)`), handed out without locking the
    /// table.
    free: Vec<usize>,
    /// Slot outcomes routed since the last [`settle`](Router::settle).
    fills: Vec<(usize, SlotResult)>,
    /// Scratch list of wakers to wake at settle, reused.
    wakers: Vec<Waker>,
    pools: Pools,
    ready: ReadyCallbacks,
    /// Callbacks tracked and not yet reported finished ([`Router::callbacks_finished`]):
    /// a flush or close waits for them to have run.
    callbacks_out: usize,
    /// The channel shape's queues (`None` for the future / receipt shape).
    pub channels: Option<ChannelQueues>,
    /// Outcomes of records tracked with [`track_event`](Router::track_event), in the order
    /// they came, until [`take_events`](Router::take_events).
    events: VecDeque<EventOutcome>,
    delivered: u64,
    failed: u64,
    unobserved: Unobserved,
    /// Outcomes were routed since the last [`settle`](Router::settle).
    routed: bool,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("pending", &self.window.live())
            .field("window", &self.window.len())
            .field("delivered", &self.delivered)
            .field("failed", &self.failed)
            .field("callback_entries", &self.pools.entries())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router; `channels` for the channel shape.
    pub fn new(channels: Option<ChannelQueues>) -> Self {
        Router {
            window: Window::new(),
            slots: Arc::new(Slots::new()),
            free: Vec::new(),
            fills: Vec::new(),
            wakers: Vec::new(),
            pools: Pools::default(),
            ready: ReadyCallbacks::default(),
            callbacks_out: 0,
            channels,
            events: VecDeque::new(),
            delivered: 0,
            failed: 0,
            unobserved: Unobserved::default(),
            routed: false,
        }
    }

    /// Records tracked and still waiting for their outcome.
    pub fn pending(&self) -> usize {
        self.window.live()
    }

    /// Whether the channel queues are full (never, without the channel shape).
    pub fn channels_full(&self) -> bool {
        self.channels.as_ref().is_some_and(ChannelQueues::is_full)
    }

    /// Routes `id`'s outcome to a new [`Ticket`] (a delivery future or a receipt).
    pub fn track_ticket(&mut self, id: RecordId, topic: TopicName) -> Ticket {
        if self.free.is_empty() {
            self.slots.refill(&mut self.free);
        }
        let index = self.free.pop().expect("refilled");
        self.window.push(id, Route::Slot(index));
        self.slots.ticket(index, topic)
    }

    /// Routes `id`'s outcome to the event queue, taken with
    /// [`take_events`](Router::take_events) (a front end that polls for outcomes).
    pub fn track_event(&mut self, id: RecordId) {
        self.window.push(id, Route::Event);
    }

    /// Moves the queued event outcomes to the back of `into` (a swap when `into` is empty:
    /// no copy, and the buffers are reused).
    pub fn take_events(&mut self, into: &mut VecDeque<EventOutcome>) {
        if into.is_empty() {
            std::mem::swap(&mut self.events, into);
        } else {
            into.append(&mut self.events);
        }
    }

    /// Routes `id`'s outcome to the channel queues.
    pub fn track_channel(&mut self, id: RecordId) {
        self.window.push(id, Route::Channel);
    }

    /// Routes `id`'s outcome to `callback`, stored by value in a pool of its type (no
    /// allocation per record once the pool has grown).
    pub fn track_callback<F>(&mut self, id: RecordId, topic: TopicName, callback: F)
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        let (pool, index) = self.pools.insert(callback, topic);
        self.callbacks_out += 1;
        self.window.push(id, Route::Callback(pool, index));
    }

    /// Routes the outcome of every record of a delivered batch, in send order (see
    /// [`complete`](Self::complete)).
    pub fn complete_batch(
        &mut self,
        batch: impl IntoIterator<Item = odradek_core::DeliveredRecord>,
    ) {
        for d in batch {
            self.route(d.id, Ok((d.metadata, d.record)));
        }
    }

    /// Routes a failed record's outcome from the core (`Failed`), with the record handed
    /// back: its ticket gets it at the next [`settle`](Router::settle), its callback runs at
    /// the next [`take_callbacks`](Router::take_callbacks).
    pub fn complete(&mut self, id: RecordId, error: ProduceError, record: Record) {
        self.route(id, Err(DeliveryError { error, record }));
    }

    /// Routes one record's outcome from the core (`Delivered` or `Failed`) to wherever it
    /// goes. Tickets get it at the next [`settle`](Router::settle); callbacks run at the next
    /// [`take_callbacks`](Router::take_callbacks).
    fn route(&mut self, id: RecordId, outcome: Outcome) {
        self.routed = true;
        match &outcome {
            Ok(_) => self.delivered += 1,
            Err(_) => self.failed += 1,
        }
        match self.window.take(id) {
            // An id never tracked (or routed twice): count it, lose nothing silently.
            None | Some(Route::Done) => {
                if let Err(e) = outcome {
                    self.unobserved.push(e);
                }
            }
            Some(Route::Slot(i)) => {
                let r = outcome.map(|(m, _)| m).map_err(Box::new);
                self.fills.push((i, r));
            }
            Some(Route::Callback(p, i)) => {
                let r = outcome.map(|(m, _)| m).map_err(Box::new);
                self.ready.ready.push((p, i, Some(r)));
            }
            Some(Route::Event) => self.events.push_back((id, outcome)),
            Some(Route::Channel) => {
                let unobserved = match &mut self.channels {
                    Some(q) => q.push_outcome(outcome),
                    None => outcome.err(),
                };
                if let Some(e) = unobserved {
                    self.unobserved.push(e);
                }
            }
        }
    }

    /// Hands the outcomes routed since the last call to their tickets (one lock of the slot
    /// table for all of them) and wakes whoever waits on them. Returns whether any outcome
    /// was routed since the last call (buffer space may be free, flushes may be done).
    pub fn settle(&mut self) -> bool {
        if !self.fills.is_empty() {
            self.slots
                .fill_all(&mut self.fills, &mut self.free, &mut self.wakers);
        }
        std::mem::replace(&mut self.routed, false)
    }

    /// Whether callbacks wait to run ([`take_callbacks`](Router::take_callbacks)).
    pub fn callbacks_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Takes the callbacks whose outcome came, to [`run`](ReadyCallbacks::run) once the
    /// producer lock is released (a callback may call the producer). Swaps with `into`,
    /// whose buffer is reused.
    pub fn take_callbacks(&mut self, into: &mut ReadyCallbacks) {
        std::mem::swap(&mut self.ready.ready, &mut into.ready);
        self.pools.share(&mut into.pools);
    }

    /// The mark of a flush started now: every id below it.
    pub fn flush_mark(&self) -> u64 {
        self.window.end()
    }

    /// Whether every record tracked before `mark` has its outcome, and every callback whose
    /// outcome came has run.
    pub fn flushed(&self, mark: u64) -> bool {
        self.window.routed_before(mark) && self.callbacks_out == 0
    }

    /// Callbacks tracked whose run was not yet reported finished.
    pub fn callbacks_outstanding(&self) -> usize {
        self.callbacks_out
    }

    /// Reports that `n` callbacks taken with [`take_callbacks`](Router::take_callbacks) ran
    /// (what [`ReadyCallbacks::run`] returned). Returns whether none is outstanding any more
    /// (waiters of flush and close may go on).
    pub fn callbacks_finished(&mut self, n: usize) -> bool {
        self.callbacks_out = self.callbacks_out.saturating_sub(n);
        self.callbacks_out == 0
    }

    /// The successes stream or receiver was dropped: successes queued and to come are
    /// discarded.
    pub fn close_successes(&mut self) {
        if let Some(q) = &mut self.channels {
            q.close_successes();
        }
    }

    /// The errors stream or receiver was dropped: the failures queued, and those to come,
    /// are counted and kept for the [`CloseReport`] as unobserved.
    pub fn close_errors(&mut self) {
        if let Some(q) = &mut self.channels {
            for e in q.close_errors() {
                self.unobserved.push(e);
            }
        }
    }

    /// The producer died (its runtime dropped the driver task, or its thread ended) before
    /// some records had their outcome: tickets resolve as aborted, callbacks run (at the
    /// next [`take_callbacks`](Router::take_callbacks)) with [`ProduceError::Aborted`] and
    /// a record carrying only the topic, channel records count as failed and unobserved.
    /// Every record counts as failed.
    pub fn abort_all(&mut self) {
        self.settle();
        let mut slots = Vec::new();
        for route in self.window.drain() {
            match route {
                Route::Done => {}
                Route::Slot(i) => {
                    self.failed += 1;
                    slots.push(i);
                }
                Route::Callback(p, i) => {
                    self.failed += 1;
                    self.ready.ready.push((p, i, None));
                }
                // Nobody polls a dropped front end's events.
                Route::Channel | Route::Event => {
                    self.failed += 1;
                    self.unobserved.count += 1;
                }
            }
        }
        self.slots.abort(&slots);
    }

    /// The counts for the [`CloseReport`], with the unobserved failures kept so far (taken:
    /// a later report gets only those that came after).
    pub fn report(&mut self) -> CloseReport {
        let mut failures = std::mem::take(&mut self.unobserved.kept);
        let room = UNOBSERVED_KEEP.saturating_sub(failures.len());
        let (from_tickets, kept) = self.slots.unobserved(room);
        failures.extend(kept);
        CloseReport {
            delivered: self.delivered,
            failed: self.failed,
            unobserved_failed: self.unobserved.count + from_tickets,
            unobserved_failures: failures,
        }
    }
}

/// Helpers for the unit tests of the router and its parts.
#[cfg(test)]
mod test_support {
    use super::Router;
    use odradek_core::{ProduceError, Record, RecordId, RecordMetadata, TopicName};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    pub(super) fn meta(offset: i64) -> RecordMetadata {
        RecordMetadata {
            topic: TopicName::new("t"),
            partition: 0,
            offset,
            timestamp: 0,
        }
    }

    /// Routes a delivery of `id` at offset `id`.
    pub(super) fn ok(router: &mut Router, id: u64) {
        router.route(RecordId(id), Ok((meta(id as i64), Some(Record::new("t")))));
    }

    /// Routes a failure of `id` (a record with value `v`).
    pub(super) fn fail(router: &mut Router, id: u64) {
        let error = ProduceError::Aborted;
        router.complete(RecordId(id), error, Record::new("t").value("v"));
    }

    /// A waker that counts its wakes.
    pub(super) struct CountingWaker(pub(super) AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{fail, ok};
    use super::*;
    use crate::report::ChannelOptions;

    #[test]
    fn abort_resolves_every_waiting_record_once() {
        let mut r = Router::new(Some(ChannelQueues::new(ChannelOptions::default())));
        let mut ticket = r.track_ticket(RecordId(0), TopicName::new("orders"));
        let abandoned = r.track_ticket(RecordId(1), TopicName::new("t"));
        drop(abandoned);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let calls2 = Arc::clone(&calls);
        r.track_callback(
            RecordId(2),
            TopicName::new("audit"),
            move |o: DeliveryResult| lock(&calls2).push(o.map_err(|e| (e.error, e.record.topic))),
        );
        r.track_channel(RecordId(3));
        let delivered = r.track_ticket(RecordId(4), TopicName::new("t"));
        ok(&mut r, 4);
        r.abort_all();
        assert_eq!(r.pending(), 0);
        assert!(
            !r.flushed(r.flush_mark()),
            "the aborted callback has not run yet"
        );
        match ticket.try_outcome() {
            Some(Err(e)) => {
                assert_eq!(e.error, ProduceError::Aborted);
                assert_eq!(e.record.topic, TopicName::new("orders"));
            }
            other => panic!("{other:?}"),
        }
        let mut ready = ReadyCallbacks::default();
        r.take_callbacks(&mut ready);
        assert!(r.callbacks_finished(ready.run()));
        assert!(r.flushed(r.flush_mark()));
        assert_eq!(
            *lock(&calls),
            vec![Err((ProduceError::Aborted, TopicName::new("audit")))]
        );
        drop(delivered);
        let report = r.report();
        assert_eq!((report.delivered, report.failed), (1, 4));
        assert_eq!(
            report.unobserved_failed, 1,
            "the channel record nobody can see"
        );
    }

    #[test]
    fn an_outcome_for_an_untracked_id_is_counted_not_lost() {
        let mut r = Router::new(None);
        fail(&mut r, 99);
        ok(&mut r, 100);
        let report = r.report();
        assert_eq!((report.delivered, report.failed), (1, 1));
        assert_eq!(report.unobserved_failed, 1);
    }
}
