//! [`run_transactional`]: a transactional workload of the suite — real [`ProducerCore`]s with a
//! `transactional.id` driven through `init_transactions`, transactions of several records over
//! several topics and partitions (some with `send_offsets_to_transaction`), committed or
//! aborted at random, an abortable error answered by an abort; with the cluster's faults
//! (leader moves mid transaction, crashes, lost answers, producer state lost) and the
//! coordinators' (moves, crashes, lost EndTxn answers); and, in some seeds, a second producer
//! with the same `transactional.id` that starts later and fences the first.
//!
//! The run ends when every producer is closed (liveness: each transaction resolved, or its
//! producer fenced or failed, then closed); it checks [`check_transactions`] (read_committed:
//! committed visible, aborted invisible, none torn or twice, the fenced producer's later
//! writes invisible, offsets), exactly one outcome per record, one
//! [`Output::Transaction`] per operation started, and that a committed transaction's records
//! were all delivered.
//!
//! The seeds are drawn by [`txn_suite_config`] from a generator of their own, apart from
//! [`suite_config`](crate::suite_config): the suite's other seeds keep their shape.

use crate::checker::transactions::{check_transactions, ClientTxnOutcome, TxnHistory, TxnRecorder};
use crate::checker::{LogSnapshot, Violation, ViolationKind};
use crate::cluster::{Cluster, ClusterStats, NetEvent};
use crate::config::{ClusterConfig, TopicSpec, SIM_EPOCH};
use crate::faults::FaultConfig;
use crate::txn_coordinator::TxnConfig;
use odradek_core::rng::Rng;
use odradek_core::{
    Config, ConnId, GroupMetadata, Instant, Output, ProducerCore, Record, RecordId, SendErrorKind,
    TransactionError, TxnErrorClass, TxnOffset, TxnOp,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// The bits of a [`ConnId`] that say which producer of the run owns it.
const PRODUCER_SHIFT: u32 = 48;

/// One planned transaction.
#[derive(Clone, Debug)]
pub struct PlannedTxn {
    /// The records to send in it.
    pub records: Vec<Record>,
    /// Offsets of group `g` to send with it.
    pub offsets: Vec<TxnOffset>,
    /// End it with `abort_transaction` (else `commit_transaction`).
    pub abort: bool,
    /// Virtual time to wait after it ended before the next one begins.
    pub gap: Duration,
}

/// A transactional run: the cluster, the producers' configuration and their plans.
#[derive(Clone, Debug)]
pub struct TxnSimConfig {
    /// The run's seed.
    pub seed: u64,
    /// The cluster (transactions enabled).
    pub cluster: ClusterConfig,
    /// Both producers' configuration (the same `transactional.id`).
    pub producer: Config,
    /// The first producer's transactions.
    pub first: Vec<PlannedTxn>,
    /// The second producer: when it starts (after the run's start) and its transactions.
    pub second: Option<(Duration, Vec<PlannedTxn>)>,
    /// Virtual time after which a run whose producers have not all closed is stuck.
    pub max_virtual_time: Duration,
    /// Inputs after which the run counts as a livelock.
    pub max_steps: u64,
    /// Keep a trace.
    pub trace: bool,
    /// No faults at all (neither the cluster's nor the coordinators'): alone with its
    /// transactional.id, the producer must then commit every transaction it meant to commit.
    pub healthy: bool,
    /// The user calls `abort_transaction` while a commit's outcome is unknown (as a Java user
    /// does after `commitTransaction` timed out): the core must refuse it (KAFKA-17754).
    pub impatient: bool,
}

/// What a transactional run amounted to.
#[derive(Clone, Debug)]
pub struct TxnRunReport {
    /// The seed.
    pub seed: u64,
    /// Whether the cluster finalized transactions v2.
    pub v2: bool,
    /// Transactions whose commit the producer saw succeed.
    pub committed: usize,
    /// Transactions whose abort the producer saw succeed.
    pub aborted: usize,
    /// Transactions whose outcome the producer never learned (fenced, closed, failed).
    pub unknown: usize,
    /// Producers told they were fenced.
    pub fenced: usize,
    /// The only producer with its transactional.id failed fatally (a violation too).
    pub alone_fatal: bool,
    /// Records `send` accepted.
    pub sent: usize,
    /// What the cluster did and suffered.
    pub stats: ClusterStats,
    /// Broken promises.
    pub violations: Vec<Violation>,
    /// The producers' transactions, as checked.
    pub history: TxnHistory,
    /// The trace, when asked for.
    pub trace: Vec<String>,
}

impl TxnRunReport {
    /// The one command that replays this seed.
    pub fn replay_command(&self) -> String {
        txn_replay_command(self.seed)
    }
}

/// The command that replays transactional seed `seed` of the suite with a trace.
pub fn txn_replay_command(seed: u64) -> String {
    format!("ODRADEK_SIM_TXN_SEED={seed} cargo test -p odradek-sim --test sim -- --nocapture")
}

/// The transactional run of suite seed `seed`: 2–4 brokers, topics `a` (3 partitions) and
/// `b` (2); transactions v2 in half of the seeds (v1 otherwise); in three seeds of four the
/// cluster's chaos faults (leader moves and crashes through the whole run) and the
/// coordinators' (moves, crashes, lost EndTxn answers); in half of the seeds a second
/// producer with the same `transactional.id`.
pub fn txn_suite_config(seed: u64) -> TxnSimConfig {
    let mut rng = Rng::new(seed ^ 0x7A5C_0000_0023_0005);
    let mut cluster = ClusterConfig::new(seed ^ 0x7A5C_C1A5_7E55);
    cluster.brokers = 2 + rng.below(3) as i32;
    cluster.topics = vec![TopicSpec::new("a", 3), TopicSpec::new("b", 2)];
    let chaos = rng.below(4) != 0;
    if chaos {
        cluster.faults = FaultConfig {
            horizon: Duration::from_secs(20),
            mean_interval: Some(Duration::from_millis(400)),
            ..FaultConfig::chaos()
        };
    }
    cluster.transactions = TxnConfig::for_seed(seed, 0.5, chaos);
    let mut producer = Config::new(cluster.bootstrap_servers());
    producer.request_timeout = Duration::from_secs(5);
    producer.transactional_id = Some("txn-app".to_owned());
    let n = 6 + rng.below(9) as usize;
    let first = plan(&mut rng, 0, n);
    let second = (rng.below(2) == 0).then(|| {
        let at = Duration::from_millis(500 + rng.below(8000));
        let n = 3 + rng.below(6) as usize;
        (at, plan(&mut rng, 1, n))
    });
    TxnSimConfig {
        seed,
        cluster,
        producer,
        first,
        second,
        max_virtual_time: Duration::from_secs(1800),
        max_steps: 1_000_000,
        trace: false,
        healthy: !chaos,
        impatient: true,
    }
}

/// `n` transactions of producer `who`: 1–10 records each over `a` and `b` (keyed, unkeyed or
/// with an explicit partition), a third with offsets, a quarter aborted.
fn plan(rng: &mut Rng, who: usize, n: usize) -> Vec<PlannedTxn> {
    (0..n)
        .map(|t| {
            let count = 1 + rng.below(10) as usize;
            let records = (0..count)
                .map(|i| {
                    let topic = if rng.below(3) == 0 { "b" } else { "a" };
                    let mut r = Record::new(topic).value(format!("p{who}-t{t}-r{i}"));
                    match rng.below(3) {
                        0 => r = r.key(format!("k{}", rng.below(8))),
                        1 => r = r.partition(rng.below(if topic == "a" { 3 } else { 2 }) as i32),
                        _ => {}
                    }
                    r
                })
                .collect();
            let offsets = if rng.below(3) == 0 {
                vec![TxnOffset {
                    topic: "in".to_owned(),
                    partition: rng.below(2) as i32,
                    offset: (who * 1000 + t) as i64,
                    leader_epoch: None,
                    metadata: None,
                }]
            } else {
                Vec::new()
            };
            PlannedTxn {
                records,
                offsets,
                abort: rng.below(4) == 0,
                gap: Duration::from_millis(rng.below(1500)),
            }
        })
        .collect()
}

/// Where a producer stands in its plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not started yet (the second producer before its time).
    Waiting,
    /// `init_transactions` to call.
    Init,
    /// Between transactions.
    Idle,
    /// Sending record `i` of the current transaction.
    Sending(usize),
    /// Records sent: offsets (if any), then the end.
    Ending,
    /// `close` called.
    Closing,
}

