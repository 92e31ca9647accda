//! The simulated brokers answer like Kafka: requests built with odradek-core's encoders,
//! responses read with its decoders, logs inspected directly.

use bytes::{Bytes, BytesMut};
use odradek_core::protocol::{
    self, api_key, ApiVersionsRequest, ErrorCode, FrameDecoder, MetadataRequest,
    ProducePartitionData, ProduceRequest, ProduceTopicData, Request, RequestHeader,
};
use odradek_core::record::{BatchBuilder, RecordFormat};
use odradek_core::{BrokerAddress, Compression, ConnId, Header};
use odradek_sim::{AppendFate, Cluster, ClusterConfig, Fault, NetEvent, NetworkConfig};
use std::time::Duration;

struct Client {
    cluster: Cluster,
    frames: FrameDecoder,
    corr: i32,
}

impl Client {
    fn new(config: ClusterConfig) -> Self {
        Client {
            cluster: Cluster::new(config),
            frames: FrameDecoder::new(1 << 20),
            corr: 0,
        }
    }

    fn connect(&mut self, conn: u64, node: i32) -> NetEvent {
        let addr = BrokerAddress {
            host: format!("broker-{node}"),
            port: 9092,
        };
        self.cluster.connect(ConnId(conn), &addr);
        self.next_event().expect("connect result")
    }

    /// The next event the client sees, but write completions (this client does not count
    /// its written bytes).
    fn next_event(&mut self) -> Option<NetEvent> {
        while self.cluster.next_event_time().is_some() {
            match self.cluster.step() {
                Some(NetEvent::Written(..)) | None => {}
                Some(ev) => return Some(ev),
            }
        }
        None
    }

    fn send<R: Request>(&mut self, conn: u64, version: i16, body: &R) -> i32 {
        self.corr += 1;
        let header = RequestHeader {
            api_key: R::API_KEY,
            api_version: version,
            correlation_id: self.corr,
            client_id: Some("test".into()),
        };
        let mut buf = BytesMut::new();
        protocol::encode_request(&header, body, &mut buf);
        self.cluster.transmit(ConnId(conn), &[buf.freeze()]);
        self.corr
    }

    /// The next whole response frame on any connection.
    fn response(&mut self) -> Option<Bytes> {
        loop {
            if let Some(f) = self.frames.next_frame().expect("framing") {
                return Some(f);
            }
            match self.next_event()? {
                NetEvent::Received(_, data) => self.frames.push(&data),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn roundtrip<R: Request>(&mut self, conn: u64, version: i16, body: &R) -> R::Response {
        let corr = self.send(conn, version, body);
        let frame = self.response().expect("a response");
        let (h, resp) = protocol::decode_response::<R>(version, &frame).expect("decodes");
        assert_eq!(h.correlation_id, corr);
        resp
    }
}

fn batch(values: &[&str], headers: &[Header], compression: Compression) -> Bytes {
    let mut b = BatchBuilder::new(RecordFormat::V2);
    for (i, v) in values.iter().enumerate() {
        b.append(1_000 + i as i64, Some(b"k"), Some(v.as_bytes()), headers)
            .unwrap();
    }
    b.finish(compression, None).unwrap()
}

fn produce(acks: i16, topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 1000,
        topics: vec![ProduceTopicData {
            name: topic.into(),
            partitions: vec![ProducePartitionData {
                index: partition,
                records,
            }],
        }],
    }
}

fn config() -> ClusterConfig {
    let mut c = ClusterConfig::new(5);
    c.network = NetworkConfig::default(); // fragmented responses exercise the framing
    c
}

#[test]
fn api_versions_advertises_the_configured_ranges() {
    let mut c = Client::new(config());
    assert_eq!(c.connect(1, 1), NetEvent::Connected(ConnId(1)));
    let resp = c.roundtrip(1, 3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
    let produce = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == api_key::PRODUCE)
        .unwrap();
    assert_eq!((produce.min_version, produce.max_version), (3, 12));
    // An ApiVersions version the broker does not speak gets UNSUPPORTED_VERSION, in v0.
    let mut legacy = config();
    legacy.versions = odradek_sim::BrokerVersions::kafka_0_10();
    let mut c = Client::new(legacy);
    c.connect(1, 1);
    let corr = c.send(1, 3, &ApiVersionsRequest::default());
    let frame = c.response().unwrap();
    let (h, resp) = protocol::decode_response::<ApiVersionsRequest>(0, &frame).unwrap();
    assert_eq!(h.correlation_id, corr);
    assert_eq!(resp.error_code, ErrorCode::UNSUPPORTED_VERSION.0);
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 2));
}

