//! Round trips, golden bytes, truncation and random-input robustness for every message in
//! every version.

use super::*;
use bytes::{Bytes, BytesMut};

mod golden;
mod robustness;
mod txn;

fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest {
        client_software_name: "odradek".into(),
        client_software_version: "0.1.0".into(),
    }
}

fn api_versions_response() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![
            ApiVersionRange {
                api_key: 0,
                min_version: 0,
                max_version: 12,
            },
            ApiVersionRange {
                api_key: 3,
                min_version: 0,
                max_version: 12,
            },
            ApiVersionRange {
                api_key: 18,
                min_version: 0,
                max_version: 4,
            },
        ],
        throttle_time_ms: 25,
        supported_features: vec![
            SupportedFeature {
                name: "transaction.version".into(),
                min_version: 0,
                max_version: 2,
            },
            SupportedFeature {
                name: "metadata.version".into(),
                min_version: 7,
                max_version: 27,
            },
        ],
        finalized_features_epoch: 1_234_567,
        finalized_features: vec![FinalizedFeature {
            name: "transaction.version".into(),
            max_version_level: 2,
            min_version_level: 2,
        }],
    }
}

fn metadata_requests() -> Vec<MetadataRequest> {
    vec![
        MetadataRequest {
            topics: Some(vec!["orders".into(), "ünïcode".into()]),
            allow_auto_topic_creation: false,
        },
        MetadataRequest {
            topics: None,
            allow_auto_topic_creation: true,
        },
        MetadataRequest {
            topics: Some(vec![]),
            allow_auto_topic_creation: false,
        },
    ]
}

fn metadata_response() -> MetadataResponse {
    MetadataResponse {
        throttle_time_ms: 7,
        brokers: vec![
            MetadataBroker {
                node_id: 1,
                host: "kafka-1.example".into(),
                port: 9092,
                rack: Some("rack-a".into()),
            },
            MetadataBroker {
                node_id: 2,
                host: "kafka-2.example".into(),
                port: 9093,
                rack: None,
            },
        ],
        cluster_id: Some("cluster-xyz".into()),
        controller_id: 2,
        topics: vec![
            MetadataTopic {
                error_code: 0,
                name: "orders".into(),
                is_internal: false,
                partitions: vec![
                    MetadataPartition {
                        error_code: 0,
                        partition_index: 0,
                        leader_id: 1,
                        leader_epoch: 5,
                        replica_nodes: vec![1, 2],
                        isr_nodes: vec![1],
                        offline_replicas: vec![2],
                    },
                    MetadataPartition {
                        error_code: 5,
                        partition_index: 1,
                        leader_id: -1,
                        leader_epoch: 3,
                        replica_nodes: vec![2],
                        isr_nodes: vec![],
                        offline_replicas: vec![],
                    },
                ],
            },
            MetadataTopic {
                error_code: 3,
                name: "missing".into(),
                is_internal: true,
                partitions: vec![],
            },
        ],
    }
}

fn produce_requests() -> Vec<ProduceRequest> {
    vec![
        ProduceRequest {
            transactional_id: Some("tx-1".into()),
            acks: -1,
            timeout_ms: 30_000,
            topics: vec![
                ProduceTopicData {
                    name: "orders".into(),
                    partitions: vec![
                        ProducePartitionData {
                            index: 0,
                            records: Bytes::from_static(b"\x00\x01batch-bytes"),
                        },
                        ProducePartitionData {
                            index: 3,
                            records: Bytes::new(),
                        },
                    ],
                },
                ProduceTopicData {
                    name: "logs".into(),
                    partitions: vec![ProducePartitionData {
                        index: 1,
                        records: Bytes::from(vec![0xab; 300]),
                    }],
                },
            ],
        },
        ProduceRequest {
            transactional_id: None,
            acks: 1,
            timeout_ms: 1500,
            topics: vec![],
        },
    ]
}

fn produce_response() -> ProduceResponse {
    ProduceResponse {
        topics: vec![ProduceTopicResponse {
            name: "orders".into(),
            partitions: vec![
                ProducePartitionResponse {
                    index: 0,
                    error_code: 0,
                    base_offset: 1_000_000_000_000,
                    log_append_time_ms: 1_700_000_000_000,
                    log_start_offset: 42,
                    error_message: None,
                    ..Default::default()
                },
                ProducePartitionResponse {
                    index: 1,
                    error_code: 87,
                    base_offset: -1,
                    log_append_time_ms: -1,
                    log_start_offset: -1,
                    error_message: Some("bad record".into()),
                    record_errors: vec![
                        RecordError {
                            batch_index: 3,
                            message: Some("no key".into()),
                        },
                        RecordError {
                            batch_index: 5,
                            message: None,
                        },
                    ],
                    ..Default::default()
                },
                ProducePartitionResponse {
                    index: 2,
                    error_code: 6,
                    base_offset: -1,
                    log_append_time_ms: -1,
                    log_start_offset: -1,
                    current_leader: Some(LeaderIdAndEpoch {
                        leader_id: 3,
                        leader_epoch: 17,
                    }),
                    ..Default::default()
                },
            ],
        }],
        throttle_time_ms: 12,
        node_endpoints: vec![NodeEndpoint {
            node_id: 3,
            host: "broker-3.example".into(),
            port: 9093,
            rack: Some("r1".into()),
        }],
    }
}

