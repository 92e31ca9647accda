//! Independent oracle: the `kafka-protocol` crate (generated from Kafka's message schemas).
//! Bytes we encode must decode with it to the same field values, and bytes it encodes must
//! decode with ours. kafka-protocol 0.18 speaks Produce 3–13 only, so Produce v0–v2 are
//! covered by the round-trip and golden tests in `core/src/protocol/tests/` instead.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    api_versions_request, api_versions_response, metadata_request, metadata_response,
    produce_request, produce_response, BrokerId, RequestHeader as KRequestHeader,
    ResponseHeader as KResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use odradek_core::protocol::{
    decode_request_header, decode_response, encode_request, encode_response, ApiVersionRange,
    ApiVersionsRequest, ApiVersionsResponse, MetadataBroker, MetadataPartition, MetadataRequest,
    MetadataResponse, MetadataTopic, ProducePartitionData, ProducePartitionResponse,
    ProduceRequest, ProduceResponse, ProduceTopicData, ProduceTopicResponse, Reader, Request,
    RequestHeader,
};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Decodes all of `bytes` with kafka-protocol, asserting nothing is left.
fn k_decode<T: Decodable>(bytes: &[u8], version: i16) -> T {
    let mut b = Bytes::copy_from_slice(bytes);
    let v = T::decode(&mut b, version).expect("kafka-protocol decode");
    assert!(b.is_empty(), "kafka-protocol left {} bytes", b.len());
    v
}

fn k_encode<T: Encodable>(m: &T, version: i16) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b, version).expect("kafka-protocol encode");
    b.to_vec()
}

/// Our request frame → kafka-protocol header + body.
fn our_request_to_k<R: Request, K: Decodable>(
    version: i16,
    body: &R,
    flexible: bool,
) -> (KRequestHeader, K) {
    let header = RequestHeader {
        api_key: R::API_KEY,
        api_version: version,
        correlation_id: 4242,
        client_id: Some("odradek-test".into()),
    };
    let mut buf = BytesMut::new();
    encode_request(&header, body, &mut buf);
    let size = i32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
    assert_eq!(size, buf.len() - 4);
    let mut frame = Bytes::copy_from_slice(&buf[4..]);
    let kh = KRequestHeader::decode(&mut frame, if flexible { 2 } else { 1 }).unwrap();
    assert_eq!(kh.request_api_key, R::API_KEY);
    assert_eq!(kh.request_api_version, version);
    assert_eq!(kh.correlation_id, 4242);
    assert_eq!(kh.client_id.as_deref(), Some("odradek-test"));
    let kb = K::decode(&mut frame, version).unwrap();
    assert!(frame.is_empty());
    // And our header decoder agrees on where the body starts.
    let (h, rest) = decode_request_header(&buf[4..]).unwrap();
    assert_eq!(h, header);
    let mut r = Reader::new(rest);
    R::decode(version, &mut r).unwrap();
    r.finish().unwrap();
    (kh, kb)
}

/// kafka-protocol response header + body → our decode_response.
fn k_response_to_ours<R: Request, K: Encodable>(
    version: i16,
    body: &K,
    header_version: i16,
) -> R::Response {
    let mut buf = BytesMut::new();
    KResponseHeader::default()
        .with_correlation_id(-9)
        .encode(&mut buf, header_version)
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let (h, m) = decode_response::<R>(version, &buf).unwrap();
    assert_eq!(h.correlation_id, -9);
    m
}

/// Our response frame → kafka-protocol header + body.
fn our_response_to_k<R: Request, K: Decodable>(
    version: i16,
    body: &R::Response,
    header_version: i16,
) -> K {
    let mut buf = BytesMut::new();
    encode_response::<R>(31, version, body, &mut buf);
    let mut frame = Bytes::copy_from_slice(&buf[4..]);
    let h = KResponseHeader::decode(&mut frame, header_version).unwrap();
    assert_eq!(h.correlation_id, 31);
    let k = K::decode(&mut frame, version).unwrap();
    assert!(frame.is_empty(), "{} bytes left", frame.len());
    k
}

// ---------------- ApiVersions ----------------

