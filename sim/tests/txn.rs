//! The simulated transaction coordinator, driven with raw requests (built with odradek-core's
//! encoders, answers read with its decoders): transactions v1 and v2 committed and aborted
//! (markers in the logs, the `read_committed` view), fencing, a coordinator that moves or
//! crashes, the transaction timeout, and an EndTxn retried after its answer was lost.

use bytes::{Bytes, BytesMut};
use odradek_core::protocol::add_partitions_to_txn::AddPartitionsToTxnTopic;
use odradek_core::protocol::find_coordinator::key_type;
use odradek_core::protocol::txn_offset_commit::{TxnOffsetCommitPartition, TxnOffsetCommitTopic};
use odradek_core::protocol::{
    self, AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiVersionsRequest, EndTxnRequest,
    EndTxnResponse, ErrorCode, FindCoordinatorRequest, FrameDecoder, InitProducerIdRequest,
    InitProducerIdResponse, ProducePartitionData, ProduceRequest, ProduceTopicData, Request,
    RequestHeader, TxnOffsetCommitRequest,
};
use odradek_core::record::{BatchBuilder, ProducerFields, RecordFormat};
use odradek_core::{BrokerAddress, Compression, ConnId, Record};
use odradek_sim::{
    check_transactions, read_committed, ClientTxn, ClientTxnOutcome, Cluster, ClusterConfig, Fault,
    LogSnapshot, Marker, NetEvent, TxnConfig, TxnHistory, TxnOutcome,
};
use std::time::Duration;

const TXN: &str = "txn-1";

struct Client {
    cluster: Cluster,
    frames: FrameDecoder,
    corr: i32,
    next_conn: u64,
}

impl Client {
    fn new(txn: TxnConfig) -> Self {
        Client::seeded(11, txn)
    }

    fn seeded(seed: u64, txn: TxnConfig) -> Self {
        let mut config = ClusterConfig::new(seed);
        config.transactions = txn;
        Client::with(config)
    }

    fn with(config: ClusterConfig) -> Self {
        Client {
            cluster: Cluster::new(config),
            frames: FrameDecoder::new(1 << 20),
            corr: 0,
            next_conn: 0,
        }
    }

    /// A new connection to `node`, and whether it opened.
    fn connect(&mut self, node: i32) -> (u64, bool) {
        self.next_conn += 1;
        let conn = self.next_conn;
        let addr = BrokerAddress {
            host: format!("broker-{node}"),
            port: 9092,
        };
        self.cluster.connect(ConnId(conn), &addr);
        loop {
            match self.next_event().expect("connect result") {
                NetEvent::Connected(c) if c == ConnId(conn) => return (conn, true),
                NetEvent::Disconnected(c) if c == ConnId(conn) => return (conn, false),
                NetEvent::Disconnected(_) => {} // an older connection, closed by a fault
                other => panic!("unexpected {other:?}"),
            }
        }
    }

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

    /// The answer to `body`, or `None` when the connection dropped instead.
    fn try_roundtrip<R: Request>(&mut self, conn: u64, v: i16, body: &R) -> Option<R::Response> {
        let corr = self.send(conn, v, body);
        let frame = loop {
            if let Some(f) = self.frames.next_frame().expect("framing") {
                break f;
            }
            match self.next_event()? {
                NetEvent::Received(_, data) => self.frames.push(&data),
                NetEvent::Disconnected(c) if c == ConnId(conn) => {
                    // A frame cut short by the drop must not confuse the next one.
                    self.frames = FrameDecoder::new(1 << 20);
                    return None;
                }
                NetEvent::Disconnected(_) => {} // an older connection, closed by a fault
                other => panic!("unexpected {other:?}"),
            }
        };
        let (h, resp) = protocol::decode_response::<R>(v, &frame).expect("decodes");
        assert_eq!(h.correlation_id, corr);
        Some(resp)
    }

    fn roundtrip<R: Request>(&mut self, conn: u64, v: i16, body: &R) -> R::Response {
        self.try_roundtrip(conn, v, body).expect("an answer")
    }

    /// Lets `d` of virtual time pass, running whatever the cluster does meanwhile.
    fn wait(&mut self, d: Duration) {
        let until = self.cluster.now() + d;
        while self.cluster.next_event_time().is_some_and(|t| t <= until) {
            self.cluster.step();
        }
        self.cluster.advance_to(until);
    }

    /// The coordinator FindCoordinator names, asked at broker `at`.
    fn find(&mut self, at: i32, kind: i8, key: &str) -> (i32, i16) {
        self.try_find(at, kind, key).expect("an answer")
    }

    /// [`find`](Self::find), or `None` when the broker went away meanwhile.
    fn try_find(&mut self, at: i32, kind: i8, key: &str) -> Option<(i32, i16)> {
        let (conn, up) = self.connect(at);
        if !up {
            return None;
        }
        let req = FindCoordinatorRequest {
            key_type: kind,
            keys: vec![key.into()],
        };
        let resp = self.try_roundtrip(conn, 4, &req)?;
        let (node, _, _, code) = resp.coordinator(key).expect("an entry");
        Some((node, code))
    }

    /// A connection to the transaction coordinator of [`TXN`].
    fn coordinator(&mut self) -> u64 {
        let (node, code) = self.find(1, key_type::TRANSACTION, TXN);
        assert_eq!(code, 0);
        assert_eq!(Some(node), self.cluster.txn_coordinator(TXN));
        self.connect(node).0
    }

