//! The public handle: [`Producer`], [`DeliveryFuture`], [`CloseReport`], [`ConnectError`].

use crate::channels::{Errors, InputSender, Successes};
use crate::clock::Clock;
use crate::driver::Driver;
use crate::outcomes::EventOutcome;
use crate::outcomes::{ChannelQueues, DeliveryResult, Ticket};
use crate::report::{ChannelOptions, CloseReport};
use crate::runtime::Runtime;
use crate::state::{Handle, Sender, Shared, State, WhenFull};
use crate::txn::TxnFuture;
use odradek_core::{
    Config, ConfigError, DeliveryError, GroupMetadata, Instant, ProducerCore, Record, RecordId,
    RecordMetadata, SendError, TopicName, TransactionError, TransactionState, TxnOffset, TxnOp,
};
use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::MutexGuard;
use std::task::{Context, Poll};

/// Why a producer could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The TLS settings could not be used (a CA, certificate or key file missing or not
    /// PEM, a key that does not match its certificate).
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// No entry of `bootstrap.servers` resolves.
    #[error(transparent)]
    Bootstrap(#[from] crate::BootstrapError),
}

/// A Kafka producer running on runtime `R`: a cheap, cloneable handle to one background
/// driver task.
///
/// The adapter crates name it for their runtime (`odradek_tokio::Producer`,
/// `odradek_async_std::Producer`). Every clone talks to the same producer; when the last
/// handle is dropped without [`close`](Producer::close), the producer closes gracefully in the
/// background and every outstanding [`DeliveryFuture`] still resolves.
pub struct Producer<R> {
    handle: Handle,
    _runtime: PhantomData<fn() -> R>,
}

impl<R> Clone for Producer<R> {
    fn clone(&self) -> Self {
        Producer {
            handle: self.handle.clone(),
            _runtime: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Producer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.handle.shared.lock();
        f.debug_struct("Producer")
            .field("pending_records", &st.core.pending_records())
            .field("buffered_bytes", &st.core.buffered_bytes())
            .field("closing", &st.core.is_closing())
            .finish()
    }
}

/// Validates `config`, builds the core and spawns the driver task on `runtime`; the core's
/// random choices come from `seed`, or from a fresh random seed.
fn start<R: Runtime>(
    runtime: R,
    config: Config,
    channels: Option<ChannelQueues>,
    seed: Option<u64>,
) -> Result<Arc<Shared>, ConnectError> {
    config.validate()?;
    let tls = if config.security_protocol.uses_tls() {
        Some(crate::tls::TlsConnector::new(&config.tls)?)
    } else {
        None
    };
    let clock = Clock::new();
    let now = clock.now();
    let mut h = RandomState::new().build_hasher();
    h.write_u64(now.as_unix_nanos());
    let seed = seed.unwrap_or_else(|| h.finish());
    let request_timeout = config.request_timeout;
    let core = ProducerCore::new(config, seed, now)?;
    let shared = Arc::new(Shared::new(core, clock, channels));
    let runtime = Arc::new(runtime);
    let driver = Driver::new(shared.clone(), runtime.clone(), request_timeout, tls);
    runtime.spawn(Box::pin(driver));
    Ok(shared)
}

impl<R: Runtime + Default> Producer<R> {
    /// Validates `config` and starts the producer on the current runtime. It returns before
    /// any broker has answered: connections are made in the background, and records sent
    /// meanwhile wait in the buffer. Every bootstrap entry is resolved first: when none
    /// resolves, [`ConnectError::Bootstrap`] names them.
    pub async fn connect(config: Config) -> Result<Self, ConnectError> {
        Self::connect_with(R::default(), config).await
    }

    /// The original's channel shape: an input of records, an opt-in stream of successes and a
    /// stream of errors. See [`InputSender`] for the buffering policy that keeps an unread
    /// stream from ever blocking the producer.
    pub async fn channels(
        config: Config,
        options: ChannelOptions,
    ) -> Result<(InputSender, Option<Successes>, Errors), ConnectError> {
        Self::channels_with(R::default(), config, options).await
    }
}

impl<R: Runtime> Producer<R> {
    /// [`connect`](Self::connect) on a given runtime instance.
    pub async fn connect_with(runtime: R, config: Config) -> Result<Self, ConnectError> {
        crate::bootstrap::resolve_at_connect(&runtime, &config).await?;
        let shared = start(runtime, config, None, None)?;
        Ok(Producer {
            handle: Handle::new(shared),
            _runtime: PhantomData,
        })
    }

