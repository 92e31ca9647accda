//! The driver's [`Runtime`] on mio: non-blocking sockets registered under tokens of a
//! [`TokenRange`], timers kept as deadlines the front end polls with, and one wake-up flag for
//! the single driver task.
//!
//! Everything else (connections, TLS, write queues, the drive contract, outcome routing) is
//! `odradek-driver`'s, the same code as odradek-tokio and odradek-async-std run. What is mio's
//! is only here:
//!
//! * a broker socket is a [`mio::net::TcpStream`] registered for both readiness kinds (edge
//!   triggered) under a token of the range; reads and writes go until the socket would block,
//!   which is the driver's `Pending`. Each socket keeps what its events said
//!   ([`Readiness`]): a read or write is only tried while the socket may be ready, so the
//!   driver's rounds over every connection cost no system call for a quiet one;
//! * the driver is one task, so every waker is the same: any readiness event for one of the
//!   range's tokens, a due timer or a handle's wake just sets [`Reactor::woken`] (and, for the
//!   blocking producer, wakes its poll through a [`mio::Waker`]); the front end then polls the
//!   driver task once. A wake-up is never lost: the flag is cleared *before* the task is
//!   polled, so a wake during the poll (the driver's own yield after its work cap, a handle
//!   on another thread) leaves it set, and [`Reactor::timeout`] is zero while it is set;
//! * [`Runtime::sleep`] is a deadline on [`std::time::Instant`] registered while its future is
//!   pending; [`Reactor::timeout`] is the earliest of them;
//! * [`Runtime::spawn`] hands the driver task to the user's loop (`MioProducer` takes it and
//!   polls it from `after_poll`), or starts the blocking producer's thread, whose loop
//!   ([`run`]) polls it the same way.

use crate::embedded::TokenRange;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use odradek_core::BrokerAddress;
use odradek_driver::{AsyncIo, BoxFuture, Runtime};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

/// The producer thread's waker token; its connections use the tokens after it.
const WAKER: Token = Token(0);
/// Tokens for the producer thread's broker connections.
const THREAD_TOKENS: TokenRange = TokenRange::new(1, 1 << 20);

/// Hands out tokens from a [`TokenRange`]: fresh ones first, then released ones, oldest first.
#[derive(Debug)]
pub(crate) struct TokenPool {
    range: TokenRange,
    next_fresh: usize,
    released: VecDeque<Token>,
}

impl TokenPool {
    pub(crate) fn new(range: TokenRange) -> Self {
        TokenPool {
            range,
            next_fresh: 0,
            released: VecDeque::new(),
        }
    }

    pub(crate) fn allocate(&mut self) -> Option<Token> {
        if self.next_fresh < self.range.len() {
            let token = Token(self.range.start().0 + self.next_fresh);
            self.next_fresh += 1;
            Some(token)
        } else {
            self.released.pop_front()
        }
    }

    pub(crate) fn release(&mut self, token: Token) {
        self.released.push_back(token);
    }
}

/// What a socket's readiness events said since it last would block: it may be readable
/// ([`Readiness::READ`]), writable ([`Readiness::WRITE`]). Set by events, cleared just before a
/// read or write is tried (and set again unless that one would block), so an event that comes
/// at any point is never lost.
#[derive(Debug)]
struct Readiness(AtomicU8);

impl Readiness {
    const READ: u8 = 1;
    const WRITE: u8 = 2;

    /// Clears `bit`; whether it was set (the socket may be ready).
    fn take(&self, bit: u8) -> bool {
        self.0.fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }

    fn set(&self, bits: u8) {
        self.0.fetch_or(bits, Ordering::AcqRel);
    }
}

/// What the reactor keeps under its lock.
struct Inner {
    tokens: TokenPool,
    /// Sockets registered (connections open or opening), by token.
    sockets: HashMap<Token, Arc<Readiness>>,
    /// Pending sleeps: (id, deadline). A handful at most (the driver's timer and one connect
    /// timeout per connection being opened).
    timers: Vec<(u64, std::time::Instant)>,
    next_timer: u64,
    /// Where the driver task goes.
    home: Home,
}

