//! [`Cluster`]: simulated brokers, partitions with real logs, and the network between them and
//! one client, in virtual time.
//!
//! The cluster never touches a clock: it holds a queue of timed events (bytes arriving at a
//! broker or at the client, connections opening or failing, timed faults) and jumps from one
//! to the next when the driver calls [`Cluster::step`]. What the client sees comes out of
//! `step` as a [`NetEvent`]; what the client does goes in with [`Cluster::connect`],
//! [`Cluster::transmit`] and [`Cluster::disconnect`] (or [`Cluster::apply`] on a core
//! [`Output`]).

use crate::config::{ClusterConfig, BROKER_PORT};
use crate::faults::{uniform, Fault, FaultSchedule, ScheduledFault};
use bytes::{Bytes, BytesMut};
use odradek_core::rng::Rng;
use odradek_core::{BrokerAddress, ConnId, Header, Instant, Output};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

/// A record as stored in a partition's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp as written by the producer (`-1` for MessageSet v0).
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<Header>,
    /// The append that wrote it: an index into [`Cluster::appends`].
    pub append: usize,
    /// The producer id of its batch (`-1` when not idempotent, and for legacy formats).
    pub producer_id: i64,
    /// The producer epoch of its batch (`-1` when none).
    pub producer_epoch: i16,
    /// Its sequence number: the batch's base sequence plus its position (`-1` when none).
    pub sequence: i32,
    /// Its batch was transactional (attributes bit 4): it becomes visible to a
    /// `read_committed` reader only with its producer's COMMIT marker.
    pub transactional: bool,
    /// A control record the transaction coordinator wrote (a COMMIT or ABORT marker for
    /// `producer_id`), not a record of the producer's; `None` for data records.
    pub control: Option<crate::txn_coordinator::Marker>,
}

/// What became of the response to an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendFate {
    /// The response has not reached the client yet.
    Pending,
    /// A success response reached the client at this instant.
    Acknowledged(Instant),
    /// The response never reached the client (lost, connection reset or stalled): the client
    /// may retry, so the records may be duplicated legitimately.
    ResponseLost,
    /// The broker appended and answered NOT_ENOUGH_REPLICAS_AFTER_APPEND: another legitimate
    /// source of duplicates.
    ErrorAfterAppend,
    /// `acks=0`: no response was ever going to come.
    NoResponse,
}

impl AppendFate {
    /// Whether a retry of these records could legitimately duplicate them.
    pub fn explains_duplicates(self) -> bool {
        matches!(
            self,
            AppendFate::Pending | AppendFate::ResponseLost | AppendFate::ErrorAfterAppend
        )
    }
}

/// One append of a batch to a partition's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset of the first record.
    pub base_offset: i64,
    /// Number of records.
    pub count: usize,
    /// Broker that appended.
    pub broker: i32,
    /// Connection the request came on.
    pub conn: ConnId,
    /// When.
    pub at: Instant,
    /// What became of the response.
    pub fate: AppendFate,
    /// The broker answered it with a hostile base offset (near `i64::MAX`): the offsets the
    /// producer reports for these records are not the log's.
    pub hostile_offset: bool,
}

/// Something the client sees: hand it to the code under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// The connection opened (`handle_connected`).
    Connected(ConnId),
    /// The connection failed to open or was closed by the other side (`handle_disconnected`).
    Disconnected(ConnId),
    /// Bytes arrived (`handle_received`).
    Received(ConnId, Bytes),
    /// This many bytes the client transmitted were written to the socket
    /// (`handle_written`).
    Written(ConnId, usize),
}