#[test]
fn metadata_names_leaders_and_unknown_topics() {
    let mut c = Client::new(config());
    c.connect(1, 2);
    let req = MetadataRequest {
        topics: Some(vec!["a".into(), "nope".into()]),
        allow_auto_topic_creation: false,
    };
    let resp = c.roundtrip(1, 12, &req);
    assert_eq!(resp.brokers.len(), 3);
    assert_eq!(resp.brokers[0].host, "broker-1");
    let a = &resp.topics[0];
    assert_eq!((a.name.as_str(), a.error_code), ("a", 0));
    assert_eq!(a.partitions.len(), 3);
    for p in &a.partitions {
        assert_eq!(Some(p.leader_id), c.cluster.leader("a", p.partition_index));
    }
    assert_eq!(
        resp.topics[1].error_code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0
    );
    // A crashed leader shows up as LEADER_NOT_AVAILABLE when nobody else can lead.
    let mut one = config();
    one.brokers = 1;
    let mut c = Client::new(one);
    c.connect(1, 1);
    c.cluster.inject(Fault::CrashBroker {
        node: 1,
        downtime: Duration::from_secs(1),
    });
    assert_eq!(c.next_event(), Some(NetEvent::Disconnected(ConnId(1))));
    assert_eq!(c.connect(2, 1), NetEvent::Disconnected(ConnId(2)));
    // After the downtime it is back.
    c.cluster
        .advance_to(c.cluster.now() + Duration::from_secs(2));
    while c.cluster.next_event_time().is_some() {
        c.cluster.step();
    }
    assert!(c.cluster.is_up(1));
    assert_eq!(c.connect(3, 1), NetEvent::Connected(ConnId(3)));
}

#[test]
fn produce_appends_on_the_leader_and_refuses_elsewhere() {
    let mut c = Client::new(config());
    let leader = c.cluster.leader("a", 1).unwrap();
    let other = 1 + leader % 3;
    c.connect(1, leader);
    c.connect(2, other);
    let h = [Header::new("h", "x")];
    for (i, compression) in [Compression::None, Compression::Zstd, Compression::Gzip]
        .into_iter()
        .enumerate()
    {
        let resp = c.roundtrip(
            1,
            9,
            &produce(-1, "a", 1, batch(&["v1", "v2"], &h, compression)),
        );
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.error_code, p.base_offset), (0, 2 * i as i64));
    }
    let log = c.cluster.log("a", 1).unwrap();
    assert_eq!(log.len(), 6);
    assert_eq!(log[3].value.as_deref(), Some(&b"v2"[..]));
    assert_eq!(log[3].offset, 3);
    assert_eq!(log[3].headers, h);
    assert_eq!(log[3].timestamp, 1_001);
    assert!(c
        .cluster
        .appends()
        .iter()
        .all(|a| matches!(a.fate, AppendFate::Acknowledged(_))));

    let resp = c.roundtrip(
        2,
        9,
        &produce(1, "a", 1, batch(&["x"], &[], Compression::None)),
    );
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ErrorCode::NOT_LEADER_OR_FOLLOWER.0
    );
    let resp = c.roundtrip(
        1,
        9,
        &produce(1, "zz", 0, batch(&["x"], &[], Compression::None)),
    );
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0
    );
    assert_eq!(c.cluster.log("a", 1).unwrap().len(), 6);
    // After a leader move the old leader refuses and the new one appends.
    c.cluster.inject(Fault::MoveLeader {
        topic: "a".into(),
        partition: 1,
        to: other,
    });
    let resp = c.roundtrip(
        1,
        9,
        &produce(1, "a", 1, batch(&["y"], &[], Compression::None)),
    );
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ErrorCode::NOT_LEADER_OR_FOLLOWER.0
    );
    let resp = c.roundtrip(
        2,
        9,
        &produce(1, "a", 1, batch(&["y"], &[], Compression::None)),
    );
    assert_eq!(resp.topics[0].partitions[0].base_offset, 6);
    assert!(c.cluster.protocol_violations().is_empty());
}

