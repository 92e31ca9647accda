//! [`BlockingProducer`]: a ready-made producer on its own thread, with a blocking API, and the
//! original's channel shape ([`InputSender`], [`Successes`], [`Errors`]).

use crate::embedded::{MioProducer, ProducerEvent, Queued, TokenRange};
use crate::ConnectError;
use mio::{Events, Poll, Token, Waker};
use odradek_core::{
    Config, DeliveryError, Instant, Record, RecordId, RecordMetadata, SendError, SendErrorKind,
};
use odradek_driver::outcomes::{ChannelQueues, ReadyCallbacks, Router, Ticket};
pub use odradek_driver::{ChannelOptions, CloseReport, DeliveryResult};
use std::fmt;
use std::io;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The I/O thread's waker token; the producer's connections use the tokens after it.
const WAKER: Token = Token(0);
/// Tokens for broker connections.
const CONN_TOKENS: TokenRange = TokenRange::new(1, 1 << 20);

/// What one pending record costs here beyond its encoded bytes: the core's share
/// ([`CORE_RECORD_OVERHEAD`](crate::embedded::CORE_RECORD_OVERHEAD)) plus this thread's
/// routing entry (16 bytes in the router's window) and, with [`BlockingProducer::send`], the
/// receipt's slot in the shared outcome table (about 60 bytes) and the receipt itself.
/// `tests/memory.rs` measured 637 bytes per pending record in all (receipts included) once
/// each receipt stopped carrying a channel of its own (it was about 2 KiB with one); 1 KiB,
/// as for the async adapters, keeps a margin. Charged against `buffer.memory`, see
/// [`MioProducer::send`].
const RECORD_OVERHEAD: usize = 1024;

/// The outcome of one record sent with [`BlockingProducer::send`]. Dropping it does not cancel
/// the record; a failure nobody waited for shows up in the [`CloseReport`].
///
/// It is an index into the producer's one table of outcome slots (shared with the async
/// adapters' delivery futures, see [`odradek_driver::outcomes`]): no channel per record.
pub struct Receipt {
    id: RecordId,
    ticket: Ticket,
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipt")
            .field("id", &self.id)
            .field("topic", self.ticket.topic())
            .finish_non_exhaustive()
    }
}

impl Receipt {
    /// The record's id.
    pub fn id(&self) -> RecordId {
        self.id
    }

    /// Blocks until the record is delivered or fails.
    ///
    /// If the producer thread died before the outcome (a bug), this is
    /// [`ProduceError::Aborted`](odradek_core::ProduceError::Aborted) with a record carrying
    /// only the topic. Once the outcome was taken by [`wait_timeout`](Receipt::wait_timeout)
    /// or [`try_wait`](Receipt::try_wait), it is that too.
    pub fn wait(mut self) -> Result<RecordMetadata, DeliveryError> {
        match self.ticket.wait_outcome(None) {
            Some(outcome) => outcome,
            None => Err(self.ticket.aborted()),
        }
    }

    /// Waits at most `timeout`; `None` if the outcome has not come yet (or was already
    /// taken). The receipt stays usable after a timeout.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<DeliveryResult> {
        self.ticket.wait_outcome(Some(timeout))
    }

    /// The outcome if it has come; `None` otherwise (or once taken).
    pub fn try_wait(&mut self) -> Option<DeliveryResult> {
        self.ticket.try_outcome()
    }
}

/// Where an accepted record's outcome goes.
enum Track<F> {
    Receipt,
    Channel,
    Callback(F),
}

/// What a send does when the buffer (or, for channel input, the outcome queues) is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenFull {
    /// Block until there is room (`send`).
    Wait,
    /// Refuse at once with `BufferFull` (`try_send`).
    Refuse,
}

/// How long a receiver waits for the next outcome.
#[derive(Debug, Clone, Copy)]
enum Patience {
    /// Until one comes or the producer finished (`recv`).
    Forever,
    /// Until this instant (`recv_timeout`).
    Until(std::time::Instant),
    /// Not at all (`try_recv`).
    None,
}

/// A `Track` without a callback.
type NoCallback = fn(DeliveryResult);

