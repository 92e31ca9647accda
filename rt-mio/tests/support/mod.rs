//! A one-node fake Kafka broker on a real loopback socket, served by plain threads. It answers
//! ApiVersions, Metadata and Produce with the core's own codecs, keeps a log per partition, and
//! can hold Produce responses back until released (to keep records in flight on purpose).

#![allow(dead_code)]

use bytes::BytesMut;
use odradek_core::protocol::{
    api_key, decode_request_header, encode_response, ApiVersionRange, ApiVersionsRequest,
    ApiVersionsResponse, MetadataBroker, MetadataPartition, MetadataRequest, MetadataResponse,
    MetadataTopic, ProducePartitionResponse, ProduceRequest, ProduceResponse, ProduceTopicResponse,
    Reader, Request,
};
use odradek_core::record::{decode_records, DecodedRecord};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the broker has seen.
#[derive(Default, Debug)]
pub struct BrokerState {
    pub logs: BTreeMap<(String, i32), Vec<DecodedRecord>>,
    pub produce_requests: usize,
    pub connections: usize,
    pub open_connections: usize,
    pub hold_produce: bool,
}

struct Shared {
    state: Mutex<BrokerState>,
    changed: Condvar,
    stop: AtomicBool,
    partitions: i32,
}

/// The broker; stops accepting when dropped.
pub struct FakeBroker {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeBroker {
    /// Starts a broker whose topics all have `partitions` partitions.
    pub fn start(partitions: i32) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(BrokerState::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            partitions,
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                {
                    let mut st = accept_shared.lock();
                    st.connections += 1;
                    st.open_connections += 1;
                }
                let conn_shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || {
                    serve(&conn_shared, stream, addr);
                    conn_shared.lock().open_connections -= 1;
                    conn_shared.changed.notify_all();
                });
            }
        });
        FakeBroker {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Holds every Produce response back until [`release_produce`](Self::release_produce).
    pub fn hold_produce(&self) {
        self.shared.lock().hold_produce = true;
    }

    /// Lets held Produce responses go.
    pub fn release_produce(&self) {
        self.shared.lock().hold_produce = false;
        self.shared.changed.notify_all();
    }

    /// Waits until `cond` holds on the broker's state, at most `timeout`.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&BrokerState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while !cond(&st) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self.shared.changed.wait_timeout(st, left).unwrap().0;
        }
        true
    }

    /// The records appended to a partition, in offset order.
    pub fn records(&self, topic: &str, partition: i32) -> Vec<DecodedRecord> {
        self.shared
            .lock()
            .logs
            .get(&(topic.to_owned(), partition))
            .cloned()
            .unwrap_or_default()
    }

    /// Records appended across all partitions.
    pub fn total_records(&self) -> usize {
        self.shared.lock().logs.values().map(Vec::len).sum()
    }

    /// Produce requests received so far.
    pub fn produce_requests(&self) -> usize {
        self.shared.lock().produce_requests
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.release_produce();
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, BrokerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(shared: &Shared, mut stream: TcpStream, addr: SocketAddr) {
    loop {
        let mut size = [0u8; 4];
        if stream.read_exact(&mut size).is_err() {
            return;
        }
        let size = i32::from_be_bytes(size);
        if !(0..=64 * 1024 * 1024).contains(&size) {
            return;
        }
        let mut frame = vec![0u8; size as usize];
        if stream.read_exact(&mut frame).is_err() {
            return;
        }
        let Some(out) = answer(shared, &frame, addr) else {
            return;
        };
        if !out.is_empty() && stream.write_all(&out).is_err() {
            return;
        }
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
    }
}

fn versions<R: Request>() -> ApiVersionRange {
    ApiVersionRange {
        api_key: R::API_KEY,
        min_version: R::MIN_VERSION,
        max_version: R::MAX_VERSION,
    }
}

/// The response bytes for one request frame (empty for acks=0 Produce); `None` to hang up.
fn answer(shared: &Shared, frame: &[u8], addr: SocketAddr) -> Option<BytesMut> {
    let (header, body) = decode_request_header(frame).ok()?;
    let version = header.api_version;
    let corr = header.correlation_id;
    let mut out = BytesMut::new();
    match header.api_key {
        api_key::API_VERSIONS => {
            let response = ApiVersionsResponse {
                error_code: 0,
                api_keys: vec![
                    versions::<ProduceRequest>(),
                    versions::<MetadataRequest>(),
                    versions::<ApiVersionsRequest>(),
                ],
                throttle_time_ms: 0,
            };
            encode_response::<ApiVersionsRequest>(corr, version, &response, &mut out);
        }
        api_key::METADATA => {
            let request = MetadataRequest::decode(version, &mut Reader::new(body)).ok()?;
            let names = request.topics.unwrap_or_default();
            let topics = names
                .into_iter()
                .map(|name| MetadataTopic {
                    error_code: 0,
                    name,
                    is_internal: false,
                    partitions: (0..shared.partitions)
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
            let response = MetadataResponse {
                throttle_time_ms: 0,
                brokers: vec![MetadataBroker {
                    node_id: 0,
                    host: addr.ip().to_string(),
                    port: i32::from(addr.port()),
                    rack: None,
                }],
                cluster_id: Some("fake".into()),
                controller_id: 0,
                topics,
            };
            encode_response::<MetadataRequest>(corr, version, &response, &mut out);
        }
        api_key::PRODUCE => {
            let request = ProduceRequest::decode(version, &mut Reader::new(body)).ok()?;
            let mut st = shared.lock();
            st.produce_requests += 1;
            shared.changed.notify_all();
            while st.hold_produce {
                st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            let mut topics = Vec::new();
            for topic in request.topics {
                let mut partitions = Vec::new();
                for data in topic.partitions {
                    let batches = decode_records(&data.records, 64 * 1024 * 1024).ok()?;
                    let log = st.logs.entry((topic.name.clone(), data.index)).or_default();
                    let base_offset = log.len() as i64;
                    for batch in batches {
                        log.extend(batch.records);
                    }
                    partitions.push(ProducePartitionResponse {
                        index: data.index,
                        error_code: 0,
                        base_offset,
                        log_append_time_ms: -1,
                        log_start_offset: 0,
                        error_message: None,
                    });
                }
                topics.push(ProduceTopicResponse {
                    name: topic.name,
                    partitions,
                });
            }
            shared.changed.notify_all();
            drop(st);
            if request.acks != 0 {
                let response = ProduceResponse {
                    topics,
                    throttle_time_ms: 0,
                };
                encode_response::<ProduceRequest>(corr, version, &response, &mut out);
            }
        }
        _ => return None,
    }
    Some(out)
}

/// A loopback address where nothing listens.
pub fn refused_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}