#[test]
fn api_versions_request_matches_kafka_protocol() {
    let ours = ApiVersionsRequest {
        client_software_name: "odradek".into(),
        client_software_version: "1.2.3".into(),
    };
    for v in 0..=3 {
        let flexible = v >= 3;
        let (_, k): (_, api_versions_request::ApiVersionsRequest) =
            our_request_to_k(v, &ours, flexible);
        if v >= 3 {
            assert_eq!(&*k.client_software_name, "odradek");
            assert_eq!(&*k.client_software_version, "1.2.3");
        }
        let kb = k_encode(
            &api_versions_request::ApiVersionsRequest::default()
                .with_client_software_name(s("x"))
                .with_client_software_version(s("y")),
            v,
        );
        let back = ApiVersionsRequest::decode(v, &mut Reader::new(&kb)).unwrap();
        if v >= 3 {
            assert_eq!(back.client_software_name, "x");
            assert_eq!(back.client_software_version, "y");
        }
    }
}

#[test]
fn api_versions_response_matches_kafka_protocol() {
    let ours = ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![
            ApiVersionRange {
                api_key: 0,
                min_version: 0,
                max_version: 11,
            },
            ApiVersionRange {
                api_key: 18,
                min_version: 0,
                max_version: 4,
            },
        ],
        throttle_time_ms: 9,
        ..ApiVersionsResponse::default()
    };
    for v in 0..=3 {
        // The ApiVersions response header is always v0.
        let k: api_versions_response::ApiVersionsResponse =
            our_response_to_k::<ApiVersionsRequest, _>(v, &ours, 0);
        assert_eq!(k.error_code, 0);
        let keys: Vec<_> = k
            .api_keys
            .iter()
            .map(|a| (a.api_key, a.min_version, a.max_version))
            .collect();
        assert_eq!(keys, vec![(0, 0, 11), (18, 0, 4)]);
        assert_eq!(k.throttle_time_ms, if v >= 1 { 9 } else { 0 });
    }
    for v in [0, 1, 3] {
        let k = api_versions_response::ApiVersionsResponse::default()
            .with_error_code(0)
            .with_throttle_time_ms(77)
            .with_api_keys(vec![api_versions_response::ApiVersion::default()
                .with_api_key(3)
                .with_min_version(1)
                .with_max_version(12)])
            // v3+: tagged fields (supported/finalized features) we must skip.
            .with_supported_features(vec![api_versions_response::SupportedFeatureKey::default()
                .with_name(s("metadata.version"))
                .with_min_version(1)
                .with_max_version(20)])
            .with_finalized_features_epoch(5);
        let m = k_response_to_ours::<ApiVersionsRequest, _>(v, &k, 0);
        assert_eq!(
            m.api_keys,
            vec![ApiVersionRange {
                api_key: 3,
                min_version: 1,
                max_version: 12
            }]
        );
        assert_eq!(m.throttle_time_ms, if v >= 1 { 77 } else { 0 });
    }
    // A v0 UNSUPPORTED_VERSION answer to a v3 request.
    let k = api_versions_response::ApiVersionsResponse::default()
        .with_error_code(35)
        .with_api_keys(vec![api_versions_response::ApiVersion::default()
            .with_api_key(18)
            .with_min_version(0)
            .with_max_version(2)]);
    let m = k_response_to_ours::<ApiVersionsRequest, _>(0, &k, 0);
    let mut buf = BytesMut::new();
    KResponseHeader::default()
        .with_correlation_id(1)
        .encode(&mut buf, 0)
        .unwrap();
    k.encode(&mut buf, 0).unwrap();
    let (_, m3) = decode_response::<ApiVersionsRequest>(3, &buf).unwrap();
    assert_eq!(m3, m);
    assert_eq!(m3.error_code, 35);
    assert_eq!(m3.api_keys.len(), 1);
}

// ---------------- Metadata ----------------

#[test]
fn metadata_request_matches_kafka_protocol() {
    let named = MetadataRequest {
        topics: Some(vec!["orders".into(), "logs".into()]),
        allow_auto_topic_creation: false,
    };
    let all = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: true,
    };
    for v in [0, 1, 4, 7, 8, 9, 10, 11, 12] {
        let flexible = v >= 9;
        let (_, k): (_, metadata_request::MetadataRequest) = our_request_to_k(v, &named, flexible);
        let names: Vec<String> = k
            .topics
            .unwrap()
            .iter()
            .map(|t| t.name.as_ref().unwrap().0.to_string())
            .collect();
        assert_eq!(names, ["orders", "logs"], "v{v}");
        if v >= 4 {
            assert!(!k.allow_auto_topic_creation);
        }
        let (_, k): (_, metadata_request::MetadataRequest) = our_request_to_k(v, &all, flexible);
        if v == 0 {
            assert_eq!(k.topics, Some(vec![]));
        } else {
            assert_eq!(k.topics, None, "v{v}");
        }

        // kafka-protocol → ours.
        let kreq = metadata_request::MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
            )
            .with_name(Some(topic("t1")))]))
            .with_allow_auto_topic_creation(v < 4)
            .with_include_topic_authorized_operations(v >= 8);
        let kb = k_encode(&kreq, v);
        let mut r = Reader::new(&kb);
        let back = MetadataRequest::decode(v, &mut r).unwrap();
        r.finish().unwrap();
        assert_eq!(back.topics, Some(vec!["t1".to_string()]));
        assert_eq!(back.allow_auto_topic_creation, v < 4);
    }
}