/// Everything the I/O thread and the user threads share, under one lock.
#[derive(Debug)]
struct State {
    producer: MioProducer,
    /// Where outcomes go (the routing the async adapters use too), channel queues, counts.
    router: Router,
    /// The deadline the I/O thread sleeps until (`None`: no timer).
    armed: Option<Instant>,
    /// Live [`BlockingProducer`] / [`InputSender`] handles; at zero the producer closes.
    handles: usize,
    /// `close` (or the last handle's drop) began the shutdown.
    shutting_down: bool,
    /// `Closed` was seen, or the thread died: nothing more will happen.
    finished: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled whenever outcomes arrive, queues are read, or the producer finishes.
    changed: Condvar,
    waker: Waker,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases the lock, then runs the callbacks whose outcome came meanwhile (they may
    /// call the producer).
    fn release(&self, mut st: MutexGuard<'_, State>) {
        if st.router.callbacks_ready() {
            let mut ready = ReadyCallbacks::default();
            st.router.take_callbacks(&mut ready);
            drop(st);
            self.run_callbacks(&mut ready);
        }
    }

    /// Runs callbacks taken from the router (no lock held) and reports them finished.
    fn run_callbacks(&self, ready: &mut ReadyCallbacks) {
        if ready.is_empty() {
            return;
        }
        let ran = ready.run();
        if self.lock().router.callbacks_finished(ran) {
            self.changed.notify_all();
        }
    }

    /// Waits for a change. Returns early (callers re-check) after running callbacks that
    /// were ready.
    fn wait<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        if st.router.callbacks_ready() {
            self.release(st);
            return self.lock();
        }
        self.changed
            .wait(st)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Routes outcomes and wakes the I/O thread if the producer's deadline moved before the one
    /// it sleeps until.
    fn settle(&self, st: &mut State) {
        if st.route_outcomes() {
            self.changed.notify_all();
        }
        let next = st.producer.deadline();
        let earlier = match (st.armed, next) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(armed), Some(next)) => next < armed,
        };
        if earlier {
            st.armed = next;
            let _ = self.waker.wake();
        }
    }

    /// Sends one record; `when_full` says whether it blocks while the buffer (or, for channel
    /// input, the outcome queues) is full, `track` where the outcome goes.
    fn submit<F>(
        &self,
        record: Record,
        when_full: WhenFull,
        track: Track<F>,
    ) -> Result<Option<Receipt>, SendError>
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        let (st, result) = self.submit_locked(self.lock(), record, when_full, track);
        self.release(st);
        result
    }

    fn submit_locked<'a, F>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        mut record: Record,
        when_full: WhenFull,
        track: Track<F>,
    ) -> (MutexGuard<'a, State>, Result<Option<Receipt>, SendError>)
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        let wait = when_full == WhenFull::Wait;
        let channel = matches!(track, Track::Channel);
        loop {
            if st.finished || st.shutting_down {
                let kind = SendErrorKind::Closed;
                return (st, Err(SendError { kind, record }));
            }
            if channel && st.router.channels_full() {
                if !wait {
                    let kind = SendErrorKind::BufferFull;
                    return (st, Err(SendError { kind, record }));
                }
                st = self.wait(st);
                continue;
            }
            let topic = record.topic.clone();
            match st.producer.send(record) {
                Ok(id) => {
                    let receipt = match track {
                        Track::Receipt => Some(Receipt {
                            id,
                            ticket: st.router.track_ticket(id, topic),
                        }),
                        Track::Channel => {
                            st.router.track_channel(id);
                            None
                        }
                        Track::Callback(f) => {
                            st.router.track_callback(id, topic, f);
                            None
                        }
                    };
                    self.settle(&mut st);
                    return (st, Ok(receipt));
                }
                Err(e) if wait && e.kind == SendErrorKind::BufferFull => {
                    record = e.record;
                    if st.route_outcomes() {
                        self.changed.notify_all();
                        continue;
                    }
                    st = self.wait(st);
                }
                Err(e) => return (st, Err(e)),
            }
        }
    }

    fn flush(&self) {
        let mut st = self.lock();
        let mark = st.router.flush_mark();
        if !st.finished {
            st.producer.flush();
            self.settle(&mut st);
            let _ = self.waker.wake();
        }
        while !st.finished && !st.router.flushed(mark) {
            st = self.wait(st);
        }
        self.release(st);
    }

    /// Begins the graceful close (idempotent); does not wait.
    fn begin_close(&self) {
        let mut st = self.lock();
        if !st.shutting_down && !st.finished {
            st.shutting_down = true;
            st.producer.close();
            self.settle(&mut st);
        }
        self.release(st);
        let _ = self.waker.wake();
    }

    /// Closes, waits for the thread to finish, and reports.
    fn close(&self) -> CloseReport {
        self.begin_close();
        let mut st = self.lock();
        while !st.finished || st.router.callbacks_outstanding() > 0 {
            st = self.wait(st);
        }
        self.release(st);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        let mut st = self.lock();
        let report = st.router.report();
        self.release(st);
        report
    }
}

