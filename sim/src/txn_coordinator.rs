//! The transaction coordinator and the group coordinators' transactional side, as Kafka's
//! `TransactionCoordinator` and `GroupCoordinator` answer a transactional producer (off
//! unless [`TxnConfig::enabled`]).
//!
//! * **Where**: a transactional id maps to a partition of `__transaction_state` (Java's
//!   `String.hashCode` of the id, made non-negative, modulo [`TxnConfig::state_partitions`]),
//!   a group id to one of `__consumer_offsets`; the leader of that partition is the
//!   coordinator. Both start led by broker `1 + p % brokers`. FindCoordinator (key type 1 for
//!   a transactional id, 0 for a group) names it. [`Cluster::move_txn_coordinator`] moves it:
//!   the old broker answers NOT_COORDINATOR, the new one COORDINATOR_LOAD_IN_PROGRESS for
//!   [`TxnConfig::load_time`]. When its broker is down, the next live broker takes over (and
//!   loads); a restarted broker that is coordinator loads again. The state is kept
//!   throughout, as Kafka keeps it in the replicated state topic.
//! * **InitProducerId** with a transactional id: a new producer id at epoch 0, or the id's
//!   epoch bumped (an epoch at `i16::MAX - 1` gets a new id at 0). An ongoing transaction is
//!   aborted under the bumped epoch (answer CONCURRENT_TRANSACTIONS: the client retries); a
//!   transaction whose markers are being written answers CONCURRENT_TRANSACTIONS. A request
//!   naming an id and epoch (v3+, KIP-360) that are not the current ones is fenced.
//! * **Fencing**: a request with an older epoch than the coordinator's gets PRODUCER_FENCED
//!   from the versions that know it (InitProducerId v4, AddPartitionsToTxn v2,
//!   AddOffsetsToTxn v2, EndTxn v2, TxnOffsetCommit v3; KIP-588) and INVALID_PRODUCER_EPOCH
//!   before; a producer id that is not the transactional id's gets INVALID_PRODUCER_ID_MAPPING.
//! * **AddPartitionsToTxn** v0–3 and **AddOffsetsToTxn** enrol partitions and groups (and
//!   begin the transaction); **TxnOffsetCommit** keeps the offsets pending until the
//!   transaction commits (v5, transactions v2 only, also enrols the group; before v5 the
//!   group must have been added, else INVALID_TXN_STATE).
//! * **EndTxn**: the decision is recorded and answered at once; the markers are written
//!   afterwards (the `txn_markers` module), and until they all are, EndTxn, InitProducerId,
//!   AddPartitionsToTxn and AddOffsetsToTxn answer CONCURRENT_TRANSACTIONS. v5
//!   (transactions v2, KIP-890 part 2) bumps the epoch with every transaction and answers the
//!   new one; the markers carry it. A retried EndTxn of a completed transaction: before v5,
//!   the same decision answers NONE and the other INVALID_TXN_STATE; in v5 the retry carries
//!   the epoch before the bump and answers NONE with the current id and epoch when it asks the
//!   decision taken (INVALID_TXN_STATE otherwise), while an abort at the current epoch of a
//!   transaction with nothing in it bumps the epoch (an empty abort). A commit or abort while
//!   the markers of the same decision are being written answers CONCURRENT_TRANSACTIONS.
//! * **Timeout**: a transaction open longer than the producer's `transaction.timeout.ms`
//!   (virtual time) is aborted by the coordinator under a bumped epoch, fencing the producer.
//!
//! The coordinators draw nothing from the seed: a run without transactions is unchanged.

