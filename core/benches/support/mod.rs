//! Shared by the core's benches: a minimal, instantly answering one-broker cluster and the
//! driver loop that feeds it a [`ProducerCore`].
//!
//! The broker decodes every request with the core's own codecs and answers success at once:
//! ApiVersions (Produce 0–12, Metadata 0–12), Metadata (one broker `b1:9092`, one topic with
//! `partitions` partitions, all led by node 1), Produce (appends, answers the next offsets).
//! Virtual time advances by a fixed step per record, so `linger.ms` and the other timers run
//! as they would in a real driver.
//!
//! `scope(true)` / `scope(false)` is called around every call into the core, so a counting
//! allocator can count only what the core allocates (the broker's decoding and encoding are
//! not the producer's cost).

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use odradek_core::protocol::{
    self, ApiVersionRange, ApiVersionsRequest, ApiVersionsResponse, FrameDecoder, MetadataBroker,
    MetadataPartition, MetadataRequest, MetadataResponse, MetadataTopic, ProducePartitionResponse,
    ProduceRequest, ProduceResponse, ProduceTopicResponse, Reader, Request,
};
use odradek_core::record::decode_records;
use odradek_core::{Compression, Config, ConnId, Instant, Output, ProducerCore, Record, TopicName};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// The topic every bench record goes to.
pub const TOPIC: &str = "bench";

/// The instant broker: one node, one topic.
pub struct Broker {
    partitions: usize,
    /// Next offset per partition.
    next_offset: Vec<i64>,
    decoders: HashMap<ConnId, FrameDecoder>,
    /// Decode every batch (checks CRCs and counts); otherwise trust the v2 header's count.
    pub verify: bool,
    /// Records appended in total.
    pub appended: u64,
}

impl Broker {
    fn new(partitions: usize) -> Self {
        Broker {
            partitions,
            next_offset: vec![0; partitions],
            decoders: HashMap::new(),
            verify: false,
            appended: 0,
        }
    }

    /// Bytes written by the core on `conn`; returns the response frames to feed back.
    fn on_bytes(&mut self, conn: ConnId, data: &[Bytes], out: &mut VecDeque<(ConnId, Bytes)>) {
        let dec = self
            .decoders
            .entry(conn)
            .or_insert_with(|| FrameDecoder::new(1 << 26));
        for chunk in data {
            dec.push(chunk);
        }
        let mut frames = Vec::new();
        while let Some(f) = dec.next_frame().expect("request framing") {
            frames.push(f);
        }
        for frame in frames {
            if let Some(resp) = self.answer(&frame) {
                out.push_back((conn, resp));
            }
        }
    }

