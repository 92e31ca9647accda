//! Work per input follows what the input changed, not the number of partitions (issue 22):
//! with 5,000 partitions, a Produce response naming one partition, a timeout with one linger
//! due and a `handle_written` each look at a handful of partitions, counted by the core's
//! testing hook `ProducerCore::partitions_visited_for_testing` (partitions looked at, not
//! time: virtual time throughout, nothing is timed).
//!
//! `cargo test -p odradek-sim --test proportional`

use bytes::Bytes;
use odradek_core::{Acks, Config, Output, ProducerCore, Record, TimeoutReason, TopicName};
use odradek_sim::{Cluster, ClusterConfig, NetEvent, NetworkConfig, TopicSpec};
use std::time::Duration;

const PARTITIONS: i32 = 5_000;
/// The most partitions one of the inputs below may look at.
const BOUND: u64 = 8;

/// What one input cost: its name and the partitions it looked at.
#[derive(Debug)]
struct Cost {
    input: &'static str,
    visited: u64,
}

struct Rig {
    cluster: Cluster,
    core: ProducerCore,
    topic: TopicName,
    costs: Vec<Cost>,
}

impl Rig {
    fn new(acks: Acks, idempotent: bool) -> Rig {
        let mut cc = ClusterConfig::new(3);
        cc.brokers = 1;
        cc.topics = vec![TopicSpec::new("many", PARTITIONS)];
        // A fixed latency, whole responses: each event is one input.
        cc.network = NetworkConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(1),
            fragment_responses: false,
        };
        cc.keep_records = false;
        let cluster = Cluster::new(cc);
        let mut config = Config::new(cluster.config().bootstrap_servers());
        config.acks = acks;
        config.enable_idempotence = Some(idempotent);
        config.linger = Duration::from_millis(5);
        let core = ProducerCore::new(config, 1, cluster.now()).expect("config");
        Rig {
            cluster,
            core,
            topic: TopicName::from("many"),
            costs: Vec::new(),
        }
    }

    fn send_to(&mut self, partition: i32) {
        let record = Record {
            topic: self.topic.clone(),
            partition: Some(partition),
            key: None,
            value: Some(Bytes::from_static(b"proportional")),
            headers: Vec::new(),
            timestamp: None,
        };
        let now = self.cluster.now();
        let before = self.core.partitions_visited_for_testing();
        self.core.send(record, now).expect("accepted");
        let visited = self.core.partitions_visited_for_testing() - before;
        self.costs.push(Cost {
            input: "send",
            visited,
        });
    }

    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            self.cluster.apply(&out);
            if let Output::Delivered(mut d) = out {
                d.drain().for_each(drop);
            }
        }
    }

    /// One input (the next network event or the timer); false when there is none.
    fn step(&mut self) -> bool {
        self.drain();
        let timer = self.core.poll_timeout();
        let before = self.core.partitions_visited_for_testing();
        let input = match (self.cluster.next_event_time(), timer) {
            (Some(net), t) if t.is_none_or(|(t, _)| net <= t) => {
                let Some(ev) = self.cluster.step() else {
                    return true;
                };
                let now = self.cluster.now();
                let input = match &ev {
                    NetEvent::Connected(_) => "handle_connected",
                    NetEvent::Disconnected(_) => "handle_disconnected",
                    NetEvent::Received(..) => "handle_received",
                    NetEvent::Written(..) => "handle_written",
                };
                odradek_sim::feed(&mut self.core, ev, now);
                input
            }
            (_, Some((t, why))) => {
                self.cluster.advance_to(t);
                let now = self.cluster.now();
                self.core.handle_timeout(now);
                match why {
                    TimeoutReason::Linger => "handle_timeout (linger)",
                    _ => "handle_timeout (other)",
                }
            }
            _ => return false,
        };
        let visited = self.core.partitions_visited_for_testing() - before;
        self.costs.push(Cost { input, visited });
        self.drain();
        true
    }

    /// Drives until every record has its outcome.
    fn settle(&mut self) {
        while self.core.pending_records() > 0 {
            assert!(self.step(), "stuck with records pending");
        }
    }
}

fn check(acks: Acks, idempotent: bool) {
    let mut rig = Rig::new(acks, idempotent);
    // Warm up: every partition gets a batch (metadata, the connection, idempotence).
    for p in 0..PARTITIONS {
        rig.send_to(p);
    }
    rig.settle();
    rig.costs.clear();
    // Now one record to one partition: its send, its linger timeout, the request written, and
    // the Produce response naming that one partition.
    rig.send_to(7);
    rig.settle();
    println!("acks {acks:?}, idempotence {idempotent}: {:?}", rig.costs);
    let seen = |name: &str| rig.costs.iter().any(|c| c.input == name);
    assert!(
        seen("handle_timeout (linger)"),
        "the batch sealed at its linger"
    );
    if acks == Acks::None {
        assert!(seen("handle_written"), "acks=0 ends a request when written");
    } else {
        assert!(seen("handle_received"), "the response came");
    }
    let over: Vec<&Cost> = rig.costs.iter().filter(|c| c.visited > BOUND).collect();
    assert!(
        over.is_empty(),
        "inputs that looked at more than {BOUND} of {PARTITIONS} partitions: {over:?}"
    );
}

#[test]
fn one_partition_changed_costs_a_few_partitions_acks_all_idempotent() {
    check(Acks::All, true);
}

#[test]
fn one_partition_changed_costs_a_few_partitions_acks_leader() {
    check(Acks::Leader, false);
}

#[test]
fn one_partition_changed_costs_a_few_partitions_acks_none() {
    check(Acks::None, false);
}

/// A driver's timer may fire late, and a `send` may come first: that send takes the full pass
/// (a deadline is due), which looks only at marked and due partitions, so it must mark the
/// record's own partition. It once did not: the new batch's linger was never armed and the
/// batch waited for an unrelated input or its delivery timeout (120 s), where it should go
/// out after `linger.ms`. (Debug builds also panic in the core's own check.)
#[test]
fn a_send_after_a_missed_deadline_still_arms_its_linger() {
    let mut rig = Rig::new(Acks::All, false);
    rig.send_to(1);
    rig.settle();
    rig.send_to(2);
    let (due, why) = rig.core.poll_timeout().expect("a deadline");
    assert_eq!(why, TimeoutReason::Linger, "partition 2's batch lingers");
    // The timer fires late: the deadline passes and a send comes before `handle_timeout`.
    rig.cluster.advance_to(due + Duration::from_millis(1));
    rig.send_to(3);
    let now = rig.cluster.now();
    let linger_end = now + Duration::from_millis(5);
    let (next, why) = rig.core.poll_timeout().expect("a deadline");
    assert!(
        next <= linger_end,
        "the new batch lingers until {linger_end:?}, but the next wake-up is {next:?} ({why:?})"
    );
    rig.settle();
    assert!(
        rig.cluster.now() <= now + Duration::from_secs(1),
        "delivered at {:?}, sent at {now:?}",
        rig.cluster.now()
    );
}
