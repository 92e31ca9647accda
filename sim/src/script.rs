//! Scripted behaviour: what a test asks of the [`Cluster`] by hand, next to the seeded
//! [`FaultSchedule`](crate::FaultSchedule). Every knob is off by default and draws nothing from
//! the seeded generator, so a seeded run is the same with or without this module.
//!
//! * Per partition, faults consumed one by one by the next Produce of that partition
//!   ([`Cluster::script`], [`ScriptedFault`]).
//! * For every Produce: a fixed error ([`Cluster::fail_every_produce`]), requests dropped with
//!   their connection ([`Cluster::drop_produce_requests`]), a delay
//!   ([`Cluster::set_produce_delay`]), the largest batch taken
//!   ([`Cluster::set_max_batch_records`]), and what becomes of the answers
//!   ([`ProduceAnswers`]: sent, swallowed or deferred; [`Cluster::release_deferred`]), raw
//!   bytes instead of the next answer ([`Cluster::corrupt_next_produce_answer`]), and Produce
//!   requests held unread ([`Cluster::hold_produce_requests`]).
//! * InitProducerId: error codes for the next answers, the epoch and the next id granted.
//! * The cluster's shape: versions, topics with chosen leaders, topics created on first
//!   Metadata, the address each broker advertises, brokers down without leader moves, a
//!   partition forgetting its producers.
//! * Metadata answers written by hand per topic: raw `(partition_index, leader_id)` entries
//!   which Produce then believes too ([`Cluster::script_metadata`]), an error code
//!   ([`Cluster::script_metadata_error`]), the topic left out
//!   ([`Cluster::omit_from_metadata`]); and a `throttle_time_ms` put in
//!   every answer ([`Cluster::set_throttle_time`]).
//! * What the brokers saw ([`Cluster::record_requests`]): every request header, every batch
//!   per partition with its answer, every InitProducerId asked.

use crate::cluster::{AppendFate, Cluster, Partition, SimConnPhase};
use crate::config::BrokerVersions;
use bytes::Bytes;
use odradek_core::protocol::{self, ErrorCode, MetadataPartition, MetadataResponse};
use odradek_core::record::RecordFormat;
use odradek_core::ConnId;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// What a broker does with the next Produce of one partition ([`Cluster::script`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptedFault {
    /// Answer with this error code without appending (before any other check).
    Error(ErrorCode),
    /// Append (when the batch passes the broker's checks), then answer with this error: the
    /// ambiguous NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    AppendThenError(ErrorCode),
    /// Leave this partition out of the response.
    Omit,
    /// Append, then answer with this base offset (a hostile value).
    BaseOffset(i64),
    /// Answer NOT_LEADER_OR_FOLLOWER without appending, naming this leader and epoch
    /// (KIP-951 `CurrentLeader`, Produce v10+) with the leader's address in `NodeEndpoints`.
    NotLeader {
        /// `leader_id`.
        leader: i32,
        /// `leader_epoch`.
        epoch: i32,
    },
    /// Answer INVALID_RECORD without appending, naming the records at these indices of the
    /// batch (KIP-467 `RecordErrors`, Produce v8+), each with a message.
    RejectRecords(Vec<i32>),
}

/// What Metadata answers say of one scripted topic.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ScriptedMetadata {
    /// These `(partition_index, leader_id)` entries, as given (sparse, duplicate, negative,
    /// huge indices and leaders that name no broker included), each without error, at
    /// leader epoch 0. Produce believes them: a partition is led by the broker its first
    /// entry names (none when no entry names it), while its log is still the topic's own.
    Partitions(Vec<(i32, i32)>),
    /// The topic's entry carries this error code and no partitions.
    Error(ErrorCode),
    /// The topic is left out of the answer, even when asked about.
    Omit,
}

/// What becomes of the answers to Produce requests (acks 1 or all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProduceAnswers {
    /// Sent after the network latency (and the produce delay).
    #[default]
    Send,
    /// Never sent: the records are appended, the connection stays open, the client's request
    /// timeout must notice.
    Swallow,
    /// Queued until [`Cluster::release_deferred`] sends the oldest (or
    /// [`Cluster::drop_deferred`] loses them all); other answers still go.
    Defer,
}

/// One request header a broker decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    /// Connection it came on.
    pub conn: ConnId,
    /// API key.
    pub api_key: i16,
    /// API version.
    pub api_version: i16,
}

