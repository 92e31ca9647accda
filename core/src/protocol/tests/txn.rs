//! The transactional producer's messages (FindCoordinator, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, TxnOffsetCommit, InitProducerId v5) and ApiVersions' features:
//! golden bytes assembled by hand from the schemas, round trips in every version, and the
//! per-version normalisation of what older versions cannot carry.

use super::*;

/// A producer id of 1 as its eight wire bytes.
const PID1: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 1];

fn body<M>(m: &M, v: i16, enc: impl Fn(&M, i16, &mut BytesMut)) -> Vec<u8> {
    let mut b = BytesMut::new();
    enc(m, v, &mut b);
    b.to_vec()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub(super) fn find_coordinator_requests() -> Vec<FindCoordinatorRequest> {
    vec![
        FindCoordinatorRequest {
            key_type: find_coordinator::key_type::TRANSACTION,
            keys: vec!["txn-ü".into()],
        },
        FindCoordinatorRequest {
            key_type: find_coordinator::key_type::GROUP,
            keys: vec!["g1".into(), "g2".into(), String::new()],
        },
    ]
}

pub(super) fn find_coordinator_responses() -> Vec<FindCoordinatorResponse> {
    let c = |key: &str, node_id, error_code, error_message: Option<&str>| Coordinator {
        key: Some(key.into()),
        node_id,
        host: format!("broker-{node_id}"),
        port: 9092 + node_id,
        error_code,
        error_message: error_message.map(Into::into),
    };
    vec![
        FindCoordinatorResponse {
            throttle_time_ms: 3,
            coordinators: vec![c("t", 2, 0, None)],
        },
        FindCoordinatorResponse {
            throttle_time_ms: 0,
            coordinators: vec![c("a", 1, 0, None), c("b", -1, 15, Some("loading"))],
        },
    ]
}

/// What a FindCoordinator request reads back as in `v`.
fn norm_find_coordinator_request(v: i16, mut m: FindCoordinatorRequest) -> FindCoordinatorRequest {
    if v < 1 {
        m.key_type = 0;
    }
    if v < 4 {
        m.keys.truncate(1);
    }
    m
}

fn norm_find_coordinator_response(
    v: i16,
    mut m: FindCoordinatorResponse,
) -> FindCoordinatorResponse {
    if v < 1 {
        m.throttle_time_ms = 0;
    }
    if v < 4 {
        m.coordinators.truncate(1);
        for c in &mut m.coordinators {
            c.key = None;
            if v < 1 {
                c.error_message = None;
            }
        }
    }
    m
}

pub(super) fn add_partitions_request() -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest {
        transactional_id: "txn-1".into(),
        producer_id: 4242,
        producer_epoch: 7,
        topics: vec![
            AddPartitionsToTxnTopic {
                name: "orders".into(),
                partitions: vec![0, 5, 2],
            },
            AddPartitionsToTxnTopic {
                name: "empty".into(),
                partitions: vec![],
            },
        ],
    }
}

pub(super) fn add_partitions_response() -> AddPartitionsToTxnResponse {
    let p = |partition_index, error_code| AddPartitionsToTxnPartitionResult {
        partition_index,
        error_code,
    };
    AddPartitionsToTxnResponse {
        throttle_time_ms: 11,
        topics: vec![
            AddPartitionsToTxnTopicResult {
                name: "orders".into(),
                partitions: vec![p(0, 0), p(5, 55), p(2, 29)],
            },
            AddPartitionsToTxnTopicResult {
                name: "x".into(),
                partitions: vec![],
            },
        ],
    }
}

pub(super) fn add_offsets_request() -> AddOffsetsToTxnRequest {
    AddOffsetsToTxnRequest {
        transactional_id: "txn-1".into(),
        producer_id: 4242,
        producer_epoch: 7,
        group_id: "group-ø".into(),
    }
}

pub(super) fn end_txn_request() -> EndTxnRequest {
    EndTxnRequest {
        transactional_id: "txn-1".into(),
        producer_id: 4242,
        producer_epoch: 7,
        committed: true,
    }
}

