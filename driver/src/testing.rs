//! Test support shared by the adapter crates (feature `testing`; not a public API).
//!
//! [`FakeBroker`]: a one-node Kafka cluster on a real loopback TCP socket, served by plain
//! threads so that any runtime's tests can use it. The Kafka behind the socket is
//! odradek-sim's [`Cluster`] (the simulator's brokers, in virtual time kept at real elapsed
//! time): the threads feed it the bytes they read and write back what it answers. It keeps a
//! log per partition, and can delay, fail, drop or hold back Produce requests.
//!
//! [`scenarios`]: the adapter tests, written once against [`Runtime`] and run by each adapter
//! crate on its own runtime.

use crate::runtime::Runtime;
use bytes::Bytes;
use odradek_core::protocol::{
    ApiVersionsRequest, ErrorCode, InitProducerIdRequest, MetadataRequest, ProduceRequest, Request,
};
use odradek_core::record::DecodedRecord;
use odradek_core::{BrokerAddress, ConnId};
use odradek_sim::{BrokerVersions, Cluster, ClusterConfig, NetEvent, NetworkConfig, SIM_EPOCH};
/// The simulator's transaction coordinator settings and records, for
/// [`FakeBrokerOptions::transactions`] and [`FakeBroker::txn_snapshot`].
pub use odradek_sim::{TxnConfig, TxnOutcome, TxnSnapshot};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How the fake broker behaves.
#[derive(Debug, Clone)]
pub struct FakeBrokerOptions {
    /// Partitions of every topic (topics are created when a Metadata request first names
    /// them).
    pub partitions: i32,
    /// Answer each Produce request this long after it arrived.
    pub produce_delay: Duration,
    /// Answer every Produce partition with this error code instead of appending.
    pub produce_error: Option<i16>,
    /// Close the connection, without appending or answering, on this many Produce requests
    /// (counted over the broker's life) before behaving.
    pub drop_produce_requests: usize,
    /// Keep every appended record (for [`FakeBroker::records`]); `false` keeps only the
    /// offsets, so a long run does not grow the test process (memory tests).
    pub keep_records: bool,
    /// The simulator's transaction and group coordinators ([`TxnConfig::off`] by default:
    /// the broker then advertises no transactional API).
    pub transactions: TxnConfig,
}

impl Default for FakeBrokerOptions {
    fn default() -> Self {
        FakeBrokerOptions {
            partitions: 3,
            produce_delay: Duration::ZERO,
            produce_error: None,
            drop_produce_requests: 0,
            keep_records: true,
            transactions: TxnConfig::off(),
        }
    }
}

/// This process's resident memory in KiB (`VmRSS` from `/proc/self/status`; 0 where that
/// cannot be read), for tests that bound what a producer holds.
pub fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Counters of what the broker has seen, for [`FakeBroker::wait_for`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Produce requests received (including dropped and held ones).
    pub produce_requests: usize,
    /// Connections accepted so far.
    pub connections: usize,
    /// Connections currently open (accepted and not yet ended).
    pub open_connections: usize,
    /// Records appended to the logs so far.
    pub records: usize,
}

/// The simulated cluster behind the socket, and the sockets it answers on.
struct BrokerState {
    cluster: Cluster,
    /// Virtual time is [`SIM_EPOCH`] plus the real time elapsed since this instant.
    started: Instant,
    /// Write halves of the open connections, by the cluster's id for them.
    streams: BTreeMap<ConnId, TcpStream>,
    next_conn: u64,
    connections: usize,
    open_connections: usize,
}

impl BrokerState {
    /// Brings the cluster's clock to now and delivers what is due: answers written to their
    /// sockets, connections the cluster closed shut.
    fn pump(&mut self) {
        self.cluster.advance_to(SIM_EPOCH + self.started.elapsed());
        let now = self.cluster.now();
        while self.cluster.next_event_time().is_some_and(|t| t <= now) {
            match self.cluster.step() {
                Some(NetEvent::Received(conn, data)) => {
                    let failed = self
                        .streams
                        .get_mut(&conn)
                        .is_some_and(|s| s.write_all(&data).is_err());
                    if failed {
                        self.close(conn);
                    }
                }
                Some(NetEvent::Disconnected(conn)) => {
                    if let Some(s) = self.streams.remove(&conn) {
                        let _ = s.shutdown(Shutdown::Both);
                    }
                }
                Some(NetEvent::Connected(_) | NetEvent::Written(..)) | None => {}
            }
        }
    }

    /// The client's side of `conn` is gone (EOF, an error, or the broker stopping).
    fn close(&mut self, conn: ConnId) {
        if let Some(s) = self.streams.remove(&conn) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if self.cluster.open_connections().contains(&conn) {
            self.cluster.disconnect(conn);
        }
    }