struct Producer {
    who: usize,
    core: ProducerCore,
    plan: Vec<PlannedTxn>,
    txn: usize,
    phase: Phase,
    work_at: Option<Instant>,
    awaiting: Option<TxnOp>,
    offsets_sent: bool,
    /// An abort was called for the current transaction.
    aborting: bool,
    recorder: TxnRecorder,
    /// When each transaction of `recorder` began.
    begins: Vec<Instant>,
    /// Record ids of the open transaction.
    txn_ids: Vec<RecordId>,
    /// Record ids of transactions the producer saw commit.
    committed_ids: Vec<RecordId>,
    /// Outcomes per record id: (delivered, failed).
    outcomes: BTreeMap<RecordId, (u32, u32)>,
    closed: bool,
    fenced: bool,
    /// A fatal error ended it (fenced or not).
    fatal: Option<TransactionError>,
    /// `abort_transaction` was tried during the current commit's unknown outcome.
    tried_abort: bool,
    committed: usize,
    aborted: usize,
    sent: usize,
}

struct Run {
    cluster: Cluster,
    violations: Vec<Violation>,
}

impl Run {
    fn violation(&mut self, kind: ViolationKind, description: String) {
        let d = description.clone();
        self.cluster.note(|| format!("VIOLATION: {d}"));
        self.violations.push(Violation { kind, description });
    }
}