pub(super) fn end_txn_response() -> EndTxnResponse {
    EndTxnResponse {
        throttle_time_ms: 1,
        error_code: 0,
        producer_id: 4242,
        producer_epoch: 8,
    }
}

pub(super) fn txn_offset_commit_request() -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest {
        transactional_id: "txn-1".into(),
        group_id: "g".into(),
        producer_id: 4242,
        producer_epoch: 7,
        generation_id: 12,
        member_id: "member-1".into(),
        group_instance_id: Some("instance-a".into()),
        topics: vec![TxnOffsetCommitTopic {
            name: "in".into(),
            partitions: vec![
                TxnOffsetCommitPartition {
                    partition_index: 0,
                    committed_offset: 1_000_000_000_000,
                    committed_leader_epoch: 3,
                    committed_metadata: Some("meta".into()),
                },
                TxnOffsetCommitPartition {
                    partition_index: 9,
                    committed_offset: 0,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                },
            ],
        }],
    }
}

fn norm_txn_offset_commit_request(v: i16, mut m: TxnOffsetCommitRequest) -> TxnOffsetCommitRequest {
    if v < 3 {
        m.generation_id = -1;
        m.member_id.clear();
        m.group_instance_id = None;
    }
    if v < 2 {
        for p in m.topics.iter_mut().flat_map(|t| &mut t.partitions) {
            p.committed_leader_epoch = -1;
        }
    }
    m
}

pub(super) fn txn_offset_commit_response() -> TxnOffsetCommitResponse {
    TxnOffsetCommitResponse {
        throttle_time_ms: 2,
        topics: vec![TxnOffsetCommitTopicResult {
            name: "in".into(),
            partitions: vec![
                TxnOffsetCommitPartitionResult {
                    partition_index: 0,
                    error_code: 0,
                },
                TxnOffsetCommitPartitionResult {
                    partition_index: 9,
                    error_code: 22,
                },
            ],
        }],
    }
}

#[test]
fn find_coordinator_round_trips_every_version() {
    for v in 0..=6 {
        for m in find_coordinator_requests() {
            request_round_trip(v, &m, &norm_find_coordinator_request(v, m.clone()));
        }
        for m in find_coordinator_responses() {
            let back = norm_find_coordinator_response(v, m.clone());
            response_round_trip::<FindCoordinatorRequest>(v, &m, &back);
            // The one accessor answers whatever the version.
            let want = m.coordinators[0].clone();
            let got = back.coordinator(want.key.as_deref().unwrap_or("")).unwrap();
            assert_eq!(
                got,
                (want.node_id, want.host.as_str(), want.port, want.error_code),
                "v{v}"
            );
        }
    }
}

#[test]
fn find_coordinator_accessor_by_key_and_without_one() {
    let v4 = &find_coordinator_responses()[1];
    assert_eq!(v4.coordinator("b"), Some((-1, "broker--1", 9091, 15)));
    assert_eq!(v4.coordinator("a"), Some((1, "broker-1", 9093, 0)));
    assert_eq!(v4.coordinator("zzz"), None);
    // A v0-v3 answer names no key: it answers the key asked.
    let old = norm_find_coordinator_response(3, v4.clone());
    assert_eq!(old.coordinator("anything"), Some((1, "broker-1", 9093, 0)));
    assert_eq!(FindCoordinatorResponse::default().coordinator("a"), None);
}

