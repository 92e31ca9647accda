//! [`BlockingProducer`]: a ready-made producer on its own thread, with a blocking API, and the
//! original's channel shape ([`InputSender`], [`Successes`], [`Errors`]).
//!
//! It is odradek-driver's [`Producer`](odradek_driver::Producer) on
//! [`MioRuntime`](crate::runtime::MioRuntime): the driver task runs on the producer thread's
//! `mio::Poll`, and every blocking call here is the driver's async call waited on with a
//! parked thread ([`block_on`]). Only the thread and the waiting are this crate's.

use crate::runtime::{MioRuntime, Reactor};
use crate::ConnectError;
use futures_util::StreamExt;
use odradek_core::{
    Config, DeliveryError, GroupMetadata, Record, RecordId, RecordMetadata, SendError,
    TransactionError, TransactionState, TxnOffset,
};
use odradek_driver::outcomes::Ticket;
pub use odradek_driver::{ChannelOptions, CloseReport, DeliveryResult};
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

type Driver = odradek_driver::Producer<MioRuntime>;

/// Unparks the thread that waits in [`block_on`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// This thread's waker for [`block_on`], made once (no allocation per call).
    static PARK_WAKER: Waker = Waker::from(Arc::new(Unpark(std::thread::current())));
}

/// Polls `future` on this thread, parking between polls, until it is ready or `deadline`
/// passes (`None` then; the future is dropped, which the driver's futures allow at any point).
fn block_on_until<F: Future>(future: F, deadline: Option<std::time::Instant>) -> Option<F::Output> {
    let mut future = pin!(future);
    PARK_WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return Some(v);
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    std::thread::park_timeout(left);
                }
            }
        }
    })
}

/// Polls `future` on this thread until it is ready (see [`block_on_until`]).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    block_on_until(future, None).expect("no deadline")
}

/// Polls `future` once, without waiting.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// The outcome of one record sent with [`BlockingProducer::send`]. Dropping it does not cancel
/// the record; a failure nobody waited for shows up in the [`CloseReport`].
///
/// It is an index into the producer's one table of outcome slots (the driver's delivery
/// futures', see [`odradek_driver::outcomes`]): no channel per record.
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

/// Starts a producer on a [`MioRuntime`] with a thread of its own: `connect` builds the
/// driver's producer on it (spawning the driver task starts the thread).
fn start<T>(
    connect: impl FnOnce(MioRuntime) -> Result<T, odradek_driver::ConnectError>,
) -> Result<(T, Arc<Reactor>), ConnectError> {
    let runtime = MioRuntime::threaded().map_err(ConnectError::Io)?;
    let reactor = Arc::clone(runtime.reactor());
    Ok((connect(runtime)?, reactor))
}

/// A Kafka producer on its own thread, with a blocking API: a cheap, cloneable, `Send + Sync`
/// handle; every clone talks to the same producer.
///
/// The thread owns a `mio::Poll` and runs odradek-driver's driver task on it (the same
/// connection, TLS, write-queue and outcome code as odradek-tokio's). Calls from other threads
/// take the producer's lock and call the core directly (so [`send`](BlockingProducer::send)
/// knows at once whether the record was taken), and wake the thread through a
/// [`mio::Waker`] only when the driver has something to do it would not otherwise get to
/// (request bytes to write, a deadline earlier than its timer). Host names are resolved on the
/// producer thread (see [`MioProducer`](crate::MioProducer) on DNS).
///
/// When the last handle is dropped without [`close`](BlockingProducer::close), the producer
/// closes gracefully in the background and every outstanding [`Receipt`] still gets its
/// outcome.
#[derive(Debug, Clone)]
pub struct BlockingProducer {
    producer: Driver,
    /// The producer thread's reactor, to wait for the thread at `close`.
    thread: Arc<Reactor>,
}

