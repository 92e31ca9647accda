//! [`ProducerCore`]: the whole producer pipeline as plain state.
//!
//! The stages, each in its own module (Sarama's 2015 AsyncProducer names beside them), are
//! structs with their own state that take the rest as explicit borrows (the sender and
//! responses as a [`stage_cx::StageCx`]); [`pass`] routes between them.
//!
//! | module | original | here |
//! |---|---|---|
//! | [`accept`] (owned: `Accept`) | `dispatcher` + `topicProducer` | topic validation, fast refusals, `buffer.memory`, waiting for metadata, partitioning |
//! | [`topic`] | `topicProducer` | a topic's state and circuit breaker |
//! | [`partition`], [`batch`] (owned) | `partitionProducer` + `aggregator` | leader, batch queue, seal rule, readiness, expiry |
//! | [`order`] (owned) | `partitionProducer` | retry levels, high watermark, retry buffers, chaser |
//! | [`sender`] (owned: `Sender`) | `aggregator` + `flusher` | Produce requests per broker, in-flight limits, encoding, sequence stamps |
//! | [`responses`] (owned: `Responses`) | `flusher.parseResponse`, `retryHandler` | answers, retries, backoff, exhaustion, sequenced retries and splits |
//! | [`outbox`] (owned: `Outbox`) | the output channels | outputs, outcomes, counters, events, stats |
//! | [`metadata`] (owned: `MetadataState`) | `client.RefreshMetadata` | bootstrap, Metadata requests, leaders, refresh |
//! | [`connection`] (owned: `Connections`) | `Broker` | connection ids, framing, pending requests, ApiVersions |
//! | [`sasl`] (owned: `Connections`) | `Broker.authenticateViaSASL` | SaslHandshake, SaslAuthenticate, re-authentication |
//! | [`idempotence`] (owned: `Idempotence`) | — (KIP-98, KIP-360) | producer id and epoch, InitProducerId, epoch bumps |
//! | [`txn`] (owned: `Transactions`) | — (KIP-98, KIP-890) | transactions: coordinators, enrolment, EndTxn, error classes |
//! | [`pass`] | — | routing each input and answer over the stages, expiry, close |
//!
//! `core/ARCHITECTURE.md` has the stage map.
//!
//! Every input ends with [`ProducerCore::advance`], which moves whatever can move: seals batches
//! whose linger ran out, flushes retry buffers whose gate opened, fetches metadata, connects to
//! leaders, sends requests, expires records, and finishes a close. It looks only at the
//! partitions the input changed ([`dirty`]: a Produce response marks the partitions it names, a
//! lost connection those whose batches it carried, a metadata answer those whose leader moved)
//! and at those whose deadline is due ([`timers`]: a heap of each partition's next linger end,
//! retry backoff end or delivery deadline), in [`pass`]; debug builds check after every input
//! that nothing else had work and that the wake-up is not late (`check.rs`). `send`, the
//! per-record input, takes a fast path instead ([`ProducerCore::advance_after_send`]) while no
//! deadline is due: it looks only at the partition the record went to.
//!
//! ## The hot path
//!
//! `send` → the open batch of the record's partition → request bytes:
//!
//! * the topic is found by comparing the record's `TopicName` pointer with the last one seen
//!   (no hashing per record), the partition by index;
//! * the record is encoded once, at `send`, into the open batch's [`BatchBuilder`]
//!   (`batch::Batch::enc`) in the record format the brokers negotiated; before any
//!   broker has, or for a record the format cannot carry, the batch keeps only its records
//!   and is encoded when its request is built (the deferred path), as is a batch that goes to
//!   a broker speaking another format (a retry after a leader move);
//! * once encoded (RecordBatch v2), the caller's `Record` is let go: the batch keeps a
//!   64-byte `batch::Slot` per record (id, timestamp, charge, retry level, deadline), and a
//!   record that leaves its batch undelivered (a failure, a retry without idempotence, a
//!   split) is rebuilt from the batch's bytes (`batch::take_records`).
//!   [`Config::return_successes`](crate::Config::return_successes) keeps records whole, to
//!   hand them back with their delivery;
//! * a Produce request is written as chunks (`request::produce_chunks`): one small framing
//!   buffer, and each batch's bytes as its own `Bytes`, never copied;
//! * requests are built from the ready queue (partitions with a sealed batch), and
//!   `poll_timeout` answers from a kept value, so neither costs a scan of every partition.
//!
//! [`BatchBuilder`]: crate::record::BatchBuilder

