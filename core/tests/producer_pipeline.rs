//! ProducerCore against a small in-test fake cluster that decodes the core's real request
//! frames with the crate's codecs and answers like a broker. Virtual time only.

use bytes::BytesMut;
use odradek_core::protocol::{
    self, ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse, ErrorCode, FrameDecoder,
    InitProducerIdRequest, InitProducerIdResponse, MetadataBroker, MetadataPartition,
    MetadataRequest, MetadataResponse, MetadataTopic, ProducePartitionResponse, ProduceRequest,
    ProduceResponse, ProduceTopicResponse, Reader, Request,
};
use odradek_core::record::decode_records;
use odradek_core::{
    Acks, Config, ConnId, Instant, Output, ProduceError, ProducerCore, Record, RecordId,
    RecordMetadata, RetryCause, SendErrorKind,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// One partition of the fake cluster.
#[derive(Debug, Clone)]
struct Part {
    leader: i32,
    /// Values appended, in offset order.
    log: Vec<Vec<u8>>,
    /// Idempotence: producer id → (epoch, next sequence, last batches as (base sequence,
    /// base offset)), as a broker's producer state.
    producers: HashMap<i64, ProducerState>,
}

/// A broker's state for one producer id on one partition: epoch, next sequence, and the
/// last five batches as (base sequence, base offset).
type ProducerState = (i16, i32, VecDeque<(i32, i64)>);

/// One batch a broker saw: (producer id, epoch, base sequence, records, error code answered).
type SeenBatch = (i64, i16, i32, usize, i16);

/// A broker's sequence check verdict.
enum Check {
    Append,
    Refuse(i16),
    Duplicate(i64),
}

/// What a broker does with the next Produce for a partition.
#[derive(Debug, Clone)]
enum Fault {
    /// Answer with this error code.
    Error(ErrorCode),
    /// Append, then answer with this error (the ambiguous NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    AppendThenError(ErrorCode),
    /// Leave this partition out of the response.
    Omit,
    /// Append, then answer with this base offset (hostile values).
    BaseOffset(i64),
}

#[derive(Debug)]
struct FakeConn {
    node: i32,
    decoder: FrameDecoder,
}

/// The fake cluster plus the core it drives.
struct Harness {
    core: ProducerCore,
    now: Instant,
    nodes: BTreeSet<i32>,
    /// Nodes that refuse connections.
    down: BTreeSet<i32>,
    topics: BTreeMap<String, Vec<Part>>,
    conns: HashMap<ConnId, FakeConn>,
    faults: HashMap<(String, i32), VecDeque<Fault>>,
    /// Highest Produce version the brokers speak.
    produce_max: i16,
    /// Highest ApiVersions version the brokers speak (above it: UNSUPPORTED_VERSION in v0).
    api_versions_max: i16,
    api_versions_seen: Vec<i16>,
    /// When set, responses to Produce are held instead of sent (timeouts).
    hold_produce: bool,
    /// Raw bytes to inject instead of the next Produce response.
    corrupt_next_produce: Option<Vec<u8>>,
    delivered: BTreeMap<RecordId, (RecordMetadata, Record)>,
    failed: BTreeMap<RecordId, (ProduceError, Record)>,
    outcomes: usize,
    closed: usize,
    after_closed: usize,
    connects: usize,
    disconnects: usize,
    produce_requests: usize,
    produce_versions: BTreeSet<i16>,
    record_formats: BTreeSet<u8>,
    /// Whether the brokers speak InitProducerId (and check sequences).
    idempotent: bool,
    next_producer_id: i64,
    /// InitProducerId requests seen: (producer id, epoch) asked for.
    init_requests: Vec<(i64, i16)>,
    /// Error code for the next InitProducerId answers (then 0).
    init_errors: VecDeque<i16>,
    /// The epoch InitProducerId grants with a fresh id (Kafka: 0; a test may start near
    /// the epoch's end).
    init_epoch: i16,
    /// Per (topic, partition), every batch a broker saw, in arrival order.
    seen: BTreeMap<(String, i32), Vec<SeenBatch>>,
    /// When set, Produce answers are queued in `deferred` instead of sent.
    defer: bool,
    deferred: VecDeque<(ConnId, Vec<u8>)>,
    /// Batches a broker takes at most this many records (`MESSAGE_TOO_LARGE` above).
    max_batch_records: usize,
}

fn addr_node(host: &str) -> i32 {
    host.trim_start_matches('b').parse().expect("fake host")
}

impl Harness {
    fn new(config: Config, nodes: &[i32], topics: &[(&str, &[i32])]) -> Self {
        let now = Instant::from_unix_millis(1_700_000_000_000);
        let core = ProducerCore::new(config, 7, now).expect("config");
        Harness {
            core,
            now,
            nodes: nodes.iter().copied().collect(),
            down: BTreeSet::new(),
            topics: topics
                .iter()
                .map(|(name, leaders)| {
                    let parts = leaders
                        .iter()
                        .map(|&leader| Part {
                            leader,
                            log: Vec::new(),
                            producers: HashMap::new(),
                        })
                        .collect();
                    (name.to_string(), parts)
                })
                .collect(),
            conns: HashMap::new(),
            faults: HashMap::new(),
            produce_max: 12,
            api_versions_max: 3,
            api_versions_seen: Vec::new(),
            hold_produce: false,
            corrupt_next_produce: None,
            delivered: BTreeMap::new(),
            failed: BTreeMap::new(),
            outcomes: 0,
            closed: 0,
            after_closed: 0,
            connects: 0,
            disconnects: 0,
            produce_requests: 0,
            produce_versions: BTreeSet::new(),
            record_formats: BTreeSet::new(),
            idempotent: false,
            next_producer_id: 1000,
            init_requests: Vec::new(),
            init_errors: VecDeque::new(),
            init_epoch: 0,
            seen: BTreeMap::new(),
            defer: false,
            deferred: VecDeque::new(),
            max_batch_records: usize::MAX,
        }
    }

    /// A cluster whose brokers speak InitProducerId and check sequences like Kafka's.
    fn idempotent(config: Config, nodes: &[i32], topics: &[(&str, &[i32])]) -> Self {
        let mut h = Harness::new(config, nodes, topics);
        h.idempotent = true;
        h
    }

    /// Answers the oldest deferred Produce response; `false` when none is left.
    fn release_one(&mut self) -> bool {
        let Some((conn, resp)) = self.deferred.pop_front() else {
            return false;
        };
        if self.conns.contains_key(&conn) {
            self.core.handle_received(conn, &resp, self.now);
        }
        self.drain();
        true
    }

    /// Every connection is lost (their deferred answers with them, if cleared first).
    fn drop_all_conns(&mut self) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in conns {
            self.conns.remove(&c);
            self.core.handle_disconnected(c, self.now);
        }
    }

    /// The broker forgets every producer's state for a partition (UNKNOWN_PRODUCER_ID next).
    fn lose_producer_state(&mut self, topic: &str, partition: usize) {
        self.topics.get_mut(topic).expect("topic")[partition]
            .producers
            .clear();
    }

    /// Accepted batches of a partition: (producer id, epoch, base sequence, records).
    fn accepted(&self, topic: &str, partition: i32) -> Vec<(i64, i16, i32, usize)> {
        self.seen
            .get(&(topic.to_owned(), partition))
            .map(|v| {
                v.iter()
                    .filter(|b| b.4 == 0)
                    .map(|b| (b.0, b.1, b.2, b.3))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn config() -> Config {
        let mut c = Config::new(["b1:9092"]);
        c.linger = Duration::from_millis(5);
        c.retry_backoff = Duration::from_millis(100);
        c.request_timeout = Duration::from_secs(5);
        c.retries = 5;
        c
    }

    fn send(&mut self, topic: &str, partition: Option<i32>, value: &str) -> RecordId {
        let mut r = Record::new(topic).value(value.to_owned());
        r.partition = partition;
        let id = self.core.send(r, self.now).expect("accepted");
        self.drain();
        id
    }

    fn fault(&mut self, topic: &str, partition: i32, f: Fault) {
        self.faults
            .entry((topic.to_owned(), partition))
            .or_default()
            .push_back(f);
    }

    /// Drains outputs, answering requests at once.
    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            if self.closed > 0 {
                self.after_closed += 1;
            }
            match out {
                Output::Connect { conn, address } => {
                    self.connects += 1;
                    let node = addr_node(&address.host);
                    if self.down.contains(&node) || !self.nodes.contains(&node) {
                        self.core.handle_disconnected(conn, self.now);
                    } else {
                        self.conns.insert(
                            conn,
                            FakeConn {
                                node,
                                decoder: FrameDecoder::new(1 << 24),
                            },
                        );
                        self.core.handle_connected(conn, self.now);
                    }
                }
                Output::Transmit { conn, data } => {
                    let bytes: Vec<u8> = data.iter().flat_map(|b| b.iter().copied()).collect();
                    self.on_bytes(conn, &bytes);
                }
                Output::Disconnect { conn } => {
                    self.disconnects += 1;
                    self.conns.remove(&conn);
                }
                Output::Delivered {
                    id,
                    metadata,
                    record,
                } => {
                    self.outcomes += 1;
                    assert!(
                        self.delivered.insert(id, (metadata, record)).is_none(),
                        "two outcomes for {id:?}"
                    );
                    assert!(!self.failed.contains_key(&id), "two outcomes for {id:?}");
                }
                Output::Failed { id, error, record } => {
                    self.outcomes += 1;
                    assert!(
                        self.failed.insert(id, (error, record)).is_none(),
                        "two outcomes for {id:?}"
                    );
                    assert!(!self.delivered.contains_key(&id), "two outcomes for {id:?}");
                }
                Output::Closed => self.closed += 1,
            }
        }
    }

    fn on_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(fc) = self.conns.get_mut(&conn) else {
            panic!("transmit on unknown connection {conn:?}");
        };
        fc.decoder.push(bytes);
        let node = fc.node;
        let mut frames = Vec::new();
        while let Some(f) = fc.decoder.next_frame().expect("request framing") {
            frames.push(f);
        }
        for frame in frames {
            let produce = frame.len() > 6 && frame[0..2] == [0, 0];
            if let Some(resp) = self.answer(node, &frame) {
                if self.defer && produce {
                    self.deferred.push_back((conn, resp));
                    continue;
                }
                if self.conns.contains_key(&conn) {
                    self.core.handle_received(conn, &resp, self.now);
                }
            }
        }
    }

    fn answer(&mut self, node: i32, frame: &[u8]) -> Option<Vec<u8>> {
        let (header, body) = protocol::decode_request_header(frame).expect("request header");
        let v = header.api_version;
        let corr = header.correlation_id;
        let mut out = BytesMut::new();
        match header.api_key {
            18 => {
                self.api_versions_seen.push(v);
                let unsupported = v > self.api_versions_max;
                let resp = ApiVersionsResponse {
                    error_code: if unsupported { 35 } else { 0 },
                    api_keys: vec![
                        ApiVersionRange {
                            api_key: 0,
                            min_version: 0,
                            max_version: self.produce_max,
                        },
                        ApiVersionRange {
                            api_key: 3,
                            min_version: 0,
                            max_version: 12,
                        },
                        ApiVersionRange {
                            api_key: 18,
                            min_version: 0,
                            max_version: 3,
                        },
                    ]
                    .into_iter()
                    .chain(self.idempotent.then_some(ApiVersionRange {
                        api_key: 22,
                        min_version: 0,
                        max_version: 4,
                    }))
                    .collect(),
                    throttle_time_ms: 0,
                };
                let v = if unsupported { 0 } else { v };
                protocol::encode_response::<ApiVersionsRequest>(corr, v, &resp, &mut out);
            }
            3 => {
                let req =
                    MetadataRequest::decode(v, &mut Reader::new(body)).expect("metadata request");
                let brokers = self
                    .nodes
                    .iter()
                    .map(|&n| MetadataBroker {
                        node_id: n,
                        host: format!("b{n}"),
                        port: 9092,
                        rack: None,
                    })
                    .collect();
                let names = req.topics.unwrap_or_default();
                let topics = names
                    .iter()
                    .map(|name| match self.topics.get(name) {
                        Some(parts) => MetadataTopic {
                            error_code: 0,
                            name: name.clone(),
                            is_internal: false,
                            partitions: parts
                                .iter()
                                .enumerate()
                                .map(|(i, p)| MetadataPartition {
                                    error_code: 0,
                                    partition_index: i as i32,
                                    leader_id: p.leader,
                                    leader_epoch: 0,
                                    replica_nodes: vec![p.leader],
                                    isr_nodes: vec![p.leader],
                                    offline_replicas: vec![],
                                })
                                .collect(),
                        },
                        None => MetadataTopic {
                            error_code: 3,
                            name: name.clone(),
                            is_internal: false,
                            partitions: vec![],
                        },
                    })
                    .collect();
                let resp = MetadataResponse {
                    throttle_time_ms: 0,
                    brokers,
                    cluster_id: Some("fake".into()),
                    controller_id: 1,
                    topics,
                };
                protocol::encode_response::<MetadataRequest>(corr, v, &resp, &mut out);
            }
            0 => {
                self.produce_requests += 1;
                self.produce_versions.insert(v);
                let req =
                    ProduceRequest::decode(v, &mut Reader::new(body)).expect("produce request");
                let mut topics = Vec::new();
                for td in &req.topics {
                    let mut parts = Vec::new();
                    for pd in &td.partitions {
                        let key = (td.name.clone(), pd.index);
                        let fault = self.faults.get_mut(&key).and_then(|q| q.pop_front());
                        let batches = decode_records(&pd.records, 1 << 24).expect("records");
                        for b in &batches {
                            self.record_formats.insert(match b.format {
                                odradek_core::record::RecordFormat::V0 => 0,
                                odradek_core::record::RecordFormat::V1 => 1,
                                odradek_core::record::RecordFormat::V2 => 2,
                            });
                        }
                        let part =
                            &mut self.topics.get_mut(&td.name).expect("topic")[pd.index as usize];
                        let mut code = 0;
                        let mut base = -1;
                        let count: usize = batches.iter().map(|b| b.records.len()).sum();
                        let (pid, epoch, seq) = batches.first().map_or((-1, -1, -1), |b| {
                            (b.producer_id, b.producer_epoch, b.base_sequence)
                        });
                        // Kafka's producer-state check, before anything else.
                        let check = if pid < 0 || !self.idempotent {
                            Check::Append
                        } else {
                            match part.producers.get(&pid) {
                                None if seq != 0 => Check::Refuse(ErrorCode::UNKNOWN_PRODUCER_ID.0),
                                None => Check::Append,
                                Some((e, _, _)) if epoch < *e => {
                                    Check::Refuse(ErrorCode::INVALID_PRODUCER_EPOCH.0)
                                }
                                Some((e, _, _)) if epoch > *e && seq != 0 => {
                                    Check::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0)
                                }
                                Some((e, _, _)) if epoch > *e => Check::Append,
                                Some((_, next, last)) => {
                                    if let Some((_, off)) = last.iter().find(|(s, _)| *s == seq) {
                                        Check::Duplicate(*off)
                                    } else if seq == *next {
                                        Check::Append
                                    } else {
                                        Check::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0)
                                    }
                                }
                            }
                        };
                        let too_large = count > self.max_batch_records;
                        let mut appended_anyway = false;
                        let idempotent = self.idempotent;
                        let append = |part: &mut Part| {
                            let base = part.log.len() as i64;
                            for b in &batches {
                                for r in &b.records {
                                    part.log.push(r.value.clone().unwrap_or_default().to_vec());
                                }
                            }
                            base
                        };
                        let append = |part: &mut Part| {
                            let base = append(part);
                            if pid >= 0 && idempotent {
                                let st = part.producers.entry(pid).or_insert((
                                    epoch,
                                    0,
                                    VecDeque::new(),
                                ));
                                if st.0 != epoch {
                                    *st = (epoch, 0, VecDeque::new());
                                }
                                st.1 = seq + count as i32;
                                st.2.push_back((seq, base));
                                if st.2.len() > 5 {
                                    st.2.pop_front();
                                }
                            }
                            base
                        };
                        match (fault, check) {
                            (Some(Fault::Omit), _) => continue,
                            (Some(Fault::Error(e)), _) => code = e.0,
                            _ if part.leader != node => code = ErrorCode::NOT_LEADER_OR_FOLLOWER.0,
                            (_, Check::Duplicate(off)) => {
                                base = off;
                                // Answered as a success, seen as a duplicate.
                                self.seen.entry(key.clone()).or_default().push((
                                    pid,
                                    epoch,
                                    seq,
                                    count,
                                    ErrorCode::DUPLICATE_SEQUENCE_NUMBER.0,
                                ));
                                parts.push(ProducePartitionResponse {
                                    index: pd.index,
                                    error_code: 0,
                                    base_offset: base,
                                    log_append_time_ms: -1,
                                    log_start_offset: 0,
                                    error_message: None,
                                });
                                continue;
                            }
                            (_, Check::Refuse(c)) => code = c,
                            _ if too_large => code = ErrorCode::MESSAGE_TOO_LARGE.0,
                            (Some(Fault::AppendThenError(e)), _) => {
                                append(part);
                                code = e.0;
                                appended_anyway = true;
                            }
                            (Some(Fault::BaseOffset(b)), _) => {
                                append(part);
                                base = b;
                            }
                            (None, _) => base = append(part),
                        }
                        self.seen.entry(key.clone()).or_default().push((
                            pid,
                            epoch,
                            seq,
                            count,
                            if appended_anyway { 0 } else { code },
                        ));
                        parts.push(ProducePartitionResponse {
                            index: pd.index,
                            error_code: code,
                            base_offset: base,
                            log_append_time_ms: -1,
                            log_start_offset: 0,
                            error_message: None,
                        });
                    }
                    topics.push(ProduceTopicResponse {
                        name: td.name.clone(),
                        partitions: parts,
                    });
                }
                if req.acks == 0 || self.hold_produce {
                    return None;
                }
                if let Some(raw) = self.corrupt_next_produce.take() {
                    return Some(raw);
                }
                let resp = ProduceResponse {
                    topics,
                    throttle_time_ms: 0,
                };
                protocol::encode_response::<ProduceRequest>(corr, v, &resp, &mut out);
            }
            22 => {
                let req = InitProducerIdRequest::decode(v, &mut Reader::new(body))
                    .expect("init producer id request");
                self.init_requests
                    .push((req.producer_id, req.producer_epoch));
                let code = self.init_errors.pop_front().unwrap_or(0);
                // Non-transactional, as Kafka answers it: always a fresh id at epoch 0.
                let (pid, epoch) = if code != 0 {
                    (-1, -1)
                } else {
                    self.next_producer_id += 1;
                    (self.next_producer_id, self.init_epoch)
                };
                let resp = InitProducerIdResponse {
                    throttle_time_ms: 0,
                    error_code: code,
                    producer_id: pid,
                    producer_epoch: epoch,
                };
                protocol::encode_response::<InitProducerIdRequest>(corr, v, &resp, &mut out);
            }
            other => panic!("unexpected api key {other}"),
        }
        Some(out.to_vec())
    }

    /// Jumps virtual time to the next deadline and fires it; `false` when none is armed.
    fn tick(&mut self) -> bool {
        self.drain();
        let Some((at, _why)) = self.core.poll_timeout() else {
            return false;
        };
        assert!(at > self.now, "deadline not in the future: busy loop");
        self.now = at;
        self.core.handle_timeout(self.now);
        self.drain();
        true
    }

    /// Runs until every record has its outcome (bounded).
    fn settle(&mut self) {
        for _ in 0..10_000 {
            self.drain();
            if self.core.pending_records() == 0 {
                return;
            }
            if !self.tick() {
                break;
            }
        }
        assert_eq!(
            self.core.pending_records(),
            0,
            "records left without outcome"
        );
    }

    fn log(&self, topic: &str, partition: usize) -> Vec<String> {
        self.topics[topic][partition]
            .log
            .iter()
            .map(|v| String::from_utf8(v.clone()).expect("utf8"))
            .collect()
    }
}

