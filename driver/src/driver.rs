//! The driver task: one hand-written future that owns every connection and the timer, and
//! runs the core's drive contract.
//!
//! Each wake-up, in a loop capped at [`MAX_ROUNDS`] rounds:
//!
//! 1. every connection is polled: a pending connect completes (`handle_connected`) or fails
//!    (`handle_disconnected`); queued transmits are written with vectored writes; bytes read
//!    go to `handle_received`; EOF and I/O errors become `handle_disconnected`;
//! 2. the clock is compared with the core's deadline; past it, `handle_timeout`;
//! 3. `poll_output` is drained fully: `Connect` starts a connect (with a timeout),
//!    `Transmit` queues bytes on its connection (each write is reported with
//!    `handle_written`), `Disconnect` drops the connection at once with whatever is still
//!    queued (the core gave up on those requests and may have sent them again elsewhere:
//!    writing the old copy could store a batch twice or after newer ones),
//!    `Delivered`/`Failed` complete the record's future or stream, `Transaction` ends the
//!    running transaction operation (its future, or its event for the embedded producer),
//!    `Closed` ends the task once the last bytes are written;
//! 4. when a round made no progress, the single runtime timer is re-armed — only if the
//!    deadline changed — and polled; if it is not ready the task sleeps until I/O, a handle
//!    or the timer wakes it.
//!
//! When the cap is hit the task yields (wakes itself) so one busy producer cannot starve the
//! other tasks of its runtime thread.

use crate::outcomes::ReadyCallbacks;
use crate::runtime::{AsyncIo, BoxFuture, Runtime};
use crate::state::{DriverWait, Shared, State};
use crate::tls::{self, Stream, TlsConnector, TlsStream};
use crate::write_queue::{WriteQueue, MAX_IOV};
use futures_util::future::{select, Either};
use odradek_core::{ConnId, Instant, Output};
use std::collections::HashMap;
use std::future::Future;
use std::io::{self, IoSlice};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Rounds of (I/O, timer, outputs) per wake-up before the task yields.
pub(crate) const MAX_ROUNDS: usize = 32;
/// Reads per connection per round.
const MAX_READS: usize = 4;
/// Size of the read buffer shared by all connections.
const READ_BUF: usize = 64 * 1024;
/// The longest a TCP connect may take (Kafka's `socket.connection.setup.timeout.ms` default),
/// capped by `request.timeout.ms`.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's byte stream: still being opened (TCP connect, TLS handshake), or open.
enum Socket<T> {
    Connecting(BoxFuture<io::Result<T>>),
    Open(T),
}

struct Conn<T> {
    /// The broker's `host:port`, for the cause of a failed connect.
    broker: String,
    socket: Socket<T>,
    queue: WriteQueue,
}

/// What polling a connection did.
#[derive(PartialEq, Eq)]
enum ConnEvent {
    Idle,
    Progress,
    /// The connection is gone (already reported to the core if it had to be).
    Gone,
}

pub(crate) struct Driver<R: Runtime> {
    shared: Arc<Shared>,
    runtime: Arc<R>,
    conns: HashMap<ConnId, Conn<Stream<R::Tcp>>>,
    /// `Some` when `security.protocol` uses TLS: every connection is wrapped.
    tls: Option<TlsConnector>,
    timer: Option<(Instant, BoxFuture<()>)>,
    connect_timeout: Duration,
    /// When `Output::Closed` was seen: queued bytes get until this deadline to be written.
    closed_deadline: Option<Instant>,
    read_buf: Vec<u8>,
    /// Scratch list of connection ids, reused every round.
    ids: Vec<ConnId>,
    /// Callbacks (`send_with`) whose outcome came, run once the lock is released.
    callbacks: ReadyCallbacks,
    done: bool,
}

