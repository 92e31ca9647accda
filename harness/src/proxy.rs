//! [`Proxy`]: a small TCP proxy in front of one broker, for network faults on loopback (the
//! kernels these tests run on have no `netem`): every chunk of bytes is forwarded after a
//! delay plus a random jitter (order kept within a connection), and connections can be cut
//! on demand, mid-request, or left half-open: requests still forwarded, answers held back.
//!
//! A broker is put behind it with a listener of its own that advertises the proxy's port
//! ([`Listener::advertised_port`](crate::Listener::advertised_port)), so that clients of that
//! listener reach every broker through its proxy while the brokers talk to each other
//! directly. Threads, not an async runtime: two per direction of each connection (a reader
//! that stamps chunks with their due time, a writer that sends them then), which is plenty for
//! the few connections a producer opens.
//!
//! ```no_run
//! use odradek_kafka_harness::{Faults, Proxy};
//! use std::time::Duration;
//! let proxy = Proxy::start("127.0.0.1:9092".parse().unwrap()).unwrap();
//! proxy.set_faults(Faults {
//!     delay: Duration::from_millis(20),
//!     jitter: Duration::from_millis(20),
//!     ..Faults::default()
//! });
//! // ... clients connect to 127.0.0.1:{proxy.port()} ...
//! proxy.cut_all();
//! ```

use crate::{io_ctx, Result};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the proxy waits for the broker to accept its connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest chunk read at once.
const CHUNK: usize = 64 * 1024;
/// Chunks queued per direction before the reader waits (bounds the proxy's memory to
/// `CHUNK * QUEUE` per direction of a connection).
const QUEUE: usize = 64;

/// What the proxy does to the bytes it forwards. The default forwards at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Added to every chunk, in both directions.
    pub delay: Duration,
    /// A further delay drawn uniformly from `0..=jitter` per chunk; a chunk never overtakes
    /// an earlier one of the same direction (TCP keeps order), so jitter delays, it does not
    /// reorder.
    pub jitter: Duration,
    /// Hold back everything from the server (its answers) while the client's bytes still
    /// go through: the server acts on requests whose answers the client never gets, on a
    /// connection that is open and acknowledged at the TCP level (half-open). What was held
    /// goes out once this is lifted, unless the connection ended meanwhile.
    pub stall_responses: bool,
}

/// Counters of a [`Proxy`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub accepted: u64,
    /// Connections cut by [`Proxy::cut_all`] or [`Proxy::cut_one`].
    pub cut: u64,
    /// Bytes forwarded, both directions.
    pub bytes: u64,
    /// Chunks read from the server while [`Faults::stall_responses`] held its answers back.
    pub stalled: u64,
}

/// A TCP proxy on `127.0.0.1:<port>` forwarding to one upstream address. Dropping it closes
/// its listener and every connection.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    faults: Mutex<Faults>,
    /// Open connections: both sockets, for cutting.
    conns: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    closed: AtomicBool,
    accepted: AtomicU64,
    cut: AtomicU64,
    bytes: AtomicU64,
    stalled: AtomicU64,
    /// xorshift64 state for jitter and for picking a connection to cut.
    rng: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn random(&self) -> u64 {
        let mut s = lock(&self.rng);
        let mut x = *s;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *s = x;
        x
    }

    /// The extra delay of one chunk.
    fn chunk_delay(&self) -> Duration {
        let f = *lock(&self.faults);
        let jitter = f.jitter.as_micros() as u64;
        let extra = if jitter == 0 {
            0
        } else {
            self.random() % (jitter + 1)
        };
        f.delay + Duration::from_micros(extra)
    }

    fn forget(&self, id: u64) {
        lock(&self.conns).remove(&id);
    }
}

