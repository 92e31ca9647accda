//! Observability for every adapter: the core's [`Event`]s as `tracing` events, and its
//! [`Stats`] snapshot through the `metrics` facade. Runtime-neutral: the async driver
//! (`odradek-tokio`, `odradek-async-std`) and both `odradek-mio` producers call [`sync`].
//!
//! # tracing
//!
//! Every event has the target `odradek`:
//!
//! | core event | level | fields |
//! | --- | --- | --- |
//! | connection ready | INFO | `conn`, `node_id` (absent for a bootstrap server), `address` |
//! | connection ended | INFO | `conn`, `node_id`, `cause` |
//! | connect failed (adapter) | WARN | `address`, `error` (the I/O error) |
//! | partition leader changed | DEBUG | `topic`, `partition`, `leader` (-1: none) |
//! | batch sent | TRACE | `topic`, `partition`, `node_id`, `records`, `bytes` |
//! | batch acknowledged | DEBUG | `topic`, `partition`, `records`, `base_offset`, `latency_us` |
//! | batch retried | WARN | `topic`, `partition`, `records`, `cause` |
//! | records failed for good | ERROR | `topic`, `records`, `error` |
//!
//! **Off the hot path when nobody listens.** The core builds events only while its event
//! queue is on. [`sync`] re-checks, every time an adapter has fed the core (each wake-up of
//! the async driver task; each `drain_outputs` of a mio producer), whether the current subscriber
//! wants events of target `odradek` at any level (`tracing::enabled!`, which is one cached
//! atomic load when the answer is a plain yes or no), and turns the queue on or off to match.
//! So a subscriber installed after `connect` is seen from the next wake-up on, and with no
//! subscriber the core builds no events at all. The check is made on the thread that drives
//! the core: a thread-local subscriber (`tracing::subscriber::with_default`) is seen only if
//! the producer's I/O runs on that thread (a current-thread tokio runtime, a `MioProducer`
//! in your own loop); install a global one otherwise (a `BlockingProducer` drives its core
//! from its own thread and from the threads that call `send`).
//!
//! # metrics
//!
//! [`record_metrics`] publishes one snapshot through the `metrics` facade (whatever recorder
//! is installed: Prometheus exporter, StatsD, ...). Call it periodically with
//! `producer.stats()`. Counters are cumulative and set with `Counter::absolute`; gauges are
//! set to the snapshot's value. Latency is a summary: gauges labelled `quantile`
//! (`0.5`, `0.99`, `1` = the maximum), in seconds.
//!
//! | name | kind | labels | meaning |
//! | --- | --- | --- | --- |
//! | `odradek_records_accepted_total` | counter | | records `send` accepted |
//! | `odradek_records_delivered_total` | counter | | records acknowledged |
//! | `odradek_records_failed_total` | counter | | records failed for good |
//! | `odradek_records_sent_total` | counter | | records in batches sent (retries count again) |
//! | `odradek_batches_sent_total` | counter | | record batches sent |
//! | `odradek_batch_bytes_total` | counter | | bytes of those batches as sent |
//! | `odradek_batch_uncompressed_bytes_total` | counter | | their bytes before compression |
//! | `odradek_produce_requests_total` | counter | | Produce requests sent |
//! | `odradek_request_bytes_total` | counter | | bytes of those requests |
//! | `odradek_retries_total` | counter | `cause` (`connection_lost`, `request_timeout`, `bad_response`, `sequence_reset`, `broker_error`), `error_code` (broker errors only) | batches sent again |
//! | `odradek_pending_records` | gauge | | records accepted, not yet resolved |
//! | `odradek_buffer_bytes` | gauge | | bytes of `buffer.memory` in use |
//! | `odradek_buffer_capacity_bytes` | gauge | | `buffer.memory` |
//! | `odradek_in_flight_requests` | gauge | | Produce requests awaiting an answer |
//! | `odradek_batch_records_avg` | gauge | | records per batch |
//! | `odradek_batch_fill_ratio` | gauge | | uncompressed bytes per batch over `batch.size` |
//! | `odradek_compression_ratio` | gauge | | uncompressed over sent bytes |
//! | `odradek_request_latency_seconds` | gauge | `quantile` | Produce round trip |
//! | `odradek_broker_connected` | gauge | `broker` | 1 while a connection is ready |
//! | `odradek_broker_produce_requests_total` | counter | `broker` | Produce requests to it |
//! | `odradek_broker_request_bytes_total` | counter | `broker` | their bytes |
//! | `odradek_broker_disconnects_total` | counter | `broker` | connections lost or dropped |
//! | `odradek_broker_in_flight_requests` | gauge | `broker` | requests awaiting its answer |
//! | `odradek_broker_request_latency_seconds` | gauge | `broker`, `quantile` | its round trips |
//! | `odradek_partition_batches_sent_total` | counter | `topic`, `partition` | batches sent |
//! | `odradek_partition_records_delivered_total` | counter | `topic`, `partition` | records acknowledged |
//! | `odradek_partition_queued_records` | gauge | `topic`, `partition` | records held, not in flight |
//! | `odradek_partition_batches_in_flight` | gauge | `topic`, `partition` | batches in flight |
//! | `odradek_partition_leader` | gauge | `topic`, `partition` | leader node id (-1: none) |
//!
//! Several producers in one process: give each its own labels with
//! [`record_metrics_with_labels`] (e.g. `client_id`), or their series collide.