fn values(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn happy_path_bootstrap_negotiate_metadata_produce_with_offsets() {
    let mut h = Harness::new(Harness::config(), &[1, 2], &[("t", &[1, 2])]);
    h.drain();
    let vals = values(10, "v");
    let mut ids = Vec::new();
    for (i, v) in vals.iter().enumerate() {
        ids.push(h.send("t", Some((i % 2) as i32), v));
    }
    h.settle();
    assert_eq!(h.delivered.len(), 10);
    assert!(h.failed.is_empty());
    for (i, id) in ids.iter().enumerate() {
        let (md, rec) = &h.delivered[id];
        assert_eq!(md.partition, (i % 2) as i32);
        assert_eq!(
            md.offset,
            (i / 2) as i64,
            "offset = base + index within batch"
        );
        assert_eq!(md.timestamp, 1_700_000_000_000);
        assert_eq!(rec.value.as_deref(), Some(vals[i].as_bytes()));
    }
    assert_eq!(h.log("t", 0), vec!["v-0", "v-2", "v-4", "v-6", "v-8"]);
    assert_eq!(h.produce_versions, BTreeSet::from([12]));
    assert_eq!(h.record_formats, BTreeSet::from([2]));
    assert_eq!(h.core.buffered_bytes(), 0);
}

#[test]
fn linger_timer_fires_and_seals_the_batch() {
    let mut config = Harness::config();
    config.linger = Duration::from_millis(50);
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    // Get metadata and the leader connection established first.
    h.send("t", Some(0), "warm");
    h.settle();
    let start = h.now;
    let requests = h.produce_requests;
    h.send("t", Some(0), "a");
    h.send("t", Some(0), "b");
    assert_eq!(h.produce_requests, requests, "nothing sent before linger");
    let (at, why) = h.core.poll_timeout().expect("linger armed");
    assert_eq!(why, odradek_core::TimeoutReason::Linger);
    assert_eq!(at, start + Duration::from_millis(50));
    h.settle();
    assert_eq!(h.produce_requests, requests + 1, "one batch for both");
    assert_eq!(h.log("t", 0), vec!["warm", "a", "b"]);
}

#[test]
fn batch_size_seals_without_waiting_for_linger() {
    let mut config = Harness::config();
    config.linger = Duration::from_secs(60);
    config.batch_num_messages = 3;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "x");
    h.core.flush(h.now);
    h.settle();
    let requests = h.produce_requests;
    for v in ["a", "b", "c"] {
        h.send("t", Some(0), v);
    }
    h.drain();
    assert_eq!(h.produce_requests, requests + 1, "sealed at 3 records");
    assert_eq!(h.log("t", 0), vec!["x", "a", "b", "c"]);
    let mut config = Harness::config();
    config.linger = Duration::from_secs(60);
    config.batch_size = 200;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.send("t", Some(0), "x");
    h.core.flush(h.now);
    h.settle();
    let requests = h.produce_requests;
    let big = "z".repeat(60);
    h.send("t", Some(0), &big);
    h.drain();
    assert_eq!(h.produce_requests, requests, "not full yet");
    h.send("t", Some(0), &big);
    h.drain();
    assert_eq!(
        h.produce_requests,
        requests + 1,
        "first batch sealed by size"
    );
}