/// One batch a broker saw for a partition, and what it made of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenBatch {
    /// Producer id (`-1` when none).
    pub producer_id: i64,
    /// Producer epoch (`-1` when none).
    pub epoch: i16,
    /// Base sequence (`-1` when none).
    pub base_sequence: i32,
    /// Records.
    pub records: usize,
    /// 0 when appended (also when an error was answered after the append),
    /// DUPLICATE_SEQUENCE_NUMBER for a retry recognised and answered with its first offset,
    /// else the error code answered.
    pub error_code: i16,
    /// The record format of its (first) batch.
    pub format: RecordFormat,
}

/// What the brokers saw, when asked to keep it.
#[derive(Debug, Default)]
struct Seen {
    requests: Vec<SeenRequest>,
    batches: BTreeMap<(String, i32), Vec<SeenBatch>>,
    init_producer_ids: Vec<(i64, i16)>,
}

/// A Produce answer waiting in the deferral queue: connection, bytes, appends it acknowledges.
type DeferredAnswer = (ConnId, Bytes, Vec<usize>);

/// The scripted state of a cluster.
#[derive(Debug, Default)]
pub(crate) struct Script {
    faults: BTreeMap<(String, i32), VecDeque<ScriptedFault>>,
    answers: ProduceAnswers,
    deferred: VecDeque<DeferredAnswer>,
    hold_requests: bool,
    /// Request frames held unread: connection, frame, whether it is a Produce.
    held: VecDeque<(ConnId, Bytes, bool)>,
    corrupt_next: Option<Bytes>,
    /// API keys whose every answer is replaced by bytes that do not decode.
    pub(crate) corrupt_answers: std::collections::BTreeSet<i16>,
    pub(crate) produce_error: Option<ErrorCode>,
    drop_produce: usize,
    produce_delay: Duration,
    init_errors: VecDeque<ErrorCode>,
    pub(crate) init_epoch: i16,
    pub(crate) max_batch_records: Option<usize>,
    auto_create: Option<i32>,
    advertised: BTreeMap<i32, (String, u16)>,
    metadata: BTreeMap<String, ScriptedMetadata>,
    pub(crate) throttle: Option<i32>,
    seen: Option<Seen>,
    /// EndTxn answers to lose (the connection dropped after the coordinator acted).
    pub(crate) lose_end_txn_answers: usize,
    /// Brokers left out of Metadata answers (still reachable: KIP-951 `NodeEndpoints`).
    pub(crate) hidden: std::collections::BTreeSet<i32>,
}

impl Script {
    /// The address broker `node` advertises, when one was set.
    pub(crate) fn advertised(&self, node: i32) -> Option<(String, u16)> {
        self.advertised.get(&node).cloned()
    }
}

impl Cluster {
    /// The next `n` EndTxn answers are lost after the coordinator acted on the request: the
    /// connection drops, and the client must retry to learn the outcome.
    pub fn lose_end_txn_answers(&mut self, n: usize) {
        self.script.lose_end_txn_answers = n;
    }

    /// Metadata answers list exactly these `(partition_index, leader_id)` entries for
    /// `topic`, as given (sparse, duplicate, negative or huge indices, leaders that name no
    /// broker), without errors, at leader epoch 0. Produce believes them: a partition of the
    /// topic is led by the broker its first entry names (none when no entry names it); its
    /// log is still the topic's own, so the topic must exist ([`create_topic`](Self::create_topic)).
    pub fn script_metadata(&mut self, topic: &str, entries: &[(i32, i32)]) {
        let answer = ScriptedMetadata::Partitions(entries.to_vec());
        self.script.metadata.insert(topic.to_owned(), answer);
    }

    /// Metadata answers give `topic` this error code and no partitions.
    pub fn script_metadata_error(&mut self, topic: &str, code: ErrorCode) {
        let answer = ScriptedMetadata::Error(code);
        self.script.metadata.insert(topic.to_owned(), answer);
    }

    /// Metadata answers leave `topic` out, even when asked about it.
    pub fn omit_from_metadata(&mut self, topic: &str) {
        let answer = ScriptedMetadata::Omit;
        self.script.metadata.insert(topic.to_owned(), answer);
    }

    /// Metadata answers (and Produce) say of `topic` what the cluster holds again.
    pub fn unscript_metadata(&mut self, topic: &str) {
        self.script.metadata.remove(topic);
    }

