//! Round trips, golden bytes, truncation and random-input robustness for every message in
//! every version.

use super::*;
use bytes::{Bytes, BytesMut};

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
                },
                ProducePartitionResponse {
                    index: 1,
                    error_code: 87,
                    base_offset: -1,
                    log_append_time_ms: -1,
                    log_start_offset: -1,
                    error_message: Some("bad record".into()),
                },
            ],
        }],
        throttle_time_ms: 12,
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
            }
        }
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

// ---- golden bytes, hand-assembled from the schemas ----

#[test]
fn golden_api_versions_v3_request_frame() {
    let header = RequestHeader {
        api_key: 18,
        api_version: 3,
        correlation_id: 1,
        client_id: Some("odradek".into()),
    };
    let mut buf = BytesMut::new();
    encode_request(&header, &api_versions_request(), &mut buf);
    let mut expected = vec![0, 0, 0, 33]; // size
    expected.extend_from_slice(&[0, 18, 0, 3, 0, 0, 0, 1]); // key, version, correlation id
    expected.extend_from_slice(&[0, 7]); // client id: classic string even in header v2
    expected.extend_from_slice(b"odradek");
    expected.push(0); // header tagged fields
    expected.push(8); // compact string, length + 1
    expected.extend_from_slice(b"odradek");
    expected.push(6);
    expected.extend_from_slice(b"0.1.0");
    expected.push(0); // body tagged fields
    assert_eq!(&buf[..], &expected[..]);
}

#[test]
fn golden_api_versions_v0_request_frame_null_client_id() {
    let header = RequestHeader {
        api_key: 18,
        api_version: 0,
        correlation_id: 9,
        client_id: None,
    };
    let mut buf = BytesMut::new();
    encode_request(&header, &api_versions_request(), &mut buf);
    assert_eq!(
        &buf[..],
        &[0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 9, 0xff, 0xff]
    );
}

#[test]
fn golden_api_versions_responses() {
    let m = ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![ApiVersionRange {
            api_key: 0,
            min_version: 3,
            max_version: 9,
        }],
        throttle_time_ms: 0x10,
    };
    let mut buf = BytesMut::new();
    encode_response::<ApiVersionsRequest>(7, 0, &m, &mut buf);
    assert_eq!(
        &buf[..],
        &[0, 0, 0, 16, 0, 0, 0, 7, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 9]
    );
    // v3: response header stays v0 (no tag byte after the correlation id).
    let mut buf = BytesMut::new();
    encode_response::<ApiVersionsRequest>(7, 3, &m, &mut buf);
    assert_eq!(
        &buf[..],
        &[0, 0, 0, 19, 0, 0, 0, 7, 0, 0, 2, 0, 0, 0, 3, 0, 9, 0, 0, 0, 0, 0x10, 0]
    );
}

#[test]
fn api_versions_unsupported_version_falls_back_to_v0_body() {
    // A broker that does not speak ApiVersions v3 answers error 35 with a v0 body.
    let v0_body = ApiVersionsResponse {
        error_code: 35,
        api_keys: vec![ApiVersionRange {
            api_key: 18,
            min_version: 0,
            max_version: 2,
        }],
        throttle_time_ms: 0,
    };
    let mut buf = BytesMut::new();
    encode_response::<ApiVersionsRequest>(5, 0, &v0_body, &mut buf);
    for asked in 0..=3 {
        let (h, m) = decode_response::<ApiVersionsRequest>(asked, &buf[4..]).unwrap();
        assert_eq!(h.correlation_id, 5);
        assert_eq!(m, v0_body, "asked v{asked}");
    }
    // An error-35 answer really in v3 still decodes as v3.
    let v3_body = ApiVersionsResponse {
        throttle_time_ms: 4,
        ..v0_body.clone()
    };
    let mut buf = BytesMut::new();
    encode_response::<ApiVersionsRequest>(5, 3, &v3_body, &mut buf);
    let (_, m) = decode_response::<ApiVersionsRequest>(3, &buf[4..]).unwrap();
    assert_eq!(m, v3_body);
    assert_eq!(v0_body.range(18), Some((0, 2)));
    assert_eq!(v0_body.range(0), None);
}