    /// [`channels`](Self::channels) on a given runtime instance.
    pub async fn channels_with(
        runtime: R,
        mut config: Config,
        options: ChannelOptions,
    ) -> Result<(InputSender, Option<Successes>, Errors), ConnectError> {
        // Successes carry their records: the core keeps them until delivered.
        config.return_successes |= options.return_successes;
        crate::bootstrap::resolve_at_connect(&runtime, &config).await?;
        let shared = start(runtime, config, Some(ChannelQueues::new(options)), None)?;
        let successes = options
            .return_successes
            .then(|| Successes::new(shared.clone()));
        let errors = Errors::new(shared.clone());
        Ok((InputSender::new(Handle::new(shared)), successes, errors))
    }

    /// Sends a record. Waits while `buffer.memory` is full (backpressure: it resumes as soon
    /// as outcomes free space); refuses at once, handing the record back, when it is too
    /// large, names an invalid topic or partition, or the producer is closed.
    ///
    /// The returned [`DeliveryFuture`] resolves with the record's outcome. Dropping it does
    /// not cancel the record; a failure nobody awaited shows up in the [`CloseReport`].
    pub async fn send(&self, record: Record) -> Result<DeliveryFuture, SendError> {
        let topic = record.topic.clone();
        let mut slot = Some(record);
        poll_fn(|cx| poll_send_future(&self.handle.shared, cx, &mut slot, WhenFull::Wait, &topic))
            .await
    }

    /// Sends a record without waiting: like [`send`](Self::send), but a full buffer refuses
    /// at once with [`SendErrorKind::BufferFull`](odradek_core::SendErrorKind::BufferFull).
    pub fn try_send(&self, record: Record) -> Result<DeliveryFuture, SendError> {
        let topic = record.topic.clone();
        let mut slot = Some(record);
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match poll_send_future(
            &self.handle.shared,
            &mut cx,
            &mut slot,
            WhenFull::Refuse,
            &topic,
        ) {
            Poll::Ready(r) => r,
            // `WhenFull::Refuse` never leaves the record waiting.
            Poll::Pending => unreachable!("try_send does not wait"),
        }
    }

    /// Sends a record whose outcome goes to `callback` instead of a [`DeliveryFuture`]: it
    /// runs once, on the driver task, with the record's outcome (or
    /// [`ProduceError::Aborted`](odradek_core::ProduceError::Aborted) if the runtime drops
    /// the driver task first). Waits and refuses as [`send`](Self::send) does; a refused
    /// record is handed back and `callback` is dropped without running.
    ///
    /// Nothing is allocated per record: the callback is stored by value in a pool of its
    /// closure type, reused as callbacks run. It should be quick and must not block (it
    /// holds up the producer's I/O); it may call the producer (`try_send`, ...) but
    /// not wait on it: `flush` and `close` wait for every callback to have run.
    pub async fn send_with<F>(&self, record: Record, callback: F) -> Result<(), SendError>
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        let mut slot = Some(record);
        let mut callback = Some(callback);
        let shared = &self.handle.shared;
        poll_fn(|cx| poll_send_callback(shared, cx, &mut slot, &mut callback, WhenFull::Wait)).await
    }