    /// Every answer (ApiVersions, Metadata, Produce, InitProducerId) carries this
    /// `throttle_time_ms` (`None`: 0, or the seeded hostile value).
    pub fn set_throttle_time(&mut self, ms: Option<i32>) {
        self.script.throttle = ms;
    }

    /// Rewrites the topics of a Metadata answer that are scripted.
    pub(crate) fn scripted_metadata(&self, resp: &mut MetadataResponse) {
        if self.script.metadata.is_empty() {
            return;
        }
        let scripted = &self.script.metadata;
        resp.topics
            .retain(|t| scripted.get(&t.name) != Some(&ScriptedMetadata::Omit));
        for t in &mut resp.topics {
            match scripted.get(&t.name) {
                Some(ScriptedMetadata::Partitions(entries)) => {
                    t.error_code = 0;
                    t.partitions = entries
                        .iter()
                        .map(|&(partition_index, leader_id)| MetadataPartition {
                            error_code: 0,
                            partition_index,
                            leader_id,
                            leader_epoch: 0,
                            replica_nodes: vec![leader_id],
                            isr_nodes: vec![leader_id],
                            offline_replicas: Vec::new(),
                        })
                        .collect();
                }
                Some(ScriptedMetadata::Error(code)) => {
                    t.error_code = code.0;
                    t.partitions.clear();
                }
                Some(ScriptedMetadata::Omit) | None => {}
            }
        }
    }

    /// The leader of `topic`/`partition` by its scripted Metadata entries: `None` when the
    /// topic's Metadata is not scripted with partitions, `Some(None)` when no entry names it.
    pub(crate) fn scripted_leader(&self, topic: &str, partition: i32) -> Option<Option<i32>> {
        match self.script.metadata.get(topic)? {
            ScriptedMetadata::Partitions(entries) => {
                Some(entries.iter().find(|e| e.0 == partition).map(|e| e.1))
            }
            _ => None,
        }
    }

    /// The next Produce of `topic`/`partition` meets `fault` (faults queue up per partition and
    /// are consumed one per Produce of it, whatever it carries).
    pub fn script(&mut self, topic: &str, partition: i32, fault: ScriptedFault) {
        self.script
            .faults
            .entry((topic.to_owned(), partition))
            .or_default()
            .push_back(fault);
    }

    /// Forgets every scripted partition fault not yet consumed.
    pub fn clear_scripts(&mut self) {
        self.script.faults.clear();
    }

    pub(crate) fn next_scripted(&mut self, topic: &str, partition: i32) -> Option<ScriptedFault> {
        if self.script.faults.is_empty() {
            return None;
        }
        let key = (topic.to_owned(), partition);
        let queue = self.script.faults.get_mut(&key)?;
        let fault = queue.pop_front();
        if queue.is_empty() {
            self.script.faults.remove(&key);
        }
        fault
    }

    /// Every Produce partition is answered `code` without appending (`None`: as usual).
    pub fn fail_every_produce(&mut self, code: Option<ErrorCode>) {
        self.script.produce_error = code;
    }

    /// The next `n` Produce requests close their connection without appending or answering.
    pub fn drop_produce_requests(&mut self, n: usize) {
        self.script.drop_produce = n;
    }

    /// Whether this Produce request is to be dropped with its connection.
    pub(crate) fn take_dropped_produce(&mut self) -> bool {
        if self.script.drop_produce == 0 {
            return false;
        }
        self.script.drop_produce -= 1;
        true
    }

    /// Each Produce answer leaves `delay` after the request arrived (on top of the latency;
    /// answers on a connection still never overtake each other).
    pub fn set_produce_delay(&mut self, delay: Duration) {
        self.script.produce_delay = delay;
    }

    /// What becomes of Produce answers from now on. Switching away from deferring does not
    /// send what is queued: [`release_deferred`](Self::release_deferred) does.
    pub fn set_produce_answers(&mut self, mode: ProduceAnswers) {
        self.script.answers = mode;
    }

    /// Answers waiting in the deferral queue.
    pub fn deferred_answers(&self) -> usize {
        self.script.deferred.len()
    }

    /// Sends the oldest deferred answer (lost if its connection has closed since); `false`
    /// when none is queued.
    pub fn release_deferred(&mut self) -> bool {
        let Some((conn, data, appends)) = self.script.deferred.pop_front() else {
            return false;
        };
        self.respond(conn, data, appends);
        true
    }