#[test]
fn not_leader_refreshes_metadata_and_resends_to_new_leader_in_order() {
    let mut h = Harness::new(Harness::config(), &[1, 2], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "v-0");
    h.settle();
    // Leadership moves to node 2; node 1 answers NOT_LEADER_OR_FOLLOWER by itself.
    h.topics.get_mut("t").expect("t")[0].leader = 2;
    let vals = values(30, "w");
    for (i, v) in vals.iter().enumerate() {
        h.send("t", Some(0), v);
        if i % 7 == 0 {
            h.tick();
        }
    }
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    let mut expected = vec!["v-0".to_owned()];
    expected.extend(vals);
    assert_eq!(
        h.log("t", 0),
        expected,
        "send order kept across the leader move"
    );
    let offsets: Vec<i64> = h.delivered.values().map(|(m, _)| m.offset).collect();
    assert_eq!(offsets, (0..31).collect::<Vec<_>>());
}

#[test]
fn retriable_errors_keep_order_with_records_sent_during_backoff() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    h.fault("t", 0, Fault::Error(ErrorCode::REQUEST_TIMED_OUT));
    let vals = values(40, "r");
    for (i, v) in vals.iter().enumerate() {
        h.send("t", Some(0), v);
        if i % 5 == 0 {
            h.tick();
        }
    }
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(h.log("t", 0), vals);
}

#[test]
fn retries_exhausted_fail_with_the_last_cause() {
    let mut config = Harness::config();
    config.retries = 2;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    for _ in 0..3 {
        h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    }
    let id = h.send("t", Some(0), "doomed");
    h.settle();
    assert_eq!(
        h.failed[&id].0,
        ProduceError::RetriesExhausted(RetryCause::Broker(ErrorCode::NOT_ENOUGH_REPLICAS))
    );
    assert_eq!(h.produce_requests, 3, "first try plus two retries");
    // The partition works again afterwards.
    let ok = h.send("t", Some(0), "fine");
    h.settle();
    assert_eq!(h.delivered[&ok].0.offset, 0);
}

