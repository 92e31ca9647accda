//! The broker stage (Sarama's aggregator + flusher per broker): connect lazily to leaders
//! with data, collect sealed batches of the broker's partitions into Produce requests (up to
//! `max.request.size` bytes, `max_request_records` records, `max.in.flight.requests.per.connection`
//! requests, one batch per partition per request, and per partition at most one batch in
//! flight without idempotence, up to `max.in.flight.requests.per.connection` (≤ 5) with it —
//! see [`PartitionState::ready`](super::partition::PartitionState::ready)), encode them in
//! the negotiated format (stamping each batch's sequence with idempotence), and parse the
//! answers per partition.

use super::batch::seq_batch_before;
use super::connection::{InFlightBatch, RequestKind, RequestRef, Target};
use super::recycle::class_size;
use super::request::produce_chunks;
use super::{PartitionRef, ProducerCore};
use crate::compression::Compression;
use crate::config::Acks;
use crate::error::{ProduceError, RetryCause};
use crate::output::ConnId;
use crate::protocol::{self, api_key, ErrorCode, ProduceRequest};
use crate::record::{BatchBuilder, RecordFormat};
use crate::time::Instant;
use bytes::{Bytes, BytesMut};
use std::collections::BTreeSet;

/// Room kept for the request header and topic/partition framing in `max.request.size`.
const REQUEST_OVERHEAD: usize = 512;

impl ProducerCore {
    /// Opens connections to leaders that have sealed batches waiting.
    pub(super) fn connect_leaders(&mut self, now: Instant) {
        let mut wanted = BTreeSet::new();
        let limits = self.limits;
        for &at in &self.ready {
            let part = self.partition(at);
            if let (Some(node), true) = (part.leader, part.ready(&limits)) {
                // A leader already connected needs nothing here (and the set allocates only
                // on insert, so the steady state allocates nothing).
                if !self.conns.by_target.contains_key(&Target::Node(node)) {
                    wanted.insert(node);
                }
            }
        }
        for node in wanted {
            let target = Target::Node(node);
            if self.conns.may_connect(target, now) {
                self.open_conn(target, now);
            }
        }
    }

    /// Builds Produce requests on every ready broker connection while there is room.
    pub(super) fn send_produce_requests(&mut self, now: Instant) {
        let mut ready = std::mem::take(&mut self.ready_conns);
        ready.extend(self.conns.conns.iter().filter_map(|(id, c)| {
            match (c.target, c.versions()) {
                (Target::Node(n), Some(_)) => Some((*id, n)),
                _ => None,
            }
        }));
        for &(conn, node) in &ready {
            self.fill_conn(conn, node, now);
        }
        ready.clear();
        self.ready_conns = ready;
    }

