//! [`Simulation`]: one whole run — a real [`ProducerCore`] driven by its drive contract
//! against a [`Cluster`], a [`Workload`], and the checker at the end ([`RunReport`]).

use crate::checker::{
    check, CheckOptions, History, LogSnapshot, Observed, RefusedRecord, SentRecord, Violation,
    ViolationKind,
};
use crate::cluster::{Cluster, ClusterStats, NetEvent};
use crate::config::{SimConfig, SIM_EPOCH};
use crate::workload::{Action, Workload};
use odradek_core::{Acks, Instant, Output, PartitionerConfig, ProducerCore, Record, SendErrorKind};
use std::time::Duration;

/// The result of one run.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The run's seed.
    pub seed: u64,
    /// One line describing the configuration.
    pub summary: String,
    /// Records accepted by `send`.
    pub sent: usize,
    /// Records delivered.
    pub delivered: usize,
    /// Records failed.
    pub failed: usize,
    /// Records refused by `send` for good (too large, ...; `BufferFull` refusals are retried
    /// and not counted).
    pub refused: usize,
    /// Times `send` answered `BufferFull` (the record was sent again later).
    pub buffer_full: usize,
    /// Extra copies in the logs (all explained unless a violation says otherwise).
    pub duplicates: usize,
    /// Failed records found in a log anyway (explained).
    pub failed_but_written: usize,
    /// Broken promises; empty when the run passed.
    pub violations: Vec<Violation>,
    /// Inputs fed to the core.
    pub steps: u64,
    /// Virtual time from start to `Closed` (or to the end of the run).
    pub virtual_duration: Duration,
    /// What the cluster did and suffered.
    pub stats: ClusterStats,
    /// What the producer did.
    pub history: History,
    /// The brokers' logs at the end.
    pub logs: LogSnapshot,
    /// The producer's transactions (empty until the driver records them) and what the
    /// transaction coordinators kept, when the cluster has transactions
    /// ([`ClusterConfig::transactions`](crate::ClusterConfig::transactions)); both are
    /// checked with [`check_transactions`](crate::check_transactions).
    pub transactions: Option<(crate::TxnHistory, crate::TxnSnapshot)>,
    /// The trace, when [`SimConfig::trace`] was set.
    pub trace: Vec<String>,
    /// Records checked by the healed-cluster promise (sent after it healed and settled).
    pub healed_checked: usize,
    /// Retries whose backoff was checked.
    pub backoff_checked: usize,
    /// NOT_LEADER answers whose metadata refresh was checked.
    pub metadata_checked: usize,
    /// Deliveries answered DUPLICATE_SEQUENCE_NUMBER, found in the log.
    pub duplicate_deliveries: usize,
    /// Inputs (sends, network events) given to the core while a deadline it named was
    /// already due: a late timer ([`SimConfig::timer_lateness`]) let them come first.
    pub overdue_inputs: u64,
}

impl RunReport {
    /// Whether every promise held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The one command that replays this seed of the suite.
    pub fn replay_command(&self) -> String {
        crate::config::replay_command(self.seed)
    }
}

/// One simulated run. Build it from a [`SimConfig`], then [`run`](Simulation::run) it.
///
/// ```no_run
/// use odradek_sim::{FaultConfig, SimConfig, Simulation};
/// let mut config = SimConfig::new(7);
/// config.cluster.faults = FaultConfig::chaos();
/// let report = Simulation::new(config).run();
/// assert!(report.passed(), "{:?}\nreplay: {}", report.violations, report.replay_command());
/// ```
#[derive(Debug, Clone)]
pub struct Simulation {
    config: SimConfig,
}

impl Simulation {
    /// A run of `config`.
    pub fn new(config: SimConfig) -> Self {
        Simulation { config }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Runs the workload drawn from the configuration's seed and [`SimConfig::workload`].
    pub fn run(&self) -> RunReport {
        let topics: Vec<(String, i32)> = self
            .config
            .cluster
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions))
            .collect();
        let workload =
            Workload::generate(&self.config.workload, &topics, self.config.seed, SIM_EPOCH);
        self.run_workload(&workload)
    }

    /// Runs `workload` (its times should start at [`SIM_EPOCH`]).
    pub fn run_workload(&self, workload: &Workload) -> RunReport {
        Runner::new(&self.config).run(workload)
    }
}

