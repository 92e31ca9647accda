//! [`step`]: the drive contract in one function — one input for a [`ProducerCore`] from a
//! [`Cluster`] (the next network event or the core's timer, whichever comes first), then every
//! output drained. For tests and benches that want a producer running against the cluster
//! without writing the loop themselves.

use crate::cluster::{Cluster, NetEvent};
use odradek_core::{Instant, Output, ProducerCore};

/// Drains the core's outputs (network ones go to `cluster`, the rest to `on_output`), then
/// feeds it the earliest of: the cluster's next event, the core's timer. Returns `false` when
/// neither exists (nothing can happen any more).
///
/// ```
/// use odradek_core::{Config, Output, ProducerCore, Record};
/// use odradek_sim::{step, Cluster, ClusterConfig};
/// let mut cluster = Cluster::new(ClusterConfig::new(3));
/// let config = Config::new(cluster.config().bootstrap_servers());
/// let mut core = ProducerCore::new(config, 3, cluster.now()).unwrap();
/// core.send(Record::new("b").value("v"), cluster.now()).unwrap();
/// let mut delivered = 0;
/// while core.pending_records() > 0 {
///     assert!(step(&mut cluster, &mut core, &mut |out| {
///         if let Output::Delivered(batch) = out { delivered += batch.len() }
///     }));
/// }
/// assert_eq!(delivered, 1);
/// assert_eq!(cluster.log("b", 0).unwrap().len(), 1);
/// ```
pub fn step(
    cluster: &mut Cluster,
    core: &mut ProducerCore,
    on_output: &mut dyn FnMut(Output),
) -> bool {
    drain(cluster, core, on_output);
    let timer = core.poll_timeout().map(|(t, _)| t);
    match (cluster.next_event_time(), timer) {
        (Some(net), t) if t.is_none_or(|t| net <= t) => {
            if let Some(ev) = cluster.step() {
                feed(core, ev, cluster.now());
            }
        }
        (_, Some(t)) => {
            cluster.advance_to(t);
            core.handle_timeout(cluster.now());
        }
        _ => return false,
    }
    drain(cluster, core, on_output);
    true
}

/// Drains the core's outputs: network ones go to `cluster` (and back to the core, to be
/// [`recycle`](ProducerCore::recycle)d), the rest to `on_output`.
pub fn drain(cluster: &mut Cluster, core: &mut ProducerCore, on_output: &mut dyn FnMut(Output)) {
    while let Some(out) = core.poll_output() {
        if cluster.apply(&out) {
            core.recycle(out);
        } else {
            on_output(out);
        }
    }
}

/// Hands one network event of the cluster to the core, at `now`: the input half of the drive
/// contract, for loops that schedule time themselves.
#[inline]
pub fn feed(core: &mut ProducerCore, event: NetEvent, now: Instant) {
    match event {
        NetEvent::Connected(c) => core.handle_connected(c, now),
        NetEvent::Disconnected(c) => core.handle_disconnected(c, now),
        NetEvent::Received(c, bytes) => core.handle_received(c, &bytes, now),
        NetEvent::Written(c, n) => core.handle_written(c, n, now),
    }
}

/// What a front end charges per pending record on top of the core's own count, as
/// odradek-driver's producers do before each `send`: `record_overhead` bytes per record (their
/// outcome routing; odradek-driver's `RECORD_OVERHEAD`, odradek-mio's `MioProducer` less).
/// A simulated producer that sends until this answers `true` (or `send` answers `BufferFull`)
/// keeps the buffer as full as a real front end does, so the batches the cluster sees have
/// the shape they have behind one.
///
/// `true` when one more record would take the bytes in use
/// ([`buffered_bytes`](ProducerCore::buffered_bytes)) plus the records' overhead, that
/// record's included, past `buffer.memory`; never while nothing is pending (a front end always
/// takes one record).
///
/// ```
/// use odradek_core::{Config, ProducerCore, Record};
/// use odradek_sim::{front_end_full, Cluster, ClusterConfig};
/// let cluster = Cluster::new(ClusterConfig::new(3));
/// let mut config = Config::new(cluster.config().bootstrap_servers());
/// config.buffer_memory = 4096;
/// config.message_max_bytes = 4096;
/// let mut core = ProducerCore::new(config, 3, cluster.now()).unwrap();
/// assert!(!front_end_full(&core, 1024));
/// core.send(Record::new("b").value("v"), cluster.now()).unwrap();
/// assert!(front_end_full(&core, 4096));
/// assert!(!front_end_full(&core, 0));
/// ```
pub fn front_end_full(core: &ProducerCore, record_overhead: usize) -> bool {
    let pending = core.pending_records();
    let held = core
        .buffered_bytes()
        .saturating_add((pending + 1).saturating_mul(record_overhead));
    pending > 0 && held > core.config().buffer_memory
}
