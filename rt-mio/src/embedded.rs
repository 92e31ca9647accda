//! [`MioProducer`]: the producer living inside the user's own `mio::Poll` loop.

use crate::clock::{random_seed, Clock};
use crate::conn::{ConnectCheck, Connection, IoProgress};
use crate::ConnectError;
use mio::event::Event;
use mio::{Registry, Token};
use odradek_core::{
    BrokerAddress, Config, ConnId, DeliveryError, Instant, Output, ProducerCore, Record, RecordId,
    RecordMetadata, SendError, SendErrorKind,
};
use odradek_driver::tls::TlsConnector;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Bytes read from a socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// The longest a TCP connect plus TLS handshake may take (Kafka's
/// `socket.connection.setup.timeout.ms` default), capped by `request.timeout.ms`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `read` calls per connection per wake-up before the rest is left for the next pass.
const READS_PER_WAKE: usize = 16;
/// Bytes written per connection per wake-up before the rest is left for the next pass.
const WRITE_CAP_PER_WAKE: usize = 1024 * 1024;

/// What one accepted record costs in memory beyond the bytes the core counts against
/// `buffer.memory` (its encoded size): the core's copy of the [`Record`] it hands back with
/// the outcome (struct, key and value allocations) and its per-record state, about 250-400
/// bytes as measured with `tests/memory.rs`. [`MioProducer::send`] charges it too, so that
/// `buffer.memory` bounds what a full buffer really holds: with 100-byte records the core's
/// count alone let the process hold 3x (core) to 16x (with the blocking producer's
/// receipts) more than `buffer.memory` once a broker stopped answering.
pub(crate) const CORE_RECORD_OVERHEAD: usize = 512;

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

/// Hands out tokens from a [`TokenRange`]: fresh ones first, then released ones, oldest first.
#[derive(Debug)]
struct TokenPool {
    range: TokenRange,
    next_fresh: usize,
    released: VecDeque<Token>,
}

impl TokenPool {
    fn new(range: TokenRange) -> Self {
        TokenPool {
            range,
            next_fresh: 0,
            released: VecDeque::new(),
        }
    }

    fn allocate(&mut self) -> Option<Token> {
        if self.next_fresh < self.range.len {
            let token = Token(self.range.start + self.next_fresh);
            self.next_fresh += 1;
            Some(token)
        } else {
            self.released.pop_front()
        }
    }

    fn release(&mut self, token: Token) {
        self.released.push_back(token);
    }
}

/// An outcome waiting to be drained: a delivered batch is kept whole, its records handed
/// out one [`ProducerEvent::Delivered`] at a time (not copied into the queue one by one).
#[derive(Debug)]
pub(crate) enum Queued {
    /// The rest of a delivered batch.
    Batch(odradek_core::DeliveryIter),
    /// Anything else.
    Event(ProducerEvent),
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
        /// The record, handed back.
        record: Record,
    },
    /// The record failed for good.
    Failed {
        /// The id [`MioProducer::send`] returned.
        id: RecordId,
        /// Why, with the record handed back.
        error: DeliveryError,
    },
    /// [`MioProducer::close`] finished: every record has its outcome and every connection is
    /// closed. Nothing follows.
    Closed,
}