impl Proxy {
    /// Binds `127.0.0.1:0` and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<Proxy> {
        let listener = io_ctx(TcpListener::bind("127.0.0.1:0"), || {
            "binding the proxy on 127.0.0.1:0".into()
        })?;
        let port = io_ctx(listener.local_addr(), || "proxy local_addr".into())?.port();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(port);
        let shared = Arc::new(Shared {
            upstream,
            faults: Mutex::new(Faults::default()),
            conns: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            cut: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            rng: Mutex::new(seed | 1),
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || accept_loop(&listener, &s));
        let acceptor = io_ctx(acceptor, || "spawning the proxy thread".into())?;
        Ok(Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The port clients connect to, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address it forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Sets the faults for every chunk read from now on (chunks already queued keep theirs).
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Cuts every open connection (both sides see the connection end, whatever was in
    /// flight); returns how many.
    pub fn cut_all(&self) -> usize {
        let conns: Vec<(TcpStream, TcpStream)> =
            lock(&self.shared.conns).drain().map(|(_, c)| c).collect();
        for (a, b) in &conns {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
        self.shared
            .cut
            .fetch_add(conns.len() as u64, Ordering::Relaxed);
        conns.len()
    }

    /// Cuts one open connection picked at random; `false` if there was none.
    pub fn cut_one(&self) -> bool {
        let pick = self.shared.random();
        let conn = {
            let mut conns = lock(&self.shared.conns);
            if conns.is_empty() {
                return false;
            }
            let mut ids: Vec<u64> = conns.keys().copied().collect();
            ids.sort_unstable();
            let id = ids[(pick % ids.len() as u64) as usize];
            conns.remove(&id)
        };
        let Some((a, b)) = conn else { return false };
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
        self.shared.cut.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            accepted: self.shared.accepted.load(Ordering::Relaxed),
            cut: self.shared.cut.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            stalled: self.shared.stalled.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        // Wake the acceptor, which then sees `closed`.
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_secs(1),
        );
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        self.cut_all();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut next_id = 0u64;
    for client in listener.incoming() {
        if shared.closed.load(Ordering::Relaxed) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        // A broker that is down: the client sees its connection end, as with no proxy.
        let Ok(server) = TcpStream::connect_timeout(&shared.upstream, UPSTREAM_CONNECT_TIMEOUT)
        else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let clones = (|| {
            Some((
                client.try_clone().ok()?,
                server.try_clone().ok()?,
                client.try_clone().ok()?,
                server.try_clone().ok()?,
            ))
        })();
        let Some((c2, s2, c3, s3)) = clones else {
            continue;
        };
        lock(&shared.conns).insert(id, (c3, s3));
        // Both directions: client -> server, server -> client. The last to end forgets the
        // connection.
        let ends = Arc::new(AtomicU64::new(0));
        for (from, to, answers) in [(client, server, false), (s2, c2, true)] {
            let (s, ends) = (Arc::clone(shared), Arc::clone(&ends));
            let spawned = std::thread::Builder::new()
                .name(format!("proxy-conn-{id}"))
                .spawn(move || {
                    pump(from, to, answers, &s);
                    if ends.fetch_add(1, Ordering::AcqRel) == 1 {
                        s.forget(id);
                    }
                });
            if spawned.is_err() {
                shared.forget(id);
            }
        }
    }
}

/// A chunk and when it is due, or the end of the stream.
type Item = Option<(Instant, Vec<u8>)>;

/// Forwards `from` to `to` until either side ends, then closes both; `answers`: this is the
/// server-to-client direction.
fn pump(from: TcpStream, to: TcpStream, answers: bool, shared: &Arc<Shared>) {
    let (tx, rx) = sync_channel::<Item>(QUEUE);
    let writer = {
        let (from, to) = (from.try_clone(), to.try_clone());
        let shared = Arc::clone(shared);
        std::thread::Builder::new().spawn(move || {
            if let (Ok(from), Ok(to)) = (from, to) {
                write_side(&rx, &from, to, answers, &shared);
            }
        })
    };
    let Ok(writer) = writer else {
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
        return;
    };
    read_side(from, &tx, answers, shared);
    drop(tx);
    let _ = writer.join();
}

fn read_side(mut from: TcpStream, tx: &SyncSender<Item>, answers: bool, shared: &Shared) {
    let mut last_due = Instant::now();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = tx.send(None);
                return;
            }
            Ok(n) => {
                if answers && lock(&shared.faults).stall_responses {
                    shared.stalled.fetch_add(1, Ordering::Relaxed);
                }
                let due = (Instant::now() + shared.chunk_delay()).max(last_due);
                last_due = due;
                if tx.send(Some((due, buf[..n].to_vec()))).is_err() {
                    return;
                }
            }
        }
    }
}

fn write_side(
    rx: &Receiver<Item>,
    from: &TcpStream,
    mut to: TcpStream,
    answers: bool,
    shared: &Shared,
) {
    for item in rx {
        let Some((due, data)) = item else { break };
        if answers && lock(&shared.faults).stall_responses {
            while lock(&shared.faults).stall_responses && !shared.closed.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if to.write_all(&data).is_err() {
            break;
        }
        shared.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    }
    // Either side ended (or the connection was cut): end both, which also wakes the reader.
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on 127.0.0.1:0 for `conns` connections.
    fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let _ = std::io::copy(&mut r, &mut s);
                });
            }
        });
        addr
    }

    fn client(proxy: &Proxy) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    #[test]
    fn forwards_every_byte_in_order_under_jitter() {
        let proxy = Proxy::start(echo_server()).unwrap();
        proxy.set_faults(Faults {
            delay: Duration::ZERO,
            jitter: Duration::from_millis(3),
            ..Faults::default()
        });
        let mut s = client(&proxy);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = s.try_clone().unwrap();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            for piece in sent.chunks(10_000) {
                w.write_all(piece).unwrap();
            }
        });
        let mut back = vec![0u8; data.len()];
        s.read_exact(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back == data, "bytes changed or reordered by the proxy");
        // The proxy counts a chunk after writing it, so the client may hold the last bytes
        // a moment before the count includes them: wait for it (bounded).
        let want = 2 * data.len() as u64;
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while proxy.stats().bytes < want && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let st = proxy.stats();
        assert_eq!(st.accepted, 1);
        assert_eq!(st.bytes, want, "both directions counted");
    }

    #[test]
    fn delays_each_direction() {
        let proxy = Proxy::start(echo_server()).unwrap();
        proxy.set_faults(Faults {
            delay: Duration::from_millis(100),
            jitter: Duration::ZERO,
            ..Faults::default()
        });
        let mut s = client(&proxy);
        let t = Instant::now();
        s.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping");
        // There and back: the delay twice, at least.
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn cut_ends_the_connection_mid_request() {
        let proxy = Proxy::start(echo_server()).unwrap();
        // Long enough that the request is still queued in the proxy when it is cut.
        proxy.set_faults(Faults {
            delay: Duration::from_secs(2),
            jitter: Duration::ZERO,
            ..Faults::default()
        });
        let mut s = client(&proxy);
        s.write_all(b"request").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while proxy.connections() == 0 {
            assert!(Instant::now() < deadline, "connection never registered");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(proxy.cut_one());
        let mut buf = [0u8; 16];
        // EOF or a reset, never the echoed request.
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
        assert_eq!(proxy.stats().cut, 1);
        assert!(!proxy.cut_one(), "nothing left to cut");
        assert_eq!(proxy.cut_all(), 0);
        // New connections still work once the faults are lifted.
        proxy.set_faults(Faults::default());
        let mut s = client(&proxy);
        s.write_all(b"again").unwrap();
        let mut back = [0u8; 5];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"again");
    }

    #[test]
    fn stalled_answers_are_held_while_requests_go_through() {
        // A server that counts what it received and answers each byte with one byte.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let r2 = Arc::clone(&received);
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 64];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    return;
                }
                r2.fetch_add(n as u64, Ordering::Relaxed);
                let _ = s.write_all(&buf[..n]);
            }
        });
        let proxy = Proxy::start(addr).unwrap();
        proxy.set_faults(Faults {
            stall_responses: true,
            ..Faults::default()
        });
        let mut s = client(&proxy);
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s.write_all(b"req").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while received.load(Ordering::Relaxed) < 3 {
            assert!(
                Instant::now() < deadline,
                "the request never reached the server"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut back = [0u8; 3];
        assert!(
            s.read(&mut back).is_err(),
            "an answer got through the stall"
        );
        assert_eq!(proxy.stats().stalled, 1);
        proxy.set_faults(Faults::default());
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"req", "the held answer goes out once lifted");
    }

    #[test]
    fn upstream_down_ends_the_client_connection() {
        // A port with nothing listening (bound, then freed).
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = Proxy::start(addr).unwrap();
        let mut s = client(&proxy);
        let mut buf = [0u8; 1];
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
        assert_eq!(proxy.connections(), 0);
    }
}