    fn init(&mut self, conn: u64, v: i16, timeout_ms: i32) -> InitProducerIdResponse {
        let req = InitProducerIdRequest {
            transactional_id: Some(TXN.into()),
            transaction_timeout_ms: timeout_ms,
            producer_id: -1,
            producer_epoch: -1,
        };
        self.roundtrip(conn, v, &req)
    }

    fn add(&mut self, conn: u64, v: i16, pid: i64, epoch: i16, parts: &[(&str, i32)]) -> Vec<i16> {
        let req = AddPartitionsToTxnRequest {
            transactional_id: TXN.into(),
            producer_id: pid,
            producer_epoch: epoch,
            topics: parts
                .iter()
                .map(|(t, p)| AddPartitionsToTxnTopic {
                    name: (*t).into(),
                    partitions: vec![*p],
                })
                .collect(),
        };
        let resp = self.roundtrip(conn, v, &req);
        resp.errors().map(|(_, _, c)| c).collect()
    }

    /// Produces `records` to `topic`/`partition` at its leader, transactional, and returns
    /// the partition's error code ([`LOST`] when the connection failed).
    #[allow(clippy::too_many_arguments)]
    fn produce(
        &mut self,
        v: i16,
        (pid, epoch, seq): (i64, i16, i32),
        topic: &str,
        partition: i32,
        records: &[&Record],
    ) -> i16 {
        let leader = self.cluster.leader(topic, partition).unwrap();
        let (conn, up) = self.connect(leader);
        if !up {
            return LOST;
        }
        let mut b = BatchBuilder::new(RecordFormat::V2);
        for r in records {
            b.append(1_000, r.key.as_deref(), r.value.as_deref(), &[])
                .unwrap();
        }
        let producer = ProducerFields {
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            transactional: true,
        };
        let records = b.finish_with(Compression::None, None, producer).unwrap();
        let req = ProduceRequest {
            transactional_id: Some(TXN.into()),
            acks: -1,
            timeout_ms: 1000,
            topics: vec![ProduceTopicData {
                name: topic.into(),
                partitions: vec![ProducePartitionData {
                    index: partition,
                    records,
                }],
            }],
        };
        match self.try_roundtrip(conn, v, &req) {
            Some(resp) => resp.topics[0].partitions[0].error_code,
            None => LOST,
        }
    }

    fn end(&mut self, conn: u64, v: i16, pid: i64, epoch: i16, commit: bool) -> EndTxnResponse {
        let req = EndTxnRequest {
            transactional_id: TXN.into(),
            producer_id: pid,
            producer_epoch: epoch,
            committed: commit,
        };
        self.roundtrip(conn, v, &req)
    }

    /// Values visible to a `read_committed` reader of `topic`/`partition`.
    fn visible(&self, topic: &str, partition: i32) -> Vec<Bytes> {
        let log = self.cluster.log(topic, partition).unwrap();
        read_committed(log)
            .visible
            .iter()
            .map(|&i| log[i].value.clone().unwrap())
            .collect()
    }

    /// The markers in `topic`/`partition`: (producer id, epoch, kind).
    fn markers(&self, topic: &str, partition: i32) -> Vec<(i64, i16, Marker)> {
        let log = self.cluster.log(topic, partition).unwrap();
        log.iter()
            .filter_map(|r| r.control.map(|m| (r.producer_id, r.producer_epoch, m)))
            .collect()
    }
}

fn rec(topic: &str, n: u64) -> Record {
    Record::new(topic)
        .key(format!("k{n}"))
        .value(format!("v{n}"))
}

const OK: i16 = 0;
/// No answer: the connection failed.
const LOST: i16 = i16::MIN;