    /// Loses every deferred answer: the client never gets them.
    pub fn drop_deferred(&mut self) {
        for (_, _, appends) in std::mem::take(&mut self.script.deferred) {
            for a in appends {
                self.appends[a].fate = AppendFate::ResponseLost;
            }
        }
    }

    /// The next Produce answer (acks 1 or all) is replaced by these raw bytes.
    pub fn corrupt_next_produce_answer(&mut self, raw: Bytes) {
        self.script.corrupt_next = Some(raw);
    }

    /// While `on`, every answer to requests of `api_key` (Metadata, InitProducerId) is a
    /// frame with the request's correlation id and a body no version decodes.
    pub fn corrupt_answers(&mut self, api_key: i16, on: bool) {
        if on {
            self.script.corrupt_answers.insert(api_key);
        } else {
            self.script.corrupt_answers.remove(&api_key);
        }
    }

    /// The next InitProducerId is answered `code` (queued: one per answer, then success).
    pub fn fail_init_producer_id(&mut self, code: ErrorCode) {
        self.script.init_errors.push_back(code);
    }

    pub(crate) fn next_init_error(&mut self) -> Option<ErrorCode> {
        self.script.init_errors.pop_front()
    }

    /// The epoch InitProducerId grants with a fresh id (Kafka: 0).
    pub fn set_init_producer_epoch(&mut self, epoch: i16) {
        self.script.init_epoch = epoch;
    }

    /// The producer id the next successful InitProducerId hands out.
    pub fn set_next_producer_id(&mut self, id: i64) {
        self.next_producer_id = id;
    }

    /// Long-lived producers from now on: each producer id InitProducerId grants comes with
    /// state on every partition ending just before sequence `start` (see
    /// [`FaultConfig::initial_sequence`](crate::FaultConfig::initial_sequence)); `None`: new
    /// producers have no state.
    pub fn set_initial_sequence(&mut self, start: Option<i32>) {
        self.config.faults.initial_sequence = start;
    }

    /// Batches of more than `max` records are refused with MESSAGE_TOO_LARGE (after the
    /// idempotence check); `None`: no limit.
    pub fn set_max_batch_records(&mut self, max: Option<usize>) {
        self.script.max_batch_records = max;
    }

    /// The API versions the brokers advertise and accept from now on.
    pub fn set_versions(&mut self, versions: BrokerVersions) {
        self.config.versions = versions;
    }

    /// Creates (or replaces) `topic` with one partition per entry of `leaders`, led by it.
    pub fn create_topic(&mut self, topic: &str, leaders: &[i32]) {
        let parts = leaders.iter().map(|&l| Partition::led_by(l)).collect();
        self.topics.insert(topic.to_owned(), parts);
    }

    /// A Metadata request naming a topic that does not exist creates it with `partitions`
    /// partitions led by broker 1, as `auto.create.topics.enable` does.
    pub fn auto_create_topics(&mut self, partitions: i32) {
        self.script.auto_create = Some(partitions);
    }

    /// Creates the topics `names` that do not exist, when auto-creation is on.
    pub(crate) fn auto_create(&mut self, names: &[String]) {
        let Some(n) = self.script.auto_create else {
            return;
        };
        for name in names {
            if !self.topics.contains_key(name) {
                self.create_topic(name, &vec![1; n.max(0) as usize]);
            }
        }
    }

    /// Broker `node` advertises `host:port` in Metadata instead of `broker-<node>:9092`
    /// (connections still name it `broker-<node>`).
    pub fn advertise(&mut self, node: i32, host: &str, port: u16) {
        self.script.advertised.insert(node, (host.to_owned(), port));
    }

    /// Takes broker `node` down (its connections reset, connecting to it fails) or up again,
    /// without moving any leadership: the partitions it leads have no leader meanwhile.
    pub fn set_broker_up(&mut self, node: i32, up: bool) {
        let Some(i) = self.broker_index(node) else {
            return;
        };
        self.up[i] = up;
        if !up {
            self.kill_connections_to(node);
        }
    }

    /// `topic`/`partition` forgets every producer's state: their next batch there is answered
    /// UNKNOWN_PRODUCER_ID unless it starts at sequence 0.
    pub fn forget_producers(&mut self, topic: &str, partition: i32) {
        if let Some(p) = usize::try_from(partition)
            .ok()
            .and_then(|i| self.topics.get_mut(topic)?.get_mut(i))
        {
            p.producers = Default::default();
        }
    }