impl BlockingProducer {
    /// Validates `config` and starts the producer thread. It returns before any broker has
    /// answered: connections are made in the background and records sent meanwhile wait in
    /// the buffer; an unreachable cluster shows up as failed records (after
    /// `delivery.timeout`), not as an error here. A bootstrap list none of whose entries
    /// resolves is an error here ([`ConnectError::Bootstrap`]).
    pub fn connect(config: Config) -> Result<BlockingProducer, ConnectError> {
        let (producer, thread) = start(|runtime| block_on(Driver::connect_with(runtime, config)))?;
        Ok(BlockingProducer { producer, thread })
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
    /// [`SendErrorKind::BufferFull`](odradek_core::SendErrorKind::BufferFull)) while
    /// [`ChannelOptions::capacity`] outcomes or more are unread, as well as while
    /// `buffer.memory` is full; so at most `capacity` plus the records in flight (bounded by
    /// `buffer.memory`) are ever queued. Records already accepted always get their outcome,
    /// and [`InputSender::flush`] and [`InputSender::close`] return whether or not anyone
    /// reads. Dropping a receiver means "not interested": a dropped [`Successes`] discards
    /// successes; a dropped [`Errors`] sends failures to the [`CloseReport`] as unobserved.
    /// Neither counts against `capacity` any more.
    ///
    /// Both receivers end (`None`) once the producer has closed and their queue is read.
    pub fn channels(
        config: Config,
        options: ChannelOptions,
    ) -> Result<(InputSender, Option<Successes>, Errors), ConnectError> {
        let ((input, successes, errors), thread) =
            start(|runtime| block_on(Driver::channels_with(runtime, config, options)))?;
        Ok((
            InputSender {
                input,
                thread: Arc::clone(&thread),
            },
            successes.map(|inner| Successes {
                inner: Mutex::new(inner),
            }),
            Errors {
                inner: Mutex::new(errors),
            },
        ))
    }

    /// Sends a record, **blocking while `buffer.memory` is full** (backpressure: it resumes as
    /// soon as outcomes free space). Refuses at once, handing the record back, when it is too
    /// large, names an invalid topic or partition, or the producer is closed.
    ///
    /// If brokers stay unreachable and `delivery.timeout` is `None`, a full buffer never drains
    /// and this waits for good; [`try_send`](BlockingProducer::try_send) never waits.
    pub fn send(&self, record: Record) -> Result<Receipt, SendError> {
        let future = block_on(self.producer.send(record))?;
        Ok(Receipt {
            id: future.id(),
            ticket: future.into_ticket(),
        })
    }

    /// Sends a record without waiting: like [`send`](BlockingProducer::send), but a full buffer
    /// refuses at once with [`SendErrorKind::BufferFull`](odradek_core::SendErrorKind::BufferFull).
    pub fn try_send(&self, record: Record) -> Result<Receipt, SendError> {
        let future = self.producer.try_send(record)?;
        Ok(Receipt {
            id: future.id(),
            ticket: future.into_ticket(),
        })
    }

    /// Sends a record whose outcome goes to `callback` instead of a [`Receipt`]: it runs
    /// once, with the record's outcome, on the producer thread, never under the producer's
    /// lock, so it may call the producer. Blocks and refuses as
    /// [`send`](BlockingProducer::send) does; a refused record is handed back and `callback`
    /// is dropped without running.
    ///
    /// Nothing is allocated per record: the callback is stored by value in a pool of its
    /// closure type, reused as callbacks run. Keep it quick: it holds up the producer's I/O. It must not
    /// call [`flush`](BlockingProducer::flush) or [`close`](BlockingProducer::close): they
    /// wait for every callback to have run.
    pub fn send_with<F>(&self, record: Record, callback: F) -> Result<(), SendError>
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        block_on(self.producer.send_with(record, callback))
    }