use crate::cluster::Cluster;
use crate::config::ClusterConfig;
use bytes::Bytes;
use odradek_core::protocol::{api_key, ErrorCode};
use odradek_core::Instant;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The transactional side of the simulated cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct TxnConfig {
    /// Coordinators answer, and the brokers advertise FindCoordinator, AddPartitionsToTxn,
    /// AddOffsetsToTxn, EndTxn, TxnOffsetCommit and InitProducerId up to v5.
    pub enabled: bool,
    /// The `transaction.version` the brokers finalize (ApiVersions v3 finalized features): 2
    /// enables transactions v2 (Produce v12 enrols partitions, EndTxn v5 bumps the epoch,
    /// TxnOffsetCommit v5); 1 or 0 keeps v1.
    pub transaction_version: i16,
    /// How long a coordinator that moved, failed over or restarted answers
    /// COORDINATOR_LOAD_IN_PROGRESS.
    pub load_time: Duration,
    /// How long after the decision the coordinator writes the markers.
    pub marker_delay: Duration,
    /// How long it waits before trying again to write a marker whose partition leader is down.
    pub marker_retry: Duration,
    /// The broker's `transaction.max.timeout.ms`: a longer `transaction.timeout.ms` is refused
    /// INVALID_TRANSACTION_TIMEOUT.
    pub max_timeout: Duration,
    /// Partitions of `__transaction_state` and `__consumer_offsets` (Kafka's default is 50).
    pub state_partitions: u32,
    /// Coordinator faults drawn from a generator of their own (none by default).
    pub faults: TxnFaults,
}

/// Faults of the transaction coordinators, drawn from the cluster's seed through a generator
/// of their own (so a run without transactions draws nothing more), while the cluster's
/// faults are active ([`FaultConfig::heal`](crate::FaultConfig::heal) stops them too).
#[derive(Clone, Debug, PartialEq)]
pub struct TxnFaults {
    /// The coordinator of a transactional id in use moves to another broker, at intervals
    /// drawn from this range.
    pub move_every: Option<(Duration, Duration)>,
    /// The broker coordinating a transactional id in use crashes, at intervals drawn from
    /// this range, for a downtime drawn from [`crash_downtime`](Self::crash_downtime).
    pub crash_every: Option<(Duration, Duration)>,
    /// How long a crashed coordinator stays down.
    pub crash_downtime: (Duration, Duration),
    /// The share of EndTxn answers lost after the coordinator acted on the request (the
    /// connection drops; the producer must retry to learn the outcome).
    pub lost_end_txn_rate: f64,
    /// Moves and crashes happen only this long after the cluster starts.
    pub horizon: Duration,
}

impl TxnFaults {
    /// No coordinator faults.
    pub fn none() -> Self {
        TxnFaults {
            move_every: None,
            crash_every: None,
            crash_downtime: (Duration::from_millis(100), Duration::from_secs(2)),
            lost_end_txn_rate: 0.0,
            horizon: Duration::from_secs(30),
        }
    }

    /// Moves every 0.5–5 s, crashes every 2–20 s (down 0.1–2 s), one EndTxn answer in ten
    /// lost.
    pub fn chaos() -> Self {
        TxnFaults {
            move_every: Some((Duration::from_millis(500), Duration::from_secs(5))),
            crash_every: Some((Duration::from_secs(2), Duration::from_secs(20))),
            lost_end_txn_rate: 0.1,
            ..TxnFaults::none()
        }
    }
}

impl TxnConfig {
    /// No transactions (the default).
    pub fn off() -> Self {
        TxnConfig {
            enabled: false,
            ..TxnConfig::v2()
        }
    }

    /// Transactions v1 (`transaction.version` finalized at 1, as Kafka 3.x and a 4.x cluster
    /// with the feature off).
    pub fn v1() -> Self {
        TxnConfig {
            transaction_version: 1,
            ..TxnConfig::v2()
        }
    }

    /// Transactions v2 (`transaction.version` finalized at 2, as Kafka 4.x by default).
    pub fn v2() -> Self {
        TxnConfig {
            enabled: true,
            transaction_version: 2,
            load_time: Duration::from_millis(300),
            marker_delay: Duration::from_millis(2),
            marker_retry: Duration::from_millis(100),
            max_timeout: Duration::from_secs(15 * 60),
            state_partitions: 50,
            faults: TxnFaults::none(),
        }
    }