impl<R: Runtime> Driver<R> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        runtime: Arc<R>,
        request_timeout: Duration,
        tls: Option<TlsConnector>,
    ) -> Self {
        Driver {
            shared,
            runtime,
            conns: HashMap::new(),
            tls,
            timer: None,
            connect_timeout: CONNECT_TIMEOUT.min(request_timeout),
            closed_deadline: None,
            read_buf: vec![0; READ_BUF],
            ids: Vec::new(),
            callbacks: ReadyCallbacks::default(),
            done: false,
        }
    }

    /// Connects, and with TLS runs the handshake, all under the connect timeout: the core
    /// hears of the connection only once it carries plaintext Kafka frames.
    fn start_connect(
        &self,
        address: &odradek_core::BrokerAddress,
    ) -> BoxFuture<io::Result<Stream<R::Tcp>>> {
        let connect = self.runtime.connect(address);
        let timeout = self.runtime.sleep(self.connect_timeout);
        let what = address.to_string();
        let tls = self
            .tls
            .clone()
            .map(|c| (c, address.host.clone(), what.clone()));
        let with_tls = tls.is_some();
        let limit = self.connect_timeout;
        let open = Box::pin(async move {
            let tcp = connect.await?;
            match tls {
                None => Ok(Stream::Plain(tcp)),
                Some((connector, host, broker)) => {
                    let session = connector.session(&host, &broker).map_err(tls::io_error)?;
                    let stream = TlsStream::handshake(tcp, session, broker).await?;
                    Ok(Stream::Tls(Box::new(stream)))
                }
            }
        });
        Box::pin(async move {
            let result = match select(open, timeout).await {
                Either::Left((result, _)) => result,
                // With TLS the cause is typed: records failing behind it say why.
                Either::Right(_) if with_tls => Err(tls::io_error(odradek_core::ConnectionError {
                    broker: what.clone(),
                    kind: odradek_core::ConnectionErrorKind::TimedOut,
                    detail: format!("no TLS session within {limit:?} (TCP connect and handshake)"),
                })),
                Either::Right(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect to {what} timed out"),
                )),
            };
            crate::observe::connect_result(&what, &result);
            result
        })
    }
}

/// Tells the core a connection failed: with its TLS cause when it has one.
fn lost(core: &mut odradek_core::ProducerCore, id: ConnId, e: &io::Error, now: Instant) {
    match tls::connection_error(e) {
        Some(cause) => core.handle_connection_error(id, cause, now),
        None => core.handle_disconnected(id, now),
    }
}

/// Tells the core a connect failed, always with a cause: its TLS cause, or the socket's
/// error ("connection refused", a timeout, ...), so records that expire before any
/// connection opens say why rather than only that they timed out.
fn connect_failed(
    core: &mut odradek_core::ProducerCore,
    id: ConnId,
    broker: &str,
    e: &io::Error,
    now: Instant,
) {
    let cause = tls::connection_error(e).unwrap_or_else(|| odradek_core::ConnectionError {
        broker: broker.to_owned(),
        kind: odradek_core::ConnectionErrorKind::ConnectFailed,
        detail: e.to_string(),
    });
    core.handle_connection_error(id, cause, now);
}

/// Polls one connection: connect, write, read. Calls the core as things happen.
fn poll_conn<T: AsyncIo>(
    id: ConnId,
    conn: &mut Conn<T>,
    core: &mut odradek_core::ProducerCore,
    now: Instant,
    cx: &mut Context<'_>,
    read_buf: &mut [u8],
) -> ConnEvent {
    let mut event = match poll_connect(id, conn, core, now, cx) {
        ControlFlow::Break(event) => return event,
        ControlFlow::Continue(event) => event,
    };
    let Socket::Open(stream) = &mut conn.socket else {
        return event;
    };
    let failed = |core: &mut odradek_core::ProducerCore, e: Option<io::Error>| {
        match e {
            Some(e) => lost(core, id, &e, now),
            None => core.handle_disconnected(id, now),
        }
        ConnEvent::Gone
    };
    match write_queued(&mut conn.queue, stream, cx) {
        Ok(0) => {}
        Ok(wrote) => {
            core.handle_written(id, wrote, now);
            event = ConnEvent::Progress;
        }
        Err(e) => return failed(core, e),
    }
    match read_arrived(id, stream, core, now, cx, read_buf) {
        Ok(true) => event = ConnEvent::Progress,
        Ok(false) => {}
        Err(e) => return failed(core, e),
    }
    event
}

/// A pending connect: completes (`handle_connected`) or fails. `Break` with what
/// [`poll_conn`] returns when the connection is not open (yet); `Continue` once it is.
fn poll_connect<T: AsyncIo>(
    id: ConnId,
    conn: &mut Conn<T>,
    core: &mut odradek_core::ProducerCore,
    now: Instant,
    cx: &mut Context<'_>,
) -> ControlFlow<ConnEvent, ConnEvent> {
    let Socket::Connecting(fut) = &mut conn.socket else {
        return ControlFlow::Continue(ConnEvent::Idle);
    };
    match fut.as_mut().poll(cx) {
        Poll::Pending => ControlFlow::Break(ConnEvent::Idle),
        Poll::Ready(Ok(stream)) => {
            conn.socket = Socket::Open(stream);
            core.handle_connected(id, now);
            ControlFlow::Continue(ConnEvent::Progress)
        }
        Poll::Ready(Err(e)) => {
            connect_failed(core, id, &conn.broker, &e, now);
            ControlFlow::Break(ConnEvent::Gone)
        }
    }
}

