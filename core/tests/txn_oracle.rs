//! Independent oracle for the transactional producer's messages and ApiVersions' features: the
//! `kafka-protocol` crate (generated from Kafka's message schemas). In every version we speak,
//! the bodies we encode decode with it to the same field values, and the bodies it encodes
//! decode with ours to the same values.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    add_offsets_to_txn_request as k_aot, add_offsets_to_txn_response as k_aotr,
    add_partitions_to_txn_request as k_apt, add_partitions_to_txn_response as k_aptr,
    api_versions_response as k_av, end_txn_request as k_et, end_txn_response as k_etr,
    find_coordinator_request as k_fc, find_coordinator_response as k_fcr,
    txn_offset_commit_request as k_toc, txn_offset_commit_response as k_tocr, BrokerId, ProducerId,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use odradek_core::protocol::*;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

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

fn ours<T>(bytes: &[u8], decode: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>) -> T {
    let mut r = Reader::new(bytes);
    let v = decode(&mut r).expect("our decode");
    r.finish().expect("our decode left bytes");
    v
}

fn enc(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut b = BytesMut::new();
    f(&mut b);
    b.to_vec()
}

#[test]
fn find_coordinator_matches_kafka_protocol() {
    for v in 0..=6 {
        let req = FindCoordinatorRequest {
            key_type: if v >= 1 { 1 } else { 0 },
            keys: if v >= 4 {
                vec!["t1".into(), "t2".into()]
            } else {
                vec!["t1".into()]
            },
        };
        let k: k_fc::FindCoordinatorRequest = k_decode(&enc(|b| req.encode(v, b)), v);
        assert_eq!(k.key_type, req.key_type, "v{v}");
        if v >= 4 {
            let keys: Vec<&str> = k.coordinator_keys.iter().map(|k| &**k).collect();
            assert_eq!(keys, ["t1", "t2"]);
        } else {
            assert_eq!(&*k.key, "t1");
        }
        let back = ours(&k_encode(&k, v), |r| FindCoordinatorRequest::decode(v, r));
        assert_eq!(back, req, "v{v}");

        // kafka-protocol's answer, read by ours.
        let mut k = k_fcr::FindCoordinatorResponse::default().with_throttle_time_ms(4);
        if v >= 4 {
            k.coordinators = vec![k_fcr::Coordinator::default()
                .with_key(s("t1"))
                .with_node_id(BrokerId(3))
                .with_host(s("b3"))
                .with_port(9094)
                .with_error_code(0)];
        } else {
            k = k
                .with_error_code(0)
                .with_node_id(BrokerId(3))
                .with_host(s("b3"))
                .with_port(9094);
        }
        let m = ours(&k_encode(&k, v), |r| FindCoordinatorResponse::decode(v, r));
        assert_eq!(m.coordinator("t1"), Some((3, "b3", 9094, 0)), "v{v}");
        assert_eq!(m.throttle_time_ms, if v >= 1 { 4 } else { 0 });
        // Ours, read by kafka-protocol.
        let k2: k_fcr::FindCoordinatorResponse = k_decode(&enc(|b| m.encode(v, b)), v);
        if v >= 4 {
            assert_eq!(k2.coordinators.len(), 1);
            let c = &k2.coordinators[0];
            assert_eq!(
                (&*c.key, c.node_id.0, &*c.host, c.port),
                ("t1", 3, "b3", 9094)
            );
        } else {
            assert_eq!((k2.node_id.0, &*k2.host, k2.port), (3, "b3", 9094));
        }
    }
}

