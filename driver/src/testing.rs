//! Test support shared by the adapter crates (feature `testing`; not a public API).
//!
//! [`FakeBroker`]: a one-node Kafka cluster on a real loopback TCP socket, served by plain
//! threads so that any runtime's tests can use it. It speaks ApiVersions, Metadata and Produce
//! with the core's own codecs, decodes every record batch it receives, keeps a log per
//! partition, and can delay, fail or hold back Produce requests.
//!
//! [`scenarios`]: the adapter tests, written once against [`Runtime`] and run by each adapter
//! crate on its own runtime.

use crate::runtime::Runtime;
use odradek_core::protocol::{
    api_key, decode_request_header, encode_response, ApiVersionRange, ApiVersionsRequest,
    ApiVersionsResponse, MetadataBroker, MetadataPartition, MetadataRequest, MetadataResponse,
    MetadataTopic, ProducePartitionResponse, ProduceRequest, ProduceResponse, ProduceTopicResponse,
    Reader, Request,
};
use odradek_core::record::{decode_records, DecodedRecord};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How the fake broker behaves.
#[derive(Debug, Clone)]
pub struct FakeBrokerOptions {
    /// Partitions of every topic.
    pub partitions: i32,
    /// Wait this long before answering each Produce request.
    pub produce_delay: Duration,
    /// Answer every Produce partition with this error code instead of appending.
    pub produce_error: Option<i16>,
    /// Close the connection, without appending or answering, on this many Produce requests
    /// (counted over the broker's life) before behaving.
    pub drop_produce_requests: usize,
    /// Keep every appended record (for [`FakeBroker::records`]); `false` keeps only the
    /// offsets, so a long run does not grow the test process (memory tests).
    pub keep_records: bool,
}

impl Default for FakeBrokerOptions {
    fn default() -> Self {
        FakeBrokerOptions {
            partitions: 3,
            produce_delay: Duration::ZERO,
            produce_error: None,
            drop_produce_requests: 0,
            keep_records: true,
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

#[derive(Default)]
struct BrokerState {
    logs: BTreeMap<(String, i32), Vec<DecodedRecord>>,
    /// The next offset of each partition (the log's length when records are kept).
    next_offsets: BTreeMap<(String, i32), i64>,
    requests: Vec<i16>,
    stats: BrokerStats,
    dropped_produce: usize,
    hold_produce: bool,
}

/// State shared by the broker handle and its threads.
#[derive(Default)]
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
        let shared = Arc::new(Shared::default());
        let sh = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if sh.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                {
                    let mut st = sh.lock();
                    st.stats.connections += 1;
                    st.stats.open_connections += 1;
                }
                sh.changed.notify_all();
                let (sh, opts) = (Arc::clone(&sh), options.clone());
                std::thread::spawn(move || {
                    serve(stream, addr, &sh, &opts);
                    sh.lock().stats.open_connections -= 1;
                    sh.changed.notify_all();
                });
            }
        });
        FakeBroker { addr, shared }
    }

    /// `host:port` for `bootstrap_servers`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The records appended to a partition, in order.
    pub fn records(&self, topic: &str, partition: i32) -> Vec<DecodedRecord> {
        let st = self.shared.lock();
        st.logs
            .get(&(topic.to_owned(), partition))
            .cloned()
            .unwrap_or_default()
    }

    /// Records appended over all partitions.
    pub fn total_records(&self) -> usize {
        self.shared.lock().logs.values().map(Vec::len).sum()
    }

    /// API keys of the requests received, in order.
    pub fn requests(&self) -> Vec<i16> {
        self.shared.lock().requests.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().stats.connections
    }

    /// A snapshot of the broker's counters.
    pub fn stats(&self) -> BrokerStats {
        self.shared.lock().stats.clone()
    }

    /// Holds every Produce request (before appending or answering) until
    /// [`release_produce`](Self::release_produce), to keep records in flight on purpose.
    pub fn hold_produce(&self) {
        self.shared.lock().hold_produce = true;
    }

    /// Lets held Produce requests go.
    pub fn release_produce(&self) {
        self.shared.lock().hold_produce = false;
        self.shared.changed.notify_all();
    }

    /// Waits until `cond` holds on the broker's counters, at most `timeout`; whether it did.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&BrokerStats) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while !cond(&st.stats) {
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