/// From when records must be delivered in a run of `config` whose cluster did `stats`: a
/// cluster that heals ([`FaultConfig::heal`](crate::FaultConfig::heal)), with no broker down
/// for good, once its horizon and its last restart are past by the settling time
/// ([`settle_time`](crate::variation::settle_time)). Only for producers with 3 retries or
/// more (a leader that moved before the heal may cost a retry); `None` otherwise.
pub fn healed_at(config: &SimConfig, stats: &ClusterStats) -> Option<Instant> {
    let f = &config.cluster.faults;
    if !f.heal || f.permanent_crash || stats.permanent_crashes > 0 || config.producer.retries < 3 {
        return None;
    }
    let quiet = stats
        .last_crash_change
        .map_or(SIM_EPOCH + f.horizon, |t| t.max(SIM_EPOCH + f.horizon));
    Some(quiet + crate::variation::settle_time(config))
}

/// A line describing a configuration, for reports.
pub fn describe(config: &SimConfig) -> String {
    let p = &config.producer;
    let c = &config.cluster;
    format!(
        "brokers {} topics {:?} produce v{:?} acks {:?} compression {:?} linger {:?} batch {}B/{} \
         in-flight {} retries {} backoff {:?} req-timeout {:?} delivery-timeout {:?} buffer {} \
         partitioner {:?} idempotence {:?} (in force: {}) records {} faults[{}]",
        c.brokers,
        c.topics
            .iter()
            .map(|t| (t.name.as_str(), t.partitions))
            .collect::<Vec<_>>(),
        c.versions.produce,
        p.acks,
        p.compression,
        p.linger,
        p.batch_size,
        p.batch_num_messages,
        p.max_in_flight_requests_per_connection,
        p.retries,
        p.retry_backoff,
        p.request_timeout,
        p.delivery_timeout,
        p.buffer_memory,
        p.partitioner,
        p.enable_idempotence,
        p.idempotence_enabled(),
        config.workload.records,
        {
            let f = &c.faults;
            format!(
                "every {:?} lm{}/cr{}/rs{} slow {:.2} lost {:.2} stall {:.3} err {:.2} \
                 state-loss {:.2} hostile {:?} initial-seq {:?} dup-answer {:.2} rollback {:.2} \
                 fence {:.3} caps {:?}/{:?} heal {} permanent-crash {} tail {}@{:?} \
                 hints {:.2} refused {:.3}",
                f.mean_interval,
                f.leader_move_weight,
                f.broker_crash_weight,
                f.connection_reset_weight,
                f.slow_response_rate,
                f.lost_response_rate,
                f.stall_rate,
                f.error_rate,
                f.producer_state_loss_rate,
                f.hostile,
                f.initial_sequence,
                f.duplicate_answer_rate,
                f.state_rollback_rate,
                f.fence_rate,
                f.max_batch_records,
                f.max_batch_bytes,
                f.heal,
                f.permanent_crash,
                config.workload.tail_records,
                config.workload.tail_at,
                f.leader_hint_rate,
                f.invalid_record_rate
            )
        }
    )
}