#[test]
fn acks_zero_gets_no_response_and_faults_keep_their_promises() {
    let mut c = Client::new(config());
    let leader = c.cluster.leader("b", 0).unwrap();
    c.connect(1, leader);
    c.send(
        1,
        9,
        &produce(0, "b", 0, batch(&["z"], &[], Compression::None)),
    );
    // Nothing comes back, but the record is stored.
    assert_eq!(c.next_event(), None);
    assert_eq!(c.cluster.log("b", 0).unwrap().len(), 1);
    assert_eq!(c.cluster.appends()[0].fate, AppendFate::NoResponse);

    // NOT_ENOUGH_REPLICAS_AFTER_APPEND: appended and refused.
    c.cluster.inject(Fault::FailNextPartition(
        ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    ));
    let resp = c.roundtrip(
        1,
        9,
        &produce(-1, "b", 0, batch(&["n"], &[], Compression::None)),
    );
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND.0
    );
    assert_eq!(c.cluster.log("b", 0).unwrap().len(), 2);
    assert_eq!(c.cluster.appends()[1].fate, AppendFate::ErrorAfterAppend);

    // NOT_ENOUGH_REPLICAS: refused, not appended.
    c.cluster
        .inject(Fault::FailNextPartition(ErrorCode::NOT_ENOUGH_REPLICAS));
    let resp = c.roundtrip(
        1,
        9,
        &produce(-1, "b", 0, batch(&["m"], &[], Compression::None)),
    );
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ErrorCode::NOT_ENOUGH_REPLICAS.0
    );
    assert_eq!(c.cluster.log("b", 0).unwrap().len(), 2);

    // A lost response: appended, then the connection drops.
    c.cluster.inject(Fault::LoseNextProduceResponse);
    c.send(
        1,
        9,
        &produce(1, "b", 0, batch(&["l"], &[], Compression::None)),
    );
    assert_eq!(c.next_event(), Some(NetEvent::Disconnected(ConnId(1))));
    assert_eq!(c.cluster.log("b", 0).unwrap().len(), 3);
    assert_eq!(c.cluster.appends()[2].fate, AppendFate::ResponseLost);
    assert_eq!(c.cluster.stats().lost_responses, 1);
}

#[test]
fn protocol_misuse_is_recorded() {
    let mut c = Client::new(config());
    c.connect(1, 1);
    // Produce v2 is not advertised by a modern broker.
    let mut b = BatchBuilder::new(RecordFormat::V1);
    b.append(1, None, Some(b"x"), &[]).unwrap();
    let records = b.finish(Compression::None, None).unwrap();
    c.send(1, 2, &produce(1, "b", 0, records));
    assert_eq!(c.next_event(), Some(NetEvent::Disconnected(ConnId(1))));
    assert_eq!(c.cluster.protocol_violations().len(), 1);
    // Bytes on a connection that was never opened.
    c.cluster
        .transmit(ConnId(9), &[Bytes::from_static(b"\0\0\0\0")]);
    assert_eq!(c.cluster.protocol_violations().len(), 2);
}

#[test]
fn the_same_seed_gives_the_same_cluster_behaviour() {
    let run = |seed: u64| {
        let mut cfg = ClusterConfig::new(seed);
        cfg.faults = odradek_sim::FaultConfig::chaos();
        let mut c = Client::new(cfg);
        let mut seen = Vec::new();
        c.connect(1, 1);
        for i in 0..30 {
            c.send(
                1,
                9,
                &produce(1, "a", i % 3, batch(&["v"], &[], Compression::None)),
            );
        }
        while c.cluster.next_event_time().is_some() {
            if let Some(ev) = c.cluster.step() {
                seen.push((c.cluster.now(), ev));
            }
        }
        (seen, c.cluster.stats().clone())
    };
    assert_eq!(run(77), run(77));
    assert_ne!(run(77).0, run(78).0);
}

fn idem_batch(values: &[&str], pid: i64, epoch: i16, seq: i32) -> Bytes {
    let mut b = BatchBuilder::new(RecordFormat::V2);
    for (i, v) in values.iter().enumerate() {
        b.append(1_000 + i as i64, Some(b"k"), Some(v.as_bytes()), &[])
            .unwrap();
    }
    let fields = odradek_core::record::ProducerFields {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        transactional: false,
    };
    b.finish_with(Compression::None, None, fields).unwrap()
}

/// Produces one idempotent batch to `a`-0; returns (error code, base offset).
fn idem_produce(c: &mut Client, values: &[&str], pid: i64, epoch: i16, seq: i32) -> (i16, i64) {
    let req = produce(-1, "a", 0, idem_batch(values, pid, epoch, seq));
    let resp = c.roundtrip(1, 9, &req);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.base_offset)
}

#[test]
fn init_producer_id_always_hands_out_a_fresh_id_at_epoch_zero() {
    use odradek_core::protocol::InitProducerIdRequest;
    let mut c = Client::new(config());
    c.connect(1, 2);
    let versions = c.roundtrip(1, 3, &ApiVersionsRequest::default());
    let r = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == api_key::INIT_PRODUCER_ID)
        .expect("InitProducerId advertised");
    assert_eq!((r.min_version, r.max_version), (0, 4));
    let first = c.roundtrip(1, 4, &InitProducerIdRequest::default());
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    let second = c.roundtrip(1, 1, &InitProducerIdRequest::default());
    assert_ne!(second.producer_id, first.producer_id);
    // Non-transactional, as Kafka: the id and epoch sent are ignored, every answer is a
    // fresh id at epoch 0 (no fencing; epochs are checked per partition on Produce).
    let named = InitProducerIdRequest {
        producer_id: first.producer_id,
        producer_epoch: 0,
        ..InitProducerIdRequest::default()
    };
    let mut ids = vec![first.producer_id, second.producer_id];
    for v in [4, 3, 4] {
        let r = c.roundtrip(1, v, &named);
        assert_eq!((r.error_code, r.producer_epoch), (0, 0), "v{v}");
        assert!(!ids.contains(&r.producer_id), "v{v}: a fresh id");
        ids.push(r.producer_id);
    }
    // A legacy broker does not know the key.
    let mut legacy = ClusterConfig::new(5);
    legacy.versions = odradek_sim::BrokerVersions::kafka_0_10();
    let mut c = Client::new(legacy);
    c.connect(1, 1);
    let _ = c.send(1, 0, &InitProducerIdRequest::default());
    assert_eq!(c.next_event(), Some(NetEvent::Disconnected(ConnId(1))));
    assert!(!c.cluster.protocol_violations().is_empty());
}

