//! ProducerCore against a small in-test fake cluster that decodes the core's real request
//! frames with the crate's codecs and answers like a broker. Virtual time only.

use bytes::BytesMut;
use odradek_core::protocol::{
    self, ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse, ErrorCode, FrameDecoder,
    MetadataBroker, MetadataPartition, MetadataRequest, MetadataResponse, MetadataTopic,
    ProducePartitionResponse, ProduceRequest, ProduceResponse, ProduceTopicResponse, Reader,
    Request,
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
        }
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
            if let Some(resp) = self.answer(node, &frame) {
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
                    ],
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
                        let append = |part: &mut Part| {
                            let base = part.log.len() as i64;
                            for b in &batches {
                                for r in &b.records {
                                    part.log.push(r.value.clone().unwrap_or_default().to_vec());
                                }
                            }
                            base
                        };
                        match fault {
                            Some(Fault::Omit) => continue,
                            Some(Fault::Error(e)) => code = e.0,
                            Some(Fault::AppendThenError(e)) => {
                                append(part);
                                code = e.0;
                            }
                            None if part.leader != node => {
                                code = ErrorCode::NOT_LEADER_OR_FOLLOWER.0
                            }
                            None => base = append(part),
                        }
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