/// Where [`Runtime::spawn`] sends the driver task.
enum Home {
    /// The user's loop takes it ([`Reactor::take_task`]) and polls it from `after_poll`.
    Embedded { spawned: Option<BoxFuture<()>> },
    /// A thread of its own, started at spawn with this poll ([`run`]).
    Thread {
        poll: Option<mio::Poll>,
        join: Option<JoinHandle<()>>,
    },
}

/// The state the runtime, its sockets, its timers and the front end share.
pub(crate) struct Reactor {
    registry: Registry,
    range: TokenRange,
    inner: Mutex<Inner>,
    /// The driver task must be polled.
    woken: AtomicBool,
    /// Wakes the blocking producer's poll (`None` in the user's own loop, which polls the
    /// task in `after_poll` after every poll of its own).
    notify: Option<mio::Waker>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("range", &self.range)
            .field("woken", &self.woken.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Reactor {
    /// A reactor registering on (a clone of) `registry` under `range`; `notify` wakes the poll
    /// of a dedicated thread.
    fn new(
        registry: &Registry,
        range: TokenRange,
        notify: Option<mio::Waker>,
        home: Home,
    ) -> io::Result<Arc<Reactor>> {
        Ok(Arc::new(Reactor {
            registry: registry.try_clone()?,
            range,
            inner: Mutex::new(Inner {
                tokens: TokenPool::new(range),
                sockets: HashMap::new(),
                timers: Vec::new(),
                next_timer: 0,
                home,
            }),
            // The task has never run: poll it first thing.
            woken: AtomicBool::new(true),
            notify,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token range sockets are registered under.
    pub(crate) fn range(&self) -> TokenRange {
        self.range
    }

    /// Broker sockets registered now.
    pub(crate) fn sockets(&self) -> usize {
        self.lock().sockets.len()
    }

    /// A readiness event for `token`: the socket may be read or written again, and the task
    /// must be polled. Events for tokens with no socket (closed meanwhile) only wake.
    pub(crate) fn ready(&self, event: &mio::event::Event) {
        // An error or a closed side shows on the next read or write.
        let mut bits = 0;
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            bits |= Readiness::READ;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            bits |= Readiness::WRITE;
        }
        if let Some(r) = self.lock().sockets.get(&event.token()) {
            r.set(bits);
        }
        self.wake();
    }

    /// The driver task [`Runtime::spawn`] handed over to the user's loop, once.
    pub(crate) fn take_task(&self) -> Option<BoxFuture<()>> {
        match &mut self.lock().home {
            Home::Embedded { spawned } => spawned.take(),
            Home::Thread { .. } => None,
        }
    }

    /// Waits for the producer thread to end (it ends once the driver task finished).
    pub(crate) fn join_thread(&self) {
        let join = match &mut self.lock().home {
            Home::Thread { join, .. } => join.take(),
            Home::Embedded { .. } => None,
        };
        if let Some(join) = join {
            let _ = join.join();
        }
    }

    /// Marks the task to be polled (readiness on one of its sockets, or a handle's wake).
    pub(crate) fn wake(&self) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            if let Some(n) = &self.notify {
                // A failed wake leaves the flag set; the poll's own timeout comes back.
                let _ = n.wake();
            }
        }
    }

    /// Takes the wake-up: whether the task must be polled now (a due timer counts). Clears the
    /// flag, so a wake during the poll that follows is kept for the next round.
    pub(crate) fn take_wake(&self) -> bool {
        if self
            .earliest_timer()
            .is_some_and(|at| at <= std::time::Instant::now())
        {
            self.woken.store(true, Ordering::Release);
        }
        self.woken.swap(false, Ordering::AcqRel)
    }

    /// Whether the task waits to be polled.
    pub(crate) fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    fn earliest_timer(&self) -> Option<std::time::Instant> {
        self.lock().timers.iter().map(|&(_, at)| at).min()
    }

    /// When the task next needs polling, on the monotonic clock: now when it is woken, the
    /// earliest pending sleep otherwise, `None` when nothing will wake it but I/O or a handle.
    pub(crate) fn next_poll(&self) -> Option<std::time::Instant> {
        if self.is_woken() {
            return Some(std::time::Instant::now());
        }
        self.earliest_timer()
    }

    /// How long the poll may sleep: zero while woken, until the earliest sleep otherwise.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.next_poll()
            .map(|at| at.saturating_duration_since(std::time::Instant::now()))
    }
}

/// The driver task's waker: every wake of the one task is the reactor's.
pub(crate) struct TaskWaker(pub(crate) Arc<Reactor>);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.0.wake();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake();
    }
}

