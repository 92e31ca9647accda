//! The idempotent producer (KIP-98, KIP-360): a producer id and epoch from InitProducerId,
//! a sequence number per partition in every RecordBatch, and what the broker's sequence
//! checks answer.
//!
//! * **Producer id.** Before the first Produce the core sends InitProducerId (version chosen
//!   by ApiVersions) to any ready connection; a retriable error or a lost connection retries
//!   it after `retry.backoff.ms`; a non-retriable one makes the producer id unusable, and
//!   every record that would be sent fails with [`ProduceError::ProducerIdRefused`].
//! * **Sequences.** A batch gets its base sequence when it first goes into a request (Java's
//!   drain time), written into its header before the CRC; from then on it is a
//!   [`Stamp`]ed unit of retry that keeps its records, bytes and sequence.
//! * **Epoch bump.** UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER on the first batch in
//!   flight (the broker lost the producer's state), or a batch with a sequence failed without
//!   an answer (delivery timeout, retries exhausted, a non-retriable error: a hole in the
//!   sequence space) ask for a bump. Sending stops; once no Produce is in flight anywhere the
//!   epoch is bumped **locally** (same id, epoch + 1, no request), as the Java client's
//!   `bumpIdempotentProducerEpoch` does: a non-transactional InitProducerId always answers a
//!   fresh id at epoch 0, so it is sent only at start and when the epoch would overflow.
//!   The partitions that lost their state restart at sequence 0 under the new epoch, their
//!   unacknowledged batches re-stamped in order when they next go out; every other partition
//!   keeps its old id, epoch and sequences until each batch stamped under them is resolved
//!   (the broker can still recognise those as duplicates), then starts at 0 under the new
//!   ones, as Java's `maybeUpdateProducerIdAndEpoch` does. A new producer id is handled the
//!   same per-partition way.
//! * **Maybe written.** A batch whose send got no definitive answer (connection lost, request
//!   timeout, REQUEST_TIMED_OUT or NOT_ENOUGH_REPLICAS_AFTER_APPEND) may be in the log. It is
//!   retried under its own sequence, never re-stamped: when its partition must restart under
//!   a new epoch, it fails with [`ProduceError::RetriesExhausted`] instead (re-stamped, the
//!   broker could not recognise it and might store it twice).
//! * **Old duplicates.** Only the broker says a batch is a duplicate (success with an
//!   offset, or DUPLICATE_SEQUENCE_NUMBER). The broker remembers a producer's last five
//!   batches per partition; an older retry is answered OUT_OF_ORDER_SEQUENCE_NUMBER. When a
//!   later sequence of the partition was already acknowledged, it was most likely written,
//!   but neither its offset nor that is certain: it fails (with the cause that left its
//!   outcome unknown), is never reported delivered, and is not sent again.
//! * **Fencing.** INVALID_PRODUCER_EPOCH or PRODUCER_FENCED is fatal for the producer id:
//!   the batch and every later one fail with [`ProduceError::ProducerFenced`].
//! * **Brokers that cannot.** Idempotence is decided on the first negotiated connection: a
//!   legacy message format (Produce below v3) or no InitProducerId turns a defaulted
//!   (`enable_idempotence = None`) idempotence off; a required one (`Some(true)`) fails every
//!   record with [`ProduceError::IdempotenceUnavailable`].

use super::batch::{seq_add, Batch, Stamp};
use super::connection::{InFlightBatch, RequestKind, RequestRef, Versions};
use super::partition::PartitionState;
use super::{PartitionRef, ProducerCore};
use crate::error::{ProduceError, RetryCause};
use crate::output::TimeoutReason;
use crate::protocol::{self, ErrorCode, InitProducerIdRequest};
use crate::record::{batch, BatchBuilder, ProducerFields, RecordFormat};
use crate::time::Instant;