impl State {
    /// Routes every outcome the producer has; `true` if there were any.
    fn route_outcomes(&mut self) -> bool {
        while let Some(queued) = self.producer.poll_queued() {
            match queued {
                Queued::Batch(batch) => self.router.complete_batch(batch),
                Queued::Event(ProducerEvent::Delivered {
                    id,
                    metadata,
                    record,
                }) => self.router.complete(id, Ok(metadata), record),
                Queued::Event(ProducerEvent::Failed { id, error }) => {
                    self.router.complete(id, Err(error.error), error.record)
                }
                Queued::Event(ProducerEvent::Closed) => self.finished = true,
            }
        }
        // `Closed` routes nothing but wakes waiters all the same.
        self.router.settle() || self.finished
    }
}

/// Marks the producer finished when the I/O thread ends, however it ends (a panic included),
/// so that nobody waits for good.
struct ThreadGuard(Arc<Shared>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.finished = true;
        // Receipts still waiting report `Aborted`; callbacks run with it.
        st.router.abort_all();
        self.0.release(st);
        self.0.changed.notify_all();
    }
}

/// The I/O thread: poll, hand events to the producer, route outcomes, until `Closed`.
fn run(shared: Arc<Shared>, mut poll: Poll) {
    let _guard = ThreadGuard(Arc::clone(&shared));
    let mut events = Events::with_capacity(256);
    let mut ready = ReadyCallbacks::default();
    let run_callbacks = |mut st: MutexGuard<'_, State>, ready: &mut ReadyCallbacks| {
        st.router.take_callbacks(ready);
        drop(st);
        shared.run_callbacks(ready);
    };
    loop {
        let timeout = {
            let mut st = shared.lock();
            st.producer.after_poll();
            if st.route_outcomes() {
                shared.changed.notify_all();
            }
            if st.finished {
                run_callbacks(st, &mut ready);
                return;
            }
            st.armed = st.producer.deadline();
            let timeout = st.producer.timeout();
            run_callbacks(st, &mut ready);
            timeout
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return;
            }
        }
        let mut st = shared.lock();
        for event in events.iter() {
            if st.producer.owns(event.token()) {
                st.producer.handle_event(event);
            }
        }
        if st.route_outcomes() {
            shared.changed.notify_all();
        }
        run_callbacks(st, &mut ready);
    }
}

/// A counted reference to the producer: the last one dropped closes it in the background.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    fn new(shared: Arc<Shared>) -> Handle {
        shared.lock().handles += 1;
        Handle { shared }
    }

    /// Sends one record whose outcome goes to a callback or the channel queues (no receipt).
    fn send_unreceipted<F>(
        &self,
        record: Record,
        when_full: WhenFull,
        track: Track<F>,
    ) -> Result<(), SendError>
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        self.shared.submit(record, when_full, track).map(drop)
    }
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        Handle::new(Arc::clone(&self.shared))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.handles -= 1;
        let last = st.handles == 0;
        drop(st);
        if last {
            self.shared.begin_close();
        }
    }
}

