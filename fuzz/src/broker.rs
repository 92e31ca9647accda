//! The whole-core fuzz target's world: a [`ProducerCore`] driven by a sequence of fuzzed
//! [`Action`]s against a broker that answers each request the core really sent (decoded with
//! the core's own codecs), honestly or with fuzzed fields, corrupted, or with raw garbage.
//!
//! Checked after every input, in the spirit of the simulation's checker:
//! * no panic;
//! * every record `send` accepted gets exactly one outcome (never two, never one for an id
//!   that was not accepted), and `pending_records` counts exactly those still waiting;
//! * `buffered_bytes` never exceeds `buffer.memory` (but for one record held alone), and the heap the run holds (counted by the
//!   crate's allocator) stays within `buffer.memory` plus a fixed bound;
//! * outputs name connections the core opened and has not closed; the timer is in the future;
//! * `close` ends: after it, with every connection failing and time advancing from deadline
//!   to deadline, `Output::Closed` comes, once, last, within the delivery or request timeout
//!   (plus backoff), with every record accounted for.

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use odradek_core::protocol::{
    self, api_key, ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse, ErrorCode,
    FrameDecoder, InitProducerIdRequest, InitProducerIdResponse, MetadataBroker, MetadataPartition,
    MetadataRequest, MetadataResponse, MetadataTopic, ProducePartitionResponse, ProduceRequest,
    ProduceResponse, ProduceTopicResponse, Request, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use odradek_core::record::decode_records;
use odradek_core::sasl::ScramServer;
use odradek_core::{
    Acks, Compression, Config, ConnId, Header, Instant, MessageFormat, Output, ProducerCore,
    Record, RecordId, SaslConfig, SaslMechanism, SecurityProtocol,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

/// The producer's configuration, from the fuzzer's first bytes.
#[derive(Debug, Arbitrary)]
pub struct Setup {
    seed: u64,
    acks: u8,
    idempotence: u8,
    compression: u8,
    format: u8,
    linger_ms: u8,
    batch: u8,
    buffer: u8,
    in_flight: u8,
    retries: u8,
    delivery_s: u8,
    request_s: u8,
    backoff_ms: u8,
    sasl: u8,
    recycle: bool,
}

/// One step of the run.
#[derive(Debug, Arbitrary)]
pub enum Action {
    /// `send` a record to one of three topics.
    Send {
        /// Topic index (modulo 3).
        topic: u8,
        /// An explicit partition, if any.
        partition: Option<u8>,
        /// A key (short), if any.
        key: Option<u8>,
        /// Value length (large ones are refused as too large).
        value_len: u16,
        /// Whether the record carries a header.
        header: bool,
    },
    /// A connection the core asked for opens (the n-th still connecting).
    Connect(u8),
    /// A connection the core asked for fails to open.
    Refuse(u8),
    /// An open connection closes.
    Drop(u8),
    /// The broker answers the oldest request on an open connection, with fuzzed fields, in
    /// one or two pieces.
    Answer {
        /// Which open connection with a request waiting.
        conn: u8,
        /// The answer's fields.
        answer: Answer,
        /// Where to cut the bytes in two, if anywhere.
        split: Option<u16>,
    },
    /// Like `Answer`, with one byte of the frame changed and maybe the frame cut short.
    Corrupt {
        /// Which open connection with a request waiting.
        conn: u8,
        /// The answer's fields.
        answer: Answer,
        /// Which byte.
        at: u16,
        /// XORed into it.
        xor: u8,
        /// Cut the frame (keeping its size prefix) at this length.
        cut: Option<u16>,
    },
    /// Raw bytes on an open connection.
    Garbage {
        /// Which open connection.
        conn: u8,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A well-formed answer to a request that was already answered (a replayed correlation
    /// id).
    Replay(u8),
    /// Time passes.
    Advance(u16),
    /// Time jumps to the core's deadline.
    Timer,
    /// `flush`.
    Flush,
    /// `close`.
    Close,
    /// An honest broker for a few rounds: connects, answers everything, fires timers.
    Heal(u8),
}

/// The fuzzed fields of an answer, read as each request type needs.
#[derive(Debug, Arbitrary)]
pub struct Answer {
    /// Error codes, taken in order wherever an answer has one (past the end: none).
    codes: Vec<u8>,
    /// Shape switches (omit or duplicate entries, unknown partitions, ...).
    shape: u16,
    /// A number for offsets, ids, epochs and leaders.
    num: u32,
    /// `throttle_time_ms`.
    throttle: i16,
}

/// Error codes worth trying, beside none and arbitrary ones.
const CODES: [i16; 27] = [
    -1, 2, 3, 5, 6, 7, 10, 15, 16, 17, 18, 19, 20, 21, 29, 31, 33, 34, 35, 45, 46, 47, 56, 58, 59,
    87, 90,
];

impl Answer {
    /// The next error code: mostly none, then the interesting ones, then anything.
    fn code(&self, i: &mut usize) -> i16 {
        let b = self.codes.get(*i).copied().unwrap_or(0);
        *i += 1;
        match b {
            0..=127 => 0,
            128..=250 => CODES[usize::from(b - 128) % CODES.len()],
            _ => i16::from(b as i8) * 300,
        }
    }

    fn has(&self, bit: u16) -> bool {
        self.shape & (1 << bit) != 0
    }
}

const TOPICS: [&str; 3] = ["t0", "t1", "t2"];
/// Nodes the cluster may name; the producer connects to `b<n>:9092`.
const NODES: i32 = 4;

/// What the broker knows of a request it has not answered yet.
#[derive(Debug)]
struct Pending {
    correlation_id: i32,
    api_key: i16,
    version: i16,
    /// Produce: (topic, partition, records) of each partition in the request.
    produce: Vec<(String, i32, i64)>,
    /// Metadata: the topics asked for (`None`: all).
    topics: Option<Vec<String>>,
    /// SaslAuthenticate: the client's bytes.
    auth: Bytes,
}

#[derive(Debug)]
struct Conn {
    open: bool,
    /// The core's bytes not yet framed.
    out: FrameDecoder,
    pending: VecDeque<Pending>,
    /// Correlation ids already answered (for replays).
    answered: Option<(i32, i16, i16)>,
    scram: Option<ScramServer>,
}

/// The run: the core, the broker, and the books the checks keep.
pub struct World {
    core: ProducerCore,
    now: Instant,
    buffer_memory: usize,
    delivery_timeout: Option<Duration>,
    request_timeout: Duration,
    backoff_max: Duration,
    recycle: bool,
    sasl: Option<(SaslMechanism, &'static str)>,
    conns: BTreeMap<ConnId, Conn>,
    /// Accepted record ids and whether each has had its outcome.
    accepted: HashMap<RecordId, bool>,
    waiting: usize,
    closed: bool,
    /// Offsets per partition, for honest Produce answers.
    log_end: HashMap<(String, i32), i64>,
    producer_id: i64,
    /// Print outputs (`ODRADEK_FUZZ_TRACE`).
    trace: bool,
    /// Heap live when the run started.
    heap_base: usize,
    heap_limit: usize,
}

impl World {
    /// A producer configured from `setup`, or `None` when that configuration is refused.
    pub fn new(setup: &Setup) -> Option<Self> {
        let mut c = Config::new(["b9:9092"]);
        c.acks = [Acks::All, Acks::Leader, Acks::None][usize::from(setup.acks % 3)];
        c.enable_idempotence = [None, Some(true), Some(false)][usize::from(setup.idempotence % 3)];
        c.compression = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ][usize::from(setup.compression % 5)];
        c.message_format = match setup.format % 8 {
            6 => MessageFormat::MessageSetV0,
            7 => MessageFormat::MessageSetV1,
            _ => MessageFormat::Auto,
        };
        c.linger = Duration::from_millis(u64::from(setup.linger_ms % 50));
        c.batch_size = 64 + usize::from(setup.batch) * 64;
        c.max_request_size = 64 * 1024;
        c.message_max_bytes = 16 * 1024;
        c.buffer_memory = 16 * 1024 + usize::from(setup.buffer) * 1024;
        c.max_response_size = 64 * 1024;
        c.max_in_flight_requests_per_connection = 1 + usize::from(setup.in_flight % 5);
        c.retries = u32::from(setup.retries % 6);
        c.delivery_timeout = match setup.delivery_s % 8 {
            0 => None,
            s => Some(Duration::from_secs(u64::from(s) * 5)),
        };
        c.request_timeout = Duration::from_secs(1 + u64::from(setup.request_s % 30));
        c.retry_backoff = Duration::from_millis(1 + u64::from(setup.backoff_ms));
        c.retry_backoff_max = Duration::from_secs(2);
        c.metadata_max_age = Duration::from_secs(60);
        let sasl = match setup.sasl % 8 {
            5 => Some((SaslMechanism::Plain, "pw")),
            6 => Some((SaslMechanism::ScramSha256, "pw")),
            7 => Some((SaslMechanism::ScramSha512, "pw")),
            _ => None,
        };
        if let Some((m, pw)) = sasl {
            c.sasl = Some(SaslConfig::new(m, "user", pw));
            c.security_protocol = SecurityProtocol::SaslPlaintext;
        }
        let now = Instant::from_unix_millis(1_700_000_000_000);
        let buffer_memory = c.buffer_memory;
        let delivery_timeout = c.delivery_timeout;
        let request_timeout = c.request_timeout;
        let backoff_max = c.retry_backoff_max.max(c.retry_backoff);
        let heap_base = crate::live_bytes();
        let core = ProducerCore::new(c, setup.seed, now).ok()?;
        let mut w = World {
            core,
            now,
            buffer_memory,
            delivery_timeout,
            request_timeout,
            backoff_max,
            recycle: setup.recycle,
            sasl,
            conns: BTreeMap::new(),
            accepted: HashMap::new(),
            waiting: 0,
            closed: false,
            log_end: HashMap::new(),
            producer_id: 1000,
            heap_base,
            trace: std::env::var_os("ODRADEK_FUZZ_TRACE").is_some(),
            // The records' buffer, the frames the decoder may hold (a maximum-size response per
            // connection), the metadata a response can describe, and a fixed part.
            heap_limit: 4 * buffer_memory + 8 * 64 * 1024 + 4 * 1024 * 1024,
        };
        w.drain();
        Some(w)
    }

    /// Runs one action, then the checks.
    pub fn act(&mut self, action: &Action) {
        match action {
            Action::Send {
                topic,
                partition,
                key,
                value_len,
                header,
            } => {
                let mut r = Record::new(TOPICS[usize::from(*topic % 3)]).value(vec![
                    b'v';
                    usize::from(
                        *value_len % 20_000
                    )
                ]);
                if let Some(k) = key {
                    r = r.key(vec![*k; usize::from(*k % 8)]);
                }
                if let Some(p) = partition {
                    r = r.partition(i32::from(*p % 5));
                }
                if *header {
                    r = r.header(Header::new("h", "x"));
                }
                if let Ok(id) = self.core.send(r, self.now) {
                    assert!(
                        self.accepted.insert(id, false).is_none(),
                        "record id {id:?} given twice"
                    );
                    self.waiting += 1;
                }
            }
            Action::Connect(n) => {
                if let Some(c) = self.nth(*n, false) {
                    self.conns.get_mut(&c).expect("known").open = true;
                    self.core.handle_connected(c, self.now);
                }
            }
            Action::Refuse(n) => {
                if let Some(c) = self.nth(*n, false) {
                    self.conns.remove(&c);
                    self.core.handle_disconnected(c, self.now);
                }
            }
            Action::Drop(n) => {
                if let Some(c) = self.nth(*n, true) {
                    self.conns.remove(&c);
                    self.core.handle_disconnected(c, self.now);
                }
            }
            Action::Answer {
                conn,
                answer,
                split,
            } => {
                if let Some((c, frame)) = self.answer(*conn, Some(answer)) {
                    let cut = split.map_or(frame.len(), |s| usize::from(s) % (frame.len() + 1));
                    self.core.handle_received(c, &frame[..cut], self.now);
                    self.drain();
                    if cut < frame.len() && self.is_open(c) {
                        self.core.handle_received(c, &frame[cut..], self.now);
                    }
                }
            }
            Action::Corrupt {
                conn,
                answer,
                at,
                xor,
                cut,
            } => {
                if let Some((c, mut frame)) = self.answer(*conn, Some(answer)) {
                    let at = usize::from(*at) % frame.len();
                    frame[at] ^= xor;
                    if let Some(cut) = cut {
                        let keep = (4 + usize::from(*cut)).min(frame.len());
                        let size = (keep - 4) as u32;
                        frame.truncate(keep);
                        frame[..4].copy_from_slice(&size.to_be_bytes());
                    }
                    self.core.handle_received(c, &frame, self.now);
                }
            }
            Action::Garbage { conn, bytes } => {
                if let Some(c) = self.nth(*conn, true) {
                    self.core.handle_received(c, bytes, self.now);
                }
            }
            Action::Replay(n) => {
                if let Some(c) = self.nth(*n, true) {
                    let conn = self.conns.get_mut(&c).expect("known");
                    if let Some((corr, key, version)) = conn.answered {
                        let p = Pending {
                            correlation_id: corr,
                            api_key: key,
                            version,
                            produce: Vec::new(),
                            topics: None,
                            auth: Bytes::new(),
                        };
                        let frame = self.respond(c, &p, None);
                        self.core.handle_received(c, &frame, self.now);
                    }
                }
            }
            Action::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(*ms));
                self.core.handle_timeout(self.now);
            }
            Action::Timer => {
                if let Some((at, _)) = self.core.poll_timeout() {
                    self.now = self.now.max(at);
                    self.core.handle_timeout(self.now);
                }
            }
            Action::Flush => self.core.flush(self.now),
            Action::Close => self.core.close(self.now),
            Action::Heal(n) => {
                for _ in 0..(n % 16) + 1 {
                    if !self.heal_round() {
                        break;
                    }
                }
            }
        }
        self.drain();
    }

    /// One round of an honest broker: connect what is connecting, answer what is waiting,
    /// else fire the timer. Returns whether anything happened.
    fn heal_round(&mut self) -> bool {
        let connecting: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.open)
            .map(|(&id, _)| id)
            .collect();
        for c in &connecting {
            if let Some(conn) = self.conns.get_mut(c) {
                conn.open = true;
                self.core.handle_connected(*c, self.now);
                self.drain();
            }
        }
        let mut answered = false;
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in ids {
            while let Some(p) = self
                .conns
                .get_mut(&c)
                .filter(|c| c.open)
                .and_then(|c| c.pending.pop_front())
            {
                let frame = self.respond(c, &p, None);
                self.core.handle_received(c, &frame, self.now);
                self.drain();
                answered = true;
            }
        }
        if !connecting.is_empty() || answered {
            return true;
        }
        match self.core.poll_timeout() {
            Some((at, _)) => {
                self.now = self.now.max(at);
                self.core.handle_timeout(self.now);
                self.drain();
                true
            }
            None => false,
        }
    }

    /// The n-th connection (modulo their number) that is open, or still connecting.
    fn nth(&self, n: u8, open: bool) -> Option<ConnId> {
        let list: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.open == open)
            .map(|(&id, _)| id)
            .collect();
        (!list.is_empty()).then(|| list[usize::from(n) % list.len()])
    }

    fn is_open(&self, c: ConnId) -> bool {
        self.conns.get(&c).is_some_and(|c| c.open)
    }

    /// Takes the oldest request of the n-th open connection with one waiting, and its answer.
    fn answer(&mut self, n: u8, answer: Option<&Answer>) -> Option<(ConnId, Vec<u8>)> {
        let list: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.open && !c.pending.is_empty())
            .map(|(&id, _)| id)
            .collect();
        if list.is_empty() {
            return None;
        }
        let c = list[usize::from(n) % list.len()];
        let p = self.conns.get_mut(&c)?.pending.pop_front()?;
        let frame = self.respond(c, &p, answer);
        Some((c, frame))
    }

    /// The broker's answer to `p` on `c`: honest when `answer` is `None`, else with its fields.
    fn respond(&mut self, c: ConnId, p: &Pending, answer: Option<&Answer>) -> Vec<u8> {
        if let Some(conn) = self.conns.get_mut(&c) {
            conn.answered = Some((p.correlation_id, p.api_key, p.version));
        }
        let honest = Answer {
            codes: Vec::new(),
            shape: 0,
            num: 0,
            throttle: 0,
        };
        let a = answer.unwrap_or(&honest);
        let mut i = 0;
        let corr = p.correlation_id;
        let v = p.version;
        let mut buf = BytesMut::new();
        match p.api_key {
            api_key::API_VERSIONS => {
                let code = a.code(&mut i);
                let produce_max = if a.has(0) { (a.num % 13) as i16 } else { 12 };
                let mut keys = vec![
                    range(api_key::PRODUCE, 0, produce_max),
                    range(api_key::METADATA, 0, if a.has(1) { 0 } else { 12 }),
                    range(api_key::API_VERSIONS, 0, 3),
                    range(api_key::SASL_HANDSHAKE, 0, 1),
                    range(api_key::SASL_AUTHENTICATE, 0, if a.has(2) { 0 } else { 2 }),
                ];
                if !a.has(3) {
                    keys.push(range(api_key::INIT_PRODUCER_ID, 0, 4));
                }
                if a.has(4) {
                    keys.retain(|k| k.api_key != (a.num >> 8) as i16 % 40);
                }
                let body = ApiVersionsResponse {
                    error_code: code,
                    api_keys: keys,
                    throttle_time_ms: i32::from(a.throttle),
                    ..ApiVersionsResponse::default()
                };
                // Kafka answers an unsupported version in v0.
                let v = if code == ErrorCode::UNSUPPORTED_VERSION.0 {
                    0
                } else {
                    v
                };
                protocol::encode_response::<ApiVersionsRequest>(corr, v, &body, &mut buf);
            }
            api_key::METADATA => {
                let brokers = (0..NODES)
                    .filter(|n| !a.has(*n as u16) || answer.is_none())
                    .map(|n| MetadataBroker {
                        node_id: n,
                        host: format!("b{n}"),
                        port: 9092,
                        rack: None,
                    })
                    .collect();
                let names: Vec<String> = match &p.topics {
                    Some(t) => t.clone(),
                    None => TOPICS.iter().map(|t| t.to_string()).collect(),
                };
                let mut topics = Vec::new();
                for (ti, name) in names.iter().enumerate() {
                    if a.has(4 + (ti as u16 % 3)) {
                        continue; // left out
                    }
                    let count = if a.has(7) {
                        ((a.num >> (ti * 3)) % 6) as i32
                    } else {
                        1 + ti as i32
                    };
                    let partitions = (0..count)
                        .map(|pi| {
                            let leader = if answer.is_some() && a.has(8) {
                                ((a.num >> (pi * 2 + 8)) % 6) as i32 - 1
                            } else {
                                pi % 3
                            };
                            MetadataPartition {
                                error_code: a.code(&mut i),
                                partition_index: if a.has(9) && pi == 0 { count } else { pi },
                                leader_id: leader,
                                leader_epoch: (a.num % 7) as i32,
                                replica_nodes: vec![leader],
                                isr_nodes: vec![leader],
                                offline_replicas: Vec::new(),
                            }
                        })
                        .collect();
                    topics.push(MetadataTopic {
                        error_code: a.code(&mut i),
                        name: name.clone(),
                        is_internal: false,
                        partitions,
                    });
                }
                let body = MetadataResponse {
                    throttle_time_ms: i32::from(a.throttle),
                    brokers,
                    cluster_id: Some("fuzz".into()),
                    controller_id: 0,
                    topics,
                };
                protocol::encode_response::<MetadataRequest>(corr, v, &body, &mut buf);
            }
            api_key::PRODUCE => {
                let mut topics: Vec<ProduceTopicResponse> = Vec::new();
                for (ti, (topic, partition, records)) in p.produce.iter().enumerate() {
                    if a.has(10) && ti == 0 {
                        continue; // an answer that leaves a partition out
                    }
                    let error_code = a.code(&mut i);
                    let end = self.log_end.entry((topic.clone(), *partition)).or_insert(0);
                    let base_offset = if a.has(11) {
                        i64::from(a.num) - 1
                    } else {
                        *end
                    };
                    if error_code == 0 {
                        *end += records;
                    }
                    let part = ProducePartitionResponse {
                        index: if a.has(12) { partition + 1 } else { *partition },
                        error_code,
                        base_offset,
                        log_append_time_ms: if a.has(13) { i64::from(a.num) } else { -1 },
                        log_start_offset: 0,
                        error_message: a.has(14).then(|| "fuzz".to_owned()),
                        // KIP-951 hints and KIP-467 record errors, from the same draws.
                        current_leader: (error_code == 6 || error_code == 74).then(|| {
                            odradek_core::protocol::LeaderIdAndEpoch {
                                leader_id: (a.num % 5) as i32 - 1,
                                leader_epoch: (a.num >> 3) as i32 - 1,
                            }
                        }),
                        record_errors: if error_code == 87 || error_code == 32 {
                            (0..a.num % 4)
                                .map(|k| odradek_core::protocol::RecordError {
                                    batch_index: (a.num >> (k * 4)) as i32 % 6 - 1,
                                    message: a.has(13).then(|| "bad".to_owned()),
                                })
                                .collect()
                        } else {
                            Vec::new()
                        },
                        ..Default::default()
                    };
                    match topics.iter_mut().find(|t| &t.name == topic) {
                        Some(t) if !a.has(15) => t.partitions.push(part),
                        _ => topics.push(ProduceTopicResponse {
                            name: topic.clone(),
                            partitions: vec![part],
                        }),
                    }
                }
                let node_endpoints = topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .filter_map(|p| p.current_leader)
                    .filter(|_| a.has(12))
                    .map(|l| odradek_core::protocol::NodeEndpoint {
                        node_id: l.leader_id,
                        host: format!("hinted-{}", l.leader_id),
                        port: if a.has(11) { -1 } else { 9092 },
                        rack: None,
                    })
                    .collect();
                let body = ProduceResponse {
                    topics,
                    throttle_time_ms: i32::from(a.throttle),
                    node_endpoints,
                };
                protocol::encode_response::<ProduceRequest>(corr, v, &body, &mut buf);
            }
            api_key::INIT_PRODUCER_ID => {
                self.producer_id += 1;
                let body = InitProducerIdResponse {
                    throttle_time_ms: i32::from(a.throttle),
                    error_code: a.code(&mut i),
                    producer_id: if a.has(0) {
                        i64::from(a.num as i32)
                    } else {
                        self.producer_id
                    },
                    producer_epoch: if a.has(1) { (a.num >> 16) as i16 } else { 0 },
                };
                protocol::encode_response::<InitProducerIdRequest>(corr, v, &body, &mut buf);
            }
            api_key::SASL_HANDSHAKE => {
                let mut mechanisms = vec!["PLAIN".to_owned(), "SCRAM-SHA-256".into()];
                mechanisms.push("SCRAM-SHA-512".into());
                if a.has(0) {
                    mechanisms.clear();
                }
                let body = SaslHandshakeResponse {
                    error_code: a.code(&mut i),
                    mechanisms,
                };
                protocol::encode_response::<SaslHandshakeRequest>(corr, v, &body, &mut buf);
            }
            api_key::SASL_AUTHENTICATE => {
                let auth_bytes = self.sasl_answer(c, &p.auth, a);
                let body = SaslAuthenticateResponse {
                    error_code: a.code(&mut i),
                    error_message: a.has(1).then(|| "fuzz".into()),
                    auth_bytes,
                    session_lifetime_ms: if a.has(2) {
                        i64::from(a.num % 100_000)
                    } else {
                        0
                    },
                };
                protocol::encode_response::<SaslAuthenticateRequest>(corr, v, &body, &mut buf);
            }
            other => panic!("the core sent a request with API key {other}"),
        }
        buf.to_vec()
    }

    /// The mechanism's bytes for the client's `auth`: PLAIN needs none; SCRAM gets the test
    /// server's messages (unless the answer garbles them).
    fn sasl_answer(&mut self, c: ConnId, auth: &Bytes, a: &Answer) -> Bytes {
        let Some((mechanism, password)) = self.sasl else {
            return Bytes::new();
        };
        if a.has(3) {
            return Bytes::from(a.num.to_be_bytes().to_vec());
        }
        let Some(conn) = self.conns.get_mut(&c) else {
            return Bytes::new();
        };
        match mechanism {
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => match conn.scram.take() {
                None => {
                    let sha512 = mechanism == SaslMechanism::ScramSha512;
                    match ScramServer::new(sha512, auth, password, "srv", b"salt", 4096) {
                        Some((server, first)) => {
                            conn.scram = Some(server);
                            Bytes::from(first.into_bytes())
                        }
                        None => Bytes::new(),
                    }
                }
                Some(server) => Bytes::from(server.finish(auth).unwrap_or_default().into_bytes()),
            },
            _ => Bytes::new(),
        }
    }

    /// Drains every output and checks it.
    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            assert!(!self.closed, "an output after Closed: {out:?}");
            if self.trace {
                match &out {
                    Output::Delivered(d) => {
                        eprintln!("  delivered {} at {:?}", d.len(), d.base_offset())
                    }
                    Output::Failed { id, error, .. } => eprintln!("  failed {id:?}: {error}"),
                    Output::Transmit { conn, .. } => eprintln!("  transmit on {conn:?}"),
                    other => eprintln!("  {other:?}"),
                }
            }
            match out {
                // Any address: a corrupted Metadata answer may name any host and port.
                Output::Connect { conn, .. } => {
                    let fresh = Conn {
                        open: false,
                        out: FrameDecoder::new(usize::MAX),
                        pending: VecDeque::new(),
                        answered: None,
                        scram: None,
                    };
                    assert!(
                        self.conns.insert(conn, fresh).is_none(),
                        "connection id {conn:?} reused"
                    );
                }
                Output::Transmit { conn, mut data } => {
                    let c = self
                        .conns
                        .get_mut(&conn)
                        .unwrap_or_else(|| panic!("transmit on unknown connection {conn:?}"));
                    assert!(c.open, "transmit on {conn:?} before it opened");
                    let mut written = 0;
                    for chunk in data.drain(..) {
                        written += chunk.len();
                        c.out.push(&chunk);
                    }
                    while let Some(frame) = c.out.next_frame().expect("the core frames requests") {
                        c.pending.extend(decode_request(&frame));
                    }
                    if self.recycle {
                        self.core.recycle(Output::Transmit { conn, data });
                    }
                    // The socket takes every byte at once (an acks=0 request ends here).
                    self.core.handle_written(conn, written, self.now);
                }
                Output::Disconnect { conn } => {
                    if self.trace {
                        eprintln!("  (connections known: {:?})", self.conns.keys());
                    }
                    assert!(
                        self.conns.remove(&conn).is_some(),
                        "disconnect of unknown connection {conn:?}"
                    );
                }
                Output::Delivered(mut batch) => {
                    for d in batch.drain() {
                        self.outcome(d.id);
                    }
                    if self.recycle {
                        self.core.recycle(Output::Delivered(batch));
                    }
                }
                Output::Failed { id, .. } => self.outcome(id),
                Output::Closed => {
                    self.closed = true;
                }
                Output::Transaction { .. } => {}
            }
        }
        self.check();
    }

    fn outcome(&mut self, id: RecordId) {
        let seen = self
            .accepted
            .get_mut(&id)
            .unwrap_or_else(|| panic!("an outcome for {id:?}, which was never accepted"));
        assert!(!*seen, "a second outcome for {id:?}");
        *seen = true;
        self.waiting -= 1;
    }

    fn check(&self) {
        assert_eq!(
            self.core.pending_records(),
            self.waiting,
            "pending_records disagrees with the outcomes seen"
        );
        // The one documented exception (Config::buffer_memory): a record accepted when
        // nothing else was held may pass the budget alone.
        assert!(
            self.core.buffered_bytes() <= self.buffer_memory || self.core.pending_records() == 1,
            "buffered {} bytes > buffer.memory {} with {} records held",
            self.core.buffered_bytes(),
            self.buffer_memory,
            self.core.pending_records()
        );
        let heap = crate::live_bytes().saturating_sub(self.heap_base);
        assert!(
            heap <= self.heap_limit,
            "the run holds {heap} bytes of heap (limit {})",
            self.heap_limit
        );
        if let Some((at, _)) = self.core.poll_timeout() {
            assert!(at > self.now, "a deadline not in the future: busy loop");
        }
        if self.closed {
            assert!(self.core.poll_timeout().is_none(), "a timer after Closed");
        }
    }

    /// Closes the producer and fails every connection until `Closed` comes; checks it comes
    /// in time, once, with every record accounted for.
    pub fn finish(mut self) {
        let start = self.now;
        if self.trace {
            eprintln!("finish: close, then every connection fails");
        }
        if !self.closed {
            self.core.close(self.now);
            self.drain();
        }
        let bound = start
            + self
                .delivery_timeout
                .unwrap_or_default()
                .max(self.request_timeout)
            + self.request_timeout
            + self.backoff_max
            + Duration::from_secs(1);
        for _ in 0..100_000 {
            if self.closed {
                break;
            }
            // One at a time: a disconnect may make the core close others itself.
            let ids: Vec<ConnId> = self.conns.keys().copied().collect();
            for c in ids {
                if self.conns.remove(&c).is_some() {
                    self.core.handle_disconnected(c, self.now);
                    self.drain();
                }
            }
            if self.closed {
                break;
            }
            let (at, why) = self
                .core
                .poll_timeout()
                .expect("closing, records or connections left, and no timer armed");
            self.now = self.now.max(at);
            if self.trace {
                eprintln!(
                    "closing: {:?} timer at {:?}, {} pending",
                    why,
                    self.now,
                    self.core.pending_records()
                );
            }
            assert!(
                self.now <= bound,
                "close started at {start:?} has not ended by {:?} ({why:?} timer; {} records \
                 pending)",
                self.now,
                self.core.pending_records()
            );
            self.core.handle_timeout(self.now);
            self.drain();
        }
        assert!(self.closed, "close never ended");
        assert_eq!(self.waiting, 0, "Closed with records still waiting");
        assert!(
            self.accepted.values().all(|&v| v),
            "a record without an outcome"
        );
    }
}