    /// [`send_with`](Self::send_with) without waiting: a full buffer refuses at once with
    /// [`SendErrorKind::BufferFull`](odradek_core::SendErrorKind::BufferFull).
    pub fn try_send_with<F>(&self, record: Record, callback: F) -> Result<(), SendError>
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        let mut slot = Some(record);
        let mut callback = Some(callback);
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let shared = &self.handle.shared;
        match poll_send_callback(shared, &mut cx, &mut slot, &mut callback, WhenFull::Refuse) {
            Poll::Ready(r) => r,
            Poll::Pending => unreachable!("try_send_with does not wait"),
        }
    }

    /// Sends every buffered record now (ignoring `linger`) and returns once every record
    /// sent before this call has its outcome.
    pub async fn flush(&self) {
        self.handle.shared.flush().await
    }

    /// Java's `initTransactions` (needs `transactional.id` in the [`Config`]): finds the
    /// transaction coordinator and gets the producer id and epoch for the transactional id,
    /// fencing any older producer with the same id. Resolves with the core's
    /// [`TxnOp::Init`] outcome.
    ///
    /// One transaction operation runs at a time: a call while another (from any handle) has
    /// not resolved is refused at once with [`TransactionError::InvalidState`]; so is a call
    /// the producer's state does not allow. Once the producer closed it resolves with
    /// [`TransactionError::Closed`]. Dropping the future does not cancel the operation: the
    /// next one is refused until it ends.
    ///
    /// ```no_run
    /// # async fn run<R: odradek_driver::Runtime + Default>() -> Result<(), Box<dyn std::error::Error>> {
    /// use odradek_core::{Config, GroupMetadata, Record, TxnErrorClass, TxnOffset};
    /// let mut config = Config::new(["127.0.0.1:9092"]);
    /// config.transactional_id = Some("my-app-1".into());
    /// let producer = odradek_driver::Producer::<R>::connect(config).await?;
    /// producer.init_transactions().await?;
    ///
    /// producer.begin_transaction()?;
    /// let a = producer.send(Record::new("orders").value("o-1")).await?;
    /// let b = producer.send(Record::new("audit").value("a-1")).await?;
    /// let offsets = vec![TxnOffset {
    ///     topic: "input".into(),
    ///     partition: 0,
    ///     offset: 42,
    ///     leader_epoch: None,
    ///     metadata: None,
    /// }];
    /// let group = GroupMetadata::new("my-group");
    /// let done = match producer.send_offsets_to_transaction(offsets, group).await {
    ///     Ok(()) => producer.commit_transaction().await,
    ///     Err(e) => Err(e),
    /// };
    /// match done {
    ///     Ok(()) => {}
    ///     Err(e) if e.class() == TxnErrorClass::Abortable => producer.abort_transaction().await?,
    ///     Err(e) => return Err(e.into()), // fatal: close the producer
    /// }
    /// let _ = (a.await, b.await);
    /// # Ok(()) }
    /// ```
    pub async fn init_transactions(&self) -> Result<(), TransactionError> {
        self.txn(TxnOp::Init, |core, now| core.init_transactions(now))?
            .await
    }

    /// Java's `beginTransaction`: opens a transaction (local: nothing is sent). Records sent
    /// after it belong to it. Refused before [`init_transactions`](Self::init_transactions)
    /// resolved, while a transaction is open, or while another operation runs.
    pub fn begin_transaction(&self) -> Result<(), TransactionError> {
        let mut st = self.handle.shared.lock();
        if st.finished {
            return Err(TransactionError::Closed);
        }
        st.txn.check_idle()?;
        st.core.begin_transaction()
    }

    /// Java's `sendOffsetsToTransaction`: commits `offsets` of the consumer group `group` as
    /// part of the open transaction (visible only if it commits). Resolves with the core's
    /// [`TxnOp::SendOffsets`] outcome; refusals as
    /// [`init_transactions`](Self::init_transactions).
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: Vec<TxnOffset>,
        group: GroupMetadata,
    ) -> Result<(), TransactionError> {
        self.txn(TxnOp::SendOffsets, |core, now| {
            core.send_offsets_to_transaction(offsets, group, now)
        })?
        .await
    }

    /// Java's `commitTransaction`: flushes (every record of the transaction gets its outcome,
    /// its future resolves), then asks the coordinator to commit. `Ok` only once the
    /// coordinator committed; an error whose [`class`](TransactionError::class) is
    /// [`Abortable`](odradek_core::TxnErrorClass::Abortable) (a record failed, say) asks for
    /// [`abort_transaction`](Self::abort_transaction). A lost answer is retried until the
    /// coordinator answers. Refusals as [`init_transactions`](Self::init_transactions).
    pub async fn commit_transaction(&self) -> Result<(), TransactionError> {
        self.txn(TxnOp::Commit, |core, now| core.commit_transaction(now))?
            .await
    }

    /// Java's `abortTransaction`: records of the transaction not sent yet fail with
    /// [`ProduceError::TransactionAborted`](odradek_core::ProduceError::TransactionAborted),
    /// those in flight get their outcome, then the coordinator aborts the transaction; the
    /// producer is then ready for the next one. Refused while a commit runs (its outcome may
    /// be unknown); other refusals as [`init_transactions`](Self::init_transactions).
    pub async fn abort_transaction(&self) -> Result<(), TransactionError> {
        self.txn(TxnOp::Abort, |core, now| core.abort_transaction(now))?
            .await
    }

    /// Where the transactional producer stands (the core's
    /// [`transaction_state`](ProducerCore::transaction_state)).
    pub fn transaction_state(&self) -> TransactionState {
        self.handle.shared.lock().core.transaction_state()
    }

    /// Starts `op` with `start`; the future of its outcome.
    fn txn(
        &self,
        op: TxnOp,
        start: impl FnOnce(&mut ProducerCore, Instant) -> Result<(), TransactionError>,
    ) -> Result<TxnFuture, TransactionError> {
        self.handle.shared.lock().start_txn(op, false, start)?;
        Ok(TxnFuture {
            shared: self.handle.shared.clone(),
            done: false,
        })
    }

    /// Closes gracefully: takes no more records (other handles' sends are refused with
    /// [`SendErrorKind::Closed`](odradek_core::SendErrorKind::Closed)), delivers or fails
    /// every record already accepted, closes the connections, and reports.
    pub async fn close(self) -> CloseReport {
        self.handle.shared.close().await
    }

    /// Java's `close(Duration)`: [`close`](Self::close), but once `timeout` passed every
    /// record still without an outcome — in flight or not yet sent — fails with
    /// [`ProduceError::CloseTimedOut`](odradek_core::ProduceError::CloseTimedOut) (each
    /// record still gets exactly one outcome; an answer that comes later is ignored), the
    /// connections are dropped, and the report comes. A zero timeout fails them at once.
    /// Callbacks of `send_with` still run before it returns.
    ///
    /// ```no_run
    /// # async fn run<R: odradek_driver::Runtime + Default>() -> Result<(), Box<dyn std::error::Error>> {
    /// use odradek_core::{Config, Record};
    /// use std::time::Duration;
    /// let producer = odradek_driver::Producer::<R>::connect(Config::new(["127.0.0.1:9092"])).await?;
    /// let delivery = producer.send(Record::new("events").value("v")).await?;
    /// // Give the broker at most 5 s to acknowledge what is outstanding.
    /// let report = producer.close_timeout(Duration::from_secs(5)).await;
    /// if let Err(e) = delivery.await {
    ///     eprintln!("not delivered: {e}"); // CloseTimedOut if the 5 s ran out first
    /// }
    /// println!("{} delivered, {} failed", report.delivered, report.failed);
    /// # Ok(()) }
    /// ```
    pub async fn close_timeout(self, timeout: std::time::Duration) -> CloseReport {
        self.handle.shared.close_within(Some(timeout)).await
    }

    /// Records accepted and still waiting for an outcome.
    pub fn pending_records(&self) -> usize {
        self.handle.shared.lock().core.pending_records()
    }

    /// Bytes of `buffer.memory` in use.
    pub fn buffered_bytes(&self) -> usize {
        self.handle.shared.lock().core.buffered_bytes()
    }

    /// A snapshot of what the producer did and holds (see [`crate::observe`]).
    pub fn stats(&self) -> odradek_core::Stats {
        self.handle.shared.lock().core.stats()
    }
}