#[test]
fn a_v1_transaction_commits_then_one_aborts_with_markers_and_offsets() {
    let mut c = Client::new(TxnConfig::v1());
    let conn = c.coordinator();
    let init = c.init(conn, 4, 60_000);
    assert_eq!((init.error_code, init.producer_epoch), (OK, 0));
    let pid = init.producer_id;
    let (r1, r2, r3) = (rec("a", 1), rec("b", 2), rec("a", 3));
    // Transactions v1: a partition must be added before it is produced to.
    assert_eq!(
        c.produce(11, (pid, 0, 0), "a", 0, &[&r1]),
        ErrorCode::INVALID_TXN_STATE.0
    );
    assert_eq!(c.add(conn, 3, pid, 0, &[("a", 0), ("b", 0)]), vec![OK, OK]);
    assert_eq!(c.produce(11, (pid, 0, 0), "a", 0, &[&r1]), OK);
    assert_eq!(c.produce(11, (pid, 0, 0), "b", 0, &[&r2]), OK);
    // Offsets, through the group's coordinator.
    let add = AddOffsetsToTxnRequest {
        transactional_id: TXN.into(),
        producer_id: pid,
        producer_epoch: 0,
        group_id: "g".into(),
    };
    assert_eq!(c.roundtrip(conn, 3, &add).error_code, OK);
    let (group_node, code) = c.find(2, key_type::GROUP, "g");
    assert_eq!(code, OK);
    let (gconn, _) = c.connect(group_node);
    let commit = TxnOffsetCommitRequest {
        transactional_id: TXN.into(),
        group_id: "g".into(),
        producer_id: pid,
        producer_epoch: 0,
        generation_id: 3,
        member_id: "m".into(),
        group_instance_id: None,
        topics: vec![TxnOffsetCommitTopic {
            name: "in".into(),
            partitions: vec![TxnOffsetCommitPartition {
                partition_index: 0,
                committed_offset: 42,
                committed_leader_epoch: -1,
                committed_metadata: None,
            }],
        }],
    };
    let resp = c.roundtrip(gconn, 3, &commit);
    assert!(resp.errors().all(|(_, _, e)| e == OK));
    // Nothing is visible before the commit: the open transaction holds the stable offset.
    assert!(c.visible("a", 0).is_empty());
    assert!(c.cluster.txn_snapshot().offsets.is_empty());
    assert_eq!(c.end(conn, 3, pid, 0, true).error_code, OK);
    c.wait(Duration::from_millis(50));
    assert_eq!(c.markers("a", 0), vec![(pid, 0, Marker::Commit)]);
    assert_eq!(c.markers("b", 0), vec![(pid, 0, Marker::Commit)]);
    assert_eq!(c.visible("a", 0), vec![Bytes::from("v1")]);
    assert_eq!(c.visible("b", 0), vec![Bytes::from("v2")]);
    let snap = c.cluster.txn_snapshot();
    let key = ("g".to_owned(), "in".to_owned(), 0);
    assert_eq!(snap.offsets[&key].offset, 42);
    // A second transaction, aborted: its record is in the log but never visible. In v1 the
    // epoch stays and the partition's sequences go on.
    assert_eq!(c.add(conn, 3, pid, 0, &[("a", 0)]), vec![OK]);
    assert_eq!(c.produce(11, (pid, 0, 1), "a", 0, &[&r3]), OK);
    assert_eq!(c.end(conn, 3, pid, 0, false).error_code, OK);
    c.wait(Duration::from_millis(50));
    assert_eq!(c.cluster.log("a", 0).unwrap().len(), 4);
    assert_eq!(c.markers("a", 0)[1], (pid, 0, Marker::Abort));
    assert_eq!(c.visible("a", 0), vec![Bytes::from("v1")]);
    let snap = c.cluster.txn_snapshot();
    let outcomes: Vec<TxnOutcome> = snap.transactions.iter().map(|t| t.outcome).collect();
    assert_eq!(outcomes, vec![TxnOutcome::Committed, TxnOutcome::Aborted]);
    // The checker agrees with this history, and not with a wrong one.
    let history = |second| TxnHistory {
        transactions: vec![
            ClientTxn {
                records: vec![r1.clone(), r2.clone()],
                offsets: vec![("g".into(), "in".into(), 0, 42)],
                outcome: ClientTxnOutcome::Committed,
            },
            ClientTxn {
                records: vec![r3.clone()],
                offsets: Vec::new(),
                outcome: second,
            },
        ],
    };
    let logs = LogSnapshot::of(&c.cluster);
    assert_eq!(
        check_transactions(&history(ClientTxnOutcome::Aborted), &logs, &snap),
        vec![]
    );
    let wrong = check_transactions(&history(ClientTxnOutcome::Committed), &logs, &snap);
    assert_eq!(wrong.len(), 1, "{wrong:?}");
}

#[test]
fn a_v2_transaction_is_enrolled_by_produce_and_bumps_the_epoch_at_its_end() {
    let mut c = Client::new(TxnConfig::v2());
    let (conn, _) = c.connect(1);
    let versions = c.roundtrip(conn, 3, &ApiVersionsRequest::default());
    assert_eq!(versions.finalized_level("transaction.version"), Some(2));
    assert_eq!(versions.range(protocol::api_key::END_TXN), Some((0, 5)));
    let conn = c.coordinator();
    let init = c.init(conn, 5, 60_000);
    let pid = init.producer_id;
    let r1 = rec("a", 1);
    // Produce v12 enrols the partition: no AddPartitionsToTxn.
    assert_eq!(c.produce(12, (pid, 0, 0), "a", 0, &[&r1]), OK);
    let end = c.end(conn, 5, pid, 0, true);
    assert_eq!(
        (end.error_code, end.producer_id, end.producer_epoch),
        (OK, pid, 1)
    );
    c.wait(Duration::from_millis(50));
    // The marker carries the new epoch; the old one is fenced on the partition.
    assert_eq!(c.markers("a", 0), vec![(pid, 1, Marker::Commit)]);
    assert_eq!(c.visible("a", 0), vec![Bytes::from("v1")]);
    let r2 = rec("a", 2);
    assert_eq!(
        c.produce(12, (pid, 0, 1), "a", 0, &[&r2]),
        ErrorCode::INVALID_PRODUCER_EPOCH.0
    );
    // The next transaction, at the new epoch, starts its sequences at 0; aborted.
    assert_eq!(c.produce(12, (pid, 1, 0), "a", 0, &[&r2]), OK);
    let end = c.end(conn, 5, pid, 1, false);
    assert_eq!((end.error_code, end.producer_epoch), (OK, 2));
    c.wait(Duration::from_millis(50));
    assert_eq!(c.markers("a", 0)[1], (pid, 2, Marker::Abort));
    assert_eq!(c.visible("a", 0), vec![Bytes::from("v1")]);
    // An abort with nothing in the transaction bumps the epoch too (v5).
    let end = c.end(conn, 5, pid, 2, false);
    assert_eq!((end.error_code, end.producer_epoch), (OK, 3));
    // Produce v11 (a v1 client) does not enrol, even on a v2 cluster.
    assert_eq!(
        c.produce(11, (pid, 3, 0), "b", 0, &[&rec("b", 3)]),
        ErrorCode::INVALID_TXN_STATE.0
    );
    // On a v1 cluster Produce v12 does not enrol either, and EndTxn v5 is refused.
    let mut v1 = Client::new(TxnConfig::v1());
    let (conn, _) = v1.connect(1);
    let versions = v1.roundtrip(conn, 3, &ApiVersionsRequest::default());
    assert_eq!(versions.finalized_level("transaction.version"), Some(1));
    let conn = v1.coordinator();
    let pid = v1.init(conn, 4, 60_000).producer_id;
    assert_eq!(
        v1.produce(12, (pid, 0, 0), "a", 0, &[&r1]),
        ErrorCode::INVALID_TXN_STATE.0
    );
}