#[test]
fn idempotent_batches_are_deduplicated_and_sequences_enforced() {
    let mut c = Client::new(config());
    // a-0 is led by broker 1.
    c.connect(1, 1);
    let pid = 4242;
    assert_eq!(idem_produce(&mut c, &["x0", "x1"], pid, 0, 0), (0, 0));
    assert_eq!(idem_produce(&mut c, &["x2"], pid, 0, 2), (0, 2));
    // A retry of either is answered with its original offset and not appended again.
    assert_eq!(idem_produce(&mut c, &["x0", "x1"], pid, 0, 0), (0, 0));
    assert_eq!(idem_produce(&mut c, &["x2"], pid, 0, 2), (0, 2));
    assert_eq!(c.cluster.log("a", 0).unwrap().len(), 3);
    // A gap, a reused sequence with other bounds, an old epoch, a new epoch not at 0.
    let out_of_order = ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0;
    assert_eq!(idem_produce(&mut c, &["x4"], pid, 0, 4).0, out_of_order);
    assert_eq!(idem_produce(&mut c, &["y"], pid, 0, 1).0, out_of_order);
    assert_eq!(idem_produce(&mut c, &["z"], pid, 1, 5).0, out_of_order);
    assert_eq!(idem_produce(&mut c, &["z"], pid, 1, 0), (0, 3));
    assert_eq!(
        idem_produce(&mut c, &["x3"], pid, 0, 3).0,
        ErrorCode::INVALID_PRODUCER_EPOCH.0
    );
    // An unknown producer must start at 0.
    assert_eq!(
        idem_produce(&mut c, &["u"], 777, 0, 5).0,
        ErrorCode::UNKNOWN_PRODUCER_ID.0
    );
    let log = c.cluster.log("a", 0).unwrap();
    assert_eq!(log.len(), 4);
    let seqs: Vec<(i64, i16, i32)> = log
        .iter()
        .map(|r| (r.producer_id, r.producer_epoch, r.sequence))
        .collect();
    assert_eq!(
        seqs,
        vec![(pid, 0, 0), (pid, 0, 1), (pid, 0, 2), (pid, 1, 0)]
    );
    let stats = c.cluster.stats();
    assert_eq!(stats.duplicate_batches, 2);
    assert_eq!(stats.sequence_errors.values().sum::<u64>(), 5);
}

#[test]
fn producer_state_is_lost_only_when_every_append_was_answered() {
    let mut cfg = config();
    cfg.network = NetworkConfig {
        latency_min: Duration::from_millis(1),
        latency_max: Duration::from_millis(1),
        fragment_responses: false,
    };
    cfg.faults.producer_state_loss_rate = 1.0;
    let mut c = Client::new(cfg);
    c.connect(1, 1);
    let pid = 9;
    // With a loss drawn for every batch: the first write has no state to lose...
    assert_eq!(idem_produce(&mut c, &["a0"], pid, 0, 0), (0, 0));
    // ...the second finds the first answered, loses the state and is refused.
    assert_eq!(
        idem_produce(&mut c, &["a1"], pid, 0, 1).0,
        ErrorCode::UNKNOWN_PRODUCER_ID.0
    );
    assert_eq!(c.cluster.stats().producer_state_losses, 1);
    // A bumped epoch from 0, two batches pipelined: when the second arrives the first is
    // not answered yet, so the state stays.
    let _ = c.send(1, 9, &produce(-1, "a", 0, idem_batch(&["a1"], pid, 1, 0)));
    let _ = c.send(1, 9, &produce(-1, "a", 0, idem_batch(&["a2"], pid, 1, 1)));
    for offset in [1, 2] {
        let frame = c.response().unwrap();
        let (_, resp) = protocol::decode_response::<ProduceRequest>(9, &frame).unwrap();
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.error_code, p.base_offset), (0, offset));
    }
    assert_eq!(c.cluster.stats().producer_state_losses, 1);
    assert_eq!(c.cluster.log("a", 0).unwrap().len(), 3);
}

