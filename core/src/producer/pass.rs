//! The pass over partitions that every input but a plain `send` ends with
//! ([`ProducerCore::advance`]), and the wake-up it leaves: only the partitions marked
//! [`dirty`](super::dirty) since the last pass and those whose deadline is due
//! ([`timers`](super::timers)) are looked at, and each one's next deadline is re-armed after.
//!
//! What still walks every partition, and why that is proportional to the input: a Metadata
//! answer (it lists every partition), a new producer id or epoch (every partition's sequences
//! may restart), `close` (every open batch is sealed), an authentication failure (the
//! broker's partitions fail their batches), and the close cutoff without a delivery timeout
//! (every unsent record fails). [`ProducerCore::stats`] walks everything too.

use super::connection::Versions;
use super::connection::{Negotiation, Received, Report, RequestKind, RequestRef, Target};
use super::idempotence::PidAnswer;
use super::metadata::TopicAnswer;
use super::partition::Owner;
use super::responses::{retry_backoff, Responses};
use super::sasl::AuthStep;
use super::topic::TopicIdx;
use super::txn::{Transactions, TxnAnswer, TxnCx};
use super::{PartitionRef, ProducerCore};
use crate::error::ProduceError;
use crate::error::RetryCause;
use crate::output::{ConnId, Output, TimeoutReason};
use crate::time::Instant;
use std::collections::HashMap;

impl ProducerCore {
    /// Drains retry buffers, expires records past their delivery deadline, applies the seal
    /// rule and queues ready batches for the partitions
    /// changed since the last pass and those whose deadline is due at the latest time seen.
    /// They stay in
    /// [`work`](Self::work) for [`expire_records`](Self::expire_records) and
    /// [`rearm_marked`](Self::rearm_marked).
    pub(super) fn partition_pass(&mut self) {
        // The latest time seen, not the input's (which may be older): deadlines are armed
        // only when after it, so one at or before it must be acted on now.
        let now = self.clock.last_now;
        let dirty = &mut self.dirty;
        self.timers.pop_due(now, |at| dirty.mark(at));
        let mut work = std::mem::take(&mut self.work);
        self.dirty.take(&mut work);
        self.visited += work.len() as u64;
        let mut expired = Vec::new();
        for &at in &work {
            self.drain_retry_buffers(at, now);
            // Expired records leave first (a batch expires with its first record), so that
            // the seal rule sees what stays.
            if self.config.delivery_timeout.is_some() {
                let topic = &mut self.topics[at.topic];
                let part = &mut topic.partitions[at.index];
                if part.earliest_deadline().is_some_and(|d| now >= d) {
                    let mut owner = Owner {
                        topic: &topic.name,
                        number: at.number(),
                        pool: &mut self.recycler,
                    };
                    expired.extend(part.take_expired(now, &mut owner));
                }
            }
            self.seal_partition(at, now);
            self.queue_if_ready(at);
            if let Some(txn) = &mut self.txn {
                let part = &self.topics[at.topic].partitions[at.index];
                let enrolled = part.txn_epoch == self.limits.txn_epoch;
                txn.note_partition(at, enrolled, !part.batches.is_empty());
            }
        }
        if !expired.is_empty() {
            let error = self.expiry_error();
            self.outbox.fail_all(&mut self.recycler, expired, &error);
        }
        self.work = work;
    }

    /// Partition `at`'s next deadline after `last_now`: its open batch's linger end, its retry
    /// backoff end, or the delivery deadline of its oldest record not in
    /// flight, whichever comes first. What is at or before `last_now` was acted on already (a
    /// linger that ended while the partition cannot send: a change to the partition marks it).
    pub(super) fn partition_deadline(&self, at: PartitionRef) -> Option<(Instant, TimeoutReason)> {
        let part = self.partition(at);
        let after = |t: &Instant| *t > self.clock.last_now;
        let linger = part
            .linger_deadline(self.config.linger)
            .filter(after)
            .map(|t| (t, TimeoutReason::Linger));
        // Armed even with nothing held: the pass at its end lowers the high watermark, which
        // a record sent meanwhile would otherwise wait behind in a retry buffer.
        let backoff = part
            .backoff_until
            .filter(after)
            .map(|t| (t, TimeoutReason::RetryBackoff));
        let delivery = self
            .config
            .delivery_timeout
            .and_then(|_| part.earliest_deadline())
            .filter(after)
            .map(|t| (t, TimeoutReason::DeliveryTimeout));
        [linger, backoff, delivery]
            .into_iter()
            .flatten()
            .min_by_key(|&(t, _)| t)
    }