    /// [`send_with`](BlockingProducer::send_with) without waiting: a full buffer refuses at
    /// once with [`SendErrorKind::BufferFull`](odradek_core::SendErrorKind::BufferFull).
    pub fn try_send_with<F>(&self, record: Record, callback: F) -> Result<(), SendError>
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        self.producer.try_send_with(record, callback)
    }

    /// Sends every buffered record now (ignoring `linger`) and blocks until every record sent
    /// before this call, from any handle, has its outcome.
    pub fn flush(&self) {
        block_on(self.producer.flush());
    }

    /// Closes gracefully: takes no more records (other handles' sends are refused with
    /// [`SendErrorKind::Closed`](odradek_core::SendErrorKind::Closed)), delivers or fails
    /// every record already accepted, closes the connections, stops the thread, and reports.
    pub fn close(self) -> CloseReport {
        let report = block_on(self.producer.close());
        self.thread.join_thread();
        report
    }

    /// Java's `close(Duration)`: [`close`](Self::close), but once `timeout` passed every
    /// record still without an outcome (in flight or not) fails with
    /// [`ProduceError::CloseTimedOut`](odradek_core::ProduceError::CloseTimedOut), one
    /// outcome each, and it returns with the report.
    ///
    /// ```no_run
    /// use odradek_mio::{BlockingProducer, Config, Record};
    /// use std::time::Duration;
    /// let producer = BlockingProducer::connect(Config::new(["127.0.0.1:9092"]))?;
    /// let receipt = producer.send(Record::new("events").value("v"))?;
    /// let report = producer.close_timeout(Duration::from_secs(5));
    /// println!("{} failed; this one: {:?}", report.failed, receipt.wait().err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_timeout(self, timeout: std::time::Duration) -> CloseReport {
        let report = block_on(self.producer.close_timeout(timeout));
        self.thread.join_thread();
        report
    }

    /// Records accepted and still waiting for an outcome.
    pub fn pending_records(&self) -> usize {
        self.producer.pending_records()
    }

    /// Bytes of `buffer.memory` in use.
    pub fn buffered_bytes(&self) -> usize {
        self.producer.buffered_bytes()
    }

    /// A snapshot of what the producer did and holds (see [`crate::observe`]).
    pub fn stats(&self) -> odradek_core::Stats {
        self.producer.stats()
    }
    /// Java's `initTransactions` (needs `transactional.id` in the [`Config`]): blocks until
    /// the transaction coordinator gave the producer id and epoch for the transactional id
    /// (fencing any older producer with the same id). One transaction operation runs at a
    /// time: a call while another (from any handle) has not returned is refused at once with
    /// [`TransactionError::InvalidState`], and so is a call the producer's state does not
    /// allow.
    ///
    /// ```no_run
    /// use odradek_mio::{BlockingProducer, Config, GroupMetadata, Record, TxnErrorClass, TxnOffset};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut config = Config::new(["127.0.0.1:9092"]);
    /// config.transactional_id = Some("my-app-1".into());
    /// let producer = BlockingProducer::connect(config)?;
    /// producer.init_transactions()?;
    /// producer.begin_transaction()?;
    /// producer.send(Record::new("orders").value("o-1"))?;
    /// let offsets = vec![TxnOffset {
    ///     topic: "input".into(),
    ///     partition: 0,
    ///     offset: 42,
    ///     leader_epoch: None,
    ///     metadata: None,
    /// }];
    /// let result = producer
    ///     .send_offsets_to_transaction(offsets, GroupMetadata::new("my-group"))
    ///     .and_then(|()| producer.commit_transaction());
    /// match result {
    ///     Ok(()) => {}
    ///     Err(e) if e.class() == TxnErrorClass::Abortable => producer.abort_transaction()?,
    ///     Err(e) => return Err(e.into()), // fatal: close the producer
    /// }
    /// producer.close();
    /// # Ok(()) }
    /// ```
    pub fn init_transactions(&self) -> Result<(), TransactionError> {
        block_on(self.producer.init_transactions())
    }

    /// Java's `beginTransaction`: opens a transaction (local, does not block). Records sent
    /// after it belong to it.
    pub fn begin_transaction(&self) -> Result<(), TransactionError> {
        self.producer.begin_transaction()
    }

    /// Java's `sendOffsetsToTransaction`: blocks until `offsets` of consumer group `group`
    /// joined the open transaction (visible only if it commits). Refusals as
    /// [`init_transactions`](Self::init_transactions).
    pub fn send_offsets_to_transaction(
        &self,
        offsets: Vec<TxnOffset>,
        group: GroupMetadata,
    ) -> Result<(), TransactionError> {
        block_on(self.producer.send_offsets_to_transaction(offsets, group))
    }

    /// Java's `commitTransaction`: flushes (every record of the transaction gets its outcome),
    /// then blocks until the coordinator committed (`Ok`) or the commit failed; an
    /// [`Abortable`](odradek_core::TxnErrorClass::Abortable) error asks for
    /// [`abort_transaction`](Self::abort_transaction).
    pub fn commit_transaction(&self) -> Result<(), TransactionError> {
        block_on(self.producer.commit_transaction())
    }

    /// Java's `abortTransaction`: unsent records of the transaction fail with
    /// [`ProduceError::TransactionAborted`](odradek_core::ProduceError::TransactionAborted);
    /// blocks until the coordinator aborted it. Refused while a commit runs.
    pub fn abort_transaction(&self) -> Result<(), TransactionError> {
        block_on(self.producer.abort_transaction())
    }

    /// Where the transactional producer stands.
    pub fn transaction_state(&self) -> TransactionState {
        self.producer.transaction_state()
    }
}

/// The input of the channel shape: send records; their outcomes go to the [`Successes`] and
/// [`Errors`] receivers. Cloneable and `Send + Sync`; when every clone is dropped the producer
/// closes gracefully and the receivers end after their last outcome.
#[derive(Debug, Clone)]
pub struct InputSender {
    input: odradek_driver::InputSender,
    /// The producer thread's reactor, to wait for the thread at `close`.
    thread: Arc<Reactor>,
}