#[test]
fn producer_state_moves_with_the_leader_and_recognises_a_retry_after_a_lost_response() {
    let mut c = Client::new(config());
    c.connect(1, 1);
    let pid = 11;
    assert_eq!(idem_produce(&mut c, &["b0"], pid, 0, 0), (0, 0));
    c.cluster.inject(Fault::LoseNextProduceResponse);
    let _ = c.send(1, 9, &produce(-1, "a", 0, idem_batch(&["b1"], pid, 0, 1)));
    assert_eq!(c.next_event(), Some(NetEvent::Disconnected(ConnId(1))));
    assert_eq!(c.cluster.log("a", 0).unwrap().len(), 2);
    c.cluster.inject(Fault::MoveLeader {
        topic: "a".into(),
        partition: 0,
        to: 2,
    });
    c.connect(2, 2);
    let req = produce(-1, "a", 0, idem_batch(&["b1"], pid, 0, 1));
    let resp = c.roundtrip(2, 9, &req);
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.error_code, p.base_offset), (0, 1));
    assert_eq!(c.cluster.log("a", 0).unwrap().len(), 2);
    assert_eq!(c.cluster.stats().duplicate_batches, 1);
    // The original append counts as answered now.
    assert!(matches!(
        c.cluster.appends()[1].fate,
        AppendFate::Acknowledged(_)
    ));
}

#[test]
fn a_step_never_jumps_past_the_time_it_announced() {
    // Responses cut in pieces for a connection the client closed meanwhile are dropped
    // without moving time on to a later event (that would skip the client's deadlines).
    let mut cfg = config();
    cfg.network = NetworkConfig {
        latency_min: Duration::from_millis(1),
        latency_max: Duration::from_millis(3),
        fragment_responses: true,
    };
    let mut c = Client::new(cfg);
    c.connect(1, 1);
    c.connect(2, 2);
    for _ in 0..20 {
        let _ = c.send(1, 3, &ApiVersionsRequest::default());
        let _ = c.send(2, 3, &ApiVersionsRequest::default());
    }
    // Let the requests reach the brokers, then close connection 1 under its responses.
    while c.cluster.next_event_time().is_some() {
        let before = c.cluster.next_event_time();
        let ev = c.cluster.step();
        assert_eq!(Some(c.cluster.now()), before, "after {ev:?}");
        if c.cluster.stats().requests >= 40 && c.cluster.open_connections().contains(&ConnId(1)) {
            c.cluster.disconnect(ConnId(1));
        }
    }
}

// ---- scripted behaviour (odradek_sim::script) ----

/// A one-broker cluster with zero latency, whole responses, recording what it sees.
fn scripted() -> Client {
    let mut config = ClusterConfig::new(5);
    config.brokers = 1;
    config.network = NetworkConfig::instant();
    let mut c = Client::new(config);
    c.cluster.record_requests();
    c.connect(1, 1);
    c
}

/// Produces `values` to `topic`-`partition` on connection 1; returns (error code, base offset),
/// or `None` when the partition is left out of the answer.
fn produce_to(c: &mut Client, topic: &str, partition: i32, values: &[&str]) -> Option<(i16, i64)> {
    let req = produce(-1, topic, partition, batch(values, &[], Compression::None));
    let resp = c.roundtrip(1, 9, &req);
    let p = resp.topics.first()?.partitions.first()?;
    Some((p.error_code, p.base_offset))
}