#[test]
fn non_retriable_error_fails_the_batch_at_once() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault("t", 0, Fault::Error(ErrorCode::INVALID_RECORD));
    let id = h.send("t", Some(0), "bad");
    h.settle();
    assert_eq!(
        h.failed[&id].0,
        ProduceError::Broker(ErrorCode::INVALID_RECORD)
    );
    assert_eq!(h.produce_requests, 1);
}

#[test]
fn missing_partition_in_response_is_retried() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault("t", 0, Fault::Omit);
    let id = h.send("t", Some(0), "x");
    h.settle();
    assert_eq!(h.delivered[&id].0.offset, 0);
    assert_eq!(h.produce_requests, 2);
}

#[test]
fn garbage_response_drops_connection_and_retries_without_loss() {
    for raw in [
        vec![0, 0, 0, 2, 0xff], // truncated frame then nothing: ok until more; add garbage below
        vec![0, 0, 0, 4, 0x7f, 0, 0, 1], // unknown correlation id
        vec![0x7f, 0xff, 0xff, 0xff], // oversized frame
        vec![0xff, 0xff, 0xff, 0xff], // negative size
        vec![0, 0, 0, 1, 0],    // too short for a correlation id
    ] {
        let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
        h.drain();
        h.send("t", Some(0), "a");
        h.settle();
        let disconnects = h.disconnects;
        // A truncated frame followed by a disconnect is the same story.
        let truncated = raw.len() == 5 && raw[3] == 2;
        h.corrupt_next_produce = Some(raw.clone());
        let id = h.send("t", Some(0), "b");
        h.core.flush(h.now);
        h.drain();
        if truncated {
            let conn = *h.conns.keys().max().expect("conn");
            h.conns.remove(&conn);
            h.core.handle_disconnected(conn, h.now);
        }
        h.settle();
        assert!(
            truncated || h.disconnects > disconnects,
            "{raw:?}: connection dropped"
        );
        assert!(
            h.delivered.contains_key(&id),
            "{raw:?}: retried and delivered"
        );
        // The first append went through before the bad answer: at-least-once, order kept.
        let log = h.log("t", 0);
        assert_eq!(log.first().map(String::as_str), Some("a"));
        assert_eq!(log.last().map(String::as_str), Some("b"));
    }
}

#[test]
fn request_timeout_drops_connection_and_retries() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "a");
    h.settle();
    h.hold_produce = true;
    let id = h.send("t", Some(0), "b");
    h.core.flush(h.now);
    h.drain();
    let before = h.disconnects;
    h.tick(); // request timeout
    assert!(h.disconnects > before);
    h.hold_produce = false;
    h.settle();
    assert!(h.delivered.contains_key(&id));
}

#[test]
fn acks_zero_delivers_on_transmit_with_offset_minus_one() {
    let mut config = Harness::config();
    config.acks = Acks::None;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    let a = h.send("t", Some(0), "a");
    let b = h.send("t", Some(0), "b");
    h.settle();
    assert_eq!(h.delivered[&a].0.offset, -1);
    assert_eq!(h.delivered[&b].0.offset, -1);
    assert_eq!(h.log("t", 0), vec!["a", "b"]);
}

#[test]
fn refusals_hand_the_record_back_and_change_nothing() {
    let mut config = Harness::config();
    config.message_max_bytes = 2000;
    config.buffer_memory = 4000;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    let check = |h: &mut Harness, r: Record, want: fn(&SendErrorKind) -> bool| {
        let pending = h.core.pending_records();
        let bytes = h.core.buffered_bytes();
        let err = h.core.send(r.clone(), h.now).expect_err("refused");
        assert!(want(&err.kind), "{:?}", err.kind);
        assert_eq!(err.record, r);
        assert_eq!(h.core.pending_records(), pending);
        assert_eq!(h.core.buffered_bytes(), bytes);
        assert!(h.core.poll_output().is_none());
    };
    let big = Record::new("t").value(vec![0u8; 3000]);
    check(&mut h, big, |k| {
        matches!(k, SendErrorKind::RecordTooLarge { .. })
    });
    for bad in ["", ".", "..", "a b", &"x".repeat(250)] {
        check(&mut h, Record::new(bad), |k| {
            matches!(k, SendErrorKind::InvalidTopic { .. })
        });
    }
    check(&mut h, Record::new("t").partition(-1), |k| {
        matches!(k, SendErrorKind::InvalidPartition(-1))
    });
    // Fill the buffer: the broker holds its answers, so nothing is released.
    h.hold_produce = true;
    let mut accepted = 0;
    loop {
        match h
            .core
            .send(Record::new("t").partition(0).value(vec![1u8; 1500]), h.now)
        {
            Ok(_) => accepted += 1,
            Err(e) => {
                assert_eq!(e.kind, SendErrorKind::BufferFull);
                break;
            }
        }
        assert!(accepted < 10);
    }
    h.drain();
    h.hold_produce = false;
    check(&mut h, Record::new("t").value(vec![1u8; 1500]), |k| {
        matches!(k, SendErrorKind::BufferFull)
    });
    h.core.close(h.now);
    check(&mut h, Record::new("t").value("x"), |k| {
        matches!(k, SendErrorKind::Closed)
    });
    h.settle();
    assert_eq!(h.delivered.len(), accepted);
    assert_eq!(h.closed, 1);
}

#[test]
fn close_delivers_everything_then_emits_closed_last() {
    let mut config = Harness::config();
    config.linger = Duration::from_secs(30);
    let mut h = Harness::new(config, &[1, 2], &[("t", &[1, 2]), ("u", &[2])]);
    h.drain();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(h.send(if i % 3 == 0 { "u" } else { "t" }, None, &format!("c-{i}")));
    }
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    h.core.close(h.now);
    assert!(h.core.is_closing());
    h.settle();
    for _ in 0..10 {
        h.tick();
    }
    assert_eq!(h.delivered.len(), 20);
    assert_eq!(h.closed, 1, "Closed exactly once");
    assert_eq!(h.after_closed, 0, "nothing after Closed");
    assert!(h.conns.is_empty(), "every connection disconnected");
    assert!(h.core.poll_timeout().is_none());
}

#[test]
fn unknown_topic_fails_after_metadata_retries() {
    let mut config = Harness::config();
    config.retries = 2;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    let id = h.send("nope", None, "x");
    h.settle();
    assert_eq!(h.failed[&id].0, ProduceError::UnknownTopic("nope".into()));
    let id = h.send("t", Some(5), "x");
    h.settle();
    assert!(matches!(
        h.failed[&id].0,
        ProduceError::PartitionOutOfRange {
            partition: 5,
            count: 1,
            ..
        }
    ));
}

#[test]
fn topic_created_while_waiting_is_found_by_metadata_retry() {
    let mut h = Harness::new(Harness::config(), &[1], &[]);
    h.drain();
    let id = h.send("late", Some(0), "x");
    h.tick();
    h.topics.insert(
        "late".into(),
        vec![Part {
            leader: 1,
            log: vec![],
            producers: HashMap::new(),
        }],
    );
    h.settle();
    assert_eq!(h.delivered[&id].0.offset, 0);
}

#[test]
fn broker_down_then_delivery_timeout() {
    let mut config = Harness::config();
    config.delivery_timeout = Some(Duration::from_secs(3));
    let mut h = Harness::new(config, &[1, 2], &[("t", &[2])]);
    h.down.insert(2);
    h.drain();
    let id = h.send("t", Some(0), "x");
    h.settle();
    assert_eq!(h.failed[&id].0, ProduceError::DeliveryTimeout);
    assert!(h.now >= Instant::from_unix_millis(1_700_000_003_000));
}

#[test]
fn ambiguous_append_then_error_is_retried_and_in_flight_never_times_out_early() {
    let mut config = Harness::config();
    config.delivery_timeout = Some(Duration::from_secs(2));
    config.request_timeout = Duration::from_secs(10);
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "a");
    h.settle();
    h.hold_produce = true;
    let id = h.send("t", Some(0), "b");
    h.core.flush(h.now);
    h.drain();
    // Past the delivery timeout, the batch is still in flight: no outcome yet.
    h.now += Duration::from_secs(3);
    h.core.handle_timeout(h.now);
    h.drain();
    assert!(!h.failed.contains_key(&id) && !h.delivered.contains_key(&id));
    h.hold_produce = false;
    h.settle();
    assert_eq!(h.failed[&id].0, ProduceError::DeliveryTimeout);
}