#[test]
fn a_second_init_producer_id_fences_the_first_and_aborts_its_transaction() {
    let mut c = Client::new(TxnConfig::v1());
    let conn = c.coordinator();
    let pid = c.init(conn, 4, 60_000).producer_id;
    assert_eq!(c.add(conn, 3, pid, 0, &[("a", 1)]), vec![OK]);
    let zombie = rec("a", 1);
    assert_eq!(c.produce(11, (pid, 0, 0), "a", 1, &[&zombie]), OK);
    // A second instance: the ongoing transaction is aborted under a bumped epoch, and it is
    // told to retry until that is done.
    let second = c.init(conn, 4, 60_000);
    assert_eq!(second.error_code, ErrorCode::CONCURRENT_TRANSACTIONS.0);
    c.wait(Duration::from_millis(50));
    let second = c.init(conn, 4, 60_000);
    assert_eq!((second.error_code, second.producer_id), (OK, pid));
    assert_eq!(second.producer_epoch, 2);
    assert_eq!(c.markers("a", 1), vec![(pid, 1, Marker::Abort)]);
    assert!(c.visible("a", 1).is_empty());
    // The first instance is fenced everywhere, with the error its request version knows.
    assert_eq!(
        c.add(conn, 3, pid, 0, &[("a", 1)]),
        vec![ErrorCode::PRODUCER_FENCED.0]
    );
    assert_eq!(
        c.add(conn, 1, pid, 0, &[("a", 1)]),
        vec![ErrorCode::INVALID_PRODUCER_EPOCH.0]
    );
    assert_eq!(
        c.end(conn, 3, pid, 0, true).error_code,
        ErrorCode::PRODUCER_FENCED.0
    );
    assert_eq!(
        c.produce(11, (pid, 0, 1), "a", 1, &[&rec("a", 2)]),
        ErrorCode::INVALID_PRODUCER_EPOCH.0
    );
    let snap = c.cluster.txn_snapshot();
    assert!(snap.transactions[0].fenced);
    assert_eq!(snap.fences.len(), 2);
    // The checker: the zombie's record is not visible, and the transaction is not torn.
    let history = TxnHistory {
        transactions: vec![ClientTxn {
            records: vec![zombie],
            offsets: Vec::new(),
            outcome: ClientTxnOutcome::Unknown,
        }],
    };
    let logs = LogSnapshot::of(&c.cluster);
    assert_eq!(check_transactions(&history, &logs, &snap), vec![]);
}

#[test]
fn a_moved_coordinator_answers_not_coordinator_until_found_then_loads() {
    let mut c = Client::new(TxnConfig::v2());
    let conn = c.coordinator();
    let pid = c.init(conn, 5, 60_000).producer_id;
    let old = c.cluster.txn_coordinator(TXN).unwrap();
    let new = c.cluster.move_txn_coordinator(TXN).unwrap();
    assert_ne!(old, new);
    assert_eq!(
        c.init(conn, 5, 60_000).error_code,
        ErrorCode::NOT_COORDINATOR.0
    );
    let (found, code) = c.find(old, key_type::TRANSACTION, TXN);
    assert_eq!((found, code), (new, OK));
    let (conn, _) = c.connect(new);
    assert_eq!(
        c.init(conn, 5, 60_000).error_code,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.0
    );
    c.wait(TxnConfig::v2().load_time);
    // Loaded, with the state kept: the same producer id, its epoch bumped.
    let init = c.init(conn, 5, 60_000);
    assert_eq!(
        (init.error_code, init.producer_id, init.producer_epoch),
        (OK, pid, 1)
    );
}

#[test]
fn a_crashed_coordinator_fails_over_and_the_new_one_loads() {
    let mut c = Client::new(TxnConfig::v2());
    let conn = c.coordinator();
    let pid = c.init(conn, 5, 60_000).producer_id;
    assert_eq!(c.produce(12, (pid, 0, 0), "a", 2, &[&rec("a", 1)]), OK);
    let old = c.cluster.txn_coordinator(TXN).unwrap();
    c.cluster.inject(Fault::CrashBroker {
        node: old,
        downtime: Duration::from_secs(30),
    });
    let asked = 1 + old % 3;
    let (new, code) = c.find(asked, key_type::TRANSACTION, TXN);
    assert_eq!(code, OK);
    assert_ne!(new, old);
    let (conn, _) = c.connect(new);
    assert_eq!(
        c.end(conn, 5, pid, 0, true).error_code,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.0
    );
    c.wait(TxnConfig::v2().load_time);
    // The transaction survived the crash: it commits.
    let end = c.end(conn, 5, pid, 0, true);
    assert_eq!((end.error_code, end.producer_epoch), (OK, 1));
    c.wait(Duration::from_millis(50));
    assert_eq!(c.visible("a", 2), vec![Bytes::from("v1")]);
}