    fn answer(&mut self, frame: &[u8]) -> Option<Bytes> {
        let (header, body) = protocol::decode_request_header(frame).expect("request header");
        let v = header.api_version;
        let corr = header.correlation_id;
        let mut out = BytesMut::new();
        match header.api_key {
            18 => {
                let range = |api_key, max_version| ApiVersionRange {
                    api_key,
                    min_version: 0,
                    max_version,
                };
                let resp = ApiVersionsResponse {
                    error_code: 0,
                    api_keys: vec![range(0, 12), range(3, 12), range(18, 3)],
                    throttle_time_ms: 0,
                };
                protocol::encode_response::<ApiVersionsRequest>(corr, v, &resp, &mut out);
            }
            3 => {
                let req = protocol::decode_request_body::<MetadataRequest>(v, body)
                    .expect("metadata request");
                let topics = req
                    .topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|name| MetadataTopic {
                        error_code: if name == TOPIC { 0 } else { 3 },
                        is_internal: false,
                        partitions: if name == TOPIC {
                            (0..self.partitions as i32)
                                .map(|i| MetadataPartition {
                                    error_code: 0,
                                    partition_index: i,
                                    leader_id: 1,
                                    leader_epoch: 0,
                                    replica_nodes: vec![1],
                                    isr_nodes: vec![1],
                                    offline_replicas: vec![],
                                })
                                .collect()
                        } else {
                            vec![]
                        },
                        name,
                    })
                    .collect();
                let resp = MetadataResponse {
                    throttle_time_ms: 0,
                    brokers: vec![MetadataBroker {
                        node_id: 1,
                        host: "b1".into(),
                        port: 9092,
                        rack: None,
                    }],
                    cluster_id: Some("bench".into()),
                    controller_id: 1,
                    topics,
                };
                protocol::encode_response::<MetadataRequest>(corr, v, &resp, &mut out);
            }
            0 => {
                let req =
                    ProduceRequest::decode(v, &mut Reader::new(body)).expect("produce request");
                let mut topics = Vec::with_capacity(req.topics.len());
                for td in &req.topics {
                    let mut parts = Vec::with_capacity(td.partitions.len());
                    for pd in &td.partitions {
                        let count = if self.verify {
                            decode_records(&pd.records, 1 << 26)
                                .expect("records")
                                .iter()
                                .map(|b| b.records.len() as i64)
                                .sum()
                        } else {
                            // RecordBatch v2: recordCount is the header's last field.
                            let r = &pd.records;
                            assert!(r.len() >= 61 && r[16] == 2, "a v2 batch");
                            i64::from(i32::from_be_bytes([r[57], r[58], r[59], r[60]]))
                        };
                        let next = &mut self.next_offset[pd.index as usize];
                        let base = *next;
                        *next += count;
                        self.appended += count as u64;
                        parts.push(ProducePartitionResponse {
                            index: pd.index,
                            error_code: 0,
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
                if req.acks == 0 {
                    return None;
                }
                let resp = ProduceResponse {
                    topics,
                    throttle_time_ms: 0,
                };
                protocol::encode_response::<ProduceRequest>(corr, v, &resp, &mut out);
            }
            k => panic!("unexpected api key {k}"),
        }
        Some(out.freeze())
    }
}

/// The core, the broker, virtual time and the outcome counts.
pub struct Bench {
    /// The producer under test.
    pub core: ProducerCore,
    /// The broker.
    pub broker: Broker,
    /// Virtual now.
    pub now: Instant,
    /// Time added per record sent.
    pub step: Duration,
    /// Records delivered so far.
    pub delivered: u64,
    /// Records failed so far (a bench run expects none).
    pub failed: u64,
    topic: TopicName,
    payload: Bytes,
    responses: VecDeque<(ConnId, Bytes)>,
    scope: fn(bool),
}

/// The bench configuration: defaults (linger 5 ms, batch 16 KiB, acks=all) with `compression`.
pub fn config(compression: Compression) -> Config {
    let mut c = Config::new(["b1:9092"]);
    c.compression = compression;
    c
}

impl Bench {
    /// A producer connected to the broker, its metadata known, sending `record_size`-byte
    /// values to a topic of `partitions` partitions.
    pub fn new(config: Config, partitions: usize, record_size: usize, scope: fn(bool)) -> Self {
        let now = Instant::from_unix_millis(1_700_000_000_000);
        scope(true);
        let core = ProducerCore::new(config, 7, now).expect("config");
        scope(false);
        let payload: Bytes = (0..record_size)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        let mut b = Bench {
            core,
            broker: Broker::new(partitions),
            now,
            step: Duration::from_micros(1),
            delivered: 0,
            failed: 0,
            topic: TopicName::new(TOPIC),
            payload,
            responses: VecDeque::new(),
            scope,
        };
        b.drive();
        b
    }

    /// Sends one record (no allocation by the bench: the topic and value are shared) and
    /// drives the core until it is quiet.
    pub fn send_one(&mut self) {
        let record = Record {
            topic: self.topic.clone(),
            partition: None,
            key: None,
            value: Some(self.payload.clone()),
            headers: Vec::new(),
            timestamp: None,
        };
        self.now += self.step;
        (self.scope)(true);
        let r = self.core.send(record, self.now);
        (self.scope)(false);
        if let Err(e) = r {
            panic!("send refused: {:?}", e.kind);
        }
        self.drive();
    }

    /// Flushes and drives until every record sent has its outcome.
    pub fn flush(&mut self) {
        (self.scope)(true);
        self.core.flush(self.now);
        (self.scope)(false);
        self.drive();
        let mut guard = 0;
        while self.core.pending_records() > 0 {
            guard += 1;
            assert!(guard < 1_000_000, "flush does not finish");
            self.fire_timer();
        }
    }

    fn fire_timer(&mut self) {
        (self.scope)(true);
        let t = self.core.poll_timeout();
        (self.scope)(false);
        if let Some((at, _)) = t {
            self.now = self.now.max(at);
        }
        (self.scope)(true);
        self.core.handle_timeout(self.now);
        (self.scope)(false);
        self.drive();
    }

    /// Drains outputs, answers requests at once, and fires the timer when it is due, until
    /// nothing moves.
    pub fn drive(&mut self) {
        loop {
            loop {
                (self.scope)(true);
                let out = self.core.poll_output();
                (self.scope)(false);
                let Some(out) = out else { break };
                match out {
                    Output::Connect { conn, .. } => {
                        (self.scope)(true);
                        self.core.handle_connected(conn, self.now);
                        (self.scope)(false);
                    }
                    Output::Transmit { conn, data } => {
                        self.broker.on_bytes(conn, &data, &mut self.responses)
                    }
                    Output::Disconnect { conn } => {
                        self.broker.decoders.remove(&conn);
                    }
                    Output::Delivered { .. } => self.delivered += 1,
                    Output::Failed { error, .. } => {
                        self.failed += 1;
                        panic!("record failed: {error}");
                    }
                    Output::Closed => {}
                }
            }
            if let Some((conn, resp)) = self.responses.pop_front() {
                (self.scope)(true);
                self.core.handle_received(conn, &resp, self.now);
                (self.scope)(false);
                continue;
            }
            (self.scope)(true);
            let t = self.core.poll_timeout();
            (self.scope)(false);
            match t {
                Some((at, _)) if at <= self.now => {
                    (self.scope)(true);
                    self.core.handle_timeout(self.now);
                    (self.scope)(false);
                }
                _ => return,
            }
        }
    }
}