#[test]
fn golden_metadata_requests() {
    let one = MetadataRequest {
        topics: Some(vec!["t".into()]),
        allow_auto_topic_creation: true,
    };
    let mut b = BytesMut::new();
    one.encode(1, &mut b);
    assert_eq!(&b[..], &[0, 0, 0, 1, 0, 1, b't']);
    let all = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: true,
    };
    let mut b = BytesMut::new();
    all.encode(0, &mut b);
    assert_eq!(&b[..], &[0, 0, 0, 0], "v0: all topics is an empty array");
    let mut b = BytesMut::new();
    all.encode(1, &mut b);
    assert_eq!(&b[..], &[0xff, 0xff, 0xff, 0xff], "v1: all topics is null");
    let mut b = BytesMut::new();
    all.encode(4, &mut b);
    assert_eq!(&b[..], &[0xff, 0xff, 0xff, 0xff, 1]);
    // v9: null compact array, allow, include_cluster_ops, include_topic_ops, tags.
    let mut b = BytesMut::new();
    all.encode(9, &mut b);
    assert_eq!(&b[..], &[0, 1, 0, 0, 0]);
    // v11: no include_cluster_authorized_operations; topics carry a zero topic id.
    let mut b = BytesMut::new();
    one.encode(11, &mut b);
    let mut expected = vec![2];
    expected.extend_from_slice(&[0; 16]);
    expected.extend_from_slice(&[2, b't', 0, 1, 0, 0]);
    assert_eq!(&b[..], &expected[..]);
}

#[test]
fn golden_metadata_v0_response() {
    let m = MetadataResponse {
        throttle_time_ms: 0,
        brokers: vec![MetadataBroker {
            node_id: 1,
            host: "h".into(),
            port: 9092,
            rack: None,
        }],
        cluster_id: None,
        controller_id: -1,
        topics: vec![MetadataTopic {
            error_code: 0,
            name: "t".into(),
            is_internal: false,
            partitions: vec![MetadataPartition {
                error_code: 0,
                partition_index: 0,
                leader_id: 1,
                leader_epoch: -1,
                replica_nodes: vec![1],
                isr_nodes: vec![1],
                offline_replicas: vec![],
            }],
        }],
    };
    let mut b = BytesMut::new();
    m.encode(0, &mut b);
    #[rustfmt::skip]
    let expected = [
        0, 0, 0, 1, // brokers
        0, 0, 0, 1, 0, 1, b'h', 0, 0, 0x23, 0x84, // node 1, "h", 9092
        0, 0, 0, 1, // topics
        0, 0, 0, 1, b't', // error 0, "t"
        0, 0, 0, 1, // partitions
        0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // error 0, index 0, leader 1
        0, 0, 0, 1, 0, 0, 0, 1, // replicas [1]
        0, 0, 0, 1, 0, 0, 0, 1, // isr [1]
    ];
    assert_eq!(&b[..], &expected[..]);
    let back = MetadataResponse::decode(0, &mut Reader::new(&expected)).unwrap();
    assert_eq!(back, m);
}

