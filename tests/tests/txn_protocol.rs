//! The transactional producer's wire messages against real brokers (Kafka 4.1 and 3.9), with
//! a plain blocking socket and the core's codecs only (no producer): ApiVersions v3 and its
//! finalized features, FindCoordinator in every version the broker and we share, then a whole
//! empty transaction the way a client drives it: InitProducerId with a transactional id,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn (v5 and its epoch bump when
//! the cluster finalizes `transaction.version` 2). Every answer must decode completely.
//!
//! Skipped unless `ODRADEK_KAFKA=1` (`cargo xtask test` sets it).

use bytes::BytesMut;
use odradek_core::protocol::find_coordinator::key_type;
use odradek_core::protocol::*;
use odradek_tests::kafka::{self, KafkaCluster, Version};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long a coordinator may take to become ready (its internal topic being created).
const READY: Duration = Duration::from_secs(60);

struct Conn {
    sock: TcpStream,
    correlation_id: i32,
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let sock = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Conn {
            sock,
            correlation_id: 0,
        }
    }

    /// Sends `body` in `version` and reads the whole answer, which must decode completely.
    fn call<R: Request + std::fmt::Debug>(&mut self, version: i16, body: &R) -> R::Response
    where
        R::Response: std::fmt::Debug,
    {
        self.correlation_id += 1;
        let header = RequestHeader {
            api_key: R::API_KEY,
            api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some("odradek-txn-probe".into()),
        };
        let mut buf = BytesMut::new();
        encode_request(&header, body, &mut buf);
        self.sock.write_all(&buf).unwrap();
        let mut size = [0u8; 4];
        self.sock.read_exact(&mut size).unwrap();
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        self.sock.read_exact(&mut frame).unwrap();
        let (h, resp) = decode_response::<R>(version, &frame).unwrap_or_else(|e| {
            panic!(
                "key {} v{version}: answer to {body:?} undecodable: {e}",
                R::API_KEY
            )
        });
        assert_eq!(h.correlation_id, self.correlation_id);
        resp
    }

    /// Calls until `error(answer)` is not retriable (a coordinator loading, moving, or busy
    /// with the previous transaction), or [`READY`] runs out.
    fn call_ready<R: Request + std::fmt::Debug>(
        &mut self,
        version: i16,
        body: &R,
        error: impl Fn(&R::Response) -> i16,
    ) -> R::Response
    where
        R::Response: std::fmt::Debug,
    {
        let deadline = Instant::now() + READY;
        loop {
            let resp = self.call(version, body);
            let code = ErrorCode(error(&resp));
            if !code.is_retriable() || Instant::now() > deadline {
                return resp;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The highest version of `R` both sides speak.
fn version_of<R: Request>(api: &ApiVersionsResponse) -> i16 {
    let theirs = api
        .range(R::API_KEY)
        .unwrap_or_else(|| panic!("the broker does not list API key {}", R::API_KEY));
    negotiate((R::MIN_VERSION, R::MAX_VERSION), theirs)
        .unwrap_or_else(|| panic!("no common version of key {}: {theirs:?}", R::API_KEY))
}

fn conversation(cluster: &KafkaCluster, tag: &str) {
    let node = cluster.bootstrap_list()[0].clone();
    let mut c = Conn::open(&node);
    // v3 wants a software name and version that match Kafka's pattern (empty is refused).
    let hello = ApiVersionsRequest {
        client_software_name: "odradek-txn-probe".into(),
        client_software_version: "0.1.0".into(),
    };
    let api = c.call(3, &hello);
    assert_eq!(api.error_code, 0);
    let tv = api.finalized_level("transaction.version");
    let v2 = tv.is_some_and(|l| l >= 2);
    let fc = version_of::<FindCoordinatorRequest>(&api);
    let ip = version_of::<InitProducerIdRequest>(&api);
    let apt = version_of::<AddPartitionsToTxnRequest>(&api);
    let aot = version_of::<AddOffsetsToTxnRequest>(&api);
    // TxnOffsetCommit v5 and EndTxn v5 belong to transactions v2 only.
    let toc = version_of::<TxnOffsetCommitRequest>(&api).min(if v2 { 5 } else { 4 });
    let et = version_of::<EndTxnRequest>(&api).min(if v2 { 5 } else { 4 });
    eprintln!(
        "Kafka {}: transaction.version finalized {tv:?} (epoch {}), supported {:?}; ranges \
         FindCoordinator {:?} InitProducerId {:?} AddPartitionsToTxn {:?} AddOffsetsToTxn {:?} \
         EndTxn {:?} TxnOffsetCommit {:?}; using v{fc}/v{ip}/v{apt}/v{aot}/v{et}/v{toc}",
        cluster.version(),
        api.finalized_features_epoch,
        api.supported_feature("transaction.version"),
        api.range(10),
        api.range(22),
        api.range(24),
        api.range(25),
        api.range(26),
        api.range(28),
    );
    // A v3 answer lists only the supported features whose minimum is above 0 (KIP-1022), so
    // `transaction.version` (0-2) shows among the finalized ones alone.
    eprintln!(
        "Kafka {}: supported {:?}; finalized {:?}",
        cluster.version(),
        api.supported_features,
        api.finalized_features
    );
    assert!(api.finalized_features_epoch >= 0);
    match cluster.version() {
        // The harness's 4.1 cluster runs transactions v2: EndTxn v5 is exercised below.
        Version::V4_4 | Version::V4_1 => assert_eq!(tv, Some(2)),
        Version::V3_9 => assert!(!v2 && api.range(26).is_some_and(|r| r.1 == 4)),
    }

    // FindCoordinator for the transactional id in every shared version from v1.
    let txn_id = format!("odradek-probe-{tag}");
    let mut coordinator = None;
    for v in 1..=fc {
        let resp = c.call_ready(
            v,
            &FindCoordinatorRequest {
                key_type: key_type::TRANSACTION,
                keys: vec![txn_id.clone()],
            },
            |r| r.coordinator(&txn_id).map_or(-1, |x| x.3),
        );
        let (node_id, host, port, error) = resp.coordinator(&txn_id).expect("an answer");
        assert_eq!(error, 0, "FindCoordinator v{v}: {resp:?}");
        assert_eq!(
            format!("{host}:{port}"),
            node,
            "v{v}: the only node coordinates"
        );
        coordinator = Some(node_id);
    }
    assert!(coordinator.is_some());

    let init = c.call_ready(
        ip,
        &InitProducerIdRequest {
            transactional_id: Some(txn_id.clone()),
            transaction_timeout_ms: 60_000,
            ..InitProducerIdRequest::default()
        },
        |r| r.error_code,
    );
    assert_eq!(init.error_code, 0, "{init:?}");
    assert!(
        init.producer_id >= 0 && init.producer_epoch >= 0,
        "{init:?}"
    );
    let (pid, epoch) = (init.producer_id, init.producer_epoch);

    let topic = format!("txn-probe-{tag}");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    let added = c.call_ready(
        apt,
        &AddPartitionsToTxnRequest {
            transactional_id: txn_id.clone(),
            producer_id: pid,
            producer_epoch: epoch,
            topics: vec![AddPartitionsToTxnTopic {
                name: topic.clone(),
                partitions: vec![0, 1],
            }],
        },
        |r| r.errors().map(|e| e.2).find(|&e| e != 0).unwrap_or(0),
    );
    let mut errors: Vec<_> = added.errors().collect();
    errors.sort_unstable();
    assert_eq!(
        errors,
        [(topic.as_str(), 0, 0), (topic.as_str(), 1, 0)],
        "{added:?}"
    );

    let group = format!("probe-group-{tag}");
    let offsets = c.call_ready(
        aot,
        &AddOffsetsToTxnRequest {
            transactional_id: txn_id.clone(),
            producer_id: pid,
            producer_epoch: epoch,
            group_id: group.clone(),
        },
        |r| r.error_code,
    );
    assert_eq!(offsets.error_code, 0, "{offsets:?}");

    // The group's coordinator (the same single node), then the offsets in the transaction.
    let gc = c.call_ready(
        fc,
        &FindCoordinatorRequest {
            key_type: key_type::GROUP,
            keys: vec![group.clone()],
        },
        |r| r.coordinator(&group).map_or(-1, |x| x.3),
    );
    assert_eq!(gc.coordinator(&group).map(|x| x.3), Some(0), "{gc:?}");
    let committed = c.call_ready(
        toc,
        &TxnOffsetCommitRequest {
            transactional_id: txn_id.clone(),
            group_id: group.clone(),
            producer_id: pid,
            producer_epoch: epoch,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            topics: vec![TxnOffsetCommitTopic {
                name: topic.clone(),
                partitions: vec![TxnOffsetCommitPartition {
                    partition_index: 0,
                    committed_offset: 0,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                }],
            }],
        },
        |r| r.errors().map(|e| e.2).find(|&e| e != 0).unwrap_or(0),
    );
    assert_eq!(
        committed.errors().collect::<Vec<_>>(),
        [(topic.as_str(), 0, 0)],
        "{committed:?}"
    );

    let end = c.call_ready(
        et,
        &EndTxnRequest {
            transactional_id: txn_id.clone(),
            producer_id: pid,
            producer_epoch: epoch,
            committed: true,
        },
        |r| r.error_code,
    );
    assert_eq!(end.error_code, 0, "{end:?}");
    if et >= 5 {
        // Transactions v2: every transaction ends with an epoch bump the answer carries.
        assert_eq!(
            (end.producer_id, end.producer_epoch),
            (pid, epoch + 1),
            "{end:?}"
        );
    } else {
        assert_eq!((end.producer_id, end.producer_epoch), (-1, -1), "{end:?}");
    }
}

#[test]
fn transactional_messages_against_kafka_4_1() {
    if kafka::should_run("transactional_messages_against_kafka_4_1") {
        conversation(kafka::shared(Version::V4_1).unwrap(), "41");
    }
}

#[test]
fn transactional_messages_against_kafka_3_9() {
    if kafka::should_run("transactional_messages_against_kafka_3_9") {
        conversation(kafka::shared(Version::V3_9).unwrap(), "39");
    }
}