fn our_metadata_response() -> MetadataResponse {
    MetadataResponse {
        throttle_time_ms: 3,
        brokers: vec![MetadataBroker {
            node_id: 7,
            host: "b7.local".into(),
            port: 19092,
            rack: Some("r1".into()),
        }],
        cluster_id: Some("cid".into()),
        controller_id: 7,
        topics: vec![MetadataTopic {
            error_code: 0,
            name: "orders".into(),
            is_internal: false,
            partitions: vec![MetadataPartition {
                error_code: 0,
                partition_index: 4,
                leader_id: 7,
                leader_epoch: 11,
                replica_nodes: vec![7, 8],
                isr_nodes: vec![7],
                offline_replicas: vec![8],
            }],
        }],
    }
}

#[test]
fn metadata_response_matches_kafka_protocol() {
    let ours = our_metadata_response();
    for v in 0..=12 {
        let header_version = if v >= 9 { 1 } else { 0 };
        let k: metadata_response::MetadataResponse =
            our_response_to_k::<MetadataRequest, _>(v, &ours, header_version);
        assert_eq!(k.throttle_time_ms, if v >= 3 { 3 } else { 0 });
        assert_eq!(k.brokers.len(), 1);
        assert_eq!(k.brokers[0].node_id, BrokerId(7));
        assert_eq!(&*k.brokers[0].host, "b7.local");
        assert_eq!(k.brokers[0].port, 19092);
        assert_eq!(k.brokers[0].rack.as_deref(), (v >= 1).then_some("r1"));
        assert_eq!(k.cluster_id.as_deref(), (v >= 2).then_some("cid"));
        assert_eq!(k.controller_id, BrokerId(if v >= 1 { 7 } else { -1 }));
        let t = &k.topics[0];
        assert_eq!(
            t.name.as_ref().map(|n| n.0.to_string()).as_deref(),
            Some("orders")
        );
        let p = &t.partitions[0];
        assert_eq!(p.partition_index, 4);
        assert_eq!(p.leader_id, BrokerId(7));
        assert_eq!(p.leader_epoch, if v >= 7 { 11 } else { -1 });
        assert_eq!(p.replica_nodes, vec![BrokerId(7), BrokerId(8)]);
        assert_eq!(p.isr_nodes, vec![BrokerId(7)]);
        let offline: Vec<BrokerId> = if v >= 5 { vec![BrokerId(8)] } else { vec![] };
        assert_eq!(p.offline_replicas, offline);
    }
    // kafka-protocol → ours, including authorized operations and topic ids we skip.
    for v in [0, 1, 2, 5, 7, 8, 9, 10, 11, 12] {
        let header_version = if v >= 9 { 1 } else { 0 };
        // kafka-protocol refuses to encode a non-default field the version lacks, so each
        // field is set only from the version that has it.
        let mut partition = metadata_response::MetadataResponsePartition::default()
            .with_error_code(6)
            .with_partition_index(2)
            .with_leader_id(BrokerId(1))
            .with_replica_nodes(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
            .with_isr_nodes(vec![BrokerId(1), BrokerId(3)]);
        if v >= 7 {
            partition = partition.with_leader_epoch(9);
        }
        if v >= 5 {
            partition = partition.with_offline_replicas(vec![BrokerId(2)]);
        }
        let mut t = metadata_response::MetadataResponseTopic::default()
            .with_error_code(0)
            .with_name(Some(topic("events")))
            .with_partitions(vec![partition]);
        if v >= 1 {
            t = t.with_is_internal(true);
        }
        if v >= 8 {
            t = t.with_topic_authorized_operations(0xff);
        }
        let mut broker = metadata_response::MetadataResponseBroker::default()
            .with_node_id(BrokerId(1))
            .with_host(s("h1"))
            .with_port(9092);
        if v >= 1 {
            broker = broker.with_rack(Some(s("az-1")));
        }
        let mut k = metadata_response::MetadataResponse::default()
            .with_brokers(vec![broker])
            .with_topics(vec![t]);
        if v >= 3 {
            k = k.with_throttle_time_ms(5);
        }
        if v >= 2 {
            k = k.with_cluster_id(Some(s("c-1")));
        }
        if v >= 1 {
            k = k.with_controller_id(BrokerId(1));
        }
        if (8..=10).contains(&v) {
            k = k.with_cluster_authorized_operations(0x0f);
        }
        let m = k_response_to_ours::<MetadataRequest, _>(v, &k, header_version);
        assert_eq!(m.throttle_time_ms, if v >= 3 { 5 } else { 0 });
        assert_eq!(
            m.brokers,
            vec![MetadataBroker {
                node_id: 1,
                host: "h1".into(),
                port: 9092,
                rack: (v >= 1).then(|| "az-1".into()),
            }]
        );
        assert_eq!(m.cluster_id, (v >= 2).then(|| "c-1".into()));
        assert_eq!(m.controller_id, if v >= 1 { 1 } else { -1 });
        assert_eq!(
            m.topics,
            vec![MetadataTopic {
                error_code: 0,
                name: "events".into(),
                is_internal: v >= 1,
                partitions: vec![MetadataPartition {
                    error_code: 6,
                    partition_index: 2,
                    leader_id: 1,
                    leader_epoch: if v >= 7 { 9 } else { -1 },
                    replica_nodes: vec![1, 2, 3],
                    isr_nodes: vec![1, 3],
                    offline_replicas: if v >= 5 { vec![2] } else { vec![] },
                }],
            }],
            "v{v}"
        );
    }
}

// ---------------- Produce ----------------

fn our_produce_request() -> ProduceRequest {
    ProduceRequest {
        transactional_id: Some("txn".into()),
        acks: -1,
        timeout_ms: 5000,
        topics: vec![ProduceTopicData {
            name: "orders".into(),
            partitions: vec![
                ProducePartitionData {
                    index: 0,
                    records: Bytes::from_static(b"batch-zero"),
                },
                ProducePartitionData {
                    index: 2,
                    records: Bytes::from(vec![7u8; 200]),
                },
            ],
        }],
    }
}

#[test]
fn produce_request_matches_kafka_protocol() {
    let ours = our_produce_request();
    for v in 3..=12 {
        let flexible = v >= 9;
        let (_, k): (_, produce_request::ProduceRequest) = our_request_to_k(v, &ours, flexible);
        assert_eq!(
            k.transactional_id
                .as_ref()
                .map(|t| t.0.to_string())
                .as_deref(),
            Some("txn")
        );
        assert_eq!(k.acks, -1);
        assert_eq!(k.timeout_ms, 5000);
        assert_eq!(k.topic_data.len(), 1);
        assert_eq!(&*k.topic_data[0].name.0, "orders");
        let parts: Vec<(i32, Option<Bytes>)> = k.topic_data[0]
            .partition_data
            .iter()
            .map(|p| (p.index, p.records.clone()))
            .collect();
        assert_eq!(
            parts,
            vec![
                (0, Some(Bytes::from_static(b"batch-zero"))),
                (2, Some(Bytes::from(vec![7u8; 200])))
            ]
        );

        let kreq = produce_request::ProduceRequest::default()
            .with_transactional_id(None)
            .with_acks(1)
            .with_timeout_ms(123)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic("logs"))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(5)
                        .with_records(Some(Bytes::from_static(b"rb"))),
                ])]);
        let kb = k_encode(&kreq, v);
        let mut r = Reader::new(&kb);
        let back = ProduceRequest::decode(v, &mut r).unwrap();
        r.finish().unwrap();
        assert_eq!(
            back,
            ProduceRequest {
                transactional_id: None,
                acks: 1,
                timeout_ms: 123,
                topics: vec![ProduceTopicData {
                    name: "logs".into(),
                    partitions: vec![ProducePartitionData {
                        index: 5,
                        records: Bytes::from_static(b"rb"),
                    }],
                }],
            }
        );
    }
}