#[test]
fn a_transaction_left_open_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let mut c = Client::new(TxnConfig::v1());
    let conn = c.coordinator();
    let pid = c.init(conn, 4, 1_000).producer_id;
    assert_eq!(c.add(conn, 3, pid, 0, &[("b", 0)]), vec![OK]);
    assert_eq!(c.produce(11, (pid, 0, 0), "b", 0, &[&rec("b", 1)]), OK);
    c.wait(Duration::from_millis(900));
    assert!(c.markers("b", 0).is_empty(), "not yet");
    c.wait(Duration::from_millis(200));
    let snap = c.cluster.txn_snapshot();
    assert!(snap.transactions[0].timed_out);
    assert_eq!(snap.transactions[0].outcome, TxnOutcome::Aborted);
    assert_eq!(c.markers("b", 0), vec![(pid, 1, Marker::Abort)]);
    assert!(c.visible("b", 0).is_empty());
    assert_eq!(
        c.end(conn, 4, pid, 0, true).error_code,
        ErrorCode::PRODUCER_FENCED.0
    );
    // A timeout beyond the broker's maximum is refused.
    assert_eq!(
        c.init(conn, 4, 16 * 60_000).error_code,
        ErrorCode::INVALID_TRANSACTION_TIMEOUT.0
    );
}

#[test]
fn an_end_txn_retried_after_its_answer_was_lost_gets_the_same_outcome() {
    // v1 (EndTxn v4): the retry of a commit answers NONE once complete; an abort does not.
    let slow_markers = TxnConfig {
        marker_delay: Duration::from_secs(1),
        ..TxnConfig::v1()
    };
    let mut c = Client::new(slow_markers);
    let conn = c.coordinator();
    let pid = c.init(conn, 4, 60_000).producer_id;
    assert_eq!(c.add(conn, 3, pid, 0, &[("a", 0)]), vec![OK]);
    assert_eq!(c.produce(11, (pid, 0, 0), "a", 0, &[&rec("a", 1)]), OK);
    c.cluster.lose_end_txn_answers(1);
    let req = EndTxnRequest {
        transactional_id: TXN.into(),
        producer_id: pid,
        producer_epoch: 0,
        committed: true,
    };
    assert!(c.try_roundtrip(conn, 4, &req).is_none(), "answer lost");
    let conn = c.coordinator();
    let retry = c.end(conn, 4, pid, 0, true).error_code;
    assert_eq!(
        retry,
        ErrorCode::CONCURRENT_TRANSACTIONS.0,
        "markers pending"
    );
    c.wait(Duration::from_millis(1100));
    assert_eq!(c.end(conn, 4, pid, 0, true).error_code, OK);
    assert_eq!(
        c.end(conn, 4, pid, 0, false).error_code,
        ErrorCode::INVALID_TXN_STATE.0
    );
    assert_eq!(c.visible("a", 0), vec![Bytes::from("v1")]);

    // v2 (EndTxn v5): the retry carries the epoch before the bump and gets the new one.
    let mut c = Client::new(TxnConfig::v2());
    let conn = c.coordinator();
    let pid = c.init(conn, 5, 60_000).producer_id;
    assert_eq!(c.produce(12, (pid, 0, 0), "a", 0, &[&rec("a", 1)]), OK);
    c.cluster.lose_end_txn_answers(1);
    let req = EndTxnRequest {
        committed: true,
        producer_id: pid,
        ..req
    };
    assert!(c.try_roundtrip(conn, 5, &req).is_none(), "answer lost");
    c.wait(Duration::from_millis(50));
    let conn = c.coordinator();
    let retry = c.end(conn, 5, pid, 0, true);
    assert_eq!(
        (retry.error_code, retry.producer_id, retry.producer_epoch),
        (OK, pid, 1)
    );
    // Asking the other outcome of it is refused; the epoch before the last one is fenced.
    assert_eq!(
        c.end(conn, 5, pid, 0, false).error_code,
        ErrorCode::INVALID_TXN_STATE.0
    );
    assert_eq!(c.markers("a", 0), vec![(pid, 1, Marker::Commit)]);
    assert_eq!(c.visible("a", 0), vec![Bytes::from("v1")]);
}

#[test]
fn a_leader_move_mid_transaction_sends_the_marker_to_the_new_leader() {
    let mut c = Client::new(TxnConfig::v2());
    let conn = c.coordinator();
    let pid = c.init(conn, 5, 60_000).producer_id;
    assert_eq!(c.produce(12, (pid, 0, 0), "a", 1, &[&rec("a", 1)]), OK);
    let old = c.cluster.leader("a", 1).unwrap();
    let to = 1 + old % 3;
    c.cluster.inject(Fault::MoveLeader {
        topic: "a".into(),
        partition: 1,
        to,
    });
    // The transaction goes on at the new leader (the producer state moved with the log).
    assert_eq!(c.produce(12, (pid, 0, 1), "a", 1, &[&rec("a", 2)]), OK);
    assert_eq!(c.end(conn, 5, pid, 0, true).error_code, OK);
    c.wait(Duration::from_millis(50));
    let log = c.cluster.log("a", 1).unwrap();
    let marker = c.cluster.appends()[log[2].append].clone();
    assert_eq!((log[2].control, marker.broker), (Some(Marker::Commit), to));
    assert_eq!(
        c.visible("a", 1),
        vec![Bytes::from("v1"), Bytes::from("v2")]
    );
}

