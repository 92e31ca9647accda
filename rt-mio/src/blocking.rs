//! [`BlockingProducer`]: a ready-made producer on its own thread, with a blocking API, and the
//! original's channel shape ([`InputSender`], [`Successes`], [`Errors`]).

use crate::embedded::{MioProducer, ProducerEvent, TokenRange};
use crate::ConnectError;
use mio::{Events, Poll, Token, Waker};
use odradek_core::{
    Config, DeliveryError, Instant, ProduceError, Record, RecordId, RecordMetadata, SendError,
    SendErrorKind, TopicName,
};
pub use odradek_driver::{ChannelOptions, CloseReport};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The I/O thread's waker token; the producer's connections use the tokens after it.
const WAKER: Token = Token(0);
/// Tokens for broker connections.
const CONN_TOKENS: TokenRange = TokenRange::new(1, 1 << 20);
/// Unobserved failures kept with their records for [`CloseReport::unobserved_failures`].
const UNOBSERVED_KEEP: usize = 1024;

/// What one pending record costs here beyond its encoded bytes: the core's share
/// ([`CORE_RECORD_OVERHEAD`](crate::embedded::CORE_RECORD_OVERHEAD)) plus this thread's
/// routing entries and, with [`BlockingProducer::send`], the receipt's one-slot channel
/// (std's channel keeps cache-padded counters and room for the outcome), about 2 KiB in all
/// as measured with `tests/memory.rs`. Charged against `buffer.memory`, see
/// [`MioProducer::send`].
const RECORD_OVERHEAD: usize = 2048;

type DeliveryResult = Result<RecordMetadata, DeliveryError>;

/// The outcome of one record sent with [`BlockingProducer::send`]. Dropping it does not cancel
/// the record; a failure nobody waited for shows up in the [`CloseReport`].
pub struct Receipt {
    id: RecordId,
    topic: TopicName,
    rx: Receiver<DeliveryResult>,
    taken: bool,
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipt")
            .field("id", &self.id)
            .field("topic", &self.topic)
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
    /// [`ProduceError::Aborted`] with a record carrying only the topic. Once the outcome was
    /// taken by [`wait_timeout`](Receipt::wait_timeout) or [`try_wait`](Receipt::try_wait),
    /// it is that too.
    pub fn wait(self) -> Result<RecordMetadata, DeliveryError> {
        if self.taken {
            return Err(self.aborted());
        }
        match self.rx.recv() {
            Ok(outcome) => outcome,
            Err(_) => Err(self.aborted()),
        }
    }

    /// Waits at most `timeout`; `None` if the outcome has not come yet (or was already
    /// taken). The receipt stays usable after a timeout.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<DeliveryResult> {
        if self.taken {
            return None;
        }
        let outcome = match self.rx.recv_timeout(timeout) {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => Err(self.aborted()),
        };
        self.taken = true;
        Some(outcome)
    }

    /// The outcome if it has come; `None` otherwise (or once taken).
    pub fn try_wait(&mut self) -> Option<DeliveryResult> {
        if self.taken {
            return None;
        }
        let outcome = match self.rx.try_recv() {
            Ok(outcome) => outcome,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(self.aborted()),
        };
        self.taken = true;
        Some(outcome)
    }

    fn aborted(&self) -> DeliveryError {
        DeliveryError {
            error: ProduceError::Aborted,
            record: Record::new(self.topic.clone()),
        }
    }
}

/// Where a record's outcome goes.
#[derive(Debug)]
enum Route {
    Receipt(SyncSender<DeliveryResult>),
    Channel,
}

/// A record awaiting its outcome.
#[derive(Debug)]
struct Pending {
    seq: u64,
    route: Route,
}

/// The queues behind [`Successes`] and [`Errors`].
#[derive(Debug)]
struct ChannelQueues {
    return_successes: bool,
    capacity: usize,
    successes: VecDeque<(RecordMetadata, Record)>,
    errors: VecDeque<DeliveryError>,
    successes_open: bool,
    errors_open: bool,
}

impl ChannelQueues {
    fn unread(&self) -> usize {
        self.successes.len() + self.errors.len()
    }
}

/// Everything the I/O thread and the user threads share, under one lock.
#[derive(Debug)]
struct State {
    producer: MioProducer,
    pending: HashMap<RecordId, Pending>,
    /// Sequence numbers (in `send` order) of records without an outcome, for `flush`.
    outstanding: BTreeSet<u64>,
    next_seq: u64,
    /// The deadline the I/O thread sleeps until (`None`: no timer).
    armed: Option<Instant>,
    channels: Option<ChannelQueues>,
    /// Live [`BlockingProducer`] / [`InputSender`] handles; at zero the producer closes.
    handles: usize,
    /// `close` (or the last handle's drop) began the shutdown.
    shutting_down: bool,
    /// `Closed` was seen, or the thread died: nothing more will happen.
    finished: bool,
    delivered: u64,
    failed: u64,
    unobserved_failed: u64,
    unobserved: Vec<DeliveryError>,
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

