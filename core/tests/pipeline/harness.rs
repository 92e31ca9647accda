//! The harness of the pipeline tests: a [`ProducerCore`] driven against odradek-sim's
//! [`Cluster`] (zero latency, whole responses) in virtual time, with the cluster's scripted
//! faults for what each test needs, and every outcome collected.

pub use crate::coordinator::{Act, FakeCoordinator};
use bytes::Bytes;
use odradek_core::protocol::ErrorCode;
use odradek_core::record::RecordFormat;
use odradek_core::{
    Config, ConnId, Instant, Output, ProduceError, ProducerCore, Record, RecordId, RecordMetadata,
    TransactionError, TxnOp,
};
pub use odradek_sim::ScriptedFault as Fault;
use odradek_sim::{BrokerVersions, Cluster, ClusterConfig, NetworkConfig, ProduceAnswers};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One batch a broker saw: (producer id, epoch, base sequence, records, error code answered;
/// 0 when appended, DUPLICATE_SEQUENCE_NUMBER for a recognised retry).
pub type SeenBatch = (i64, i16, i32, usize, i16);

/// The simulated cluster plus the core it drives.
pub struct Harness {
    pub core: ProducerCore,
    pub now: Instant,
    pub cluster: Cluster,
    /// Versions the brokers speak (Produce up to `produce_max`, ApiVersions up to
    /// `api_versions_max`, InitProducerId when idempotent).
    produce_max: i16,
    api_versions_max: i16,
    idempotent: bool,
    pub delivered: BTreeMap<RecordId, (RecordMetadata, Option<Record>)>,
    pub failed: BTreeMap<RecordId, (ProduceError, Record)>,
    pub outcomes: usize,
    pub closed: usize,
    pub after_closed: usize,
    pub connects: usize,
    pub disconnects: usize,
    /// The scripted transaction coordinator, for a transactional producer.
    pub coord: Option<FakeCoordinator>,
    /// Every `Output::Transaction`, in order.
    pub txn_results: Vec<(TxnOp, Result<(), TransactionError>)>,
    /// The node each connection was opened to.
    conn_node: BTreeMap<u64, i32>,
    /// Nodes every connect to is refused ([`kill_broker`](Self::kill_broker)).
    refused: BTreeSet<i32>,
}

impl Harness {
    /// Brokers `nodes` (1..=n), topics with one leader per partition.
    pub fn new(config: Config, nodes: &[i32], topics: &[(&str, &[i32])]) -> Self {
        let now = Instant::from_unix_millis(1_700_000_000_000);
        let core = ProducerCore::new(config, 7, now).expect("config");
        let mut cc = ClusterConfig::new(7);
        cc.brokers = nodes.iter().copied().max().unwrap_or(1);
        cc.topics = Vec::new();
        cc.network = NetworkConfig::instant();
        let mut cluster = Cluster::starting_at(cc, now);
        for (name, leaders) in topics {
            cluster.create_topic(name, leaders);
        }
        cluster.set_next_producer_id(1001);
        cluster.record_requests();
        let mut h = Harness {
            core,
            now,
            cluster,
            produce_max: 12,
            api_versions_max: 3,
            idempotent: false,
            delivered: BTreeMap::new(),
            failed: BTreeMap::new(),
            outcomes: 0,
            closed: 0,
            after_closed: 0,
            connects: 0,
            disconnects: 0,
            coord: None,
            txn_results: Vec::new(),
            conn_node: BTreeMap::new(),
            refused: BTreeSet::new(),
        };
        h.apply_versions();
        h
    }

    /// A cluster whose brokers speak InitProducerId (and check sequences like Kafka's).
    pub fn idempotent(config: Config, nodes: &[i32], topics: &[(&str, &[i32])]) -> Self {
        let mut h = Harness::new(config, nodes, topics);
        h.set_idempotent(true);
        h
    }

    /// A transactional producer against an idempotent cluster and a scripted coordinator
    /// (transactions v2 when `v2`) on node 1.
    pub fn transactional(
        config: Config,
        v2: bool,
        nodes: &[i32],
        topics: &[(&str, &[i32])],
    ) -> Self {
        let mut h = Harness::idempotent(config, nodes, topics);
        h.coord = Some(FakeCoordinator::new(v2));
        h
    }

    fn apply_versions(&mut self) {
        self.cluster.set_versions(BrokerVersions {
            produce: (0, self.produce_max),
            metadata: (0, 12),
            api_versions: (0, self.api_versions_max),
            init_producer_id: self.idempotent.then_some((0, 4)),
        });
    }

    /// Whether the brokers speak InitProducerId.
    pub fn set_idempotent(&mut self, idempotent: bool) {
        self.idempotent = idempotent;
        self.apply_versions();
    }

    /// The highest Produce version the brokers speak.
    pub fn set_produce_max(&mut self, v: i16) {
        self.produce_max = v;
        self.apply_versions();
    }

    /// The highest ApiVersions version the brokers speak (above it: UNSUPPORTED_VERSION in v0).
    pub fn set_api_versions_max(&mut self, v: i16) {
        self.api_versions_max = v;
        self.apply_versions();
    }

    /// Produce answers are lost (`true`: appended, never answered) or sent again.
    pub fn hold_produce(&mut self, hold: bool) {
        self.answers(hold, ProduceAnswers::Swallow);
    }

    /// Produce answers are queued (`true`) until [`release_one`](Self::release_one), or sent.
    pub fn defer(&mut self, defer: bool) {
        self.answers(defer, ProduceAnswers::Defer);
    }

    /// Produce answers go as `mode` when `on`, else are sent.
    fn answers(&mut self, on: bool, mode: ProduceAnswers) {
        let mode = if on { mode } else { ProduceAnswers::Send };
        self.cluster.set_produce_answers(mode);
    }

    /// Produce answers queued.
    pub fn deferred(&self) -> usize {
        self.cluster.deferred_answers()
    }

    /// Answers the oldest deferred Produce response; `false` when none is left.
    pub fn release_one(&mut self) -> bool {
        if !self.cluster.release_deferred() {
            return false;
        }
        self.drain();
        true
    }

    /// Every connection is lost (their deferred answers with them).
    pub fn drop_all_conns(&mut self) {
        for c in self.cluster.open_connections() {
            self.cluster.inject(odradek_sim::Fault::ResetConnection(c));
        }
        self.drain();
    }

    /// The broker forgets every producer's state for a partition (UNKNOWN_PRODUCER_ID next).
    pub fn lose_producer_state(&mut self, topic: &str, partition: usize) {
        self.cluster.forget_producers(topic, partition as i32);
    }

    /// Every batch a broker saw for a partition, in arrival order.
    pub fn seen(&self, topic: &str, partition: i32) -> Vec<SeenBatch> {
        self.cluster
            .batches(topic, partition)
            .iter()
            .map(|b| {
                let (pid, epoch, seq) = (b.producer_id, b.epoch, b.base_sequence);
                (pid, epoch, seq, b.records, b.error_code)
            })
            .collect()
    }

    /// Accepted batches of a partition: (producer id, epoch, base sequence, records).
    pub fn accepted(&self, topic: &str, partition: i32) -> Vec<(i64, i16, i32, usize)> {
        self.seen(topic, partition)
            .into_iter()
            .filter(|b| b.4 == 0)
            .map(|b| (b.0, b.1, b.2, b.3))
            .collect()
    }

    /// Versions of the requests with `api_key` the brokers saw, in order.
    fn versions_seen(&self, api_key: i16) -> Vec<i16> {
        let requests = self.cluster.requests().iter();
        let matching = requests.filter(|r| r.api_key == api_key);
        matching.map(|r| r.api_version).collect()
    }

    /// Produce requests the brokers saw.
    pub fn produce_requests(&self) -> usize {
        self.versions_seen(0).len()
    }

    /// The Produce versions used.
    pub fn produce_versions(&self) -> BTreeSet<i16> {
        self.versions_seen(0).into_iter().collect()
    }

    /// ApiVersions versions asked, in order.
    pub fn api_versions_seen(&self) -> Vec<i16> {
        self.versions_seen(18)
    }

    /// InitProducerId requests seen: (producer id, epoch) asked for.
    pub fn init_requests(&self) -> Vec<(i64, i16)> {
        self.cluster.init_producer_id_requests().to_vec()
    }

    /// The record formats (magic) of every batch the brokers saw.
    pub fn record_formats(&self) -> BTreeSet<u8> {
        let mut formats = BTreeSet::new();
        for (t, p, _) in self.cluster.logs() {
            for b in self.cluster.batches(t, p) {
                formats.insert(match b.format {
                    RecordFormat::V0 => 0,
                    RecordFormat::V1 => 1,
                    RecordFormat::V2 => 2,
                });
            }
        }
        formats
    }

    pub fn config() -> Config {
        let mut c = Config::new(["broker-1:9092"]);
        c.linger = Duration::from_millis(5);
        c.retry_backoff = Duration::from_millis(100);
        c.request_timeout = Duration::from_secs(5);
        c.retries = 5;
        c
    }

    pub fn send(&mut self, topic: &str, partition: Option<i32>, value: &str) -> RecordId {
        let mut r = Record::new(topic).value(value.to_owned());
        r.partition = partition;
        let id = self.core.send(r, self.now).expect("accepted");
        self.drain();
        id
    }

    /// The next Produce of `topic`/`partition` meets `f`.
    pub fn fault(&mut self, topic: &str, partition: i32, f: Fault) {
        self.cluster.script(topic, partition, f);
    }

    /// The next Produce answer is replaced by `raw`.
    pub fn corrupt_next_produce(&mut self, raw: Vec<u8>) {
        self.cluster.corrupt_next_produce_answer(Bytes::from(raw));
    }

    /// The next InitProducerId is answered `code`.
    pub fn init_error(&mut self, code: i16) {
        self.cluster.fail_init_producer_id(ErrorCode(code));
    }

    /// Broker `node` is killed as the chaos run kills one (SIGKILL): its connections are
    /// lost and every connect to it is refused, while the metadata still names it (the
    /// cluster has not noticed yet).
    pub fn kill_broker(&mut self, node: i32) {
        self.refused.insert(node);
        let open = self.cluster.open_connections();
        for c in open {
            if self.conn_node.get(&c.0) == Some(&node) {
                self.cluster.inject(odradek_sim::Fault::ResetConnection(c));
            }
        }
        self.drain();
    }

    /// The client writes `bytes` on `conn` (bypassing the core's output queue).
    pub fn on_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        self.cluster
            .transmit(conn, &[Bytes::copy_from_slice(bytes)]);
        self.drain();
    }

    /// Drains outputs and everything the cluster has due now, until both are quiet.
    pub fn drain(&mut self) {
        self.cluster.advance_to(self.now);
        loop {
            while let Some(out) = self.core.poll_output() {
                self.output(out);
            }
            if self.cluster.next_event_time().is_none_or(|t| t > self.now) {
                return;
            }
            if let Some(event) = self.cluster.step() {
                odradek_sim::feed(&mut self.core, event, self.now);
            }
        }
    }

    fn output(&mut self, out: Output) {
        if self.closed > 0 {
            self.after_closed += 1;
        }
        match out {
            Output::Connect { .. } | Output::Transmit { .. } | Output::Disconnect { .. } => {
                if let Output::Connect { conn, address } = &out {
                    let node = address.host.trim_start_matches("broker-").parse();
                    let node = node.unwrap_or(-1);
                    self.conn_node.insert(conn.0, node);
                    if self.refused.contains(&node) {
                        self.connects += 1;
                        self.core.handle_disconnected(*conn, self.now);
                        return;
                    }
                }
                if let Some(coord) = &mut self.coord {
                    match &out {
                        Output::Connect { conn, address } => {
                            let node = address.host.trim_start_matches("broker-").parse();
                            coord.conn_node.insert(conn.0, node.unwrap_or(-1));
                        }
                        Output::Transmit { conn, data } => {
                            let bytes: Vec<u8> = data.iter().flat_map(|c| c.to_vec()).collect();
                            if let Some(answer) = coord.handle(conn.0, &bytes) {
                                if let Some(answer) = answer {
                                    self.core.handle_received(*conn, &answer, self.now);
                                }
                                return;
                            }
                        }
                        _ => {}
                    }
                }
                match out {
                    Output::Connect { .. } => self.connects += 1,
                    Output::Disconnect { .. } => self.disconnects += 1,
                    _ => {}
                }
                self.cluster.apply(&out);
            }
            Output::Delivered(batch) => {
                assert!(!batch.is_empty(), "a delivery of no records");
                for d in batch {
                    let id = d.id;
                    self.outcomes += 1;
                    assert!(
                        self.delivered.insert(id, (d.metadata, d.record)).is_none(),
                        "two outcomes for {id:?}"
                    );
                    assert!(!self.failed.contains_key(&id), "two outcomes for {id:?}");
                }
            }
            Output::Failed { id, error, record } => {
                self.outcomes += 1;
                assert!(
                    self.failed.insert(id, (error, record)).is_none(),
                    "two outcomes for {id:?}"
                );
                assert!(!self.delivered.contains_key(&id), "two outcomes for {id:?}");
            }
            Output::Closed => self.closed += 1,
            Output::Transaction { op, result } => self.txn_results.push((op, result)),
        }
    }

    /// Jumps virtual time to the next deadline and fires it; `false` when none is armed.
    pub fn tick(&mut self) -> bool {
        self.drain();
        let Some((at, _why)) = self.core.poll_timeout() else {
            return false;
        };
        assert!(at > self.now, "deadline not in the future: busy loop");
        self.now = at;
        self.core.handle_timeout(self.now);
        self.drain();
        true
    }

    /// Runs until every record has its outcome (bounded).
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            self.drain();
            if self.core.pending_records() == 0 {
                break;
            }
            if !self.tick() {
                break;
            }
        }
        assert_eq!(
            self.core.pending_records(),
            0,
            "records left without outcome"
        );
        assert_eq!(self.cluster.protocol_violations(), [] as [String; 0]);
    }

    pub fn log(&self, topic: &str, partition: usize) -> Vec<String> {
        self.cluster
            .log(topic, partition as i32)
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let v = r.value.clone().unwrap_or_default();
                String::from_utf8(v.to_vec()).expect("utf8")
            })
            .collect()
    }
}

pub fn values(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Config for the idempotent tests: linger 0, one record per batch unless said otherwise.
pub fn idem_config() -> Config {
    let mut c = Harness::config();
    c.linger = Duration::ZERO;
    c.batch_num_messages = 1;
    c.retries = 10;
    c
}

/// Every accepted (producer id, epoch, sequence) is distinct, and per (id, epoch) the
/// accepted batches are contiguous from 0: sequences never reused, never skipped.
pub fn assert_sequences_sound(accepted: &[(i64, i16, i32, usize)]) {
    let mut next: BTreeMap<(i64, i16), i32> = BTreeMap::new();
    for &(pid, epoch, seq, n) in accepted {
        assert!(pid >= 0, "an idempotent batch without a producer id");
        let want = next.entry((pid, epoch)).or_insert(0);
        assert_eq!(seq, *want, "sequence of a batch under ({pid}, {epoch})");
        *want += n as i32;
    }
}
