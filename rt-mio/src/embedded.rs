//! [`MioProducer`]: the producer living inside the user's own `mio::Poll` loop: odradek-driver's
//! driver task on [`MioRuntime`](crate::runtime::MioRuntime), polled from
//! [`after_poll`](MioProducer::after_poll).

use crate::runtime::{MioRuntime, Reactor, TaskWaker};
use crate::ConnectError;
use mio::event::Event;
use mio::{Registry, Token};
use odradek_core::{
    Config, DeliveryError, GroupMetadata, Instant, Record, RecordId, RecordMetadata, SendError,
    TransactionError, TransactionState, TxnOffset, TxnOp,
};
use odradek_driver::outcomes::EventOutcome;
use odradek_driver::{BoxFuture, CoreRef};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

/// What one pending record costs [`MioProducer`] in memory beyond what the core charges to
/// `buffer.memory` itself: the route of its outcome in the router's window (16 bytes; 32 just
/// after the window doubled). The core's own charge (each record at least a batch of it alone)
/// covers the [`Record`] it keeps for the outcome, key and value included, with room to spare;
/// records whose outcome left the core but is not routed yet are charged
/// [`odradek_driver::TRANSIT_OVERHEAD`] more. Measured by
/// `cargo test -p odradek-tests --test record_cost --release -- --nocapture`. (Until the core
/// charged every record its batch share this was 512 bytes; the blocking producer charges the
/// driver's [`odradek_driver::RECORD_OVERHEAD`], outcome slots included.)
const EVENT_RECORD_OVERHEAD: usize = 32;

/// The block of [`mio::Token`]s the user reserves for a [`MioProducer`]: `start .. start + len`.
///
/// The producer registers each broker connection under one token from this range and never
/// uses any other, so the rest of the token space stays the user's. One token is held per open
/// connection (usually one per broker, plus one for bootstrap); when all are in use, a new
/// connection fails at once and the core retries it after its reconnect backoff. Tokens of
/// closed connections are reused only after every unused token of the range was handed out, so a
/// late event for a closed connection is very unlikely to reach a new one (and would be harmless:
/// every event is checked against the socket's real state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenRange {
    start: usize,
    len: usize,
}

impl TokenRange {
    /// Tokens `start .. start + len`.
    ///
    /// # Panics
    ///
    /// When `len` is zero or `start + len` overflows `usize`.
    pub const fn new(start: usize, len: usize) -> TokenRange {
        assert!(len > 0, "a TokenRange needs at least one token");
        assert!(
            start.checked_add(len).is_some(),
            "TokenRange overflows usize"
        );
        TokenRange { start, len }
    }

    /// The first token.
    pub const fn start(&self) -> Token {
        Token(self.start)
    }

    /// How many tokens the range holds.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a range holds at least one token.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Whether `token` lies in the range.
    pub const fn contains(&self, token: Token) -> bool {
        token.0 >= self.start && token.0 - self.start < self.len
    }
}

/// What happened to a record or to the producer; drained with [`MioProducer::poll_event`].
#[derive(Debug)]
pub enum ProducerEvent {
    /// The record was appended to its partition.
    Delivered {
        /// The id [`MioProducer::send`] returned.
        id: RecordId,
        /// Where and when it was appended.
        metadata: RecordMetadata,
        /// The record, handed back only with
        /// [`Config::return_successes`](odradek_core::Config::return_successes) (by default
        /// the producer lets it go once it is encoded into its batch).
        record: Option<Record>,
    },
    /// The record failed for good.
    Failed {
        /// The id [`MioProducer::send`] returned.
        id: RecordId,
        /// Why, with the record handed back.
        error: DeliveryError,
    },
    /// A transaction operation started with [`MioProducer::init_transactions`],
    /// [`send_offsets_to_transaction`](MioProducer::send_offsets_to_transaction),
    /// [`commit_transaction`](MioProducer::commit_transaction) or
    /// [`abort_transaction`](MioProducer::abort_transaction) ended. Record outcomes the
    /// operation waited for (a commit's flush) come before it.
    Transaction {
        /// Which operation.
        op: TxnOp,
        /// How it ended; see [`TransactionError::class`].
        result: Result<(), TransactionError>,
    },
    /// [`MioProducer::close`] finished: every record has its outcome and every connection is
    /// closed. Nothing follows.
    Closed,
}

