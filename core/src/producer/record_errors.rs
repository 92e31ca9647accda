//! KIP-467 per-record errors: a broker refusing a batch (Produce v8+) with INVALID_RECORD or
//! INVALID_TIMESTAMP may name the records that made it refuse (`RecordErrors`, by their
//! index in the batch). Those records fail alone, each with
//! [`ProduceError::RecordRejected`] carrying the broker's message; the others were not written
//! either (the whole batch was refused), and are sent again as a new batch without them, ahead
//! of everything newer of their partition.
//!
//! The Java client fails the whole batch here (the named records with the broker's message,
//! the others with a generic "part of a batch which had invalid records"); sending the rest
//! again is what KIP-467 made possible and what this producer does.
//!
//! Sequences (idempotence): the refused batch took a range of sequences the broker never
//! wrote, and the rest, being shorter, cannot fill it, so — as for any batch refused for
//! good, and as the Java client does for an idempotent producer (`handleFailedBatch` asks
//! for an epoch bump of the partition) — the partition's sequence is lost and the epoch is
//! bumped. The rest goes back among the partition's retry batches at the refused batch's
//! place in sequence order (stamped there, so ahead of the batches behind it, which the
//! broker refuses as out of order and which come back behind it), and is re-stamped with
//! them under the new epoch.
//!
//! A named index outside the batch (a malformed answer) fails the whole batch with the
//! partition's error, as before KIP-467.

use super::batch::{Batch, Slot, Stamp};
use super::connection::{InFlightBatch, RequestRef};
use super::idempotence::stamp_producer;
use super::responses::Responses;
use super::stage_cx::StageCx;
use crate::error::ProduceError;
use crate::protocol::{ErrorCode, ProducePartitionResponse};
use crate::record::ProducerFields;
use crate::time::Instant;

/// Whether `block` refuses its batch naming records (KIP-467) with a code this stage handles.
pub(crate) fn names_records(code: ErrorCode, block: &ProducePartitionResponse) -> bool {
    (code == ErrorCode::INVALID_RECORD || code == ErrorCode::INVALID_TIMESTAMP)
        && !block.record_errors.is_empty()
}

impl Responses {
    /// `b` was refused with `code`, naming records in `block` ([`names_records`]): the named
    /// ones fail, the rest is sent again (see the module docs).
    pub(crate) fn reject_named_records(
        &mut self,
        cx: &mut StageCx<'_>,
        b: InFlightBatch,
        rref: RequestRef,
        code: ErrorCode,
        block: &ProducePartitionResponse,
        now: Instant,
    ) {
        let at = b.partition;
        let n = b.records.len();
        let sequenced = b.stamp.is_some();
        let part = cx.partition_mut(at);
        part.request_resolved(rref);
        part.sequence_lost |= sequenced;
        let mut named = vec![None; n];
        let mut valid = true;
        for e in &block.record_errors {
            match usize::try_from(e.batch_index)
                .ok()
                .and_then(|i| named.get_mut(i))
            {
                Some(slot) => {
                    let message = e
                        .message
                        .clone()
                        .or_else(|| block.error_message.clone())
                        .unwrap_or_else(|| code.name().to_owned());
                    *slot = Some(message);
                }
                None => valid = false,
            }
        }
        let rest_len = named.iter().filter(|m| m.is_none()).count();
        let stamp = b.stamp.clone();
        let records = cx.unbatch(b);
        if let Some(cause) = stamp.as_ref().and_then(|s| s.maybe_written.clone()) {
            // An earlier attempt got no answer and may be in the log (a timestamp can pass
            // then and fail now): sending any of it again could store it twice.
            let e = ProduceError::RetriesExhausted(cause);
            cx.outbox.fail_all(cx.recycler, records, &e);
            self.requeue.push(at);
            return;
        }
        if !valid {
            let e = ProduceError::Broker(code);
            cx.outbox.fail_all(cx.recycler, records, &e);
            self.requeue.push(at);
            return;
        }
        let mut rest = Vec::with_capacity(rest_len);
        for (p, message) in records.into_iter().zip(named) {
            match message {
                Some(message) => {
                    cx.outbox.counters.records_rejected_alone += 1;
                    let e = ProduceError::RecordRejected { code, message };
                    cx.outbox.fail(cx.recycler, p, e);
                }
                None => rest.push(p),
            }
        }
        if rest.is_empty() {
            self.requeue.push(at);
            return;
        }
        let Some(stamp) = stamp else {
            // No sequence: the batch was the partition's only one in flight, older than
            // everything held; the rest goes back at the front of the broker path.
            let overhead = cx.limits.overhead;
            let rest = rest.into_iter().map(Slot::whole).collect();
            cx.partition_mut(at)
                .batches
                .push_front(Batch::sealed(rest, overhead, now, None));
            self.requeue.push(at);
            return;
        };
        // Stamped at the refused batch's place (see the module docs); re-stamped after the
        // epoch bump that the lost sequence asks for.
        let (pid, epoch) =
            stamp_producer(&stamp.wire).unwrap_or((cx.idem.producer_id, cx.idem.epoch));
        let fields = ProducerFields {
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: stamp.base_seq,
            transactional: cx.idem.transactional,
        };
        match Self::encode_stamped(cx.config, &rest, fields) {
            Ok(wire) => {
                let level = rest.iter().map(|p| p.retries).max().unwrap_or(0);
                let batch = InFlightBatch {
                    partition: at,
                    records: rest.into_iter().map(Slot::whole).collect(),
                    enc: None,
                    wire: bytes::Bytes::new(),
                    stamp: Some(Box::new(Stamp {
                        generation: stamp.generation,
                        base_seq: stamp.base_seq,
                        wire,
                        maybe_written: None,
                    })),
                };
                Self::requeue_stamped(cx, vec![batch], level, None, now);
            }
            Err(e) => cx.outbox.fail_all(cx.recycler, rest, &e),
        }
    }
}
