//! Tests of the real-Kafka harness itself: fetch, start (1 and 3 nodes, 4.1 and 3.9), topic
//! creation, binary-safe read-back with Kafka's Java client, stop without leftovers.
//!
//! Skipped unless `ODRADEK_KAFKA=1` (`cargo xtask test` sets it).

use odradek_tests::kafka::{
    self, pid_alive, stop_by_name, KafkaCluster, Lifetime, ReferenceRecord, StartOptions, Version,
};

/// Records that exercise every byte value, null and empty keys/values, null header values,
/// explicit timestamps and explicit partitions.
fn binary_records() -> Vec<ReferenceRecord> {
    let all_bytes: Vec<u8> = (0..=255).collect();
    vec![
        ReferenceRecord {
            partition: Some(0),
            timestamp: Some(1_700_000_000_000),
            key: Some(all_bytes.clone()),
            value: Some(b"tab\there\nnewline".to_vec()),
            headers: vec![
                ("h1".into(), Some(vec![0, 255, 9, 10])),
                ("h-null".into(), None),
            ],
        },
        ReferenceRecord {
            partition: Some(0),
            timestamp: Some(1_700_000_000_001),
            key: None,
            value: Some(all_bytes.iter().rev().copied().collect()),
            headers: vec![],
        },
        ReferenceRecord {
            partition: Some(1),
            timestamp: Some(1_700_000_000_002),
            key: Some(Vec::new()),
            value: None,
            headers: vec![
                ("dup".into(), Some(b"a".to_vec())),
                ("dup".into(), Some(Vec::new())),
            ],
        },
        ReferenceRecord {
            partition: Some(2),
            timestamp: None,
            key: Some(b"k".to_vec()),
            value: Some(vec![0; 3000]),
            headers: vec![],
        },
    ]
}

/// Produces with the Java client, reads back through `consume_all` and compares every field.
fn round_trip(cluster: &KafkaCluster, topic: &str, replication: i16) {
    cluster.create_topic(topic, 3, replication, &[]).unwrap();
    let sent = binary_records();
    let acks = cluster.produce_reference(topic, &sent).unwrap();
    let read = cluster.consume_all(topic, sent.len()).unwrap();
    assert_eq!(read.len(), sent.len(), "read back {read:#?}");
    for (s, ack) in sent.iter().zip(&acks) {
        let (partition, offset) = ack.clone().expect("the Java producer delivered it");
        if let Some(p) = s.partition {
            assert_eq!(partition, p);
        }
        let r = read
            .iter()
            .find(|r| r.partition == partition && r.offset == offset)
            .unwrap_or_else(|| panic!("no record at {partition}/{offset} in {read:#?}"));
        assert_eq!(r.key, s.key);
        assert_eq!(r.value, s.value);
        assert_eq!(r.headers, s.headers);
        if let Some(ts) = s.timestamp {
            assert_eq!(r.timestamp, ts);
            assert_eq!(r.timestamp_type, 0, "CreateTime");
        }
    }
    // Partition 0 got two records, in order.
    let p0: Vec<i64> = read
        .iter()
        .filter(|r| r.partition == 0)
        .map(|r| r.offset)
        .collect();
    assert_eq!(p0, vec![0, 1]);
}

fn assert_stopped(pids: &[u32], dir: &std::path::Path) {
    for &pid in pids {
        assert!(!pid_alive(pid), "broker pid {pid} still running");
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn kafka_4_1_single_node_round_trip_and_clean_stop() {
    if !kafka::should_run("kafka_4_1_single_node_round_trip_and_clean_stop") {
        return;
    }
    let cluster = KafkaCluster::start(Version::V4_1, 1).unwrap();
    round_trip(&cluster, "harness-binary", 1);
    // Auto-creation is off: an unknown topic stays unknown.
    let err = cluster
        .produce_reference(
            "harness-no-such-topic",
            &[ReferenceRecord {
                value: Some(b"x".to_vec()),
                ..Default::default()
            }],
        )
        .unwrap();
    assert!(err[0].is_err(), "{err:?}");
    let pids: Vec<u32> = cluster.nodes().iter().map(|n| n.pid).collect();
    let dir = kafka::run_root().join(cluster.name());
    drop(cluster);
    assert_stopped(&pids, &dir);
}

#[test]
fn kafka_3_9_single_node_round_trip() {
    if !kafka::should_run("kafka_3_9_single_node_round_trip") {
        return;
    }
    let cluster = KafkaCluster::start(Version::V3_9, 1).unwrap();
    round_trip(&cluster, "harness-binary-39", 1);
    let pids: Vec<u32> = cluster.nodes().iter().map(|n| n.pid).collect();
    let dir = kafka::run_root().join(cluster.name());
    drop(cluster);
    assert_stopped(&pids, &dir);
}

#[test]
fn kafka_4_1_three_nodes_replicated_topic() {
    if !kafka::should_run("kafka_4_1_three_nodes_replicated_topic") {
        return;
    }
    let cluster = KafkaCluster::start(Version::V4_1, 3).unwrap();
    assert_eq!(cluster.nodes().len(), 3);
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    round_trip(&cluster, "harness-replicated", 3);
    let pids: Vec<u32> = cluster.nodes().iter().map(|n| n.pid).collect();
    let dir = kafka::run_root().join(cluster.name());
    drop(cluster);
    assert_stopped(&pids, &dir);
}

#[test]
fn detached_cluster_is_stopped_through_its_state_file() {
    if !kafka::should_run("detached_cluster_is_stopped_through_its_state_file") {
        return;
    }
    let name = format!("test-detached-{}", std::process::id());
    // Stops it even if an assertion below fails.
    struct Guard(String);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = stop_by_name(&self.0);
            let _ = std::fs::remove_dir_all(kafka::run_root().join(&self.0));
        }
    }
    let _guard = Guard(name.clone());
    let mut opts = StartOptions::new(Version::V4_1, 1);
    opts.name = Some(name.clone());
    opts.lifetime = Lifetime::Detached;
    let cluster = KafkaCluster::start_with(opts).unwrap();
    let pid = cluster.nodes()[0].pid;
    drop(cluster); // detached: still running
    assert!(pid_alive(pid));
    let attached = KafkaCluster::attach(&name).unwrap();
    attached.create_topic("detached-topic", 1, 1, &[]).unwrap();
    drop(attached);
    assert!(pid_alive(pid));
    let stopped = stop_by_name(&name).unwrap();
    assert_eq!(stopped, vec![pid]);
    assert!(!pid_alive(pid));
    assert!(stop_by_name(&name).is_err(), "state file removed");
}
