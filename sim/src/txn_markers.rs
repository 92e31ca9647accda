//! The transaction coordinator's work on the partitions: the checks a transactional Produce
//! passes, the COMMIT/ABORT markers it writes through the partition leaders (retried while a
//! leader is down), its timers, and what the brokers advertise for transactions.
//!
//! A transactional batch (attributes bit 4) must come with the request's transactional id and
//! the producer id and epoch the coordinator holds for it (else INVALID_PRODUCER_EPOCH, as the
//! partition's producer state answers a fenced epoch). Its partition must be in the ongoing
//! transaction — else INVALID_TXN_STATE, as Kafka's partition verification (KIP-890 part 1)
//! answers — except with transactions v2 and Produce v12, which enrol it (beginning the
//! transaction). While the markers of the previous transaction are being written it gets
//! NOT_ENOUGH_REPLICAS (Kafka's ReplicaManager turns the verification's
//! CONCURRENT_TRANSACTIONS into that retriable error for Produce). A batch without the bit
//! from a producer id handed to a transactional id is refused INVALID_TXN_STATE (the checker also reports it).
//!
//! A marker is a control record appended to the partition's log (one offset, the producer id
//! and the marker's epoch, [`StoredRecord::control`]); it moves the partition's producer state
//! to that epoch, so a fenced epoch is refused there from then on. Committed offsets become
//! visible in their group when every marker of the transaction is written.
//!
//! [`StoredRecord::control`]: crate::StoredRecord::control

use crate::cluster::{AppendFate, AppendInfo, Cluster, Event, StoredRecord};
use crate::txn_coordinator::{
    control_record, txn_api_max, CommittedOffset, Marker, TxnState, TxnTimer,
};
use odradek_core::protocol::{api_key, ApiVersionRange, ErrorCode, FinalizedFeature};
use odradek_core::protocol::{ApiVersionsResponse, SupportedFeature};
use odradek_core::ConnId;

/// The attributes of the RecordBatch v2 at the start of `records`, if it is one.
pub(crate) fn batch_attributes(records: &[u8]) -> Option<i16> {
    if records.len() < 23 || records[16] != 2 {
        return None;
    }
    Some(i16::from_be_bytes([records[21], records[22]]))
}

/// The transactional bit of a batch's attributes.
const ATTR_TRANSACTIONAL: i16 = 1 << 4;

impl Cluster {
    /// Adds the transactional APIs and the `transaction.version` feature to an ApiVersions
    /// answer (when transactions are on).
    pub(crate) fn advertise_txn(&self, resp: &mut ApiVersionsResponse) {
        let Some(c) = &self.txn else {
            return;
        };
        for api in [
            api_key::FIND_COORDINATOR,
            api_key::ADD_PARTITIONS_TO_TXN,
            api_key::ADD_OFFSETS_TO_TXN,
            api_key::END_TXN,
            api_key::TXN_OFFSET_COMMIT,
        ] {
            resp.api_keys.push(ApiVersionRange {
                api_key: api,
                min_version: 0,
                max_version: txn_api_max(api),
            });
        }
        for k in resp.api_keys.iter_mut() {
            if k.api_key == api_key::INIT_PRODUCER_ID {
                k.max_version = k.max_version.max(5);
            }
        }
        let level = c.config.transaction_version.clamp(0, 2);
        resp.supported_features.push(SupportedFeature {
            name: "transaction.version".into(),
            min_version: 0,
            max_version: 2,
        });
        resp.finalized_features_epoch = 1;
        resp.finalized_features.push(FinalizedFeature {
            name: "transaction.version".into(),
            max_version_level: level,
            min_version_level: level,
        });
    }