/// For front ends that poll the driver task themselves instead of awaiting (odradek-mio's
/// `MioProducer`, inside the user's own `mio::Poll` loop): a start without the async
/// bootstrap check, a send whose outcome is queued as an event, and flush and close that
/// only begin.
impl<R: Runtime> Producer<R> {
    /// Validates `config` and starts the producer: the driver task goes to
    /// [`Runtime::spawn`]. `seed` makes the core's random choices (partitioning, jitter)
    /// reproducible; `None` picks a random one. Unlike [`connect_with`](Self::connect_with)
    /// it does not resolve `bootstrap.servers` (see [`bootstrap::check_blocking`](crate::bootstrap::check_blocking)).
    pub fn start_with_seed(
        runtime: R,
        config: Config,
        seed: Option<u64>,
    ) -> Result<Self, ConnectError> {
        let shared = start(runtime, config, None, seed)?;
        Ok(Producer {
            handle: Handle::new(shared),
            _runtime: PhantomData,
        })
    }

    /// Sends a record without waiting (refusals as [`try_send`](Self::try_send)); its outcome
    /// is queued for [`take_events`](Self::take_events) under the returned id.
    pub fn try_send_event(&self, record: Record) -> Result<RecordId, SendError> {
        let mut slot = Some(record);
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let mut st = self.handle.shared.lock();
        match st.poll_send(&mut cx, &mut slot, WhenFull::Refuse, Sender::Producer) {
            Poll::Ready(Ok(id)) => {
                st.router.track_event(id);
                Ok(id)
            }
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => unreachable!("a refusing send does not wait"),
        }
    }