#[test]
fn add_partitions_to_txn_matches_kafka_protocol() {
    let req = AddPartitionsToTxnRequest {
        transactional_id: "txn".into(),
        producer_id: 77,
        producer_epoch: 4,
        topics: vec![AddPartitionsToTxnTopic {
            name: "a".into(),
            partitions: vec![1, 0],
        }],
    };
    let resp = AddPartitionsToTxnResponse {
        throttle_time_ms: 6,
        topics: vec![AddPartitionsToTxnTopicResult {
            name: "a".into(),
            partitions: vec![
                AddPartitionsToTxnPartitionResult {
                    partition_index: 1,
                    error_code: 0,
                },
                AddPartitionsToTxnPartitionResult {
                    partition_index: 0,
                    error_code: 55,
                },
            ],
        }],
    };
    for v in 0..=3 {
        let k: k_apt::AddPartitionsToTxnRequest = k_decode(&enc(|b| req.encode(v, b)), v);
        assert_eq!(&*k.v3_and_below_transactional_id.0, "txn");
        assert_eq!(k.v3_and_below_producer_id.0, 77);
        assert_eq!(k.v3_and_below_producer_epoch, 4);
        assert_eq!(k.v3_and_below_topics.len(), 1);
        assert_eq!(&*k.v3_and_below_topics[0].name.0, "a");
        assert_eq!(k.v3_and_below_topics[0].partitions, [1, 0]);
        assert_eq!(
            ours(&k_encode(&k, v), |r| AddPartitionsToTxnRequest::decode(
                v, r
            )),
            req
        );

        let k: k_aptr::AddPartitionsToTxnResponse = k_decode(&enc(|b| resp.encode(v, b)), v);
        assert_eq!(k.throttle_time_ms, 6);
        let got: Vec<(i32, i16)> = k.results_by_topic_v3_and_below[0]
            .results_by_partition
            .iter()
            .map(|p| (p.partition_index, p.partition_error_code))
            .collect();
        assert_eq!(got, [(1, 0), (0, 55)]);
        assert_eq!(
            ours(&k_encode(&k, v), |r| AddPartitionsToTxnResponse::decode(
                v, r
            )),
            resp
        );
    }
}

#[test]
fn add_offsets_and_end_txn_match_kafka_protocol() {
    let aot = AddOffsetsToTxnRequest {
        transactional_id: "txn".into(),
        producer_id: 77,
        producer_epoch: 4,
        group_id: "grp".into(),
    };
    for v in 0..=4 {
        let k: k_aot::AddOffsetsToTxnRequest = k_decode(&enc(|b| aot.encode(v, b)), v);
        assert_eq!(
            (
                &*k.transactional_id.0,
                k.producer_id.0,
                k.producer_epoch,
                &*k.group_id.0
            ),
            ("txn", 77, 4, "grp")
        );
        assert_eq!(
            ours(&k_encode(&k, v), |r| AddOffsetsToTxnRequest::decode(v, r)),
            aot
        );
        let k = k_aotr::AddOffsetsToTxnResponse::default()
            .with_throttle_time_ms(2)
            .with_error_code(120);
        let m = ours(&k_encode(&k, v), |r| AddOffsetsToTxnResponse::decode(v, r));
        assert_eq!((m.throttle_time_ms, m.error_code), (2, 120));
    }
    for v in 0..=5 {
        let et = EndTxnRequest {
            transactional_id: "txn".into(),
            producer_id: 77,
            producer_epoch: 4,
            committed: v % 2 == 0,
        };
        let k: k_et::EndTxnRequest = k_decode(&enc(|b| et.encode(v, b)), v);
        assert_eq!(
            (
                &*k.transactional_id.0,
                k.producer_id.0,
                k.producer_epoch,
                k.committed
            ),
            ("txn", 77, 4, v % 2 == 0)
        );
        assert_eq!(ours(&k_encode(&k, v), |r| EndTxnRequest::decode(v, r)), et);

        let mut k = k_etr::EndTxnResponse::default()
            .with_throttle_time_ms(1)
            .with_error_code(0);
        if v >= 5 {
            k = k.with_producer_id(ProducerId(77)).with_producer_epoch(5);
        }
        let m = ours(&k_encode(&k, v), |r| EndTxnResponse::decode(v, r));
        let want = if v >= 5 { (77, 5) } else { (-1, -1) };
        assert_eq!((m.producer_id, m.producer_epoch), want, "v{v}");
        let k2: k_etr::EndTxnResponse = k_decode(&enc(|b| m.encode(v, b)), v);
        assert_eq!((k2.producer_id.0, k2.producer_epoch), want, "v{v}");
    }
}

