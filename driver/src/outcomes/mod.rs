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

use crate::report::{ChannelOptions, CloseReport};
use odradek_core::{DeliveryError, ProduceError, Record, RecordId, RecordMetadata, TopicName};
use std::any::TypeId;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A record's outcome: where it was appended, or why it failed (with the record).
pub type DeliveryResult = Result<RecordMetadata, DeliveryError>;

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

/// A failure kept small in the slot table (failures are rare; successes are not boxed).
type SlotResult = Result<RecordMetadata, Box<DeliveryError>>;

enum Slot {
    /// A placeholder while a slot's state is being replaced.
    Free,
    /// A ticket waits; the waker of its last poll, if it was polled.
    Waiting(Option<Waker>),
    /// The outcome came; the ticket has not taken it yet.
    Ready(SlotResult),
    /// The ticket was dropped before the outcome came.
    Abandoned,
    /// The producer died before the outcome came.
    Aborted,
}

struct Table {
    slots: Vec<Slot>,
    /// Slots their tickets are done with, already reset to `Waiting(None)`, to go back to
    /// the router's free list at its next settle (so that handing out a slot takes no lock).
    released: Vec<usize>,
    /// Threads blocked in [`Ticket::wait`] (so that settling notifies only when needed).
    blocked: usize,
    unobserved: Unobserved,
}

impl Table {
    /// Hands slot `i` back (its ticket is done with it), ready for the next ticket.
    fn release(&mut self, i: usize) {
        self.slots[i] = Slot::Waiting(None);
        self.released.push(i);
    }

    /// Puts an outcome in slot `i`; returns the waker to wake.
    fn fill(&mut self, i: usize, outcome: SlotResult) -> Option<Waker> {
        match std::mem::replace(&mut self.slots[i], Slot::Free) {
            Slot::Waiting(waker) => {
                self.slots[i] = Slot::Ready(outcome);
                waker
            }
            Slot::Abandoned => {
                if let Err(e) = outcome {
                    self.unobserved.push(*e);
                }
                self.release(i);
                None
            }
            // Filled twice, or filled after an abort: keep the first state (cannot happen:
            // the router routes each id once and aborts only waiting ones).
            other => {
                self.slots[i] = other;
                None
            }
        }
    }
}

/// The shared table of outcome slots behind [`Ticket`]s: one allocation for the whole
/// producer, grown to the most tickets alive at once and reused.
pub struct Slots {
    table: Mutex<Table>,
    /// Signalled when outcomes arrive while a thread waits in [`Ticket::wait`].
    changed: Condvar,
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = lock(&self.table);
        f.debug_struct("Slots")
            .field("slots", &t.slots.len())
            .field("released", &t.released.len())
            .finish_non_exhaustive()
    }
}

impl Slots {
    fn new() -> Self {
        Slots {
            table: Mutex::new(Table {
                slots: Vec::new(),
                released: Vec::new(),
                blocked: 0,
                unobserved: Unobserved::default(),
            }),
            changed: Condvar::new(),
        }
    }
}

/// What taking a slot's content found.
enum Taken {
    Outcome(DeliveryResult),
    Aborted,
    Waiting,
}

fn take(t: &mut Table, i: usize) -> Taken {
    match &t.slots[i] {
        Slot::Waiting(_) => Taken::Waiting,
        Slot::Ready(_) => {
            let Slot::Ready(r) = std::mem::replace(&mut t.slots[i], Slot::Free) else {
                unreachable!("matched Ready above")
            };
            t.release(i);
            Taken::Outcome(r.map_err(|e| *e))
        }
        Slot::Aborted => {
            t.release(i);
            Taken::Aborted
        }
        // A ticket only reads its own slot, which it has not released.
        Slot::Free | Slot::Abandoned => Taken::Aborted,
    }
}

