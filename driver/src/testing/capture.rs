//! Test doubles for observability: a `tracing` layer that keeps every event, and a `metrics`
//! recorder that keeps every counter and gauge by name and labels.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::Level;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One event a [`Capture`] saw.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Its level.
    pub level: Level,
    /// Its target.
    pub target: String,
    /// Its message.
    pub message: String,
    /// Its other fields, formatted (`Display` for strings, `Debug` otherwise).
    pub fields: BTreeMap<String, String>,
}

/// A `tracing` layer that keeps every event; clones share the list.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
}

impl Capture {
    /// A subscriber made of this layer alone.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        tracing_subscriber::registry().with(self.clone())
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Captured> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The events of target `odradek` with `message`.
    pub fn named(&self, message: &str) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|e| e.target == "odradek" && e.message == message)
            .collect()
    }

    /// The sum of numeric `field` over the odradek events named `message` (e.g. the records
    /// of every `batch acknowledged`).
    pub fn sum(&self, message: &str, field: &str) -> u64 {
        self.named(message)
            .iter()
            .map(|e| e.fields[field].parse::<u64>().expect("a number"))
            .sum()
    }
}

struct Fields<'a>(&'a mut Captured);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn record(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.0.message = value;
        } else {
            self.0.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut captured = Captured {
            level: *meta.level(),
            target: meta.target().to_owned(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut Fields(&mut captured));
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(captured);
    }
}

/// A `metrics` recorder keeping each counter and gauge under `name{label=value,...}` (labels
/// sorted by name). Install it with `metrics::with_local_recorder`.
#[derive(Debug, Default)]
pub struct Recorder {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

fn series(key: &metrics::Key) -> String {
    let mut labels: Vec<(String, String)> = key
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    if labels.is_empty() {
        return key.name().to_owned();
    }
    labels.sort();
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}{{{}}}", key.name(), inner.join(","))
}

fn slot(map: &Mutex<BTreeMap<String, Arc<AtomicU64>>>, key: &metrics::Key) -> Arc<AtomicU64> {
    map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(series(key))
        .or_default()
        .clone()
}

impl Recorder {
    /// A counter's value, `None` if never registered.
    pub fn counter(&self, series: &str) -> Option<u64> {
        let map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.get(series).map(|v| v.load(Ordering::Relaxed))
    }

    /// A gauge's value, `None` if never registered.
    pub fn gauge(&self, series: &str) -> Option<f64> {
        let map = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        map.get(series)
            .map(|v| f64::from_bits(v.load(Ordering::Relaxed)))
    }

    /// Every series registered, counters then gauges.
    pub fn names(&self) -> Vec<String> {
        let c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let g = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        c.keys().chain(g.keys()).cloned().collect()
    }
}

impl metrics::Recorder for Recorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(slot(&self.counters, key))
    }

    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(slot(&self.gauges, key))
    }

    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}