#[test]
fn txn_offset_commit_matches_kafka_protocol() {
    for v in 0..=5 {
        let req = TxnOffsetCommitRequest {
            transactional_id: "txn".into(),
            group_id: "grp".into(),
            producer_id: 77,
            producer_epoch: 4,
            generation_id: if v >= 3 { 9 } else { -1 },
            member_id: if v >= 3 { "m-1".into() } else { String::new() },
            group_instance_id: (v >= 3).then(|| "i-1".into()),
            topics: vec![TxnOffsetCommitTopic {
                name: "in".into(),
                partitions: vec![TxnOffsetCommitPartition {
                    partition_index: 2,
                    committed_offset: 12_345,
                    committed_leader_epoch: if v >= 2 { 8 } else { -1 },
                    committed_metadata: Some("md".into()),
                }],
            }],
        };
        let k: k_toc::TxnOffsetCommitRequest = k_decode(&enc(|b| req.encode(v, b)), v);
        assert_eq!(&*k.group_id.0, "grp");
        assert_eq!(k.generation_id, req.generation_id, "v{v}");
        assert_eq!(&*k.member_id, req.member_id.as_str());
        assert_eq!(
            k.group_instance_id.as_deref(),
            req.group_instance_id.as_deref()
        );
        let p = &k.topics[0].partitions[0];
        assert_eq!(
            (
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch
            ),
            (
                2,
                12_345,
                req.topics[0].partitions[0].committed_leader_epoch
            )
        );
        assert_eq!(p.committed_metadata.as_deref(), Some("md"));
        assert_eq!(
            ours(&k_encode(&k, v), |r| TxnOffsetCommitRequest::decode(v, r)),
            req
        );

        let k = k_tocr::TxnOffsetCommitResponse::default()
            .with_throttle_time_ms(3)
            .with_topics(vec![k_tocr::TxnOffsetCommitResponseTopic::default()
                .with_name(TopicName(s("in")))
                .with_partitions(vec![
                    k_tocr::TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(2)
                        .with_error_code(25),
                ])]);
        let m = ours(&k_encode(&k, v), |r| TxnOffsetCommitResponse::decode(v, r));
        assert_eq!(m.errors().collect::<Vec<_>>(), [("in", 2, 25)]);
        assert_eq!(m.throttle_time_ms, 3);
    }
}

#[test]
fn api_versions_features_match_kafka_protocol() {
    let k = k_av::ApiVersionsResponse::default()
        .with_api_keys(vec![k_av::ApiVersion::default()
            .with_api_key(26)
            .with_min_version(0)
            .with_max_version(5)])
        .with_supported_features(vec![k_av::SupportedFeatureKey::default()
            .with_name(s("transaction.version"))
            .with_min_version(0)
            .with_max_version(2)])
        .with_finalized_features_epoch(42)
        .with_finalized_features(vec![k_av::FinalizedFeatureKey::default()
            .with_name(s("transaction.version"))
            .with_max_version_level(2)
            .with_min_version_level(0)]);
    let m = ours(&k_encode(&k, 3), |r| ApiVersionsResponse::decode(3, r));
    assert_eq!(m.finalized_features_epoch, 42);
    assert_eq!(m.finalized_level("transaction.version"), Some(2));
    assert_eq!(m.supported_feature("transaction.version"), Some((0, 2)));
    assert_eq!(
        m.finalized_features,
        [FinalizedFeature {
            name: "transaction.version".into(),
            max_version_level: 2,
            min_version_level: 0,
        }]
    );
    // Ours, read by kafka-protocol: the same features.
    let k2: k_av::ApiVersionsResponse = k_decode(&enc(|b| m.encode(3, b)), 3);
    assert_eq!(k2.finalized_features_epoch, 42);
    assert_eq!(k2.finalized_features.len(), 1);
    assert_eq!(&*k2.finalized_features[0].name, "transaction.version");
    assert_eq!(k2.finalized_features[0].max_version_level, 2);
    assert_eq!(k2.supported_features[0].max_version, 2);
    // And byte for byte the same encoding as kafka-protocol's.
    assert_eq!(enc(|b| m.encode(3, b)), k_encode(&k, 3));
}