/// One record's outcome as seen by its delivery future or receipt: an index into the
/// producer's [`Slots`]. Dropping it does not cancel the record; a failure that arrives
/// for a dropped ticket goes to the [`CloseReport`] as unobserved.
pub struct Ticket {
    slots: Arc<Slots>,
    index: usize,
    topic: TopicName,
    /// The outcome was taken (the slot is released).
    taken: bool,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("topic", &self.topic)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl Ticket {
    /// The record's topic.
    pub fn topic(&self) -> &TopicName {
        &self.topic
    }

    /// Whether the outcome was already taken (by a poll or a wait that returned it).
    pub fn is_taken(&self) -> bool {
        self.taken
    }

    /// The outcome of a record whose producer died first, or of a ticket whose outcome was
    /// already taken: [`ProduceError::Aborted`], with a record that carries only the topic.
    pub fn aborted(&self) -> DeliveryError {
        DeliveryError {
            error: ProduceError::Aborted,
            record: Record::new(self.topic.clone()),
        }
    }

    fn finish(&mut self, taken: Taken) -> Option<DeliveryResult> {
        match taken {
            Taken::Waiting => None,
            Taken::Outcome(r) => {
                self.taken = true;
                Some(r)
            }
            Taken::Aborted => {
                self.taken = true;
                Some(Err(self.aborted()))
            }
        }
    }

    /// Async: the outcome if it has come, else registers `cx`'s waker. After the outcome was
    /// taken, [`aborted`](Ticket::aborted).
    pub fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        if self.taken {
            return Poll::Ready(Err(self.aborted()));
        }
        let slots = Arc::clone(&self.slots);
        let mut t = lock(&slots.table);
        let taken = take(&mut t, self.index);
        if let Taken::Waiting = taken {
            if let Slot::Waiting(w) = &mut t.slots[self.index] {
                match w {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
            }
            return Poll::Pending;
        }
        drop(t);
        Poll::Ready(self.finish(taken).expect("not waiting"))
    }

    /// The outcome if it has come (`None` otherwise, or once taken).
    pub fn try_outcome(&mut self) -> Option<DeliveryResult> {
        if self.taken {
            return None;
        }
        let slots = Arc::clone(&self.slots);
        let taken = take(&mut lock(&slots.table), self.index);
        self.finish(taken)
    }

    /// Blocks the thread until the outcome comes, at most `timeout` when given (`None` when
    /// it runs out, or once the outcome was taken).
    pub fn wait_outcome(&mut self, timeout: Option<Duration>) -> Option<DeliveryResult> {
        if self.taken {
            return None;
        }
        let deadline = timeout.map(|d| Instant::now() + d);
        let slots = Arc::clone(&self.slots);
        let mut t = lock(&slots.table);
        loop {
            let taken = take(&mut t, self.index);
            if !matches!(taken, Taken::Waiting) {
                drop(t);
                return self.finish(taken);
            }
            t.blocked += 1;
            t = match deadline {
                None => slots
                    .changed
                    .wait(t)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        t.blocked -= 1;
                        return None;
                    }
                    slots
                        .changed
                        .wait_timeout(t, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            t.blocked -= 1;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let mut t = lock(&self.slots.table);
        let i = self.index;
        match std::mem::replace(&mut t.slots[i], Slot::Free) {
            Slot::Waiting(_) => t.slots[i] = Slot::Abandoned,
            Slot::Ready(Err(e)) => {
                t.unobserved.push(*e);
                t.release(i);
            }
            Slot::Ready(Ok(_)) | Slot::Aborted => t.release(i),
            other @ (Slot::Free | Slot::Abandoned) => t.slots[i] = other,
        }
    }
}

/// A pool of callbacks of one closure type: stored by value (with the record's topic, for
/// an aborted outcome), reused as they run.
trait Pool: Send + Sync {
    /// Runs callback `index` with `outcome` (`None`: the producer died first).
    fn call(&self, index: usize, outcome: Option<DeliveryResult>);
    fn as_any(&self) -> &dyn std::any::Any;
    /// Entries the pool has grown to (used or free).
    fn entries(&self) -> usize;
}

type PoolSlots<F> = (Vec<Option<(F, TopicName)>>, Vec<usize>);

struct TypedPool<F> {
    inner: Mutex<PoolSlots<F>>,
}

impl<F: FnOnce(DeliveryResult) + Send + 'static> TypedPool<F> {
    fn insert(&self, f: F, topic: TopicName) -> usize {
        let mut g = lock(&self.inner);
        match g.1.pop() {
            Some(i) => {
                g.0[i] = Some((f, topic));
                i
            }
            None => {
                g.0.push(Some((f, topic)));
                g.0.len() - 1
            }
        }
    }
}

impl<F: FnOnce(DeliveryResult) + Send + 'static> Pool for TypedPool<F> {
    fn call(&self, index: usize, outcome: Option<DeliveryResult>) {
        let entry = {
            let mut g = lock(&self.inner);
            let entry = g.0.get_mut(index).and_then(Option::take);
            if entry.is_some() {
                g.1.push(index);
            }
            entry
        };
        // Run outside the pool's lock: the callback may send (and so insert) again. A
        // panicking callback is contained: the producer's I/O and the other callbacks go on
        // (and flush / close are not left waiting for it).
        if let Some((f, topic)) = entry {
            let outcome = outcome.unwrap_or_else(|| {
                Err(DeliveryError {
                    error: ProduceError::Aborted,
                    record: Record::new(topic),
                })
            });
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(outcome)));
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn entries(&self) -> usize {
        lock(&self.inner).0.len()
    }
}

/// Callbacks whose outcome came, to run once the producer lock is released
/// ([`Router::take_callbacks`]).
#[derive(Default)]
pub struct ReadyCallbacks {
    ready: Vec<(Arc<dyn Pool>, usize, Option<DeliveryResult>)>,
}

impl fmt::Debug for ReadyCallbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyCallbacks")
            .field("ready", &self.ready.len())
            .finish()
    }
}