    /// The transactional checks of one partition's batch in a Produce `v` (NONE when it is
    /// not transactional and its producer is not, or transactions are off).
    pub(crate) fn txn_check_produce(
        &mut self,
        conn: ConnId,
        v: i16,
        topic: &str,
        partition: i32,
        records: &[u8],
        producer: Option<(i64, i16)>,
    ) -> ErrorCode {
        let Some(c) = &self.txn else {
            // No coordinator here: transactional batches are not checked (the core's pipeline
            // harness scripts its own coordinator over such a cluster).
            return ErrorCode::NONE;
        };
        let transactional = batch_attributes(records).is_some_and(|a| a & ATTR_TRANSACTIONAL != 0);
        let v2 = c.config.is_v2();
        let pid_is_txn = producer.is_some_and(|(p, _)| c.snapshot.transactional_pids.contains(&p));
        if !transactional {
            return if pid_is_txn {
                ErrorCode::INVALID_TXN_STATE
            } else {
                ErrorCode::NONE
            };
        }
        let Some(id) = self.produce_txn_id.clone() else {
            self.violation(format!(
                "{conn:?}: transactional batch for {topic}-{partition} in a Produce without \
                 a transactional id"
            ));
            return ErrorCode::INVALID_RECORD;
        };
        let Some((pid, epoch)) = producer else {
            self.violation(format!(
                "{conn:?}: transactional batch for {topic}-{partition} without a producer id"
            ));
            return ErrorCode::INVALID_RECORD;
        };
        let Some(e) = c.entries.get(&id) else {
            return ErrorCode::INVALID_PRODUCER_ID_MAPPING;
        };
        if e.producer_id != pid || e.epoch != epoch {
            return ErrorCode::INVALID_PRODUCER_EPOCH;
        }
        let enrolled = e.state == TxnState::Ongoing
            && e.current.is_some_and(|i| {
                c.snapshot.transactions[i]
                    .partitions
                    .contains(&(topic.to_owned(), partition))
            });
        match e.state {
            _ if enrolled => ErrorCode::NONE,
            // Kafka's ReplicaManager answers a Produce whose verification met
            // CONCURRENT_TRANSACTIONS (or a coordinator error) NOT_ENOUGH_REPLICAS: retriable.
            TxnState::PrepareCommit | TxnState::PrepareAbort => ErrorCode::NOT_ENOUGH_REPLICAS,
            _ if v2 && v >= 12 => {
                self.enrol_partition(&id, topic, partition);
                ErrorCode::NONE
            }
            _ => ErrorCode::INVALID_TXN_STATE,
        }
    }

    /// Marks the records of append `id` as transactional when their batch was.
    pub(crate) fn txn_mark_append(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[u8],
        id: usize,
    ) {
        if self.txn.is_none()
            || batch_attributes(records).is_none_or(|a| a & ATTR_TRANSACTIONAL == 0)
        {
            return;
        }
        let Some(part) = self
            .topics
            .get_mut(topic)
            .and_then(|ps| ps.get_mut(usize::try_from(partition).ok()?))
        else {
            return;
        };
        for r in part.log.iter_mut().rev().take_while(|r| r.append == id) {
            r.transactional = true;
        }
    }

    /// Runs a coordinator timer.
    pub(crate) fn txn_timer(&mut self, timer: TxnTimer) {
        match timer {
            TxnTimer::Markers(id) => self.write_markers(&id),
            TxnTimer::MoveFault => {
                if let Some(id) = self.txn_fault_target() {
                    self.move_txn_coordinator(&id);
                }
                self.schedule_txn_faults(true, false);
            }
            TxnTimer::CrashFault => {
                if let Some(id) = self.txn_fault_target() {
                    let node = self.coordinator_of(false, &id);
                    let c = self.txn.as_mut().expect("on");
                    let down = crate::faults::uniform(&mut c.rng, c.config.faults.crash_downtime);
                    if let Some(node) = node {
                        self.note(|| format!("txn fault: coordinator of {id} crashes"));
                        self.inject(crate::Fault::CrashBroker {
                            node,
                            downtime: down,
                        });
                    }
                }
                self.schedule_txn_faults(false, true);
            }
            TxnTimer::Timeout(id, index) => {
                let Some(c) = &self.txn else {
                    return;
                };
                let Some(e) = c.entries.get(&id) else {
                    return;
                };
                if e.state != TxnState::Ongoing || e.current != Some(index) {
                    return;
                }
                // Only a loaded coordinator expires transactions.
                self.coordinator_of(false, &id);
                if let Some(until) = self.loading_until(false, &id) {
                    self.schedule_at(until, Event::Txn(TxnTimer::Timeout(id, index)));
                    return;
                }
                self.note(|| format!("txn: {id}: transaction {index} timed out"));
                self.bump_epoch(&id);
                if let Some(t) = self.current_txn_mut(&id) {
                    t.timed_out = true;
                }
                self.begin_end(&id, false, true);
            }
        }
    }

    /// Schedules the next coordinator move and/or crash fault, when configured.
    pub(crate) fn schedule_txn_faults(&mut self, moves: bool, crashes: bool) {
        let now = self.now;
        let Some(c) = self.txn.as_mut() else {
            return;
        };
        let f = c.config.faults.clone();
        let mut next = Vec::new();
        if let (true, Some(range)) = (moves, f.move_every) {
            next.push((
                now + crate::faults::uniform(&mut c.rng, range),
                TxnTimer::MoveFault,
            ));
        }
        if let (true, Some(range)) = (crashes, f.crash_every) {
            next.push((
                now + crate::faults::uniform(&mut c.rng, range),
                TxnTimer::CrashFault,
            ));
        }
        let end = self.start_instant() + f.horizon;
        for (at, t) in next.into_iter().filter(|(at, _)| *at < end) {
            self.schedule_at(at, Event::Txn(t));
        }
    }