/// Where the producer id stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PidState {
    /// Idempotence is off (configured off, or a defaulted one the brokers cannot do).
    Off,
    /// Configured on; no broker negotiated yet.
    Undecided,
    /// An id is needed (`bump`: the epoch of the current one is to be bumped).
    Needed { bump: bool },
    /// InitProducerId is in flight.
    Requesting { req: RequestRef, bump: bool },
    /// Id and epoch held: Produce may go.
    Ready,
    /// No usable producer id: every record that would be sent fails with this.
    Fatal(ProduceError),
}

/// The idempotent producer's state.
#[derive(Debug)]
pub(crate) struct Idempotence {
    pub state: PidState,
    pub producer_id: i64,
    pub epoch: i16,
    /// Bumped with every id or epoch granted; a [`Stamp`] of another generation is stale.
    pub generation: u32,
    /// No InitProducerId before this (retry backoff).
    pub not_before: Option<Instant>,
    /// InitProducerId attempts in a row that failed: the backoff grows with them (×2 up to
    /// `retry.backoff.max.ms`, with jitter), as for every other retry.
    pub failures: u32,
    /// Where sequences start under a producer id InitProducerId grants: 0, except through the
    /// testing hook [`ProducerCore::set_initial_sequence_for_testing`].
    pub first_seq: i32,
    /// Where sequences start under the current id and epoch: [`first_seq`](Self::first_seq)
    /// under a freshly granted id, 0 after a local epoch bump (a new epoch starts at 0).
    pub generation_start: i32,
}

impl Idempotence {
    pub(crate) fn new(enabled: bool) -> Self {
        Idempotence {
            state: if enabled {
                PidState::Undecided
            } else {
                PidState::Off
            },
            producer_id: -1,
            epoch: -1,
            generation: 0,
            not_before: None,
            failures: 0,
            first_seq: 0,
            generation_start: 0,
        }
    }

    /// Whether batches carry sequences.
    pub(crate) fn on(&self) -> bool {
        !matches!(self.state, PidState::Off)
    }

    /// The broker lost our state or the sequence space has a hole: bump the epoch (once
    /// nothing is in flight).
    pub(crate) fn require_bump(&mut self) {
        match self.state {
            PidState::Ready => self.state = PidState::Needed { bump: true },
            PidState::Requesting { req, .. } => {
                self.state = PidState::Requesting { req, bump: true }
            }
            _ => {}
        }
    }

    /// Whether Produce may be sent now: `Ok(true)` yes, `Ok(false)` not yet (waiting for a
    /// producer id or an epoch bump), `Err` never (the records fail with it).
    pub(crate) fn gate(&self) -> Result<bool, ProduceError> {
        match &self.state {
            PidState::Off | PidState::Ready => Ok(true),
            PidState::Fatal(e) => Err(e.clone()),
            _ => Ok(false),
        }
    }

    /// The InitProducerId backoff deadline, while one is needed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            PidState::Needed { .. } => self.not_before,
            _ => None,
        }
    }

    /// The producer fields for a batch starting at `seq`.
    pub(crate) fn fields(&self, seq: i32) -> ProducerFields {
        ProducerFields {
            producer_id: self.producer_id,
            producer_epoch: self.epoch,
            base_sequence: seq,
            transactional: false,
        }
    }
}

impl PartitionState {
    /// Brings the partition's sequence counters to `generation`, whose sequences start at
    /// `start` (0 for a new epoch; see [`Idempotence::generation_start`]).
    pub(crate) fn sync_generation(&mut self, generation: u32, start: i32) {
        if self.generation != generation {
            self.generation = generation;
            self.next_seq = start;
            self.acked_seq = start;
        }
    }

    /// A lost sequence noted since the last look ([`sequence_lost`](Self::sequence_lost))
    /// becomes a reset at the next producer id or epoch; returns whether there was one.
    pub(crate) fn take_sequence_loss(&mut self) -> bool {
        let lost = std::mem::take(&mut self.sequence_lost);
        self.reset_needed |= lost;
        lost
    }
}