use metrics::{counter, gauge, Label};
use odradek_core::stats::{Event, Histogram, Stats};
use odradek_core::{ProducerCore, RetryCause};
use tracing::Level;

/// The `tracing` target of every odradek event.
pub const TARGET: &str = "odradek";

/// Whether the current subscriber wants any odradek event (see the module docs).
pub fn events_wanted() -> bool {
    // ERROR is the least verbose level odradek emits at: if it is off, everything is.
    tracing::enabled!(target: TARGET, Level::ERROR)
}

/// Emits every event the core has queued, then turns the core's event queue on or off to
/// match [`events_wanted`]. Adapters call it after feeding the core.
pub fn sync(core: &mut ProducerCore) {
    while let Some(event) = core.poll_event() {
        emit(&event);
    }
    core.set_events(events_wanted());
}

fn cause_name(cause: &RetryCause) -> String {
    cause.to_string()
}

/// Emits a WARN `connect failed` event (fields `address`, `error`) when `result` is an error:
/// the I/O error behind a core `disconnected` event, which only knows the connection was lost.
pub fn connect_result<T>(address: &dyn std::fmt::Display, result: &std::io::Result<T>) {
    if let Err(error) = result {
        tracing::event!(target: TARGET, Level::WARN, address = %address, error = %error,
            "connect failed");
    }
}

/// Emits one core event as a `tracing` event of target [`TARGET`] (levels in the module docs).
pub fn emit(event: &Event) {
    match event {
        Event::Connected {
            conn,
            node_id,
            address,
        } => {
            tracing::event!(target: TARGET, Level::INFO, conn = conn.0, node_id = *node_id,
                address = %address, "connected")
        }
        Event::Disconnected {
            conn,
            node_id,
            cause,
        } => tracing::event!(target: TARGET, Level::INFO, conn = conn.0, node_id = *node_id,
            cause = %cause_name(cause), "disconnected"),
        Event::LeaderChanged {
            topic,
            partition,
            leader,
        } => tracing::event!(target: TARGET, Level::DEBUG, topic = %topic,
            partition = *partition, leader = leader.unwrap_or(-1), "leader changed"),
        Event::BatchSent {
            topic,
            partition,
            node_id,
            records,
            bytes,
        } => tracing::event!(target: TARGET, Level::TRACE, topic = %topic,
            partition = *partition, node_id = *node_id, records = *records as u64,
            bytes = *bytes as u64, "batch sent"),
        Event::BatchAcked {
            topic,
            partition,
            records,
            base_offset,
            latency,
        } => tracing::event!(target: TARGET, Level::DEBUG, topic = %topic,
            partition = *partition, records = *records as u64, base_offset = *base_offset,
            latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            "batch acknowledged"),
        Event::Retry {
            topic,
            partition,
            records,
            cause,
        } => tracing::event!(target: TARGET, Level::WARN, topic = %topic,
            partition = *partition, records = *records as u64, cause = %cause_name(cause),
            "batch retried"),
        Event::Failed {
            topic,
            records,
            error,
        } => tracing::event!(target: TARGET, Level::ERROR, topic = %topic,
            records = *records as u64, error = %error, "records failed"),
    }
}