#[test]
fn golden_find_coordinator() {
    let req = |key_type, keys: &[&str]| FindCoordinatorRequest {
        key_type,
        keys: keys.iter().map(|k| (*k).to_string()).collect(),
    };
    let enc = |m: &FindCoordinatorRequest, v, b: &mut BytesMut| m.encode(v, b);
    // v0: only the key (a group key by definition).
    assert_eq!(body(&req(1, &["tx"]), 0, enc), [0, 2, b't', b'x']);
    // v1: key, then key type 1 (transaction).
    assert_eq!(body(&req(1, &["tx"]), 1, enc), [0, 2, b't', b'x', 1]);
    // v3: compact key, key type, tagged fields.
    assert_eq!(body(&req(1, &["tx"]), 3, enc), [3, b't', b'x', 1, 0]);
    // v4: key type, then the compact array of keys.
    let v4 = [1, 3, 2, b'a', 3, b'b', b'c', 0];
    assert_eq!(body(&req(1, &["a", "bc"]), 4, enc), v4);
    // v5 and v6 are v4 on the wire.
    assert_eq!(body(&req(1, &["a", "bc"]), 6, enc), v4);

    let enc = |m: &FindCoordinatorResponse, v, b: &mut BytesMut| m.encode(v, b);
    let one = |node_id, host: &str, port, error_code| FindCoordinatorResponse {
        throttle_time_ms: 5,
        coordinators: vec![Coordinator {
            key: None,
            node_id,
            host: host.into(),
            port,
            error_code,
            error_message: None,
        }],
    };
    // v0: error, node, host, port (no throttle, no message). 9092 = 0x2384.
    assert_eq!(
        body(&one(1, "h", 9092, 0), 0, enc),
        [0, 0, 0, 0, 0, 1, 0, 1, b'h', 0, 0, 0x23, 0x84]
    );
    // v1: throttle, error 15, null message, node -1, empty host, port -1.
    assert_eq!(
        body(&one(-1, "", -1, 15), 1, enc),
        cat(&[
            &[0, 0, 0, 5, 0, 15, 0xff, 0xff],
            &[0xff; 4],
            &[0, 0],
            &[0xff; 4]
        ])
    );
    // v4: throttle, then one entry per key.
    let mut v4 = one(2, "h", 9092, 0);
    v4.throttle_time_ms = 0;
    v4.coordinators[0].key = Some("t".into());
    let want: &[u8] = &[
        0, 0, 0, 0, // throttle
        2, // one coordinator
        2, b't', // key
        0, 0, 0, 2, // node
        2, b'h', // host
        0, 0, 0x23, 0x84, // port
        0, 0, // error
        0, // null message
        0, // entry tags
        0, // top-level tags
    ];
    assert_eq!(body(&v4, 4, enc), want);
    // Decoding the same bytes gives the entry back, and the accessor finds it by key.
    let back = FindCoordinatorResponse::decode(4, &mut Reader::new(want)).unwrap();
    assert_eq!(back, v4);
    assert_eq!(back.coordinator("t"), Some((2, "h", 9092, 0)));
}

#[test]
fn golden_find_coordinator_v4_request_frame() {
    let header = RequestHeader {
        api_key: api_key::FIND_COORDINATOR,
        api_version: 4,
        correlation_id: 3,
        client_id: None,
    };
    let m = FindCoordinatorRequest {
        key_type: 1,
        keys: vec!["t".into()],
    };
    let mut buf = BytesMut::new();
    encode_request(&header, &m, &mut buf);
    // Request header v2 (flexible): key 10, version 4, correlation 3, null client id, tags.
    let want: &[u8] = &[
        0, 0, 0, 16, 0, 10, 0, 4, 0, 0, 0, 3, 0xff, 0xff, 0, 1, 2, 2, b't', 0,
    ];
    assert_eq!(&buf[..], want);
}

#[test]
fn add_partitions_to_txn_round_trips_every_version() {
    for v in 0..=3 {
        let m = add_partitions_request();
        request_round_trip(v, &m, &m);
        let m = add_partitions_response();
        response_round_trip::<AddPartitionsToTxnRequest>(v, &m, &m);
    }
    let resp = add_partitions_response();
    let errs: Vec<_> = resp.errors().collect();
    assert_eq!(
        errs,
        [("orders", 0, 0), ("orders", 5, 55), ("orders", 2, 29)]
    );
}