    /// The transactional cluster of a suite seed: transactions v2 in `v2_share` of seeds
    /// (v1 otherwise), with [`TxnFaults::chaos`] when `chaos`. Drawn from a generator of its
    /// own, so the seed's other draws are unchanged.
    ///
    /// ```
    /// use odradek_sim::TxnConfig;
    /// let all_v2 = (0..20).all(|s| TxnConfig::for_seed(s, 1.0, false).is_v2());
    /// let none_v2 = (0..20).all(|s| !TxnConfig::for_seed(s, 0.0, false).is_v2());
    /// assert!(all_v2 && none_v2);
    /// assert_eq!(TxnConfig::for_seed(7, 0.5, true), TxnConfig::for_seed(7, 0.5, true));
    /// ```
    pub fn for_seed(seed: u64, v2_share: f64, chaos: bool) -> Self {
        let mut rng = odradek_core::rng::Rng::new(seed ^ 0x7A5C_0000_0000_0023);
        let base = if rng.unit() < v2_share {
            TxnConfig::v2()
        } else {
            TxnConfig::v1()
        };
        TxnConfig {
            faults: if chaos {
                TxnFaults::chaos()
            } else {
                TxnFaults::none()
            },
            ..base
        }
    }

    /// Whether transactions v2 are finalized.
    pub fn is_v2(&self) -> bool {
        self.enabled && self.transaction_version >= 2
    }
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig::off()
    }
}

/// A control record's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Marker {
    /// The transaction committed: its records become visible.
    Commit,
    /// The transaction aborted: its records are never visible.
    Abort,
}

/// How a transaction ended, as the coordinator decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Not decided yet.
    Open,
    /// Committed (visible once every marker is written).
    Committed,
    /// Aborted (by the producer, by a fence, or by the timeout).
    Aborted,
}

/// One transaction as the coordinator kept it (for the checker and tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnRecord {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id its records carry.
    pub producer_id: i64,
    /// The epoch its records carry.
    pub epoch: i16,
    /// Partitions enrolled.
    pub partitions: BTreeSet<(String, i32)>,
    /// Consumer groups enrolled.
    pub groups: BTreeSet<String>,
    /// The decision.
    pub outcome: TxnOutcome,
    /// Aborted by the coordinator because it was open past its timeout.
    pub timed_out: bool,
    /// Aborted because InitProducerId fenced its producer.
    pub fenced: bool,
    /// When it began (its first enrolment).
    pub began_at: Instant,
    /// When every marker had been written, if they all have.
    pub completed_at: Option<Instant>,
}

/// The coordinator bumped a producer's epoch at `at`: from then on, records of
/// `producer_id` with an epoch below `epoch` must never become visible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceEvent {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id whose epoch was bumped (the old one, when a new id was handed out).
    pub producer_id: i64,
    /// The first epoch not fenced.
    pub epoch: i16,
    /// When.
    pub at: Instant,
}

/// An offset committed through a transaction, visible in its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The offset.
    pub offset: i64,
    /// The transaction that made it visible (an index into [`TxnSnapshot::transactions`]).
    pub txn: usize,
}

/// What the coordinators hold at the end of a run, for the checker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnSnapshot {
    /// Every transaction begun, in order.
    pub transactions: Vec<TxnRecord>,
    /// Every epoch bump.
    pub fences: Vec<FenceEvent>,
    /// Producer ids handed out to transactional ids.
    pub transactional_pids: BTreeSet<i64>,
    /// Offsets visible in their groups: (group, topic, partition) to offset.
    pub offsets: BTreeMap<(String, String, i32), CommittedOffset>,
}

/// A transaction's state at the coordinator (Kafka's `TransactionState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

/// One transactional id's state.
#[derive(Clone, Debug)]
pub(crate) struct TxnEntry {
    pub producer_id: i64,
    pub epoch: i16,
    /// The epoch before the last bump by EndTxn v5 (`-1` when none): a retried v5 EndTxn
    /// carries it.
    pub last_epoch: i16,
    pub timeout: Duration,
    pub state: TxnState,
    /// The current (or last) transaction: an index into `Coordinators::transactions`.
    pub current: Option<usize>,
    /// Offsets committed in the current transaction, not visible yet.
    pub pending_offsets: BTreeMap<(String, String, i32), i64>,
    /// Partitions still waiting for their marker, and the marker's epoch.
    pub pending_markers: BTreeSet<(String, i32)>,
    pub marker_epoch: i16,
    /// The producer id the markers carry: the transaction's, which is no longer the entry's
    /// when the epoch bump that ended it overflowed to a new id.
    pub marker_pid: i64,
}

/// Timed work of the coordinators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TxnTimer {
    /// Write the pending markers of this transactional id.
    Markers(String),
    /// The transaction (index) of this id times out, if it is still open.
    Timeout(String, usize),
    /// A coordinator fault: move one.
    MoveFault,
    /// A coordinator fault: crash the broker of one.
    CrashFault,
}