/// The driver's [`Runtime`] on mio (see the module docs): what `MioProducer` and
/// `BlockingProducer` run the driver on. Public for the driver's shared test scenarios
/// (`tests/driver.rs`); [`Default`] is the blocking producer's kind, with a thread of its own.
#[derive(Debug)]
pub struct MioRuntime {
    reactor: Arc<Reactor>,
}

impl MioRuntime {
    /// For the user's own loop: sockets on (a clone of) `registry` under `range`; the driver
    /// task waits for [`Reactor::take_task`].
    pub(crate) fn embedded(registry: &Registry, range: TokenRange) -> io::Result<MioRuntime> {
        let home = Home::Embedded { spawned: None };
        let reactor = Reactor::new(registry, range, None, home)?;
        Ok(MioRuntime { reactor })
    }

    /// With a `mio::Poll` and a thread of its own, started when the driver task is spawned.
    pub fn threaded() -> io::Result<MioRuntime> {
        let poll = mio::Poll::new()?;
        let notify = mio::Waker::new(poll.registry(), WAKER)?;
        let registry = poll.registry().try_clone()?;
        let home = Home::Thread {
            poll: Some(poll),
            join: None,
        };
        let reactor = Reactor::new(&registry, THREAD_TOKENS, Some(notify), home)?;
        Ok(MioRuntime { reactor })
    }

    /// The state its sockets, timers and task share.
    pub(crate) fn reactor(&self) -> &Arc<Reactor> {
        &self.reactor
    }
}

impl Default for MioRuntime {
    /// [`MioRuntime::threaded`].
    ///
    /// # Panics
    ///
    /// When the system refuses a poll (out of file descriptors).
    fn default() -> Self {
        MioRuntime::threaded().expect("a mio poll for the producer thread")
    }
}

/// The producer thread's loop: polls the driver task whenever it was woken (readiness on one
/// of its sockets, a due timer, a handle), sleeps in `mio::Poll` otherwise. Ends when the task
/// does (the producer closed); a poll error or a panic drops the task, which resolves every
/// record still waiting as aborted.
fn run(reactor: Arc<Reactor>, mut poll: mio::Poll, mut task: BoxFuture<()>) {
    let waker = Waker::from(Arc::new(TaskWaker(Arc::clone(&reactor))));
    let mut cx = Context::from_waker(&waker);
    let mut events = mio::Events::with_capacity(256);
    loop {
        if reactor.take_wake() && task.as_mut().poll(&mut cx).is_ready() {
            return;
        }
        if let Err(e) = poll.poll(&mut events, reactor.timeout()) {
            if e.kind() != io::ErrorKind::Interrupted {
                return;
            }
        }
        for event in events.iter().filter(|e| e.token() != WAKER) {
            reactor.ready(event);
        }
    }
}

impl Runtime for MioRuntime {
    type Tcp = MioTcp;

    /// Resolves (blocking on DNS, see `MioProducer`) and connects to each address in turn.
    fn connect(&self, address: &BrokerAddress) -> BoxFuture<io::Result<MioTcp>> {
        Box::pin(Connect {
            reactor: Arc::clone(&self.reactor),
            address: Some((address.host.clone(), address.port)),
            addrs: VecDeque::new(),
            socket: None,
            last_error: None,
        })
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        let at = std::time::Instant::now()
            .checked_add(duration)
            .unwrap_or_else(|| std::time::Instant::now() + Duration::from_secs(86_400 * 365));
        Box::pin(Sleep {
            reactor: Arc::clone(&self.reactor),
            at,
            id: None,
        })
    }