#[test]
fn golden_add_partitions_to_txn() {
    let req = AddPartitionsToTxnRequest {
        transactional_id: "t".into(),
        producer_id: 1,
        producer_epoch: 2,
        topics: vec![AddPartitionsToTxnTopic {
            name: "a".into(),
            partitions: vec![0, 3],
        }],
    };
    let enc = |m: &AddPartitionsToTxnRequest, v, b: &mut BytesMut| m.encode(v, b);
    let v0 = cat(&[
        &[0, 1, b't'],
        &PID1,
        &[0, 2],
        &[0, 0, 0, 1, 0, 1, b'a'],
        &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3],
    ]);
    assert_eq!(body(&req, 0, enc), v0);
    let v3 = cat(&[
        &[2, b't'],
        &PID1,
        &[0, 2],
        &[2, 2, b'a'],
        &[3, 0, 0, 0, 0, 0, 0, 0, 3],
        &[0, 0],
    ]);
    assert_eq!(body(&req, 3, enc), v3);
    assert_eq!(
        AddPartitionsToTxnRequest::decode(3, &mut Reader::new(&v3)).unwrap(),
        req
    );

    let resp = AddPartitionsToTxnResponse {
        throttle_time_ms: 0,
        topics: vec![AddPartitionsToTxnTopicResult {
            name: "a".into(),
            partitions: vec![AddPartitionsToTxnPartitionResult {
                partition_index: 0,
                error_code: 51,
            }],
        }],
    };
    let enc = |m: &AddPartitionsToTxnResponse, v, b: &mut BytesMut| m.encode(v, b);
    let v0: &[u8] = &[
        0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 0, 0, 51,
    ];
    assert_eq!(body(&resp, 0, enc), v0);
    let v3: &[u8] = &[0, 0, 0, 0, 2, 2, b'a', 2, 0, 0, 0, 0, 0, 51, 0, 0, 0];
    assert_eq!(body(&resp, 3, enc), v3);
    let back = AddPartitionsToTxnResponse::decode(3, &mut Reader::new(v3)).unwrap();
    assert_eq!(back.errors().collect::<Vec<_>>(), [("a", 0, 51)]);
}

#[test]
fn add_offsets_and_end_txn_round_trip_every_version() {
    for v in 0..=4 {
        let m = add_offsets_request();
        request_round_trip(v, &m, &m);
        let m = AddOffsetsToTxnResponse {
            throttle_time_ms: 9,
            error_code: 120,
        };
        response_round_trip::<AddOffsetsToTxnRequest>(v, &m, &m);
    }
    for v in 0..=5 {
        for committed in [true, false] {
            let m = EndTxnRequest {
                committed,
                ..end_txn_request()
            };
            request_round_trip(v, &m, &m);
        }
        let m = end_txn_response();
        let want = if v >= 5 {
            m.clone()
        } else {
            EndTxnResponse {
                producer_id: -1,
                producer_epoch: -1,
                ..m.clone()
            }
        };
        response_round_trip::<EndTxnRequest>(v, &m, &want);
    }
}

#[test]
fn golden_add_offsets_to_txn_and_end_txn() {
    let req = AddOffsetsToTxnRequest {
        transactional_id: "t".into(),
        producer_id: 1,
        producer_epoch: 2,
        group_id: "g".into(),
    };
    let enc = |m: &AddOffsetsToTxnRequest, v, b: &mut BytesMut| m.encode(v, b);
    assert_eq!(
        body(&req, 0, enc),
        cat(&[&[0, 1, b't'], &PID1, &[0, 2, 0, 1, b'g']])
    );
    assert_eq!(
        body(&req, 3, enc),
        cat(&[&[2, b't'], &PID1, &[0, 2, 2, b'g', 0]])
    );
    let resp = AddOffsetsToTxnResponse {
        throttle_time_ms: 7,
        error_code: 120,
    };
    let enc = |m: &AddOffsetsToTxnResponse, v, b: &mut BytesMut| m.encode(v, b);
    assert_eq!(body(&resp, 2, enc), [0, 0, 0, 7, 0, 120]);
    assert_eq!(body(&resp, 4, enc), [0, 0, 0, 7, 0, 120, 0]);

    let req = EndTxnRequest {
        transactional_id: "t".into(),
        producer_id: 1,
        producer_epoch: 2,
        committed: true,
    };
    let enc = |m: &EndTxnRequest, v, b: &mut BytesMut| m.encode(v, b);
    assert_eq!(body(&req, 0, enc), cat(&[&[0, 1, b't'], &PID1, &[0, 2, 1]]));
    let abort = EndTxnRequest {
        committed: false,
        ..req
    };
    assert_eq!(
        body(&abort, 5, enc),
        cat(&[&[2, b't'], &PID1, &[0, 2, 0, 0]])
    );

    // v3: throttle, PRODUCER_FENCED (90), tags. v5 adds the producer id and the new epoch.
    let enc = |m: &EndTxnResponse, v, b: &mut BytesMut| m.encode(v, b);
    let fenced = EndTxnResponse {
        error_code: 90,
        ..EndTxnResponse::default()
    };
    assert_eq!(body(&fenced, 3, enc), [0, 0, 0, 0, 0, 90, 0]);
    let v5 = cat(&[&[0, 0, 0, 0, 0, 0], &PID1, &[0, 3, 0]]);
    let back = EndTxnResponse::decode(5, &mut Reader::new(&v5)).unwrap();
    assert_eq!(
        (back.error_code, back.producer_id, back.producer_epoch),
        (0, 1, 3)
    );
    assert_eq!(body(&back, 5, enc), v5);
}