fn values_of(c: &Client, topic: &str, partition: i32) -> Vec<String> {
    c.cluster
        .log(topic, partition)
        .unwrap()
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn scripted_faults_are_consumed_one_per_produce_of_their_partition() {
    use odradek_sim::ScriptedFault;
    let mut c = scripted();
    let nes = ErrorCode::NOT_ENOUGH_REPLICAS;
    let neraa = ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND;
    c.cluster.script("b", 0, ScriptedFault::Error(nes));
    c.cluster.script("b", 0, ScriptedFault::Omit);
    c.cluster
        .script("b", 0, ScriptedFault::AppendThenError(neraa));
    c.cluster
        .script("b", 0, ScriptedFault::BaseOffset(i64::MAX - 1));
    // Another partition's Produce consumes nothing of b-0's script.
    assert_eq!(produce_to(&mut c, "a", 0, &["other"]), Some((0, 0)));
    assert_eq!(produce_to(&mut c, "b", 0, &["e"]), Some((nes.0, -1)));
    assert_eq!(produce_to(&mut c, "b", 0, &["o"]), None, "left out");
    assert_eq!(produce_to(&mut c, "b", 0, &["x"]), Some((neraa.0, -1)));
    assert_eq!(produce_to(&mut c, "b", 0, &["y"]), Some((0, i64::MAX - 1)));
    assert_eq!(
        produce_to(&mut c, "b", 0, &["z"]),
        Some((0, 2)),
        "script used up"
    );
    assert_eq!(
        values_of(&c, "b", 0),
        ["x", "y", "z"],
        "nothing appended when left out"
    );
    let codes: Vec<i16> = c
        .cluster
        .batches("b", 0)
        .iter()
        .map(|b| b.error_code)
        .collect();
    assert_eq!(
        codes,
        [nes.0, 0, 0, 0],
        "the omitted partition is not logged"
    );
    assert_eq!(
        c.cluster.appends()[1].fate,
        AppendFate::ErrorAfterAppend,
        "x was appended, then refused"
    );
    assert!(c.cluster.appends()[2].hostile_offset);
    // Cleared scripts are never consumed.
    c.cluster.script("b", 0, ScriptedFault::Error(nes));
    c.cluster.clear_scripts();
    assert_eq!(produce_to(&mut c, "b", 0, &["w"]), Some((0, 3)));
    assert!(c.cluster.protocol_violations().is_empty());
}

#[test]
fn every_produce_fails_drops_or_waits_when_asked() {
    let mut c = scripted();
    c.cluster
        .fail_every_produce(Some(ErrorCode::INVALID_RECORD));
    for _ in 0..2 {
        assert_eq!(
            produce_to(&mut c, "b", 0, &["x"]),
            Some((ErrorCode::INVALID_RECORD.0, -1))
        );
    }
    c.cluster.fail_every_produce(None);
    assert_eq!(produce_to(&mut c, "b", 0, &["x"]), Some((0, 0)));
    // Dropped requests close the connection, append nothing, and count as Produce requests.
    c.cluster.drop_produce_requests(1);
    let before = c.cluster.stats().produce_requests;
    c.send(
        1,
        9,
        &produce(-1, "b", 0, batch(&["lost"], &[], Compression::None)),
    );
    assert_eq!(c.next_event(), Some(NetEvent::Disconnected(ConnId(1))));
    assert_eq!(c.cluster.stats().produce_requests, before + 1);
    assert_eq!(values_of(&c, "b", 0), ["x"]);
    c.connect(2, 1);
    // A produce delay holds the answer back, not the append.
    c.cluster.set_produce_delay(Duration::from_millis(250));
    let start = c.cluster.now();
    let req = produce(-1, "b", 0, batch(&["late"], &[], Compression::None));
    c.send(2, 9, &req);
    assert!(c.response().is_some());
    assert_eq!(c.cluster.now(), start + Duration::from_millis(250));
    assert_eq!(values_of(&c, "b", 0), ["x", "late"]);
}

#[test]
fn produce_answers_are_swallowed_deferred_held_or_corrupted() {
    use odradek_sim::ProduceAnswers;
    let mut c = scripted();
    let req = |v: &str| produce(-1, "b", 0, batch(&[v], &[], Compression::None));
    // Swallowed: appended, never answered, the connection stays open.
    c.cluster.set_produce_answers(ProduceAnswers::Swallow);
    c.send(1, 9, &req("s"));
    assert_eq!(c.next_event(), None);
    assert_eq!(c.cluster.open_connections(), [ConnId(1)]);
    assert_eq!(c.cluster.appends()[0].fate, AppendFate::ResponseLost);
    // Deferred: queued until released one by one; other answers still go.
    c.cluster.set_produce_answers(ProduceAnswers::Defer);
    let first = c.send(1, 9, &req("d1"));
    let second = c.send(1, 9, &req("d2"));
    assert_eq!(c.next_event(), None, "no answer yet");
    assert_eq!(c.cluster.deferred_answers(), 2);
    let meta = MetadataRequest {
        topics: Some(vec!["b".into()]),
        allow_auto_topic_creation: false,
    };
    let corr = c.send(1, 12, &meta);
    let frame = c
        .response()
        .expect("metadata answered while Produce answers wait");
    assert_eq!(i32::from_be_bytes(frame[..4].try_into().unwrap()), corr);
    assert!(c.cluster.release_deferred());
    let frame = c.response().unwrap();
    assert_eq!(i32::from_be_bytes(frame[..4].try_into().unwrap()), first);
    c.cluster.drop_deferred();
    assert!(!c.cluster.release_deferred());
    assert_eq!(c.next_event(), None);
    assert_eq!(c.cluster.appends()[2].fate, AppendFate::ResponseLost);
    let _ = second;
    // Held: Produce requests wait unread, and later requests on their connection behind
    // them; released, they are handled in order.
    c.cluster.set_produce_answers(ProduceAnswers::Send);
    c.cluster.hold_produce_requests(true);
    let held = c.send(1, 9, &req("h"));
    let corr = c.send(1, 12, &meta);
    assert_eq!(c.next_event(), None, "nothing answered while held");
    assert_eq!(c.cluster.held_produce_requests(Some(ConnId(1))), 1);
    assert_eq!(c.cluster.held_produce_requests(None), 1);
    assert_eq!(
        values_of(&c, "b", 0),
        ["s", "d1", "d2"],
        "not appended while held"
    );
    c.cluster.hold_produce_requests(false);
    assert_eq!(c.cluster.held_produce_requests(None), 0);
    let order: Vec<i32> = (0..2)
        .map(|_| {
            let f = c.response().unwrap();
            i32::from_be_bytes(f[..4].try_into().unwrap())
        })
        .collect();
    assert_eq!(order, [held, corr]);
    // Corrupted: raw bytes instead of the next answer, once.
    c.cluster
        .corrupt_next_produce_answer(Bytes::from_static(&[0, 0, 0, 4, 0x7f, 0, 0, 1]));
    c.send(1, 9, &req("c"));
    let frame = c.response().unwrap();
    assert_eq!(&frame[..], &[0x7f, 0, 0, 1]);
    assert_eq!(produce_to(&mut c, "b", 0, &["ok"]).map(|r| r.0), Some(0));
    assert_eq!(values_of(&c, "b", 0), ["s", "d1", "d2", "h", "c", "ok"]);
}

#[test]
fn init_producer_id_errors_epochs_and_ids_are_scripted() {
    use odradek_core::protocol::InitProducerIdRequest;
    let mut c = scripted();
    c.cluster.fail_init_producer_id(ErrorCode(15));
    c.cluster.set_next_producer_id(1001);
    c.cluster.set_init_producer_epoch(i16::MAX - 1);
    let r = c.roundtrip(1, 4, &InitProducerIdRequest::default());
    assert_eq!(
        (r.error_code, r.producer_id, r.producer_epoch),
        (15, -1, -1)
    );
    let r = c.roundtrip(1, 4, &InitProducerIdRequest::default());
    assert_eq!(
        (r.error_code, r.producer_id, r.producer_epoch),
        (0, 1001, i16::MAX - 1)
    );
    assert_eq!(c.cluster.init_producer_id_requests(), [(-1, -1), (-1, -1)]);
    let keys: Vec<i16> = c.cluster.requests().iter().map(|r| r.api_key).collect();
    assert_eq!(keys, [api_key::INIT_PRODUCER_ID, api_key::INIT_PRODUCER_ID]);
}

#[test]
fn batch_limits_versions_and_producer_state_are_scripted() {
    let mut c = scripted();
    c.cluster.set_max_batch_records(Some(2));
    assert_eq!(
        produce_to(&mut c, "b", 0, &["1", "2", "3"]),
        Some((ErrorCode::MESSAGE_TOO_LARGE.0, -1))
    );
    assert_eq!(produce_to(&mut c, "b", 0, &["1", "2"]), Some((0, 0)));
    c.cluster.set_max_batch_records(None);
    assert_eq!(produce_to(&mut c, "b", 0, &["1", "2", "3"]), Some((0, 2)));
    let mut versions = odradek_sim::BrokerVersions::modern();
    versions.produce = (0, 6);
    versions.api_versions = (0, 2);
    c.cluster.set_versions(versions);
    let resp = c.roundtrip(1, 2, &ApiVersionsRequest::default());
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 6));
    let corr = c.send(1, 3, &ApiVersionsRequest::default());
    let frame = c.response().unwrap();
    let (h, resp) = protocol::decode_response::<ApiVersionsRequest>(0, &frame).unwrap();
    assert_eq!(
        (h.correlation_id, resp.error_code),
        (corr, ErrorCode::UNSUPPORTED_VERSION.0)
    );
    let seen: Vec<(i16, i16)> = c
        .cluster
        .requests()
        .iter()
        .map(|r| (r.api_key, r.api_version))
        .collect();
    assert_eq!(seen, [(0, 9), (0, 9), (0, 9), (18, 2), (18, 3)]);
    // A partition that forgets its producers answers UNKNOWN_PRODUCER_ID to a sequence > 0.
    let mut c = scripted();
    assert_eq!(idem_produce(&mut c, &["a"], 7, 0, 0), (0, 0));
    c.cluster.forget_producers("a", 0);
    assert_eq!(
        idem_produce(&mut c, &["b"], 7, 0, 1),
        (ErrorCode::UNKNOWN_PRODUCER_ID.0, -1)
    );
    let seen = c.cluster.batches("a", 0);
    assert_eq!(
        (
            seen[1].producer_id,
            seen[1].epoch,
            seen[1].base_sequence,
            seen[1].records
        ),
        (7, 0, 1, 1)
    );
    assert_eq!(seen[1].format, RecordFormat::V2);
}