    /// Moves the outcomes of records sent with [`try_send_event`](Self::try_send_event) that
    /// came so far to the back of `into`.
    pub fn take_events(&self, into: &mut VecDeque<EventOutcome>) {
        self.handle.shared.lock().router.take_events(into);
    }

    /// Begins a flush (every buffered record is sent now, ignoring `linger`) and returns.
    pub fn start_flush(&self) {
        self.handle.shared.lock().start_flush();
    }

    /// Begins a graceful close and returns; [`is_finished`](Self::is_finished) tells when it
    /// is done.
    pub fn start_close(&self) {
        self.handle.shared.lock().start_close();
    }

    /// [`start_close`](Self::start_close) with a timeout, as
    /// [`close_timeout`](Self::close_timeout): once `timeout` passed, the driver fails every
    /// record still without an outcome with
    /// [`ProduceError::CloseTimedOut`](odradek_core::ProduceError::CloseTimedOut).
    pub fn start_close_timeout(&self, timeout: std::time::Duration) {
        let mut st = self.handle.shared.lock();
        st.set_close_timeout(timeout);
        st.start_close();
    }

    /// Whether the driver finished: closed (every record has its outcome, every connection is
    /// closed), or dropped.
    pub fn is_finished(&self) -> bool {
        self.handle.shared.lock().finished
    }

    /// Now, on the clock the producer feeds its core.
    pub fn now(&self) -> Instant {
        self.handle.shared.lock().clock.now()
    }

    /// The core, for inspection, under the producer's lock: drop the guard before calling
    /// the producer again.
    pub fn core(&self) -> CoreRef<'_> {
        CoreRef(self.handle.shared.lock())
    }

    /// Starts transaction operation `op` without waiting (the embedded mio producer): `Ok`
    /// once the core took it, its outcome queued for
    /// [`take_transaction_events`](Self::take_transaction_events); refused as
    /// [`init_transactions`](Self::init_transactions) is. [`TxnOp::Init`],
    /// [`TxnOp::Commit`] and [`TxnOp::Abort`] only: offsets go through
    /// [`start_send_offsets`](Self::start_send_offsets).
    pub fn start_transaction_op(&self, op: TxnOp) -> Result<(), TransactionError> {
        let mut st = self.handle.shared.lock();
        st.start_txn(op, true, |core, now| match op {
            TxnOp::Init => core.init_transactions(now),
            TxnOp::Commit => core.commit_transaction(now),
            TxnOp::Abort => core.abort_transaction(now),
            _ => Err(TransactionError::InvalidState(
                "start_transaction_op takes Init, Commit or Abort",
            )),
        })
    }

    /// [`send_offsets_to_transaction`](Self::send_offsets_to_transaction) without waiting:
    /// its outcome is queued as [`start_transaction_op`](Self::start_transaction_op)'s.
    pub fn start_send_offsets(
        &self,
        offsets: Vec<TxnOffset>,
        group: GroupMetadata,
    ) -> Result<(), TransactionError> {
        let mut st = self.handle.shared.lock();
        st.start_txn(TxnOp::SendOffsets, true, |core, now| {
            core.send_offsets_to_transaction(offsets, group, now)
        })
    }

    /// Moves the outcomes of operations started with
    /// [`start_transaction_op`](Self::start_transaction_op) or
    /// [`start_send_offsets`](Self::start_send_offsets) that came so far to the back of
    /// `into` (an operation running when the producer finished ends with
    /// [`TransactionError::Closed`]).
    pub fn take_transaction_events(
        &self,
        into: &mut VecDeque<(TxnOp, Result<(), TransactionError>)>,
    ) {
        self.handle.shared.lock().txn.take_events(into);
    }

    /// Sets the bytes charged against `buffer.memory` per pending record beside what the
    /// core charges ([`RECORD_OVERHEAD`](crate::RECORD_OVERHEAD) = 128 by default: the route
    /// of its outcome and its outcome slot; a front end that keeps less per record may charge
    /// less). Records whose outcome left the core but is not routed yet are charged
    /// [`TRANSIT_OVERHEAD`](crate::TRANSIT_OVERHEAD) more, whatever this is.
    pub fn set_record_overhead(&self, bytes: usize) {
        self.handle.shared.lock().record_overhead = bytes;
    }
}