#[test]
fn drawn_coordinator_faults_move_and_crash_coordinators_and_lose_end_txn_answers() {
    let chaos = TxnConfig {
        faults: odradek_sim::TxnFaults {
            move_every: Some((Duration::from_millis(200), Duration::from_millis(400))),
            crash_every: Some((Duration::from_millis(700), Duration::from_millis(900))),
            crash_downtime: (Duration::from_millis(100), Duration::from_millis(100)),
            lost_end_txn_rate: 1.0,
            horizon: Duration::from_secs(3),
        },
        ..TxnConfig::v2()
    };
    let run = |txn: TxnConfig| {
        let mut c = Client::new(txn);
        let conn = c.coordinator();
        c.init(conn, 5, 60_000);
        let mut seen = vec![c.cluster.txn_coordinator(TXN).unwrap()];
        for _ in 0..40 {
            c.wait(Duration::from_millis(100));
            let now = c.cluster.txn_coordinator(TXN).unwrap();
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        }
        (seen, c.cluster.stats().crashes, c)
    };
    let (moves, crashes, mut c) = run(chaos.clone());
    assert!(moves.len() >= 5, "coordinator history {moves:?}");
    assert!(crashes >= 2, "{crashes} crashes");
    // Past the horizon nothing moves any more, and the same seed replays the same story.
    assert_eq!(run(chaos.clone()).0, moves);
    let settled = c.cluster.txn_coordinator(TXN);
    c.wait(Duration::from_secs(5));
    assert_eq!(c.cluster.txn_coordinator(TXN), settled);
    // Every EndTxn answer is lost at rate 1.
    let conn = c.coordinator();
    c.wait(chaos.load_time);
    let (pid, epoch) = c.cluster.txn_producer(TXN).unwrap();
    let req = EndTxnRequest {
        transactional_id: TXN.into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed: false,
    };
    assert!(c.try_roundtrip(conn, 5, &req).is_none());
    assert_eq!(
        c.cluster.txn_producer(TXN),
        Some((pid, epoch + 1)),
        "acted on"
    );
    // Without faults, nothing moves.
    let (still, crashes, _) = run(TxnConfig::v2());
    assert_eq!((still.len(), crashes), (1, 0));
}

/// Errors a transactional client retries (after finding the coordinator again).
fn retriable(code: i16) -> bool {
    [
        ErrorCode::NOT_COORDINATOR,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
        ErrorCode::COORDINATOR_NOT_AVAILABLE,
        ErrorCode::CONCURRENT_TRANSACTIONS,
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        ErrorCode::NOT_ENOUGH_REPLICAS,
    ]
    .contains(&ErrorCode(code))
        || code == LOST
}

/// A minimal transactional client on raw requests, retrying through coordinator moves,
/// crashes and lost EndTxn answers: `txns` transactions of two records each (on `a-n%3` and
/// `b-0`), every third aborted; returns its history, the cluster, and how many coordinator
/// requests went unanswered and how many were answered with a retriable error.
fn raw_transactional_run(
    seed: u64,
    txn: TxnConfig,
    txns: u64,
) -> (TxnHistory, Cluster, (usize, usize)) {
    let mut stats = (0, 0);
    let v2 = txn.is_v2();
    let (init_v, end_v, produce_v) = if v2 { (5, 5, 12) } else { (4, 4, 11) };
    let mut c = Client::seeded(seed, txn);
    let backoff = Duration::from_millis(50);
    // A request to the coordinator, retried until it is not a coordinator error.
    let mut conn = 0;
    macro_rules! to_coordinator {
        ($call:expr) => {
            loop {
                if conn == 0 {
                    let live = (1..=3).find(|n| c.cluster.is_up(*n)).unwrap();
                    let found = c.try_find(live, key_type::TRANSACTION, TXN);
                    let (k, ok) = match found {
                        Some((node, OK)) => c.connect(node),
                        _ => (0, false),
                    };
                    if !ok {
                        c.wait(backoff);
                        continue;
                    }
                    conn = k;
                }
                match $call {
                    None => {
                        conn = 0;
                        stats.0 += 1;
                    }
                    Some(code) if retriable(code) => {
                        stats.1 += 1;
                        conn = 0;
                        c.wait(backoff);
                    }
                    Some(code) => break code,
                }
            }
        };
    }
    let mut producer = (0, 0);
    let code = to_coordinator!({
        let req = InitProducerIdRequest {
            transactional_id: Some(TXN.into()),
            transaction_timeout_ms: 600_000,
            producer_id: -1,
            producer_epoch: -1,
        };
        c.try_roundtrip(conn, init_v, &req).map(|r| {
            producer = (r.producer_id, r.producer_epoch);
            r.error_code
        })
    });
    assert_eq!(code, OK);
    let mut seqs: std::collections::BTreeMap<(String, i32), i32> = Default::default();
    let mut recorder = odradek_sim::TxnRecorder::default();
    for n in 0..txns {
        recorder.begin();
        let (pid, epoch) = producer;
        let targets = [("a", (n % 3) as i32), ("b", 0)];
        if !v2 {
            let code = to_coordinator!({
                let req = AddPartitionsToTxnRequest {
                    transactional_id: TXN.into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    topics: targets
                        .iter()
                        .map(|(t, p)| AddPartitionsToTxnTopic {
                            name: (*t).into(),
                            partitions: vec![*p],
                        })
                        .collect(),
                };
                c.try_roundtrip(conn, 3, &req)
                    .map(|r| r.errors().map(|e| e.2).max_by_key(|e| *e != OK).unwrap())
            });
            assert_eq!(code, OK);
        }
        for (i, (topic, partition)) in targets.into_iter().enumerate() {
            let r = rec(topic, n * 10 + i as u64);
            let seq = *seqs.entry((topic.into(), partition)).or_insert(0);
            loop {
                let code = c.produce(produce_v, (pid, epoch, seq), topic, partition, &[&r]);
                if code == OK {
                    break;
                }
                assert!(retriable(code), "produce: {}", ErrorCode(code));
                c.wait(backoff);
            }
            seqs.insert((topic.into(), partition), seq + 1);
            recorder.sent(r);
        }
        let commit = n % 3 != 0;
        let mut next = producer;
        let code = to_coordinator!({
            let req = EndTxnRequest {
                transactional_id: TXN.into(),
                producer_id: pid,
                producer_epoch: epoch,
                committed: commit,
            };
            c.try_roundtrip(conn, end_v, &req).map(|r| {
                if v2 && r.error_code == OK {
                    next = (r.producer_id, r.producer_epoch);
                }
                r.error_code
            })
        });
        assert_eq!(code, OK, "transaction {n}");
        recorder.ended(if commit {
            ClientTxnOutcome::Committed
        } else {
            ClientTxnOutcome::Aborted
        });
        if next != producer {
            producer = next;
            seqs.clear(); // a new epoch starts every partition at 0
        }
    }
    c.wait(Duration::from_secs(10));
    (recorder.finish(), c.cluster, stats)
}