#[test]
fn topics_leaders_addresses_and_downed_brokers_are_scripted() {
    let mut config = ClusterConfig::new(5);
    config.brokers = 2;
    config.topics = Vec::new();
    config.network = NetworkConfig::instant();
    let mut c = Client::new(config);
    c.cluster.create_topic("t", &[2, 1]);
    c.cluster.advertise(1, "127.0.0.1", 4000);
    c.cluster.auto_create_topics(2);
    c.connect(1, 1);
    let meta = MetadataRequest {
        topics: Some(vec!["t".into(), "new".into()]),
        allow_auto_topic_creation: true,
    };
    let resp = c.roundtrip(1, 12, &meta);
    assert_eq!(
        (resp.brokers[0].host.as_str(), resp.brokers[0].port),
        ("127.0.0.1", 4000)
    );
    assert_eq!(resp.brokers[1].host, "broker-2");
    let leaders: Vec<i32> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| p.leader_id)
        .collect();
    assert_eq!(leaders, [2, 1]);
    assert_eq!(resp.topics[1].error_code, 0, "created on first sight");
    assert_eq!(resp.topics[1].partitions.len(), 2);
    // A broker taken down keeps its partitions: they have no leader until it is back.
    c.connect(2, 2);
    c.cluster.set_broker_up(2, false);
    assert_eq!(c.next_event(), Some(NetEvent::Disconnected(ConnId(2))));
    assert_eq!(c.connect(3, 2), NetEvent::Disconnected(ConnId(3)));
    assert_eq!(c.cluster.leader("t", 0), Some(2));
    let resp = c.roundtrip(1, 12, &meta);
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ErrorCode::LEADER_NOT_AVAILABLE.0
    );
    c.cluster.set_broker_up(2, true);
    assert_eq!(c.connect(4, 2), NetEvent::Connected(ConnId(4)));
}