#[test]
fn legacy_broker_gets_legacy_format_and_modern_one_never_below_v3() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.produce_max = 2;
    h.drain();
    h.send("t", Some(0), "old");
    h.settle();
    assert_eq!(h.produce_versions, BTreeSet::from([2]));
    assert_eq!(h.record_formats, BTreeSet::from([1]));
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.produce_max = 3;
    h.drain();
    h.send("t", Some(0), "new");
    h.settle();
    assert_eq!(h.produce_versions, BTreeSet::from([3]));
    assert_eq!(h.record_formats, BTreeSet::from([2]));
}

#[test]
fn append_then_error_is_retried_at_least_once_in_order() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault(
        "t",
        0,
        Fault::AppendThenError(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
    );
    let a = h.send("t", Some(0), "a");
    h.tick();
    let b = h.send("t", Some(0), "b");
    h.settle();
    // Without idempotence the retry duplicates "a", but "b" never overtakes it.
    assert_eq!(h.log("t", 0), vec!["a", "a", "b"]);
    assert_eq!(h.delivered[&a].0.offset, 1);
    assert_eq!(h.delivered[&b].0.offset, 2);
}

#[test]
fn api_versions_falls_back_to_v0_on_unsupported_version() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.api_versions_max = 2;
    h.drain();
    let id = h.send("t", Some(0), "x");
    h.settle();
    assert_eq!(h.delivered[&id].0.offset, 0);
    // Bootstrap and leader connection: each tries v3, then v0.
    assert_eq!(h.api_versions_seen, vec![3, 0, 3, 0]);
    assert_eq!(h.produce_versions, BTreeSet::from([12]));
}

#[test]
fn one_batch_per_partition_in_flight_while_other_partitions_pipeline() {
    let mut config = Harness::config();
    config.batch_num_messages = 1;
    let mut h = Harness::new(config, &[1], &[("t", &[1, 1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    let before = h.produce_requests;
    h.hold_produce = true;
    for i in 0..4 {
        h.send("t", Some(0), &format!("p0-{i}"));
    }
    h.drain();
    assert_eq!(
        h.produce_requests,
        before + 1,
        "partition 0: one batch in flight"
    );
    h.send("t", Some(1), "p1-0");
    h.drain();
    assert_eq!(
        h.produce_requests,
        before + 2,
        "partition 1 pipelines beside it"
    );
    h.hold_produce = false;
    h.settle();
    // The held answer was lost: request timeout, retry (a duplicate, no idempotence), order kept.
    assert_eq!(
        h.log("t", 0),
        ["warm", "p0-0", "p0-0", "p0-1", "p0-2", "p0-3"]
    );
}

#[test]
fn zstd_on_a_broker_without_produce_v7_fails_with_encoding() {
    let mut config = Harness::config();
    config.compression = odradek_core::Compression::Zstd;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.produce_max = 6;
    h.drain();
    let id = h.send("t", Some(0), "x");
    h.settle();
    assert!(matches!(h.failed[&id].0, ProduceError::Encoding(_)));
}

#[test]
fn send_after_backoff_ran_out_but_before_the_timer_still_queues_behind_retries() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    h.send("t", Some(0), "a");
    h.core.flush(h.now);
    h.drain();
    // The retry backoff (100 ms) is over, but the driver sends before its timer fires.
    h.now += Duration::from_millis(150);
    h.send("t", Some(0), "b");
    h.settle();
    assert_eq!(h.log("t", 0), ["warm", "a", "b"]);
}

#[test]
fn topic_absent_from_an_answer_that_did_not_ask_for_it_is_asked_for_again() {
    // Found by the simulator (seed 1398): a record for topic "b" arrived while a Metadata
    // request for ["a"] was out; the answer (rightly) lacked "b", and the core counted that as
    // "b does not exist", failing the record at once with retries = 0.
    let mut config = Harness::config();
    config.retries = 0;
    let mut h = Harness::new(config, &[1], &[("a", &[1]), ("b", &[1])]);
    h.drain();
    let a = h
        .core
        .send(Record::new("a").value("x"), h.now)
        .expect("accepted");
    let mut held = None;
    while let Some(out) = h.core.poll_output() {
        match out {
            Output::Transmit { conn, data } if held.is_none() => held = Some((conn, data)),
            other => panic!("unexpected output before the metadata answer: {other:?}"),
        }
    }
    let (conn, data) = held.expect("a Metadata request for topic a");
    let b = h
        .core
        .send(Record::new("b").value("y"), h.now)
        .expect("accepted");
    let bytes: Vec<u8> = data.iter().flat_map(|c| c.iter().copied()).collect();
    h.on_bytes(conn, &bytes);
    h.settle();
    assert!(h.failed.is_empty(), "no failures: {:?}", h.failed);
    assert_eq!(h.delivered[&a].0.offset, 0);
    assert_eq!(h.delivered[&b].0.offset, 0);
}

// ---- idempotence, the seal rule, splits and hostile answers (issue 6) ----

/// Config for the idempotent tests: linger 0, one record per batch unless said otherwise.
fn idem_config() -> Config {
    let mut c = Harness::config();
    c.linger = Duration::ZERO;
    c.batch_num_messages = 1;
    c.retries = 10;
    c
}

/// Every accepted (producer id, epoch, sequence) is distinct, and per (id, epoch) the
/// accepted batches are contiguous from 0: sequences never reused, never skipped.
fn assert_sequences_sound(accepted: &[(i64, i16, i32, usize)]) {
    let mut next: BTreeMap<(i64, i16), i32> = BTreeMap::new();
    for &(pid, epoch, seq, n) in accepted {
        assert!(pid >= 0, "an idempotent batch without a producer id");
        let want = next.entry((pid, epoch)).or_insert(0);
        assert_eq!(seq, *want, "sequence of a batch under ({pid}, {epoch})");
        *want += n as i32;
    }
}

#[test]
fn idempotent_producer_gets_an_id_before_the_first_produce_and_numbers_batches() {
    let mut config = idem_config();
    config.batch_num_messages = 2;
    let mut h = Harness::idempotent(config, &[1], &[("t", &[1, 1])]);
    h.drain();
    let vals = values(9, "i");
    for (i, v) in vals.iter().enumerate() {
        h.send("t", Some((i % 2) as i32), v);
    }
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(
        h.init_requests,
        vec![(-1, -1)],
        "one InitProducerId, a new id"
    );
    for p in 0..2 {
        let acc = h.accepted("t", p);
        assert!(acc.iter().all(|b| b.0 == 1001 && b.1 == 0), "{acc:?}");
        assert_sequences_sound(&acc);
    }
    let expected: Vec<String> = vals.iter().step_by(2).cloned().collect();
    assert_eq!(h.log("t", 0), expected);
}

#[test]
fn five_batches_in_flight_and_a_failure_of_the_second_requeues_two_to_five_in_order() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    h.defer = true;
    h.send("t", Some(0), "b1");
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    for v in ["b2", "b3", "b4", "b5"] {
        h.send("t", Some(0), v);
    }
    assert_eq!(
        h.deferred.len(),
        5,
        "five batches of one partition in flight"
    );
    h.send("t", Some(0), "b6");
    assert_eq!(h.deferred.len(), 5, "the sixth waits for room");
    // The broker appended b1, refused b2, and so refused b3..b5 as out of order.
    assert_eq!(h.log("t", 0), ["warm", "b1"]);
    h.defer = false;
    while h.release_one() {}
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(h.log("t", 0), ["warm", "b1", "b2", "b3", "b4", "b5", "b6"]);
    let acc = h.accepted("t", 0);
    assert_sequences_sound(&acc);
    assert!(
        acc.iter().all(|b| b.1 == 0),
        "no epoch bump needed: {acc:?}"
    );
    // The retries went out in sequence order: after the refusals (b2, then b3..b5 and b6,
    // sent once b1's answer made room, as out of order) the broker saw b2..b6 in order and
    // refused nothing more.
    let seen = &h.seen[&("t".to_owned(), 0)];
    let last_refusal = seen.iter().rposition(|b| b.4 != 0).expect("refusals");
    let after: Vec<i32> = seen[last_refusal + 1..].iter().map(|b| b.2).collect();
    assert_eq!(after, [2, 3, 4, 5, 6], "{seen:?}");
    assert_eq!(seen.iter().filter(|b| b.4 != 0).count(), 5, "{seen:?}");
    let delivered: Vec<i64> = h.delivered.values().map(|(m, _)| m.offset).collect();
    assert_eq!(delivered, (0..7).collect::<Vec<_>>());
}

#[test]
fn a_lost_connection_with_five_in_flight_retries_everything_in_order_without_duplicates() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    h.defer = true;
    for v in ["c1", "c2", "c3", "c4", "c5"] {
        h.send("t", Some(0), v);
    }
    assert_eq!(h.deferred.len(), 5);
    // Every batch was appended, but the answers are lost with the connection.
    h.deferred.clear();
    h.defer = false;
    h.drop_all_conns();
    h.send("t", Some(0), "c6");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(
        h.log("t", 0),
        ["warm", "c1", "c2", "c3", "c4", "c5", "c6"],
        "the broker's duplicate check kept each record once"
    );
    assert_sequences_sound(&h.accepted("t", 0));
}

#[test]
fn unknown_producer_id_bumps_the_epoch_and_restarts_sequences_at_zero() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1, 1])]);
    h.drain();
    for v in ["u0", "u1", "u2"] {
        h.send("t", Some(0), v);
    }
    h.send("t", Some(1), "other");
    h.settle();
    h.lose_producer_state("t", 0);
    h.send("t", Some(0), "u3");
    h.send("t", Some(1), "other2");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(
        h.init_requests,
        vec![(-1, -1)],
        "the epoch is bumped locally, without a request"
    );
    assert_eq!(h.log("t", 0), ["u0", "u1", "u2", "u3"]);
    let acc = h.accepted("t", 0);
    assert_eq!(
        acc.last(),
        Some(&(1001, 1, 0, 1)),
        "u3 again at sequence 0 of epoch 1"
    );
    assert_sequences_sound(&acc);
    assert_sequences_sound(&h.accepted("t", 1));
}