/// Counters of what the cluster did and suffered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Requests decoded.
    pub requests: u64,
    /// NOT_LEADER_OR_FOLLOWER answers that named the current leader (KIP-951).
    pub leader_hints: u64,
    /// Records named as refused in INVALID_RECORD answers (KIP-467).
    pub records_refused: u64,
    /// Produce requests decoded.
    pub produce_requests: u64,
    /// Batches appended.
    pub appends: u64,
    /// Records appended.
    pub records_appended: u64,
    /// Leader moves.
    pub leader_moves: u64,
    /// Broker crashes.
    pub crashes: u64,
    /// Connections reset by a fault.
    pub connection_resets: u64,
    /// Responses delayed by a latency spike.
    pub slow_responses: u64,
    /// Produce responses lost after the append.
    pub lost_responses: u64,
    /// Connections stalled.
    pub stalls: u64,
    /// Error codes injected, by code.
    pub injected_errors: BTreeMap<i16, u64>,
    /// InitProducerId requests answered with an id.
    pub producer_ids: u64,
    /// Idempotent batches recognised as retries of a batch in the log (answered with the
    /// original offset, not appended again).
    pub duplicate_batches: u64,
    /// Idempotent batches refused for their sequence or epoch, by error code.
    pub sequence_errors: BTreeMap<i16, u64>,
    /// Producer states lost on a partition (fault).
    pub producer_state_losses: u64,
    /// Metadata answers with a huge or sparse partition index (hostile fault).
    pub hostile_partition_indices: u64,
    /// Produce answers with a base offset near `i64::MAX` (hostile fault).
    pub hostile_base_offsets: u64,
    /// Metadata answers naming a leader that is no broker (hostile fault).
    pub phantom_leaders: u64,
    /// Answers with a non-zero `throttle_time_ms` (hostile fault).
    pub throttled_responses: u64,
    /// Idempotent appends whose sequences crossed Kafka's wrap-around (`i32::MAX` to 0), or
    /// started at 0 right after a batch that ended at `i32::MAX`.
    pub wrap_crossings: u64,
    /// Retries recognised as duplicates and answered DUPLICATE_SEQUENCE_NUMBER.
    pub duplicate_answers: u64,
    /// Producer states that fell back to an older snapshot (fault).
    pub state_rollbacks: u64,
    /// Batches answered INVALID_PRODUCER_EPOCH because the epoch moved on (fault).
    pub fenced: u64,
    /// The first instant a batch was fenced, if any.
    pub first_fenced_at: Option<Instant>,
    /// Batches refused MESSAGE_TOO_LARGE by the brokers' caps.
    pub too_large: u64,
    /// Appends that hold the front half of a batch refused MESSAGE_TOO_LARGE before (a split
    /// the producer made).
    pub split_halves: u64,
    /// When the last crashed broker came back (or, for a broker that never does, when it
    /// crashed), if any crashed.
    pub last_crash_change: Option<Instant>,
    /// Brokers down for good.
    pub permanent_crashes: u64,
    /// When a broker was down: (crashed, came back; `None` for never).
    pub outages: Vec<(Instant, Option<Instant>)>,
}

/// Where a simulated connection is in its life, as the cluster sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SimConnPhase {
    Connecting,
    Open,
    /// Closed by the cluster; the client has not been told yet.
    Dead,
    /// The client knows it is closed (it disconnected, or was told).
    Gone,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) gen: u64,
    pub(crate) broker: Option<i32>,
    pub(crate) state: SimConnPhase,
    to_broker_at: Instant,
    pub(crate) to_client_at: Instant,
    pub(crate) inbound: BytesMut,
    pub(crate) stalled: bool,
    /// Appends whose success response is on its way on this connection.
    pub(crate) in_flight: Vec<usize>,
    /// When the client transmitted each request frame not yet read by the broker, oldest
    /// first, and how many bytes of the last frame are still to come.
    pub(crate) sent_at: VecDeque<Instant>,
    pub(crate) partial: usize,
    /// What the client learns with each answer still on its way (for the client log), by
    /// correlation id, in answer order; and the framing of the answers it receives.
    pub(crate) notes: VecDeque<(i32, crate::client_log::Note)>,
    pub(crate) inbound_frame: crate::wire::AnswerFrames,
}