/// The producer's core under its lock ([`Producer::core`]): dereferences to the
/// [`ProducerCore`].
pub struct CoreRef<'a>(MutexGuard<'a, State>);

impl std::ops::Deref for CoreRef<'_> {
    type Target = ProducerCore;

    fn deref(&self) -> &ProducerCore {
        &self.0.core
    }
}

impl fmt::Debug for CoreRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreRef")
            .field("pending_records", &self.0.core.pending_records())
            .finish_non_exhaustive()
    }
}

fn poll_send_future(
    shared: &Shared,
    cx: &mut Context<'_>,
    slot: &mut Option<Record>,
    when_full: WhenFull,
    topic: &TopicName,
) -> Poll<Result<DeliveryFuture, SendError>> {
    let mut st = shared.lock();
    st.poll_send(cx, slot, when_full, Sender::Producer)
        .map(|r| {
            r.map(|id| DeliveryFuture {
                id,
                ticket: st.router.track_ticket(id, topic.clone()),
            })
        })
}

fn poll_send_callback<F>(
    shared: &Shared,
    cx: &mut Context<'_>,
    slot: &mut Option<Record>,
    callback: &mut Option<F>,
    when_full: WhenFull,
) -> Poll<Result<(), SendError>>
where
    F: FnOnce(DeliveryResult) + Send + 'static,
{
    let mut st = shared.lock();
    let topic = match slot {
        Some(r) => r.topic.clone(),
        None => return Poll::Pending,
    };
    st.poll_send(cx, slot, when_full, Sender::Producer)
        .map(|r| {
            r.map(|id| {
                let f = callback.take().expect("one callback per accepted record");
                st.router.track_callback(id, topic, f);
            })
        })
}

/// The outcome of one record: resolves to where it was appended, or why it failed (with the
/// record handed back).
///
/// If the runtime drops the driver task before the record has an outcome (the runtime shut
/// down), it resolves to [`ProduceError::Aborted`](odradek_core::ProduceError::Aborted) with a record that carries only the topic:
/// the payload went down with the task.
#[must_use = "a DeliveryFuture does nothing unless awaited; dropping it does not cancel the record"]
pub struct DeliveryFuture {
    id: RecordId,
    ticket: Ticket,
}

impl DeliveryFuture {
    /// The record's id (the core's, given out in `send` order).
    pub fn id(&self) -> RecordId {
        self.id
    }

    /// The outcome slot behind the future, for a front end that waits by blocking
    /// ([`Ticket::wait_outcome`]) rather than awaiting.
    pub fn into_ticket(self) -> Ticket {
        self.ticket
    }
}

impl fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryFuture")
            .field("topic", self.ticket.topic())
            .finish_non_exhaustive()
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, DeliveryError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.ticket.poll_outcome(cx)
    }
}