#[test]
fn out_of_order_on_the_first_batch_in_flight_bumps_the_epoch() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "o0");
    h.settle();
    h.fault(
        "t",
        0,
        Fault::Error(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER),
    );
    h.send("t", Some(0), "o1");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(
        h.init_requests.len(),
        1,
        "a local epoch bump: {:?}",
        h.init_requests
    );
    assert_eq!(h.log("t", 0), ["o0", "o1"]);
    assert_eq!(h.accepted("t", 0).last(), Some(&(1001, 1, 0, 1)));
}

#[test]
fn duplicate_sequence_number_is_a_success_and_an_ambiguous_append_is_not_written_twice() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.fault(
        "t",
        0,
        Fault::AppendThenError(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
    );
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert_eq!(
        h.log("t", 0),
        ["a"],
        "the retry was recognised as a duplicate"
    );
    assert_eq!(
        h.delivered[&a].0.offset, 0,
        "with the offset of the first write"
    );
    h.fault("t", 0, Fault::Error(ErrorCode::DUPLICATE_SEQUENCE_NUMBER));
    let b = h.send("t", Some(0), "b");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert!(
        h.delivered.contains_key(&b),
        "DUPLICATE_SEQUENCE_NUMBER counts as delivered"
    );
}

#[test]
fn a_fenced_producer_fails_its_records_with_a_typed_error() {
    for code in [
        ErrorCode::INVALID_PRODUCER_EPOCH,
        ErrorCode::PRODUCER_FENCED,
    ] {
        let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
        h.drain();
        h.fault("t", 0, Fault::Error(code));
        let a = h.send("t", Some(0), "a");
        h.settle();
        assert_eq!(h.failed[&a].0, ProduceError::ProducerFenced(code));
        let b = h.send("t", Some(0), "b");
        h.settle();
        assert_eq!(
            h.failed[&b].0,
            ProduceError::ProducerFenced(code),
            "fatal for the id"
        );
        assert!(h.log("t", 0).is_empty());
    }
}

#[test]
fn init_producer_id_is_retried_on_retriable_errors_and_fails_records_on_fatal_ones() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.init_errors.push_back(15); // COORDINATOR_NOT_AVAILABLE
    h.drain();
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert!(h.delivered.contains_key(&a));
    assert_eq!(h.init_requests.len(), 2);

    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.init_errors.push_back(31); // CLUSTER_AUTHORIZATION_FAILED
    h.drain();
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert_eq!(
        h.failed[&a].0,
        ProduceError::ProducerIdRefused(ErrorCode(31))
    );
    assert_eq!(h.produce_requests, 0, "no Produce without a producer id");
}

#[test]
fn legacy_brokers_run_without_a_defaulted_idempotence_and_fail_a_required_one() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.produce_max = 2;
    h.drain();
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert!(h.delivered.contains_key(&a));
    assert!(h.init_requests.is_empty());
    assert_eq!(h.record_formats, BTreeSet::from([1]));

    let mut config = idem_config();
    config.enable_idempotence = Some(true);
    let mut h = Harness::idempotent(config, &[1], &[("t", &[1])]);
    h.produce_max = 2;
    h.drain();
    let a = h.send("t", Some(0), "a");
    h.settle();
    assert!(matches!(
        h.failed[&a].0,
        ProduceError::IdempotenceUnavailable(_)
    ));
}

#[test]
fn an_expired_batch_with_a_sequence_forces_an_epoch_bump() {
    let mut config = idem_config();
    config.delivery_timeout = Some(Duration::from_secs(2));
    config.request_timeout = Duration::from_secs(1);
    config.retries = 1000;
    let mut h = Harness::idempotent(config, &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "e0");
    h.settle();
    for _ in 0..100 {
        h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    }
    let e1 = h.send("t", Some(0), "e1");
    for _ in 0..100 {
        if h.failed.contains_key(&e1) {
            break;
        }
        h.tick();
    }
    assert_eq!(h.failed[&e1].0, ProduceError::DeliveryTimeout);
    h.faults.clear();
    let e2 = h.send("t", Some(0), "e2");
    h.settle();
    assert!(h.delivered.contains_key(&e2));
    assert_eq!(h.init_requests.len(), 1, "the epoch bumped locally");
    assert_eq!(h.log("t", 0), ["e0", "e2"]);
    assert_eq!(
        h.accepted("t", 0).last(),
        Some(&(1001, 1, 0, 1)),
        "the hole closed by a bump: e2 at sequence 0 of epoch 1"
    );
    assert_sequences_sound(&h.accepted("t", 0));
}

#[test]
fn a_batch_that_may_have_been_written_is_never_restamped_after_an_epoch_bump() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    // "a" is appended, but its answer is lost with the connection: it may be in the log.
    h.defer = true;
    let a = h.send("t", Some(0), "a");
    assert_eq!(h.deferred.len(), 1);
    h.deferred.clear();
    h.defer = false;
    h.drop_all_conns();
    // The broker then forgets the producer: the retry of "a" (sequence 1) is answered
    // UNKNOWN_PRODUCER_ID, and the epoch is bumped. Re-stamped at sequence 0 of the new
    // epoch, "a" would be stored a second time; it fails instead, with the cause that left
    // its outcome unknown.
    h.lose_producer_state("t", 0);
    h.settle();
    assert_eq!(
        h.failed[&a].0,
        ProduceError::RetriesExhausted(odradek_core::RetryCause::ConnectionLost)
    );
    assert_eq!(h.log("t", 0), ["warm", "a"], "written once, never twice");
    let b = h.send("t", Some(0), "b");
    h.settle();
    assert!(h.delivered.contains_key(&b), "{:?}", h.failed);
    assert_eq!(h.log("t", 0), ["warm", "a", "b"]);
    assert_eq!(h.accepted("t", 0).last(), Some(&(1001, 1, 0, 1)));
    // Under the new epoch the broker saw only "b": "a" was never sent re-stamped.
    let seen = &h.seen[&("t".to_owned(), 0)];
    let new_epoch: Vec<_> = seen.iter().filter(|s| s.1 == 1).collect();
    assert_eq!(new_epoch, [&(1001, 1, 0, 1, 0)], "{seen:?}");
}