#[test]
fn golden_produce_v3_request_and_v9_response() {
    let m = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 1000,
        topics: vec![ProduceTopicData {
            name: "t".into(),
            partitions: vec![ProducePartitionData {
                index: 0,
                records: Bytes::from_static(&[1, 2, 3]),
            }],
        }],
    };
    let mut b = BytesMut::new();
    m.encode(3, &mut b);
    #[rustfmt::skip]
    let expected = [
        0xff, 0xff, // transactional id null
        0xff, 0xff, // acks -1
        0, 0, 0x03, 0xe8, // timeout 1000
        0, 0, 0, 1, 0, 1, b't', // topics: "t"
        0, 0, 0, 1, 0, 0, 0, 0, // partitions: index 0
        0, 0, 0, 3, 1, 2, 3, // records
    ];
    assert_eq!(&b[..], &expected[..]);

    let r = ProduceResponse {
        topics: vec![ProduceTopicResponse {
            name: "t".into(),
            partitions: vec![ProducePartitionResponse {
                index: 0,
                error_code: 0,
                base_offset: 5,
                log_append_time_ms: -1,
                log_start_offset: 0,
                error_message: None,
            }],
        }],
        throttle_time_ms: 0,
    };
    let mut b = BytesMut::new();
    encode_response::<ProduceRequest>(3, 9, &r, &mut b);
    #[rustfmt::skip]
    let expected = [
        0, 0, 0, 48, // size
        0, 0, 0, 3, 0, // correlation id, header v1 tags
        2, 2, b't', // one topic, "t"
        2, // one partition
        0, 0, 0, 0, 0, 0, // index 0, error 0
        0, 0, 0, 0, 0, 0, 0, 5, // base offset
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log append time -1
        0, 0, 0, 0, 0, 0, 0, 0, // log start offset
        1, 0, 0, // record_errors [], error_message null, partition tags
        0, // topic tags
        0, 0, 0, 0, 0, // throttle, body tags
    ];
    assert_eq!(&b[..], &expected[..]);
}

#[test]
fn request_header_versions_follow_flexibility() {
    // Produce v9 is flexible: header v2 with a tag section; v8 is not.
    for (v, tags) in [(8, false), (9, true)] {
        let header = RequestHeader {
            api_key: api_key::PRODUCE,
            api_version: v,
            correlation_id: 3,
            client_id: None,
        };
        let mut b = BytesMut::new();
        encode_request(&header, &produce_requests()[1], &mut b);
        let frame = &b[4..];
        let (h, rest) = decode_request_header(frame).unwrap();
        assert_eq!(h, header);
        assert_eq!(frame.len() - rest.len(), 10 + usize::from(tags));
    }
    assert!(is_flexible(api_key::METADATA, 9));
    assert!(!is_flexible(api_key::METADATA, 8));
    assert!(is_flexible(api_key::API_VERSIONS, 3));
    assert!(!response_header_has_tags(api_key::API_VERSIONS, 3));
    assert!(response_header_has_tags(api_key::PRODUCE, 9));
    assert!(!is_flexible(99, 50));
    // Truncated headers fail.
    assert!(decode_request_header(&[0, 0, 0, 9, 0, 0, 0]).is_err());
    assert!(peek_correlation_id(&[0, 0, 1]).is_err());
}

#[test]
fn negotiate_picks_highest_common() {
    assert_eq!(negotiate((0, 12), (3, 9)), Some(9));
    assert_eq!(negotiate((3, 12), (0, 2)), None);
}

// ---- robustness ----

/// Valid encodings of every message in every version: (description, api key, version,
/// is_response, body bytes).
fn valid_bodies() -> Vec<(i16, i16, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut push = |k: i16, v: i16, resp: bool, f: &dyn Fn(&mut BytesMut)| {
        let mut b = BytesMut::new();
        f(&mut b);
        out.push((k, v, resp, b.to_vec()));
    };
    for v in 0..=3 {
        push(18, v, false, &|b| api_versions_request().encode(v, b));
        push(18, v, true, &|b| api_versions_response().encode(v, b));
    }
    for v in 0..=12 {
        for m in metadata_requests() {
            push(3, v, false, &|b| m.encode(v, b));
        }
        push(3, v, true, &|b| metadata_response().encode(v, b));
        for m in produce_requests() {
            push(0, v, false, &|b| m.encode(v, b));
        }
        push(0, v, true, &|b| produce_response().encode(v, b));
    }
    out
}

fn decode_any(k: i16, v: i16, resp: bool, bytes: &[u8]) -> bool {
    let mut r = Reader::new(bytes);
    let ok = match (k, resp) {
        (18, false) => ApiVersionsRequest::decode(v, &mut r).is_ok(),
        (18, true) => ApiVersionsResponse::decode(v, &mut r).is_ok(),
        (3, false) => MetadataRequest::decode(v, &mut r).is_ok(),
        (3, true) => MetadataResponse::decode(v, &mut r).is_ok(),
        (0, false) => ProduceRequest::decode(v, &mut r).is_ok(),
        (0, true) => ProduceResponse::decode(v, &mut r).is_ok(),
        _ => unreachable!(),
    };
    ok && r.remaining() == 0
}