/// Validates `config`, builds the poller and the producer, and spawns the I/O thread.
fn start(config: Config, channels: Option<ChannelQueues>) -> Result<Arc<Shared>, ConnectError> {
    let poll = Poll::new().map_err(ConnectError::Io)?;
    let waker = Waker::new(poll.registry(), WAKER).map_err(ConnectError::Io)?;
    let mut producer = MioProducer::new(config, poll.registry(), CONN_TOKENS)?;
    producer.set_record_overhead(RECORD_OVERHEAD);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            producer,
            router: Router::new(channels),
            armed: None,
            handles: 0,
            shutting_down: false,
            finished: false,
        }),
        changed: Condvar::new(),
        waker,
        thread: Mutex::new(None),
    });
    let thread_shared = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("odradek-mio".into())
        .spawn(move || run(thread_shared, poll))
        .map_err(ConnectError::Io)?;
    *shared.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
    Ok(shared)
}

/// A Kafka producer on its own thread, with a blocking API: a cheap, cloneable, `Send + Sync`
/// handle; every clone talks to the same producer.
///
/// The thread owns a `mio::Poll` and a [`MioProducer`]. Calls from other threads take a lock
/// on the producer and act on it directly (so [`send`](BlockingProducer::send) knows at once
/// whether the record was taken, and writes its request bytes itself when they are ready), and
/// wake the thread through a [`mio::Waker`] only when its timer must move earlier. Host names
/// are resolved on whichever thread asks for the connection (see [`MioProducer`] on DNS).
///
/// When the last handle is dropped without [`close`](BlockingProducer::close), the producer
/// closes gracefully in the background and every outstanding [`Receipt`] still gets its
/// outcome.
#[derive(Debug, Clone)]
pub struct BlockingProducer {
    handle: Handle,
}

impl BlockingProducer {
    /// Validates `config` and starts the producer thread. It returns before any broker has
    /// answered: connections are made in the background and records sent meanwhile wait in
    /// the buffer; an unreachable cluster shows up as failed records (after
    /// `delivery.timeout`), not as an error here. A bootstrap list none of whose entries
    /// resolves is an error here ([`ConnectError::Bootstrap`]).
    pub fn connect(config: Config) -> Result<BlockingProducer, ConnectError> {
        Ok(BlockingProducer {
            handle: Handle::new(start(config, None)?),
        })
    }

    /// The original's channel shape: an input of records, an opt-in receiver of successes and
    /// a receiver of errors.
    ///
    /// # No deadlock on an unread receiver
    ///
    /// In the 2015 original, a producer whose successes or errors channel was not read stopped
    /// dead, in-flight records and `close` included. Here the producer thread **never** waits
    /// on a receiver: outcomes go into queues, and what bounds them is the *input* side.
    /// [`InputSender::send`] waits (and [`InputSender::try_send`] refuses with
    /// [`SendErrorKind::BufferFull`]) while [`ChannelOptions::capacity`] outcomes or more are
    /// unread, as well as while `buffer.memory` is full; so at most `capacity` plus the records
    /// in flight (bounded by `buffer.memory`) are ever queued. Records already accepted always
    /// get their outcome, and [`InputSender::flush`] and [`InputSender::close`] return whether
    /// or not anyone reads. Dropping a receiver means "not interested": a dropped
    /// [`Successes`] discards successes; a dropped [`Errors`] sends failures to the
    /// [`CloseReport`] as unobserved. Neither counts against `capacity` any more.
    ///
    /// Both receivers end (`None`) once the producer has closed and their queue is read.
    pub fn channels(
        config: Config,
        options: ChannelOptions,
    ) -> Result<(InputSender, Option<Successes>, Errors), ConnectError> {
        let shared = start(config, Some(ChannelQueues::new(options)))?;
        let successes = options.return_successes.then(|| Successes {
            shared: Arc::clone(&shared),
        });
        let errors = Errors {
            shared: Arc::clone(&shared),
        };
        let input = InputSender {
            handle: Handle::new(shared),
        };
        Ok((input, successes, errors))
    }

    /// Sends a record, **blocking while `buffer.memory` is full** (backpressure: it resumes as
    /// soon as outcomes free space). Refuses at once, handing the record back, when it is too
    /// large, names an invalid topic or partition, or the producer is closed.
    ///
    /// If brokers stay unreachable and `delivery.timeout` is `None`, a full buffer never drains
    /// and this waits for good; [`try_send`](BlockingProducer::try_send) never waits.
    pub fn send(&self, record: Record) -> Result<Receipt, SendError> {
        let receipt =
            self.handle
                .shared
                .submit::<NoCallback>(record, WhenFull::Wait, Track::Receipt)?;
        Ok(receipt.expect("a receipt is made for every accepted record"))
    }