impl Producer {
    fn note(&self, run: &mut Run, what: impl FnOnce() -> String) {
        let who = self.who;
        run.cluster.note(|| format!("producer {who}: {}", what()));
    }

    fn close(&mut self, run: &mut Run, now: Instant) {
        if self.phase == Phase::Closing {
            return;
        }
        self.note(run, || "close".to_owned());
        self.phase = Phase::Closing;
        self.work_at = None;
        self.core.close(now);
    }

    /// A call was refused (the `Err` of the call).
    fn refused(&mut self, run: &mut Run, what: &str, e: TransactionError, now: Instant) {
        self.note(run, || format!("{what} refused: {e}"));
        if e.class() == TxnErrorClass::Fatal
            || matches!(
                self.core.transaction_state(),
                odradek_core::TransactionState::FatalError(_)
            )
        {
            self.fenced |= e.is_fenced();
            self.fatal.get_or_insert(e);
            self.recorder.ended(ClientTxnOutcome::Unknown);
            self.close(run, now);
        } else if e.class() == TxnErrorClass::Abortable && what != "abort" {
            self.abort(run, now);
        } else {
            run.violation(
                ViolationKind::Protocol,
                format!(
                    "producer {}: {what} refused in a usable state: {e}",
                    self.who
                ),
            );
            self.recorder.ended(ClientTxnOutcome::Unknown);
            self.close(run, now);
        }
    }

    fn abort(&mut self, run: &mut Run, now: Instant) {
        self.aborting = true;
        self.phase = Phase::Ending;
        self.work_at = None;
        self.note(run, || "abort_transaction".to_owned());
        match self.core.abort_transaction(now) {
            Ok(()) => self.awaiting = Some(TxnOp::Abort),
            Err(e) => self.refused(run, "abort", e, now),
        }
    }