impl ProducerCore {
    /// Decides idempotence on the first negotiated connection (see the module docs).
    pub(super) fn decide_idempotence(&mut self, versions: &Versions) {
        if self.idem.state != PidState::Undecided {
            return;
        }
        let v2 = matches!(versions.produce, Ok((_, RecordFormat::V2)));
        let why = if !v2 {
            Some("the broker speaks only a legacy message format (no producer ids)")
        } else if versions.init_producer_id.is_none() {
            Some("the broker does not support InitProducerId")
        } else {
            None
        };
        match why {
            None => {
                self.idem.state = PidState::Needed { bump: false };
                self.limits.per_partition = self
                    .config
                    .max_in_flight_requests_per_connection
                    .clamp(1, 5);
            }
            Some(_) if self.config.enable_idempotence != Some(true) => {
                self.idem.state = PidState::Off;
            }
            Some(why) => {
                self.idem.state = PidState::Fatal(ProduceError::IdempotenceUnavailable(why))
            }
        }
    }

    /// Part of every advance: turns lost sequences into an epoch bump, and sends InitProducerId
    /// when one is needed and may go.
    pub(super) fn idempotence_step(&mut self, now: Instant) {
        if !self.idem.on() {
            return;
        }
        // Noted by the pass over the partitions that changed (`expire_records`).
        if std::mem::take(&mut self.sequence_lost) {
            self.idem.require_bump();
        }
        let PidState::Needed { bump } = self.idem.state else {
            return;
        };
        if self.idem.not_before.is_some_and(|t| now < t) || self.is_idle_closing() {
            return;
        }
        // An epoch is bumped only once nothing of the old one is in flight.
        if bump && self.conns.conns.values().any(|c| c.produce_in_flight() > 0) {
            return;
        }
        if bump && self.idem.producer_id >= 0 && self.idem.epoch < i16::MAX {
            // The Java client's `bumpIdempotentProducerEpoch`: the same id, epoch + 1, no
            // request (a non-transactional InitProducerId always answers a fresh id).
            let (pid, epoch) = (self.idem.producer_id, self.idem.epoch + 1);
            self.grant(pid, epoch, 0);
            return;
        }
        let Some((conn, version)) = self.conns.ready_for(|v| v.init_producer_id) else {
            return;
        };
        let body = InitProducerIdRequest {
            producer_id: -1,
            producer_epoch: -1,
            ..InitProducerIdRequest::default()
        };
        let kind = RequestKind::InitProducerId { version };
        if let Some(req) = self.transmit(conn, version, &body, Some(kind), now) {
            self.idem.state = PidState::Requesting { req, bump };
        }
    }

    /// The InitProducerId answer.
    pub(super) fn on_init_producer_id(
        &mut self,
        rref: RequestRef,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) {
        let PidState::Requesting { req, bump } = self.idem.state.clone() else {
            return;
        };
        if req != rref {
            return;
        }
        let resp = match protocol::decode_response::<InitProducerIdRequest>(version, frame) {
            Ok((_, r)) => {
                self.conn_proved(rref.conn);
                r
            }
            Err(e) => {
                self.init_producer_id_failed(rref, now);
                let detail = format!("InitProducerId v{version} answer does not decode: {e}");
                return self.malformed(rref.conn, detail, now);
            }
        };
        let code = ErrorCode(resp.error_code);
        if code.is_ok() && resp.producer_id >= 0 && resp.producer_epoch >= 0 {
            let start = self.idem.first_seq;
            self.grant(resp.producer_id, resp.producer_epoch, start);
        } else if code.is_ok() || code.is_retriable() || is_coordinator_retriable(code) {
            self.idem.state = PidState::Needed { bump };
            self.backoff_init(now);
        } else if code == ErrorCode::INVALID_PRODUCER_EPOCH || code == ErrorCode::PRODUCER_FENCED {
            self.idem.state = PidState::Fatal(ProduceError::ProducerFenced(code));
        } else {
            self.idem.state = PidState::Fatal(ProduceError::ProducerIdRefused(code));
        }
    }

