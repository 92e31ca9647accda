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
//!    `Transmit` queues bytes on its connection, `Disconnect` drops the connection (after
//!    writing what is queued), `Delivered`/`Failed` complete the record's future or stream,
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
use bytes::{Buf, Bytes};
use futures_util::future::{select, Either};
use odradek_core::{ConnId, Instant, Output};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::{self, IoSlice};
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
/// Chunks gathered into one vectored write.
const MAX_IOV: usize = 64;
/// The longest a TCP connect may take (Kafka's `socket.connection.setup.timeout.ms` default),
/// capped by `request.timeout.ms`.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

enum ConnState<T> {
    Connecting(BoxFuture<io::Result<T>>),
    Open(T),
}

struct Conn<T> {
    /// The broker's `host:port`, for the cause of a failed connect.
    broker: String,
    state: ConnState<T>,
    queue: VecDeque<Bytes>,
    /// The core sent `Disconnect`: write what is queued, then drop, reporting nothing.
    closing: bool,
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
    let mut event = ConnEvent::Idle;
    if let ConnState::Connecting(fut) = &mut conn.state {
        match fut.as_mut().poll(cx) {
            Poll::Pending => return ConnEvent::Idle,
            Poll::Ready(Ok(stream)) => {
                conn.state = ConnState::Open(stream);
                if conn.closing {
                    return ConnEvent::Gone;
                }
                core.handle_connected(id, now);
                event = ConnEvent::Progress;
            }
            Poll::Ready(Err(e)) => {
                if !conn.closing {
                    connect_failed(core, id, &conn.broker, &e, now);
                }
                return ConnEvent::Gone;
            }
        }
    }
    let ConnState::Open(stream) = &mut conn.state else {
        return event;
    };
    let failed = |core: &mut odradek_core::ProducerCore, closing: bool, e: Option<io::Error>| {
        if !closing {
            match e {
                Some(e) => lost(core, id, &e, now),
                None => core.handle_disconnected(id, now),
            }
        }
        ConnEvent::Gone
    };
    // Write everything queued, vectored.
    while !conn.queue.is_empty() {
        // Gathered on the stack: no allocation per write.
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut count = 0;
        for (slot, chunk) in iov.iter_mut().zip(conn.queue.iter()) {
            *slot = IoSlice::new(chunk);
            count += 1;
        }
        match stream.poll_write_vectored(cx, &iov[..count]) {
            Poll::Pending => break,
            Poll::Ready(Ok(0)) => return failed(core, conn.closing, None),
            Poll::Ready(Err(e)) => return failed(core, conn.closing, Some(e)),
            Poll::Ready(Ok(mut n)) => {
                event = ConnEvent::Progress;
                while n > 0 {
                    let Some(front) = conn.queue.front_mut() else {
                        break;
                    };
                    if front.len() <= n {
                        n -= front.len();
                        conn.queue.pop_front();
                    } else {
                        front.advance(n);
                        n = 0;
                    }
                }
            }
        }
    }
    if conn.closing {
        return if conn.queue.is_empty() {
            ConnEvent::Gone
        } else {
            event
        };
    }
    // Read what has arrived.
    for _ in 0..MAX_READS {
        match stream.poll_read(cx, read_buf) {
            Poll::Pending => break,
            Poll::Ready(Ok(0)) => return failed(core, false, None),
            Poll::Ready(Err(e)) => return failed(core, false, Some(e)),
            Poll::Ready(Ok(n)) => {
                core.handle_received(id, &read_buf[..n], now);
                event = ConnEvent::Progress;
                if n < read_buf.len() {
                    // Probably drained; the next round polls again (and registers the waker).
                    break;
                }
            }
        }
    }
    event
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

impl<R: Runtime> Driver<R> {
    /// One wake-up's work, under the state lock.
    fn poll_locked(&mut self, cx: &mut Context<'_>, st: &mut State) -> Poll<()> {
        let this = self;
        match &st.driver_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.driver_waker = Some(cx.waker().clone()),
        }
        // Running now: everything a handle adds under the lock from here on is seen below,
        // or (once this poll sleeps) `driver_wait` tells the handle to wake us.
        st.driver_wait = DriverWait::Scheduled;
        for _ in 0..MAX_ROUNDS {
            let mut progress = false;
            let now = st.clock.now();

            // 1. Connections.
            let mut ids = std::mem::take(&mut this.ids);
            ids.clear();
            ids.extend(this.conns.keys().copied());
            for &id in &ids {
                let Some(conn) = this.conns.get_mut(&id) else {
                    continue;
                };
                match poll_conn(id, conn, &mut st.core, now, cx, &mut this.read_buf) {
                    ConnEvent::Idle => {}
                    ConnEvent::Progress => progress = true,
                    ConnEvent::Gone => {
                        this.conns.remove(&id);
                        progress = true;
                    }
                }
            }
            this.ids = ids;

            // 2. Timer: compare the clock with the deadline before polling any runtime timer.
            if this.closed_deadline.is_some_and(|d| now >= d) {
                // Closed, and the last bytes could not be written in time: give up on them.
                this.conns.clear();
            } else if let Some((deadline, _reason)) = st.core.poll_timeout() {
                if deadline <= now {
                    st.core.handle_timeout(now);
                    progress = true;
                }
            }

            // 3. Outputs, drained fully.
            let mut outcomes = false;
            while let Some(out) = st.next_output() {
                progress = true;
                match out {
                    Output::Connect { conn, address } => {
                        let fut = this.start_connect(&address);
                        this.conns.insert(
                            conn,
                            Conn {
                                broker: address.to_string(),
                                state: ConnState::Connecting(fut),
                                queue: VecDeque::new(),
                                closing: false,
                            },
                        );
                    }
                    Output::Transmit { conn, data } => {
                        if let Some(c) = this.conns.get_mut(&conn) {
                            c.queue.extend(data.into_iter().filter(|b| !b.is_empty()));
                        }
                    }
                    Output::Disconnect { conn } => {
                        if let Some(c) = this.conns.get_mut(&conn) {
                            if c.queue.is_empty() || matches!(c.state, ConnState::Connecting(_)) {
                                this.conns.remove(&conn);
                            } else {
                                c.closing = true;
                            }
                        }
                    }
                    Output::Delivered {
                        id,
                        metadata,
                        record,
                    } => {
                        st.router.complete(id, Ok(metadata), record);
                        outcomes = true;
                    }
                    Output::Failed { id, error, record } => {
                        st.router.complete(id, Err(error), record);
                        outcomes = true;
                    }
                    Output::Closed => {
                        let grace = st.core.config().request_timeout;
                        this.closed_deadline = Some(now + grace);
                    }
                }
            }
            if outcomes {
                st.wake_after_outcomes();
            }

            // 4. Finished?
            if this.closed_deadline.is_some() && this.conns.values().all(|c| c.queue.is_empty()) {
                this.conns.clear();
                this.done = true;
                st.finish();
                return Poll::Ready(());
            }
            if progress {
                continue;
            }

            // 5. Nothing more to do now: arm the one timer (only if the deadline changed).
            let deadline = match this.closed_deadline {
                Some(d) => Some(d),
                None => st.core.poll_timeout().map(|(d, _)| d),
            };
            match deadline {
                None => {
                    this.timer = None;
                    st.driver_wait = DriverWait::Sleeping(None);
                }
                Some(d) => {
                    if this.timer.as_ref().map(|(armed, _)| *armed) != Some(d) {
                        let wait = d.saturating_duration_since(now);
                        this.timer = Some((d, this.runtime.sleep(wait)));
                    }
                    if let Some((_, sleep)) = &mut this.timer {
                        if sleep.as_mut().poll(cx).is_ready() {
                            // Fired: forget it so that a still-future deadline gets a new one.
                            this.timer = None;
                            continue;
                        }
                    }
                    st.driver_wait = DriverWait::Sleeping(Some(d));
                }
            }
            return Poll::Pending;
        }
        // Work cap reached: yield to the runtime and come back.
        st.driver_wait = DriverWait::Scheduled;
        cx.waker().wake_by_ref();
        Poll::Pending
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