    /// Re-arms partition `at`'s deadline; returns it.
    pub(super) fn rearm(&mut self, at: PartitionRef) -> Option<(Instant, TimeoutReason)> {
        let deadline = self.partition_deadline(at);
        self.timers.arm(at, deadline);
        deadline
    }

    /// Re-arms the deadlines of the partitions this pass looked at and of those marked since,
    /// and ends the pass.
    pub(super) fn rearm_marked(&mut self) {
        let mut work = std::mem::take(&mut self.work);
        let marked = std::mem::take(&mut self.dirty);
        // A partition of both lists (a request took its batch after the pass) once.
        let mut n = 0;
        for &at in work
            .iter()
            .filter(|&&at| !marked.contains(at))
            .chain(marked.marked())
        {
            self.rearm(at);
            n += 1;
        }
        self.visited += n;
        work.clear();
        self.work = work;
        self.dirty = marked;
    }

    /// The next deadline: the earliest partition deadline (the timers' top) and the few
    /// per-broker, per-connection and per-topic ones. Never later than
    /// [`compute_wake_by_scan`](Self::compute_wake_by_scan) (checked in debug builds).
    pub(super) fn next_wake(&mut self) -> Option<(Instant, TimeoutReason)> {
        if self.closed {
            return None;
        }
        let mut best: Option<(Instant, TimeoutReason)> = None;
        let last_now = self.clock.last_now;
        let mut consider = |at: Option<Instant>, why: TimeoutReason| {
            if let Some(at) = at.filter(|&at| at > last_now) {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, why));
                }
            }
        };
        let top = self.timers.next();
        consider(
            top.map(|(t, _)| t),
            top.map_or(TimeoutReason::Linger, |(_, w)| w),
        );
        consider(self.conns.deadline(), TimeoutReason::RequestTimeout);
        consider(self.conns.reauth_deadline(), TimeoutReason::Reauthenticate);
        if !self.is_idle_closing() && self.metadata.in_flight.is_none() {
            let max_age = self.config.metadata_max_age;
            consider(
                self.metadata.next_refresh(max_age),
                TimeoutReason::MetadataRefresh,
            );
        }
        consider(self.waiting_deadline(), TimeoutReason::DeliveryTimeout);
        consider(self.idem.deadline(), TimeoutReason::RetryBackoff);
        let txn = self.txn.as_ref().and_then(|t| t.deadline());
        consider(txn, TimeoutReason::RetryBackoff);
        if !self.is_idle_closing() {
            for b in self.conns.backoff.values() {
                consider(b.not_before, TimeoutReason::ReconnectBackoff);
            }
        }
        best
    }

    /// Marks every partition with a deadline armed, which includes every open batch whose
    /// linger is ahead (a flush seals those); one whose linger passed waits for a change that
    /// lets it send, and that change marks it.
    pub(super) fn mark_open_batches(&mut self) {
        let dirty = &mut self.dirty;
        let mut n = 0u64;
        self.timers.for_each_armed(|at| {
            dirty.mark(at);
            n += 1;
        });
        self.visited += n;
    }

    /// Marks every partition: for the rare inputs that change them all (`close`, a new
    /// producer id or epoch).
    pub(super) fn mark_all(&mut self) {
        for (t, topic) in self.topics.iter().enumerate() {
            for index in 0..topic.partitions.len() {
                self.dirty.mark(PartitionRef {
                    topic: super::topic::TopicIdx(t),
                    index,
                });
            }
            self.visited += topic.partitions.len() as u64;
        }
    }

    /// Sarama's `flushRetryBuffers` for partition `at`
    /// ([`PartitionState::drain_retry_buffers`]).
    pub(super) fn drain_retry_buffers(&mut self, at: PartitionRef, now: Instant) {
        let limits = self.limits;
        let sealed = self.topics[at.topic].partitions[at.index].drain_retry_buffers(
            &limits,
            now,
            &mut self.recycler,
        );
        self.batches_sealed(at, sealed);
    }

    /// Closing with nothing left: no more metadata, connections or requests are needed.
    pub(super) fn is_idle_closing(&self) -> bool {
        self.closing && self.outbox.pending == 0
    }

    /// Finishes the close once every record has its outcome.
    pub(super) fn maybe_finish_close(&mut self) {
        if !self.is_idle_closing() || self.closed {
            return;
        }
        let conns: Vec<ConnId> = self.conns.conns.keys().copied().collect();
        for conn in conns {
            self.conns.conns.remove(&conn);
            self.outbox.push(Output::Disconnect { conn });
        }
        self.conns.by_target.clear();
        self.metadata.in_flight = None;
        self.closed = true;
        self.outbox.push(Output::Closed);
    }

    /// When a close without a delivery timeout stops waiting: `request.timeout.ms` plus
    /// `retry.backoff.max.ms` after `close` or after the last outcome since (a delivery, or
    /// a failure other than the cutoff's own),
    /// whichever is later (see [`Config::delivery_timeout`](crate::Config::delivery_timeout)):
    /// a close waits as long as records keep getting outcomes, and long enough for one request
    /// and one retry at the longest backoff — a healthy cluster whose records are retrying
    /// behind a backoff longer than the request timeout (the backoff grows to
    /// `retry.backoff.max.ms`) must not see them given up (found by the simulator's
    /// healed-cluster check: a close after a 1 s backoff with a 442 ms request timeout failed
    /// records sent to a healed cluster). `None` when not closing, or when there is a delivery
    /// timeout.
    pub(super) fn close_cutoff(&self) -> Option<Instant> {
        if self.config.delivery_timeout.is_some() {
            return None;
        }
        let wait = self.config.request_timeout + self.config.retry_backoff_max;
        self.outbox.close_progress.map(|t| t + wait)
    }

    /// Fails records whose delivery deadline passed and that are not in flight, among the
    /// records waiting for metadata (those in partitions expire in
    /// [`partition_pass`](Self::partition_pass): a partition whose oldest record's deadline
    /// passed is due there). Without a delivery timeout, records have no deadline, except
    /// during a close that stopped making progress: once [`close_cutoff`](Self::close_cutoff)
    /// passed, every record not in flight (waiting for metadata, for a leader, for a
    /// connection, in a retry buffer or a batch) fails with [`ProduceError::DeliveryTimeout`]
    /// — every partition is emptied once per cutoff, and after that only the partitions a
    /// failed request gave records back to; in-flight ones keep their outcome, or fail the
    /// same way when they come back for a retry.
    ///
    /// Then notes a lost sequence of a partition looked at (idempotence), for
    /// [`idempotence_step`](Self::idempotence_step).
    pub(super) fn expire_records(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let work = std::mem::take(&mut self.work);
        if self.config.delivery_timeout.is_none() {
            if self.closing && self.outbox.close_progress.is_none() {
                self.outbox.close_progress = Some(now);
            }
            // A record that failed since (too large, retries exhausted, ...) is progress: the
            // records behind it may need another round (an epoch bump, a retry after its
            // backoff) before they are delivered (found by the soak: a record too large for
            // the broker's cap failed, the batches behind it came back OUT_OF_ORDER and waited
            // out their backoff, and the cutoff, counted from the last delivery before, failed
            // them on a healthy cluster).
            self.outbox.note_close_progress(now);
            if let Some(cutoff) = self.close_cutoff().filter(|&c| now >= c) {
                if self.swept_at != Some(cutoff) {
                    self.swept_at = Some(cutoff);
                    for topic in &mut self.topics {
                        self.visited += topic.partitions.len() as u64;
                        topic.take_unsent(&mut expired, &mut self.recycler);
                        for part in &mut topic.partitions {
                            self.sequence_lost |= part.take_sequence_loss();
                        }
                    }
                } else {
                    for topic in &mut self.topics {
                        expired.extend(topic.waiting.drain(..));
                    }
                    for &at in &work {
                        let topic = &mut self.topics[at.topic];
                        let mut owner = Owner {
                            topic: &topic.name,
                            number: at.number(),
                            pool: &mut self.recycler,
                        };
                        let part = &mut topic.partitions[at.index];
                        super::topic::take_unsent(part, &mut expired, &mut owner);
                    }
                }
            }
        } else {
            for topic in &mut self.topics {
                topic.take_expired_waiting(now, &mut expired);
            }
        }
        if self.idem.on() {
            for &at in &work {
                let part = &mut self.topics[at.topic].partitions[at.index];
                self.sequence_lost |= part.take_sequence_loss();
            }
        }
        self.work = work;
        if !expired.is_empty() {
            let error = self.expiry_error();
            self.outbox.fail_all(&mut self.recycler, expired, &error);
            // The cutoff's own failures are not progress.
            self.outbox.failed_while_closing = false;
        }
    }

    /// What a record that was never sent fails with at its deadline: the last connection
    /// error reported since no connection opened (for a malformed answer: since no answer
    /// decoded), else a plain delivery timeout.
    pub(super) fn expiry_error(&self) -> ProduceError {
        match &self.conns.error {
            Some(e) => ProduceError::Connection(e.clone()),
            None => ProduceError::DeliveryTimeout,
        }
    }

    /// The earliest delivery deadline of a record waiting for its topic's metadata (or,
    /// closing without a delivery timeout, the [`close_cutoff`](Self::close_cutoff)); those of
    /// records in partitions are armed in the partition timers.
    pub(super) fn waiting_deadline(&self) -> Option<Instant> {
        if self.config.delivery_timeout.is_none() {
            return self.close_cutoff().filter(|_| self.outbox.pending > 0);
        }
        self.topics
            .iter()
            .filter_map(|t| t.waiting.front().and_then(|p| p.deadline))
            .min()
    }

    /// Frames the bytes received on `conn` and routes each answer to its request's stage.
    pub(super) fn receive(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        self.conns.push_received(conn, data);
        loop {
            match self
                .conns
                .next_answer(conn, &mut self.outbox, &self.config, now)
            {
                Received::Nothing => return,
                Received::Malformed(detail) => return self.malformed(conn, detail, now),
                Received::Answer(rref, kind, frame) => self.route_answer(rref, kind, &frame, now),
            }
        }
    }

    /// Hands an answer to the stage that sent its request.
    fn route_answer(&mut self, rref: RequestRef, kind: RequestKind, frame: &[u8], now: Instant) {
        let conn = rref.conn;
        match kind {
            RequestKind::ApiVersions { version } => {
                let agreed = self
                    .conns
                    .on_api_versions(conn, version, frame, &mut io!(self), now);
                self.negotiated(conn, agreed, now)
            }
            RequestKind::Metadata { version } => self.on_metadata(rref, version, frame, now),
            RequestKind::Produce { version, batches } => {
                let malformed = self.responses.on_produce_response(
                    &mut stage_cx!(self),
                    rref,
                    version,
                    batches,
                    frame,
                    now,
                );
                // Split partitions queue before a malformed answer drops the connection (its
                // other requests may hold their later batches).
                let mut requeue = std::mem::take(&mut self.responses.requeue);
                for at in requeue.drain(..) {
                    self.queue_if_ready(at);
                }
                self.responses.requeue = requeue;
                if let Some(cause) = malformed {
                    self.drop_malformed(rref.conn, cause, now);
                }
            }
            RequestKind::InitProducerId { version } => {
                self.on_init_producer_id(rref, version, frame, now)
            }
            RequestKind::Txn { api, version } => {
                let answer =
                    self.txn_answer(|txn, cx| txn.on_answer(rref, (api, version), frame, cx, now));
                self.txn_follow(answer, rref, now);
            }
            RequestKind::SaslHandshake { version } => {
                let step = self.conns.on_sasl_handshake(
                    conn,
                    version,
                    frame,
                    &mut self.rng,
                    &mut io!(self),
                    now,
                );
                self.auth_step(conn, step, now)
            }
            RequestKind::SaslAuthenticate { version } => {
                let step = self.conns.on_sasl_authenticate(
                    conn,
                    version,
                    frame,
                    &mut self.rng,
                    &mut io!(self),
                    now,
                );
                self.auth_step(conn, step, now)
            }
        }
    }

    /// What an ApiVersions answer on `conn` led to: the record format to encode into at
    /// `send` (the one brokers last agreed to), idempotence, then SASL or ready.
    fn negotiated(&mut self, conn: ConnId, agreed: Negotiation, now: Instant) {
        let versions = match agreed {
            Negotiation::Pending => return,
            Negotiation::Malformed(detail) => return self.malformed(conn, detail, now),
            Negotiation::Refused => {
                return self.drop_conn(conn, RetryCause::ConnectionLost, Report::Emit, now)
            }
            Negotiation::Agreed(versions) => versions,
        };
        if let (Target::Node(_), Ok((_, format))) = (
            self.conns
                .conns
                .get(&conn)
                .map(|c| c.target)
                .unwrap_or(Target::Bootstrap(0)),
            &versions.produce,
        ) {
            self.limits.format = Some(*format);
        }
        self.decide_idempotence(&versions);
        if self.config.sasl.is_some() {
            // Authenticate before anything else goes out; the backoff is cleared only once
            // that succeeded, so a refused login is not retried in a hot loop.
            let step = self.conns.begin_auth(conn, versions, &mut io!(self), now);
            return self.auth_step(conn, step, now);
        }
        let brokers = &self.metadata.brokers;
        self.conns.ready(conn, versions, brokers, &mut io!(self));
    }

    /// Where a step of the SASL exchange on `conn` leads.
    fn auth_step(&mut self, conn: ConnId, step: AuthStep, now: Instant) {
        match step {
            AuthStep::Pending | AuthStep::Nothing => {}
            AuthStep::Ready(versions) => {
                let brokers = &self.metadata.brokers;
                self.conns.ready(conn, versions, brokers, &mut io!(self));
            }
            AuthStep::Failed(message) => self.auth_failed(conn, message, now),
        }
    }

    /// The SASL exchange on `conn` failed: close it (its backoff grows) and fail the records
    /// that were waiting for its broker.
    fn auth_failed(&mut self, conn: ConnId, message: String, now: Instant) {
        let brokers = &self.metadata.brokers;
        let Some((target, broker)) = self.conns.auth_broker(conn, brokers, &self.config) else {
            return;
        };
        let error = ProduceError::Authentication { broker, message };
        self.drop_conn(conn, RetryCause::ConnectionLost, Report::Emit, now);
        let mut failed = Vec::new();
        if let Target::Node(node) = target {
            let (topics, pool, dirty) = (&mut self.topics, &mut self.recycler, &mut self.dirty);
            self.visited += super::topic::take_led_by(topics, node, &mut failed, pool, dirty);
        }
        if self.conns.ready_for_metadata().is_none() {
            // No broker to ask for metadata: records waiting for it would wait in vain.
            for topic in &mut self.topics {
                failed.extend(topic.waiting.drain(..));
            }
        }
        self.outbox.fail_all(&mut self.recycler, failed, &error);
    }

    /// KIP-368: connections whose session is due for renewal stop taking requests, and those
    /// with nothing in flight re-authenticate.
    pub(super) fn reauth_step(&mut self, now: Instant) {
        for (conn, versions) in self.conns.due_for_reauth(now) {
            let step = self.conns.begin_auth(conn, versions, &mut io!(self), now);
            self.auth_step(conn, step, now);
        }
    }

    /// Ends a connection ([`Connections::end`]) and sends its outstanding requests down
    /// their stages' failure paths: Produce batches to the retry path, Metadata and
    /// InitProducerId to their backoff.
    pub(super) fn drop_conn(
        &mut self,
        conn: ConnId,
        cause: RetryCause,
        report: Report,
        now: Instant,
    ) {
        let Some(c) = self.conns.end(conn, &cause, report, &mut io!(self), now) else {
            return;
        };
        for (correlation_id, req) in c.outstanding {
            let rref = RequestRef {
                conn,
                correlation_id,
            };
            match req.kind {
                RequestKind::ApiVersions { .. }
                | RequestKind::SaslHandshake { .. }
                | RequestKind::SaslAuthenticate { .. } => {}
                RequestKind::Metadata { .. } => self.metadata_failed(rref, now),
                RequestKind::InitProducerId { .. } => self.init_producer_id_failed(rref, now),
                RequestKind::Txn { .. } => {
                    self.txn_answer(|txn, cx| {
                        txn.failed(rref, cx, now);
                        super::txn::TxnAnswer::Done
                    });
                }
                RequestKind::Produce { batches, .. } => {
                    for b in batches {
                        Responses::batch_failed(&mut stage_cx!(self), b, rref, cause.clone(), now);
                    }
                }
            }
        }
        // Leaders may have moved: refresh after the metadata backoff as it stands (the
        // retry backoff, or longer while metadata keeps failing), so a connection that keeps
        // failing does not pull refreshes in every `retry.backoff.ms`.
        if !self.is_idle_closing() {
            let backoff = retry_backoff(&self.config, &mut self.rng, self.metadata.failures.max(1));
            self.metadata.request_after_backoff(now, backoff);
        }
    }

    /// The driver wrote `bytes` more of `conn`'s transmitted bytes: `acks=0` Produce requests
    /// now wholly written are done, and their records delivered. Whether any was.
    pub(super) fn written(&mut self, conn: ConnId, bytes: usize) -> bool {
        if !self.conns.add_written(conn, bytes) {
            return false;
        }
        let mut any = false;
        while let Some((rref, kind)) = self.conns.next_written(conn) {
            any = true;
            if let RequestKind::Produce { mut batches, .. } = kind {
                for mut b in batches.drain(..) {
                    // Written: the driver holds no chunk of it any more.
                    self.recycler.put_wire(std::mem::take(&mut b.wire));
                    let n = b.records.len();
                    self.partition_mut(b.partition).batch_acked(rref, None, n);
                    let name = &self.topics[b.partition.topic].name;
                    self.outbox.count_acked(b.partition, name, n, -1);
                    let now = self.clock.last_now;
                    let pool = &mut self.recycler;
                    self.outbox
                        .deliver(pool, name, b.partition, b.records, (-1, -1), now);
                }
                self.recycler.put_batch_list(batches);
            }
        }
        any
    }

    /// `conn` carried bytes that are not a valid answer (`detail` says how): it is dropped,
    /// its requests retried, and the cause kept for records that expire before a
    /// connection works again.
    pub(super) fn malformed(&mut self, conn: ConnId, detail: String, now: Instant) {
        let cause = stage_cx!(self).malformed_cause(conn, detail);
        self.drop_malformed(conn, cause, now);
    }

    /// [`malformed`](Self::malformed) with its cause built already.
    pub(super) fn drop_malformed(&mut self, conn: ConnId, cause: RetryCause, now: Instant) {
        if let RetryCause::MalformedResponse { broker, detail } = &cause {
            self.conns.error = Some(crate::error::ConnectionError {
                broker: broker.clone(),
                kind: crate::error::ConnectionErrorKind::MalformedResponse,
                detail: detail.clone(),
            });
        }
        self.drop_conn(conn, cause, Report::Emit, now);
    }

    /// Connections whose connect or request deadline passed are dropped.
    pub(super) fn expire_conns(&mut self, now: Instant) {
        for id in self.conns.expired(now) {
            self.drop_conn(id, RetryCause::RequestTimeout, Report::Emit, now);
        }
    }

    /// The metadata stage's step ([`MetadataState::step`]).
    pub(super) fn metadata_step(&mut self, now: Instant) {
        let idle = self.is_idle_closing();
        let (conns, topics) = (&mut self.conns, &self.topics);
        self.metadata.step(conns, topics, idle, &mut io!(self), now);
    }

    /// A Metadata request failed ([`MetadataState::failed`]).
    pub(super) fn metadata_failed(&mut self, rref: RequestRef, now: Instant) {
        self.metadata.failed(rref, &self.config, &mut self.rng, now);
    }

    /// A Metadata answer: decoded by the metadata stage, applied topic by topic — a topic
    /// not usable goes to the accept stage ([`Accept::topic_unknown`](super::accept::Accept::topic_unknown)), the
    /// partitions whose leader changed are marked for the pass — and then the records
    /// waiting for metadata are released.
    pub(super) fn on_metadata(
        &mut self,
        rref: RequestRef,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) {
        let cx = (&self.config, &mut self.rng);
        let decoded = self
            .metadata
            .decode(rref, version, frame, &mut self.conns, cx, now);
        let (resp, asked) = match decoded {
            Ok(answer) => answer,
            Err(detail) => return self.malformed(rref.conn, detail, now),
        };
        self.metadata.set_brokers(&resp);
        let by_name: HashMap<&str, usize> = resp
            .topics
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        for i in 0..self.topics.len() {
            let t = TopicIdx(i);
            let found = by_name
                .get(self.topics[t].name.as_str())
                .map(|&i| &resp.topics[i]);
            let topic = &mut self.topics[t];
            match self.metadata.apply_topic(topic, found, i >= asked, now) {
                TopicAnswer::Skipped => {}
                TopicAnswer::Unknown(code) => {
                    self.accept.topic_unknown(t, code, &mut accept_cx!(self))
                }
                TopicAnswer::Leaders(changed) => {
                    // The answer lists every partition of the topic; those whose leader
                    // changed are marked for the next pass (a partition waiting for a
                    // leader included).
                    self.visited += self.topics[t].partitions.len() as u64;
                    for (index, leader) in changed {
                        let at = PartitionRef { topic: t, index };
                        self.dirty.mark(at);
                        let name = &self.topics[t].name;
                        self.outbox.count_leader_change(at, name, leader);
                    }
                }
            }
        }
        self.metadata
            .answer_applied(&self.config, &mut self.rng, now);
        self.accept.release_waiting(&mut accept_cx!(self), now);
    }

    /// Decides idempotence on a negotiated connection ([`Idempotence::decide`]).
    pub(super) fn decide_idempotence(&mut self, versions: &Versions) {
        if let Some(per_partition) = self.idem.decide(versions, &self.config) {
            self.limits.per_partition = per_partition;
        }
    }

    /// The idempotence stage's step ([`Idempotence::step`]); a lost sequence noted by the
    /// pass over the partitions that changed (`expire_records`) asks it for an epoch bump.
    pub(super) fn idempotence_step(&mut self, now: Instant) {
        if !self.idem.on() {
            return;
        }
        let lost = std::mem::take(&mut self.sequence_lost);
        let idle = self.is_idle_closing();
        let conns = &mut self.conns;
        if let Some((pid, epoch)) = self.idem.step(lost, idle, conns, &mut io!(self), now) {
            self.granted(pid, epoch, 0);
        }
    }

    /// An InitProducerId answer ([`Idempotence::on_answer`]).
    pub(super) fn on_init_producer_id(
        &mut self,
        rref: RequestRef,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) {
        let cx = (&self.config, &mut self.rng, &mut self.clock);
        match self
            .idem
            .on_answer(rref, version, frame, &mut self.conns, cx, now)
        {
            PidAnswer::Done => {}
            PidAnswer::Malformed(detail) => self.malformed(rref.conn, detail, now),
            PidAnswer::Granted {
                producer_id,
                epoch,
                start,
            } => self.granted(producer_id, epoch, start),
        }
    }

    /// The InitProducerId request `rref` got no answer ([`Idempotence::failed`]).
    pub(super) fn init_producer_id_failed(&mut self, rref: RequestRef, now: Instant) {
        let cx = (&self.config, &mut self.rng, &mut self.clock);
        self.idem.failed(rref, cx, now);
    }

    /// A new producer id or epoch is held (granted by InitProducerId, or bumped locally).
    /// The partitions that lost their state restart at sequence 0 under it; every other
    /// keeps its stamped batches on the old id/epoch until they resolve (the broker can still
    /// tell whether they were written) and moves to the new one after, whether the epoch was
    /// bumped or the id is new: re-stamping a batch that may have been written could store it
    /// twice. Sequences under the new id/epoch start at `start`.
    fn granted(&mut self, producer_id: i64, epoch: i16, start: i32) {
        let generation = self.idem.grant(producer_id, epoch, start);
        self.limits.generation = generation;
        for topic in &mut self.topics {
            for part in &mut topic.partitions {
                if std::mem::take(&mut part.reset_needed) {
                    part.sync_generation(generation, start);
                }
            }
        }
        // A new generation changes which partitions may send (`PartitionState::ready`):
        // the next pass looks at every one (a rare input, as the loop above).
        self.mark_all();
    }

    /// The transaction stage's step ([`Transactions::step`](super::txn::Transactions::step)).
    pub(super) fn txn_step(&mut self, now: Instant) {
        if self.txn.is_some() && !self.is_idle_closing() {
            let answer = self.txn_answer(|txn, cx| txn.step(cx, now));
            self.txn_follow(answer, None, now);
        }
    }

    /// Runs `f` on the transaction stage with its context of split borrows.
    fn txn_answer(
        &mut self,
        f: impl FnOnce(&mut Transactions, &mut TxnCx<'_>) -> TxnAnswer,
    ) -> TxnAnswer {
        match self.txn.as_mut() {
            Some(txn) => f(txn, &mut txn_cx!(self)),
            None => TxnAnswer::Done,
        }
    }

    /// What a transaction answer leads to: a grant to every partition, enrolled partitions
    /// free to send, a fatal error to the records not sent, a malformed answer's connection
    /// dropped.
    fn txn_follow(&mut self, answer: TxnAnswer, rref: impl Into<Option<RequestRef>>, now: Instant) {
        match answer {
            TxnAnswer::Done => {}
            TxnAnswer::Malformed(detail) => {
                if let Some(rref) = rref.into() {
                    self.malformed(rref.conn, detail, now);
                }
            }
            TxnAnswer::Granted { pid, epoch, start } => {
                let v1 = self.txn.as_ref().is_some_and(|t| !t.v2);
                self.limits.produce_cap = if v1 { 11 } else { i16::MAX };
                self.granted(pid, epoch, start);
            }
            TxnAnswer::Enrolled(parts) => {
                let txn_epoch = self.limits.txn_epoch;
                parts
                    .into_iter()
                    .for_each(|at| self.partition_mut(at).txn_epoch = txn_epoch);
            }
            TxnAnswer::FailUnsent(error) => self.fail_unsent(&error),
        }
    }

    /// Fails every record not sent yet with `error` (an aborted transaction, a fatal
    /// transaction error); a stamped batch among them leaves a sequence hole, noted for an
    /// epoch bump.
    pub(super) fn fail_unsent(&mut self, error: &ProduceError) {
        let mut failed = Vec::new();
        self.sequence_lost |=
            super::topic::take_all_unsent(&mut self.topics, &mut failed, &mut self.recycler);
        self.mark_all();
        self.outbox.fail_all(&mut self.recycler, failed, error);
    }
}