/// The split borrows a stage needs to send a request or emit an output
/// ([`connection::Io`]), taken from the producer's fields.
/// The split borrows the accept stage works with ([`accept::AcceptCx`]).
macro_rules! accept_cx {
    ($core:ident) => {
        $crate::producer::accept::AcceptCx {
            topics: &mut $core.topics,
            config: &$core.config,
            limits: &$core.limits,
            pool: &mut $core.recycler,
            out: &mut $core.outbox,
            metadata: &mut $core.metadata,
            rng: &mut $core.rng,
            dirty: &mut $core.dirty,
            closing: $core.closing,
        }
    };
}

/// The split borrows the sender and responses stages work with ([`stage_cx::StageCx`]).
macro_rules! stage_cx {
    ($core:ident) => {
        $crate::producer::stage_cx::StageCx {
            topics: &mut $core.topics,
            dirty: &mut $core.dirty,
            config: &$core.config,
            limits: &$core.limits,
            recycler: &mut $core.recycler,
            outbox: &mut $core.outbox,
            clock: &mut $core.clock,
            rng: &mut $core.rng,
            idem: &mut $core.idem,
            metadata: &mut $core.metadata,
            conns: &mut $core.conns,
            flush_upto: $core.flush_upto,
            closing: $core.closing,
        }
    };
}

macro_rules! io {
    ($core:ident) => {
        $crate::producer::connection::Io {
            out: &mut $core.outbox,
            clock: &mut $core.clock,
            config: &$core.config,
        }
    };
}

/// The split borrows the transaction stage works with ([`txn::TxnCx`]).
macro_rules! txn_cx {
    ($core:ident) => {
        $crate::producer::txn::TxnCx {
            pending: $core.outbox.pending,
            conns: &mut $core.conns,
            io: io!($core),
            rng: &mut $core.rng,
            brokers: &mut $core.metadata.brokers,
            topics: &$core.topics,
            idem: &mut $core.idem,
        }
    };
}

mod accept;
pub(crate) use batch::Slot;
mod batch;
#[cfg(debug_assertions)]
mod check;
mod close;
mod connection;
mod dirty;
mod idempotence;
mod leader_hint;
mod metadata;
mod order;
mod outbox;
mod partition;
mod pass;
mod produce_floor;
mod record_errors;
mod recycle;
mod request;
mod responses;
mod sasl;
mod sender;
mod stage_cx;
mod timers;
mod topic;
mod txn;
mod txn_wire;

use crate::config::{Config, ConfigError};
use crate::error::SendError;
use crate::message::{Record, RecordId};
use crate::output::{ConnId, Output, TimeoutReason};
use crate::rng::Rng;
use crate::time::Instant;
use crate::transaction::{GroupMetadata, TransactionError, TransactionState, TxnOffset};
use batch::BatchLimits;
use connection::{ConnPhase, Connections, Report};
use metadata::MetadataState;
pub(crate) use partition::PartitionRef;
use partition::PartitionState;
use std::collections::VecDeque;
use topic::TopicState;