/// The two coordinator roles and their state.
#[derive(Debug)]
pub(crate) struct Coordinators {
    pub config: TxnConfig,
    /// Leader of each `__transaction_state` partition.
    pub txn_leaders: Vec<i32>,
    /// Leader of each `__consumer_offsets` partition.
    pub group_leaders: Vec<i32>,
    /// Until when a partition's new leader loads it: (is group, partition) to instant.
    pub loading: BTreeMap<(bool, usize), Instant>,
    pub entries: BTreeMap<String, TxnEntry>,
    pub snapshot: TxnSnapshot,
    /// The coordinators' own generator (faults only).
    pub rng: odradek_core::rng::Rng,
}

impl Coordinators {
    pub(crate) fn new(config: &ClusterConfig) -> Option<Self> {
        let t = &config.transactions;
        if !t.enabled {
            return None;
        }
        let brokers = config.brokers.max(1);
        let n = t.state_partitions.max(1) as i32;
        let leaders: Vec<i32> = (0..n).map(|p| 1 + p % brokers).collect();
        Some(Coordinators {
            config: t.clone(),
            txn_leaders: leaders.clone(),
            group_leaders: leaders,
            loading: BTreeMap::new(),
            entries: BTreeMap::new(),
            snapshot: TxnSnapshot::default(),
            rng: odradek_core::rng::Rng::new(config.seed ^ 0x7A5C_C00D_0000_0023),
        })
    }
}

/// Java's `String.hashCode`.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The state partition of `key` among `n` (Kafka's `Utils.abs(key.hashCode) % n`).
pub(crate) fn state_partition(key: &str, n: usize) -> usize {
    (java_hash(key) & 0x7fff_ffff) as usize % n.max(1)
}

/// The error for a fenced epoch in version `v` of `api`: PRODUCER_FENCED from the versions
/// that know it (KIP-588), INVALID_PRODUCER_EPOCH before.
pub(crate) fn fenced_code(api: i16, v: i16) -> ErrorCode {
    let first = match api {
        api_key::INIT_PRODUCER_ID => 4,
        api_key::TXN_OFFSET_COMMIT => 3,
        _ => 2,
    };
    if v >= first {
        ErrorCode::PRODUCER_FENCED
    } else {
        ErrorCode::INVALID_PRODUCER_EPOCH
    }
}

impl Cluster {
    pub(crate) fn coordinators(&mut self) -> &mut Coordinators {
        self.txn.as_mut().expect("transactions on")
    }

    /// The coordinator broker of `key` (a group when `group`), failing over to the next live
    /// broker (which then loads) when its broker is down; `None` when no broker is up.
    pub(crate) fn coordinator_of(&mut self, group: bool, key: &str) -> Option<i32> {
        let brokers = self.up.len() as i32;
        let c = self.txn.as_ref()?;
        let leaders = if group {
            &c.group_leaders
        } else {
            &c.txn_leaders
        };
        let p = state_partition(key, leaders.len());
        let leader = leaders[p];
        if self.is_up(leader) {
            return Some(leader);
        }
        let to = (1..=brokers)
            .map(|i| 1 + (leader - 1 + i) % brokers)
            .find(|n| self.is_up(*n))?;
        self.set_coordinator(group, p, to);
        Some(to)
    }

    fn set_coordinator(&mut self, group: bool, p: usize, to: i32) {
        let until = self.now + self.coordinators().config.load_time;
        let c = self.coordinators();
        let leaders = if group {
            &mut c.group_leaders
        } else {
            &mut c.txn_leaders
        };
        leaders[p] = to;
        c.loading.insert((group, p), until);
        let what = if group {
            "__consumer_offsets"
        } else {
            "__transaction_state"
        };
        self.note(|| format!("txn: {what}-{p} now led by broker {to} (loading)"));
    }