#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) next_offset: i64,
    pub(crate) leader: i32,
    pub(crate) epoch: i32,
    pub(crate) log: Vec<StoredRecord>,
    /// Idempotent producers' state, kept with the log (it survives restarts and moves with
    /// leadership, as Kafka's producer-state snapshots do).
    pub(crate) producers: crate::idempotence::ProducerStates,
}

#[derive(Debug)]
pub(crate) enum Event {
    ConnectDone {
        conn: ConnId,
        gen: u64,
    },
    ToBroker {
        conn: ConnId,
        gen: u64,
        data: Bytes,
    },
    ToClient {
        conn: ConnId,
        gen: u64,
        data: Bytes,
        appends: Vec<usize>,
    },
    NotifyDisconnect {
        conn: ConnId,
        gen: u64,
    },
    /// The client's write of `len` bytes returned.
    Written {
        conn: ConnId,
        gen: u64,
        len: usize,
    },
    Timed(ScheduledFault),
    Restart {
        node: i32,
    },
    /// A broker crashes and never comes back ([`FaultConfig::permanent_crash`]).
    ///
    /// [`FaultConfig::permanent_crash`]: crate::FaultConfig::permanent_crash
    CrashForever {
        pick: u64,
    },
    /// Work of the transaction coordinator (markers to write, a transaction timing out).
    Txn(crate::txn_coordinator::TxnTimer),
}

/// A simulated Kafka cluster and network, driven in virtual time. See the crate docs for a
/// complete driver loop.
///
/// ```
/// use odradek_sim::{Cluster, ClusterConfig, NetEvent};
/// use odradek_core::{BrokerAddress, ConnId};
/// let mut cluster = Cluster::new(ClusterConfig::new(1));
/// let addr = BrokerAddress { host: "broker-2".into(), port: 9092 };
/// cluster.connect(ConnId(1), &addr);
/// let t = cluster.next_event_time().unwrap();
/// assert_eq!(cluster.step(), Some(NetEvent::Connected(ConnId(1))));
/// assert_eq!(cluster.now(), t);
/// ```
#[derive(Debug)]
pub struct Cluster {
    pub(crate) config: ClusterConfig,
    pub(crate) now: Instant,
    pub(crate) rng: Rng,
    schedule: FaultSchedule,
    pub(crate) up: Vec<bool>,
    pub(crate) topics: BTreeMap<String, Vec<Partition>>,
    pub(crate) conns: BTreeMap<ConnId, Conn>,
    events: BTreeMap<(Instant, u64), Event>,
    seq: u64,
    next_gen: u64,
    ready: VecDeque<(ConnId, u64, Bytes, Vec<usize>)>,
    pub(crate) appends: Vec<AppendInfo>,
    pub(crate) violations: Vec<String>,
    pub(crate) stats: ClusterStats,
    pub(crate) injections: VecDeque<Fault>,
    /// The next producer id InitProducerId hands out.
    pub(crate) next_producer_id: i64,
    trace: Option<Vec<String>>,
    start: Instant,
    /// Requests and their resolutions at the client's edge, when asked for.
    pub(crate) wire: Option<crate::wire::WireLog>,
    /// What tests asked for by hand (all off by default).
    pub(crate) script: crate::script::Script,
    /// What the client sent and learned, with times, when asked for.
    pub(crate) client_log: Option<Vec<crate::client_log::ClientEvent>>,
    /// When the frame being handled was transmitted by the client.
    pub(crate) frame_sent_at: Instant,
    /// First records of batches refused MESSAGE_TOO_LARGE: (topic, partition, first record's
    /// key) -> records in the refused batch.
    pub(crate) refused_too_large: BTreeMap<(String, i32, u64), usize>,
    /// The transaction coordinator and group coordinators' transactional state (only when
    /// [`ClusterConfig::transactions`] enables them).
    pub(crate) txn: Option<Box<crate::txn_coordinator::Coordinators>>,
    /// The transactional id of the Produce request being handled, if any.
    pub(crate) produce_txn_id: Option<String>,
}

