//! [`BlockingProducer`]: a ready-made producer on its own thread, with a blocking API.

use crate::embedded::{MioProducer, ProducerEvent, TokenRange};
use crate::ConnectError;
use mio::{Events, Poll, Token, Waker};
use odradek_core::{
    Config, DeliveryError, Instant, Record, RecordId, RecordMetadata, SendError, SendErrorKind,
};
use std::collections::{BTreeSet, HashMap};
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
/// Failures kept for [`CloseReport::unobserved_failures`]; beyond this they are only counted.
const MAX_UNOBSERVED_FAILURES: usize = 10_000;

/// A record that was delivered, as yielded by [`Channels::successes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    /// Where and when it was appended.
    pub metadata: RecordMetadata,
    /// The record, handed back.
    pub record: Record,
}

/// What [`BlockingProducer::close`] reports once every record has its outcome.
#[derive(Debug, Default)]
pub struct CloseReport {
    /// Records delivered over the producer's life.
    pub delivered: u64,
    /// Records failed over the producer's life.
    pub failed: u64,
    /// Failures nobody received: their [`Receipt`] was dropped, or their channel's
    /// [`errors`](Channels::errors) receiver was dropped or full. At most 10 000 are kept.
    pub unobserved_failures: Vec<(RecordId, DeliveryError)>,
    /// Unobserved failures beyond the 10 000 kept.
    pub unobserved_failures_omitted: u64,
    /// Successes of channel-input records that nobody received (successes not requested, or
    /// the [`successes`](Channels::successes) receiver dropped or full).
    pub unobserved_successes: u64,
    /// Records left without an outcome. Always zero unless the producer thread died (a bug).
    pub without_outcome: usize,
}

/// How [`BlockingProducer::connect_with_channels`] returns outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelOptions {
    /// Whether successes are returned on [`Channels::successes`] (Sarama's
    /// `Return.Successes`, off by default).
    pub return_successes: bool,
    /// Capacity of each outcome channel.
    pub capacity: usize,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        ChannelOptions {
            return_successes: false,
            capacity: 1024,
        }
    }
}

/// The original's channel shape: records in, outcomes out.
///
/// **No deadlock when a receiver is not read.** The producer thread never waits on an outcome
/// channel: both are bounded ([`ChannelOptions::capacity`]), and an outcome that finds its
/// channel full or its receiver dropped is not lost silently but counted in the
/// [`CloseReport`] (failures are kept there with their records, up to a limit). Input is
/// refused or blocked only by `buffer.memory`, never by unread outcomes. Read the channels to
/// see every outcome; drop a receiver to say you do not care.
#[derive(Debug)]
pub struct Channels {
    /// Where records go in.
    pub input: RecordSender,
    /// Delivered records, when [`ChannelOptions::return_successes`] was set.
    pub successes: Option<Receiver<Success>>,
    /// Failed records.
    pub errors: Receiver<DeliveryError>,
}

/// The input side of [`Channels`]: cloneable, usable from any thread. Outcomes of records sent
/// here go to the [`Channels`] receivers.
#[derive(Debug, Clone)]
pub struct RecordSender {
    shared: Arc<Shared>,
}

impl RecordSender {
    /// Hands a record over, **blocking** while `buffer.memory` is full. Refusals other than a
    /// full buffer (too large, invalid topic, closed) come back at once with the record.
    pub fn send(&self, record: Record) -> Result<RecordId, SendError> {
        self.shared.submit(record, true, None)
    }

    /// Hands a record over, or refuses it at once ([`SendErrorKind::BufferFull`] when the
    /// buffer is full).
    pub fn try_send(&self, record: Record) -> Result<RecordId, SendError> {
        self.shared.submit(record, false, None)
    }
}

/// The outcome of one record sent with [`BlockingProducer::send`]; dropping it is fine (a
/// failure then shows up in [`CloseReport::unobserved_failures`]).
pub struct Receipt {
    id: RecordId,
    rx: Receiver<Result<RecordMetadata, DeliveryError>>,
    taken: bool,
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipt").field("id", &self.id).finish()
    }
}