    /// Moves the transaction coordinator of `transactional_id` to the next broker that is up:
    /// the old one answers NOT_COORDINATOR, the new one loads for
    /// [`TxnConfig::load_time`]. Returns the new coordinator (`None` when transactions are
    /// off or no other broker is up).
    pub fn move_txn_coordinator(&mut self, transactional_id: &str) -> Option<i32> {
        let brokers = self.up.len() as i32;
        let c = self.txn.as_ref()?;
        let p = state_partition(transactional_id, c.txn_leaders.len());
        let leader = c.txn_leaders[p];
        let to = (1..brokers)
            .map(|i| 1 + (leader - 1 + i) % brokers)
            .find(|n| self.is_up(*n))?;
        self.set_coordinator(false, p, to);
        Some(to)
    }

    /// The broker coordinating `transactional_id` now (`None` when transactions are off).
    pub fn txn_coordinator(&self, transactional_id: &str) -> Option<i32> {
        let c = self.txn.as_ref()?;
        Some(c.txn_leaders[state_partition(transactional_id, c.txn_leaders.len())])
    }

    /// A restarted broker loads the state partitions it leads again.
    pub(crate) fn txn_broker_restarted(&mut self, node: i32) {
        let until = self.now;
        let Some(c) = self.txn.as_mut() else {
            return;
        };
        let until = until + c.config.load_time;
        for (group, leaders) in [(false, &c.txn_leaders), (true, &c.group_leaders)] {
            for (p, l) in leaders.iter().enumerate() {
                if *l == node {
                    c.loading.insert((group, p), until);
                }
            }
        }
    }

    /// Whether `broker` may act as coordinator of `key` now: NONE, NOT_COORDINATOR,
    /// COORDINATOR_LOAD_IN_PROGRESS or COORDINATOR_NOT_AVAILABLE.
    pub(crate) fn coordinator_check(&mut self, group: bool, key: &str, broker: i32) -> ErrorCode {
        let Some(c) = self.coordinator_of(group, key) else {
            return ErrorCode::COORDINATOR_NOT_AVAILABLE;
        };
        if c != broker {
            return ErrorCode::NOT_COORDINATOR;
        }
        if self.loading_until(group, key).is_some() {
            return ErrorCode::COORDINATOR_LOAD_IN_PROGRESS;
        }
        ErrorCode::NONE
    }

    /// When the coordinator of `key` finishes loading, if it is loading now.
    pub(crate) fn loading_until(&self, group: bool, key: &str) -> Option<Instant> {
        let c = self.txn.as_ref()?;
        let n = if group {
            c.group_leaders.len()
        } else {
            c.txn_leaders.len()
        };
        let until = *c.loading.get(&(group, state_partition(key, n)))?;
        (until > self.now).then_some(until)
    }

    /// Bumps `id`'s epoch (a new producer id at epoch 0 when it would reach `i16::MAX`),
    /// recording the fence; returns the new id and epoch.
    pub(crate) fn bump_epoch(&mut self, id: &str) -> (i64, i16) {
        let now = self.now;
        let fresh = self.next_producer_id;
        let c = self.coordinators();
        let e = c.entries.get_mut(id).expect("present");
        let old_pid = e.producer_id;
        e.last_epoch = e.epoch;
        let fence_epoch = e.epoch.saturating_add(1);
        if e.epoch >= i16::MAX - 1 {
            e.producer_id = fresh;
            e.epoch = 0;
        } else {
            e.epoch += 1;
        }
        let (pid, epoch) = (e.producer_id, e.epoch);
        c.snapshot.fences.push(FenceEvent {
            transactional_id: id.to_owned(),
            producer_id: old_pid,
            epoch: fence_epoch,
            at: now,
        });
        c.snapshot.transactional_pids.insert(pid);
        if pid == fresh {
            self.next_producer_id += 1;
            self.stats.producer_ids += 1;
        }
        self.note(|| format!("txn: {id}: producer {old_pid} fenced below epoch {fence_epoch}"));
        (pid, epoch)
    }

    pub(crate) fn current_txn_mut(&mut self, id: &str) -> Option<&mut TxnRecord> {
        let c = self.coordinators();
        let i = c.entries.get(id)?.current?;
        c.snapshot.transactions.get_mut(i)
    }