impl ReadyCallbacks {
    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }

    /// Runs every callback, in outcome order, and tells how many ran. Call it with no
    /// producer lock held, then report the count with [`Router::callbacks_finished`].
    pub fn run(&mut self) -> usize {
        let n = self.ready.len();
        for (pool, index, outcome) in self.ready.drain(..) {
            pool.call(index, outcome);
        }
        n
    }
}

/// Where one accepted record's outcome goes.
#[derive(Clone, Copy)]
enum Route {
    /// Routed already (only behind the front of the window).
    Done,
    /// The channel shape's streams or receivers.
    Channel,
    /// A [`Ticket`]'s slot.
    Slot(usize),
    /// A callback: pool, index in the pool.
    Callback(u32, usize),
}

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
}

/// The routing state of one producer, kept under its lock: where each accepted record's
/// outcome goes, the channel queues, the counts for the [`CloseReport`].
pub struct Router {
    /// The id of `routes[0]`.
    base: u64,
    /// One entry per id from `base`; the front is never [`Route::Done`].
    routes: VecDeque<Route>,
    /// Entries of `routes` not yet routed.
    live: usize,
    /// The id after the newest one tracked (what a flush started now waits for).
    end: u64,
    slots: Arc<Slots>,
    /// Slots ready for new tickets (each `Waiting(None)`), handed out without locking the
    /// table.
    free: Vec<usize>,
    /// Slot outcomes routed since the last [`settle`](Router::settle).
    fills: Vec<(usize, SlotResult)>,
    /// Scratch list of wakers to wake at settle, reused.
    wakers: Vec<Waker>,
    pools: Vec<(TypeId, Arc<dyn Pool>)>,
    ready: ReadyCallbacks,
    /// Callbacks tracked and not yet reported finished ([`Router::callbacks_finished`]):
    /// a flush or close waits for them to have run.
    callbacks_out: usize,
    /// The channel shape's queues (`None` for the future / receipt shape).
    pub channels: Option<ChannelQueues>,
    delivered: u64,
    failed: u64,
    unobserved: Unobserved,
    /// Outcomes were routed since the last [`settle`](Router::settle).
    routed: bool,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("pending", &self.live)
            .field("window", &self.routes.len())
            .field("delivered", &self.delivered)
            .field("failed", &self.failed)
            .field(
                "callback_entries",
                &self.pools.iter().map(|(_, p)| p.entries()).sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router; `channels` for the channel shape.
    pub fn new(channels: Option<ChannelQueues>) -> Self {
        Router {
            base: 0,
            routes: VecDeque::new(),
            live: 0,
            end: 0,
            slots: Arc::new(Slots::new()),
            free: Vec::new(),
            fills: Vec::new(),
            wakers: Vec::new(),
            pools: Vec::new(),
            ready: ReadyCallbacks::default(),
            callbacks_out: 0,
            channels,
            delivered: 0,
            failed: 0,
            unobserved: Unobserved::default(),
            routed: false,
        }
    }

    /// Records tracked and still waiting for their outcome.
    pub fn pending(&self) -> usize {
        self.live
    }

    /// Whether the channel queues are full (never, without the channel shape).
    pub fn channels_full(&self) -> bool {
        self.channels.as_ref().is_some_and(ChannelQueues::is_full)
    }

    fn push(&mut self, id: RecordId, route: Route) {
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

    /// Routes `id`'s outcome to a new [`Ticket`] (a delivery future or a receipt).
    pub fn track_ticket(&mut self, id: RecordId, topic: TopicName) -> Ticket {
        let index = match self.free.pop() {
            Some(i) => i,
            None => self.refill(),
        };
        self.push(id, Route::Slot(index));
        Ticket {
            slots: Arc::clone(&self.slots),
            index,
            topic,
            taken: false,
        }
    }

    /// Takes back the slots tickets released and, if none, grows the table by a chunk; hands
    /// out one.
    fn refill(&mut self) -> usize {
        const CHUNK: usize = 64;
        let mut t = lock(&self.slots.table);
        self.free.append(&mut t.released);
        if self.free.is_empty() {
            let start = t.slots.len();
            t.slots.extend((0..CHUNK).map(|_| Slot::Waiting(None)));
            // Lowest first out.
            self.free.extend((start..start + CHUNK).rev());
        }
        drop(t);
        self.free.pop().expect("refilled")
    }

    /// Routes `id`'s outcome to the channel queues.
    pub fn track_channel(&mut self, id: RecordId) {
        self.push(id, Route::Channel);
    }

    /// Routes `id`'s outcome to `callback`, stored by value in a pool of its type (no
    /// allocation per record once the pool has grown).
    pub fn track_callback<F>(&mut self, id: RecordId, topic: TopicName, callback: F)
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        let type_id = TypeId::of::<F>();
        let p = match self.pools.iter().position(|(t, _)| *t == type_id) {
            Some(p) => p,
            None => {
                let pool: Arc<dyn Pool> = Arc::new(TypedPool::<F> {
                    inner: Mutex::new((Vec::new(), Vec::new())),
                });
                self.pools.push((type_id, pool));
                self.pools.len() - 1
            }
        };
        let pool = self.pools[p]
            .1
            .as_any()
            .downcast_ref::<TypedPool<F>>()
            .expect("pool found by its TypeId");
        let index = pool.insert(callback, topic);
        self.callbacks_out += 1;
        // Pools are never removed, and fewer than 2^32 closure types exist in one program.
        self.push(id, Route::Callback(p as u32, index));
    }

    /// Routes one record's outcome from the core (`Delivered` or `Failed`) to wherever it
    /// goes. Tickets get it at the next [`settle`](Router::settle); callbacks run at the next
    /// [`take_callbacks`](Router::take_callbacks).
    pub fn complete(
        &mut self,
        id: RecordId,
        outcome: Result<RecordMetadata, ProduceError>,
        record: Record,
    ) {
        self.routed = true;
        match &outcome {
            Ok(_) => self.delivered += 1,
            Err(_) => self.failed += 1,
        }
        let route =
            id.0.checked_sub(self.base)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| self.routes.get_mut(i))
                .map(|r| std::mem::replace(r, Route::Done));
        let route = match route {
            Some(Route::Done) | None => {
                // An id never tracked (or routed twice): count it, lose nothing silently.
                if let Err(error) = outcome {
                    self.unobserved.push(DeliveryError { error, record });
                }
                return;
            }
            Some(route) => route,
        };
        self.live -= 1;
        while let Some(Route::Done) = self.routes.front() {
            self.routes.pop_front();
            self.base += 1;
        }
        match route {
            Route::Done => unreachable!("handled above"),
            Route::Slot(i) => {
                let r = outcome.map_err(|error| Box::new(DeliveryError { error, record }));
                self.fills.push((i, r));
            }
            Route::Callback(p, i) => {
                let r = outcome.map_err(|error| DeliveryError { error, record });
                let pool = Arc::clone(&self.pools[p as usize].1);
                self.ready.ready.push((pool, i, Some(r)));
            }
            Route::Channel => self.route_to_channel(outcome, record),
        }
    }