/// Writes everything queued, vectored, until the stream would block: how many bytes were
/// written, or the failure (`None`: the stream took zero bytes).
fn write_queued<T: AsyncIo>(
    queue: &mut WriteQueue,
    stream: &mut T,
    cx: &mut Context<'_>,
) -> Result<usize, Option<io::Error>> {
    let mut wrote = 0;
    while !queue.is_empty() {
        // Gathered on the stack: no allocation per write.
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let count = queue.gather(&mut iov);
        match stream.poll_write_vectored(cx, &iov[..count]) {
            Poll::Pending => break,
            Poll::Ready(Ok(0)) => return Err(None),
            Poll::Ready(Err(e)) => return Err(Some(e)),
            Poll::Ready(Ok(n)) => {
                wrote += n;
                queue.advance(n);
            }
        }
    }
    Ok(wrote)
}

/// Reads what has arrived ([`MAX_READS`] reads at most) and hands it to the core
/// (`handle_received`): whether anything was read, or the failure (`None`: EOF).
fn read_arrived<T: AsyncIo>(
    id: ConnId,
    stream: &mut T,
    core: &mut odradek_core::ProducerCore,
    now: Instant,
    cx: &mut Context<'_>,
    read_buf: &mut [u8],
) -> Result<bool, Option<io::Error>> {
    let mut read = false;
    for _ in 0..MAX_READS {
        match stream.poll_read(cx, read_buf) {
            Poll::Pending => break,
            Poll::Ready(Ok(0)) => return Err(None),
            Poll::Ready(Err(e)) => return Err(Some(e)),
            Poll::Ready(Ok(n)) => {
                core.handle_received(id, &read_buf[..n], now);
                read = true;
                if n < read_buf.len() {
                    // Probably drained; the next round polls again (and registers the waker).
                    break;
                }
            }
        }
    }
    Ok(read)
}

impl<R: Runtime> Future for Driver<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        let shared = this.shared.clone();
        let mut st = shared.lock();
        crate::observe::sync(&mut st.core);
        let poll = this.poll_locked(cx, &mut st);
        crate::observe::sync(&mut st.core);
        // Callbacks run without the lock: they may call the producer.
        st.router.take_callbacks(&mut this.callbacks);
        drop(st);
        if !this.callbacks.is_empty() {
            let ran = this.callbacks.run();
            shared.lock().callbacks_finished(ran);
        }
        poll
    }
}

/// What the last step of a round found when nothing else was left to do.
enum Sleep {
    /// The timer was already due: go round again.
    TimerFired,
    /// The task sleeps until I/O, a handle or the timer wakes it.
    Asleep,
}

impl<R: Runtime> Driver<R> {
    /// One wake-up's work, under the state lock: rounds of the steps below until nothing is
    /// left to do (sleep), the producer finished, or [`MAX_ROUNDS`] (yield).
    fn poll_locked(&mut self, cx: &mut Context<'_>, st: &mut State) -> Poll<()> {
        self.start_wake_up(cx, st);
        for _ in 0..MAX_ROUNDS {
            let now = st.clock.now();
            let polled = self.poll_connections(cx, st, now);
            let timed_out = self.check_deadline(st, now);
            let outputs = self.drain_outputs(st, now);
            if self.finish_if_closed(st) {
                return Poll::Ready(());
            }
            if polled || timed_out || outputs {
                continue;
            }
            match self.sleep_until_deadline(cx, st, now) {
                Sleep::TimerFired => continue,
                Sleep::Asleep => return Poll::Pending,
            }
        }
        // Work cap reached: yield to the runtime and come back.
        st.driver_wait = DriverWait::Scheduled;
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Keeps the task's waker for the handles and marks the task running.
    fn start_wake_up(&mut self, cx: &mut Context<'_>, st: &mut State) {
        match &st.driver_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.driver_waker = Some(cx.waker().clone()),
        }
        // Running now: everything a handle adds under the lock from here on is seen below,
        // or (once this poll sleeps) `driver_wait` tells the handle to wake us.
        st.driver_wait = DriverWait::Scheduled;
    }

    /// Step 1: polls every connection (connect, write, read); whether any made progress.
    fn poll_connections(&mut self, cx: &mut Context<'_>, st: &mut State, now: Instant) -> bool {
        let mut progress = false;
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(self.conns.keys().copied());
        for &id in &ids {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            match poll_conn(id, conn, &mut st.core, now, cx, &mut self.read_buf) {
                ConnEvent::Idle => {}
                ConnEvent::Progress => progress = true,
                ConnEvent::Gone => {
                    self.conns.remove(&id);
                    progress = true;
                }
            }
        }
        self.ids = ids;
        progress
    }