#[test]
fn transactions_through_coordinator_moves_crashes_and_lost_answers_pass_the_checker() {
    let faults = odradek_sim::TxnFaults {
        move_every: Some((Duration::from_millis(20), Duration::from_millis(80))),
        crash_every: Some((Duration::from_millis(100), Duration::from_millis(300))),
        crash_downtime: (Duration::from_millis(50), Duration::from_millis(200)),
        lost_end_txn_rate: 0.3,
        horizon: Duration::from_secs(3),
    };
    let (mut unanswered, mut retried) = (0, 0);
    for seed in 0..6 {
        let base = if seed % 2 == 0 {
            TxnConfig::v2()
        } else {
            TxnConfig::v1()
        };
        let txn = TxnConfig {
            faults: faults.clone(),
            ..base
        };
        let (history, cluster, (lost, retries)) = raw_transactional_run(seed, txn, 30);
        unanswered += lost;
        retried += retries;
        let snap = cluster.txn_snapshot();
        let logs = LogSnapshot::of(&cluster);
        let violations = check_transactions(&history, &logs, &snap);
        assert_eq!(violations, vec![], "seed {seed}");
        assert_eq!(snap.transactions.len(), 30, "seed {seed}");
        assert!(cluster.stats().crashes > 0, "seed {seed}");
        // Committed transactions are visible, aborted ones are in the logs but not visible.
        let visible: usize = logs
            .logs
            .values()
            .map(|l| read_committed(l).visible.len())
            .sum();
        assert_eq!(visible, 2 * 20, "seed {seed}");
    }
    // The faults did reach the client: answers lost, coordinators moved or loading.
    assert!(unanswered > 0 && retried > 0, "{unanswered} {retried}");
}

#[test]
fn produce_while_the_markers_are_written_is_retriable_and_then_goes_through() {
    let slow_markers = TxnConfig {
        marker_delay: Duration::from_millis(500),
        ..TxnConfig::v2()
    };
    let mut c = Client::new(slow_markers);
    let conn = c.coordinator();
    let pid = c.init(conn, 5, 60_000).producer_id;
    assert_eq!(c.produce(12, (pid, 0, 0), "a", 0, &[&rec("a", 1)]), OK);
    assert_eq!(c.end(conn, 5, pid, 0, true).producer_epoch, 1);
    // The next transaction's first record, before the markers of the last one are written:
    // refused retriably (Kafka turns CONCURRENT_TRANSACTIONS into NOT_ENOUGH_REPLICAS).
    let r2 = rec("a", 2);
    assert_eq!(
        c.produce(12, (pid, 1, 0), "a", 0, &[&r2]),
        ErrorCode::NOT_ENOUGH_REPLICAS.0
    );
    assert_eq!(
        c.end(conn, 5, pid, 1, false).error_code,
        ErrorCode::INVALID_TXN_STATE.0,
        "an abort while the commit's markers are written, as Kafka answers it"
    );
    c.wait(Duration::from_millis(600));
    assert_eq!(c.produce(12, (pid, 1, 0), "a", 0, &[&r2]), OK);
    assert_eq!(c.markers("a", 0), vec![(pid, 1, Marker::Commit)]);
    // The open transaction holds the last stable offset at its first record.
    let log = c.cluster.log("a", 0).unwrap();
    assert_eq!(read_committed(log).last_stable_offset, 2);
}

#[test]
fn producers_without_transactions_run_unchanged_against_a_transactional_cluster() {
    for seed in 0..40 {
        let mut config = odradek_sim::suite_config(seed);
        config.cluster.transactions = TxnConfig::for_seed(seed, 0.5, true);
        let report = odradek_sim::Simulation::new(config).run();
        assert!(
            report.passed(),
            "seed {seed}: {:#?}",
            &report.violations[..report.violations.len().min(5)]
        );
        let (history, snapshot) = report.transactions.expect("checked");
        assert!(history.transactions.is_empty());
        assert!(snapshot.transactions.is_empty() && snapshot.fences.is_empty());
    }
}

#[test]
fn an_epoch_bump_past_the_last_epoch_hands_out_a_new_producer_id_and_marks_the_old_one() {
    let mut c = Client::new(TxnConfig::v2());
    let conn = c.coordinator();
    let mut init = c.init(conn, 5, 60_000);
    let pid = init.producer_id;
    while init.producer_epoch < i16::MAX - 1 {
        init = c.init(conn, 5, 60_000);
        assert_eq!((init.error_code, init.producer_id), (OK, pid));
    }
    assert_eq!(
        c.produce(12, (pid, i16::MAX - 1, 0), "a", 0, &[&rec("a", 1)]),
        OK
    );
    let end = c.end(conn, 5, pid, i16::MAX - 1, true);
    assert_eq!(end.error_code, OK);
    assert_ne!(end.producer_id, pid);
    assert_eq!(end.producer_epoch, 0);
    c.wait(Duration::from_millis(50));
    // The markers close the old id's transaction at the last epoch.
    assert_eq!(c.markers("a", 0), vec![(pid, i16::MAX, Marker::Commit)]);
    assert_eq!(c.visible("a", 0), vec![Bytes::from("v1")]);
    let next = (end.producer_id, 0, 0);
    assert_eq!(c.produce(12, next, "a", 0, &[&rec("a", 2)]), OK);
}