// What survives a round trip in `version`: fields the version lacks take their defaults.

fn norm_api_versions_request(v: i16, mut m: ApiVersionsRequest) -> ApiVersionsRequest {
    if v < 3 {
        m = ApiVersionsRequest::default();
    }
    m
}

fn norm_api_versions_response(v: i16, mut m: ApiVersionsResponse) -> ApiVersionsResponse {
    if v < 1 {
        m.throttle_time_ms = 0;
    }
    if v < 3 {
        m.supported_features.clear();
        m.finalized_features_epoch = -1;
        m.finalized_features.clear();
    }
    m
}

fn norm_metadata_request(v: i16, mut m: MetadataRequest) -> MetadataRequest {
    if v == 0 && m.topics.as_ref().is_some_and(Vec::is_empty) {
        m.topics = None;
    }
    if v < 4 {
        m.allow_auto_topic_creation = true;
    }
    m
}

fn norm_metadata_response(v: i16, mut m: MetadataResponse) -> MetadataResponse {
    if v < 3 {
        m.throttle_time_ms = 0;
    }
    if v < 2 {
        m.cluster_id = None;
    }
    if v < 1 {
        m.controller_id = -1;
    }
    for b in &mut m.brokers {
        if v < 1 {
            b.rack = None;
        }
    }
    for t in &mut m.topics {
        if v < 1 {
            t.is_internal = false;
        }
        for p in &mut t.partitions {
            if v < 7 {
                p.leader_epoch = -1;
            }
            if v < 5 {
                p.offline_replicas.clear();
            }
        }
    }
    m
}

fn norm_produce_request(v: i16, mut m: ProduceRequest) -> ProduceRequest {
    if v < 3 {
        m.transactional_id = None;
    }
    m
}

fn norm_produce_response(v: i16, mut m: ProduceResponse) -> ProduceResponse {
    if v < 1 {
        m.throttle_time_ms = 0;
    }
    for t in &mut m.topics {
        for p in &mut t.partitions {
            if v < 2 {
                p.log_append_time_ms = -1;
            }
            if v < 5 {
                p.log_start_offset = -1;
            }
            if v < 8 {
                p.error_message = None;
                p.record_errors.clear();
            }
            if v < 10 {
                p.current_leader = None;
            }
        }
    }
    if v < 10 {
        m.node_endpoints.clear();
    }
    m
}

/// Encodes a request frame, strips the size prefix, decodes header and body back.
fn request_round_trip<R: Request + Clone + PartialEq + std::fmt::Debug>(
    v: i16,
    body: &R,
    expected: &R,
) -> Bytes {
    let header = RequestHeader {
        api_key: R::API_KEY,
        api_version: v,
        correlation_id: 0x0102_0304 + i32::from(v),
        client_id: Some("client-é".into()),
    };
    let mut buf = BytesMut::new();
    encode_request(&header, body, &mut buf);
    let mut d = FrameDecoder::new(1 << 20);
    d.push(&buf);
    let frame = d.next_frame().unwrap().unwrap();
    assert_eq!(d.buffered(), 0);
    let (h, rest) = decode_request_header(&frame).unwrap();
    assert_eq!(h, header);
    let decoded: R = decode_request_body(v, rest).unwrap();
    assert_eq!(&decoded, expected, "{} v{v}", std::any::type_name::<R>());
    // Every strict prefix of the body fails.
    for n in 0..rest.len() {
        assert!(
            decode_request_body::<R>(v, &rest[..n]).is_err(),
            "{} v{v} prefix {n} decoded",
            std::any::type_name::<R>()
        );
    }
    Bytes::copy_from_slice(rest)
}

fn response_round_trip<R: Request>(v: i16, body: &R::Response, expected: &R::Response) -> Bytes
where
    R::Response: PartialEq + std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    encode_response::<R>(-77, v, body, &mut buf);
    let mut d = FrameDecoder::new(1 << 20);
    d.push(&buf);
    let frame = d.next_frame().unwrap().unwrap();
    assert_eq!(peek_correlation_id(&frame).unwrap(), -77);
    let (h, decoded) = decode_response::<R>(v, &frame).unwrap();
    assert_eq!(h.correlation_id, -77);
    assert_eq!(&decoded, expected, "{} v{v}", std::any::type_name::<R>());
    for n in 0..frame.len() {
        assert!(
            decode_response::<R>(v, &frame[..n]).is_err(),
            "{} v{v} prefix {n} decoded",
            std::any::type_name::<R>()
        );
    }
    // One byte too many is refused too.
    let mut longer = frame.to_vec();
    longer.push(0);
    assert!(decode_response::<R>(v, &longer).is_err());
    frame
}