    /// The next step of the plan, due now.
    fn act(&mut self, run: &mut Run, now: Instant) {
        self.work_at = None;
        match self.phase {
            Phase::Waiting => {
                self.phase = Phase::Init;
                self.work_at = Some(now);
            }
            Phase::Init => {
                self.note(run, || "init_transactions".to_owned());
                match self.core.init_transactions(now) {
                    Ok(()) => self.awaiting = Some(TxnOp::Init),
                    Err(e) => self.refused(run, "init", e, now),
                }
            }
            Phase::Idle => {
                if self.txn >= self.plan.len() {
                    self.close(run, now);
                    return;
                }
                self.note(run, || format!("begin_transaction {}", self.txn));
                match self.core.begin_transaction() {
                    Ok(()) => {
                        self.recorder.begin();
                        self.begins.push(now);
                        self.txn_ids.clear();
                        self.offsets_sent = false;
                        self.aborting = false;
                        self.tried_abort = false;
                        self.phase = Phase::Sending(0);
                        self.work_at = Some(now);
                    }
                    Err(e) => self.refused(run, "begin", e, now),
                }
            }
            Phase::Sending(i) => {
                let plan = &self.plan[self.txn];
                if i >= plan.records.len() {
                    self.phase = Phase::Ending;
                    self.work_at = Some(now);
                    return;
                }
                let record = plan.records[i].clone();
                match self.core.send(record.clone(), now) {
                    Ok(id) => {
                        self.sent += 1;
                        self.txn_ids.push(id);
                        self.outcomes.entry(id).or_default();
                        self.recorder.sent(record);
                        self.phase = Phase::Sending(i + 1);
                        self.work_at = Some(now);
                    }
                    Err(e) if e.kind == SendErrorKind::BufferFull => {
                        self.work_at = Some(now + Duration::from_millis(10));
                    }
                    Err(e) => match e.kind {
                        SendErrorKind::Transaction(te) => self.refused(run, "send", te, now),
                        kind => run.violation(
                            ViolationKind::WrongRefusal,
                            format!("producer {}: send refused: {kind}", self.who),
                        ),
                    },
                }
            }
            Phase::Ending => {
                let plan = &self.plan[self.txn];
                if !plan.offsets.is_empty() && !self.offsets_sent {
                    self.offsets_sent = true;
                    let offsets = plan.offsets.clone();
                    for o in &offsets {
                        self.recorder.offsets("g", &o.topic, o.partition, o.offset);
                    }
                    self.note(run, || "send_offsets_to_transaction".to_owned());
                    match self.core.send_offsets_to_transaction(
                        offsets,
                        GroupMetadata::new("g"),
                        now,
                    ) {
                        Ok(()) => self.awaiting = Some(TxnOp::SendOffsets),
                        Err(e) => self.refused(run, "send_offsets", e, now),
                    }
                } else if plan.abort {
                    self.abort(run, now);
                } else {
                    self.note(run, || "commit_transaction".to_owned());
                    match self.core.commit_transaction(now) {
                        Ok(()) => self.awaiting = Some(TxnOp::Commit),
                        Err(e) => self.refused(run, "commit", e, now),
                    }
                }
            }
            Phase::Closing => {}
        }
    }

    /// The end of the current transaction as the producer saw it; the next begins after its
    /// gap.
    fn ended(&mut self, outcome: ClientTxnOutcome, now: Instant) {
        self.recorder.ended(outcome);
        match outcome {
            ClientTxnOutcome::Committed => {
                self.committed += 1;
                self.committed_ids.append(&mut self.txn_ids);
            }
            ClientTxnOutcome::Aborted => self.aborted += 1,
            ClientTxnOutcome::Unknown => {}
        }
        let gap = self.plan[self.txn].gap;
        self.txn += 1;
        self.phase = Phase::Idle;
        self.work_at = Some(now + gap);
    }

    fn transaction_output(
        &mut self,
        run: &mut Run,
        op: TxnOp,
        result: Result<(), TransactionError>,
        now: Instant,
    ) {
        self.note(run, || format!("Transaction {op:?}: {result:?}"));
        if self.awaiting != Some(op) {
            if self.phase != Phase::Closing {
                run.violation(
                    ViolationKind::Protocol,
                    format!(
                        "producer {}: Output::Transaction {op:?} ({result:?}) while awaiting {:?}",
                        self.who, self.awaiting
                    ),
                );
            }
            return;
        }
        self.awaiting = None;
        if self.phase == Phase::Closing {
            return;
        }
        let err = match result {
            Ok(()) => {
                match op {
                    TxnOp::Init => {
                        self.phase = Phase::Idle;
                        self.work_at = Some(now);
                    }
                    TxnOp::SendOffsets => self.work_at = Some(now),
                    TxnOp::Commit => self.ended(ClientTxnOutcome::Committed, now),
                    TxnOp::Abort => self.ended(ClientTxnOutcome::Aborted, now),
                    _ => {}
                }
                return;
            }
            Err(e) => e,
        };
        self.fenced |= err.is_fenced();
        match (op, err.class()) {
            (TxnOp::Init, TxnErrorClass::Retriable) => {
                self.work_at = Some(now + Duration::from_millis(100));
            }
            (TxnOp::SendOffsets | TxnOp::Commit, TxnErrorClass::Abortable) => self.abort(run, now),
            (_, class) => {
                if class == TxnErrorClass::Fatal {
                    self.fatal.get_or_insert(err);
                }
                self.recorder.ended(ClientTxnOutcome::Unknown);
                self.close(run, now);
            }
        }
    }