struct Runner<'a> {
    config: &'a SimConfig,
    cluster: Cluster,
    history: History,
    violations: Vec<Violation>,
    closed: bool,
    close_called: bool,
    /// When the close's timeout ([`SimConfig::close_timeout`]) runs out, once `close` was
    /// called; then when `close_now` was called.
    close_now_at: Option<odradek_core::Instant>,
    closed_now_at: Option<odradek_core::Instant>,
    blocked: bool,
    /// Since when `send` has refused the pending record for a full buffer.
    blocked_since: Option<odradek_core::Instant>,
    /// The user gave up on a record for a full buffer: it gives up on the next at once.
    gave_up: bool,
    buffer_full: usize,
    /// Draws how late each deadline fires ([`SimConfig::timer_lateness`]).
    late_rng: odradek_core::rng::Rng,
    /// The deadline the core named last and when it fires (late by a draw).
    late_timer: Option<(odradek_core::Instant, odradek_core::Instant)>,
    /// Inputs that met a deadline already due (a late timer let them come first).
    overdue_inputs: u64,
    /// The producer's transactions as the driver saw them: where the producer side records
    /// `begin_transaction`, the records sent in it, `send_offsets_to_transaction` and how each
    /// ended, for [`check_transactions`](crate::check_transactions).
    txn: crate::TxnRecorder,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Next {
    Net,
    Work,
    Timer,
    CloseNow,
}

impl<'a> Runner<'a> {
    fn new(config: &'a SimConfig) -> Self {
        let mut cluster = Cluster::starting_at(config.cluster.clone(), SIM_EPOCH);
        if config.trace {
            cluster.enable_trace();
        }
        if config.producer.idempotence_enabled() {
            cluster.enable_wire_log();
        }
        cluster.enable_client_log();
        Runner {
            config,
            cluster,
            history: History::default(),
            violations: Vec::new(),
            closed: false,
            close_called: false,
            close_now_at: None,
            closed_now_at: None,
            blocked: false,
            blocked_since: None,
            gave_up: false,
            buffer_full: 0,
            late_rng: odradek_core::rng::Rng::new(config.seed ^ 0x1A7E_71E5_0000_0022),
            late_timer: None,
            overdue_inputs: 0,
            txn: crate::TxnRecorder::default(),
        }
    }

    fn livelock(&mut self, what: String) {
        let what2 = what.clone();
        self.cluster.note(|| format!("LIVELOCK: {what2}"));
        self.violations.push(Violation {
            kind: ViolationKind::Livelock,
            description: what,
        });
    }

    fn drain(&mut self, core: &mut ProducerCore) {
        let now = self.cluster.now();
        // Promise: `buffer.memory` bounds what the core holds after every input (but one
        // record alone, the documented exception).
        let (used, budget) = (core.buffered_bytes(), core.config().buffer_memory);
        if used > budget && core.pending_records() > 1 {
            self.violations.push(Violation {
                kind: ViolationKind::BufferMemory,
                description: format!(
                    "buffered {used} bytes > buffer.memory {budget} with {} records held",
                    core.pending_records()
                ),
            });
        }
        while let Some(out) = core.poll_output() {
            let out = match out {
                Output::Delivered(batch) => {
                    self.blocked = false;
                    self.blocked_since = None;
                    for d in batch {
                        let (id, metadata) = (d.id, &d.metadata);
                        self.cluster.note(|| {
                            format!(
                                "core: Delivered {id:?} at {}-{}@{}",
                                metadata.topic, metadata.partition, metadata.offset
                            )
                        });
                        let observed = Observed::Delivered {
                            id: d.id,
                            metadata: d.metadata,
                            record: d.record,
                        };
                        self.history.outputs.push((now, observed));
                    }
                    continue;
                }
                out => out,
            };
            let observed = match &out {
                Output::Connect { .. } | Output::Transmit { .. } | Output::Disconnect { .. } => {
                    if self.config.trace {
                        let line = match &out {
                            Output::Connect { conn, address } => {
                                format!("core: Connect {conn:?} {address}")
                            }
                            Output::Transmit { conn, data } => format!(
                                "core: Transmit {conn:?} {} bytes",
                                data.iter().map(|d| d.len()).sum::<usize>()
                            ),
                            Output::Disconnect { conn } => format!("core: Disconnect {conn:?}"),
                            _ => String::new(),
                        };
                        self.cluster.note(|| line);
                    }
                    self.cluster.apply(&out);
                    Observed::Network
                }
                Output::Delivered(_) | Output::Transaction { .. } => continue,
                Output::Failed { id, error, record } => {
                    self.blocked = false;
                    self.blocked_since = None;
                    self.cluster
                        .note(|| format!("core: Failed {id:?}: {error}"));
                    Observed::Failed {
                        id: *id,
                        error: error.clone(),
                        record: record.clone(),
                    }
                }
                Output::Closed => {
                    self.cluster.note(|| "core: Closed".to_owned());
                    self.closed = true;
                    Observed::Closed
                }
            };
            self.history.outputs.push((now, observed));
        }
    }