#[test]
fn api_versions_round_trip_every_version() {
    for v in ApiVersionsRequest::MIN_VERSION..=ApiVersionsRequest::MAX_VERSION {
        let m = api_versions_request();
        request_round_trip(v, &m, &norm_api_versions_request(v, m.clone()));
        let m = api_versions_response();
        response_round_trip::<ApiVersionsRequest>(v, &m, &norm_api_versions_response(v, m.clone()));
    }
}

#[test]
fn metadata_round_trip_every_version() {
    for v in MetadataRequest::MIN_VERSION..=MetadataRequest::MAX_VERSION {
        for m in metadata_requests() {
            request_round_trip(v, &m, &norm_metadata_request(v, m.clone()));
        }
        let m = metadata_response();
        response_round_trip::<MetadataRequest>(v, &m, &norm_metadata_response(v, m.clone()));
        let empty = MetadataResponse::default();
        response_round_trip::<MetadataRequest>(
            v,
            &empty,
            &norm_metadata_response(v, empty.clone()),
        );
    }
}

#[test]
fn produce_round_trip_every_version() {
    for v in ProduceRequest::MIN_VERSION..=ProduceRequest::MAX_VERSION {
        for m in produce_requests() {
            request_round_trip(v, &m, &norm_produce_request(v, m.clone()));
        }
        let m = produce_response();
        response_round_trip::<ProduceRequest>(v, &m, &norm_produce_response(v, m.clone()));
    }
}

#[test]
fn produce_response_decoded_into_a_kept_value_equals_a_fresh_decode() {
    // What a previous, larger answer left in the kept value must not show through.
    let mut previous = produce_response();
    previous.topics[0].name = "a-much-longer-topic-name".into();
    previous.topics[0]
        .partitions
        .push(ProducePartitionResponse {
            index: 9,
            error_code: 6,
            base_offset: 5,
            log_append_time_ms: 5,
            log_start_offset: 5,
            error_message: Some("old".into()),
            ..Default::default()
        });
    previous.topics.push(previous.topics[0].clone());
    previous.throttle_time_ms = 999;
    for v in ProduceRequest::MIN_VERSION..=ProduceRequest::MAX_VERSION {
        let m = produce_response();
        let mut buf = BytesMut::new();
        encode_response::<ProduceRequest>(5, v, &m, &mut buf);
        let frame = &buf[4..];
        let (_, fresh) = decode_response::<ProduceRequest>(v, frame).unwrap();
        let mut kept = previous.clone();
        let header = decode_response_into::<ProduceRequest>(v, frame, &mut kept).unwrap();
        assert_eq!(header.correlation_id, 5);
        assert_eq!(kept, fresh, "v{v}");
        assert_eq!(kept, norm_produce_response(v, m), "v{v}");
        for n in 0..frame.len() {
            let mut kept = previous.clone();
            assert!(
                decode_response_into::<ProduceRequest>(v, &frame[..n], &mut kept).is_err(),
                "v{v} prefix {n} decoded"
            );
        }
    }
}

#[test]
fn unsupported_versions_are_refused_by_decoders() {
    for v in [-1, 13, 100] {
        assert!(decode_request_body::<ProduceRequest>(v, &[0; 64]).is_err());
        assert!(decode_request_body::<MetadataRequest>(v, &[0; 64]).is_err());
    }
    assert!(decode_request_body::<ApiVersionsRequest>(4, &[0; 8]).is_err());
}

#[test]
fn produce_request_records_are_zero_copy_from_bytes_reader() {
    let m = &produce_requests()[0];
    let mut buf = BytesMut::new();
    m.encode(9, &mut buf);
    let frame = buf.freeze();
    let mut r = Reader::from_bytes(&frame);
    let decoded = ProduceRequest::decode(9, &mut r).unwrap();
    r.finish().unwrap();
    let records = &decoded.topics[1].partitions[0].records;
    assert_eq!(records.len(), 300);
    let start = records.as_ptr() as usize - frame.as_ptr() as usize;
    assert!(start < frame.len());
}

#[test]
fn null_records_decode_as_empty() {
    // Produce v3: null transactional id, acks 1, timeout 10, one topic "t", partition 0
    // with null records.
    let body = [
        0xff, 0xff, 0, 1, 0, 0, 0, 10, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff,
        0xff, 0xff,
    ];
    let m: ProduceRequest = decode_request_body(3, &body).unwrap();
    assert!(m.topics[0].partitions[0].records.is_empty());
}