/// Publishes `stats` through the `metrics` facade under the names in the module docs.
pub fn record_metrics(stats: &Stats) {
    record_metrics_with_labels(stats, &[]);
}

/// [`record_metrics`] with `labels` added to every series (e.g. a `client_id`).
pub fn record_metrics_with_labels(stats: &Stats, labels: &[Label]) {
    let l = Labels(labels);
    record_records(stats, &l);
    record_retries(stats, &l);
    record_buffer(stats, &l);
    record_brokers(stats, &l);
    record_partitions(stats, &l);
}

/// The labels given to [`record_metrics_with_labels`], to which each series adds its own.
struct Labels<'a>(&'a [Label]);

impl Labels<'_> {
    /// The given labels followed by `extra`.
    fn with(&self, extra: &[Label]) -> Vec<Label> {
        self.0
            .iter()
            .cloned()
            .chain(extra.iter().cloned())
            .collect()
    }
}

/// Sets a cumulative counter.
fn total(name: &'static str, value: u64, labels: Vec<Label>) {
    counter!(name, labels).absolute(value);
}

/// Sets a gauge.
fn set(name: &'static str, value: f64, labels: Vec<Label>) {
    gauge!(name, labels).set(value);
}

/// The producer-wide counters: records, batches, requests.
fn record_records(stats: &Stats, labels: &Labels<'_>) {
    let base = labels.with(&[]);
    total(
        "odradek_records_accepted_total",
        stats.records_accepted,
        base.clone(),
    );
    total(
        "odradek_records_delivered_total",
        stats.records_delivered,
        base.clone(),
    );
    total(
        "odradek_records_failed_total",
        stats.records_failed,
        base.clone(),
    );
    total(
        "odradek_records_sent_total",
        stats.batch_records,
        base.clone(),
    );
    total(
        "odradek_batches_sent_total",
        stats.batches_sent,
        base.clone(),
    );
    total("odradek_batch_bytes_total", stats.batch_bytes, base.clone());
    total(
        "odradek_batch_uncompressed_bytes_total",
        stats.batch_uncompressed_bytes,
        base.clone(),
    );
    total(
        "odradek_produce_requests_total",
        stats.produce_requests,
        base.clone(),
    );
    total(
        "odradek_request_bytes_total",
        stats.request_bytes,
        base.clone(),
    );
}

/// `odradek_retries_total`, by cause (and broker error code).
fn record_retries(stats: &Stats, labels: &Labels<'_>) {
    let with = |extra: &[Label]| labels.with(extra);
    let r = &stats.retries;
    for (cause, n) in [
        ("connection_lost", r.connection_lost),
        ("request_timeout", r.request_timeout),
        ("bad_response", r.bad_response),
        ("sequence_reset", r.sequence_reset),
    ] {
        total(
            "odradek_retries_total",
            n,
            with(&[Label::new("cause", cause)]),
        );
    }
    for (code, n) in &r.broker_errors {
        total(
            "odradek_retries_total",
            *n,
            with(&[
                Label::new("cause", "broker_error"),
                Label::new("error_code", code.to_string()),
            ]),
        );
    }
}

/// The producer-wide gauges: what is held and in flight, batch shape, latency.
fn record_buffer(stats: &Stats, labels: &Labels<'_>) {
    let base = labels.with(&[]);
    set(
        "odradek_pending_records",
        stats.pending_records as f64,
        base.clone(),
    );
    set(
        "odradek_buffer_bytes",
        stats.buffer_bytes as f64,
        base.clone(),
    );
    set(
        "odradek_buffer_capacity_bytes",
        stats.buffer_capacity as f64,
        base.clone(),
    );
    set(
        "odradek_in_flight_requests",
        stats.requests_in_flight as f64,
        base.clone(),
    );
    set(
        "odradek_batch_records_avg",
        stats.average_batch_records(),
        base.clone(),
    );
    set(
        "odradek_batch_fill_ratio",
        stats.average_batch_fill(),
        base.clone(),
    );
    set(
        "odradek_compression_ratio",
        stats.compression_ratio(),
        base.clone(),
    );
    latency(
        "odradek_request_latency_seconds",
        &stats.request_latency,
        &base,
    );
}