#[test]
fn produce_response_matches_kafka_protocol() {
    let ours = ProduceResponse {
        topics: vec![ProduceTopicResponse {
            name: "orders".into(),
            partitions: vec![ProducePartitionResponse {
                index: 1,
                error_code: 0,
                base_offset: 99,
                log_append_time_ms: 1234,
                log_start_offset: 10,
                error_message: Some("msg".into()),
                record_errors: vec![odradek_core::protocol::RecordError {
                    batch_index: 4,
                    message: Some("why".into()),
                }],
                current_leader: Some(odradek_core::protocol::LeaderIdAndEpoch {
                    leader_id: 3,
                    leader_epoch: 9,
                }),
            }],
        }],
        throttle_time_ms: 8,
        node_endpoints: vec![odradek_core::protocol::NodeEndpoint {
            node_id: 3,
            host: "b3".into(),
            port: 9094,
            rack: Some("r".into()),
        }],
    };
    for v in 3..=12 {
        let header_version = if v >= 9 { 1 } else { 0 };
        let k: produce_response::ProduceResponse =
            our_response_to_k::<ProduceRequest, _>(v, &ours, header_version);
        assert_eq!(k.throttle_time_ms, 8);
        let t = &k.responses[0];
        assert_eq!(&*t.name.0, "orders");
        let p = &t.partition_responses[0];
        assert_eq!(
            (p.index, p.error_code, p.base_offset, p.log_append_time_ms),
            (1, 0, 99, 1234)
        );
        assert_eq!(p.log_start_offset, if v >= 5 { 10 } else { -1 });
        assert_eq!(p.error_message.as_deref(), (v >= 8).then_some("msg"));
        if v >= 8 {
            assert_eq!(p.record_errors.len(), 1);
            assert_eq!(p.record_errors[0].batch_index, 4);
            assert_eq!(
                p.record_errors[0].batch_index_error_message.as_deref(),
                Some("why")
            );
        } else {
            assert!(p.record_errors.is_empty());
        }
        let hint = (p.current_leader.leader_id.0, p.current_leader.leader_epoch);
        assert_eq!(hint, if v >= 10 { (3, 9) } else { (-1, -1) }, "v{v}");
        if v >= 10 {
            let e = &k.node_endpoints[0];
            assert_eq!((e.node_id.0, &*e.host, e.port), (3, "b3", 9094));
            assert_eq!(e.rack.as_deref(), Some("r"));
        } else {
            assert!(k.node_endpoints.is_empty());
        }
    }
    for v in 3..=12 {
        let header_version = if v >= 9 { 1 } else { 0 };
        let mut partition = produce_response::PartitionProduceResponse::default()
            .with_index(3)
            .with_error_code(6)
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(77)
            .with_record_errors(vec![produce_response::BatchIndexAndErrorMessage::default()
                .with_batch_index(2)
                .with_batch_index_error_message(Some(s("bad")))])
            .with_error_message(Some(s("not leader")));
        let mut k = produce_response::ProduceResponse::default().with_throttle_time_ms(4);
        if v >= 10 {
            // Tagged fields we must skip: the new leader hint and its endpoint.
            partition = partition.with_current_leader(
                produce_response::LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(2))
                    .with_leader_epoch(6),
            );
            k = k.with_node_endpoints(vec![produce_response::NodeEndpoint::default()
                .with_node_id(BrokerId(2))
                .with_host(s("b2"))
                .with_port(9092)
                .with_rack(None)]);
        }
        let k = k.with_responses(vec![produce_response::TopicProduceResponse::default()
            .with_name(topic("orders"))
            .with_partition_responses(vec![partition])]);
        let m = k_response_to_ours::<ProduceRequest, _>(v, &k, header_version);
        assert_eq!(
            m,
            ProduceResponse {
                topics: vec![ProduceTopicResponse {
                    name: "orders".into(),
                    partitions: vec![ProducePartitionResponse {
                        index: 3,
                        error_code: 6,
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: if v >= 5 { 77 } else { -1 },
                        error_message: (v >= 8).then(|| "not leader".into()),
                        record_errors: if v >= 8 {
                            vec![odradek_core::protocol::RecordError {
                                batch_index: 2,
                                message: Some("bad".into()),
                            }]
                        } else {
                            Vec::new()
                        },
                        current_leader: (v >= 10).then_some(
                            odradek_core::protocol::LeaderIdAndEpoch {
                                leader_id: 2,
                                leader_epoch: 6,
                            }
                        ),
                    }],
                }],
                throttle_time_ms: 4,
                node_endpoints: if v >= 10 {
                    vec![odradek_core::protocol::NodeEndpoint {
                        node_id: 2,
                        host: "b2".into(),
                        port: 9092,
                        rack: None,
                    }]
                } else {
                    Vec::new()
                },
            },
            "v{v}"
        );
    }
}