#[test]
fn txn_offset_commit_round_trips_every_version() {
    for v in 0..=5 {
        let m = txn_offset_commit_request();
        request_round_trip(v, &m, &norm_txn_offset_commit_request(v, m.clone()));
        let m = txn_offset_commit_response();
        response_round_trip::<TxnOffsetCommitRequest>(v, &m, &m);
    }
    assert_eq!(
        txn_offset_commit_response().errors().collect::<Vec<_>>(),
        [("in", 0, 0), ("in", 9, 22)]
    );
}

#[test]
fn txn_offset_commit_min_version_follows_the_fields_it_carries() {
    let full = txn_offset_commit_request();
    assert_eq!(full.min_version(), 3);
    let no_group = norm_txn_offset_commit_request(2, full.clone());
    assert_eq!(no_group.min_version(), 2);
    let bare = norm_txn_offset_commit_request(1, full.clone());
    assert_eq!(bare.min_version(), 0);
    let only_instance = TxnOffsetCommitRequest {
        group_instance_id: Some("i".into()),
        ..bare
    };
    assert_eq!(only_instance.min_version(), 3);
}

#[test]
fn golden_txn_offset_commit() {
    let part =
        |committed_leader_epoch, committed_metadata: Option<&str>| TxnOffsetCommitPartition {
            partition_index: 0,
            committed_offset: 10,
            committed_leader_epoch,
            committed_metadata: committed_metadata.map(Into::into),
        };
    let req = |generation_id, member_id: &str, p| TxnOffsetCommitRequest {
        transactional_id: "t".into(),
        group_id: "g".into(),
        producer_id: 1,
        producer_epoch: 2,
        generation_id,
        member_id: member_id.into(),
        group_instance_id: None,
        topics: vec![TxnOffsetCommitTopic {
            name: "a".into(),
            partitions: vec![p],
        }],
    };
    let enc = |m: &TxnOffsetCommitRequest, v, b: &mut BytesMut| m.encode(v, b);
    let ten: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 10];
    let v0 = cat(&[
        &[0, 1, b't', 0, 1, b'g'],
        &PID1,
        &[0, 2],
        &[0, 0, 0, 1, 0, 1, b'a'],
        &[0, 0, 0, 1, 0, 0, 0, 0],
        &ten,
        &[0xff, 0xff], // null metadata
    ]);
    assert_eq!(body(&req(-1, "", part(-1, None)), 0, enc), v0);
    let v3 = cat(&[
        &[2, b't', 2, b'g'],
        &PID1,
        &[0, 2],
        &[0, 0, 0, 4, 2, b'm', 0], // generation 4, member "m", null instance
        &[2, 2, b'a', 2, 0, 0, 0, 0],
        &ten,
        &[0, 0, 0, 5, 2, b'x', 0, 0, 0], // leader epoch 5, metadata "x", three tag sections
    ]);
    let m3 = req(4, "m", part(5, Some("x")));
    assert_eq!(body(&m3, 3, enc), v3);
    assert_eq!(body(&m3, 5, enc), v3, "v5 is v4 is v3 on the wire");
    assert_eq!(
        TxnOffsetCommitRequest::decode(5, &mut Reader::new(&v3)).unwrap(),
        m3
    );

    let enc = |m: &TxnOffsetCommitResponse, v, b: &mut BytesMut| m.encode(v, b);
    let resp = TxnOffsetCommitResponse {
        throttle_time_ms: 0,
        topics: vec![TxnOffsetCommitTopicResult {
            name: "a".into(),
            partitions: vec![TxnOffsetCommitPartitionResult {
                partition_index: 0,
                error_code: 22,
            }],
        }],
    };
    let v0: &[u8] = &[
        0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 0, 0, 22,
    ];
    assert_eq!(body(&resp, 0, enc), v0);
    let v3: &[u8] = &[0, 0, 0, 0, 2, 2, b'a', 2, 0, 0, 0, 0, 0, 22, 0, 0, 0];
    assert_eq!(body(&resp, 3, enc), v3);
}