/// A Kafka producer driven by the user's own [`mio::Poll`] loop.
///
/// It owns an [`odradek_core::ProducerCore`] and the broker sockets; the user owns the `Poll`
/// and the thread. Drive contract, each step cheap and non-blocking:
///
/// 1. Reserve a [`TokenRange`] and create the producer with [`MioProducer::new`]; it registers
///    its sockets on (a clone of) your [`Registry`] under tokens from that range only.
/// 2. Poll with [`MioProducer::timeout`] as (or within) your poll timeout.
/// 3. Hand every event whose token the producer [`owns`](MioProducer::owns) to
///    [`handle_event`](MioProducer::handle_event).
/// 4. After each poll, call [`after_poll`](MioProducer::after_poll) (it only compares
///    the clock with the core's deadline when nothing is due, and resumes work that was cut off
///    by the per-wake-up caps).
/// 5. Drain outcomes with [`poll_event`](MioProducer::poll_event) after any call.
///
/// [`send`](MioProducer::send), [`flush`](MioProducer::flush) and
/// [`close`](MioProducer::close) may be called at any time between polls.
///
/// Broker host names are resolved with [`std::net::ToSocketAddrs`], which **blocks** on DNS.
/// That is instant for IP literals and `localhost`; if your brokers advertise names that need a
/// DNS round trip and your loop cannot afford the stall, resolve them in `/etc/hosts` or use
/// [`BlockingProducer`](crate::BlockingProducer), whose thread absorbs it. Every address a name
/// resolves to is tried in turn.
///
/// Outcomes are queued until drained: drain [`poll_event`](MioProducer::poll_event) every loop
/// iteration, or the queue grows by one entry per completed record.
#[derive(Debug)]
pub struct MioProducer {
    core: ProducerCore,
    clock: Clock,
    registry: Registry,
    tokens: TokenPool,
    conns: HashMap<ConnId, Connection>,
    by_token: HashMap<Token, ConnId>,
    events: VecDeque<Queued>,
    /// Connections whose reads or writes were cut off by a per-wake-up cap.
    backlog: Vec<ConnId>,
    /// Connections with freshly queued bytes.
    dirty: Vec<ConnId>,
    read_buf: Box<[u8]>,
    /// The core said `Closed`: [`ProducerEvent::Closed`] follows once the outputs before it
    /// are drained.
    core_closed: bool,
    closed: bool,
    /// Bytes charged per pending record on top of the core's count (see
    /// [`CORE_RECORD_OVERHEAD`]); the blocking producer adds its own bookkeeping.
    record_overhead: usize,
    /// `Some` with `security.protocol=SSL`: each connection gets a TLS session.
    tls: Option<TlsConnector>,
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
        MioProducer::with_seed(config, registry, tokens, random_seed())
    }

    /// Like [`new`](MioProducer::new), with the seed of the core's random choices given (for
    /// reproducible partitioning and jitter).
    pub fn with_seed(
        config: Config,
        registry: &Registry,
        tokens: TokenRange,
        seed: u64,
    ) -> Result<MioProducer, ConnectError> {
        odradek_driver::bootstrap::check_blocking(&config)?;
        let clock = Clock::new();
        config.validate().map_err(ConnectError::Config)?;
        let tls = if config.security_protocol.uses_tls() {
            Some(TlsConnector::new(&config.tls).map_err(ConnectError::Tls)?)
        } else {
            None
        };
        let core = ProducerCore::new(config, seed, clock.now()).map_err(ConnectError::Config)?;
        let registry = registry.try_clone().map_err(ConnectError::Io)?;
        let mut producer = MioProducer {
            core,
            clock,
            registry,
            tokens: TokenPool::new(tokens),
            conns: HashMap::new(),
            by_token: HashMap::new(),
            events: VecDeque::new(),
            backlog: Vec::new(),
            dirty: Vec::new(),
            read_buf: vec![0; READ_CHUNK].into_boxed_slice(),
            core_closed: false,
            closed: false,
            record_overhead: CORE_RECORD_OVERHEAD,
            tls,
        };
        let now = producer.clock.now();
        producer.drain_outputs(now);
        Ok(producer)
    }

    /// Whether `token` belongs to the producer's [`TokenRange`]: pass such events to
    /// [`handle_event`](MioProducer::handle_event).
    pub fn owns(&self, token: Token) -> bool {
        self.tokens.range.contains(token)
    }

    /// The token range given at construction.
    pub fn token_range(&self) -> TokenRange {
        self.tokens.range
    }

    /// Handles one readiness event for one of the producer's tokens (others are ignored, as are
    /// late events for connections already closed). Reads until the socket would block or the
    /// per-wake-up cap is reached, and writes what is queued.
    pub fn handle_event(&mut self, event: &Event) {
        let Some(&conn) = self.by_token.get(&event.token()) else {
            return;
        };
        let now = self.clock.now();
        self.service(conn, now);
        self.drain_outputs(now);
    }

    /// How long the user's poll may sleep before [`after_poll`](MioProducer::after_poll)
    /// is due: `None` when the producer needs no timer, zero when work is pending.
    pub fn timeout(&self) -> Option<Duration> {
        self.deadline()
            .map(|at| at.saturating_duration_since(self.clock.now()))
    }

    /// The core's next deadline on its own clock (see [`now`](MioProducer::now)), or now when
    /// capped I/O work is pending; `None` when no timer is needed.
    pub fn deadline(&self) -> Option<Instant> {
        if !self.backlog.is_empty() {
            return Some(self.clock.now());
        }
        let core = self.core.poll_timeout().map(|(at, _reason)| at);
        let connects = self
            .conns
            .values()
            .filter(|c| !c.is_connected())
            .filter_map(|c| c.connect_deadline);
        core.into_iter().chain(connects).min()
    }

    /// `socket.connection.setup.timeout.ms` (10 s, as in Kafka) capped by
    /// `request.timeout.ms`: how long a TCP connect and TLS handshake may take.
    fn connect_timeout(&self) -> Duration {
        CONNECT_TIMEOUT.min(self.core.config().request_timeout)
    }

    /// Connections whose connect or handshake ran past [`Self::connect_timeout`] fail.
    fn expire_connects(&mut self, now: Instant) -> bool {
        let late: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.is_connected() && c.connect_deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        let limit = self.connect_timeout();
        for &conn in &late {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.connect_timed_out(limit);
            }
            self.lose(conn, now);
        }
        !late.is_empty()
    }

    /// Call after every poll: resumes I/O that the per-wake-up caps cut off and, when the core's
    /// deadline has passed, lets the core act on it (linger, retries, request and delivery
    /// timeouts). Cheap when nothing is due.
    pub fn after_poll(&mut self) {
        let now = self.clock.now();
        let backlog = std::mem::take(&mut self.backlog);
        let had_work = !backlog.is_empty();
        for conn in backlog {
            self.service(conn, now);
        }
        let expired = self.expire_connects(now);
        let due = matches!(self.core.poll_timeout(), Some((at, _)) if at <= now);
        if due {
            self.core.handle_timeout(now);
        }
        if due || had_work || expired {
            self.drain_outputs(now);
        }
        self.finish_close();
    }

    /// Hands a record to the producer; returns its id, or refuses it at once (buffer full, too
    /// large, invalid topic, closing) handing it back. Never blocks.
    ///
    /// "Buffer full" counts each pending record's bookkeeping (a few hundred bytes: the
    /// record kept for its outcome) against `buffer.memory` as well as its encoded bytes, so
    /// many small records cannot hold several times `buffer.memory` while a broker is down.
    pub fn send(&mut self, record: Record) -> Result<RecordId, SendError> {
        if self.over_budget() {
            return Err(SendError {
                kind: SendErrorKind::BufferFull,
                record,
            });
        }
        let now = self.clock.now();
        let result = self.core.send(record, now);
        self.drain_outputs(now);
        result
    }

    /// Whether one more record would take the records held, with their bookkeeping, past
    /// `buffer.memory`. One record is always taken, so an overhead larger than the buffer
    /// cannot stall the producer.
    fn over_budget(&self) -> bool {
        let pending = self.core.pending_records();
        let held = self
            .core
            .buffered_bytes()
            .saturating_add((pending + 1).saturating_mul(self.record_overhead));
        pending > 0 && held > self.core.config().buffer_memory
    }

    /// Sets the bytes charged per pending record on top of the core's count (the blocking
    /// producer's receipts and routing cost more than the core's share alone).
    pub(crate) fn set_record_overhead(&mut self, bytes: usize) {
        self.record_overhead = bytes;
    }

    /// Sends every buffered record now, without waiting for `linger`. Outcomes arrive as usual.
    pub fn flush(&mut self) {
        let now = self.clock.now();
        self.core.flush(now);
        self.drain_outputs(now);
    }

    /// Begins a graceful close: no new records are taken, every accepted record gets its
    /// outcome, connections are closed, then [`ProducerEvent::Closed`] is emitted. Keep driving
    /// the loop until then.
    ///
    /// Bytes queued on a connection before the core closes it are written first (with acks=0
    /// the records in them already count as delivered); `Closed` waits for them, at most
    /// `request_timeout` after the core finished, then drops what could not be written.
    pub fn close(&mut self) {
        let now = self.clock.now();
        self.core.close(now);
        self.drain_outputs(now);
    }

    /// The next outcome, if any. Drain after every call into the producer.
    pub fn poll_event(&mut self) -> Option<ProducerEvent> {
        loop {
            if let Some(Queued::Batch(batch)) = self.events.front_mut() {
                if let Some(d) = batch.next() {
                    return Some(ProducerEvent::Delivered {
                        id: d.id,
                        metadata: d.metadata,
                        record: d.record,
                    });
                }
                self.events.pop_front();
                continue;
            }
            match self.events.pop_front()? {
                Queued::Event(event) => return Some(event),
                Queued::Batch(_) => continue,
            }
        }
    }

    /// The next outcome, with a delivered batch whole (for [`crate::BlockingProducer`],
    /// which routes a batch's records in one go).
    pub(crate) fn poll_queued(&mut self) -> Option<Queued> {
        self.events.pop_front()
    }

    /// Whether [`ProducerEvent::Closed`] was emitted.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Broker connections currently open or opening.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Now, on the clock the producer feeds its core.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// A snapshot of what the producer did and holds (see [`crate::observe`]).
    pub fn stats(&self) -> odradek_core::Stats {
        self.core.stats()
    }

    /// The core, for inspection (`pending_records`, `buffered_bytes`, `config`).
    pub fn core(&self) -> &ProducerCore {
        &self.core
    }

    /// Reads and writes a connection after an event or from the backlog.
    fn service(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.is_connected() {
            match c.check_connect(&self.registry) {
                ConnectCheck::Pending => return,
                ConnectCheck::Failed => {
                    self.lose(conn, now);
                    return;
                }
                ConnectCheck::Connected => {
                    self.core.handle_connected(conn, now);
                    self.drain_outputs(now);
                }
            }
        }
        if self.write(conn, now) {
            self.drain_outputs(now);
        }
        self.read(conn, now);
    }

    /// Reads until the socket would block, feeding the core; capped per wake-up.
    fn read(&mut self, conn: ConnId, now: Instant) {
        for _ in 0..READS_PER_WAKE {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.read_once(&mut self.read_buf) {
                Ok(0) => {
                    self.lose(conn, now);
                    return;
                }
                Ok(n) => {
                    self.core.handle_received(conn, &self.read_buf[..n], now);
                    self.drain_outputs(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.lose(conn, now);
                    return;
                }
            }
        }
        self.defer(conn);
    }

    /// Writes what is queued; capped per wake-up. Reports what was written to the core
    /// (`handle_written`); whether it did, so the caller drains the outputs that may follow.
    fn write(&mut self, conn: ConnId, now: Instant) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if !c.is_connected() || !c.has_output() {
            return false;
        }
        let (progress, wrote) = c.write(WRITE_CAP_PER_WAKE);
        if wrote > 0 {
            self.core.handle_written(conn, wrote, now);
        }
        match progress {
            IoProgress::Drained => {}
            IoProgress::Capped => self.defer(conn),
            IoProgress::Closed => self.lose(conn, now),
        }
        wrote > 0
    }

    fn defer(&mut self, conn: ConnId) {
        if !self.backlog.contains(&conn) {
            self.backlog.push(conn);
        }
    }

    /// Drains the core's outputs and writes what they queued, until the core has nothing more.
    fn drain_outputs(&mut self, now: Instant) {
        loop {
            while let Some(out) = self.core.poll_output() {
                match out {
                    Output::Connect { conn, address } => self.start_connect(conn, &address, now),
                    Output::Transmit { conn, mut data } => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.queue(&mut data);
                            if c.is_connected() {
                                self.dirty.push(conn);
                            }
                        }
                        // The emptied list goes back to the core, for a later request.
                        self.core.recycle(Output::Transmit { conn, data });
                    }
                    Output::Disconnect { conn } => self.disconnect(conn),
                    Output::Delivered(batch) => {
                        self.events.push_back(Queued::Batch(batch.into_iter()))
                    }
                    Output::Failed { id, error, record } => {
                        self.events.push_back(Queued::Event(ProducerEvent::Failed {
                            id,
                            error: DeliveryError { error, record },
                        }))
                    }
                    Output::Closed => self.core_closed = true,
                }
            }
            if self.dirty.is_empty() {
                break;
            }
            for conn in std::mem::take(&mut self.dirty) {
                self.write(conn, now);
            }
        }
        odradek_driver::observe::sync(&mut self.core);
        self.finish_close();
    }

    /// The core closed `conn`: it is dropped at once, with whatever is still queued on it.
    /// The core has given up on those requests (a request timeout, say) and may have sent
    /// them again on another connection, so writing the old copy now could store a batch
    /// twice, or after newer ones. (`acks=0` requests end only once written, so a close
    /// loses none of them.)
    fn disconnect(&mut self, conn: ConnId) {
        self.forget(conn);
    }

    /// After the core's `Closed`: drops any connection left and emits
    /// [`ProducerEvent::Closed`], once.
    fn finish_close(&mut self) {
        if !self.core_closed || self.closed {
            return;
        }
        let left: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in left {
            self.forget(conn);
        }
        self.closed = true;
        self.events.push_back(Queued::Event(ProducerEvent::Closed));
    }

    /// Opens a socket for `conn`; on failure tells the core at once.
    fn start_connect(&mut self, conn: ConnId, address: &BrokerAddress, now: Instant) {
        let resolved = (address.host.as_str(), address.port).to_socket_addrs();
        odradek_driver::observe::connect_result(address, &resolved);
        let (addrs, unresolved): (VecDeque<SocketAddr>, _) = match resolved {
            Ok(it) => (it.collect(), None),
            Err(e) => (VecDeque::new(), Some(e.to_string())),
        };
        let Some(token) = self.tokens.allocate() else {
            self.core.handle_disconnected(conn, now);
            return;
        };
        let broker = address.to_string();
        let session = match &self.tls {
            None => None,
            Some(connector) => match connector.session(&address.host, &broker) {
                Ok(session) => Some(session),
                Err(e) => {
                    self.tokens.release(token);
                    self.core.handle_connection_error(conn, e, now);
                    return;
                }
            },
        };
        match Connection::connect(&self.registry, token, addrs, session, broker) {
            Some(mut c) => {
                c.connect_deadline = Some(now + self.connect_timeout());
                self.by_token.insert(token, conn);
                self.conns.insert(conn, c);
            }
            None => {
                self.tokens.release(token);
                let detail =
                    unresolved.unwrap_or_else(|| "no address accepted a connection".into());
                let cause = crate::conn::connect_failure(&address.to_string(), detail);
                self.core.handle_connection_error(conn, cause, now);
            }
        }
    }

    /// Closes a connection the core asked to close (it is not reported back).
    fn forget(&mut self, conn: ConnId) -> bool {
        let Some(mut c) = self.conns.remove(&conn) else {
            return false;
        };
        c.deregister(&self.registry);
        self.by_token.remove(&c.token);
        self.tokens.release(c.token);
        self.backlog.retain(|&b| b != conn);
        true
    }

    /// Closes a connection that failed, and tells the core.
    fn lose(&mut self, conn: ConnId, now: Instant) {
        let failure = self.conns.get_mut(&conn).and_then(|c| c.failure.take());
        if self.forget(conn) {
            match failure {
                Some(cause) => self.core.handle_connection_error(conn, cause, now),
                None => self.core.handle_disconnected(conn, now),
            }
        }
    }
}

impl Drop for MioProducer {
    fn drop(&mut self) {
        for c in self.conns.values_mut() {
            c.deregister(&self.registry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_range_bounds_and_pool_order() {
        let range = TokenRange::new(10, 3);
        assert!(!range.contains(Token(9)));
        assert!(range.contains(Token(10)));
        assert!(range.contains(Token(12)));
        assert!(!range.contains(Token(13)));
        let top = TokenRange::new(usize::MAX - 1, 1);
        assert!(top.contains(Token(usize::MAX - 1)));
        assert!(!top.contains(Token(usize::MAX)));

        let mut pool = TokenPool::new(range);
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        pool.release(a);
        // Fresh tokens go first, so a released one is reused as late as possible.
        assert_eq!(pool.allocate(), Some(Token(12)));
        assert_eq!(pool.allocate(), Some(a));
        assert_eq!(pool.allocate(), None);
        pool.release(b);
        assert_eq!(pool.allocate(), Some(b));
    }
}