    fn stats(&self) -> BrokerStats {
        let cluster = self.cluster.stats();
        BrokerStats {
            produce_requests: (cluster.produce_requests as usize)
                + self.cluster.held_produce_requests(None),
            connections: self.connections,
            open_connections: self.open_connections,
            records: cluster.records_appended as usize,
        }
    }
}

/// State shared by the broker handle and its threads.
struct Shared {
    state: Mutex<BrokerState>,
    /// Notified on every change of `state`.
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, BrokerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state, delivers what became due, and tells the waiters.
    fn with<T>(&self, f: impl FnOnce(&mut BrokerState) -> T) -> T {
        let out = {
            let mut st = self.lock();
            let out = f(&mut st);
            st.pump();
            out
        };
        self.changed.notify_all();
        out
    }
}

/// The version range of request `R` the core speaks.
fn range<R: Request>() -> (i16, i16) {
    (R::MIN_VERSION, R::MAX_VERSION)
}

/// The sim cluster a [`FakeBroker`] serves: one broker advertising `addr`, every version the
/// core speaks (like Kafka 4.x, nothing below Produce v3; no InitProducerId), no latency.
fn cluster_for(addr: SocketAddr, options: &FakeBrokerOptions) -> Cluster {
    let mut config = ClusterConfig::new(0);
    config.brokers = 1;
    config.topics = Vec::new();
    config.network = NetworkConfig::instant();
    config.keep_records = options.keep_records;
    let produce = range::<ProduceRequest>();
    config.versions = BrokerVersions {
        produce: (produce.0.max(3), produce.1),
        metadata: range::<MetadataRequest>(),
        api_versions: range::<ApiVersionsRequest>(),
        init_producer_id: None,
    };
    if options.transactions.enabled {
        config.versions.init_producer_id = Some(range::<InitProducerIdRequest>());
    }
    config.transactions = options.transactions.clone();
    let mut cluster = Cluster::new(config);
    cluster.auto_create_topics(options.partitions);
    cluster.advertise(1, &addr.ip().to_string(), addr.port());
    cluster.fail_every_produce(options.produce_error.map(ErrorCode));
    cluster.drop_produce_requests(options.drop_produce_requests);
    cluster.set_produce_delay(options.produce_delay);
    cluster
}

/// A one-node fake Kafka cluster on 127.0.0.1. Stops when dropped.
pub struct FakeBroker {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeBroker")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeBroker {
    /// Starts a broker on an ephemeral loopback port.
    pub fn start(options: FakeBrokerOptions) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let mut cluster = cluster_for(addr, &options);
        cluster.record_requests();
        let shared = Arc::new(Shared {
            state: Mutex::new(BrokerState {
                cluster,
                started: Instant::now(),
                streams: BTreeMap::new(),
                next_conn: 0,
                connections: 0,
                open_connections: 0,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let sh = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if sh.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let sh = Arc::clone(&sh);
                std::thread::spawn(move || serve(stream, &sh));
            }
        });
        let sh = Arc::clone(&shared);
        std::thread::spawn(move || tick(&sh));
        FakeBroker { addr, shared }
    }

    /// `host:port` for `bootstrap_servers`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The records appended to a partition, in order.
    pub fn records(&self, topic: &str, partition: i32) -> Vec<DecodedRecord> {
        let st = self.shared.lock();
        let appends = st.cluster.appends();
        st.cluster
            .log(topic, partition)
            .unwrap_or_default()
            .iter()
            .map(|r| DecodedRecord {
                offset_delta: r.offset - appends[r.append].base_offset,
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
            })
            .collect()
    }

    /// For records numbered by their value's first 4 bytes (big-endian): waits, at most
    /// `timeout`, until the broker holds at least `expected` records, then checks that no
    /// number is in `topic`/`partition`'s log twice (panics naming the first one that is),
    /// and returns how many records the log holds.
    pub fn numbered_records_once(
        &self,
        topic: &str,
        partition: i32,
        expected: usize,
        timeout: Duration,
    ) -> usize {
        self.wait_for(timeout, |s| s.records >= expected);
        let log = self.records(topic, partition);
        let mut seen = std::collections::BTreeSet::new();
        for r in &log {
            let v = r.value.as_deref().unwrap_or_default();
            let n = v
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .expect("a numbered value");
            assert!(seen.insert(n), "record {n} written twice");
        }
        log.len()
    }

    /// Records appended over all partitions.
    pub fn total_records(&self) -> usize {
        self.shared
            .lock()
            .cluster
            .logs()
            .map(|(_, _, l)| l.len())
            .sum()
    }

    /// What the transaction coordinator holds: every transaction with its outcome, and the
    /// consumer offsets transactions made visible.
    pub fn txn_snapshot(&self) -> TxnSnapshot {
        self.shared.lock().cluster.txn_snapshot()
    }