/// The sans-IO producer. See the crate docs for the drive contract.
///
/// Inputs are the `handle_*` methods, [`send`](Self::send), [`flush`](Self::flush) and
/// [`close`](Self::close), each taking `now`; outputs come from
/// [`poll_output`](Self::poll_output), and [`poll_timeout`](Self::poll_timeout) says when to
/// call [`handle_timeout`](Self::handle_timeout). After any input, drain `poll_output` and
/// re-arm the one timer.
#[derive(Debug)]
pub struct ProducerCore {
    config: Config,
    rng: Rng,
    /// Outputs, counters and events ([`outbox`]).
    outbox: outbox::Outbox,
    /// The topic table: each topic's state and partitions ([`topic`], [`partition`]).
    topics: Vec<TopicState>,
    /// The accept stage's own state ([`accept`]).
    accept: accept::Accept,
    metadata: MetadataState,
    conns: Connections,
    /// Open batches holding a record with an id below this are sealed now (`flush`/`close`).
    flush_upto: u64,
    closing: bool,
    closed: bool,
    /// Batch limits, and the record format to encode into at `send`.
    limits: BatchLimits,
    /// The latest `now` seen and the wake-up ([`Clock`]).
    clock: Clock,
    /// The idempotent producer's id, epoch and InitProducerId exchange.
    idem: idempotence::Idempotence,
    /// The sender's own state: the ready queue, the framing buffer ([`sender`]).
    sender: sender::Sender,
    /// Buffers of finished batches and requests, for the next ones ([`recycle`]).
    recycler: recycle::Recycler,
    /// The responses stage's own state: the kept Produce answer ([`responses`]).
    responses: responses::Responses,
    /// Partitions looked at by inputs so far (each partition a pass over partitions touches
    /// counts once per pass; [`stats`](Self::stats) and debug-build checks do not count):
    /// what [`partitions_visited_for_testing`](Self::partitions_visited_for_testing) reports.
    visited: u64,
    /// Partitions changed since the last pass over partitions ([`dirty`]).
    dirty: dirty::DirtySet,
    /// Per-partition deadlines ([`timers`]).
    timers: timers::PartitionTimers,
    /// Scratch list of the partitions the current pass looks at (kept: no allocation).
    work: Vec<PartitionRef>,
    /// Closing without a delivery timeout: the close cutoff at which every partition was last
    /// emptied of its unsent records ([`ProducerCore::expire_records`]).
    swept_at: Option<Instant>,
    /// A partition looked at in this pass had lost a sequence (idempotence).
    sequence_lost: bool,
    /// The transaction stage, with a `transactional.id` ([`txn`]).
    txn: Option<txn::Transactions>,
}

impl ProducerCore {
    /// A producer with `config`, drawing all its randomness from `seed`, starting at `now`.
    /// It asks for its first connection (to a bootstrap server) at once.
    pub fn new(config: Config, seed: u64, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut core = ProducerCore {
            rng: Rng::new(seed),
            outbox: Default::default(),
            topics: Vec::new(),
            accept: Default::default(),
            metadata: MetadataState::default(),
            conns: Connections::new(config.client_id.clone()),
            flush_upto: 0,
            closing: false,
            closed: false,
            clock: Clock {
                last_now: now,
                wake: None,
            },
            limits: BatchLimits::new(&config),
            idem: idempotence::Idempotence::new(
                config.idempotence_enabled(),
                config.is_transactional(),
            ),
            sender: Default::default(),
            recycler: recycle::Recycler::new(config.batch_size.min(config.message_max_bytes))
                .with_budget(config.buffer_memory),
            responses: Default::default(),
            visited: 0,
            dirty: Default::default(),
            timers: Default::default(),
            work: Vec::new(),
            swept_at: None,
            sequence_lost: false,
            txn: config
                .transactional_id
                .clone()
                .filter(|_| config.is_transactional())
                .map(|id| txn::Transactions::new(id, config.transaction_timeout)),
            config,
        };
        if core.txn.is_some() {
            core.outbox.txn_failure = Some(None);
        }
        core.metadata.request_now(now);
        core.advance(now);
        Ok(core)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Accepts a record, or refuses it at once (too large, bad topic, closed, buffer full),
    /// handing it back; a refusal changes nothing. A record without a timestamp gets `now`'s
    /// (monotonic, anchored once to the wall clock): the adapters set the wall clock's first.
    /// Every accepted record gets exactly one outcome, `Delivered` or `Failed`, named by the
    /// returned id.
    // The error hands the record back by value, so it is as large as a record.
    #[allow(clippy::result_large_err)]
    pub fn send(&mut self, record: Record, now: Instant) -> Result<RecordId, SendError> {
        if self.txn.is_some() {
            return self.send_in_transaction(record, now);
        }
        self.accept.touched = None;
        let due_before = self.metadata.due;
        let id = self.accept.accept(record, &mut accept_cx!(self), now)?;
        if self.closing || self.clock.wake.is_some_and(|(at, _)| now >= at) {
            // The full pass looks only at marked and due partitions: the record's partition
            // is neither (its new open batch's linger is not armed yet).
            if let Some(at) = self.accept.touched {
                self.dirty.mark(at);
            }
            self.advance(now);
        } else {
            self.advance_after_send(id, now, self.metadata.due != due_before);
        }
        Ok(id)
    }

    /// `send` with a `transactional.id`: only inside a transaction
    /// ([`begin_transaction`](Self::begin_transaction)), else refused with
    /// [`SendErrorKind::Transaction`](crate::SendErrorKind::Transaction). Each record gets the
    /// full pass (its partition may first need to join the transaction).
    #[allow(clippy::result_large_err)]
    fn send_in_transaction(&mut self, record: Record, now: Instant) -> Result<RecordId, SendError> {
        let txn = self.txn.as_mut().expect("transactional");
        if let Err(e) = txn.may_send() {
            let kind = crate::error::SendErrorKind::Transaction(e);
            return Err(SendError { kind, record });
        }
        self.accept.touched = None;
        let id = self.accept.accept(record, &mut accept_cx!(self), now)?;
        txn.sent();
        if let Some(at) = self.accept.touched {
            self.dirty.mark(at);
        }
        self.advance(now);
        Ok(id)
    }

    /// Java's `initTransactions`: finds the transaction coordinator and gets the producer id
    /// and epoch for `transactional.id` from it, fencing any older producer with the same id
    /// (and aborting its open transaction). Ends with [`Output::Transaction`] for
    /// [`TxnOp::Init`](crate::TxnOp::Init). Refused without a `transactional.id` or when
    /// called twice.
    pub fn init_transactions(&mut self, now: Instant) -> Result<(), TransactionError> {
        self.txn_op(now, |txn, _| txn.init())
    }

    /// Java's `beginTransaction`: opens a transaction (local: no request, no output). Needs
    /// an initialized producer with no transaction open.
    pub fn begin_transaction(&mut self) -> Result<(), TransactionError> {
        let txn = self
            .txn
            .as_mut()
            .ok_or(TransactionError::NotTransactional)?;
        self.limits.txn_epoch = txn.begin()?;
        Ok(())
    }

    /// Java's `sendOffsetsToTransaction`: commits `offsets` of the consumer group in `group`
    /// as part of the open transaction (visible when it commits). Ends with
    /// [`Output::Transaction`] for [`TxnOp::SendOffsets`](crate::TxnOp::SendOffsets).
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: Vec<TxnOffset>,
        group: GroupMetadata,
        now: Instant,
    ) -> Result<(), TransactionError> {
        self.txn_op(now, |txn, _| txn.send_offsets(offsets, group))
    }