#[test]
fn golden_init_producer_id_v5_transactional() {
    let req = InitProducerIdRequest {
        transactional_id: Some("t".into()),
        transaction_timeout_ms: 60_000,
        producer_id: 1,
        producer_epoch: 2,
    };
    let mut b = BytesMut::new();
    req.encode(5, &mut b);
    // 60,000 ms = 0xea60.
    assert_eq!(
        &b[..],
        &cat(&[&[2, b't', 0, 0, 0xea, 0x60], &PID1, &[0, 2, 0]])[..]
    );
    // v1: classic nullable string, timeout; no id or epoch.
    let mut b = BytesMut::new();
    req.encode(1, &mut b);
    assert_eq!(&b[..], &[0, 1, b't', 0, 0, 0xea, 0x60]);
    assert!(is_flexible(api_key::INIT_PRODUCER_ID, 5));
    for (key, first) in [(10, 3), (24, 3), (25, 3), (26, 3), (28, 3)] {
        assert!(!is_flexible(key, first - 1), "key {key}");
        assert!(is_flexible(key, first), "key {key}");
        assert!(response_header_has_tags(key, first), "key {key}");
    }
}

#[test]
fn golden_api_versions_v3_features() {
    let m = ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![ApiVersionRange {
            api_key: 0,
            min_version: 3,
            max_version: 9,
        }],
        throttle_time_ms: 0,
        supported_features: vec![SupportedFeature {
            name: "tv".into(),
            min_version: 0,
            max_version: 2,
        }],
        finalized_features_epoch: 5,
        finalized_features: vec![FinalizedFeature {
            name: "tv".into(),
            max_version_level: 2,
            min_version_level: 1,
        }],
    };
    let want = cat(&[
        &[0, 0, 2, 0, 0, 0, 3, 0, 9, 0], // error, one api key, its tags
        &[0, 0, 0, 0],                   // throttle
        &[3],                            // three tagged fields
        &[0, 9, 2, 3, b't', b'v', 0, 0, 0, 2, 0], // tag 0: name, min, max
        &[1, 8, 0, 0, 0, 0, 0, 0, 0, 5], // tag 1: epoch 5
        &[2, 9, 2, 3, b't', b'v', 0, 2, 0, 1, 0], // tag 2: name, max level, min level
    ]);
    let mut b = BytesMut::new();
    m.encode(3, &mut b);
    assert_eq!(&b[..], &want[..]);
    let back = ApiVersionsResponse::decode(3, &mut Reader::new(&want)).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.finalized_level("tv"), Some(2));
    assert_eq!(back.finalized_level("metadata.version"), None);
    assert_eq!(back.supported_feature("tv"), Some((0, 2)));

    // Without an epoch (tag 1 absent) the finalized levels are not trusted.
    let mut no_epoch = want.clone();
    no_epoch[14] = 2;
    no_epoch.drain(26..36);
    let back = ApiVersionsResponse::decode(3, &mut Reader::new(&no_epoch)).unwrap();
    assert_eq!(back.finalized_features_epoch, -1);
    assert_eq!(back.finalized_features.len(), 1);
    assert_eq!(back.finalized_level("tv"), None);

    // ZkMigrationReady (tag 3) and unknown tags are skipped.
    let mut more = want.clone();
    more[14] = 5;
    more.extend_from_slice(&[3, 1, 1, 40, 2, 0xab, 0xcd]);
    let back = ApiVersionsResponse::decode(3, &mut Reader::new(&more)).unwrap();
    assert_eq!(back, m);

    // A feature field with bytes left over inside its size, or cut short, is refused.
    let mut padded = want.clone();
    padded[16] = 10; // tag 0 size 9 -> 10, swallowing tag 1's tag byte
    assert!(ApiVersionsResponse::decode(3, &mut Reader::new(&padded)).is_err());
    let mut short = want.clone();
    short[16] = 8;
    assert!(ApiVersionsResponse::decode(3, &mut Reader::new(&short)).is_err());
    // Below v3 nothing of it is written.
    let mut b = BytesMut::new();
    m.encode(2, &mut b);
    assert_eq!(&b[..], &[0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 9, 0, 0, 0, 0]);
}