    fn route_to_channel(&mut self, outcome: Result<RecordMetadata, ProduceError>, record: Record) {
        match outcome {
            Ok(metadata) => {
                if let Some(q) = &mut self.channels {
                    if q.return_successes && q.successes_open {
                        q.successes.push_back((metadata, record));
                        if let Some(w) = q.successes_waker.take() {
                            w.wake();
                        }
                    }
                }
            }
            Err(error) => {
                let e = DeliveryError { error, record };
                match &mut self.channels {
                    Some(q) if q.errors_open => {
                        q.errors.push_back(e);
                        if let Some(w) = q.errors_waker.take() {
                            w.wake();
                        }
                    }
                    _ => self.unobserved.push(e),
                }
            }
        }
    }

    /// Hands the outcomes routed since the last call to their tickets (one lock of the slot
    /// table for all of them) and wakes whoever waits on them. Returns whether any outcome
    /// was routed since the last call (buffer space may be free, flushes may be done).
    pub fn settle(&mut self) -> bool {
        if !self.fills.is_empty() {
            let mut wake = std::mem::take(&mut self.wakers);
            let blocked = {
                let mut t = lock(&self.slots.table);
                for (i, r) in self.fills.drain(..) {
                    if let Some(w) = t.fill(i, r) {
                        wake.push(w);
                    }
                }
                self.free.append(&mut t.released);
                t.blocked > 0
            };
            if blocked {
                self.slots.changed.notify_all();
            }
            for w in wake.drain(..) {
                w.wake();
            }
            self.wakers = wake;
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
    }

    /// The mark of a flush started now: every id below it.
    pub fn flush_mark(&self) -> u64 {
        self.end
    }

    /// Whether every record tracked before `mark` has its outcome, and every callback whose
    /// outcome came has run.
    pub fn flushed(&self, mark: u64) -> bool {
        (self.live == 0 || self.base >= mark) && self.callbacks_out == 0
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

    /// A failure nobody can observe (an errors stream or receiver dropped with failures
    /// queued): counted and kept for the [`CloseReport`].
    pub fn unobserved_failure(&mut self, e: DeliveryError) {
        self.unobserved.push(e);
    }

    /// The producer died (its runtime dropped the driver task, or its thread ended) before
    /// some records had their outcome: tickets resolve as aborted, callbacks run (at the
    /// next [`take_callbacks`](Router::take_callbacks)) with [`ProduceError::Aborted`] and
    /// a record carrying only the topic, channel records count as failed and unobserved.
    /// Every record counts as failed.
    pub fn abort_all(&mut self) {
        self.settle();
        let routes = std::mem::take(&mut self.routes);
        self.live = 0;
        let mut t = lock(&self.slots.table);
        for route in routes {
            match route {
                Route::Done => {}
                Route::Slot(i) => {
                    self.failed += 1;
                    match std::mem::replace(&mut t.slots[i], Slot::Aborted) {
                        Slot::Waiting(Some(w)) => w.wake(),
                        Slot::Waiting(None) => {}
                        // Its ticket is gone: nobody will read the slot.
                        Slot::Abandoned => t.release(i),
                        // Not waiting (cannot be, for a route still live): leave it.
                        other => t.slots[i] = other,
                    }
                }
                Route::Callback(p, i) => {
                    self.failed += 1;
                    let pool = Arc::clone(&self.pools[p as usize].1);
                    self.ready.ready.push((pool, i, None));
                }
                Route::Channel => {
                    self.failed += 1;
                    self.unobserved.count += 1;
                }
            }
        }
        drop(t);
        self.slots.changed.notify_all();
    }

    /// The counts for the [`CloseReport`], with the unobserved failures kept so far (taken:
    /// a later report gets only those that came after).
    pub fn report(&mut self) -> CloseReport {
        let mut t = lock(&self.slots.table);
        let mut failures = std::mem::take(&mut self.unobserved.kept);
        let from_tickets = std::mem::take(&mut t.unobserved.kept);
        let room = UNOBSERVED_KEEP.saturating_sub(failures.len());
        failures.extend(from_tickets.into_iter().take(room));
        CloseReport {
            delivered: self.delivered,
            failed: self.failed,
            unobserved_failed: self.unobserved.count + t.unobserved.count,
            unobserved_failures: failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    fn meta(offset: i64) -> RecordMetadata {
        RecordMetadata {
            topic: TopicName::new("t"),
            partition: 0,
            offset,
            timestamp: 0,
        }
    }

    fn ok(router: &mut Router, id: u64) {
        router.complete(RecordId(id), Ok(meta(id as i64)), Record::new("t"));
    }

    fn fail(router: &mut Router, id: u64) {
        let error = ProduceError::Aborted;
        router.complete(RecordId(id), Err(error), Record::new("t").value("v"));
    }

    fn slot_count(router: &Router) -> usize {
        lock(&router.slots.table).slots.len()
    }

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
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

    #[test]
    fn tickets_reuse_one_slot_table_and_get_their_own_outcome() {
        let mut r = Router::new(None);
        for round in 0..1000u64 {
            let id = 2 * round;
            let mut a = r.track_ticket(RecordId(id), TopicName::new("t"));
            let mut b = r.track_ticket(RecordId(id + 1), TopicName::new("t"));
            assert!(a.try_outcome().is_none(), "no outcome yet");
            ok(&mut r, id + 1);
            ok(&mut r, id);
            assert!(a.try_outcome().is_none(), "not before settle");
            r.settle();
            assert_eq!(b.try_outcome().unwrap().unwrap().offset, (id + 1) as i64);
            assert_eq!(a.try_outcome().unwrap().unwrap().offset, id as i64);
            assert!(a.try_outcome().is_none(), "taken once");
            assert!(a.is_taken());
        }
        // Two tickets alive at a time: the first chunk of slots, however many records.
        assert_eq!(slot_count(&r), 64);
        assert_eq!(r.report().delivered, 2000);
    }

    #[test]
    fn a_dropped_ticket_hands_its_failure_to_the_report() {
        let mut r = Router::new(None);
        let before = r.track_ticket(RecordId(0), TopicName::new("t"));
        let after = r.track_ticket(RecordId(1), TopicName::new("t"));
        let delivered = r.track_ticket(RecordId(2), TopicName::new("t"));
        // Dropped before its outcome, and after it (not taken).
        drop(before);
        fail(&mut r, 0);
        fail(&mut r, 1);
        ok(&mut r, 2);
        r.settle();
        drop(after);
        drop(delivered);
        let report = r.report();
        assert_eq!((report.delivered, report.failed), (1, 2));
        assert_eq!(report.unobserved_failed, 2);
        assert_eq!(report.unobserved_failures.len(), 2);
        assert_eq!(
            report.unobserved_failures[0].record.value.as_deref(),
            Some(&b"v"[..])
        );
        // Every slot is free again.
        let t = lock(&r.slots.table);
        assert_eq!(r.free.len() + t.released.len(), t.slots.len());
    }

    #[test]
    fn polling_registers_the_waker_and_settle_wakes_it() {
        let mut r = Router::new(None);
        let mut ticket = r.track_ticket(RecordId(7), TopicName::new("t"));
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(ticket.poll_outcome(&mut cx).is_pending());
        assert!(ticket.poll_outcome(&mut cx).is_pending());
        ok(&mut r, 7);
        assert_eq!(counter.0.load(Ordering::SeqCst), 0, "woken only at settle");
        r.settle();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        match ticket.poll_outcome(&mut cx) {
            Poll::Ready(Ok(m)) => assert_eq!(m.offset, 7),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_blocked_thread_is_woken_by_settle_and_a_timeout_returns_none() {
        let mut r = Router::new(None);
        let mut waiting = r.track_ticket(RecordId(0), TopicName::new("t"));
        assert!(waiting
            .wait_outcome(Some(Duration::from_millis(1)))
            .is_none());
        let waiter = std::thread::spawn(move || waiting.wait_outcome(None));
        // Wait until the thread blocks, on readiness (the blocked count), not a fixed sleep.
        let t0 = Instant::now();
        while lock(&r.slots.table).blocked == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "waiter never blocked"
            );
            std::thread::yield_now();
        }
        ok(&mut r, 0);
        r.settle();
        let outcome = waiter.join().unwrap().expect("an outcome, not a timeout");
        assert_eq!(outcome.unwrap().offset, 0);
    }

    #[test]
    fn callbacks_run_once_outside_the_router_and_their_pool_is_reused() {
        let mut r = Router::new(None);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut ready = ReadyCallbacks::default();
        for id in 0..500u64 {
            let seen2 = Arc::clone(&seen);
            let cb = move |o: DeliveryResult| lock(&seen2).push(o.map(|m| m.offset));
            r.track_callback(RecordId(id), TopicName::new("t"), cb);
            if id % 2 == 0 {
                ok(&mut r, id);
            } else {
                fail(&mut r, id);
            }
            assert!(
                lock(&seen).len() as u64 == id,
                "not run before take_callbacks"
            );
            assert!(r.callbacks_ready());
            r.take_callbacks(&mut ready);
            assert!(!r.callbacks_ready());
            ready.run();
            assert!(ready.is_empty());
        }
        let seen = lock(&seen);
        assert_eq!(seen.len(), 500);
        for (i, o) in seen.iter().enumerate() {
            match o {
                Ok(offset) => assert_eq!(*offset, i as i64),
                Err(e) => assert!(i % 2 == 1 && e.error == ProduceError::Aborted),
            }
        }
        // One closure type, one pool, one entry reused for all 500.
        assert_eq!(r.pools.len(), 1);
        assert_eq!(r.pools[0].1.entries(), 1);
        let report = r.report();
        assert_eq!(
            (report.delivered, report.failed, report.unobserved_failed),
            (250, 250, 0)
        );
    }

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