    /// An impatient user: while the commit's outcome is unknown, `abort_transaction` (which
    /// must be refused: the commit may have landed, KAFKA-17754), once per commit.
    fn impatient(&mut self, run: &mut Run, now: Instant) {
        if self.awaiting != Some(TxnOp::Commit)
            || self.tried_abort
            || self.core.transaction_state()
                != (odradek_core::TransactionState::Committing {
                    outcome_unknown: true,
                })
        {
            return;
        }
        self.tried_abort = true;
        self.note(run, || {
            "abort_transaction while the commit's outcome is unknown".to_owned()
        });
        if self.core.abort_transaction(now).is_ok() {
            run.violation(
                ViolationKind::Protocol,
                format!(
                    "producer {}: abort_transaction accepted while a commit's outcome was \
                     unknown (KAFKA-17754)",
                    self.who
                ),
            );
            // The core took the abort: follow it (its Commit ended with an error).
            self.awaiting = Some(TxnOp::Abort);
            self.aborting = true;
        }
    }

    fn drain(&mut self, run: &mut Run) {
        let now = run.cluster.now();
        let tag = (self.who as u64) << PRODUCER_SHIFT;
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Connect { conn, address } => {
                    run.cluster.connect(ConnId(conn.0 | tag), &address)
                }
                Output::Transmit { conn, data } => {
                    run.cluster.transmit(ConnId(conn.0 | tag), &data)
                }
                Output::Disconnect { conn } => run.cluster.disconnect(ConnId(conn.0 | tag)),
                Output::Delivered(batch) => {
                    for d in batch {
                        self.outcome(run, d.id, true);
                    }
                }
                Output::Failed { id, error, .. } => {
                    self.note(run, || format!("Failed {id:?}: {error}"));
                    self.outcome(run, id, false);
                }
                Output::Transaction { op, result } => self.transaction_output(run, op, result, now),
                Output::Closed => {
                    self.note(run, || "Closed".to_owned());
                    self.closed = true;
                }
            }
        }
    }

    fn outcome(&mut self, run: &mut Run, id: RecordId, delivered: bool) {
        match self.outcomes.get_mut(&id) {
            Some(o) if delivered => o.0 += 1,
            Some(o) => o.1 += 1,
            None => run.violation(
                ViolationKind::UnknownOutcome,
                format!("producer {}: outcome for {id:?}, never sent", self.who),
            ),
        }
    }

    /// After Closed: one outcome per record, committed records delivered.
    fn check(&self, run: &mut Run) {
        for (id, &(d, f)) in &self.outcomes {
            if d + f == 0 {
                run.violation(
                    ViolationKind::MissingOutcome,
                    format!("producer {}: {id:?} without an outcome", self.who),
                );
            } else if d + f > 1 {
                run.violation(
                    ViolationKind::DuplicateOutcome,
                    format!(
                        "producer {}: {id:?} got {d} deliveries, {f} failures",
                        self.who
                    ),
                );
            }
        }
        for id in &self.committed_ids {
            if self.outcomes.get(id).is_some_and(|o| o.0 == 0) {
                run.violation(
                    ViolationKind::UnexpectedFailure,
                    format!(
                        "producer {}: {id:?} failed, yet its transaction committed",
                        self.who
                    ),
                );
            }
        }
    }
}

/// Runs the transactional seed `seed` of the suite ([`txn_suite_config`]).
pub fn run_transactional(seed: u64, trace: bool) -> TxnRunReport {
    let mut config = txn_suite_config(seed);
    config.trace = trace;
    run_txn_config(&config)
}