#[test]
fn default_api_versions_response_has_no_valid_features() {
    let d = ApiVersionsResponse::default();
    assert_eq!(d.finalized_features_epoch, -1);
    assert_eq!(d.finalized_level("transaction.version"), None);
    // A v3 answer without features is the single empty tag section.
    let mut b = BytesMut::new();
    d.encode(3, &mut b);
    assert_eq!(&b[..], &[0, 0, 1, 0, 0, 0, 0, 0]);
}

#[test]
fn new_messages_refuse_versions_they_do_not_speak() {
    let bytes = [0u8; 64];
    let r = || Reader::new(&bytes);
    assert!(FindCoordinatorRequest::decode(7, &mut r()).is_err());
    assert!(FindCoordinatorResponse::decode(-1, &mut r()).is_err());
    assert!(AddPartitionsToTxnRequest::decode(4, &mut r()).is_err());
    assert!(AddPartitionsToTxnResponse::decode(4, &mut r()).is_err());
    assert!(AddOffsetsToTxnRequest::decode(5, &mut r()).is_err());
    assert!(AddOffsetsToTxnResponse::decode(5, &mut r()).is_err());
    assert!(EndTxnRequest::decode(6, &mut r()).is_err());
    assert!(EndTxnResponse::decode(6, &mut r()).is_err());
    assert!(TxnOffsetCommitRequest::decode(6, &mut r()).is_err());
    assert!(TxnOffsetCommitResponse::decode(6, &mut r()).is_err());
    assert!(InitProducerIdResponse::decode(6, &mut r()).is_err());
}

#[test]
fn a_huge_array_count_is_a_typed_error_before_anything_is_sized() {
    // Each answer's first array announces 2^31 - 1 entries in a frame of a few bytes.
    let classic = cat(&[&[0, 0, 0, 0], &[0x7f, 0xff, 0xff, 0xff], &[0; 8]]);
    let compact = cat(&[&[0, 0, 0, 0], &[0xff, 0xff, 0xff, 0xff, 0x07], &[0; 8]]);
    let truncated = |e| matches!(e, DecodeError::Truncated { .. });
    for (v, bytes) in [(0, &classic), (3, &compact)] {
        let e = AddPartitionsToTxnResponse::decode(v, &mut Reader::new(bytes)).unwrap_err();
        assert!(truncated(e.clone()), "{e}");
        let e = TxnOffsetCommitResponse::decode(v, &mut Reader::new(bytes)).unwrap_err();
        assert!(truncated(e.clone()), "{e}");
    }
    let e = FindCoordinatorResponse::decode(4, &mut Reader::new(&compact)).unwrap_err();
    assert!(truncated(e.clone()), "{e}");
    // ApiVersions: a feature array inside its tag that claims more than the tag holds.
    let tag = [
        0, 0, 1, 0, 0, 0, 0, 1, 0, 6, 0xff, 0xff, 0xff, 0xff, 0x07, 0,
    ];
    let e = ApiVersionsResponse::decode(3, &mut Reader::new(&tag)).unwrap_err();
    assert!(truncated(e.clone()), "{e}");
}