    /// API keys of the requests received, in order.
    pub fn requests(&self) -> Vec<i16> {
        let st = self.shared.lock();
        st.cluster.requests().iter().map(|r| r.api_key).collect()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// A snapshot of the broker's counters.
    pub fn stats(&self) -> BrokerStats {
        self.shared.lock().stats()
    }

    /// Holds every Produce request (before appending or answering, and the requests behind
    /// it on its connection) until [`release_produce`](Self::release_produce), to keep records
    /// in flight on purpose.
    pub fn hold_produce(&self) {
        self.shared
            .with(|st| st.cluster.hold_produce_requests(true));
    }

    /// Lets held Produce requests go.
    pub fn release_produce(&self) {
        self.shared
            .with(|st| st.cluster.hold_produce_requests(false));
    }

    /// Waits until `cond` holds on the broker's counters, at most `timeout`; whether it did.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&BrokerStats) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while !cond(&st.stats()) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.release_produce();
        // Unblock the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Delivers answers that come due later (the produce delay) until the broker stops.
fn tick(shared: &Shared) {
    let mut st = shared.lock();
    while !shared.stop.load(Ordering::SeqCst) {
        st.pump();
        let wait = st
            .cluster
            .next_event_time()
            .map(|t| t.saturating_duration_since(st.cluster.now()))
            .unwrap_or(Duration::from_millis(50))
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        st = shared
            .changed
            .wait_timeout(st, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Serves one connection until EOF, an error, or stop: what it reads goes to the cluster.
/// While the cluster holds a Produce request of this connection, nothing more is read.
fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let conn = shared.with(|st| {
        st.next_conn += 1;
        let conn = ConnId(st.next_conn);
        st.connections += 1;
        st.open_connections += 1;
        st.streams.insert(conn, writer);
        let broker = BrokerAddress {
            host: "broker-1".into(),
            port: odradek_sim::BROKER_PORT,
        };
        st.cluster.connect(conn, &broker);
        conn
    });
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        {
            let mut st = shared.lock();
            while st.cluster.held_produce_requests(Some(conn)) > 0
                && !shared.stop.load(Ordering::SeqCst)
            {
                st = shared
                    .changed
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if !st.streams.contains_key(&conn) {
                break; // closed by the cluster
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let data = Bytes::copy_from_slice(&chunk[..n]);
                shared.with(|st| st.cluster.transmit(conn, &[data]));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    shared.with(|st| {
        st.close(conn);
        st.open_connections -= 1;
    });
}

/// A TCP port on 127.0.0.1 where nothing listens (bound, then released).
pub fn refused_address() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let a = l.local_addr().expect("local addr");
    drop(l);
    a.to_string()
}

/// A fresh self-signed CA certificate (PEM): TLS settings that parse, for brokers that
/// never get as far as showing a certificate.
pub fn test_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().expect("a key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).expect("a CA").pem()
}

/// Certificates for TLS tests: a CA, a rustls server config for `localhost` signed by it,
/// and an unrelated CA.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA that signed the server's certificate (PEM).
    pub ca_pem: String,
    /// A CA that signed nothing here (PEM): a client trusting only it refuses the server.
    pub other_ca_pem: String,
    /// A server config presenting the `localhost` certificate.
    pub server: Arc<rustls::ServerConfig>,
}

/// A fresh [`TestPki`].
pub fn test_pki() -> TestPki {
    use rustls::pki_types::{pem::PemObject, PrivateKeyDer};
    let ca = || {
        let key = rcgen::KeyPair::generate().expect("a key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).expect("a CA").pem();
        (params, key, pem)
    };
    let (params, key, ca_pem) = ca();
    let leaf_key = rcgen::KeyPair::generate().expect("a key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&leaf_key, &rcgen::Issuer::from_params(&params, &key))
        .expect("a leaf certificate");
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes()).expect("the key"),
    )
    .expect("a server config");
    TestPki {
        ca_pem,
        other_ca_pem: ca().2,
        server: Arc::new(server),
    }
}

/// A listener that accepts connections and never writes a byte (a broker stuck before the
/// TLS handshake); the connections stay open until it is dropped.
#[derive(Debug)]
pub struct SilentBroker {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentBroker {
    /// Starts listening on 127.0.0.1.
    pub fn start() -> SilentBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    held.push(conn);
                }
            }
        });
        SilentBroker {
            address,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }
}

impl Drop for SilentBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `fut`, panicking if it takes longer than `limit` (a hang guard for tests, not a
/// timing assertion). The timer is polled first, so a future that only completes because the
/// guard's own wake-up re-polled it (a lost wake-up) still fails.
pub async fn within<R: Runtime + Default, F: std::future::Future>(
    limit: Duration,
    fut: F,
) -> F::Output {
    let sleep = R::default().sleep(limit);
    let fut = std::pin::pin!(fut);
    match futures_util::future::select(sleep, fut).await {
        futures_util::future::Either::Left(_) => {
            panic!("test step did not finish within {limit:?}")
        }
        futures_util::future::Either::Right((out, _)) => out,
    }
}

pub mod capture;
pub mod close;
pub mod observe;
pub mod scenarios;
