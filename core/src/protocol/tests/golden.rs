//! Golden bytes, hand-assembled from the schemas: frames and bodies of every API in the
//! versions that differ.

use super::*;

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
        ..ApiVersionsResponse::default()
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
        ..ApiVersionsResponse::default()
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
                ..Default::default()
            }],
        }],
        throttle_time_ms: 0,
        node_endpoints: Vec::new(),
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
                    ..Default::default()
                }],
            }],
            throttle_time_ms: 3,
            node_endpoints: Vec::new(),
        }
    );
    let mut b = BytesMut::new();
    r.encode(2, &mut b);
    assert_eq!(&b[..], &wire[..]);
}