const THREAD_DIED: &str = "odradek-mio: the producer thread died before this record's outcome";

impl Receipt {
    /// The record's id.
    pub fn id(&self) -> RecordId {
        self.id
    }

    /// Blocks until the record is delivered or fails.
    ///
    /// # Panics
    ///
    /// If the outcome was already taken with [`wait_timeout`](Receipt::wait_timeout) or
    /// [`try_wait`](Receipt::try_wait), or if the producer thread died (a bug).
    pub fn wait(self) -> Result<RecordMetadata, DeliveryError> {
        assert!(!self.taken, "odradek-mio: the outcome was already taken");
        self.rx.recv().expect(THREAD_DIED)
    }

    /// Waits at most `timeout`; `None` if the outcome has not come (or was already taken).
    ///
    /// # Panics
    ///
    /// If the producer thread died (a bug).
    pub fn wait_timeout(
        &mut self,
        timeout: Duration,
    ) -> Option<Result<RecordMetadata, DeliveryError>> {
        if self.taken {
            return None;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(outcome) => {
                self.taken = true;
                Some(outcome)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("{THREAD_DIED}"),
        }
    }

    /// The outcome if it has come; `None` otherwise (or when already taken).
    ///
    /// # Panics
    ///
    /// If the producer thread died (a bug).
    pub fn try_wait(&mut self) -> Option<Result<RecordMetadata, DeliveryError>> {
        if self.taken {
            return None;
        }
        match self.rx.try_recv() {
            Ok(outcome) => {
                self.taken = true;
                Some(outcome)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => panic!("{THREAD_DIED}"),
        }
    }
}

/// Where a record's outcome goes.
#[derive(Debug)]
enum Route {
    Receipt(SyncSender<Result<RecordMetadata, DeliveryError>>),
    Channel,
}

/// A record awaiting its outcome.
#[derive(Debug)]
struct Pending {
    seq: u64,
    route: Route,
}

/// Outcome channels of [`Channels`].
#[derive(Debug)]
struct Sinks {
    successes: Option<SyncSender<Success>>,
    errors: SyncSender<DeliveryError>,
}

/// Everything both the I/O thread and the user threads touch, under one lock.
#[derive(Debug)]
struct State {
    producer: MioProducer,
    pending: HashMap<RecordId, Pending>,
    /// Sequence numbers (in `send` order) of records without an outcome, for `flush`.
    outstanding: BTreeSet<u64>,
    next_seq: u64,
    /// The deadline the I/O thread sleeps until (`None`: no timer).
    armed: Option<Instant>,
    sinks: Option<Sinks>,
    report: CloseReport,
    closed: bool,
    dead: bool,
    /// `close` or drop began the shutdown.
    shutting_down: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when outcomes arrive, on close and when the thread dies.
    changed: Condvar,
    waker: Waker,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the I/O thread if the producer's deadline moved before the one it sleeps until.
    fn rearm(&self, st: &mut State) {
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

    /// Sends one record; `block` waits while the buffer is full; `receipt` routes the outcome.
    fn submit(
        &self,
        mut record: Record,
        block: bool,
        receipt: Option<&mut Option<Receipt>>,
    ) -> Result<RecordId, SendError> {
        let mut st = self.lock();
        loop {
            if st.dead {
                return Err(SendError {
                    kind: SendErrorKind::Closed,
                    record,
                });
            }
            match st.producer.send(record) {
                Ok(id) => {
                    let seq = st.next_seq;
                    st.next_seq += 1;
                    let route = match receipt {
                        Some(slot) => {
                            let (tx, rx) = mpsc::sync_channel(1);
                            *slot = Some(Receipt {
                                id,
                                rx,
                                taken: false,
                            });
                            Route::Receipt(tx)
                        }
                        None => Route::Channel,
                    };
                    st.pending.insert(id, Pending { seq, route });
                    st.outstanding.insert(seq);
                    if st.dispatch() {
                        self.changed.notify_all();
                    }
                    self.rearm(&mut st);
                    return Ok(id);
                }
                Err(e) if block && e.kind == SendErrorKind::BufferFull => {
                    record = e.record;
                    if st.dispatch() {
                        self.changed.notify_all();
                        continue;
                    }
                    st = self
                        .changed
                        .wait(st)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Begins the graceful close (idempotent).
    fn begin_close(&self) {
        let mut st = self.lock();
        if !st.shutting_down {
            st.shutting_down = true;
            st.producer.close();
            if st.dispatch() {
                self.changed.notify_all();
            }
        }
        let _ = self.waker.wake();
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
                    self.report.delivered += 1;
                    match self.take(id) {
                        Some(Route::Receipt(tx)) => {
                            let _ = tx.try_send(Ok(metadata));
                        }
                        Some(Route::Channel) | None => {
                            let sent = self
                                .sinks
                                .as_ref()
                                .and_then(|s| s.successes.as_ref())
                                .map(|tx| tx.try_send(Success { metadata, record }).is_ok());
                            if sent != Some(true) {
                                self.report.unobserved_successes += 1;
                            }
                        }
                    }
                }
                ProducerEvent::Failed { id, error } => {
                    self.report.failed += 1;
                    let unobserved = match self.take(id) {
                        Some(Route::Receipt(tx)) => match tx.try_send(Err(error)) {
                            Ok(()) => None,
                            Err(
                                TrySendError::Full(Err(e)) | TrySendError::Disconnected(Err(e)),
                            ) => Some(e),
                            Err(_) => None,
                        },
                        Some(Route::Channel) | None => match &self.sinks {
                            Some(sinks) => match sinks.errors.try_send(error) {
                                Ok(()) => None,
                                Err(TrySendError::Full(e) | TrySendError::Disconnected(e)) => {
                                    Some(e)
                                }
                            },
                            None => Some(error),
                        },
                    };
                    if let Some(e) = unobserved {
                        if self.report.unobserved_failures.len() < MAX_UNOBSERVED_FAILURES {
                            self.report.unobserved_failures.push((id, e));
                        } else {
                            self.report.unobserved_failures_omitted += 1;
                        }
                    }
                }
                ProducerEvent::Closed => self.closed = true,
            }
        }
        any
    }

    fn take(&mut self, id: RecordId) -> Option<Route> {
        let pending = self.pending.remove(&id)?;
        self.outstanding.remove(&pending.seq);
        Some(pending.route)
    }
}

/// Marks the state dead when the I/O thread ends, however it ends, so no caller waits forever.
struct ThreadGuard(Arc<Shared>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.dead = true;
        // Receipts still waiting learn that no outcome will come.
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
            if st.closed {
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

/// A Kafka producer on its own thread, with a blocking API. `Send + Sync`: share it by
/// reference or in an `Arc` to send from several threads.
///
/// The thread owns a `mio::Poll` and a [`MioProducer`]; calls from other threads take a lock on
/// the producer, act on it directly (so [`send`](BlockingProducer::send) knows at once whether
/// the record was taken) and wake the thread through a [`mio::Waker`] only when its timer must
/// move earlier. Host names are resolved on whichever thread asks for the connection.
///
/// Dropping it without [`close`](BlockingProducer::close) starts the same graceful close in
/// the background without waiting; outcomes still reach their receipts.
#[derive(Debug)]
pub struct BlockingProducer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl BlockingProducer {
    /// Starts the producer thread. It returns at once: brokers are contacted in the background,
    /// and a cluster that cannot be reached shows up as failed records (after
    /// `delivery.timeout`), not as an error here. Errors are a bad configuration or a failure
    /// to set up the poller or the thread.
    pub fn connect(config: Config) -> Result<BlockingProducer, ConnectError> {
        BlockingProducer::start(config, None)
    }

    /// Like [`connect`](BlockingProducer::connect), also returning the original's channel shape
    /// (see [`Channels`] for how unread channels are handled).
    pub fn connect_with_channels(
        config: Config,
        options: ChannelOptions,
    ) -> Result<(BlockingProducer, Channels), ConnectError> {
        let capacity = options.capacity.max(1);
        let (errors_tx, errors) = mpsc::sync_channel(capacity);
        let (successes_tx, successes) = if options.return_successes {
            let (tx, rx) = mpsc::sync_channel(capacity);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let producer = BlockingProducer::start(
            config,
            Some(Sinks {
                successes: successes_tx,
                errors: errors_tx,
            }),
        )?;
        let channels = Channels {
            input: RecordSender {
                shared: Arc::clone(&producer.shared),
            },
            successes,
            errors,
        };
        Ok((producer, channels))
    }

    fn start(config: Config, sinks: Option<Sinks>) -> Result<BlockingProducer, ConnectError> {
        let poll = Poll::new().map_err(ConnectError::Io)?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(ConnectError::Io)?;
        let producer = MioProducer::new(config, poll.registry(), CONN_TOKENS)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                producer,
                pending: HashMap::new(),
                outstanding: BTreeSet::new(),
                next_seq: 0,
                armed: None,
                sinks,
                report: CloseReport::default(),
                closed: false,
                dead: false,
                shutting_down: false,
            }),
            changed: Condvar::new(),
            waker,
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("odradek-mio".into())
            .spawn(move || run(thread_shared, poll))
            .map_err(ConnectError::Io)?;
        Ok(BlockingProducer {
            shared,
            thread: Some(thread),
        })
    }

    /// Sends a record, **blocking while `buffer.memory` is full** (backpressure) until earlier
    /// records complete. Other refusals (too large, invalid topic, closed) return at once with
    /// the record. If brokers are unreachable and `delivery.timeout` is `None`, a full buffer
    /// never drains and this waits for good: use [`try_send`](BlockingProducer::try_send) then.
    pub fn send(&self, record: Record) -> Result<Receipt, SendError> {
        let mut receipt = None;
        self.shared.submit(record, true, Some(&mut receipt))?;
        Ok(receipt.expect("a receipt is made for every accepted record"))
    }

    /// Sends a record or refuses it at once, with [`SendErrorKind::BufferFull`] when the buffer
    /// is full.
    pub fn try_send(&self, record: Record) -> Result<Receipt, SendError> {
        let mut receipt = None;
        self.shared.submit(record, false, Some(&mut receipt))?;
        Ok(receipt.expect("a receipt is made for every accepted record"))
    }

    /// Sends buffered records at once (ignoring `linger`) and blocks until every record sent
    /// before this call, from any thread, has its outcome.
    pub fn flush(&self) {
        let mut st = self.shared.lock();
        let target = st.next_seq;
        st.producer.flush();
        if st.dispatch() {
            self.shared.changed.notify_all();
        }
        let _ = self.shared.waker.wake();
        while !st.dead && st.outstanding.first().is_some_and(|&seq| seq < target) {
            st = self
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Records accepted and still without an outcome.
    pub fn pending_records(&self) -> usize {
        self.shared.lock().outstanding.len()
    }

    /// Graceful close: takes no more records, waits until every accepted record has its
    /// outcome and the connections are closed, stops the thread, and reports.
    pub fn close(mut self) -> CloseReport {
        self.shared.begin_close();
        let mut st = self.shared.lock();
        while !st.closed && !st.dead {
            st = self
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(st);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut st = self.shared.lock();
        let mut report = std::mem::take(&mut st.report);
        report.without_outcome = st.outstanding.len();
        report
    }
}

impl Drop for BlockingProducer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shared.begin_close();
        }
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<BlockingProducer>();
    is::<RecordSender>();
    fn is_send<T: Send>() {}
    is_send::<Receipt>();
    is_send::<MioProducer>();
}