impl InputSender {
    /// Sends a record. Blocks while `buffer.memory` is full or `capacity` outcomes wait unread
    /// (see [`BlockingProducer::channels`]); refuses at once, handing the record back, for
    /// every other reason (too large, invalid topic, closed).
    pub fn send(&self, record: Record) -> Result<(), SendError> {
        block_on(self.input.send(record))
    }

    /// Sends a record without waiting: a full buffer or full outcome queues refuse at once
    /// with [`SendErrorKind::BufferFull`](odradek_core::SendErrorKind::BufferFull).
    pub fn try_send(&self, record: Record) -> Result<(), SendError> {
        self.input.try_send(record)
    }

    /// Blocks until every record sent before the call has its outcome (queued on a receiver,
    /// or counted).
    pub fn flush(&self) {
        block_on(self.input.flush());
    }

    /// Closes gracefully (every accepted record gets its outcome on the receivers) and reports.
    pub fn close(self) -> CloseReport {
        let report = block_on(self.input.close());
        self.thread.join_thread();
        report
    }

    /// [`close`](Self::close), but once `timeout` passed every record still without an
    /// outcome fails with
    /// [`ProduceError::CloseTimedOut`](odradek_core::ProduceError::CloseTimedOut) (on the
    /// errors receiver) and it returns with the report.
    pub fn close_timeout(self, timeout: std::time::Duration) -> CloseReport {
        let report = block_on(self.input.close_timeout(timeout));
        self.thread.join_thread();
        report
    }
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

/// Receives from a driver stream (one receiving thread at a time).
fn receive<S: futures_util::Stream + Unpin>(
    stream: &Mutex<S>,
    patience: Patience,
) -> Result<S::Item, RecvTimeoutError> {
    let mut stream = stream.lock().unwrap_or_else(PoisonError::into_inner);
    let deadline = match patience {
        Patience::Forever => Some(None),
        Patience::Until(at) => Some(Some(at)),
        Patience::None => None,
    };
    let next = match deadline {
        None => poll_once(stream.next()).ok_or(RecvTimeoutError::Timeout)?,
        Some(deadline) => {
            block_on_until(stream.next(), deadline).ok_or(RecvTimeoutError::Timeout)?
        }
    };
    next.ok_or(RecvTimeoutError::Disconnected)
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
#[derive(Debug)]
pub struct Successes {
    inner: Mutex<odradek_driver::Successes>,
}

impl Successes {
    /// Blocks for the next success; `None` once the producer has closed and all were read.
    pub fn recv(&self) -> Option<(RecordMetadata, Record)> {
        receive(&self.inner, Patience::Forever).ok()
    }

    /// Waits at most `timeout` for the next success.
    pub fn recv_timeout(
        &self,
        timeout: Duration,
    ) -> Result<(RecordMetadata, Record), RecvTimeoutError> {
        let deadline = std::time::Instant::now() + timeout;
        receive(&self.inner, Patience::Until(deadline))
    }

    /// The next success if one is queued.
    pub fn try_recv(&self) -> Result<(RecordMetadata, Record), TryRecvError> {
        receive(&self.inner, Patience::None).map_err(to_try)
    }
}

impl Iterator for Successes {
    type Item = (RecordMetadata, Record);
    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

/// Records that failed for good, each with its reason. Dropping it sends later failures to the
/// [`CloseReport`] instead.
///
/// An [`Iterator`] that blocks for the next failure and ends once the producer has closed and
/// everything was read.
#[derive(Debug)]
pub struct Errors {
    inner: Mutex<odradek_driver::Errors>,
}

impl Errors {
    /// Blocks for the next failure; `None` once the producer has closed and all were read.
    pub fn recv(&self) -> Option<DeliveryError> {
        receive(&self.inner, Patience::Forever).ok()
    }

    /// Waits at most `timeout` for the next failure.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<DeliveryError, RecvTimeoutError> {
        let deadline = std::time::Instant::now() + timeout;
        receive(&self.inner, Patience::Until(deadline))
    }

    /// The next failure if one is queued.
    pub fn try_recv(&self) -> Result<DeliveryError, TryRecvError> {
        receive(&self.inner, Patience::None).map_err(to_try)
    }
}

impl Iterator for Errors {
    type Item = DeliveryError;
    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
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
    is_send::<crate::MioProducer>();
}