    /// Sends a record without waiting: like [`send`](BlockingProducer::send), but a full buffer
    /// refuses at once with [`SendErrorKind::BufferFull`].
    pub fn try_send(&self, record: Record) -> Result<Receipt, SendError> {
        let receipt =
            self.handle
                .shared
                .submit::<NoCallback>(record, WhenFull::Refuse, Track::Receipt)?;
        Ok(receipt.expect("a receipt is made for every accepted record"))
    }

    /// Sends a record whose outcome goes to `callback` instead of a [`Receipt`]: it runs
    /// once, with the record's outcome, on the producer thread (or on a thread calling the
    /// producer when that call routed the outcome), never under the producer's lock, so it
    /// may call the producer. Blocks and refuses as [`send`](BlockingProducer::send) does; a
    /// refused record is handed back and `callback` is dropped without running.
    ///
    /// Nothing is allocated per record: the callback is stored by value in a pool of its
    /// closure type, reused as callbacks run. Keep it quick: it holds up the producer's I/O. It must not
    /// call [`flush`](BlockingProducer::flush) or [`close`](BlockingProducer::close): they
    /// wait for every callback to have run.
    pub fn send_with<F>(&self, record: Record, callback: F) -> Result<(), SendError>
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        self.handle
            .send_unreceipted(record, WhenFull::Wait, Track::Callback(callback))
    }

    /// [`send_with`](BlockingProducer::send_with) without waiting: a full buffer refuses at
    /// once with [`SendErrorKind::BufferFull`].
    pub fn try_send_with<F>(&self, record: Record, callback: F) -> Result<(), SendError>
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        self.handle
            .send_unreceipted(record, WhenFull::Refuse, Track::Callback(callback))
    }

    /// Sends every buffered record now (ignoring `linger`) and blocks until every record sent
    /// before this call, from any handle, has its outcome.
    pub fn flush(&self) {
        self.handle.shared.flush();
    }

    /// Closes gracefully: takes no more records (other handles' sends are refused with
    /// [`SendErrorKind::Closed`]), delivers or fails every record already accepted, closes the
    /// connections, stops the thread, and reports.
    pub fn close(self) -> CloseReport {
        self.handle.shared.close()
    }

    /// Records accepted and still waiting for an outcome.
    pub fn pending_records(&self) -> usize {
        self.handle.shared.lock().router.pending()
    }

    /// Bytes of `buffer.memory` in use.
    pub fn buffered_bytes(&self) -> usize {
        self.handle.shared.lock().producer.core().buffered_bytes()
    }

    /// A snapshot of what the producer did and holds (see [`crate::observe`]).
    pub fn stats(&self) -> odradek_core::Stats {
        self.handle.shared.lock().producer.stats()
    }
}

/// The input of the channel shape: send records; their outcomes go to the [`Successes`] and
/// [`Errors`] receivers. Cloneable and `Send + Sync`; when every clone is dropped the producer
/// closes gracefully and the receivers end after their last outcome.
#[derive(Debug, Clone)]
pub struct InputSender {
    handle: Handle,
}

impl InputSender {
    /// Sends a record. Blocks while `buffer.memory` is full or `capacity` outcomes wait unread
    /// (see [`BlockingProducer::channels`]); refuses at once, handing the record back, for
    /// every other reason (too large, invalid topic, closed).
    pub fn send(&self, record: Record) -> Result<(), SendError> {
        self.handle
            .send_unreceipted(record, WhenFull::Wait, Track::<NoCallback>::Channel)
    }

    /// Sends a record without waiting: a full buffer or full outcome queues refuse at once
    /// with [`SendErrorKind::BufferFull`].
    pub fn try_send(&self, record: Record) -> Result<(), SendError> {
        self.handle
            .send_unreceipted(record, WhenFull::Refuse, Track::<NoCallback>::Channel)
    }

    /// Blocks until every record sent before the call has its outcome (queued on a receiver,
    /// or counted).
    pub fn flush(&self) {
        self.handle.shared.flush();
    }