    /// When the deadline `at` the core named fires: `at`, late by a draw of up to
    /// [`SimConfig::timer_lateness`], the same draw for as long as the core names `at`.
    fn fires_at(&mut self, at: odradek_core::Instant) -> odradek_core::Instant {
        let max = self.config.timer_lateness;
        if max.is_zero() {
            return at;
        }
        match self.late_timer {
            Some((named, fires)) if named == at => fires,
            _ => {
                let nanos = self.late_rng.below(max.as_nanos() as u64 + 1);
                let fires = at + Duration::from_nanos(nanos);
                self.late_timer = Some((at, fires));
                fires
            }
        }
    }

    fn send(&mut self, core: &mut ProducerCore, record: Record) -> Option<Record> {
        let now = self.cluster.now();
        match core.send(record.clone(), now) {
            Ok(id) => {
                self.cluster.note(|| {
                    format!(
                        "work: send {id:?} to {} (partition {:?})",
                        record.topic, record.partition
                    )
                });
                self.history.sent.push(SentRecord {
                    id,
                    record,
                    at: now,
                });
                None
            }
            Err(e) if e.kind == SendErrorKind::BufferFull && !self.close_called => {
                self.cluster
                    .note(|| "work: send refused, buffer full".to_owned());
                self.buffer_full += 1;
                self.blocked = true;
                self.blocked_since.get_or_insert(now);
                Some(e.record)
            }
            Err(e) => {
                let kind = e.kind.clone();
                self.cluster.note(|| format!("work: send refused: {kind}"));
                self.history.refused.push(RefusedRecord {
                    record: e.record,
                    kind: e.kind,
                    at: now,
                    after_close: self.close_called,
                });
                None
            }
        }
    }