/// Serves one connection until EOF, an error, or stop.
fn serve(mut stream: TcpStream, addr: SocketAddr, shared: &Shared, opts: &FakeBrokerOptions) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        // Whole frames first.
        while buf.len() >= 4 {
            let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if !(0..=64 << 20).contains(&size) {
                return;
            }
            let size = size as usize;
            if buf.len() < 4 + size {
                break;
            }
            let frame: Vec<u8> = buf[4..4 + size].to_vec();
            buf.drain(..4 + size);
            match answer(&frame, addr, shared, opts) {
                Ok(Some(response)) => {
                    if stream.write_all(&response).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(()) => {
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn range<R: Request>() -> ApiVersionRange {
    ApiVersionRange {
        api_key: R::API_KEY,
        min_version: R::MIN_VERSION,
        max_version: R::MAX_VERSION,
    }
}

/// The response frame to one request frame (`None` for acks=0 Produce).
fn answer(
    frame: &[u8],
    addr: SocketAddr,
    shared: &Shared,
    opts: &FakeBrokerOptions,
) -> Result<Option<Vec<u8>>, ()> {
    let (header, body) = decode_request_header(frame).map_err(|_| ())?;
    {
        let mut st = shared.lock();
        st.requests.push(header.api_key);
        if header.api_key == api_key::PRODUCE {
            st.stats.produce_requests += 1;
        }
    }
    shared.changed.notify_all();
    let v = header.api_version;
    let corr = header.correlation_id;
    let mut out = bytes::BytesMut::new();
    match header.api_key {
        api_key::API_VERSIONS => {
            let mut produce = range::<ProduceRequest>();
            // Like Kafka 4.x: nothing below Produce v3.
            produce.min_version = produce.min_version.max(3);
            let resp = ApiVersionsResponse {
                error_code: 0,
                api_keys: vec![
                    produce,
                    range::<MetadataRequest>(),
                    range::<ApiVersionsRequest>(),
                ],
                throttle_time_ms: 0,
            };
            encode_response::<ApiVersionsRequest>(corr, v, &resp, &mut out);
        }
        api_key::METADATA => {
            let req = MetadataRequest::decode(v, &mut Reader::new(body)).map_err(|_| ())?;
            let names = req.topics.unwrap_or_else(|| {
                let st = shared.lock();
                let mut n: Vec<String> = st.logs.keys().map(|(t, _)| t.clone()).collect();
                n.dedup();
                n
            });
            let topics = names
                .into_iter()
                .map(|name| MetadataTopic {
                    error_code: 0,
                    name,
                    is_internal: false,
                    partitions: (0..opts.partitions)
                        .map(|p| MetadataPartition {
                            error_code: 0,
                            partition_index: p,
                            leader_id: 0,
                            leader_epoch: 0,
                            replica_nodes: vec![0],
                            isr_nodes: vec![0],
                            offline_replicas: vec![],
                        })
                        .collect(),
                })
                .collect();
            let resp = MetadataResponse {
                throttle_time_ms: 0,
                brokers: vec![MetadataBroker {
                    node_id: 0,
                    host: addr.ip().to_string(),
                    port: i32::from(addr.port()),
                    rack: None,
                }],
                cluster_id: Some("fake-cluster".to_owned()),
                controller_id: 0,
                topics,
            };
            encode_response::<MetadataRequest>(corr, v, &resp, &mut out);
        }
        api_key::PRODUCE => {
            let req = ProduceRequest::decode(v, &mut Reader::new(body)).map_err(|_| ())?;
            {
                let mut st = shared.lock();
                if st.dropped_produce < opts.drop_produce_requests {
                    st.dropped_produce += 1;
                    return Err(());
                }
                while st.hold_produce && !shared.stop.load(Ordering::SeqCst) {
                    st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            }
            if !opts.produce_delay.is_zero() {
                std::thread::sleep(opts.produce_delay);
            }
            let mut topics = Vec::new();
            {
                let mut st = shared.lock();
                for t in req.topics {
                    let mut partitions = Vec::new();
                    for p in t.partitions {
                        let (error_code, base_offset) = match opts.produce_error {
                            Some(code) => (code, -1),
                            None => {
                                let batches =
                                    decode_records(&p.records, 64 << 20).map_err(|_| ())?;
                                let key = (t.name.clone(), p.index);
                                let base = st.next_offsets.get(&key).copied().unwrap_or(0);
                                let log = st.logs.entry(key.clone()).or_default();
                                let mut appended = 0;
                                for b in batches {
                                    appended += b.records.len();
                                    if opts.keep_records {
                                        log.extend(b.records);
                                    }
                                }
                                st.next_offsets.insert(key, base + appended as i64);
                                st.stats.records += appended;
                                (0, base)
                            }
                        };
                        partitions.push(ProducePartitionResponse {
                            index: p.index,
                            error_code,
                            base_offset,
                            log_append_time_ms: -1,
                            log_start_offset: 0,
                            error_message: None,
                        });
                    }
                    topics.push(ProduceTopicResponse {
                        name: t.name,
                        partitions,
                    });
                }
            }
            shared.changed.notify_all();
            if req.acks == 0 {
                return Ok(None);
            }
            let resp = ProduceResponse {
                topics,
                throttle_time_ms: 0,
            };
            encode_response::<ProduceRequest>(corr, v, &resp, &mut out);
        }
        _ => return Err(()),
    }
    Ok(Some(out.to_vec()))
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
pub mod observe;
pub mod scenarios;