    /// To the user's loop, or to a new producer thread. If the thread cannot be started the
    /// task is dropped, which resolves every record as aborted.
    fn spawn(&self, future: BoxFuture<()>) {
        let poll = match &mut self.reactor.lock().home {
            Home::Embedded { spawned } => {
                *spawned = Some(future);
                None
            }
            // One task per runtime: a second one has no poll to run on (and is dropped).
            Home::Thread { poll, .. } => poll.take().map(|poll| (poll, future)),
        };
        // Started without the reactor's lock: a task dropped here takes sockets and sleeps
        // with it, whose drops take that lock.
        if let Some((poll, future)) = poll {
            let reactor = Arc::clone(&self.reactor);
            let started = std::thread::Builder::new()
                .name("odradek-mio".into())
                .spawn(move || run(reactor, poll, future))
                .ok();
            if let Home::Thread { join, .. } = &mut self.reactor.lock().home {
                *join = started;
            }
        }
        self.reactor.wake();
    }
}

/// A registered socket: its token goes back to the pool when it is dropped.
#[derive(Debug)]
struct Registered {
    stream: TcpStream,
    token: Token,
    readiness: Arc<Readiness>,
    reactor: Arc<Reactor>,
}

impl Registered {
    /// Starts a non-blocking connect to `addr` and registers it under a free token.
    fn connect(reactor: &Arc<Reactor>, addr: SocketAddr) -> io::Result<Registered> {
        let token = reactor.lock().tokens.allocate().ok_or_else(|| {
            io::Error::other(format!(
                "every token of {:?} is in use by an open connection",
                reactor.range
            ))
        })?;
        let registered = TcpStream::connect(addr).and_then(|mut stream| {
            reactor.registry.register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        let mut inner = reactor.lock();
        match registered {
            Ok(stream) => {
                // Ready until a read or write says otherwise.
                let readiness =
                    Arc::new(Readiness(AtomicU8::new(Readiness::READ | Readiness::WRITE)));
                inner.sockets.insert(token, Arc::clone(&readiness));
                Ok(Registered {
                    stream,
                    token,
                    readiness,
                    reactor: Arc::clone(reactor),
                })
            }
            Err(e) => {
                inner.tokens.release(token);
                Err(e)
            }
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = self.reactor.registry.deregister(&mut self.stream);
        let mut inner = self.reactor.lock();
        inner.sockets.remove(&self.token);
        inner.tokens.release(self.token);
    }
}

/// A connect in progress: resolves on first poll, then tries each address until one opens.
struct Connect {
    reactor: Arc<Reactor>,
    /// Still to resolve.
    address: Option<(String, u16)>,
    addrs: VecDeque<SocketAddr>,
    socket: Option<Registered>,
    last_error: Option<io::Error>,
}

impl Future for Connect {
    type Output = io::Result<MioTcp>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<MioTcp>> {
        let this = self.get_mut();
        if let Some((host, port)) = this.address.take() {
            match (host.as_str(), port).to_socket_addrs() {
                Ok(it) => this.addrs.extend(it),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        loop {
            if let Some(socket) = &this.socket {
                let failed = match socket.stream.take_error() {
                    Ok(Some(e)) | Err(e) => e,
                    Ok(None) => match socket.stream.peer_addr() {
                        Ok(_) => {
                            // Kafka requests are small and latency-bound; Nagle only adds delay.
                            let _ = socket.stream.set_nodelay(true);
                            let socket = this.socket.take().expect("checked");
                            return Poll::Ready(Ok(MioTcp { socket }));
                        }
                        // Still connecting: the socket's writable event wakes the task.
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => return Poll::Pending,
                        Err(e) => e,
                    },
                };
                this.socket = None;
                this.last_error = Some(failed);
            }
            let Some(addr) = this.addrs.pop_front() else {
                let e = this.last_error.take().unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "no address to connect to")
                });
                return Poll::Ready(Err(e));
            };
            match Registered::connect(&this.reactor, addr) {
                Ok(socket) => this.socket = Some(socket),
                Err(e) => this.last_error = Some(e),
            }
        }
    }
}

/// A connected broker socket, the driver's byte stream: `WouldBlock` is `Pending` (the
/// socket's next readiness event wakes the task).
#[derive(Debug)]
pub struct MioTcp {
    socket: Registered,
}

impl Registered {
    /// Tries `op` on the stream while the socket may be ready for `bit`
    /// ([`Readiness::READ`] or [`Readiness::WRITE`]): `WouldBlock` leaves the bit cleared
    /// and is `Pending` (the next readiness event sets it and wakes the task); `Interrupted`
    /// tries again; any other answer sets the bit again (the socket may still be ready) and
    /// is returned.
    fn poll_io<T>(
        &mut self,
        bit: u8,
        mut op: impl FnMut(&mut TcpStream) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        while self.readiness.take(bit) {
            match op(&mut self.stream) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.readiness.set(bit),
                r => {
                    self.readiness.set(bit);
                    return Poll::Ready(r);
                }
            }
        }
        Poll::Pending
    }
}

impl AsyncIo for MioTcp {
    fn poll_read(&mut self, _cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.socket
            .poll_io(Readiness::READ, |stream| stream.read(buf))
    }