/// Runs `config` (see the module docs).
pub fn run_txn_config(config: &TxnSimConfig) -> TxnRunReport {
    let mut cluster = Cluster::starting_at(config.cluster.clone(), SIM_EPOCH);
    if config.trace {
        cluster.enable_trace();
    }
    let mut run = Run {
        cluster,
        violations: Vec::new(),
    };
    let mut producers = Vec::new();
    let mut plans = vec![(Duration::ZERO, config.first.clone())];
    plans.extend(config.second.clone());
    for (who, (start, plan)) in plans.into_iter().enumerate() {
        let seed = config.seed ^ (who as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let core = match ProducerCore::new(config.producer.clone(), seed, SIM_EPOCH) {
            Ok(c) => c,
            Err(e) => {
                run.violation(
                    ViolationKind::Protocol,
                    format!("ProducerCore::new refused the configuration: {e}"),
                );
                continue;
            }
        };
        producers.push(Producer {
            who,
            core,
            plan,
            txn: 0,
            phase: Phase::Waiting,
            work_at: Some(SIM_EPOCH + start),
            awaiting: None,
            offsets_sent: false,
            aborting: false,
            recorder: TxnRecorder::default(),
            begins: Vec::new(),
            txn_ids: Vec::new(),
            committed_ids: Vec::new(),
            outcomes: BTreeMap::new(),
            closed: false,
            fenced: false,
            fatal: None,
            tried_abort: false,
            committed: 0,
            aborted: 0,
            sent: 0,
        });
    }
    let deadline = SIM_EPOCH + config.max_virtual_time;
    let mut steps: u64 = 0;
    while producers.iter().any(|p| !p.closed) {
        for p in &mut producers {
            p.drain(&mut run);
            if config.impatient && !p.closed {
                let now = run.cluster.now();
                p.impatient(&mut run, now);
                p.drain(&mut run);
            }
        }
        if producers.iter().all(|p| p.closed) {
            break;
        }
        steps += 1;
        let now = run.cluster.now();
        if steps > config.max_steps || now > deadline {
            let states: Vec<String> = producers
                .iter()
                .map(|p| {
                    format!(
                        "producer {} {:?} {:?} awaiting {:?}, {} pending",
                        p.who,
                        p.phase,
                        p.core.transaction_state(),
                        p.awaiting,
                        p.core.pending_records()
                    )
                })
                .collect();
            run.violation(
                ViolationKind::Livelock,
                format!(
                    "not closed after {steps} steps, {:?}: {states:?}",
                    now - SIM_EPOCH
                ),
            );
            break;
        }
        // The earliest of: the cluster's next event, a producer's plan, a producer's timer.
        let mut best: Option<(Instant, u8, usize)> =
            run.cluster.next_event_time().map(|t| (t, 0, 0));
        for (i, p) in producers.iter().enumerate() {
            if p.closed {
                continue;
            }
            let cands = [
                p.work_at.map(|t| (t.max(now), 1, i)),
                p.core.poll_timeout().map(|(t, _)| (t.max(now), 2, i)),
            ];
            for c in cands.into_iter().flatten() {
                if best.map_or(true, |b| c < b) {
                    best = Some(c);
                }
            }
        }
        let Some((at, kind, i)) = best else {
            run.violation(
                ViolationKind::Livelock,
                "nothing scheduled and a producer not closed".to_owned(),
            );
            break;
        };
        match kind {
            0 => {
                let ev = run.cluster.step();
                let now = run.cluster.now();
                let route = |c: ConnId| {
                    (
                        (c.0 >> PRODUCER_SHIFT) as usize,
                        ConnId(c.0 & ((1 << PRODUCER_SHIFT) - 1)),
                    )
                };
                match ev {
                    Some(NetEvent::Connected(c)) => {
                        let (w, c) = route(c);
                        producers[w].core.handle_connected(c, now)
                    }
                    Some(NetEvent::Disconnected(c)) => {
                        let (w, c) = route(c);
                        producers[w].core.handle_disconnected(c, now)
                    }
                    Some(NetEvent::Received(c, data)) => {
                        let (w, c) = route(c);
                        producers[w].core.handle_received(c, &data, now)
                    }
                    Some(NetEvent::Written(c, n)) => {
                        let (w, c) = route(c);
                        producers[w].core.handle_written(c, n, now)
                    }
                    None => {}
                }
            }
            1 => {
                run.cluster.advance_to(at);
                producers[i].act(&mut run, at);
            }
            _ => {
                run.cluster.advance_to(at);
                producers[i].core.handle_timeout(at);
            }
        }
    }
    for p in &mut producers {
        p.drain(&mut run);
        if p.closed {
            p.check(&mut run);
        }
    }
    // The coordinators finish their work (markers waiting for a leader that is down are
    // written once it is back), as a real cluster would after its clients left: at most two
    // minutes of virtual time; the producers are gone, so the cluster says nothing to them.
    if producers.iter().all(|p| p.closed) {
        let until = run.cluster.now() + Duration::from_secs(120);
        while run.cluster.next_event_time().is_some_and(|t| t <= until) {
            if let Some(ev) = run.cluster.step() {
                run.violation(
                    ViolationKind::Close,
                    format!("the cluster spoke to a closed producer: {ev:?}"),
                );
            }
        }
    }
    // Alone with its transactional.id, a producer is never fenced nor fails fatally: no
    // other instance bumps its epoch, and the faults (moves, crashes, lost answers, its own
    // records failing) are retriable or abortable.
    let alone_fatal = producers.len() == 1 && producers[0].fatal.is_some();
    if alone_fatal {
        run.violation(
            ViolationKind::TxnFatalAlone,
            format!(
                "the producer alone with its transactional.id failed fatally: {:?}",
                producers[0].fatal
            ),
        );
    }
    if config.healthy && producers.len() == 1 {
        let p = &producers[0];
        let meant = p.plan.iter().filter(|t| !t.abort).count();
        if p.committed != meant || p.fatal.is_some() {
            run.violation(
                ViolationKind::UnexpectedFailure,
                format!(
                    "a healthy cluster, the producer alone with its transactional.id: {} of {meant} \
                     commits committed ({} aborted, fatal: {:?})",
                    p.committed, p.aborted, p.fatal
                ),
            );
        }
    }
    let open = run.cluster.open_connections();
    if producers.iter().all(|p| p.closed) && !open.is_empty() {
        run.violation(
            ViolationKind::Close,
            format!("connections still open after every producer closed: {open:?}"),
        );
    }
    let logs = LogSnapshot::of(&run.cluster);
    let snapshot = run.cluster.txn_snapshot();
    // The producers' transactions in the order they began (the second producer's may all
    // come first: its init can complete before the first's).
    let mut began = Vec::new();
    let (mut committed, mut aborted, mut fenced, mut sent) = (0, 0, 0, 0);
    for p in producers {
        committed += p.committed;
        aborted += p.aborted;
        fenced += usize::from(p.fenced);
        sent += p.sent;
        let who = p.who;
        let txns = p.recorder.finish().transactions;
        began.extend(p.begins.into_iter().zip(txns).map(|(at, t)| (at, who, t)));
    }
    began.sort_by_key(|(at, who, _)| (*at, *who));
    let history = TxnHistory {
        transactions: began.into_iter().map(|(_, _, t)| t).collect(),
    };
    let unknown = history
        .transactions
        .iter()
        .filter(|t| t.outcome == ClientTxnOutcome::Unknown)
        .count();
    run.violations
        .extend(check_transactions(&history, &logs, &snapshot));
    run.violations.extend(
        run.cluster
            .protocol_violations()
            .iter()
            .map(|p| Violation {
                kind: ViolationKind::Protocol,
                description: p.clone(),
            })
            .collect::<Vec<_>>(),
    );
    TxnRunReport {
        seed: config.seed,
        v2: config.cluster.transactions.is_v2(),
        committed,
        aborted,
        unknown,
        fenced,
        alone_fatal,
        sent,
        stats: run.cluster.stats().clone(),
        violations: run.violations,
        history,
        trace: run.cluster.take_trace(),
    }
}
