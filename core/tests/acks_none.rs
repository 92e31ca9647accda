//! `acks=0`: no answer comes, so a Produce request ends when the driver says it was written
//! (`handle_written`), not when it is handed over in a `Transmit`. Against odradek-sim's
//! cluster, in virtual time, with the write notifications held back or passed on.

use odradek_core::{Acks, Config, Output, ProducerCore, Record, SendErrorKind};
use odradek_sim::{Cluster, ClusterConfig, NetEvent};
use std::time::Duration;

fn config(cluster: &Cluster) -> Config {
    let mut c = Config::new(cluster.config().bootstrap_servers());
    c.acks = Acks::None;
    c.linger = Duration::ZERO;
    c.batch_size = 4096;
    c.message_max_bytes = 4096;
    c.buffer_memory = 32 * 1024;
    c.request_timeout = Duration::from_secs(30);
    c.delivery_timeout = None;
    c
}

/// Steps the cluster until nothing is due before `until`, feeding the core every network
/// event; `Written` ones go to `held` instead while `writes` is false (a socket that takes
/// nothing yet), and those held are fed first when it is true. Returns how many records were
/// delivered.
fn run(
    cluster: &mut Cluster,
    core: &mut ProducerCore,
    writes: bool,
    held: &mut Vec<(odradek_core::ConnId, usize)>,
    until: odradek_core::Instant,
) -> usize {
    if writes {
        for (c, n) in held.drain(..) {
            core.handle_written(c, n, cluster.now());
        }
    }
    let mut delivered = 0;
    loop {
        while let Some(out) = core.poll_output() {
            match out {
                Output::Delivered(batch) => delivered += batch.len(),
                Output::Failed { error, .. } => panic!("a record failed: {error}"),
                other => {
                    cluster.apply(&other);
                }
            }
        }
        let Some(at) = cluster.next_event_time().filter(|&t| t <= until) else {
            return delivered;
        };
        let now = at;
        match cluster.step() {
            Some(NetEvent::Connected(c)) => core.handle_connected(c, now),
            Some(NetEvent::Disconnected(c)) => core.handle_disconnected(c, now),
            Some(NetEvent::Received(c, b)) => core.handle_received(c, &b, now),
            Some(NetEvent::Written(c, n)) if writes => core.handle_written(c, n, now),
            Some(NetEvent::Written(c, n)) => held.push((c, n)),
            None => {}
        }
    }
}

#[test]
fn unwritten_requests_keep_their_buffer_memory_until_written() {
    let mut cluster = Cluster::new(ClusterConfig::new(3));
    let mut core = ProducerCore::new(config(&cluster), 1, cluster.now()).unwrap();
    let rec = || Record::new("b").partition(0).value(vec![7u8; 1000]);
    // Nothing is reported written: the buffer fills and stays full.
    let mut held = Vec::new();
    let mut accepted = 0;
    let mut refused = false;
    for _ in 0..10_000 {
        match core.send(rec(), cluster.now()) {
            Ok(_) => accepted += 1,
            Err(e) => {
                assert_eq!(e.kind, SendErrorKind::BufferFull);
                refused = true;
                break;
            }
        }
        let soon = cluster.now() + Duration::from_millis(1);
        assert_eq!(
            run(&mut cluster, &mut core, false, &mut held, soon),
            0,
            "delivered unwritten"
        );
        cluster.advance_to(soon);
    }
    assert!(refused, "{accepted} records taken with nothing written");
    assert!(
        accepted <= 32,
        "{accepted} records of 1000 B in a 32 KiB buffer"
    );
    assert_eq!(core.pending_records(), accepted);
    // Once the writes are reported, every record is delivered and the buffer is free.
    let later = cluster.now() + Duration::from_secs(1);
    assert!(!held.is_empty());
    let delivered = run(&mut cluster, &mut core, true, &mut held, later);
    assert_eq!(delivered, accepted);
    assert_eq!(core.pending_records(), 0);
    assert_eq!(core.buffered_bytes(), 0);
    assert_eq!(cluster.log("b", 0).unwrap().len(), accepted);
}

#[test]
fn an_unwritten_request_times_out_like_any_other() {
    let mut cluster = Cluster::new(ClusterConfig::new(3));
    let mut c = config(&cluster);
    c.request_timeout = Duration::from_secs(2);
    let mut core = ProducerCore::new(c, 1, cluster.now()).unwrap();
    core.send(Record::new("b").partition(0).value("v"), cluster.now())
        .unwrap();
    let start = cluster.now();
    // No write is ever reported: past the request timeout the connection is given up.
    let mut disconnects = 0;
    let end = start + Duration::from_secs(3);
    loop {
        while let Some(out) = core.poll_output() {
            match out {
                Output::Delivered(_) => panic!("delivered unwritten"),
                Output::Disconnect { conn } => {
                    disconnects += 1;
                    cluster.apply(&Output::Disconnect { conn });
                }
                other => {
                    cluster.apply(&other);
                }
            }
        }
        let net = cluster.next_event_time();
        let timer = core.poll_timeout().map(|(t, _)| t);
        match (net, timer) {
            (Some(n), t) if n <= end && t.is_none_or(|t| n <= t) => match cluster.step() {
                Some(NetEvent::Connected(c)) => core.handle_connected(c, n),
                Some(NetEvent::Disconnected(c)) => core.handle_disconnected(c, n),
                Some(NetEvent::Received(c, b)) => core.handle_received(c, &b, n),
                Some(NetEvent::Written(..)) | None => {}
            },
            (_, Some(t)) if t <= end => {
                cluster.advance_to(t);
                core.handle_timeout(t);
            }
            _ => break,
        }
    }
    assert!(disconnects >= 1, "the stuck request never timed out");
    assert_eq!(core.pending_records(), 1, "the record waits for its retry");
}