    /// A new producer id or epoch is held (granted by InitProducerId, or bumped locally).
    /// The partitions that lost their state restart at sequence 0 under it; every other
    /// keeps its stamped batches on the old id/epoch until they resolve (the broker can still
    /// tell whether they were written) and moves to the new one after, whether the epoch was
    /// bumped or the id is new: re-stamping a batch that may have been written could store it
    /// twice. Sequences under the new id/epoch start at `start`.
    fn grant(&mut self, producer_id: i64, epoch: i16, start: i32) {
        self.idem.producer_id = producer_id;
        self.idem.generation_start = start;
        self.idem.epoch = epoch;
        self.idem.generation = self.idem.generation.wrapping_add(1);
        self.idem.not_before = None;
        self.idem.failures = 0;
        self.idem.state = PidState::Ready;
        let generation = self.idem.generation;
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

    /// The InitProducerId request `rref` got no answer (connection lost or timed out).
    pub(super) fn init_producer_id_failed(&mut self, rref: RequestRef, now: Instant) {
        if let PidState::Requesting { req, bump } = self.idem.state {
            if req == rref {
                self.idem.state = PidState::Needed { bump };
                self.backoff_init(now);
            }
        }
    }

    fn backoff_init(&mut self, now: Instant) {
        self.idem.failures = self.idem.failures.saturating_add(1);
        let at = now + self.retry_backoff_for(self.idem.failures);
        self.idem.not_before = Some(at);
        self.lower_wake(at, TimeoutReason::RetryBackoff);
    }

    /// Gives a batch about to be sent its sequence: a fresh one for a new batch (its
    /// producer fields go into `finish`), or, for a stamped batch of an older generation, a
    /// re-stamp at the partition's next sequence. Returns the fields for a new batch (`None`
    /// without idempotence); [`Self::commit_stamp`] advances the counter once the bytes exist.
    pub(super) fn next_fields(&mut self, at: PartitionRef) -> Option<(ProducerFields, u32)> {
        if !self.idem.on() {
            return None;
        }
        let (generation, start) = (self.idem.generation, self.idem.generation_start);
        let part = self.partition_mut(at);
        part.sync_generation(generation, start);
        let seq = part.next_seq;
        Some((self.idem.fields(seq), generation))
    }

    /// The batch finished as `wire` with the fields from [`Self::next_fields`]: its sequences
    /// are taken.
    pub(super) fn commit_stamp(
        &mut self,
        b: &mut InFlightBatch,
        fields: ProducerFields,
        generation: u32,
        wire: &bytes::Bytes,
    ) {
        let part = self.partition_mut(b.partition);
        part.next_seq = seq_add(fields.base_sequence, b.records.len());
        b.stamp = Some(Stamp {
            generation,
            base_seq: fields.base_sequence,
            wire: wire.clone(),
            maybe_written: None,
        });
    }

    /// A stamped batch about to be sent again: the same bytes, or re-stamped from the
    /// partition's next sequence when the epoch was bumped since. Fails when the batch may
    /// already be in the log (an earlier send got no definitive answer: re-stamping it could
    /// store it twice; the broker can no longer tell under the new epoch), or when the bytes
    /// are not a v2 batch (cannot happen for a batch this core stamped).
    pub(super) fn refresh_stamp(
        &mut self,
        at: PartitionRef,
        stamp: Stamp,
        n: usize,
    ) -> Result<Stamp, ProduceError> {
        let (generation, start) = (self.idem.generation, self.idem.generation_start);
        let part = self.partition_mut(at);
        if stamp.generation == generation || stamp.generation == part.generation {
            // Current, or the partition still runs under the stamp's (older) epoch: the
            // broker can still tell whether it was written.
            return Ok(stamp);
        }
        if let Some(cause) = stamp.maybe_written {
            return Err(ProduceError::RetriesExhausted(cause));
        }
        part.sync_generation(generation, start);
        let seq = part.next_seq;
        let wire = batch::restamp(&stamp.wire, self.idem.fields(seq)).ok_or(
            ProduceError::IdempotenceUnavailable(
                "a batch with a sequence met a broker without RecordBatch v2",
            ),
        )?;
        self.partition_mut(at).next_seq = seq_add(seq, n);
        Ok(Stamp {
            generation,
            base_seq: seq,
            wire,
            maybe_written: None,
        })
    }

    /// A stamped batch came back with a retriable cause: it is retried whole, keeping its
    /// sequence, in sequence order ahead of everything newer of its partition (see
    /// [`super::partition`]); past its delivery deadline or `retries` it fails, and its
    /// sequence leaves a hole that an epoch bump closes (as the Java client does).
    pub(super) fn sequenced_batch_failed(
        &mut self,
        mut b: InFlightBatch,
        rref: RequestRef,
        cause: RetryCause,
        now: Instant,
    ) {
        if outcome_unknown(&cause) {
            if let Some(st) = &mut b.stamp {
                st.maybe_written = Some(cause.clone());
            }
        }
        let level = b.records.iter().map(|p| p.retries).max().unwrap_or(0);
        // OUT_OF_ORDER_SEQUENCE_NUMBER behind an earlier batch that failed is that batch's
        // failure, not an attempt of this one; a lost producer state is fixed by the epoch
        // bump, not by retrying: neither uses up `retries` (the delivery timeout still bounds
        // them).
        let not_an_attempt = cause == RetryCause::Broker(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            || matches!(cause, RetryCause::SequenceReset(_));
        let level = if not_an_attempt {
            level.max(1)
        } else {
            level.saturating_add(1)
        };
        let expired = b
            .records
            .first()
            .is_some_and(|p| p.deadline.is_some_and(|d| now >= d));
        let max_retries = self.config.retries;
        let part = self.partition_mut(b.partition);
        part.request_resolved(rref);
        // Not an attempt, so never past `retries` either: a batch whose level rose with
        // splits (MESSAGE_TOO_LARGE) would otherwise fail with RetriesExhausted(OUT_OF_ORDER)
        // while merely waiting behind another (found by the simulator with broker caps).
        if expired || (!not_an_attempt && level > max_retries) {
            part.sequence_lost = true;
            let e = if expired {
                ProduceError::DeliveryTimeout
            } else {
                ProduceError::RetriesExhausted(cause)
            };
            self.fail_all(b.records, &e);
            return;
        }
        // The same backoff policy as every other retry (KIP-580: doubling per attempt, with
        // jitter, up to `retry.backoff.max.ms`; issue 21, bug 6).
        let backoff_until = now + self.retry_backoff_for(level.max(1));
        self.requeue_stamped(vec![b], level, Some(backoff_until), now);
        self.metadata
            .request_after_backoff(now, self.config.retry_backoff);
    }

    /// Puts stamped batches (of one partition, oldest first) back for a retry at `level`:
    /// into the partition's retry batches in sequence order, the old path pulled back behind
    /// them, the watermark raised with a chaser for everything still in flight. With
    /// `backoff_until` the leader is abandoned too (a failure); without (a split) it is kept.
    pub(super) fn requeue_stamped(
        &mut self,
        batches: Vec<InFlightBatch>,
        level: u32,
        backoff_until: Option<Instant>,
        now: Instant,
    ) {
        let overhead = self.limits.overhead;
        let Some(first) = batches.first() else {
            return;
        };
        let part = self.partition_mut(first.partition);
        for b in batches {
            let mut records = b.records;
            for p in &mut records {
                p.retries = level;
            }
            part.insert_retry_batch(Batch::sealed(records, overhead, now, b.stamp));
        }
        part.begin_batch_retry(level, backoff_until);
    }

    /// MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE for `b`: split it in two and retry the
    /// halves in order (with idempotence they take the batch's own sequences, the second
    /// half right after the first, as Java re-splits and re-stamps); a single record that is
    /// too large fails.
    pub(super) fn split_batch(
        &mut self,
        b: InFlightBatch,
        rref: RequestRef,
        code: ErrorCode,
        now: Instant,
    ) {
        let at = b.partition;
        self.partition_mut(at).request_resolved(rref);
        if b.records.len() <= 1 {
            if b.stamp.is_some() {
                self.partition_mut(at).sequence_lost = true;
            }
            self.fail_all(b.records, &ProduceError::Broker(code));
            self.queue_if_ready(at);
            return;
        }
        let mut front = b.records;
        let back = front.split_off(front.len() / 2);
        let overhead = self.limits.overhead;
        let Some(stamp) = b.stamp else {
            // No sequence: the halves go back at the front of the broker path (the batch was
            // the partition's only one in flight, older than everything held), sealed, to be
            // encoded again when their requests are built.
            self.partition_mut(at)
                .push_front_halves(front, back, overhead, now);
            self.queue_if_ready(at);
            return;
        };
        let second_seq = seq_add(stamp.base_seq, front.len());
        // The halves keep the batch's producer id and epoch (its partition may still run
        // under an older one than the producer's current).
        let (pid, epoch) =
            stamp_producer(&stamp.wire).unwrap_or((self.idem.producer_id, self.idem.epoch));
        let mut halves = Vec::with_capacity(2);
        for (records, seq) in [(front, stamp.base_seq), (back, second_seq)] {
            let fields = ProducerFields {
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                transactional: false,
            };
            match self.encode_stamped(&records, fields) {
                Ok(wire) => halves.push(InFlightBatch {
                    partition: at,
                    records,
                    enc: None,
                    wire: bytes::Bytes::new(),
                    stamp: Some(Stamp {
                        generation: stamp.generation,
                        base_seq: seq,
                        wire,
                        maybe_written: stamp.maybe_written.clone(),
                    }),
                }),
                Err(e) => {
                    self.partition_mut(at).sequence_lost = true;
                    self.fail_all(records, &e);
                }
            }
        }
        let level = halves
            .iter()
            .flat_map(|h| h.records.iter().map(|p| p.retries))
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        self.requeue_stamped(halves, level, None, now);
    }

    /// Encodes `records` as a v2 batch stamped at `seq`.
    fn encode_stamped(
        &self,
        records: &[super::accept::AcceptedRecord],
        fields: ProducerFields,
    ) -> Result<bytes::Bytes, ProduceError> {
        let mut builder = BatchBuilder::new(RecordFormat::V2);
        for p in records {
            p.encode_into(&mut builder)
                .map_err(|e| ProduceError::Encoding(e.to_string()))?;
        }
        builder
            .finish_with(
                self.config.compression,
                self.config.effective_compression_level(),
                fields,
            )
            .map_err(|e| ProduceError::Encoding(e.to_string()))
    }
}

/// The producer id and epoch written in a finished v2 batch.
fn stamp_producer(wire: &[u8]) -> Option<(i64, i16)> {
    let pid = wire.get(43..51)?;
    let epoch = wire.get(51..53)?;
    Some((
        i64::from_be_bytes(pid.try_into().ok()?),
        i16::from_be_bytes(epoch.try_into().ok()?),
    ))
}

/// Whether a send that failed with `cause` may still have been written (no answer, or an
/// error the broker gives after appending).
fn outcome_unknown(cause: &RetryCause) -> bool {
    match cause {
        RetryCause::ConnectionLost
        | RetryCause::RequestTimeout
        | RetryCause::IncompleteResponse
        | RetryCause::MalformedResponse { .. } => true,
        RetryCause::Broker(c) => {
            *c == ErrorCode::REQUEST_TIMED_OUT || *c == ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND
        }
        RetryCause::SequenceReset(_) => false,
    }
}

/// InitProducerId errors worth retrying that the error table does not mark retriable.
fn is_coordinator_retriable(code: ErrorCode) -> bool {
    // COORDINATOR_LOAD_IN_PROGRESS (14), COORDINATOR_NOT_AVAILABLE (15), NOT_COORDINATOR
    // (16), CONCURRENT_TRANSACTIONS (51).
    matches!(code.0, 14..=16 | 51)
}