/// A Kafka producer driven by the user's own [`mio::Poll`] loop.
///
/// It owns an [`odradek_core::ProducerCore`], the broker sockets and the driver task that
/// runs the drive contract (the same driver as odradek-tokio's and odradek-async-std's,
/// polled here from [`after_poll`](MioProducer::after_poll)); the user owns the `Poll` and
/// the thread. Drive contract, each step cheap and non-blocking:
///
/// 1. Reserve a [`TokenRange`] and create the producer with [`MioProducer::new`]; it registers
///    its sockets on (a clone of) your [`Registry`] under tokens from that range only.
/// 2. Poll with [`MioProducer::timeout`] as (or within) your poll timeout.
/// 3. Hand every event whose token the producer [`owns`](MioProducer::owns) to
///    [`handle_event`](MioProducer::handle_event).
/// 4. After each poll, call [`after_poll`](MioProducer::after_poll): when an event, a due
///    timer or a call below woke the producer, it does the work (I/O, the core's timeouts,
///    outcomes), at most one capped pass per call; it costs a flag check otherwise.
/// 5. Drain outcomes with [`poll_event`](MioProducer::poll_event) after any call.
///
/// [`send`](MioProducer::send), [`flush`](MioProducer::flush) and
/// [`close`](MioProducer::close) may be called at any time between polls; the bytes they
/// produce are written at the next [`after_poll`](MioProducer::after_poll), and
/// [`timeout`](MioProducer::timeout) is zero until then.
///
/// Broker host names are resolved with [`std::net::ToSocketAddrs`], which **blocks** on DNS.
/// That is instant for IP literals and `localhost`; if your brokers advertise names that need a
/// DNS round trip and your loop cannot afford the stall, resolve them in `/etc/hosts` or use
/// [`BlockingProducer`](crate::BlockingProducer), whose thread absorbs it. Every address a name
/// resolves to is tried in turn.
///
/// Outcomes are queued until drained: drain [`poll_event`](MioProducer::poll_event) every loop
/// iteration, or the queue grows by one entry per completed record.
pub struct MioProducer {
    producer: odradek_driver::Producer<MioRuntime>,
    reactor: Arc<Reactor>,
    /// The driver task; `None` once it finished.
    task: Option<BoxFuture<()>>,
    waker: Waker,
    /// Outcomes taken from the driver, handed out one by one.
    events: VecDeque<EventOutcome>,
    /// Outcomes of transaction operations taken from the driver.
    txn_events: VecDeque<(TxnOp, Result<(), TransactionError>)>,
    /// [`ProducerEvent::Closed`] was handed out.
    closed: bool,
}