#[test]
fn metadata_entries_errors_omissions_and_throttle_times_are_scripted() {
    let mut c = scripted();
    c.cluster.create_topic("h", &[1, 1]);
    c.cluster.create_topic("gone", &[1]);
    c.cluster.create_topic("bad", &[1]);
    let meta = MetadataRequest {
        topics: Some(vec!["h".into(), "gone".into(), "bad".into()]),
        allow_auto_topic_creation: false,
    };
    let as_held = c.roundtrip(1, 12, &meta);
    assert_eq!(as_held.topics.len(), 3);
    assert_eq!(as_held.throttle_time_ms, 0);
    // Raw entries as given, hostile ones too; Produce believes their leaders.
    let entries = [(1, 99), (1, 1), (i32::MAX - 1, -1)];
    c.cluster.script_metadata("h", &entries);
    c.cluster.omit_from_metadata("gone");
    c.cluster
        .script_metadata_error("bad", ErrorCode::TOPIC_AUTHORIZATION_FAILED);
    c.cluster.set_throttle_time(Some(i32::MIN));
    let resp = c.roundtrip(1, 12, &meta);
    assert_eq!(resp.throttle_time_ms, i32::MIN);
    let names: Vec<&str> = resp.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["h", "bad"], "the omitted topic is left out");
    let got: Vec<(i32, i32)> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.leader_id))
        .collect();
    assert_eq!(got, entries);
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(
        (resp.topics[1].error_code, resp.topics[1].partitions.len()),
        (ErrorCode::TOPIC_AUTHORIZATION_FAILED.0, 0)
    );
    // Partition 0 has no entry: no leader. Partition 1's first entry names broker 99.
    let not_leader = ErrorCode::NOT_LEADER_OR_FOLLOWER.0;
    assert_eq!(produce_to(&mut c, "h", 0, &["a"]).unwrap().0, not_leader);
    assert_eq!(produce_to(&mut c, "h", 1, &["b"]).unwrap().0, not_leader);
    c.cluster.script_metadata("h", &[(0, 1), (1, 1)]);
    assert_eq!(produce_to(&mut c, "h", 1, &["c"]), Some((0, 0)));
    assert_eq!(values_of(&c, "h", 1), ["c"]);
    // The throttle time is in every answer.
    let req = produce(-1, "h", 0, batch(&["d"], &[], Compression::None));
    assert_eq!(c.roundtrip(1, 9, &req).throttle_time_ms, i32::MIN);
    let versions = ApiVersionsRequest {
        client_software_name: "t".into(),
        client_software_version: "1".into(),
    };
    assert_eq!(c.roundtrip(1, 3, &versions).throttle_time_ms, i32::MIN);
    // Unscripted, the answers say what the cluster holds again.
    c.cluster.unscript_metadata("h");
    c.cluster.unscript_metadata("gone");
    c.cluster.unscript_metadata("bad");
    c.cluster.set_throttle_time(None);
    let resp = c.roundtrip(1, 12, &meta);
    assert_eq!(resp.topics, as_held.topics);
    assert_eq!(resp.throttle_time_ms, 0);
}