    fn poll_write_vectored(
        &mut self,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.socket
            .poll_io(Readiness::WRITE, |stream| stream.write_vectored(bufs))
    }
}

/// A sleep: ready at `at`; registered with the reactor while pending, so that
/// [`Reactor::timeout`] covers it.
struct Sleep {
    reactor: Arc<Reactor>,
    at: std::time::Instant,
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if std::time::Instant::now() >= this.at {
            this.unregister();
            return Poll::Ready(());
        }
        if this.id.is_none() {
            let mut inner = this.reactor.lock();
            let id = inner.next_timer;
            inner.next_timer += 1;
            inner.timers.push((id, this.at));
            this.id = Some(id);
        }
        Poll::Pending
    }
}

impl Sleep {
    fn unregister(&mut self) {
        if let Some(id) = self.id.take() {
            self.reactor.lock().timers.retain(|&(t, _)| t != id);
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll as MioPoll};

    #[test]
    fn token_pool_hands_out_fresh_tokens_first() {
        let range = TokenRange::new(10, 3);
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

    /// Polls `fut` with the reactor's waker, mio readiness in between, at most 10 s.
    fn drive<T>(poll: &mut MioPoll, reactor: &Arc<Reactor>, mut fut: BoxFuture<T>) -> T {
        let waker = Waker::from(Arc::new(TaskWaker(Arc::clone(reactor))));
        let mut cx = Context::from_waker(&waker);
        let mut events = Events::with_capacity(8);
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            assert!(std::time::Instant::now() < give_up, "never finished");
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            let timeout = reactor.timeout().unwrap_or(Duration::from_millis(100));
            poll.poll(&mut events, Some(timeout)).unwrap();
        }
    }

    #[test]
    fn connects_past_a_refused_address_and_frees_its_token_when_dropped() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut poll = MioPoll::new().unwrap();
        let range = TokenRange::new(40, 1);
        let rt = MioRuntime::embedded(poll.registry(), range).unwrap();
        let reactor = Arc::clone(rt.reactor());
        // "localhost" may resolve to ::1 first (refused) and then 127.0.0.1.
        let address = BrokerAddress {
            host: "127.0.0.1".into(),
            port,
        };
        let tcp = drive(&mut poll, &reactor, rt.connect(&address)).unwrap();
        assert!(tcp.socket.stream.nodelay().unwrap());
        assert_eq!(reactor.sockets(), 1);
        // The one token is taken: a second connect fails at once, with a cause.
        let e = drive(&mut poll, &reactor, rt.connect(&address)).unwrap_err();
        assert!(e.to_string().contains("token"), "{e}");
        drop(tcp);
        assert_eq!(reactor.sockets(), 0);
        let again = drive(&mut poll, &reactor, rt.connect(&address)).unwrap();
        assert_eq!(again.socket.token, Token(40));
        drop(listener);
    }