impl Cluster {
    /// A cluster starting at [`SIM_EPOCH`](crate::SIM_EPOCH).
    pub fn new(config: ClusterConfig) -> Self {
        Cluster::starting_at(config, crate::config::SIM_EPOCH)
    }

    /// A cluster starting at `start`.
    pub fn starting_at(config: ClusterConfig, start: Instant) -> Self {
        let brokers = config.brokers.max(1);
        let mut topics = BTreeMap::new();
        for (t, spec) in config.topics.iter().enumerate() {
            let parts = (0..spec.partitions.max(0))
                .map(|p| Partition::led_by(1 + ((t as i32 + p) % brokers)))
                .collect();
            topics.insert(spec.name.clone(), parts);
        }
        let schedule = FaultSchedule::generate(&config.faults, config.seed, start);
        let mut cluster = Cluster {
            rng: Rng::new(config.seed ^ 0x00C1_u64.rotate_left(40)),
            up: vec![true; brokers as usize],
            config,
            now: start,
            schedule: schedule.clone(),
            topics,
            conns: BTreeMap::new(),
            events: BTreeMap::new(),
            seq: 0,
            next_gen: 0,
            ready: VecDeque::new(),
            appends: Vec::new(),
            violations: Vec::new(),
            stats: ClusterStats::default(),
            injections: VecDeque::new(),
            next_producer_id: 1000,
            trace: None,
            start,
            wire: None,
            script: Default::default(),
            client_log: None,
            frame_sent_at: start,
            refused_too_large: BTreeMap::new(),
            txn: None,
            produce_txn_id: None,
        };
        cluster.txn = crate::txn_coordinator::Coordinators::new(&cluster.config).map(Box::new);
        cluster.schedule_txn_faults(true, true);
        for fault in schedule.entries() {
            cluster.schedule_at(fault.at, Event::Timed(fault.clone()));
        }
        if cluster.config.faults.permanent_crash {
            // Drawn from a generator of its own: the rest of the seed's behaviour is unchanged.
            let mut rng = Rng::new(cluster.config.seed ^ 0x00DE_ADB4_0CE2_0007);
            let horizon = cluster.config.faults.horizon;
            let at = start + uniform(&mut rng, (Duration::ZERO, horizon));
            let pick = rng.next_u64();
            cluster.schedule_at(at, Event::CrashForever { pick });
        }
        cluster
    }

    /// The configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The timed fault schedule drawn from the seed.
    pub fn schedule(&self) -> &FaultSchedule {
        &self.schedule
    }

    /// Starts keeping a human-readable trace of everything that happens.
    pub fn enable_trace(&mut self) {
        self.trace.get_or_insert_with(Vec::new);
    }

    /// Starts recording every idempotent Produce request the client sends and how each is
    /// resolved for it ([`WireEvent`](crate::wire::WireEvent)s).
    pub fn enable_wire_log(&mut self) {
        self.wire.get_or_insert_with(Default::default);
    }

    /// Starts recording, with virtual times, every Produce and Metadata request the client
    /// transmits and what it learns from their answers
    /// ([`ClientEvent`](crate::client_log::ClientEvent)s).
    pub fn enable_client_log(&mut self) {
        self.client_log.get_or_insert_with(Vec::new);
    }