impl fmt::Debug for MioProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MioProducer")
            .field("tokens", &self.reactor.range())
            .field("connections", &self.reactor.sockets())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl MioProducer {
    /// A producer for `config` whose connections are registered on `registry` under tokens from
    /// `tokens`. It starts connecting to a bootstrap server at once. Every bootstrap entry is
    /// resolved first (blocking on DNS): when none resolves, [`ConnectError::Bootstrap`].
    ///
    /// The registry is cloned ([`Registry::try_clone`]), so the producer can register sockets
    /// from any of its methods.
    pub fn new(
        config: Config,
        registry: &Registry,
        tokens: TokenRange,
    ) -> Result<MioProducer, ConnectError> {
        MioProducer::start(config, registry, tokens, None)
    }

    /// Like [`new`](MioProducer::new), with the seed of the core's random choices given (for
    /// reproducible partitioning and jitter).
    pub fn with_seed(
        config: Config,
        registry: &Registry,
        tokens: TokenRange,
        seed: u64,
    ) -> Result<MioProducer, ConnectError> {
        MioProducer::start(config, registry, tokens, Some(seed))
    }

    /// [`new`](MioProducer::new) with a given or (`None`) random seed.
    fn start(
        config: Config,
        registry: &Registry,
        tokens: TokenRange,
        seed: Option<u64>,
    ) -> Result<MioProducer, ConnectError> {
        odradek_driver::bootstrap::check_blocking(&config)?;
        let runtime = MioRuntime::embedded(registry, tokens).map_err(ConnectError::Io)?;
        let reactor = Arc::clone(runtime.reactor());
        let producer = odradek_driver::Producer::start_with_seed(runtime, config, seed)?;
        producer.set_record_overhead(EVENT_RECORD_OVERHEAD);
        let task = reactor.take_task();
        let waker = Waker::from(Arc::new(TaskWaker(Arc::clone(&reactor))));
        let mut this = MioProducer {
            producer,
            reactor,
            task,
            waker,
            events: VecDeque::new(),
            txn_events: VecDeque::new(),
            closed: false,
        };
        // Starts connecting at once.
        this.after_poll();
        Ok(this)
    }

    /// Whether `token` belongs to the producer's [`TokenRange`]: pass such events to
    /// [`handle_event`](MioProducer::handle_event).
    pub fn owns(&self, token: Token) -> bool {
        self.reactor.range().contains(token)
    }

    /// The token range given at construction.
    pub fn token_range(&self) -> TokenRange {
        self.reactor.range()
    }

    /// Takes one readiness event for one of the producer's tokens (others are ignored): the
    /// socket is read and written at the next [`after_poll`](MioProducer::after_poll).
    pub fn handle_event(&mut self, event: &Event) {
        if self.owns(event.token()) {
            self.reactor.ready(event);
        }
    }

    /// How long the user's poll may sleep before [`after_poll`](MioProducer::after_poll)
    /// is due: `None` when the producer needs no timer, zero when work is pending.
    pub fn timeout(&self) -> Option<Duration> {
        self.reactor.timeout()
    }

    /// When [`after_poll`](MioProducer::after_poll) is next due, on the core's clock (see
    /// [`now`](MioProducer::now)): now when work is pending; `None` when no timer is needed.
    pub fn deadline(&self) -> Option<Instant> {
        let at = self.reactor.next_poll()?;
        Some(self.now() + at.saturating_duration_since(std::time::Instant::now()))
    }

    /// Call after every poll: when the producer was woken (an event for its sockets, a due
    /// timer, a call that left work), polls the driver once: connections are read and written,
    /// the core's deadlines handled (linger, retries, request and delivery timeouts) and
    /// outcomes queued for [`poll_event`](MioProducer::poll_event). The work per call is capped
    /// (the driver's rounds); what is left keeps [`timeout`](MioProducer::timeout) at zero.
    pub fn after_poll(&mut self) {
        let Some(task) = &mut self.task else {
            return;
        };
        if !self.reactor.take_wake() {
            return;
        }
        let mut cx = Context::from_waker(&self.waker);
        if task.as_mut().poll(&mut cx).is_ready() {
            self.task = None;
        }
    }

    /// Hands a record to the producer; returns its id, or refuses it at once (buffer full, too
    /// large, invalid topic, closing) handing it back. Never blocks.
    ///
    /// "Buffer full" counts each pending record's bookkeeping (a few hundred bytes: the
    /// record kept for its outcome) against `buffer.memory` as well as its encoded bytes, so
    /// many small records cannot hold several times `buffer.memory` while a broker is down.
    pub fn send(&mut self, record: Record) -> Result<RecordId, SendError> {
        self.producer.try_send_event(record)
    }

    /// Sends every buffered record now, without waiting for `linger`. Outcomes arrive as usual.
    pub fn flush(&mut self) {
        self.producer.start_flush();
    }

    /// Begins a graceful close: no new records are taken, every accepted record gets its
    /// outcome, connections are closed, then [`ProducerEvent::Closed`] is emitted. Keep driving
    /// the loop until then.
    ///
    /// Bytes queued on a connection before the core closes it are written first (with acks=0
    /// the records in them already count as delivered); `Closed` waits for them, at most
    /// `request_timeout` after the core finished, then drops what could not be written.
    pub fn close(&mut self) {
        self.producer.start_close();
    }

    /// Java's `close(Duration)`, begun: [`close`](Self::close), but once `timeout` passed
    /// (while the loop keeps driving the producer) every record still without an outcome
    /// fails with [`ProduceError::CloseTimedOut`](odradek_core::ProduceError::CloseTimedOut),
    /// one [`ProducerEvent`] each, the connections are dropped, and
    /// [`ProducerEvent::Closed`] follows.
    ///
    /// ```no_run
    /// # fn run(producer: &mut odradek_mio::MioProducer) {
    /// producer.close_timeout(std::time::Duration::from_secs(5));
    /// // ... keep polling until ProducerEvent::Closed.
    /// # }
    /// ```
    pub fn close_timeout(&mut self, timeout: std::time::Duration) {
        self.producer.start_close_timeout(timeout);
    }

    /// Java's `initTransactions` (needs `transactional.id` in the [`Config`]), started: the
    /// transaction coordinator gives the producer id and epoch for the transactional id,
    /// fencing any older producer with the same id; [`ProducerEvent::Transaction`] with
    /// [`TxnOp::Init`] tells how it ended. One transaction operation runs at a time: a call
    /// while another has not ended is refused at once with
    /// [`TransactionError::InvalidState`], and so is a call the producer's state does not
    /// allow (nothing started, no event).
    ///
    /// ```no_run
    /// # fn run(producer: &mut odradek_mio::MioProducer) {
    /// use odradek_mio::{ProducerEvent, Record, TxnOp};
    /// producer.init_transactions().expect("transactional");
    /// // ... drive the loop until ProducerEvent::Transaction { op: TxnOp::Init, result: Ok(()) },
    /// producer.begin_transaction().expect("initialized");
    /// producer.send(Record::new("orders").value("o-1")).expect("taken");
    /// producer.commit_transaction().expect("started");
    /// // ... drive the loop: the record's Delivered, then
    /// // ProducerEvent::Transaction { op: TxnOp::Commit, result } (on an abortable error,
    /// // call abort_transaction and wait for TxnOp::Abort).
    /// # }
    /// ```
    pub fn init_transactions(&mut self) -> Result<(), TransactionError> {
        self.producer.start_transaction_op(TxnOp::Init)
    }

    /// Java's `beginTransaction`: opens a transaction (local, no event). Records sent after it
    /// belong to it.
    pub fn begin_transaction(&mut self) -> Result<(), TransactionError> {
        self.producer.begin_transaction()
    }

    /// Java's `sendOffsetsToTransaction`, started: `offsets` of consumer group `group` join
    /// the open transaction; [`ProducerEvent::Transaction`] with [`TxnOp::SendOffsets`]
    /// tells how it ended. Refusals as [`init_transactions`](Self::init_transactions).
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: Vec<TxnOffset>,
        group: GroupMetadata,
    ) -> Result<(), TransactionError> {
        self.producer.start_send_offsets(offsets, group)
    }

    /// Java's `commitTransaction`, started: flushes (every record of the transaction gets its
    /// event), then the coordinator commits; [`ProducerEvent::Transaction`] with
    /// [`TxnOp::Commit`] is `Ok` only once it did. Refusals as
    /// [`init_transactions`](Self::init_transactions).
    pub fn commit_transaction(&mut self) -> Result<(), TransactionError> {
        self.producer.start_transaction_op(TxnOp::Commit)
    }

    /// Java's `abortTransaction`, started: unsent records of the transaction fail with
    /// [`ProduceError::TransactionAborted`](odradek_core::ProduceError::TransactionAborted),
    /// then the coordinator aborts; [`ProducerEvent::Transaction`] with [`TxnOp::Abort`].
    /// Refused while a commit runs.
    pub fn abort_transaction(&mut self) -> Result<(), TransactionError> {
        self.producer.start_transaction_op(TxnOp::Abort)
    }

    /// Where the transactional producer stands.
    pub fn transaction_state(&self) -> TransactionState {
        self.producer.transaction_state()
    }

    /// The next outcome, if any. Drain after every call into the producer.
    pub fn poll_event(&mut self) -> Option<ProducerEvent> {
        if self.events.is_empty() {
            self.producer.take_events(&mut self.events);
        }
        if let Some((id, result)) = self.events.pop_front() {
            return Some(match result {
                Ok((metadata, record)) => ProducerEvent::Delivered {
                    id,
                    metadata,
                    record,
                },
                Err(error) => ProducerEvent::Failed { id, error },
            });
        }
        if self.txn_events.is_empty() {
            self.producer.take_transaction_events(&mut self.txn_events);
        }
        if let Some((op, result)) = self.txn_events.pop_front() {
            return Some(ProducerEvent::Transaction { op, result });
        }
        if !self.closed && self.producer.is_finished() {
            self.closed = true;
            return Some(ProducerEvent::Closed);
        }
        None
    }

    /// Whether [`ProducerEvent::Closed`] was emitted.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Broker connections currently open or opening.
    pub fn connections(&self) -> usize {
        self.reactor.sockets()
    }

    /// Now, on the clock the producer feeds its core.
    pub fn now(&self) -> Instant {
        self.producer.now()
    }

    /// A snapshot of what the producer did and holds (see [`crate::observe`]).
    pub fn stats(&self) -> odradek_core::Stats {
        self.producer.stats()
    }

    /// The core, for inspection (`pending_records`, `buffered_bytes`, `config`): a guard
    /// that dereferences to the [`ProducerCore`](odradek_core::ProducerCore); drop it before calling the producer again.
    pub fn core(&self) -> CoreRef<'_> {
        self.producer.core()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_range_bounds() {
        let range = TokenRange::new(10, 3);
        assert!(!range.contains(Token(9)));
        assert!(range.contains(Token(10)));
        assert!(range.contains(Token(12)));
        assert!(!range.contains(Token(13)));
        let top = TokenRange::new(usize::MAX - 1, 1);
        assert!(top.contains(Token(usize::MAX - 1)));
        assert!(!top.contains(Token(usize::MAX)));
    }

    #[allow(dead_code)]
    fn assert_send(p: MioProducer) -> impl Send {
        let pending = p.core().pending_records();
        (p, pending)
    }
}