#[test]
fn markers_wait_while_no_broker_is_up_and_are_written_once_the_coordinator_is_back() {
    let mut config = ClusterConfig::new(3);
    config.brokers = 1;
    config.transactions = TxnConfig {
        marker_delay: Duration::from_millis(100),
        ..TxnConfig::v1()
    };
    let mut c = Client::with(config);
    let conn = c.coordinator();
    let pid = c.init(conn, 4, 60_000).producer_id;
    assert_eq!(c.add(conn, 3, pid, 0, &[("a", 0), ("b", 0)]), vec![OK, OK]);
    assert_eq!(c.produce(11, (pid, 0, 0), "a", 0, &[&rec("a", 1)]), OK);
    assert_eq!(c.produce(11, (pid, 0, 0), "b", 0, &[&rec("b", 2)]), OK);
    let conn = c.coordinator();
    assert_eq!(c.end(conn, 3, pid, 0, true).error_code, OK);
    c.cluster.inject(Fault::CrashBroker {
        node: 1,
        downtime: Duration::from_secs(1),
    });
    c.wait(Duration::from_millis(900));
    assert!(c.markers("a", 0).is_empty(), "nobody to write them");
    // Back after 1 s, loading for load_time; then the markers go out.
    c.wait(Duration::from_millis(100) + TxnConfig::v1().load_time / 2);
    assert!(c.markers("a", 0).is_empty(), "still loading");
    c.wait(TxnConfig::v1().load_time);
    assert_eq!(c.markers("a", 0), vec![(pid, 0, Marker::Commit)]);
    assert_eq!(c.markers("b", 0), vec![(pid, 0, Marker::Commit)]);
    assert_eq!(c.visible("a", 0), vec![Bytes::from("v1")]);
    assert_eq!(c.visible("b", 0), vec![Bytes::from("v2")]);
    let snap = c.cluster.txn_snapshot();
    assert!(snap.transactions[0].completed_at.is_some());
}

/// The suite's transactional seeds (`odradek_sim::txn_run`): a seed with a second producer on
/// each transaction version ends with every producer closed, the first fenced, transactions
/// committed and aborted, and the read_committed checks passing.
#[test]
fn transactional_suite_seeds_fence_the_first_producer_and_pass() {
    for v2 in [false, true] {
        let seed = (0..200)
            .find(|&s| {
                let c = odradek_sim::txn_suite_config(s);
                c.second.is_some() && c.cluster.transactions.is_v2() == v2 && !c.healthy
            })
            .expect("a seed with two producers");
        let r = odradek_sim::run_transactional(seed, false);
        assert!(r.violations.is_empty(), "seed {seed}: {:?}", r.violations);
        assert!(r.fenced >= 1, "seed {seed}: no producer fenced");
        assert!(r.committed > 0 && r.sent > 0, "seed {seed}: {r:?}");
        assert_eq!(
            r.history.transactions.len(),
            r.committed + r.aborted + r.unknown
        );
    }
}

/// A healthy seed alone with its transactional.id commits every transaction it meant to.
#[test]
fn a_healthy_transactional_seed_commits_what_it_meant_to() {
    let seed = (0..200)
        .find(|&s| {
            let c = odradek_sim::txn_suite_config(s);
            c.second.is_none() && c.healthy
        })
        .expect("a healthy seed");
    let config = odradek_sim::txn_suite_config(seed);
    let r = odradek_sim::run_txn_config(&config);
    assert!(r.violations.is_empty(), "seed {seed}: {:?}", r.violations);
    let meant = config.first.iter().filter(|t| !t.abort).count();
    assert_eq!((r.committed, r.fenced, r.unknown), (meant, 0, 0));
    assert_eq!(r.aborted, config.first.len() - meant);
}

/// KIP-360 as Kafka's `prepareIncrementProducerEpoch`: an InitProducerId bump from the current
/// epoch keeps it as the last; the same request again (its answer lost) gets the bumped epoch
/// back, unbumped; once a new producer (no epoch given) initializes, the old epoch is fenced.
/// Found by the transactional seeds (207: a lost answer to the abort's bump fenced the only
/// producer with its id).
#[test]
fn an_init_producer_id_bump_retried_with_the_last_epoch_gets_the_current_one() {
    let mut c = Client::new(TxnConfig::v1());
    let conn = c.coordinator();
    let first = c.init(conn, 4, 60_000);
    let (pid, e0) = (first.producer_id, first.producer_epoch);
    let bump = |c: &mut Client, epoch: i16| {
        let req = InitProducerIdRequest {
            transactional_id: Some(TXN.into()),
            transaction_timeout_ms: 60_000,
            producer_id: pid,
            producer_epoch: epoch,
        };
        let r: InitProducerIdResponse = c.roundtrip(conn, 4, &req);
        (r.error_code, r.producer_id, r.producer_epoch)
    };
    assert_eq!(bump(&mut c, e0), (OK, pid, e0 + 1));
    assert_eq!(
        bump(&mut c, e0),
        (OK, pid, e0 + 1),
        "a retry is not bumped again"
    );
    assert_eq!(bump(&mut c, e0 + 1), (OK, pid, e0 + 2));
    let other = c.init(conn, 4, 60_000);
    assert_eq!((other.error_code, other.producer_epoch), (OK, e0 + 3));
    assert_ne!(
        bump(&mut c, e0 + 1).0,
        OK,
        "a new producer cleared the last epoch"
    );
}
