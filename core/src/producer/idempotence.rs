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
//!   the batch and every later one fail with [`ProduceError::ProducerFenced`]. A
//!   transactional producer's INVALID_PRODUCER_EPOCH from a partition leader only fails its
//!   batch and loses the sequence (KIP-588, as the Java client: the transaction becomes
//!   abortable, and the abort bumps the epoch); PRODUCER_FENCED stays fatal.
//! * **Brokers that cannot.** Idempotence is decided on the first negotiated connection: a
//!   legacy message format (Produce below v3) or no InitProducerId turns a defaulted
//!   (`enable_idempotence = None`) idempotence off; a required one (`Some(true)`) fails every
//!   record with [`ProduceError::IdempotenceUnavailable`].

use super::connection::{Connections, Io, RequestKind, RequestRef, Versions};
use super::partition::PartitionState;
use super::responses::retry_backoff;
use super::Clock;
use crate::config::Config;
use crate::error::{ProduceError, RetryCause};
use crate::output::TimeoutReason;
use crate::protocol::{self, ErrorCode, InitProducerIdRequest};
use crate::record::{ProducerFields, RecordFormat};
use crate::rng::Rng;
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
    /// A transactional producer: its batches carry the transactional bit, and its producer id
    /// comes from the transaction stage ([`super::txn`]), which also bumps the epoch
    /// (KIP-360 through InitProducerId, or EndTxn v5), never locally.
    pub transactional: bool,
}