/// The series labelled `broker`.
fn record_brokers(stats: &Stats, labels: &Labels<'_>) {
    let with = |extra: &[Label]| labels.with(extra);
    for b in &stats.brokers {
        let l = with(&[Label::new("broker", b.node_id.to_string())]);
        set(
            "odradek_broker_connected",
            f64::from(u8::from(b.connected)),
            l.clone(),
        );
        total(
            "odradek_broker_produce_requests_total",
            b.produce_requests,
            l.clone(),
        );
        total(
            "odradek_broker_request_bytes_total",
            b.request_bytes,
            l.clone(),
        );
        total("odradek_broker_disconnects_total", b.disconnects, l.clone());
        set(
            "odradek_broker_in_flight_requests",
            b.requests_in_flight as f64,
            l.clone(),
        );
        latency("odradek_broker_request_latency_seconds", &b.latency, &l);
    }
}

/// The series labelled `topic` and `partition`.
fn record_partitions(stats: &Stats, labels: &Labels<'_>) {
    let with = |extra: &[Label]| labels.with(extra);
    for p in &stats.partitions {
        let l = with(&[
            Label::new("topic", p.topic.clone()),
            Label::new("partition", p.partition.to_string()),
        ]);
        total(
            "odradek_partition_batches_sent_total",
            p.batches_sent,
            l.clone(),
        );
        total(
            "odradek_partition_records_delivered_total",
            p.records_delivered,
            l.clone(),
        );
        set(
            "odradek_partition_queued_records",
            p.queued_records as f64,
            l.clone(),
        );
        set(
            "odradek_partition_batches_in_flight",
            p.batches_in_flight as f64,
            l.clone(),
        );
        set(
            "odradek_partition_leader",
            f64::from(p.leader.unwrap_or(-1)),
            l,
        );
    }
}