    /// Java's `commitTransaction`: flushes (every record of the transaction gets its
    /// outcome), then asks the coordinator to commit. Ends with [`Output::Transaction`] for
    /// [`TxnOp::Commit`](crate::TxnOp::Commit): `Ok` only once the coordinator committed; a
    /// failed record makes it an abortable error instead. A lost answer is retried until the
    /// coordinator answers ([`TransactionState::Committing`] says `outcome_unknown`).
    pub fn commit_transaction(&mut self, now: Instant) -> Result<(), TransactionError> {
        self.txn_op(now, |txn, _| txn.commit())?;
        self.flush(now);
        Ok(())
    }

    /// Java's `abortTransaction`: records of the transaction not sent yet fail with
    /// [`ProduceError::TransactionAborted`](crate::ProduceError::TransactionAborted), those in
    /// flight get their outcome, then the coordinator aborts the transaction. Ends with
    /// [`Output::Transaction`] for [`TxnOp::Abort`](crate::TxnOp::Abort). Refused while a
    /// commit is in progress, as its outcome may be unknown (KAFKA-17754).
    pub fn abort_transaction(&mut self, now: Instant) -> Result<(), TransactionError> {
        self.txn_op(now, |txn, out| txn.abort(out))?;
        self.fail_unsent(&crate::ProduceError::TransactionAborted);
        self.advance(now);
        Ok(())
    }

    /// Where the transactional producer stands.
    pub fn transaction_state(&self) -> TransactionState {
        self.txn
            .as_ref()
            .map_or(TransactionState::NotTransactional, |t| t.state())
    }