    /// Begins a transaction for `id` if none is ongoing (arming its timeout).
    pub(crate) fn ensure_ongoing(&mut self, id: &str) {
        let now = self.now;
        let c = self.coordinators();
        let e = c.entries.get_mut(id).expect("present");
        if e.state == TxnState::Ongoing {
            return;
        }
        let index = c.snapshot.transactions.len();
        c.snapshot.transactions.push(TxnRecord {
            transactional_id: id.to_owned(),
            producer_id: e.producer_id,
            epoch: e.epoch,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            outcome: TxnOutcome::Open,
            timed_out: false,
            fenced: false,
            began_at: now,
            completed_at: None,
        });
        e.state = TxnState::Ongoing;
        e.current = Some(index);
        e.pending_offsets.clear();
        let at = now + e.timeout;
        self.note(|| format!("txn: {id}: transaction {index} begins"));
        self.schedule_at(
            at,
            crate::cluster::Event::Txn(TxnTimer::Timeout(id.to_owned(), index)),
        );
    }

    /// Enrols `topic`/`partition` in `id`'s transaction (beginning one if needed).
    pub(crate) fn enrol_partition(&mut self, id: &str, topic: &str, partition: i32) {
        self.ensure_ongoing(id);
        if let Some(t) = self.current_txn_mut(id) {
            t.partitions.insert((topic.to_owned(), partition));
        }
    }

    /// Records the decision for `id`'s ongoing transaction and schedules its markers (under
    /// the entry's current epoch).
    pub(crate) fn begin_end(&mut self, id: &str, commit: bool, fence: bool) {
        let delay = self.coordinators().config.marker_delay;
        let c = self.coordinators();
        let e = c.entries.get_mut(id).expect("present");
        e.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        let txn_pid = e
            .current
            .map_or(e.producer_id, |i| c.snapshot.transactions[i].producer_id);
        // An epoch bump that overflowed to a new producer id: Kafka writes the markers for
        // the old id at the last epoch, fencing it for good.
        e.marker_epoch = if txn_pid == e.producer_id {
            e.epoch
        } else {
            i16::MAX
        };
        e.marker_pid = txn_pid;
        if fence {
            // A fence is no retry of anything: no older epoch may pass as one (Kafka resets
            // lastProducerEpoch when it fences).
            e.last_epoch = -1;
        }
        let partitions = e
            .current
            .map(|i| c.snapshot.transactions[i].partitions.clone())
            .unwrap_or_default();
        e.pending_markers = partitions;
        if let Some(t) = e.current.and_then(|i| c.snapshot.transactions.get_mut(i)) {
            t.outcome = if commit {
                TxnOutcome::Committed
            } else {
                TxnOutcome::Aborted
            };
        }
        let what = if commit { "commit" } else { "abort" };
        self.note(|| {
            format!(
                "txn: {id}: prepare {what}{}",
                if fence { " (fence)" } else { "" }
            )
        });
        let at = self.now + delay;
        self.schedule_at(
            at,
            crate::cluster::Event::Txn(TxnTimer::Markers(id.to_owned())),
        );
    }

    /// The coordinators' record of transactions, fences and committed offsets (empty when
    /// transactions are off).
    pub fn txn_snapshot(&self) -> TxnSnapshot {
        self.txn
            .as_ref()
            .map(|c| c.snapshot.clone())
            .unwrap_or_default()
    }

    /// The current producer id and epoch of `transactional_id` at its coordinator.
    pub fn txn_producer(&self, transactional_id: &str) -> Option<(i64, i16)> {
        let e = self.txn.as_ref()?.entries.get(transactional_id)?;
        Some((e.producer_id, e.epoch))
    }
}

/// The highest version of a transactional API the simulated brokers advertise.
pub(crate) fn txn_api_max(api: i16) -> i16 {
    match api {
        api_key::FIND_COORDINATOR => 6,
        api_key::ADD_PARTITIONS_TO_TXN => 3,
        api_key::ADD_OFFSETS_TO_TXN => 4,
        api_key::END_TXN => 5,
        api_key::TXN_OFFSET_COMMIT => 5,
        _ => -1,
    }
}

/// The control record a marker is written as: key (version 0, type 0 abort / 1 commit),
/// value (version 0, coordinator epoch 0), as Kafka's `EndTransactionMarker`.
pub(crate) fn control_record(marker: Marker) -> (Bytes, Bytes) {
    let kind: i16 = match marker {
        Marker::Abort => 0,
        Marker::Commit => 1,
    };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&0i32.to_be_bytes());
    (Bytes::from(key), Bytes::from(value))
}