#[test]
fn a_batch_stamped_two_epochs_ago_waits_for_the_previous_epoch_in_flight() {
    // Two partitions of one broker, two requests in flight per connection. p0 runs under
    // epoch 1 with its retry a1 in flight and, behind it, a2 still stamped under epoch 0,
    // when p1's UNKNOWN_PRODUCER_ID bumps the producer to epoch 2. Re-stamping a2 moves p0
    // to epoch 2; done while a1 is in flight, a2 takes sequence 0 of epoch 2 and is written,
    // and a1, failing again, lands after it (the simulator's seed 434002).
    let mut config = idem_config();
    config.max_in_flight_requests_per_connection = 2;
    let mut h = Harness::idempotent(config, &[1], &[("t", &[1, 1])]);
    h.drain();
    h.send("t", Some(0), "w0");
    h.send("t", Some(1), "w1");
    h.settle();
    // Epoch 0: the broker forgets p0's state; a1 and a2 are refused and come back stamped;
    // the epoch is bumped to 1 for p0.
    h.defer = true;
    h.lose_producer_state("t", 0);
    let a1 = h.send("t", Some(0), "a1");
    let a2 = h.send("t", Some(0), "a2");
    assert_eq!(h.deferred.len(), 2);
    while h.release_one() {}
    // p1 sends b1 (its answer held) while p0 waits out its retry backoff, so p0 has one
    // request slot left: a1 goes re-stamped under epoch 1; a2, under epoch 0, waits.
    h.fault("t", 1, Fault::Error(ErrorCode::UNKNOWN_PRODUCER_ID));
    let b1 = h.send("t", Some(1), "b1");
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    while h.deferred.len() < 2 {
        assert!(h.tick(), "a1's retry never went out");
    }
    let p0 = ("t".to_owned(), 0);
    assert_eq!(
        h.seen[&p0].last(),
        Some(&(1001, 1, 0, 1, 6)),
        "{:?}",
        h.seen
    );
    // b1's refusal asks for epoch 2 (for p1; p0 keeps epoch 1 while it has batches under
    // it); a1 fails (retriable), goes again, and fails once more.
    h.defer = false;
    while h.release_one() {}
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    for id in [a1, a2, b1] {
        assert!(h.delivered.contains_key(&id));
    }
    assert!(
        h.seen[&("t".to_owned(), 1)].iter().any(|s| s.1 == 2),
        "{:?}",
        h.seen
    );
    assert_eq!(h.log("t", 0), ["w0", "a1", "a2"], "{:?}", h.seen[&p0]);
    assert_eq!(h.log("t", 1), ["w1", "b1"]);
    assert_sequences_sound(&h.accepted("t", 0));
    assert_sequences_sound(&h.accepted("t", 1));
}

#[test]
fn an_epoch_bump_at_the_last_epoch_asks_for_a_new_producer_id() {
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.init_epoch = i16::MAX - 1;
    h.drain();
    h.send("t", Some(0), "x0");
    h.settle();
    h.init_epoch = 0;
    // First loss: bumped locally to the last epoch.
    h.lose_producer_state("t", 0);
    h.send("t", Some(0), "x1");
    h.settle();
    assert_eq!(h.init_requests.len(), 1, "{:?}", h.init_requests);
    assert_eq!(h.accepted("t", 0).last(), Some(&(1001, i16::MAX, 0, 1)));
    // Second loss: the epoch cannot grow, so InitProducerId gives a new id.
    h.lose_producer_state("t", 0);
    h.send("t", Some(0), "x2");
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(h.init_requests, vec![(-1, -1), (-1, -1)]);
    assert_eq!(h.accepted("t", 0).last(), Some(&(1002, 0, 0, 1)));
    assert_eq!(h.log("t", 0), ["x0", "x1", "x2"]);
    assert_sequences_sound(&h.accepted("t", 0));
}

#[test]
fn message_too_large_splits_the_batch_in_order_and_fails_only_a_single_record() {
    for idempotent in [false, true] {
        let mut config = idem_config();
        config.batch_num_messages = 8;
        config.linger = Duration::from_millis(5);
        let mut h = Harness::new(config, &[1], &[("t", &[1])]);
        h.idempotent = idempotent;
        h.drain();
        h.send("t", Some(0), "warm");
        h.settle();
        h.max_batch_records = 2;
        let vals = values(8, "s");
        for v in &vals {
            h.send("t", Some(0), v);
        }
        h.settle();
        assert!(h.failed.is_empty(), "{:?}", h.failed);
        let mut want = vec!["warm".to_owned()];
        want.extend(vals.clone());
        assert_eq!(h.log("t", 0), want, "idempotent: {idempotent}");
        if idempotent {
            assert_sequences_sound(&h.accepted("t", 0));
            // The halves took the big batch's own sequences: 1 + 8 records, no gap.
            assert_eq!(h.init_requests.len(), 1, "no bump needed for a split");
        }
        h.max_batch_records = 0;
        let one = h.send("t", Some(0), "alone");
        h.settle();
        assert_eq!(
            h.failed[&one].0,
            ProduceError::Broker(ErrorCode::MESSAGE_TOO_LARGE)
        );
    }
}

#[test]
fn the_open_batch_keeps_growing_while_its_partition_has_a_batch_in_flight() {
    // Round trip (here: an answer held for 200 ms) much longer than linger: before the fix
    // the open batch was sealed every 5 ms and the partition degenerated to tiny batches.
    for linger in [Duration::from_millis(5), Duration::ZERO] {
        let mut config = Harness::config();
        config.linger = linger;
        config.enable_idempotence = Some(false);
        let mut h = Harness::new(config, &[1], &[("t", &[1])]);
        h.drain();
        h.send("t", Some(0), "warm");
        h.settle();
        h.defer = true;
        h.send("t", Some(0), "first");
        h.now += Duration::from_millis(10);
        h.core.handle_timeout(h.now);
        h.drain();
        assert_eq!(h.deferred.len(), 1, "the first batch is in flight");
        for i in 0..40 {
            h.now += Duration::from_millis(5);
            h.send("t", Some(0), &format!("g{i}"));
        }
        h.defer = false;
        while h.release_one() {}
        h.settle();
        let sizes: Vec<usize> = h.seen[&("t".to_owned(), 0)].iter().map(|b| b.3).collect();
        assert_eq!(
            sizes,
            vec![1, 1, 40],
            "linger {linger:?}: one big batch after the round trip"
        );
        assert_eq!(h.log("t", 0).len(), 42);
    }
}

#[test]
fn a_hostile_base_offset_near_i64_max_is_a_malformed_answer_not_a_panic() {
    let mut config = Harness::config();
    config.batch_num_messages = 3;
    config.enable_idempotence = Some(false);
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    h.fault("t", 0, Fault::BaseOffset(i64::MAX - 1));
    let ids: Vec<RecordId> = ["a", "b", "c"]
        .iter()
        .map(|v| h.send("t", Some(0), v))
        .collect();
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    for id in &ids {
        let off = h.delivered[id].0.offset;
        assert!(
            (0..10).contains(&off),
            "a sane offset from the retry, got {off}"
        );
    }
}

#[test]
fn a_partition_whose_batch_fails_locally_sends_its_next_batch_at_once() {
    let mut config = Harness::config();
    config.linger = Duration::ZERO;
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.produce_max = 2; // MessageSet v1: no headers
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    let start = h.now;
    let mut r = Record::new("t").value("with-header");
    r.partition = Some(0);
    r.headers.push(odradek_core::Header::new("h", "x"));
    let bad = h.core.send(r, h.now).expect("accepted");
    let good = h
        .core
        .send(Record::new("t").value("next").partition(0), h.now);
    let good = good.expect("accepted");
    h.drain();
    assert!(matches!(h.failed[&bad].0, ProduceError::Encoding(_)));
    assert!(
        h.delivered.contains_key(&good),
        "sent at once, not after a timer"
    );
    assert_eq!(h.now, start);
}