    /// Takes the client events recorded so far (empty when the log is off).
    pub fn take_client_log(&mut self) -> Vec<crate::client_log::ClientEvent> {
        self.client_log
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Takes the wire events recorded so far (empty when the log is off).
    pub fn take_wire_log(&mut self) -> Vec<crate::wire::WireEvent> {
        self.wire.as_mut().map(|w| w.take()).unwrap_or_default()
    }

    fn wire_dropped(&mut self, conn: ConnId) {
        if let Some(w) = &mut self.wire {
            w.dropped(conn);
        }
    }

    /// Takes the trace kept so far (empty when tracing is off).
    pub fn take_trace(&mut self) -> Vec<String> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Adds a line to the trace (when tracing), stamped with the virtual time since start.
    pub fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            let d = self.now.saturating_duration_since(self.start);
            let mut s = String::new();
            let _ = write!(
                s,
                "{:>6}.{:03}ms  {}",
                d.as_millis(),
                d.subsec_micros() % 1000,
                line()
            );
            trace.push(s);
        }
    }

    /// Things the client did that a real broker would refuse (undecodable requests, versions
    /// it never advertised, a reused connection id, bytes on a closed connection, ...).
    pub fn protocol_violations(&self) -> &[String] {
        &self.violations
    }

    /// Counters.
    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    /// Every append so far, in order; [`StoredRecord::append`] indexes it.
    pub fn appends(&self) -> &[AppendInfo] {
        &self.appends
    }

    /// The log of `topic`/`partition`, or `None` when there is no such partition.
    pub fn log(&self, topic: &str, partition: i32) -> Option<&[StoredRecord]> {
        let p = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.get(p).map(|p| &p.log[..])
    }

    /// Every partition: `(topic, partition, log)`, in name and index order.
    pub fn logs(&self) -> impl Iterator<Item = (&str, i32, &[StoredRecord])> + '_ {
        self.topics.iter().flat_map(|(name, parts)| {
            parts
                .iter()
                .enumerate()
                .map(move |(i, p)| (name.as_str(), i as i32, &p.log[..]))
        })
    }

    /// The current leader of `topic`/`partition`.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let p = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.get(p).map(|p| p.leader)
    }

    /// Whether broker `node` is up.
    pub fn is_up(&self, node: i32) -> bool {
        self.broker_index(node).is_some_and(|i| self.up[i])
    }

    /// Connections the client has not closed and not been told are closed.
    pub fn open_connections(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.state != SimConnPhase::Gone)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn broker_index(&self, node: i32) -> Option<usize> {
        let i = usize::try_from(node.checked_sub(1)?).ok()?;
        (i < self.up.len()).then_some(i)
    }

    /// When the cluster started.
    pub(crate) fn start_instant(&self) -> Instant {
        self.start
    }

    /// Drops the pending restart of broker `node`, if any.
    pub(crate) fn cancel_restart(&mut self, node: i32) {
        self.events
            .retain(|_, e| !matches!(e, Event::Restart { node: n } if *n == node));
    }

    pub(crate) fn schedule_at(&mut self, at: Instant, event: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), event);
    }

    /// A one-way latency drawn from the network configuration.
    pub(crate) fn latency(&mut self) -> Duration {
        let net = &self.config.network;
        let range = (net.latency_min, net.latency_max);
        uniform(&mut self.rng, range)
    }

    /// When the next event is due, or `None` when nothing is scheduled.
    pub fn next_event_time(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return Some(self.now);
        }
        self.events.keys().next().map(|(t, _)| (*t).max(self.now))
    }

    /// Moves virtual time forward to `t` (never backwards) without processing anything; call
    /// it before feeding a timeout to the code under test. Events due before `t` are processed
    /// at `t` by later [`step`](Self::step)s.
    pub fn advance_to(&mut self, t: Instant) {
        self.now = self.now.max(t);
    }

    /// Processes the next event, advancing virtual time to it, and returns what the client
    /// sees, if anything (`None` for events internal to the cluster, and when nothing is
    /// scheduled — check [`next_event_time`](Self::next_event_time)).
    pub fn step(&mut self) -> Option<NetEvent> {
        if !self.ready.is_empty() {
            // Pieces due now. Never fall through to a later event from here: time must not
            // jump past a deadline of the client's that comes first.
            return self.deliver_ready();
        }
        let ((at, _), event) = self.events.pop_first()?;
        self.now = self.now.max(at);
        match event {
            Event::ConnectDone { conn, gen } => {
                let c = self.conns.get_mut(&conn)?;
                if c.gen != gen || c.state != SimConnPhase::Connecting {
                    return None;
                }
                let up = c
                    .broker
                    .and_then(|b| self.broker_index(b))
                    .map(|i| self.up[i]);
                let c = self.conns.get_mut(&conn)?;
                if up == Some(true) {
                    c.state = SimConnPhase::Open;
                    self.note(|| format!("net: {conn:?} connected"));
                    Some(NetEvent::Connected(conn))
                } else {
                    c.state = SimConnPhase::Gone;
                    self.wire_dropped(conn);
                    self.note(|| format!("net: {conn:?} connection refused"));
                    Some(NetEvent::Disconnected(conn))
                }
            }
            Event::ToBroker { conn, gen, data } => {
                self.deliver_to_broker(conn, gen, data);
                None
            }
            Event::ToClient {
                conn,
                gen,
                data,
                appends,
            } => {
                if self.config.network.fragment_responses && data.len() > 1 {
                    let pieces = 1 + self.rng.below(3) as usize;
                    let mut rest = data;
                    for i in 0..pieces {
                        let last = i + 1 == pieces || rest.len() <= 1;
                        let take = if last {
                            rest.len()
                        } else {
                            1 + self.rng.below(rest.len() as u64 - 1) as usize
                        };
                        let chunk = rest.split_to(take);
                        let acks = if last { appends.clone() } else { Vec::new() };
                        self.ready.push_back((conn, gen, chunk, acks));
                        if last {
                            break;
                        }
                    }
                    self.deliver_ready()
                } else {
                    self.deliver_to_client(conn, gen, data, appends)
                }
            }
            Event::NotifyDisconnect { conn, gen } => {
                let c = self.conns.get_mut(&conn)?;
                if c.gen != gen || c.state != SimConnPhase::Dead {
                    return None;
                }
                c.state = SimConnPhase::Gone;
                self.wire_dropped(conn);
                self.note(|| format!("net: {conn:?} closed by the broker side"));
                Some(NetEvent::Disconnected(conn))
            }
            Event::Written { conn, gen, len } => {
                let c = self.conns.get(&conn)?;
                if c.gen != gen || c.state == SimConnPhase::Gone {
                    return None;
                }
                Some(NetEvent::Written(conn, len))
            }
            Event::Timed(fault) => {
                self.apply_timed(&fault);
                None
            }
            Event::Restart { node } => {
                if let Some(i) = self.broker_index(node) {
                    self.up[i] = true;
                    self.stats.last_crash_change = Some(self.now);
                    let now = self.now;
                    if let Some(o) = self.stats.outages.iter_mut().rev().find(|o| o.1.is_none()) {
                        o.1 = Some(now);
                    }
                    self.note(|| format!("fault: broker {node} restarted"));
                    self.txn_broker_restarted(node);
                }
                None
            }
            Event::CrashForever { pick } => {
                self.crash_forever(pick);
                None
            }
            Event::Txn(timer) => {
                self.txn_timer(timer);
                None
            }
        }
    }

    /// Delivers response pieces due now, up to the first the client sees.
    fn deliver_ready(&mut self) -> Option<NetEvent> {
        while let Some((conn, gen, data, acks)) = self.ready.pop_front() {
            if let Some(ev) = self.deliver_to_client(conn, gen, data, acks) {
                return Some(ev);
            }
        }
        None
    }

    fn deliver_to_client(
        &mut self,
        conn: ConnId,
        gen: u64,
        data: Bytes,
        acks: Vec<usize>,
    ) -> Option<NetEvent> {
        let c = self.conns.get_mut(&conn)?;
        if c.gen != gen || c.state != SimConnPhase::Open {
            return None;
        }
        c.in_flight.retain(|a| !acks.contains(a));
        for a in acks {
            self.appends[a].fate = AppendFate::Acknowledged(self.now);
        }
        if self.client_log.is_some() {
            self.client_received(conn, &data);
        }
        if let Some(w) = &mut self.wire {
            w.received(conn, &data);
        }
        let len = data.len();
        self.note(|| format!("net: {conn:?} <- {len} bytes"));
        Some(NetEvent::Received(conn, data))
    }

    fn deliver_to_broker(&mut self, conn: ConnId, gen: u64, data: Bytes) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.gen != gen || c.state != SimConnPhase::Open {
            return;
        }
        c.inbound.extend_from_slice(&data);
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.state != SimConnPhase::Open || c.inbound.len() < 4 {
                return;
            }
            let size = i32::from_be_bytes([c.inbound[0], c.inbound[1], c.inbound[2], c.inbound[3]]);
            if !(0..=100 * 1024 * 1024).contains(&size) {
                self.violation(format!("{conn:?}: request frame size {size} out of range"));
                self.kill(conn);
                return;
            }
            if c.inbound.len() < 4 + size as usize {
                return;
            }
            let _ = c.inbound.split_to(4);
            let frame = c.inbound.split_to(size as usize).freeze();
            let sent = c.sent_at.pop_front();
            self.frame_sent_at = sent.unwrap_or(self.now);
            if !self.hold_frame(conn, &frame) {
                self.handle_frame(conn, frame);
            }
        }
    }

    pub(crate) fn violation(&mut self, what: String) {
        self.note(|| format!("VIOLATION: {what}"));
        self.violations.push(what);
    }

    /// Sends `data` from the broker to the client on `conn`, after the latency (and maybe a
    /// latency spike), never overtaking earlier responses. `appends` are acknowledged when it
    /// arrives.
    pub(crate) fn respond(&mut self, conn: ConnId, data: Bytes, appends: Vec<usize>) {
        self.respond_after(conn, data, appends, Duration::ZERO);
    }

    /// [`respond`](Self::respond), `extra` later.
    pub(crate) fn respond_after(
        &mut self,
        conn: ConnId,
        data: Bytes,
        appends: Vec<usize>,
        extra: Duration,
    ) {
        let mut delay = self.latency() + extra;
        let active = self.faults_active();
        let faults = &self.config.faults;
        if active && faults.slow_response_rate > 0.0 && self.rng.unit() < faults.slow_response_rate
        {
            let range = faults.slow_extra;
            delay += uniform(&mut self.rng, range);
            self.stats.slow_responses += 1;
            self.note(|| format!("fault: slow response on {conn:?} (+{delay:?})"));
        }
        let now = self.now;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let at = (now + delay).max(c.to_client_at);
        c.to_client_at = at;
        c.in_flight.extend(appends.iter().copied());
        let gen = c.gen;
        self.schedule_at(
            at,
            Event::ToClient {
                conn,
                gen,
                data,
                appends,
            },
        );
    }

    /// Closes `conn` from the broker side: responses on their way are lost, the client learns
    /// of it after the latency.
    pub(crate) fn kill(&mut self, conn: ConnId) {
        let lat = self.latency();
        let now = self.now;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !matches!(c.state, SimConnPhase::Open | SimConnPhase::Connecting) {
            return;
        }
        c.state = SimConnPhase::Dead;
        c.inbound.clear();
        let lost = std::mem::take(&mut c.in_flight);
        let gen = c.gen;
        for a in lost {
            self.appends[a].fate = AppendFate::ResponseLost;
        }
        self.schedule_at(now + lat, Event::NotifyDisconnect { conn, gen });
    }

    /// The client opens `conn` to `address`. Broker hosts are `broker-<id>`, port 9092;
    /// anything else fails to connect.
    pub fn connect(&mut self, conn: ConnId, address: &BrokerAddress) {
        if let Some(old) = self.conns.get(&conn) {
            if old.state != SimConnPhase::Gone {
                self.violation(format!("{conn:?} reused while still open"));
            }
        }
        let broker = address
            .host
            .strip_prefix("broker-")
            .and_then(|n| n.parse::<i32>().ok())
            .filter(|n| self.broker_index(*n).is_some() && address.port == BROKER_PORT);
        self.note(|| format!("net: {conn:?} connecting to {address} (broker {broker:?})"));
        self.next_gen += 1;
        let gen = self.next_gen;
        let now = self.now;
        self.conns.insert(
            conn,
            Conn {
                gen,
                broker,
                state: SimConnPhase::Connecting,
                to_broker_at: now,
                to_client_at: now,
                inbound: BytesMut::new(),
                stalled: false,
                in_flight: Vec::new(),
                sent_at: VecDeque::new(),
                partial: 0,
                notes: VecDeque::new(),
                inbound_frame: Default::default(),
            },
        );
        let at = now + self.latency();
        self.schedule_at(at, Event::ConnectDone { conn, gen });
    }

    /// The client writes `data` on `conn`; it reaches the broker after the latency.
    pub fn transmit(&mut self, conn: ConnId, data: &[Bytes]) {
        let lat = self.latency();
        let now = self.now;
        let Some(c) = self.conns.get_mut(&conn) else {
            self.violation(format!("transmit on {conn:?}, which was never connected"));
            return;
        };
        let dead = c.state == SimConnPhase::Dead;
        if matches!(c.state, SimConnPhase::Open | SimConnPhase::Dead) {
            if let Some(w) = &mut self.wire {
                // Sent as far as the client knows.
                w.transmitted(conn, data);
            }
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if matches!(c.state, SimConnPhase::Open | SimConnPhase::Dead) {
            // The socket takes the bytes at once: the client's write returns.
            let (gen, len) = (c.gen, data.iter().map(|d| d.len()).sum());
            self.schedule_at(now, Event::Written { conn, gen, len });
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if dead {
            return; // the client will learn soon; the bytes are lost
        }
        match c.state {
            SimConnPhase::Open | SimConnPhase::Dead => {}
            SimConnPhase::Connecting => {
                self.violation(format!("transmit on {conn:?} before it was connected"));
                return;
            }
            SimConnPhase::Gone => {
                self.violation(format!("transmit on {conn:?} after it was closed"));
                return;
            }
        }
        let mut buf = BytesMut::new();
        for d in data {
            buf.extend_from_slice(d);
        }
        // The instant each request frame starting here was transmitted (for the client log).
        let mut pos = 0;
        while pos < buf.len() {
            if c.partial > 0 {
                let take = c.partial.min(buf.len() - pos);
                c.partial -= take;
                pos += take;
                continue;
            }
            let Some(head) = buf.get(pos..pos + 4) else {
                break; // a size split across writes: not tracked
            };
            let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            c.sent_at.push_back(now);
            c.partial = 4 + usize::try_from(size).unwrap_or(0);
        }
        let at = (now + lat).max(c.to_broker_at);
        c.to_broker_at = at;
        let gen = c.gen;
        let len = buf.len();
        self.note(|| format!("net: {conn:?} -> {len} bytes"));
        self.schedule_at(
            at,
            Event::ToBroker {
                conn,
                gen,
                data: buf.freeze(),
            },
        );
    }

    /// The client closes `conn`. Responses on their way are lost; the client is not told.
    pub fn disconnect(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            self.violation(format!("disconnect of {conn:?}, which was never connected"));
            return;
        };
        if c.state == SimConnPhase::Gone {
            self.violation(format!("disconnect of {conn:?}, which was already closed"));
            return;
        }
        c.state = SimConnPhase::Gone;
        c.inbound.clear();
        let lost = std::mem::take(&mut c.in_flight);
        for a in lost {
            self.appends[a].fate = AppendFate::ResponseLost;
        }
        self.wire_dropped(conn);
        self.note(|| format!("net: {conn:?} closed by the client"));
    }

    /// Applies a core [`Output`] that concerns the network (`Connect`, `Transmit`,
    /// `Disconnect`); returns `false` for outputs about records (`Delivered`, `Failed`,
    /// `Closed`), which are the caller's business.
    pub fn apply(&mut self, output: &Output) -> bool {
        match output {
            Output::Connect { conn, address } => self.connect(*conn, address),
            Output::Transmit { conn, data } => self.transmit(*conn, data),
            Output::Disconnect { conn } => self.disconnect(*conn),
            _ => return false,
        }
        true
    }
}