    fn run(mut self, workload: &Workload) -> RunReport {
        let config = self.config;
        let start = SIM_EPOCH;
        let mut core = match ProducerCore::new(config.producer.clone(), config.seed, start) {
            Ok(c) => c,
            Err(e) => {
                self.violations.push(Violation {
                    kind: ViolationKind::Protocol,
                    description: format!("ProducerCore::new refused the configuration: {e}"),
                });
                return self.finish(0, None);
            }
        };
        if let Some(seq) = config.cluster.faults.initial_sequence {
            // Long-lived producers: the brokers hold matching state (see FaultConfig).
            core.set_initial_sequence_for_testing(seq);
        }
        self.drain(&mut core);
        let mut steps = workload.steps.iter().peekable();
        let mut pending: Option<Record> = None;
        let mut n: u64 = 0;
        let deadline = start + config.max_virtual_time;
        while !self.closed {
            if n >= config.max_steps {
                let msg = format!(
                    "{n} steps without Closed ({} records pending)",
                    core.pending_records()
                );
                self.livelock(msg);
                break;
            }
            let now = self.cluster.now();
            if now > deadline {
                let msg = format!(
                    "no Closed after {:?} of virtual time ({} records pending)",
                    config.max_virtual_time,
                    core.pending_records()
                );
                self.livelock(msg);
                break;
            }
            // A user blocked on a full buffer gives up on the record after a while (as Java's
            // `max.block.ms` would), so a producer whose records can never get an outcome
            // (no delivery timeout, a broker down for good) still gets to `close`.
            let give_up = if self.gave_up {
                Duration::ZERO
            } else {
                config
                    .producer
                    .delivery_timeout
                    .map_or(Duration::ZERO, |d| d + config.producer.request_timeout)
                    + Duration::from_secs(60)
            };
            let work_at = if self.blocked {
                self.blocked_since.map(|t| t + give_up)
            } else if pending.is_some() {
                Some(now)
            } else {
                steps.peek().map(|s| s.at.max(now))
            };
            let timer = core.poll_timeout();
            let fires = timer.map(|(t, _)| self.fires_at(t).max(now));
            let candidates = [
                (self.cluster.next_event_time(), Next::Net),
                (work_at, Next::Work),
                (fires, Next::Timer),
                (self.close_now_at, Next::CloseNow),
            ];
            let Some((at, next)) = candidates
                .iter()
                .filter_map(|(t, k)| t.map(|t| (t, *k)))
                .min()
            else {
                let msg = format!(
                    "nothing scheduled, workload {}, {} records pending, not closed",
                    if self.blocked {
                        "blocked on a full buffer"
                    } else {
                        "done"
                    },
                    core.pending_records()
                );
                self.livelock(msg);
                break;
            };
            n += 1;
            if next != Next::Timer && timer.is_some_and(|(t, _)| t <= at) {
                self.overdue_inputs += 1;
            }
            match next {
                Next::Net => match self.cluster.step() {
                    Some(NetEvent::Connected(conn)) => {
                        core.handle_connected(conn, self.cluster.now())
                    }
                    Some(NetEvent::Disconnected(conn)) => {
                        core.handle_disconnected(conn, self.cluster.now())
                    }
                    Some(NetEvent::Received(conn, data)) => {
                        core.handle_received(conn, &data, self.cluster.now())
                    }
                    Some(NetEvent::Written(conn, n)) => {
                        core.handle_written(conn, n, self.cluster.now())
                    }
                    None => {}
                },
                Next::Work => {
                    self.cluster.advance_to(at);
                    if self.blocked {
                        // Gave up on the pending record (see `give_up`).
                        self.blocked = false;
                        self.blocked_since = None;
                        self.gave_up = true;
                        if let Some(record) = pending.take() {
                            self.cluster
                                .note(|| "work: gave up on a record, buffer full".to_owned());
                            self.history.refused.push(RefusedRecord {
                                record,
                                kind: SendErrorKind::BufferFull,
                                at,
                                after_close: false,
                            });
                        }
                    } else if let Some(record) = pending.take() {
                        pending = self.send(&mut core, record);
                    } else if let Some(step) = steps.next() {
                        match &step.action {
                            Action::Send(record) => pending = self.send(&mut core, record.clone()),
                            Action::Flush => {
                                self.cluster.note(|| "work: flush".to_owned());
                                core.flush(at);
                            }
                            Action::Close => {
                                self.cluster.note(|| "work: close".to_owned());
                                self.close_called = true;
                                self.history.close_at = Some(at);
                                core.close(at);
                                self.close_now_at = self.config.close_timeout.map(|d| at + d);
                            }
                        }
                    }
                }
                Next::Timer => {
                    self.cluster.advance_to(at);
                    if let Some((_, reason)) = timer {
                        self.cluster.note(|| format!("core: timeout {reason:?}"));
                    }
                    core.handle_timeout(at);
                }
                Next::CloseNow => {
                    self.cluster.advance_to(at);
                    self.cluster
                        .note(|| "work: close timed out, close_now".to_owned());
                    self.close_now_at = None;
                    self.closed_now_at = Some(at);
                    core.close_now(at);
                }
            }
            self.drain(&mut core);
        }
        if self.closed {
            // Anything the core still has to say after Closed is a violation (the checker
            // sees it in the history).
            self.drain(&mut core);
            if core.pending_records() != 0 {
                self.violations.push(Violation {
                    kind: ViolationKind::Close,
                    description: format!("{} records pending after Closed", core.pending_records()),
                });
            }
            let open = self.cluster.open_connections();
            if !open.is_empty() {
                self.violations.push(Violation {
                    kind: ViolationKind::Close,
                    description: format!("connections still open after Closed: {open:?}"),
                });
            }
        }
        self.finish(n, Some(workload))
    }