#[test]
fn a_failed_batch_is_not_resent_before_the_batches_behind_it_have_come_back() {
    // The chaser: b2 failed while b3 and b4 were still out; its retry (and anything newer)
    // waits until both are answered, even after the backoff is over.
    let mut h = Harness::idempotent(idem_config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "warm");
    h.settle();
    h.defer = true;
    h.fault("t", 0, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    for v in ["b2", "b3", "b4"] {
        h.send("t", Some(0), v);
    }
    assert_eq!(h.deferred.len(), 3);
    let requests = h.produce_requests;
    assert!(
        h.release_one(),
        "b2's refusal arrives; b3, b4 are still out"
    );
    h.send("t", Some(0), "b5");
    for _ in 0..5 {
        h.now += Duration::from_millis(100);
        h.core.handle_timeout(h.now);
        h.drain();
    }
    assert_eq!(
        h.produce_requests, requests,
        "nothing of the partition goes while the old path is still out"
    );
    h.defer = false;
    while h.release_one() {}
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    assert_eq!(h.log("t", 0), ["warm", "b2", "b3", "b4", "b5"]);
    assert_sequences_sound(&h.accepted("t", 0));
}

#[test]
fn a_compressed_batch_over_message_max_bytes_is_split_not_failed() {
    use odradek_core::record::{BatchBuilder, RecordFormat};
    use odradek_core::Compression;
    // Incompressible values and timestamps far apart: the size bound's slack is smaller than
    // gzip's framing, so the compressed batch exceeds a limit the bound said it fits.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let (v1, v2) = (noise(300), noise(300));
    let (t1, t2) = (0i64, i64::MAX / 4);
    let bound = |v: &[u8]| BatchBuilder::record_size_bound(RecordFormat::V2, None, Some(v), &[]);
    let max = BatchBuilder::overhead(RecordFormat::V2) + bound(&v1) + bound(&v2);
    let mut b = BatchBuilder::new(RecordFormat::V2);
    b.append(t1, None, Some(&v1), &[]).unwrap();
    b.append(t2, None, Some(&v2), &[]).unwrap();
    let compressed = b.finish(Compression::Gzip, None).unwrap().len();
    assert!(compressed > max, "precondition: {compressed} > {max}");

    let mut config = Harness::config();
    config.compression = Compression::Gzip;
    config.message_max_bytes = max;
    config.linger = Duration::from_secs(60);
    let mut h = Harness::new(config, &[1], &[("t", &[1])]);
    h.drain();
    let a = h
        .core
        .send(Record::new("t").value(v1).timestamp(t1).partition(0), h.now)
        .expect("fits by the bound");
    let b = h
        .core
        .send(Record::new("t").value(v2).timestamp(t2).partition(0), h.now)
        .expect("fits by the bound");
    h.core.flush(h.now);
    h.settle();
    assert!(h.failed.is_empty(), "split, not failed: {:?}", h.failed);
    assert_eq!((h.delivered[&a].0.offset, h.delivered[&b].0.offset), (0, 1));
    let sizes: Vec<usize> = h.seen[&("t".to_owned(), 0)].iter().map(|b| b.3).collect();
    assert_eq!(sizes, [1, 1], "two halves");
}

#[test]
fn idempotent_under_random_faults_every_record_is_written_once_and_in_order() {
    for seed in 1..=60u64 {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut config = idem_config();
        config.batch_num_messages = 3;
        config.linger = Duration::from_millis(1);
        config.retries = 1000;
        config.delivery_timeout = None;
        let mut h = Harness::idempotent(config, &[1], &[("t", &[1, 1, 1])]);
        h.drain();
        h.defer = true;
        let mut sent: Vec<Vec<String>> = vec![Vec::new(); 3];
        for i in 0..200 {
            if rnd(8) == 0 {
                let f = match rnd(3) {
                    0 => Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS),
                    1 => Fault::AppendThenError(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND),
                    _ => Fault::Error(ErrorCode::REQUEST_TIMED_OUT),
                };
                h.fault("t", rnd(3) as i32, f);
            }
            let p = rnd(3) as usize;
            let v = format!("s{seed}-{i}");
            h.send("t", Some(p as i32), &v);
            sent[p].push(v);
            for _ in 0..rnd(3) {
                h.release_one();
            }
            if rnd(40) == 0 {
                // Answers lost with the connection (some batches were appended).
                h.drop_all_conns();
                h.drain();
            }
            if rnd(5) == 0 {
                h.now += Duration::from_millis(rnd(150));
                h.core.handle_timeout(h.now);
                h.drain();
            }
        }
        h.defer = false;
        while h.release_one() {}
        h.settle();
        // A record may fail only when its outcome was left unknown (an answer lost, an error
        // after the append) and the broker no longer remembers it; it is then in the log
        // (checked below), never written twice, and never reported delivered without an
        // offset.
        for (id, (e, _)) in &h.failed {
            assert!(
                matches!(
                    e,
                    ProduceError::RetriesExhausted(
                        RetryCause::ConnectionLost
                            | RetryCause::Broker(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND)
                            | RetryCause::Broker(ErrorCode::REQUEST_TIMED_OUT)
                    )
                ),
                "seed {seed}: {id:?} failed with {e:?}"
            );
        }
        for (id, (md, _)) in &h.delivered {
            assert!(
                md.offset >= 0,
                "seed {seed}: {id:?} delivered at offset {}",
                md.offset
            );
        }
        let failed: BTreeSet<Vec<u8>> = h
            .failed
            .values()
            .filter_map(|(_, r)| r.value.as_ref().map(|v| v.to_vec()))
            .collect();
        for (p, sent) in sent.iter().enumerate() {
            let log = h.log("t", p);
            // Every record in send order, once; only a failed one may be missing.
            let want: Vec<String> = sent
                .iter()
                .filter(|v| log.contains(*v) || !failed.contains(v.as_bytes()))
                .cloned()
                .collect();
            assert_eq!(log, want, "seed {seed} partition {p}");
            assert_sequences_sound(&h.accepted("t", p as i32));
        }
    }
}

// ---- stats and events (issue 8, observability) ----

#[test]
fn stats_count_records_batches_requests_and_retries() {
    let mut config = Harness::config();
    config.compression = odradek_core::Compression::Gzip;
    let mut h = Harness::new(config, &[1, 2], &[("t", &[1, 2])]);
    h.drain();
    h.core.set_events(true);
    let value = "x".repeat(200);
    for i in 0..10 {
        h.send("t", Some(i % 2), &value);
    }
    h.fault("t", 1, Fault::Error(ErrorCode::NOT_ENOUGH_REPLICAS));
    h.core.flush(h.now);
    h.settle();
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    let s = h.core.stats();
    assert_eq!(
        (s.records_accepted, s.records_delivered, s.records_failed),
        (10, 10, 0)
    );
    assert_eq!((s.pending_records, s.buffer_bytes), (0, 0));
    assert_eq!(s.requests_in_flight, 0);
    assert_eq!(s.produce_requests, h.produce_requests as u64);
    assert_eq!(s.request_latency.count(), s.produce_requests);
    // Partition 1's batch was sent twice (one NOT_ENOUGH_REPLICAS retry).
    assert_eq!(
        s.retries.broker_errors.get(&19),
        Some(&1),
        "{:?}",
        s.retries
    );
    assert_eq!(s.retries.total(), 1);
    let part = |p: i32| s.partitions.iter().find(|x| x.partition == p).unwrap();
    assert_eq!(
        (part(0).records_delivered, part(1).records_delivered),
        (5, 5)
    );
    assert_eq!(part(1).batches_sent, part(0).batches_sent + 1);
    assert_eq!(s.batches_sent, part(0).batches_sent + part(1).batches_sent);
    assert_eq!(s.batch_records, 15, "5 + 5, and the retried 5 again");
    assert!(s.compression_ratio() > 3.0, "{}", s.compression_ratio());
    assert_eq!(part(1).leader, Some(2));
    let sent: u64 = s.brokers.iter().map(|b| b.produce_requests).sum();
    assert_eq!(sent, s.produce_requests);
    assert!(s.brokers.iter().all(|b| b.address.is_some()));
    assert_eq!(
        s.request_bytes,
        s.brokers.iter().map(|b| b.request_bytes).sum()
    );

    let mut events = Vec::new();
    while let Some(e) = h.core.poll_event() {
        events.push(e);
    }
    let count = |f: &dyn Fn(&odradek_core::Event) -> bool| events.iter().filter(|e| f(e)).count();
    use odradek_core::Event;
    assert!(
        count(&|e| matches!(
            e,
            Event::Connected {
                node_id: Some(_),
                ..
            }
        )) >= 2
    );
    assert_eq!(
        count(&|e| matches!(e, Event::BatchSent { .. })) as u64,
        s.batches_sent
    );
    assert_eq!(count(&|e| matches!(e, Event::BatchAcked { .. })), 2);
    assert_eq!(
        count(&|e| matches!(
            e,
            Event::Retry {
                partition: 1,
                records: 5,
                ..
            }
        )),
        1
    );
}

#[test]
fn events_are_off_by_default_and_failures_are_grouped() {
    let mut h = Harness::new(Harness::config(), &[1], &[("t", &[1])]);
    h.drain();
    h.send("t", Some(0), "a");
    h.settle();
    assert_eq!(h.core.poll_event(), None, "nothing is built while off");
    h.core.set_events(true);
    for _ in 0..3 {
        h.fault("t", 0, Fault::Error(ErrorCode::INVALID_RECORD));
    }
    for v in ["b", "c", "d"] {
        h.send("t", Some(0), v);
    }
    h.core.flush(h.now);
    h.settle();
    assert_eq!(h.failed.len(), 3);
    let failed: Vec<_> = std::iter::from_fn(|| h.core.poll_event())
        .filter(|e| matches!(e, odradek_core::Event::Failed { .. }))
        .collect();
    let records: usize = failed
        .iter()
        .map(|e| match e {
            odradek_core::Event::Failed { records, error, .. } => {
                assert_eq!(*error, ProduceError::Broker(ErrorCode::INVALID_RECORD));
                *records
            }
            _ => 0,
        })
        .sum();
    assert_eq!(records, 3);
    assert!(failed.len() <= 3);
    assert_eq!(h.core.stats().records_failed, 3);
}