    /// Starts keeping what the brokers see ([`requests`](Self::requests),
    /// [`batches`](Self::batches), [`init_producer_id_requests`](Self::init_producer_id_requests)).
    pub fn record_requests(&mut self) {
        self.script.seen.get_or_insert_with(Seen::default);
    }

    /// Every request header decoded so far, in order (empty unless recording).
    pub fn requests(&self) -> &[SeenRequest] {
        self.script.seen.as_ref().map_or(&[], |s| &s.requests[..])
    }

    /// Every batch seen for `topic`/`partition`, in arrival order (empty unless recording).
    pub fn batches(&self, topic: &str, partition: i32) -> &[SeenBatch] {
        self.script
            .seen
            .as_ref()
            .and_then(|s| s.batches.get(&(topic.to_owned(), partition)))
            .map_or(&[], |b| &b[..])
    }

    /// `(producer id, epoch)` of every InitProducerId request, in order (empty unless
    /// recording).
    pub fn init_producer_id_requests(&self) -> &[(i64, i16)] {
        self.script
            .seen
            .as_ref()
            .map_or(&[], |s| &s.init_producer_ids[..])
    }

    pub(crate) fn saw_request(&mut self, conn: ConnId, api_key: i16, api_version: i16) {
        if let Some(s) = &mut self.script.seen {
            s.requests.push(SeenRequest {
                conn,
                api_key,
                api_version,
            });
        }
    }

    pub(crate) fn saw_batch(&mut self, topic: &str, partition: i32, batch: SeenBatch) {
        if let Some(s) = &mut self.script.seen {
            let key = (topic.to_owned(), partition);
            s.batches.entry(key).or_default().push(batch);
        }
    }

    pub(crate) fn saw_init_producer_id(&mut self, producer_id: i64, epoch: i16) {
        if let Some(s) = &mut self.script.seen {
            s.init_producer_ids.push((producer_id, epoch));
        }
    }

    /// Sends (or swallows, defers, corrupts, delays) the answer to a Produce request.
    pub(crate) fn answer_produce(&mut self, conn: ConnId, data: Bytes, appends: Vec<usize>) {
        if self.script.answers == ProduceAnswers::Swallow {
            for a in appends {
                self.appends[a].fate = AppendFate::ResponseLost;
            }
            return;
        }
        let data = self.script.corrupt_next.take().unwrap_or(data);
        if self.script.answers == ProduceAnswers::Defer {
            self.script.deferred.push_back((conn, data, appends));
            return;
        }
        let delay = self.script.produce_delay;
        self.respond_after(conn, data, appends, delay);
    }

    /// Holds every Produce request unread (not appended, not answered, and every later
    /// request on its connection behind it), a broker stuck on its disk; `false` lets the
    /// held requests go, in order.
    pub fn hold_produce_requests(&mut self, hold: bool) {
        self.script.hold_requests = hold;
        if hold {
            return;
        }
        for (conn, frame, _) in std::mem::take(&mut self.script.held) {
            if self
                .conns
                .get(&conn)
                .is_some_and(|c| c.state == SimConnPhase::Open)
            {
                self.handle_frame(conn, frame);
            }
        }
    }

    /// Produce requests held unread on `conn` (`None`: on every connection).
    pub fn held_produce_requests(&self, conn: Option<ConnId>) -> usize {
        self.script
            .held
            .iter()
            .filter(|(c, _, produce)| *produce && conn.is_none_or(|x| x == *c))
            .count()
    }

    /// Whether request `frame` on `conn` is to be held; holds it if so.
    pub(crate) fn hold_frame(&mut self, conn: ConnId, frame: &Bytes) -> bool {
        if !self.script.hold_requests {
            return false;
        }
        let produce = protocol::decode_request_header(frame)
            .is_ok_and(|(h, _)| h.api_key == protocol::api_key::PRODUCE);
        if produce || self.script.held.iter().any(|(c, _, _)| *c == conn) {
            self.script.held.push_back((conn, frame.clone(), produce));
            return true;
        }
        false
    }
}

impl Partition {
    /// An empty partition led by `leader`, at leader epoch 0.
    pub(crate) fn led_by(leader: i32) -> Partition {
        Partition {
            next_offset: 0,
            leader,
            epoch: 0,
            log: Vec::new(),
            producers: Default::default(),
        }
    }
}