    fn wait<'a>(&self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(st)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Routes outcomes and wakes the I/O thread if the producer's deadline moved before the one
    /// it sleeps until.
    fn settle(&self, st: &mut State) {
        if st.dispatch() {
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

    /// Sends one record. `wait` blocks while the buffer (or, for channel input, the outcome
    /// queues) is full; `receipt` routes the outcome to a new [`Receipt`].
    fn submit(
        &self,
        mut record: Record,
        wait: bool,
        receipt: bool,
    ) -> Result<(RecordId, Option<Receipt>), SendError> {
        let mut st = self.lock();
        loop {
            if st.finished || st.shutting_down {
                return Err(SendError {
                    kind: SendErrorKind::Closed,
                    record,
                });
            }
            let queues_full = !receipt
                && st
                    .channels
                    .as_ref()
                    .is_some_and(|q| q.unread() >= q.capacity);
            if queues_full {
                if !wait {
                    return Err(SendError {
                        kind: SendErrorKind::BufferFull,
                        record,
                    });
                }
                st = self.wait(st);
                continue;
            }
            let topic = record.topic.clone();
            match st.producer.send(record) {
                Ok(id) => {
                    let seq = st.next_seq;
                    st.next_seq += 1;
                    let (route, receipt) = if receipt {
                        let (tx, rx) = mpsc::sync_channel(1);
                        let receipt = Receipt {
                            id,
                            topic,
                            rx,
                            taken: false,
                        };
                        (Route::Receipt(tx), Some(receipt))
                    } else {
                        (Route::Channel, None)
                    };
                    st.pending.insert(id, Pending { seq, route });
                    st.outstanding.insert(seq);
                    self.settle(&mut st);
                    return Ok((id, receipt));
                }
                Err(e) if wait && e.kind == SendErrorKind::BufferFull => {
                    record = e.record;
                    if st.dispatch() {
                        self.changed.notify_all();
                        continue;
                    }
                    st = self.wait(st);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&self) {
        let mut st = self.lock();
        let mark = st.next_seq;
        if !st.finished {
            st.producer.flush();
            self.settle(&mut st);
            let _ = self.waker.wake();
        }
        while !st.finished && st.outstanding.first().is_some_and(|&seq| seq < mark) {
            st = self.wait(st);
        }
    }

    /// Begins the graceful close (idempotent); does not wait.
    fn begin_close(&self) {
        let mut st = self.lock();
        if !st.shutting_down && !st.finished {
            st.shutting_down = true;
            st.producer.close();
            self.settle(&mut st);
        }
        drop(st);
        let _ = self.waker.wake();
    }

    /// Closes, waits for the thread to finish, and reports.
    fn close(&self) -> CloseReport {
        self.begin_close();
        let mut st = self.lock();
        while !st.finished {
            st = self.wait(st);
        }
        drop(st);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        let mut st = self.lock();
        CloseReport {
            delivered: st.delivered,
            failed: st.failed,
            unobserved_failed: st.unobserved_failed,
            unobserved_failures: std::mem::take(&mut st.unobserved),
        }
    }
}

impl State {
    /// Routes every outcome the producer has; `true` if there were any.
    fn dispatch(&mut self) -> bool {
        let mut any = false;
        while let Some(event) = self.producer.poll_event() {
            any = true;
            match event {
                ProducerEvent::Delivered {
                    id,
                    metadata,
                    record,
                } => {
                    self.delivered += 1;
                    match self.take(id) {
                        Some(Route::Receipt(tx)) => {
                            let _ = tx.try_send(Ok(metadata));
                        }
                        Some(Route::Channel) | None => {
                            if let Some(q) = &mut self.channels {
                                if q.return_successes && q.successes_open {
                                    q.successes.push_back((metadata, record));
                                }
                            }
                        }
                    }
                }
                ProducerEvent::Failed { id, error } => {
                    self.failed += 1;
                    match self.take(id) {
                        Some(Route::Receipt(tx)) => {
                            if let Err(
                                TrySendError::Full(Err(error))
                                | TrySendError::Disconnected(Err(error)),
                            ) = tx.try_send(Err(error))
                            {
                                self.unobserved_failure(error);
                            }
                        }
                        Some(Route::Channel) | None => match &mut self.channels {
                            Some(q) if q.errors_open => q.errors.push_back(error),
                            _ => self.unobserved_failure(error),
                        },
                    }
                }
                ProducerEvent::Closed => self.finished = true,
            }
        }
        any
    }

    fn take(&mut self, id: RecordId) -> Option<Route> {
        let pending = self.pending.remove(&id)?;
        self.outstanding.remove(&pending.seq);
        Some(pending.route)
    }

    fn unobserved_failure(&mut self, error: DeliveryError) {
        self.unobserved_failed += 1;
        if self.unobserved.len() < UNOBSERVED_KEEP {
            self.unobserved.push(error);
        }
    }
}

/// Marks the producer finished when the I/O thread ends, however it ends (a panic included),
/// so that nobody waits for good.
struct ThreadGuard(Arc<Shared>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.finished = true;
        // Receipts still waiting see their sender go and report `Aborted`.
        st.pending.retain(|_, p| matches!(p.route, Route::Channel));
        drop(st);
        self.0.changed.notify_all();
    }
}

/// The I/O thread: poll, hand events to the producer, route outcomes, until `Closed`.
fn run(shared: Arc<Shared>, mut poll: Poll) {
    let _guard = ThreadGuard(Arc::clone(&shared));
    let mut events = Events::with_capacity(256);
    loop {
        let timeout = {
            let mut st = shared.lock();
            st.producer.handle_timeout();
            if st.dispatch() {
                shared.changed.notify_all();
            }
            if st.finished {
                return;
            }
            st.armed = st.producer.deadline();
            st.producer.timeout()
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
        if st.dispatch() {
            shared.changed.notify_all();
        }
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
            pending: HashMap::new(),
            outstanding: BTreeSet::new(),
            next_seq: 0,
            armed: None,
            channels,
            handles: 0,
            shutting_down: false,
            finished: false,
            delivered: 0,
            failed: 0,
            unobserved_failed: 0,
            unobserved: Vec::new(),
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
    /// `delivery.timeout`), not as an error here.
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
        let queues = ChannelQueues {
            return_successes: options.return_successes,
            capacity: options.capacity.max(1),
            successes: VecDeque::new(),
            errors: VecDeque::new(),
            successes_open: options.return_successes,
            errors_open: true,
        };
        let shared = start(config, Some(queues))?;
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
        let (_, receipt) = self.handle.shared.submit(record, true, true)?;
        Ok(receipt.expect("a receipt is made for every accepted record"))
    }

    /// Sends a record without waiting: like [`send`](BlockingProducer::send), but a full buffer
    /// refuses at once with [`SendErrorKind::BufferFull`].
    pub fn try_send(&self, record: Record) -> Result<Receipt, SendError> {
        let (_, receipt) = self.handle.shared.submit(record, false, true)?;
        Ok(receipt.expect("a receipt is made for every accepted record"))
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
        self.handle.shared.lock().outstanding.len()
    }

    /// Bytes of `buffer.memory` in use.
    pub fn buffered_bytes(&self) -> usize {
        self.handle.shared.lock().producer.core().buffered_bytes()
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
        self.handle.shared.submit(record, true, false).map(drop)
    }

    /// Sends a record without waiting: a full buffer or full outcome queues refuse at once
    /// with [`SendErrorKind::BufferFull`].
    pub fn try_send(&self, record: Record) -> Result<(), SendError> {
        self.handle.shared.submit(record, false, false).map(drop)
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
    deadline: Option<std::time::Instant>,
    block: bool,
    pop: impl Fn(&mut ChannelQueues) -> Option<T>,
) -> Result<T, RecvTimeoutError> {
    let mut st = shared.lock();
    loop {
        if let Some(item) = st.channels.as_mut().and_then(&pop) {
            drop(st);
            // Input may be waiting for queue space.
            shared.changed.notify_all();
            return Ok(item);
        }
        if st.finished {
            return Err(RecvTimeoutError::Disconnected);
        }
        if !block {
            return Err(RecvTimeoutError::Timeout);
        }
        st = match deadline {
            None => shared.wait(st),
            Some(deadline) => {
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
        receive(&self.shared, None, true, Self::pop).ok()
    }

    /// Waits at most `timeout` for the next success.
    pub fn recv_timeout(
        &self,
        timeout: Duration,
    ) -> Result<(RecordMetadata, Record), RecvTimeoutError> {
        let deadline = std::time::Instant::now() + timeout;
        receive(&self.shared, Some(deadline), true, Self::pop)
    }

    /// The next success if one is queued.
    pub fn try_recv(&self) -> Result<(RecordMetadata, Record), TryRecvError> {
        receive(&self.shared, None, false, Self::pop).map_err(to_try)
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
        let mut st = self.shared.lock();
        if let Some(q) = st.channels.as_mut() {
            q.successes_open = false;
            q.successes.clear();
        }
        drop(st);
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
        receive(&self.shared, None, true, Self::pop).ok()
    }

    /// Waits at most `timeout` for the next failure.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<DeliveryError, RecvTimeoutError> {
        let deadline = std::time::Instant::now() + timeout;
        receive(&self.shared, Some(deadline), true, Self::pop)
    }

    /// The next failure if one is queued.
    pub fn try_recv(&self) -> Result<DeliveryError, TryRecvError> {
        receive(&self.shared, None, false, Self::pop).map_err(to_try)
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
        let mut st = self.shared.lock();
        let queued: Vec<DeliveryError> = match st.channels.as_mut() {
            Some(q) => {
                q.errors_open = false;
                q.errors.drain(..).collect()
            }
            None => Vec::new(),
        };
        for e in queued {
            st.unobserved_failure(e);
        }
        drop(st);
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