/// The quantiles of a latency histogram, as gauges labelled `quantile` (nothing while empty).
fn latency(name: &'static str, h: &Histogram, labels: &[Label]) {
    for (q, p) in [("0.5", 50.0), ("0.99", 99.0), ("1", 100.0)] {
        if let Some(d) = h.percentile(p) {
            let mut l = labels.to_vec();
            l.push(Label::new("quantile", q));
            gauge!(name, l).set(d.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::capture::{Capture, Recorder};
    use odradek_core::stats::{BrokerStats, PartitionStats, RetryCounts};
    use odradek_core::{Config, ConnId, Instant, Output};
    use std::time::Duration;

    /// A core that has asked for its first connection, and that connection's id.
    fn core_connecting() -> (ProducerCore, ConnId, Instant) {
        let now = Instant::from_unix_millis(1_700_000_000_000);
        let mut core = ProducerCore::new(Config::new(["127.0.0.1:9092"]), 7, now).unwrap();
        let conn = std::iter::from_fn(|| core.poll_output())
            .find_map(|o| match o {
                Output::Connect { conn, .. } => Some(conn),
                _ => None,
            })
            .expect("a first connect");
        (core, conn, now)
    }

    /// These tests run one at a time, each subscriber test rebuilding tracing's callsite
    /// interest cache first: the cache is process-wide, and a test without a subscriber
    /// running beside one with a thread-local subscriber can leave a callsite cached as
    /// uninteresting for both.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn without_a_subscriber_the_event_queue_stays_off() {
        let _serial = serial();
        let (mut core, conn, now) = core_connecting();
        core.set_events(true);
        sync(&mut core);
        assert!(!core.events_enabled());
        core.handle_connected(conn, now);
        core.handle_disconnected(conn, now);
        sync(&mut core);
        assert!(!core.events_enabled());
        assert_eq!(core.poll_event(), None);
    }

    #[test]
    fn with_a_subscriber_core_events_become_tracing_events() {
        let _serial = serial();
        let capture = Capture::default();
        let (mut core, conn, now) = core_connecting();
        tracing::subscriber::with_default(capture.subscriber(), || {
            tracing::callsite::rebuild_interest_cache();
            sync(&mut core);
            assert!(core.events_enabled());
            core.handle_connected(conn, now);
            core.handle_disconnected(conn, now);
            sync(&mut core);
            assert!(core.events_enabled());
        });
        let gone = capture.named("disconnected");
        assert_eq!(gone.len(), 1, "{:?}", capture.events());
        assert_eq!(gone[0].level, Level::INFO);
        assert_eq!(gone[0].fields["conn"], conn.0.to_string());
        assert_eq!(
            gone[0].fields["cause"],
            RetryCause::ConnectionLost.to_string()
        );
        // Once the subscriber is gone, the next sync turns the queue off again.
        sync(&mut core);
        assert!(!core.events_enabled());
    }

    #[test]
    fn emit_levels_and_fields() {
        let _serial = serial();
        let capture = Capture::default();
        tracing::subscriber::with_default(capture.subscriber(), || {
            tracing::callsite::rebuild_interest_cache();
            emit(&Event::BatchSent {
                topic: "t".into(),
                partition: 2,
                node_id: 1,
                records: 10,
                bytes: 300,
            });
            emit(&Event::BatchAcked {
                topic: "t".into(),
                partition: 2,
                records: 10,
                base_offset: 40,
                latency: Duration::from_micros(1500),
            });
            emit(&Event::Retry {
                topic: "t".into(),
                partition: 2,
                records: 10,
                cause: RetryCause::RequestTimeout,
            });
            emit(&Event::LeaderChanged {
                topic: "t".into(),
                partition: 2,
                leader: None,
            });
            emit(&Event::Failed {
                topic: "t".into(),
                records: 3,
                error: odradek_core::ProduceError::Aborted,
            });
            connect_result::<()>(&"h:1", &Err(std::io::ErrorKind::ConnectionRefused.into()));
            connect_result(&"h:1", &Ok(()));
        });
        let events = capture.events();
        let summary: Vec<(Level, &str)> = events
            .iter()
            .map(|e| (e.level, e.message.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (Level::TRACE, "batch sent"),
                (Level::DEBUG, "batch acknowledged"),
                (Level::WARN, "batch retried"),
                (Level::DEBUG, "leader changed"),
                (Level::ERROR, "records failed"),
                (Level::WARN, "connect failed"),
            ]
        );
        assert!(events.iter().all(|e| e.target == TARGET));
        assert_eq!(events[0].fields["bytes"], "300");
        assert_eq!(events[0].fields["topic"], "t");
        assert_eq!(events[1].fields["base_offset"], "40");
        assert_eq!(events[1].fields["latency_us"], "1500");
        assert_eq!(events[3].fields["leader"], "-1");
        assert_eq!(events[4].fields["records"], "3");
        assert_eq!(
            events[4].fields["error"],
            odradek_core::ProduceError::Aborted.to_string()
        );
        assert_eq!(events[5].fields["address"], "h:1");
    }

    #[test]
    fn metrics_names_labels_and_values() {
        let mut latency = Histogram::default();
        latency.record(Duration::from_millis(4));
        let stats = Stats {
            records_accepted: 12,
            records_delivered: 10,
            records_failed: 1,
            pending_records: 1,
            buffer_bytes: 900,
            buffer_capacity: 4096,
            produce_requests: 3,
            request_bytes: 1200,
            requests_in_flight: 1,
            batches_sent: 4,
            batch_records: 11,
            batch_bytes: 1000,
            batch_uncompressed_bytes: 2000,
            batch_size: 1000,
            retries: RetryCounts {
                request_timeout: 2,
                broker_errors: [(6, 1)].into_iter().collect(),
                ..RetryCounts::default()
            },
            leader_hints_used: 0,
            records_rejected_alone: 0,
            request_latency: latency.clone(),
            brokers: vec![BrokerStats {
                node_id: 1,
                connected: true,
                produce_requests: 3,
                request_bytes: 1200,
                requests_in_flight: 1,
                disconnects: 2,
                latency,
                ..BrokerStats::default()
            }],
            partitions: vec![PartitionStats {
                topic: "events".into(),
                partition: 0,
                leader: Some(1),
                queued_records: 1,
                batches_in_flight: 1,
                batches_sent: 4,
                records_delivered: 10,
            }],
        };
        let rec = Recorder::default();
        metrics::with_local_recorder(&rec, || record_metrics(&stats));
        let c = |s: &str| {
            rec.counter(s)
                .unwrap_or_else(|| panic!("{s} in {:?}", rec.names()))
        };
        let g = |s: &str| {
            rec.gauge(s)
                .unwrap_or_else(|| panic!("{s} in {:?}", rec.names()))
        };
        assert_eq!(c("odradek_records_accepted_total"), 12);
        assert_eq!(c("odradek_records_delivered_total"), 10);
        assert_eq!(c("odradek_records_failed_total"), 1);
        assert_eq!(c("odradek_records_sent_total"), 11);
        assert_eq!(c("odradek_batches_sent_total"), 4);
        assert_eq!(c("odradek_batch_bytes_total"), 1000);
        assert_eq!(c("odradek_batch_uncompressed_bytes_total"), 2000);
        assert_eq!(c("odradek_produce_requests_total"), 3);
        assert_eq!(c("odradek_request_bytes_total"), 1200);
        assert_eq!(c("odradek_retries_total{cause=request_timeout}"), 2);
        assert_eq!(c("odradek_retries_total{cause=connection_lost}"), 0);
        assert_eq!(
            c("odradek_retries_total{cause=broker_error,error_code=6}"),
            1
        );
        assert_eq!(g("odradek_pending_records"), 1.0);
        assert_eq!(g("odradek_buffer_bytes"), 900.0);
        assert_eq!(g("odradek_buffer_capacity_bytes"), 4096.0);
        assert_eq!(g("odradek_in_flight_requests"), 1.0);
        assert_eq!(g("odradek_batch_records_avg"), 2.75);
        assert_eq!(g("odradek_batch_fill_ratio"), 0.5);
        assert_eq!(g("odradek_compression_ratio"), 2.0);
        let p50 = g("odradek_request_latency_seconds{quantile=0.5}");
        assert!((0.004..=0.0048).contains(&p50), "{p50}");
        assert_eq!(g("odradek_request_latency_seconds{quantile=1}"), 0.004);
        assert_eq!(g("odradek_broker_connected{broker=1}"), 1.0);
        assert_eq!(c("odradek_broker_produce_requests_total{broker=1}"), 3);
        assert_eq!(c("odradek_broker_request_bytes_total{broker=1}"), 1200);
        assert_eq!(c("odradek_broker_disconnects_total{broker=1}"), 2);
        assert_eq!(g("odradek_broker_in_flight_requests{broker=1}"), 1.0);
        assert_eq!(
            g("odradek_broker_request_latency_seconds{broker=1,quantile=1}"),
            0.004
        );
        let part = "{partition=0,topic=events}";
        assert_eq!(c(&format!("odradek_partition_batches_sent_total{part}")), 4);
        assert_eq!(
            c(&format!("odradek_partition_records_delivered_total{part}")),
            10
        );
        assert_eq!(g(&format!("odradek_partition_queued_records{part}")), 1.0);
        assert_eq!(
            g(&format!("odradek_partition_batches_in_flight{part}")),
            1.0
        );
        assert_eq!(g(&format!("odradek_partition_leader{part}")), 1.0);

        // Extra labels go on every series; counters are cumulative (`absolute`).
        let rec = Recorder::default();
        let labels = [Label::new("client_id", "a")];
        metrics::with_local_recorder(&rec, || {
            record_metrics_with_labels(&stats, &labels);
            record_metrics_with_labels(&stats, &labels);
        });
        assert_eq!(
            rec.counter("odradek_records_delivered_total{client_id=a}"),
            Some(10)
        );
        assert!(rec.names().iter().all(|n| n.contains("client_id=a")));
        assert_eq!(rec.counter("odradek_records_delivered_total"), None);
    }
}