fn range(api_key: i16, min_version: i16, max_version: i16) -> ApiVersionRange {
    ApiVersionRange {
        api_key,
        min_version,
        max_version,
    }
}

/// What the broker needs to know of one of the core's requests to answer it (`None` for an
/// acks=0 Produce, which gets no answer); the core must only send requests that decode.
fn decode_request(frame: &[u8]) -> Option<Pending> {
    let (h, body) = protocol::decode_request_header(frame).expect("the core's request header");
    let mut p = Pending {
        correlation_id: h.correlation_id,
        api_key: h.api_key,
        version: h.api_version,
        produce: Vec::new(),
        topics: None,
        auth: Bytes::new(),
    };
    let v = h.api_version;
    match h.api_key {
        api_key::PRODUCE => {
            let req: ProduceRequest = decode_body(v, body);
            if req.acks == 0 {
                return None;
            }
            for t in req.topics {
                for part in t.partitions {
                    let n = decode_records(&part.records, usize::MAX)
                        .expect("the core's records decode")
                        .iter()
                        .map(|b| b.records.len() as i64)
                        .sum();
                    p.produce.push((t.name.clone(), part.index, n));
                }
            }
        }
        api_key::METADATA => p.topics = decode_body::<MetadataRequest>(v, body).topics,
        api_key::SASL_AUTHENTICATE => {
            p.auth = decode_body::<SaslAuthenticateRequest>(v, body).auth_bytes;
        }
        api_key::API_VERSIONS => drop(decode_body::<ApiVersionsRequest>(v, body)),
        api_key::INIT_PRODUCER_ID => drop(decode_body::<InitProducerIdRequest>(v, body)),
        api_key::SASL_HANDSHAKE => drop(decode_body::<SaslHandshakeRequest>(v, body)),
        other => panic!("unknown API key {other} from the core"),
    }
    Some(p)
}

fn decode_body<R: Request>(version: i16, body: &[u8]) -> R {
    protocol::decode_request_body::<R>(version, body)
        .unwrap_or_else(|e| panic!("the core's API {} v{version} request: {e}", R::API_KEY))
}