impl Idempotence {
    pub(crate) fn new(enabled: bool, transactional: bool) -> Self {
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
            transactional,
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
            transactional: self.transactional,
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

/// What an InitProducerId answer leads to.
pub(crate) enum PidAnswer {
    /// Nothing more for the router (not the request awaited, or a backoff started, or the
    /// producer is fenced or refused for good).
    Done,
    /// The answer does not decode (`detail` says how): the request failed.
    Malformed(String),
    /// A producer id and epoch were granted, sequences to start at `start`.
    Granted {
        /// The producer id.
        producer_id: i64,
        /// Its epoch.
        epoch: i16,
        /// The first sequence under it.
        start: i32,
    },
}

impl Idempotence {
    /// Decides idempotence on the first negotiated connection (see the module docs).
    /// Returns how many batches of one partition may then be in flight, when it is on.
    pub(crate) fn decide(&mut self, versions: &Versions, config: &Config) -> Option<usize> {
        if self.state != PidState::Undecided {
            return None;
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
                self.state = PidState::Needed { bump: false };
                return Some(config.max_in_flight_requests_per_connection.clamp(1, 5));
            }
            Some(_) if config.enable_idempotence != Some(true) => {
                self.state = PidState::Off;
            }
            Some(why) => self.state = PidState::Fatal(ProduceError::IdempotenceUnavailable(why)),
        }
        None
    }

    /// Part of every advance while on: a lost sequence (`lost`) becomes an epoch bump, and
    /// InitProducerId goes out when one is needed and may go. Returns the id and epoch of a
    /// local epoch bump, which needs no request.
    pub(crate) fn step(
        &mut self,
        lost: bool,
        idle_closing: bool,
        conns: &mut Connections,
        io: &mut Io<'_>,
        now: Instant,
    ) -> Option<(i64, i16)> {
        if lost {
            self.require_bump();
        }
        if self.transactional {
            // The transaction stage asks its coordinator (and bumps with the abort).
            return None;
        }
        let PidState::Needed { bump } = self.state else {
            return None;
        };
        if self.not_before.is_some_and(|t| now < t) || idle_closing {
            return None;
        }
        // An epoch is bumped only once nothing of the old one is in flight.
        if bump && conns.conns.values().any(|c| c.produce_in_flight() > 0) {
            return None;
        }
        if bump && self.producer_id >= 0 && self.epoch < i16::MAX {
            // The Java client's `bumpIdempotentProducerEpoch`: the same id, epoch + 1, no
            // request (a non-transactional InitProducerId always answers a fresh id).
            return Some((self.producer_id, self.epoch + 1));
        }
        let (conn, version) = conns.ready_for(|v| v.init_producer_id)?;
        let body = InitProducerIdRequest {
            producer_id: -1,
            producer_epoch: -1,
            ..InitProducerIdRequest::default()
        };
        let kind = RequestKind::InitProducerId { version };
        if let Some(req) = conns.transmit(conn, version, &body, Some(kind), io, now) {
            self.state = PidState::Requesting { req, bump };
        }
        None
    }

    /// The InitProducerId answer to `rref`.
    pub(crate) fn on_answer(
        &mut self,
        rref: RequestRef,
        version: i16,
        frame: &[u8],
        conns: &mut Connections,
        (config, rng, clock): (&Config, &mut Rng, &mut Clock),
        now: Instant,
    ) -> PidAnswer {
        let PidState::Requesting { req, bump } = self.state.clone() else {
            return PidAnswer::Done;
        };
        if req != rref {
            return PidAnswer::Done;
        }
        let resp = match protocol::decode_response::<InitProducerIdRequest>(version, frame) {
            Ok((_, r)) => {
                conns.proved(rref.conn);
                r
            }
            Err(e) => {
                self.failed(rref, (config, rng, clock), now);
                let detail = format!("InitProducerId v{version} answer does not decode: {e}");
                return PidAnswer::Malformed(detail);
            }
        };
        let code = ErrorCode(resp.error_code);
        if code.is_ok() && resp.producer_id >= 0 && resp.producer_epoch >= 0 {
            return PidAnswer::Granted {
                producer_id: resp.producer_id,
                epoch: resp.producer_epoch,
                start: self.first_seq,
            };
        } else if code.is_ok() || code.is_retriable() || is_coordinator_retriable(code) {
            self.state = PidState::Needed { bump };
            self.backoff((config, rng, clock), now);
        } else if code == ErrorCode::INVALID_PRODUCER_EPOCH || code == ErrorCode::PRODUCER_FENCED {
            self.state = PidState::Fatal(ProduceError::ProducerFenced(code));
        } else {
            self.state = PidState::Fatal(ProduceError::ProducerIdRefused(code));
        }
        PidAnswer::Done
    }

    /// A new producer id or epoch is held (granted by InitProducerId, or bumped locally),
    /// sequences under it starting at `start`. Returns the new generation.
    pub(crate) fn grant(&mut self, producer_id: i64, epoch: i16, start: i32) -> u32 {
        self.producer_id = producer_id;
        self.generation_start = start;
        self.epoch = epoch;
        self.generation = self.generation.wrapping_add(1);
        self.not_before = None;
        self.failures = 0;
        self.state = PidState::Ready;
        self.generation
    }

    /// The InitProducerId request `rref` got no answer (connection lost or timed out).
    pub(crate) fn failed(
        &mut self,
        rref: RequestRef,
        cx: (&Config, &mut Rng, &mut Clock),
        now: Instant,
    ) {
        if let PidState::Requesting { req, bump } = self.state {
            if req == rref {
                self.state = PidState::Needed { bump };
                self.backoff(cx, now);
            }
        }
    }

    fn backoff(&mut self, (config, rng, clock): (&Config, &mut Rng, &mut Clock), now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let at = now + retry_backoff(config, rng, self.failures);
        self.not_before = Some(at);
        clock.lower_wake(at, TimeoutReason::RetryBackoff);
    }
}

/// The producer id and epoch written in a finished v2 batch.
pub(crate) fn stamp_producer(wire: &[u8]) -> Option<(i64, i16)> {
    let pid = wire.get(43..51)?;
    let epoch = wire.get(51..53)?;
    Some((
        i64::from_be_bytes(pid.try_into().ok()?),
        i16::from_be_bytes(epoch.try_into().ok()?),
    ))
}

/// Whether a send that failed with `cause` may still have been written (no answer, or an
/// error the broker gives after appending).
pub(crate) fn outcome_unknown(cause: &RetryCause) -> bool {
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