#[test]
fn request_header_bytes_match_kafka_protocol() {
    for (hv, flexible) in [(1, false), (2, true)] {
        let kh = KRequestHeader::default()
            .with_request_api_key(3)
            .with_request_api_version(if flexible { 12 } else { 8 })
            .with_correlation_id(77)
            .with_client_id(Some(s("cli")));
        let kb = k_encode(&kh, hv);
        let ours = RequestHeader {
            api_key: 3,
            api_version: if flexible { 12 } else { 8 },
            correlation_id: 77,
            client_id: Some("cli".into()),
        };
        let mut b = BytesMut::new();
        ours.encode(flexible, &mut b);
        assert_eq!(&b[..], &kb[..]);
        let back: KRequestHeader = k_decode(&b, hv);
        assert_eq!(back, kh);
    }
}

// ---------------- SaslHandshake / SaslAuthenticate ----------------

#[test]
fn sasl_handshake_matches_kafka_protocol() {
    use kafka_protocol::messages::{sasl_handshake_request, sasl_handshake_response};
    use odradek_core::protocol::{SaslHandshakeRequest, SaslHandshakeResponse};
    let ours = SaslHandshakeRequest {
        mechanism: "SCRAM-SHA-256".into(),
    };
    for v in 0..=1 {
        let (_, k): (_, sasl_handshake_request::SaslHandshakeRequest) =
            our_request_to_k(v, &ours, false);
        assert_eq!(&*k.mechanism, "SCRAM-SHA-256");
        let resp = SaslHandshakeResponse {
            error_code: 33,
            mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-512".into()],
        };
        let k: sasl_handshake_response::SaslHandshakeResponse =
            our_response_to_k::<SaslHandshakeRequest, _>(v, &resp, 0);
        assert_eq!(k.error_code, 33);
        let names: Vec<&str> = k.mechanisms.iter().map(|m| &**m).collect();
        assert_eq!(names, ["PLAIN", "SCRAM-SHA-512"]);
        let kb = sasl_handshake_response::SaslHandshakeResponse::default()
            .with_error_code(0)
            .with_mechanisms(vec![s("OAUTHBEARER")]);
        let back = k_response_to_ours::<SaslHandshakeRequest, _>(v, &kb, 0);
        assert_eq!(back.error_code, 0);
        assert_eq!(back.mechanisms, ["OAUTHBEARER"]);
    }
}