    /// Closes gracefully (every accepted record gets its outcome on the receivers) and reports.
    pub fn close(self) -> CloseReport {
        self.handle.shared.close()
    }
}

/// Blocking receive from one of the outcome queues.
fn receive<T>(
    shared: &Shared,
    patience: Patience,
    pop: impl Fn(&mut ChannelQueues) -> Option<T>,
) -> Result<T, RecvTimeoutError> {
    let mut st = shared.lock();
    loop {
        if let Some(item) = st.router.channels.as_mut().and_then(&pop) {
            drop(st);
            // Input may be waiting for queue space.
            shared.changed.notify_all();
            return Ok(item);
        }
        if st.finished {
            return Err(RecvTimeoutError::Disconnected);
        }
        st = match patience {
            Patience::None => return Err(RecvTimeoutError::Timeout),
            Patience::Forever => shared.wait(st),
            Patience::Until(deadline) => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(RecvTimeoutError::Timeout);
                }
                shared
                    .changed
                    .wait_timeout(st, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}

fn to_try(e: RecvTimeoutError) -> TryRecvError {
    match e {
        RecvTimeoutError::Timeout => TryRecvError::Empty,
        RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
    }
}

/// Delivered records with where they went (opt-in with
/// [`ChannelOptions::return_successes`]). Dropping it discards successes.
///
/// An [`Iterator`] that blocks for the next success and ends once the producer has closed
/// and everything was read.
pub struct Successes {
    shared: Arc<Shared>,
}

impl fmt::Debug for Successes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Successes").finish_non_exhaustive()
    }
}

impl Successes {
    fn pop(q: &mut ChannelQueues) -> Option<(RecordMetadata, Record)> {
        q.successes.pop_front()
    }

    /// Blocks for the next success; `None` once the producer has closed and all were read.
    pub fn recv(&self) -> Option<(RecordMetadata, Record)> {
        receive(&self.shared, Patience::Forever, Self::pop).ok()
    }

    /// Waits at most `timeout` for the next success.
    pub fn recv_timeout(
        &self,
        timeout: Duration,
    ) -> Result<(RecordMetadata, Record), RecvTimeoutError> {
        let deadline = std::time::Instant::now() + timeout;
        receive(&self.shared, Patience::Until(deadline), Self::pop)
    }

    /// The next success if one is queued.
    pub fn try_recv(&self) -> Result<(RecordMetadata, Record), TryRecvError> {
        receive(&self.shared, Patience::None, Self::pop).map_err(to_try)
    }
}

impl Iterator for Successes {
    type Item = (RecordMetadata, Record);
    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

impl Drop for Successes {
    fn drop(&mut self) {
        self.shared.lock().router.close_successes();
        self.shared.changed.notify_all();
    }
}

/// Records that failed for good, each with its reason. Dropping it sends later failures to the
/// [`CloseReport`] instead.
///
/// An [`Iterator`] that blocks for the next failure and ends once the producer has closed and
/// everything was read.
pub struct Errors {
    shared: Arc<Shared>,
}

impl fmt::Debug for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Errors").finish_non_exhaustive()
    }
}

impl Errors {
    fn pop(q: &mut ChannelQueues) -> Option<DeliveryError> {
        q.errors.pop_front()
    }

    /// Blocks for the next failure; `None` once the producer has closed and all were read.
    pub fn recv(&self) -> Option<DeliveryError> {
        receive(&self.shared, Patience::Forever, Self::pop).ok()
    }

    /// Waits at most `timeout` for the next failure.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<DeliveryError, RecvTimeoutError> {
        let deadline = std::time::Instant::now() + timeout;
        receive(&self.shared, Patience::Until(deadline), Self::pop)
    }

    /// The next failure if one is queued.
    pub fn try_recv(&self) -> Result<DeliveryError, TryRecvError> {
        receive(&self.shared, Patience::None, Self::pop).map_err(to_try)
    }
}

impl Iterator for Errors {
    type Item = DeliveryError;
    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        self.shared.lock().router.close_errors();
        self.shared.changed.notify_all();
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<BlockingProducer>();
    is::<InputSender>();
    is::<Successes>();
    is::<Errors>();
    fn is_send<T: Send>() {}
    is_send::<Receipt>();
    is_send::<MioProducer>();
}