    /// A read is tried only while the socket may be readable: after it would block, bytes
    /// that arrive are read once their event has been handed to the reactor, not before.
    #[test]
    fn reads_follow_the_readiness_events() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut poll = MioPoll::new().unwrap();
        let rt = MioRuntime::embedded(poll.registry(), TokenRange::new(7, 2)).unwrap();
        let reactor = Arc::clone(rt.reactor());
        let address = BrokerAddress {
            host: "127.0.0.1".into(),
            port,
        };
        let mut tcp = drive(&mut poll, &reactor, rt.connect(&address)).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let waker = Waker::from(Arc::new(TaskWaker(Arc::clone(&reactor))));
        let mut cx = Context::from_waker(&waker);
        let mut buf = [0u8; 16];
        assert!(
            tcp.poll_read(&mut cx, &mut buf).is_pending(),
            "nothing sent yet"
        );
        peer.write_all(b"hello").unwrap();
        // Not ready as far as the reactor knows: no read is tried.
        assert!(tcp.poll_read(&mut cx, &mut buf).is_pending());
        let mut events = Events::with_capacity(8);
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < 5 {
            assert!(std::time::Instant::now() < give_up, "the bytes never came");
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            for event in events.iter() {
                reactor.ready(event);
            }
            while let Poll::Ready(n) = tcp.poll_read(&mut cx, &mut buf) {
                let n = n.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert_eq!(got, b"hello");
        assert!(reactor.take_wake(), "the event woke the task");
    }

    #[test]
    fn a_refused_connect_fails() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut poll = MioPoll::new().unwrap();
        let rt = MioRuntime::embedded(poll.registry(), TokenRange::new(1, 4)).unwrap();
        let reactor = Arc::clone(rt.reactor());
        let address = BrokerAddress {
            host: "127.0.0.1".into(),
            port,
        };
        assert!(drive(&mut poll, &reactor, rt.connect(&address)).is_err());
        assert_eq!(reactor.sockets(), 0, "the failed socket's token is back");
    }

    #[test]
    fn sleeps_set_the_timeout_and_a_due_one_wakes_the_task() {
        let poll = MioPoll::new().unwrap();
        let rt = MioRuntime::embedded(poll.registry(), TokenRange::new(1, 1)).unwrap();
        let reactor = Arc::clone(rt.reactor());
        assert!(reactor.take_wake(), "a new reactor polls its task first");
        assert!(!reactor.take_wake());
        assert_eq!(reactor.timeout(), None);
        let waker = Waker::from(Arc::new(TaskWaker(Arc::clone(&reactor))));
        let mut cx = Context::from_waker(&waker);
        let mut long = rt.sleep(Duration::from_secs(60));
        let mut short = rt.sleep(Duration::from_millis(30));
        assert!(long.as_mut().poll(&mut cx).is_pending());
        assert!(short.as_mut().poll(&mut cx).is_pending());
        let t = reactor.timeout().unwrap();
        assert!(t <= Duration::from_millis(30), "{t:?}");
        std::thread::sleep(Duration::from_millis(40));
        assert!(reactor.take_wake(), "the due sleep wakes the task");
        assert!(short.as_mut().poll(&mut cx).is_ready());
        assert!(reactor.timeout().unwrap() > Duration::from_secs(50));
        drop(long);
        assert_eq!(reactor.timeout(), None, "a dropped sleep is forgotten");
        waker.wake_by_ref();
        assert_eq!(reactor.timeout(), Some(Duration::ZERO));
    }
}