    /// Starts a transaction operation with `start`, then advances.
    fn txn_op(
        &mut self,
        now: Instant,
        start: impl FnOnce(&mut txn::Transactions, &mut outbox::Outbox) -> Result<(), TransactionError>,
    ) -> Result<(), TransactionError> {
        let txn = self
            .txn
            .as_mut()
            .ok_or(TransactionError::NotTransactional)?;
        if self.closing {
            return Err(TransactionError::Closed);
        }
        start(txn, &mut self.outbox)?;
        self.advance(now);
        Ok(())
    }

    /// A connection asked for by [`Output::Connect`] is open.
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        let connecting = self
            .conns
            .conns
            .get(&conn)
            .is_some_and(|c| matches!(c.phase, ConnPhase::Connecting { .. }));
        if connecting {
            // A connection opened: a failure to connect is over. A malformed answer is over
            // only once an answer decodes (`Connections::proved`).
            if self
                .conns
                .error
                .as_ref()
                .is_some_and(|e| e.kind != crate::error::ConnectionErrorKind::MalformedResponse)
            {
                self.conns.error = None;
            }
            self.conns.send_api_versions(conn, 3, &mut io!(self), now);
        }
        self.advance(now);
    }

    /// Bytes arrived on a connection. The core does the framing.
    pub fn handle_received(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        self.clock.last_now = self.clock.last_now.max(now);
        self.receive(conn, data, now);
        self.advance(now);
    }

    /// The driver wrote `bytes` more of the bytes [`Output::Transmit`] handed it for `conn`
    /// (a socket write returned `bytes`). Call it after every write that took bytes.
    ///
    /// With `acks=0` no answer comes, so this is how a Produce request ends: its records are
    /// delivered once all of its bytes are written, and they hold their `buffer.memory` until
    /// then. A driver that never calls it sees `acks=0` requests time out
    /// (`request.timeout.ms`) and be retried. With other acks it only keeps a count.
    pub fn handle_written(&mut self, conn: ConnId, bytes: usize, now: Instant) {
        if self.written(conn, bytes) {
            self.advance(now);
        }
    }

    /// A connection failed to open, or closed, or errored.
    pub fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        self.drop_conn(conn, crate::RetryCause::ConnectionLost, Report::Silent, now);
        self.advance(now);
    }

    /// A connection failed (to open, or later) for a reason the adapter can name, such as a
    /// TLS handshake failure: like [`handle_disconnected`](Self::handle_disconnected), and
    /// records whose delivery deadline passes before another connection opens fail with
    /// [`ProduceError::Connection`](crate::ProduceError::Connection) carrying `error`
    /// instead of a bare [`ProduceError::DeliveryTimeout`](crate::ProduceError::DeliveryTimeout).
    pub fn handle_connection_error(
        &mut self,
        conn: ConnId,
        error: crate::error::ConnectionError,
        now: Instant,
    ) {
        self.conns.error = Some(error);
        self.handle_disconnected(conn, now);
    }

    /// The timer armed from [`poll_timeout`](Self::poll_timeout) fired (calling it early is
    /// harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// Seals every open batch now, ignoring `linger.ms`, until everything sent before this call
    /// has its outcome.
    pub fn flush(&mut self, now: Instant) {
        self.flush_upto = self.accept.next_record_id;
        self.mark_open_batches();
        self.advance(now);
    }

    /// Graceful close: refuse new records, deliver or fail every one already accepted, close
    /// the connections, then emit [`Output::Closed`].
    ///
    /// Records wait at most their delivery timeout; with none
    /// ([`Config::delivery_timeout`] = `None`), once `request.timeout.ms` +
    /// `retry.backoff.max.ms` passed after this call (or after the last outcome since) every record not acknowledged and not in
    /// flight fails with a delivery timeout — sent batches waiting for a retry on a
    /// partition without a leader included — and those in flight when their request ends,
    /// so the close always ends, even when a broker never comes back. (The Java client's
    /// `close()` waits without bound; here the promise is that close ends.)
    ///
    /// Shutdown follows Sarama's `shutdown` and the dispatcher's `shuttingDown`: new records
    /// are refused, every open batch seals, everything accepted reaches its outcome (retries
    /// still apply), then every connection is disconnected and [`Output::Closed`] comes
    /// exactly once, last.
    pub fn close(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.flush_upto = self.accept.next_record_id;
        // Every open batch seals now (as for a flush).
        self.mark_open_batches();
        self.advance(now);
    }

    /// Java's `close(Duration)` once its timeout passed (the adapter keeps the timeout; call
    /// it after [`close`](Self::close), or alone): refuses new records, drops every connection
    /// (an answer that still comes is ignored), fails every record without an outcome, in
    /// flight or not, with [`ProduceError::CloseTimedOut`](crate::ProduceError::CloseTimedOut)
    /// (each still gets exactly one outcome), and ends with [`Output::Closed`].
    pub fn close_now(&mut self, now: Instant) {
        close::close_now(self, now);
    }

    /// The next output, or `None` when there is nothing to do until the next input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outbox.outputs.pop_front()
    }

    /// Hands an output back once the driver is done with it, so that its lists serve later
    /// batches and requests: with this the core allocates nothing in steady state. Optional:
    /// an output dropped instead costs one allocation later.
    ///
    /// Useful for [`Output::Transmit`] once its chunks are queued or written (take them out
    /// first, e.g. with `data.drain(..)`; chunks left in it are dropped) and for
    /// [`Output::Delivered`] once its records were taken with
    /// [`Delivery::drain`](crate::Delivery::drain) (records left in it are dropped, and still
    /// count as delivered). Other outputs are just dropped.
    ///
    /// ```
    /// # use odradek_core::{Output, ProducerCore};
    /// fn drive(core: &mut ProducerCore, queue: &mut Vec<bytes::Bytes>, ids: &mut Vec<u64>) {
    ///     while let Some(out) = core.poll_output() {
    ///         match out {
    ///             Output::Transmit { conn, mut data } => {
    ///                 queue.extend(data.drain(..));
    ///                 core.recycle(Output::Transmit { conn, data });
    ///             }
    ///             Output::Delivered(mut batch) => {
    ///                 ids.extend(batch.drain().map(|d| d.id.0));
    ///                 core.recycle(Output::Delivered(batch));
    ///             }
    ///             _ => {}
    ///         }
    ///     }
    /// }
    /// ```
    pub fn recycle(&mut self, output: Output) {
        match output {
            Output::Transmit { data, .. } => self.recycler.put_chunks(data),
            Output::Delivered(delivery) => self.recycler.put_records(delivery.records),
            _ => {}
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, and why; `None` when no
    /// timer is needed. O(1): the answer is kept up to date by the inputs (from a heap of the
    /// partitions' deadlines, not a scan of them). It is never late,
    /// but may be early (the record or request it was for has gone since); a `handle_timeout`
    /// with nothing due just recomputes it.
    pub fn poll_timeout(&self) -> Option<(Instant, TimeoutReason)> {
        if self.closed {
            return None;
        }
        self.clock.wake
    }

    /// A snapshot of what the producer did and holds: counters since it started, and the
    /// gauges of now (see [`crate::stats`]). Costs a walk over brokers and partitions.
    pub fn stats(&self) -> crate::stats::Stats {
        self.outbox.snapshot(outbox::Gauges {
            records_accepted: self.accept.next_record_id,
            pending_records: self.outbox.pending,
            buffer_bytes: self.recycler.in_use(),
            buffer_capacity: self.config.buffer_memory,
            batch_size: self.config.batch_size,
            conns: &self.conns,
            brokers: &self.metadata.brokers,
            topics: &self.topics,
        })
    }

    /// Turns the [`Event`](crate::stats::Event) queue on or off (off at start: nothing is
    /// built). While on, drain it with [`poll_event`](Self::poll_event) after each input, as
    /// with [`poll_output`](Self::poll_output); turning it off drops what was queued.
    pub fn set_events(&mut self, on: bool) {
        let events = &mut self.outbox.events;
        match (on, events.is_some()) {
            (true, false) => *events = Some(VecDeque::new()),
            (false, true) => *events = None,
            _ => {}
        }
    }

    /// Whether the [`Event`](crate::stats::Event) queue is on (see
    /// [`set_events`](Self::set_events)).
    pub fn events_enabled(&self) -> bool {
        self.outbox.events.is_some()
    }

    /// The next event, while [`set_events`](Self::set_events) is on.
    pub fn poll_event(&mut self) -> Option<crate::stats::Event> {
        self.outbox.events.as_mut()?.pop_front()
    }

    /// Records accepted and not yet given an outcome.
    pub fn pending_records(&self) -> usize {
        self.outbox.pending
    }

    /// Bytes of `buffer.memory` in use: the held records' size bounds plus the batch buffer
    /// and list capacity charged to them. At most `buffer.memory`, but for one record held
    /// alone (see [`Config::buffer_memory`](crate::Config::buffer_memory)).
    pub fn buffered_bytes(&self) -> usize {
        self.recycler.in_use()
    }

    /// Whether `close` was called.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// **A testing hook, not for production use.** Makes every partition's idempotent
    /// sequences start at `seq` (instead of 0) under each producer id that InitProducerId
    /// grants from now on, as if this producer had already written that many records to
    /// every partition: how a simulator gets a producer to Kafka's sequence wrap-around
    /// (`i32::MAX` to 0) without sending 2^31 records first. The brokers must hold matching
    /// producer state (odradek-sim's `FaultConfig::initial_sequence` seeds it); a real broker
    /// would answer the first batch UNKNOWN_PRODUCER_ID or OUT_OF_ORDER_SEQUENCE_NUMBER and
    /// the producer would recover with an epoch bump. A local epoch bump still restarts the
    /// sequences at 0, as Kafka requires of a new epoch. Negative values count as 0.
    #[doc(hidden)]
    pub fn set_initial_sequence_for_testing(&mut self, seq: i32) {
        self.idem.first_seq = seq.max(0);
    }

    /// **A testing hook.** How many partitions the inputs so far looked at (a partition counts
    /// once per pass that touches it), so a test can show that an input costs work
    /// proportional to what it changed, not to the number of partitions.
    #[doc(hidden)]
    pub fn partitions_visited_for_testing(&self) -> u64 {
        self.visited
    }

    /// Moves everything that can move at `now`: the partitions changed since the last pass
    /// ([`dirty`]) and those whose deadline is due ([`timers`]) drain their retry buffers,
    /// apply the seal rule, join the ready queue and expire records; then the per-broker
    /// steps run (request timeouts, re-authentication, idempotence, metadata, connections,
    /// requests), and [`wake`](Clock::wake) is recomputed from the timers. The work is
    /// proportional to what changed, not to the number of partitions.
    fn advance(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.clock.last_now = self.clock.last_now.max(now);
        self.expire_conns(now);
        self.partition_pass();
        self.expire_records(self.clock.last_now);
        self.reauth_step(now);
        self.idempotence_step(now);
        self.txn_step(now);
        self.metadata_step(now);
        self.sender.connect_leaders(&mut stage_cx!(self), now);
        self.sender.send_produce_requests(&mut stage_cx!(self), now);
        // Records that failed after the expiry above (while building requests) are progress
        // at this input too, not at the next one (found by the soak: a close ended 0.5 s late).
        self.outbox.note_close_progress(self.clock.last_now);
        self.maybe_finish_close();
        self.rearm_marked();
        self.clock.wake = self.next_wake();
        #[cfg(debug_assertions)]
        self.check_after_input(true);
    }

    /// The fast path after a `send`, when no deadline has passed and the producer is not
    /// closing: only the partition the record went to can have changed, so only it is
    /// looked at (work proportional to what changed, not to the number of partitions). What
    /// the full [`advance`](Self::advance) would do besides is either timer-driven (linger, retry
    /// backoff, delivery and request timeouts, reconnect backoff — none due, as `now` is before
    /// [`wake`](Clock::wake)) or follows inputs other than `send` (responses, connections).
    /// Metadata is looked at only if this send asked for a refresh (`metadata_asked`: a new
    /// topic, or a partition without a leader): otherwise nothing a send changes can make a
    /// refresh due, and the periodic one is already in `wake`.
    fn advance_after_send(&mut self, id: RecordId, now: Instant, metadata_asked: bool) {
        self.clock.last_now = self.clock.last_now.max(now);
        // Most sends join an open batch and change nothing else: skip the seal rule and the
        // ready queue for them.
        let (linger, flush_upto) = (self.config.linger, self.flush_upto);
        let changed = self.accept.touched.filter(|&at| {
            !self
                .partition(at)
                .appended_quietly(id, now, linger, flush_upto, &self.limits)
        });
        if let Some(at) = changed {
            // Sealed at `last_now`, as `queue_if_ready` would: nothing changes the partition
            // in between, so the enqueue below need not apply the seal rule a second time.
            let last_now = self.clock.last_now;
            self.seal_partition(at, last_now);
            let leader = self.partition(at).leader;
            if let Some((at, why)) = self.rearm(at) {
                self.clock.lower_wake(at, why);
            }
            if self.sender.enqueue_if_ready(
                &mut self.topics[at.topic].partitions[at.index],
                &self.limits,
                at,
            ) {
                if let Some(node) = leader {
                    self.sender.send_to_node(&mut stage_cx!(self), node, now);
                }
            }
        }
        if let Some(d) = self.config.delivery_timeout {
            self.clock
                .lower_wake(now + d, TimeoutReason::DeliveryTimeout);
        }
        if metadata_asked {
            self.metadata_step(now);
            if !self.is_idle_closing() && self.metadata.in_flight.is_none() {
                let at = self.metadata.next_refresh(self.config.metadata_max_age);
                self.lower_wake_opt(at, TimeoutReason::MetadataRefresh);
            }
        }
        // Requests built above marked the partitions they took batches from: those
        // deadlines can only have moved later (an early wake-up is harmless); the next pass
        // looks at them and re-arms them.
        #[cfg(debug_assertions)]
        self.check_after_input(false);
    }

    /// Applies the seal rule to partition `at` ([`stage_cx::StageCx::seal_partition`]).
    #[inline]
    fn seal_partition(&mut self, at: PartitionRef, now: Instant) {
        stage_cx!(self).seal_partition(at, now);
    }

    /// Puts partition `at` in the ready queue if it is ready and not queued yet
    /// ([`sender::Sender::queue_if_ready`]). Returns whether it is ready.
    #[inline]
    pub(super) fn queue_if_ready(&mut self, at: PartitionRef) -> bool {
        self.sender.queue_if_ready(&mut stage_cx!(self), at)
    }

    /// Partition `at`'s state.
    #[inline]
    pub(super) fn partition(&self, at: PartitionRef) -> &PartitionState {
        &self.topics[at.topic].partitions[at.index]
    }

    /// Partition `at`'s state, to change: marks it [`dirty`], so that the next pass over
    /// partitions looks at it and its deadline is re-armed.
    #[inline]
    pub(super) fn partition_mut(&mut self, at: PartitionRef) -> &mut PartitionState {
        partition::partition_mut(&mut self.topics, &mut self.dirty, at)
    }

    /// `sealed` batches of partition `at` were just sealed: its topic's partitioner hears
    /// of each (the sticky partitioner moves on).
    #[inline]
    pub(super) fn batches_sealed(&mut self, at: PartitionRef, sealed: usize) {
        for _ in 0..sealed {
            self.topics[at.topic].partitioner.on_batch_sealed();
        }
    }

    #[inline]
    fn lower_wake_opt(&mut self, at: Option<Instant>, why: TimeoutReason) {
        if let Some(at) = at {
            self.clock.lower_wake(at, why);
        }
    }
}

/// The producer's sense of time: the latest `now` an input brought, and the wake-up
/// [`poll_timeout`](ProducerCore::poll_timeout) answers. Stages that create a deadline lower
/// the wake-up through it.
#[derive(Debug)]
pub(crate) struct Clock {
    /// The latest `now` seen (deadlines at or before it are already acted on).
    pub last_now: Instant,
    /// What [`poll_timeout`](Self::poll_timeout) answers: after an
    /// [`advance`](Self::advance), the partition timers' top or an earlier per-broker deadline,
    /// and after a [`send`](Self::send) on the fast path lowered by whatever deadline that send
    /// created. It may be early (the record it was for is gone), never late (debug builds
    /// check it after every input): an early `handle_timeout` finds nothing due and recomputes
    /// it.
    pub wake: Option<(Instant, TimeoutReason)>,
}

impl Clock {
    /// Lowers the wake-up to `at` if that is sooner (and still ahead).
    #[inline]
    pub(crate) fn lower_wake(&mut self, at: Instant, why: TimeoutReason) {
        if at > self.last_now && self.wake.is_none_or(|(w, _)| at < w) {
            self.wake = Some((at, why));
        }
    }
}