#[test]
fn sasl_authenticate_matches_kafka_protocol() {
    use kafka_protocol::messages::{sasl_authenticate_request, sasl_authenticate_response};
    use odradek_core::protocol::{SaslAuthenticateRequest, SaslAuthenticateResponse};
    let ours = SaslAuthenticateRequest {
        auth_bytes: Bytes::from_static(b"n,,n=user,r=abc"),
    };
    for v in 0..=2 {
        let flexible = v >= 2;
        let header_version = if flexible { 1 } else { 0 };
        let (_, k): (_, sasl_authenticate_request::SaslAuthenticateRequest) =
            our_request_to_k(v, &ours, flexible);
        assert_eq!(&k.auth_bytes[..], b"n,,n=user,r=abc");
        let resp = SaslAuthenticateResponse {
            error_code: 58,
            error_message: Some("bad".into()),
            auth_bytes: Bytes::from_static(b"e=invalid-proof"),
            session_lifetime_ms: 3_600_000,
        };
        let k: sasl_authenticate_response::SaslAuthenticateResponse =
            our_response_to_k::<SaslAuthenticateRequest, _>(v, &resp, header_version);
        assert_eq!(k.error_code, 58);
        assert_eq!(k.error_message.as_deref(), Some("bad"));
        assert_eq!(&k.auth_bytes[..], b"e=invalid-proof");
        assert_eq!(k.session_lifetime_ms, if v >= 1 { 3_600_000 } else { 0 });
        let kb = sasl_authenticate_response::SaslAuthenticateResponse::default()
            .with_error_code(0)
            .with_error_message(None)
            .with_auth_bytes(Bytes::from_static(b"v=sig"))
            .with_session_lifetime_ms(if v >= 1 { 1234 } else { 0 });
        let back = k_response_to_ours::<SaslAuthenticateRequest, _>(v, &kb, header_version);
        assert_eq!(back.error_code, 0);
        assert_eq!(back.error_message, None);
        assert_eq!(&back.auth_bytes[..], b"v=sig");
        assert_eq!(back.session_lifetime_ms, if v >= 1 { 1234 } else { 0 });
    }
}