    fn finish(mut self, steps: u64, workload: Option<&Workload>) -> RunReport {
        let config = self.config;
        let logs = LogSnapshot::of(&self.cluster);
        let topics = config
            .cluster
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions))
            .collect();
        let options = CheckOptions {
            acks: config.producer.acks,
            expect_all_delivered: config.cluster.faults.is_none()
                && self.closed_now_at.is_none()
                && workload.is_some_and(|w| {
                    w.records().all(|r| {
                        config
                            .cluster
                            .topics
                            .iter()
                            .any(|t| t.name == r.topic.as_str())
                    })
                }),
            topics,
            key_consistency: matches!(
                config.producer.partitioner,
                PartitionerConfig::Murmur2 | PartitionerConfig::Fnv1a
            ),
            message_max_bytes: config.producer.message_max_bytes,
            // A late timer (the driver's) delays the timeout that ends a record by as much.
            outcome_deadline: config
                .producer
                .delivery_timeout
                .map(|d| d + config.producer.request_timeout + config.timer_lateness),
            idempotent: config.producer.idempotence_enabled(),
            write_deadline: config
                .producer
                .delivery_timeout
                .map(|d| d + config.cluster.network.latency_max),
            healed_at: healed_at(config, self.cluster.stats()),
            retry_backoff: (config.producer.acks != Acks::None).then_some((
                config.producer.retry_backoff,
                config.producer.retry_backoff_max,
            )),
            // The refresh's backoff, a Metadata request already in flight timing out, a new
            // connection's answers slowed by a latency spike.
            metadata_refresh_within: Some(
                config.producer.retry_backoff
                    + 2 * config.producer.request_timeout
                    + config.cluster.faults.slow_extra.1
                    + 8 * config.cluster.network.latency_max
                    + Duration::from_millis(1),
            ),
            broker_outages: self.cluster.stats().outages.clone(),
            close_within: Some(
                config.producer.request_timeout
                    + 4 * config.cluster.network.latency_max
                    + Duration::from_millis(1),
            ),
            close_after_delivery_within: config.producer.delivery_timeout.is_none().then(|| {
                2 * config.producer.request_timeout
                    + config.producer.retry_backoff_max
                    + 4 * config.cluster.network.latency_max
                    + Duration::from_millis(1)
            }),
            duplicate_answers: config.cluster.faults.duplicate_answer_rate > 0.0,
            broker_max_batch_bytes: config.cluster.faults.max_batch_bytes,
            invalid_record_ppm: crate::kip::ppm(config.cluster.faults.invalid_record_rate),
            fenced_at: self.cluster.stats().first_fenced_at,
            closed_now_at: self.closed_now_at,
        };
        self.history.wire = self.cluster.take_wire_log();
        self.history.client = self.cluster.take_client_log();
        let checked = check(&self.history, &logs, &options);
        let mut violations = std::mem::take(&mut self.violations);
        violations.extend(
            self.cluster
                .protocol_violations()
                .iter()
                .map(|p| Violation {
                    kind: ViolationKind::Protocol,
                    description: p.clone(),
                }),
        );
        violations.extend(checked.violations);
        let transactions = config.cluster.transactions.enabled.then(|| {
            let history = std::mem::take(&mut self.txn).finish();
            let snapshot = self.cluster.txn_snapshot();
            violations.extend(crate::check_transactions(&history, &logs, &snapshot));
            (history, snapshot)
        });
        RunReport {
            seed: config.seed,
            summary: describe(config),
            sent: self.history.sent.len(),
            delivered: checked.delivered,
            failed: checked.failed,
            refused: self.history.refused.len(),
            buffer_full: self.buffer_full,
            duplicates: checked.duplicates,
            failed_but_written: checked.failed_but_written,
            violations,
            steps,
            virtual_duration: self.cluster.now() - SIM_EPOCH,
            stats: self.cluster.stats().clone(),
            trace: self.cluster.take_trace(),
            healed_checked: checked.healed_checked,
            backoff_checked: checked.backoff_checked,
            metadata_checked: checked.metadata_checked,
            duplicate_deliveries: checked.duplicate_deliveries,
            overdue_inputs: self.overdue_inputs,
            history: self.history,
            logs,
            transactions,
        }
    }
}