#[test]
fn every_truncation_of_every_body_fails() {
    for (k, v, resp, bytes) in valid_bodies() {
        assert!(decode_any(k, v, resp, &bytes), "key {k} v{v} resp {resp}");
        for n in 0..bytes.len() {
            assert!(
                !decode_any(k, v, resp, &bytes[..n]),
                "key {k} v{v} resp {resp}: prefix {n} of {} decoded",
                bytes.len()
            );
        }
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = crate::rng::Rng::new(0x0dd_2a0e);
    let bodies = valid_bodies();
    for _ in 0..4000 {
        // Pure noise.
        let len = rng.below(64) as usize;
        let noise: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let (k, v, resp, _) = &bodies[rng.below(bodies.len() as u64) as usize];
        decode_any(*k, *v, *resp, &noise);
        let _ = decode_request_header(&noise);
        let _ = decode_response::<ProduceRequest>(*v, &noise);
        // A valid body with a few bytes overwritten (often with 0xff / 0x7f: huge lengths).
        let (k, v, resp, body) = &bodies[rng.below(bodies.len() as u64) as usize];
        let mut m = body.clone();
        if !m.is_empty() {
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(m.len() as u64) as usize;
                m[i] = match rng.below(3) {
                    0 => 0xff,
                    1 => 0x7f,
                    _ => rng.next_u64() as u8,
                };
            }
        }
        decode_any(*k, *v, *resp, &m);
    }
}

#[test]
fn huge_frame_prefix_refused_before_allocation() {
    let mut d = FrameDecoder::new(100 * 1024 * 1024);
    d.push(&[0x7f, 0xff, 0xff, 0xff, 0]);
    assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
    assert_eq!(d.buffered(), 5);
}

#[test]
fn golden_produce_v0_request_and_v2_response() {
    // v0: no transactional id; otherwise as v3.
    let m = ProduceRequest {
        transactional_id: Some("ignored before v3".into()),
        acks: 1,
        timeout_ms: 10,
        topics: vec![ProduceTopicData {
            name: "t".into(),
            partitions: vec![ProducePartitionData {
                index: 2,
                records: Bytes::from_static(&[9]),
            }],
        }],
    };
    let mut b = BytesMut::new();
    m.encode(0, &mut b);
    #[rustfmt::skip]
    let expected = [
        0, 1, 0, 0, 0, 10, // acks 1, timeout 10
        0, 0, 0, 1, 0, 1, b't',
        0, 0, 0, 1, 0, 0, 0, 2,
        0, 0, 0, 1, 9,
    ];
    assert_eq!(&b[..], &expected[..]);

    // v2 response: log_append_time_ms after base_offset, throttle at the end.
    #[rustfmt::skip]
    let wire = [
        0, 0, 0, 1, 0, 1, b't',
        0, 0, 0, 1,
        0, 0, 0, 2, 0, 0, // index 2, no error
        0, 0, 0, 0, 0, 0, 1, 0, // base offset 256
        0, 0, 0, 0, 0, 0, 0, 7, // log append time 7
        0, 0, 0, 3, // throttle 3
    ];
    let r = ProduceResponse::decode(2, &mut Reader::new(&wire)).unwrap();
    assert_eq!(
        r,
        ProduceResponse {
            topics: vec![ProduceTopicResponse {
                name: "t".into(),
                partitions: vec![ProducePartitionResponse {
                    index: 2,
                    error_code: 0,
                    base_offset: 256,
                    log_append_time_ms: 7,
                    log_start_offset: -1,
                    error_message: None,
                }],
            }],
            throttle_time_ms: 3,
        }
    );
    let mut b = BytesMut::new();
    r.encode(2, &mut b);
    assert_eq!(&b[..], &wire[..]);
}