    /// A transactional id in use to aim a coordinator fault at (none while the cluster's
    /// faults are not active).
    fn txn_fault_target(&mut self) -> Option<String> {
        if !self.faults_active() {
            return None;
        }
        let c = self.txn.as_mut()?;
        let n = c.entries.len() as u64;
        if n == 0 {
            return None;
        }
        let i = c.rng.below(n) as usize;
        c.entries.keys().nth(i).cloned()
    }

    /// Whether a drawn fault loses this EndTxn answer.
    pub(crate) fn txn_fault_loses_answer(&mut self) -> bool {
        let active = self.faults_active();
        let Some(c) = self.txn.as_mut() else {
            return false;
        };
        let rate = c.config.faults.lost_end_txn_rate;
        active && rate > 0.0 && c.rng.unit() < rate
    }

    /// Writes the pending markers of `id` whose partition leaders are up; retries the rest
    /// later; completes the transaction when none is left.
    fn write_markers(&mut self, id: &str) {
        let Some(e) = self.txn.as_ref().and_then(|c| c.entries.get(id)) else {
            return;
        };
        let marker = match e.state {
            TxnState::PrepareCommit => Marker::Commit,
            TxnState::PrepareAbort => Marker::Abort,
            _ => return,
        };
        let (pid, epoch) = (e.marker_pid, e.marker_epoch);
        let pending: Vec<(String, i32)> = e.pending_markers.iter().cloned().collect();
        // A coordinator that is down fails over; one that loads resumes afterwards.
        if self.coordinator_of(false, id).is_none() {
            let retry = self.txn.as_ref().expect("on").config.marker_retry;
            let at = self.now + retry;
            self.schedule_at(at, Event::Txn(TxnTimer::Markers(id.to_owned())));
            return;
        }
        if let Some(until) = self.loading_until(false, id) {
            self.schedule_at(until, Event::Txn(TxnTimer::Markers(id.to_owned())));
            return;
        }
        let mut left = Vec::new();
        for (topic, partition) in pending {
            let leader = self.leader(&topic, partition);
            if leader.is_some_and(|l| self.is_up(l)) {
                self.append_marker(&topic, partition, pid, epoch, marker);
            } else {
                left.push((topic, partition));
            }
        }
        let c = self.txn.as_mut().expect("on");
        let e = c.entries.get_mut(id).expect("present");
        e.pending_markers = left.iter().cloned().collect();
        if !left.is_empty() {
            let retry = c.config.marker_retry;
            self.note(|| format!("txn: {id}: markers for {left:?} wait for their leaders"));
            let at = self.now + retry;
            self.schedule_at(at, Event::Txn(TxnTimer::Markers(id.to_owned())));
            return;
        }
        e.state = match marker {
            Marker::Commit => TxnState::CompleteCommit,
            Marker::Abort => TxnState::CompleteAbort,
        };
        let offsets = std::mem::take(&mut e.pending_offsets);
        let current = e.current;
        if let Some(i) = current {
            if marker == Marker::Commit {
                for (k, offset) in offsets {
                    c.snapshot
                        .offsets
                        .insert(k, CommittedOffset { offset, txn: i });
                }
            }
            c.snapshot.transactions[i].completed_at = Some(self.now);
        }
        self.note(|| format!("txn: {id}: {marker:?} complete"));
    }

    /// Appends a control record for `pid` at `epoch` to `topic`/`partition`, and moves the
    /// partition's state of `pid` to that epoch.
    fn append_marker(&mut self, topic: &str, partition: i32, pid: i64, epoch: i16, marker: Marker) {
        let Some(leader) = self.leader(topic, partition) else {
            return;
        };
        let id = self.appends.len();
        let now = self.now;
        let keep = self.config.keep_records;
        let part = &mut self.topics.get_mut(topic).expect("known")[partition as usize];
        let offset = part.next_offset;
        part.next_offset += 1;
        if keep {
            let (key, value) = control_record(marker);
            part.log.push(StoredRecord {
                offset,
                timestamp: now.as_unix_millis(),
                key: Some(key),
                value: Some(value),
                headers: Vec::new(),
                append: id,
                producer_id: pid,
                producer_epoch: epoch,
                sequence: -1,
                transactional: true,
                control: Some(marker),
            });
        }
        let e = part.producers.entries.entry(pid).or_insert_with(|| {
            crate::idempotence::ProducerEntry {
                epoch,
                last_seq: -1,
                ..Default::default()
            }
        });
        if e.epoch != epoch || e.lost {
            e.epoch = epoch;
            e.last_seq = -1;
            e.batches.clear();
            e.lost = false;
        }
        self.appends.push(AppendInfo {
            topic: topic.to_owned(),
            partition,
            base_offset: offset,
            count: 1,
            broker: leader,
            conn: ConnId(u64::MAX),
            at: now,
            fate: AppendFate::NoResponse,
            hostile_offset: false,
        });
        self.note(|| {
            format!("txn: {marker:?} marker for {pid}/{epoch} at {topic}-{partition}@{offset}")
        });
    }
}