    /// `node` has a partition with a sealed batch ready to go: connect to it, or send on its
    /// ready connection while there is room.
    pub(super) fn send_to_node(&mut self, node: i32, now: Instant) {
        let target = Target::Node(node);
        match self.conns.by_target.get(&target).copied() {
            None => {
                if self.conns.may_connect(target, now) {
                    self.open_conn(target, now);
                }
            }
            Some(conn) => {
                if self
                    .conns
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.versions().is_some())
                {
                    self.fill_conn(conn, node, now);
                }
            }
        }
    }

    /// Sends Produce requests on `conn` (to `node`) while it has room and batches are ready.
    fn fill_conn(&mut self, conn: ConnId, node: i32, now: Instant) {
        while self.conns.conns.get(&conn).is_some_and(|c| {
            c.produce_in_flight() < self.config.max_in_flight_requests_per_connection
        }) {
            if !self.send_one_request(conn, node, now) {
                break;
            }
        }
    }

    /// Collects the sealed front batches of `node`'s partitions that have nothing in flight.
    fn collect_batches(&mut self, node: i32) -> Vec<InFlightBatch> {
        let mut out = self.recycler.batch_list();
        let mut bytes = REQUEST_OVERHEAD;
        let mut records = 0usize;
        let max_records = self.config.max_request_records;
        let limits = self.limits;
        // Each queued partition is looked at once; those for other brokers, or that do not
        // fit this request, go back to the end of the queue in order.
        for _ in 0..self.ready.len() {
            let Some(at) = self.ready.pop_front() else {
                break;
            };
            let max_request_size = self.config.max_request_size;
            let part = self.partition_mut(at);
            // One batch per partition in flight without idempotence (per-partition order across
            // retries), up to the limit with it (sequence numbers keep the order).
            if !part.ready(&limits) {
                part.queued = false;
                continue;
            }
            let Some(front) = part.batches.front().filter(|b| b.sealed) else {
                part.queued = false;
                continue;
            };
            let fits_bytes = bytes + front.bytes <= max_request_size;
            let fits_records = max_records == 0 || records + front.records.len() <= max_records;
            if part.leader != Some(node) || !(out.is_empty() || fits_bytes && fits_records) {
                self.ready.push_back(at);
                continue;
            }
            let Some(batch) = part.batches.pop_front() else {
                part.queued = false;
                continue;
            };
            part.queued = false;
            bytes += batch.bytes;
            records += batch.records.len();
            out.push(InFlightBatch {
                partition: at,
                records: batch.records,
                enc: batch.enc,
                wire: Bytes::new(),
                stamp: batch.stamp,
            });
        }
        // Batches of one topic together, as the request groups them.
        out.sort_unstable_by_key(|b| b.partition);
        out
    }

    /// Builds and transmits one Produce request on `conn`; `false` when there was nothing to
    /// send.
    fn send_one_request(&mut self, conn: ConnId, node: i32, now: Instant) -> bool {
        let Some(versions) = self.conns.conns.get(&conn).and_then(|c| c.versions()) else {
            return false;
        };
        let produce = versions.produce;
        let gate = self.idem.gate();
        if gate == Ok(false) {
            // Waiting for a producer id or an epoch bump.
            return false;
        }
        let mut batches = self.collect_batches(node);
        if batches.is_empty() {
            self.recycler.put_batch_list(batches);
            return false;
        }
        if let Err(e) = gate {
            for b in batches {
                let at = b.partition;
                self.fail_all(b.records, &e);
                self.queue_if_ready(at);
            }
            return true;
        }
        let mut touched = std::mem::take(&mut self.recycler.touched);
        touched.clear();
        touched.extend(batches.iter().map(|b| b.partition));
        let (version, format) = match produce {
            Ok(vf) => vf,
            Err(reason) => {
                let e = ProduceError::UnsupportedVersion {
                    broker: self.broker_label(conn),
                    reason,
                };
                for b in batches {
                    let at = b.partition;
                    self.fail_all(b.records, &e);
                    self.queue_if_ready(at);
                }
                return true;
            }
        };
        // Encode (or finish) each batch; those that fail leave the request.
        let mut sent = self.recycler.batch_list();
        sent.reserve(batches.len());
        for b in batches.drain(..) {
            if let Some(b) = self.encode_batch(b, conn, version, format) {
                sent.push(b);
            }
        }
        self.recycler.put_batch_list(batches);
        if sent.is_empty() {
            self.recycler.put_batch_list(sent);
            // A partition whose batch failed or was split here may send its next one at once.
            self.requeue_touched(touched);
            return true;
        }
        let acks = self.config.acks.as_i16();
        let timeout_ms = i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let correlation_id = self.conns.next_correlation();
        self.header.api_key = api_key::PRODUCE;
        self.header.api_version = version;
        self.header.correlation_id = correlation_id;
        let topics = &self.topics;
        self.outbox.count_batches(node, &sent, |t| &topics[t].name);
        let mut data = self.recycler.chunks();
        let topics = &self.topics;
        produce_chunks(
            &self.header,
            acks,
            timeout_ms,
            &mut sent,
            |t| topics[t].name.as_str(),
            &mut self.framing,
            &mut data,
        );
        self.outbox
            .count_request(node, data.iter().map(|d| d.len()).sum());
        let rref = RequestRef {
            conn,
            correlation_id,
        };
        for b in &sent {
            self.partition_mut(b.partition).in_flight.push(rref);
        }
        let kind = RequestKind::Produce {
            version,
            batches: sent,
        };
        self.transmit_chunks(conn, correlation_id, data, Some(kind), now);
        if self.config.acks == Acks::None {
            // No answer will come: the request is done once the driver has written it
            // (`handle_written`). Until then its records hold their `buffer.memory`, and its
            // request timeout runs as for any request, so a broker that stops reading cannot
            // make unwritten requests pile up.
            if let Some(c) = self.conns.conns.get_mut(&conn) {
                let end = c.transmitted;
                if let Some(r) = c.outstanding.get_mut(&correlation_id) {
                    r.written_at = Some(end);
                }
            }
        }
        // With idempotence a partition may have room for its next batch in the next request;
        // and one whose batch failed or was split here may send at once.
        self.requeue_touched(touched);
        true
    }

    /// Queues each partition of `touched` that is ready again, then keeps the list.
    fn requeue_touched(&mut self, mut touched: Vec<PartitionRef>) {
        for &at in &touched {
            self.queue_if_ready(at);
        }
        touched.clear();
        self.recycler.touched = touched;
    }

    /// Finishes one batch in `format`: the batch encoded at `send` (`enc`) when it is in
    /// that format, else encoded now from its records (the deferred path). Records the format
    /// cannot carry, and batches that cannot be encoded or exceed `message.max.bytes`, fail
    /// here.
    fn encode_batch(
        &mut self,
        mut b: InFlightBatch,
        conn: ConnId,
        version: i16,
        format: RecordFormat,
    ) -> Option<InFlightBatch> {
        let compression = self.config.compression;
        if let Some(stamp) = b.stamp.take() {
            // A retry with a sequence: the same bytes (re-stamped after an epoch bump).
            let (at, n) = (b.partition, b.records.len());
            let refreshed = if format == RecordFormat::V2 {
                self.refresh_stamp(at, stamp, n)
            } else {
                Err(ProduceError::IdempotenceUnavailable(
                    "a batch with a sequence met a broker without RecordBatch v2",
                ))
            };
            let stamp = match refreshed {
                Ok(stamp) => stamp,
                Err(e @ ProduceError::RetriesExhausted(_)) => {
                    // Maybe written under the old epoch: failed, not re-stamped (no hole:
                    // the partition already runs under the new epoch).
                    self.fail_all(b.records, &e);
                    return None;
                }
                Err(e) => {
                    self.partition_mut(at).sequence_lost = true;
                    self.fail_all(b.records, &e);
                    return None;
                }
            };
            b.wire = stamp.wire.clone();
            b.stamp = Some(stamp);
            return Some(b);
        }
        if compression == Compression::Zstd && version < 7 {
            let e = ProduceError::UnsupportedVersion {
                broker: self.broker_label(conn),
                reason: "zstd needs Produce v7+; the broker is older",
            };
            self.fail_all(b.records, &e);
            return None;
        }
        let (builder, mut b) = match b.enc.take() {
            Some(enc) if enc.format() == format && enc.len() == b.records.len() => (enc, b),
            _ => self.encode_deferred(b, format)?,
        };
        let stamp = match format {
            RecordFormat::V2 => self.next_fields(b.partition),
            _ => None,
        };
        let fields = stamp.map_or_else(Default::default, |(f, _)| f);
        // A compressed v2 batch is written into a kept buffer; the one left over (the
        // uncompressed records, or the unused spare) is kept for the next batch.
        let spare = if format == RecordFormat::V2 && compression != Compression::None {
            // A size class (a kept buffer of that class serves it, and it comes back to the
            // same class) with room for the worst case of every codec (snappy's
            // `32 + n + n/6`), so the compressor never grows it.
            let worst = builder.size() + builder.size() / 6 + 128;
            self.recycler
                .buffer(class_size(worst, usize::MAX).max(builder.capacity()))
        } else {
            BytesMut::new()
        };
        let finished = builder
            .finish_reusing(
                compression,
                self.config.effective_compression_level(),
                fields,
                spare,
            )
            .map(|(bytes, left)| {
                self.recycler.put_buffer(left);
                bytes
            });
        match finished {
            Ok(bytes) if bytes.len() > self.config.message_max_bytes => {
                if b.records.len() > 1 {
                    // Compressed past message.max.bytes: split in two and send the halves
                    // (no sequence was taken yet).
                    let overhead = self.limits.overhead;
                    let last_now = self.last_now;
                    let mut front = b.records;
                    let back = front.split_off(front.len() / 2);
                    self.partition_mut(b.partition)
                        .push_front_halves(front, back, overhead, last_now);
                } else {
                    let e = ProduceError::Broker(ErrorCode::MESSAGE_TOO_LARGE);
                    self.fail_all(b.records, &e);
                }
                None
            }
            Ok(bytes) => {
                if let Some((fields, generation)) = stamp {
                    self.commit_stamp(&mut b, fields, generation, &bytes);
                }
                b.wire = bytes;
                Some(b)
            }
            Err(e) => {
                self.fail_all(b.records, &ProduceError::Encoding(e.to_string()));
                None
            }
        }
    }

    /// The deferred path: encodes `b`'s records in `format` now, failing those it cannot
    /// carry; `None` when none is left.
    fn encode_deferred(
        &mut self,
        b: InFlightBatch,
        format: RecordFormat,
    ) -> Option<(BatchBuilder, InFlightBatch)> {
        let bytes: usize = b.records.iter().map(|p| p.size).sum();
        let mut builder = BatchBuilder::with_buffer(format, self.recycler.buffer(bytes));
        let mut kept = self.recycler.records(b.records.len());
        let mut refused = Vec::new();
        let mut records = b.records;
        for p in records.drain(..) {
            match p.encode_into(&mut builder) {
                Ok(()) => kept.push(p),
                Err(e) => refused.push((p, ProduceError::Encoding(e.to_string()))),
            }
        }
        self.recycler.put_records(records);
        for (p, e) in refused {
            self.fail(p, e);
        }
        if kept.is_empty() {
            return None;
        }
        Some((builder, InFlightBatch { records: kept, ..b }))
    }

    /// A Produce answer (Sarama's `flusher.parseResponse`): walk the batches of the request,
    /// not the response, so a partition missing from it is noticed.
    pub(super) fn on_produce_response(
        &mut self,
        rref: RequestRef,
        version: i16,
        mut batches: Vec<InFlightBatch>,
        frame: &[u8],
        now: Instant,
    ) {
        // Decoded into the kept response, whose lists are reused.
        let mut resp = std::mem::take(&mut self.produce_response);
        if let Err(e) = protocol::decode_response_into::<ProduceRequest>(version, frame, &mut resp)
        {
            self.produce_response = resp;
            // Undecodable: the outcome is unknown, as after a lost connection.
            let detail = format!("Produce v{version} answer does not decode: {e}");
            let cause = self.malformed_cause(rref.conn, detail);
            for b in batches {
                self.batch_failed(b, rref, cause.clone(), now);
            }
            return self.drop_malformed(rref.conn, cause, now);
        }
        self.conn_proved(rref.conn);
        let mut malformed = None;
        for mut b in batches.drain(..) {
            // An answer came, so the request was written: the driver holds no chunk of it any
            // more, and the batch's buffer can serve a new batch (unless a stamp, kept for a
            // retry, shares it: that one comes back below, once acknowledged).
            self.recycler.put_wire(std::mem::take(&mut b.wire));
            let name = self.topics[b.partition.topic].name.as_str();
            let block = resp
                .topics
                .iter()
                .filter(|t| t.name == name)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.index == b.partition.number())
                .cloned();
            let Some(block) = block else {
                self.batch_failed(b, rref, RetryCause::IncompleteResponse, now);
                continue;
            };
            let code = ErrorCode(block.error_code);
            let sequenced = b.stamp.is_some();
            if code.is_ok() || (sequenced && code == ErrorCode::DUPLICATE_SEQUENCE_NUMBER) {
                // DUPLICATE_SEQUENCE_NUMBER: the batch was already written (a success).
                let n = b.records.len() as i64;
                let base = block.base_offset;
                if base >= 0 && base.checked_add(n.saturating_sub(1)).is_none() {
                    // Offsets past i64::MAX: a malformed answer, the outcome is unknown.
                    let detail = format!(
                        "base offset {base} for {n} records of {name}-{} runs past i64::MAX",
                        b.partition.number()
                    );
                    let cause = self.malformed_cause(rref.conn, detail);
                    malformed = Some(cause.clone());
                    self.batch_failed(b, rref, cause, now);
                    continue;
                }
                let n = b.records.len();
                self.partition_mut(b.partition)
                    .batch_acked(rref, b.stamp.as_ref(), n);
                if let Some(stamp) = b.stamp.take() {
                    self.recycler.put_wire(stamp.wire);
                }
                let name = &self.topics[b.partition.topic].name;
                self.outbox
                    .count_acked(b.partition, name, b.records.len(), base);
                let base = if base >= 0 { base } else { -1 };
                self.deliver_batch(b.records, b.partition, base, block.log_append_time_ms);
            } else if code == ErrorCode::MESSAGE_TOO_LARGE
                || code == ErrorCode::RECORD_LIST_TOO_LARGE
            {
                self.split_batch(b, rref, code, now);
            } else if sequenced
                && (code == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                    || code == ErrorCode::UNKNOWN_PRODUCER_ID)
            {
                let part = self.partition(b.partition);
                let n = b.records.len();
                let same = |st: &super::batch::Stamp| st.generation == part.generation;
                let first_in_flight = b
                    .stamp
                    .as_ref()
                    .is_some_and(|st| same(st) && st.base_seq == part.acked_seq);
                // A later sequence was acknowledged: most likely an old duplicate the broker no
                // longer remembers (outside its last five batches), but only the broker can
                // say a batch is a duplicate (DUPLICATE_SEQUENCE_NUMBER, or success with an
                // offset).
                let written = code == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                    && b.stamp.as_ref().is_some_and(|st| {
                        same(st) && seq_batch_before(st.base_seq, n, part.acked_seq)
                    });
                if written {
                    // Not a duplicate the broker vouches for: without its offset it cannot be
                    // reported delivered, and sending it again under any sequence could store
                    // it twice. It fails with the cause that left its outcome unknown.
                    self.partition_mut(b.partition).request_resolved(rref);
                    let cause = b
                        .stamp
                        .as_ref()
                        .and_then(|st| st.maybe_written.clone())
                        .unwrap_or(RetryCause::Broker(code));
                    self.fail_all(b.records, &ProduceError::RetriesExhausted(cause));
                } else if code == ErrorCode::UNKNOWN_PRODUCER_ID || first_in_flight {
                    // The broker lost our state (KIP-360): bump the epoch, restart sequences.
                    self.partition_mut(b.partition).sequence_lost = true;
                    self.batch_failed(b, rref, RetryCause::SequenceReset(code), now);
                } else {
                    // An earlier batch failed: this one is retried after it, in order.
                    self.batch_failed(b, rref, RetryCause::Broker(code), now);
                }
            } else if sequenced
                && (code == ErrorCode::INVALID_PRODUCER_EPOCH || code == ErrorCode::PRODUCER_FENCED)
            {
                let e = ProduceError::ProducerFenced(code);
                self.idem.state = super::idempotence::PidState::Fatal(e.clone());
                self.partition_mut(b.partition).request_resolved(rref);
                self.fail_all(b.records, &e);
            } else if code.is_retriable() {
                self.batch_failed(b, rref, RetryCause::Broker(code), now);
            } else {
                let part = self.partition_mut(b.partition);
                part.request_resolved(rref);
                // A refused batch leaves a hole in the sequence space.
                part.sequence_lost |= sequenced;
                self.fail_all(b.records, &ProduceError::Broker(code));
            }
        }
        self.recycler.put_batch_list(batches);
        self.produce_response = resp;
        if let Some(cause) = malformed {
            self.drop_malformed(rref.conn, cause, now);
        }
    }
}