    /// Step 2: compares the clock with the deadline (before any runtime timer is polled);
    /// past the core's, `handle_timeout`. Whether the core was called.
    fn check_deadline(&mut self, st: &mut State, now: Instant) -> bool {
        if self.closed_deadline.is_some_and(|d| now >= d) {
            // Closed, and the last bytes could not be written in time: give up on them.
            self.conns.clear();
        } else if self.closed_deadline.is_none() && st.close_deadline.is_some_and(|d| now >= d) {
            // `close_timeout` ran out: every record left fails now, `Closed` follows.
            st.close_deadline = None;
            st.core.close_now(now);
            return true;
        } else if let Some((deadline, _reason)) = st.core.poll_timeout() {
            if deadline <= now {
                st.core.handle_timeout(now);
                return true;
            }
        }
        false
    }

    /// Step 3: drains the outputs fully; whether there were any.
    fn drain_outputs(&mut self, st: &mut State, now: Instant) -> bool {
        let mut any = false;
        let mut outcomes = false;
        while let Some(out) = st.next_output() {
            any = true;
            match out {
                Output::Connect { conn, address } => self.open(conn, &address),
                Output::Transmit { conn, mut data } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.queue.extend(data.drain(..));
                    }
                    // The emptied list goes back to the core, for a later request.
                    st.core.recycle(Output::Transmit { conn, data });
                }
                Output::Disconnect { conn } => self.disconnect(conn),
                Output::Delivered(mut batch) => {
                    st.router.complete_batch(batch.drain());
                    st.core.recycle(Output::Delivered(batch));
                    outcomes = true;
                }
                Output::Failed { id, error, record } => {
                    st.router.complete(id, error, record);
                    outcomes = true;
                }
                Output::Closed => {
                    let grace = st.core.config().request_timeout;
                    self.closed_deadline = Some(now + grace);
                }
                Output::Transaction { op, result } => st.txn.complete(op, result),
            }
        }
        if outcomes {
            st.wake_after_outcomes();
        }
        any
    }

    /// `Output::Connect`: starts the connect (with its timeout).
    fn open(&mut self, conn: ConnId, address: &odradek_core::BrokerAddress) {
        let fut = self.start_connect(address);
        self.conns.insert(
            conn,
            Conn {
                broker: address.to_string(),
                socket: Socket::Connecting(fut),
                queue: WriteQueue::new(),
            },
        );
    }

    /// `Output::Disconnect`: drops the connection at once, with whatever is still queued on
    /// it: the core has given up on those requests (a request timeout, say) and may have sent
    /// them again on another connection, so writing the old copy now could store a batch
    /// twice, or after newer ones.
    fn disconnect(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// Step 4: once closed and every last byte written, ends the task; whether it did.
    fn finish_if_closed(&mut self, st: &mut State) -> bool {
        if self.closed_deadline.is_some() && self.conns.values().all(|c| c.queue.is_empty()) {
            self.conns.clear();
            self.done = true;
            st.finish();
            return true;
        }
        false
    }

    /// Step 5, when a round did nothing: arms the one timer (only if the deadline changed)
    /// and polls it.
    fn sleep_until_deadline(
        &mut self,
        cx: &mut Context<'_>,
        st: &mut State,
        now: Instant,
    ) -> Sleep {
        let deadline = match self.closed_deadline {
            Some(d) => Some(d),
            None => {
                let core = st.core.poll_timeout().map(|(d, _)| d);
                match (core, st.close_deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        };
        let Some(d) = deadline else {
            self.timer = None;
            st.driver_wait = DriverWait::Sleeping(None);
            return Sleep::Asleep;
        };
        if self.timer.as_ref().map(|(armed, _)| *armed) != Some(d) {
            let wait = d.saturating_duration_since(now);
            self.timer = Some((d, self.runtime.sleep(wait)));
        }
        if let Some((_, sleep)) = &mut self.timer {
            if sleep.as_mut().poll(cx).is_ready() {
                // Fired: forget it so that a still-future deadline gets a new one.
                self.timer = None;
                return Sleep::TimerFired;
            }
        }
        st.driver_wait = DriverWait::Sleeping(Some(d));
        Sleep::Asleep
    }
}

impl<R: Runtime> Drop for Driver<R> {
    fn drop(&mut self) {
        if !self.done {
            // The runtime dropped the task (shut down): resolve everyone waiting.
            let mut st = self.shared.lock();
            st.finish();
            st.router.take_callbacks(&mut self.callbacks);
            drop(st);
            let ran = self.callbacks.run();
            self.shared.lock().callbacks_finished(ran);
        }
    }
}
