//! The sender (Sarama's aggregator + flusher per broker, the request side): connect lazily to leaders
//! with data, collect sealed batches of the broker's partitions into Produce requests (up to
//! `max.request.size` bytes, `max_request_records` records, `max.in.flight.requests.per.connection`
//! requests, one batch per partition per request, and per partition at most one batch in
//! flight without idempotence, up to `max.in.flight.requests.per.connection` (≤ 5) with it —
//! see [`PartitionState::ready`](super::partition::PartitionState::ready)), encode them in
//! the negotiated format (stamping each batch's sequence with idempotence), and hand them to
//! their connection. Answers are read in [`super::responses`].

use super::batch::BatchLimits;
use super::batch::{seq_add, Slot, Stamp};
use super::connection::{InFlightBatch, RequestKind, RequestRef, Target};
use super::partition::PartitionState;
use super::recycle::class_size;
use super::request::produce_chunks;
use super::stage_cx::StageCx;
use super::PartitionRef;
use crate::compression::Compression;
use crate::config::Acks;
use crate::error::ProduceError;
use crate::output::ConnId;
use crate::protocol::{api_key, ErrorCode};
use crate::record::{batch, BatchBuilder, ProducerFields, RecordFormat};
use crate::time::Instant;
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeSet, VecDeque};

/// Room kept for the request header and topic/partition framing in `max.request.size`.
const REQUEST_OVERHEAD: usize = 512;

/// The sender's own state: the ready queue, the scratch list of connections to fill, and the
/// framing buffer. The rest comes as a [`StageCx`] per call.
#[derive(Debug, Default)]
pub(crate) struct Sender {
    /// The ready queue: partitions that had a sealed batch to send when queued, each at most
    /// once ([`PartitionState::queued`](super::partition::PartitionState::queued)). Requests
    /// are built from it, so building one costs the ready partitions, not all of them.
    /// Entries are checked when taken (a partition may have stopped being ready); an advance
    /// queues every partition it looks at that is ready and not queued, and a `send` queues
    /// the one it sealed a batch in.
    pub ready: VecDeque<PartitionRef>,
    /// Scratch list of the connections `send_produce_requests` fills, kept between advances
    /// so that an advance allocates nothing.
    ready_conns: Vec<(ConnId, i32)>,
    /// Where Produce request framing is written: each request's framing is split off it, and
    /// its allocation is reused once the driver has dropped the chunks it gave out.
    framing: BytesMut,
}

impl Sender {
    /// Puts partition `at` in the ready queue if it is ready and not queued yet, after the
    /// seal rule (the partition may just have become able to send: an open batch past its
    /// linger seals now, as no timer is armed for a linger that already passed). Returns
    /// whether it is ready.
    #[inline]
    pub(crate) fn queue_if_ready(&mut self, cx: &mut StageCx<'_>, at: PartitionRef) -> bool {
        cx.seal_partition(at, cx.clock.last_now);
        let part = &mut cx.topics[at.topic].partitions[at.index];
        self.enqueue_if_ready(part, cx.limits, at)
    }

    /// [`queue_if_ready`](Self::queue_if_ready) without the seal rule, for a partition the
    /// rule was just applied to.
    #[inline]
    pub(crate) fn enqueue_if_ready(
        &mut self,
        part: &mut PartitionState,
        limits: &BatchLimits,
        at: PartitionRef,
    ) -> bool {
        let ready = part.ready(limits);
        if ready && !part.queued {
            part.queued = true;
            self.ready.push_back(at);
        }
        ready
    }

    /// Opens connections to leaders that have sealed batches waiting.
    #[inline]
    pub(super) fn connect_leaders(&mut self, cx: &mut StageCx<'_>, now: Instant) {
        let mut wanted = BTreeSet::new();
        let limits = cx.limits;
        for &at in &self.ready {
            let part = cx.partition(at);
            if let (Some(node), true) = (part.leader, part.ready(limits)) {
                // A leader already connected needs nothing here (and the set allocates only
                // on insert, so the steady state allocates nothing).
                if !cx.conns.by_target.contains_key(&Target::Node(node)) {
                    wanted.insert(node);
                }
            }
        }
        for node in wanted {
            let target = Target::Node(node);
            if cx.conns.may_connect(target, now) {
                cx.open_conn(target, now);
            }
        }
    }

    /// Builds Produce requests on every ready broker connection while there is room.
    #[inline]
    pub(super) fn send_produce_requests(&mut self, cx: &mut StageCx<'_>, now: Instant) {
        let mut ready = std::mem::take(&mut self.ready_conns);
        ready.extend(
            cx.conns
                .conns
                .iter()
                .filter_map(|(id, c)| match (c.target, c.versions()) {
                    (Target::Node(n), Some(_)) => Some((*id, n)),
                    _ => None,
                }),
        );
        for &(conn, node) in &ready {
            self.fill_conn(cx, conn, node, now);
        }
        ready.clear();
        self.ready_conns = ready;
    }

    /// `node` has a partition with a sealed batch ready to go: connect to it, or send on its
    /// ready connection while there is room.
    pub(super) fn send_to_node(&mut self, cx: &mut StageCx<'_>, node: i32, now: Instant) {
        let target = Target::Node(node);
        match cx.conns.by_target.get(&target).copied() {
            None => {
                if cx.conns.may_connect(target, now) {
                    cx.open_conn(target, now);
                }
            }
            Some(conn) => {
                if cx
                    .conns
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.versions().is_some())
                {
                    self.fill_conn(cx, conn, node, now);
                }
            }
        }
    }

    /// Sends Produce requests on `conn` (to `node`) while it has room and batches are ready.
    fn fill_conn(&mut self, cx: &mut StageCx<'_>, conn: ConnId, node: i32, now: Instant) {
        while cx.conns.conns.get(&conn).is_some_and(|c| {
            c.produce_in_flight() < cx.config.max_in_flight_requests_per_connection
        }) {
            if !self.send_one_request(cx, conn, node, now) {
                break;
            }
        }
    }

    /// Collects the sealed front batches of `node`'s partitions that have nothing in flight.
    fn collect_batches(&mut self, cx: &mut StageCx<'_>, node: i32) -> Vec<InFlightBatch> {
        let mut out = cx.recycler.batch_list();
        let mut bytes = REQUEST_OVERHEAD;
        let mut records = 0usize;
        let max_records = cx.config.max_request_records;
        let limits = cx.limits;
        // Each queued partition is looked at once; those for other brokers, or that do not
        // fit this request, go back to the end of the queue in order.
        for _ in 0..self.ready.len() {
            let Some(at) = self.ready.pop_front() else {
                break;
            };
            let max_request_size = cx.config.max_request_size;
            let part = cx.partition_mut(at);
            // One batch per partition in flight without idempotence (per-partition order across
            // retries), up to the limit with it (sequence numbers keep the order).
            if !part.ready(limits) {
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
            // An emptied queue goes back to the pool until the partition holds a batch again.
            let emptied = part
                .batches
                .is_empty()
                .then(|| std::mem::take(&mut part.batches));
            if let Some(q) = emptied {
                cx.recycler.put_batch_queue(q);
            }
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
    fn send_one_request(
        &mut self,
        cx: &mut StageCx<'_>,
        conn: ConnId,
        node: i32,
        now: Instant,
    ) -> bool {
        let Some(versions) = cx.conns.conns.get(&conn).and_then(|c| c.versions()) else {
            return false;
        };
        let produce = versions.produce;
        let gate = cx.idem.gate();
        if gate == Ok(false) {
            // Waiting for a producer id or an epoch bump.
            return false;
        }
        let batches = self.collect_batches(cx, node);
        if batches.is_empty() {
            cx.recycler.put_batch_list(batches);
            return false;
        }
        if let Err(e) = gate {
            for b in batches {
                let at = b.partition;
                let records = cx.unbatch(b);
                cx.outbox.fail_all(cx.recycler, records, &e);
                self.queue_if_ready(cx, at);
            }
            return true;
        }
        let mut touched = std::mem::take(&mut cx.recycler.touched);
        touched.clear();
        touched.extend(batches.iter().map(|b| b.partition));
        let (version, format) = match produce {
            Ok((v, f)) => (v.min(cx.limits.produce_cap), f),
            Err(reason) => {
                let e = ProduceError::UnsupportedVersion {
                    broker: cx.broker_label(conn),
                    reason,
                };
                for b in batches {
                    let at = b.partition;
                    let records = cx.unbatch(b);
                    cx.outbox.fail_all(cx.recycler, records, &e);
                    self.queue_if_ready(cx, at);
                }
                return true;
            }
        };
        // Encode (or finish) each batch; those that fail leave the request.
        // Encoded in place (std collects a `Vec`'s own iterator back into its allocation):
        // the request keeps the list its batches were collected in, one list per request.
        let mut sent: Vec<InFlightBatch> = batches
            .into_iter()
            .filter_map(|b| Self::encode_batch(cx, b, conn, version, format))
            .collect();
        if sent.is_empty() {
            cx.recycler.put_batch_list(sent);
            // A partition whose batch failed or was split here may send its next one at once.
            self.requeue_touched(cx, touched);
            return true;
        }
        let acks = cx.config.acks.as_i16();
        let timeout_ms = i32::try_from(cx.config.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let correlation_id = cx.conns.next_correlation();
        let header = &mut cx.conns.header;
        header.api_key = api_key::PRODUCE;
        header.api_version = version;
        header.correlation_id = correlation_id;
        let topics = &cx.topics;
        cx.outbox.count_batches(node, &sent, |t| &topics[t].name);
        let mut data = cx.recycler.chunks();
        let topics = &cx.topics;
        let txn_id = cx.config.transactional_id.as_deref();
        produce_chunks(
            &cx.conns.header,
            (txn_id.filter(|id| !id.is_empty()), acks),
            timeout_ms,
            &mut sent,
            |t| topics[t].name.as_str(),
            &mut self.framing,
            &mut data,
        );
        cx.outbox
            .count_request(node, data.iter().map(|d| d.len()).sum());
        let rref = RequestRef {
            conn,
            correlation_id,
        };
        for b in &sent {
            cx.partition_mut(b.partition).in_flight.push(rref);
        }
        let kind = RequestKind::Produce {
            version,
            batches: sent,
        };
        cx.conns
            .transmit_chunks(conn, correlation_id, data, Some(kind), &mut io!(cx), now);
        if cx.config.acks == Acks::None {
            // No answer will come: the request is done once the driver has written it
            // (`handle_written`). Until then its records hold their `buffer.memory`, and its
            // request timeout runs as for any request, so a broker that stops reading cannot
            // make unwritten requests pile up.
            if let Some(c) = cx.conns.conns.get_mut(&conn) {
                let end = c.transmitted;
                if let Some(r) = c.outstanding.get_mut(&correlation_id) {
                    r.written_at = Some(end);
                }
            }
        }
        // With idempotence a partition may have room for its next batch in the next request;
        // and one whose batch failed or was split here may send at once.
        self.requeue_touched(cx, touched);
        true
    }

    /// Queues each partition of `touched` that is ready again, then keeps the list.
    fn requeue_touched(&mut self, cx: &mut StageCx<'_>, mut touched: Vec<PartitionRef>) {
        for &at in &touched {
            self.queue_if_ready(cx, at);
        }
        touched.clear();
        cx.recycler.touched = touched;
    }

    /// Finishes one batch in `format`: the batch encoded at `send` (`enc`) when it is in
    /// that format, else encoded now from its records (the deferred path). Records the format
    /// cannot carry, and batches that cannot be encoded or exceed `message.max.bytes`, fail
    /// here.
    fn encode_batch(
        cx: &mut StageCx<'_>,
        mut b: InFlightBatch,
        conn: ConnId,
        version: i16,
        format: RecordFormat,
    ) -> Option<InFlightBatch> {
        let compression = cx.config.compression;
        if let Some(stamp) = b.stamp.take() {
            // A retry with a sequence: the same bytes (re-stamped after an epoch bump).
            let (at, n) = (b.partition, b.records.len());
            // (A failure hands the records back, rebuilt from the stamp's bytes.)
            b.stamp = Some(stamp.clone());
            let refreshed = if format == RecordFormat::V2 {
                Self::refresh_stamp(cx, at, *stamp, n)
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
                    let records = cx.unbatch(b);
                    cx.outbox.fail_all(cx.recycler, records, &e);
                    return None;
                }
                Err(e) => {
                    cx.partition_mut(at).sequence_lost = true;
                    let records = cx.unbatch(b);
                    cx.outbox.fail_all(cx.recycler, records, &e);
                    return None;
                }
            };
            b.wire = stamp.wire.clone();
            b.stamp = Some(Box::new(stamp));
            return Some(b);
        }
        if compression == Compression::Zstd && version < 7 {
            let e = ProduceError::UnsupportedVersion {
                broker: cx.broker_label(conn),
                reason: "zstd needs Produce v7+; the broker is older",
            };
            let records = cx.unbatch(b);
            cx.outbox.fail_all(cx.recycler, records, &e);
            return None;
        }
        let (builder, mut b) = match b.enc.take() {
            Some(enc) if enc.format() == format && enc.len() == b.records.len() => (enc, b),
            enc => Self::encode_deferred(cx, b, enc, format)?,
        };
        let stamp = match format {
            RecordFormat::V2 => Self::next_fields(cx, b.partition),
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
            cx.recycler
                .buffer(class_size(worst, usize::MAX).max(builder.capacity()))
        } else {
            BytesMut::new()
        };
        let finished = builder
            .finish_keeping(
                compression,
                cx.config.effective_compression_level(),
                fields,
                spare,
            )
            .map(|(bytes, left)| {
                cx.recycler.put_buffer(left);
                bytes
            });
        match finished {
            Ok(bytes) if bytes.len() > cx.config.message_max_bytes => {
                b.wire = bytes;
                if b.records.len() > 1 {
                    // Compressed past message.max.bytes: split in two and send the halves
                    // (no sequence was taken yet).
                    let overhead = cx.limits.overhead;
                    let last_now = cx.clock.last_now;
                    let at = b.partition;
                    let mut front = cx.unbatch(b);
                    let back = front.split_off(front.len() / 2);
                    cx.partition_mut(at)
                        .push_front_halves(front, back, overhead, last_now);
                } else {
                    let e = ProduceError::Broker(ErrorCode::MESSAGE_TOO_LARGE);
                    let records = cx.unbatch(b);
                    cx.outbox.fail_all(cx.recycler, records, &e);
                }
                None
            }
            Ok(bytes) => {
                if let Some((fields, generation)) = stamp {
                    Self::commit_stamp(cx, &mut b, fields, generation, &bytes);
                }
                b.wire = bytes;
                Some(b)
            }
            Err((e, builder)) => {
                b.enc = Some(builder);
                let records = cx.unbatch(b);
                cx.outbox
                    .fail_all(cx.recycler, records, &ProduceError::Encoding(e.to_string()));
                None
            }
        }
    }

    /// The deferred path: encodes `b`'s records in `format` now, failing those it cannot
    /// carry; `None` when none is left.
    fn encode_deferred(
        cx: &mut StageCx<'_>,
        mut b: InFlightBatch,
        enc: Option<BatchBuilder>,
        format: RecordFormat,
    ) -> Option<(BatchBuilder, InFlightBatch)> {
        // The records as they were given (rebuilt from `enc` where encoded at `send`).
        b.enc = enc;
        let partition = b.partition;
        let records = cx.unbatch(b);
        let bytes: usize = records.iter().map(|p| p.size).sum();
        let mut builder = BatchBuilder::with_buffer(format, cx.recycler.buffer(bytes));
        let mut kept = cx.recycler.records(records.len());
        let mut refused = Vec::new();
        for p in records {
            match p.encode_into(&mut builder) {
                Ok(()) if format == RecordFormat::V2 && !cx.limits.keep_records => {
                    // Its bytes move into this batch's buffer, which no record's share paid
                    // for: its size charge moves to its share (what is in use stays; found
                    // by the simulator's buffer.memory check, seeds 386 and 1827).
                    let mut p = p;
                    cx.recycler.sized -= p.size;
                    cx.recycler.charged += p.size;
                    p.held += p.size;
                    kept.push(Slot::encoded(p));
                }
                Ok(()) => kept.push(Slot::whole(p)),
                Err(e) => refused.push((p, ProduceError::Encoding(e.to_string()))),
            }
        }
        for (p, e) in refused {
            cx.outbox.fail(cx.recycler, p, e);
        }
        if kept.is_empty() {
            cx.recycler.put_records(kept);
            cx.recycler.put_buffer(builder.into_buffer());
            return None;
        }
        let b = InFlightBatch {
            partition,
            records: kept,
            enc: None,
            wire: Bytes::new(),
            stamp: None,
        };
        Some((builder, b))
    }

    /// Gives a batch about to be sent its sequence: a fresh one for a new batch (its
    /// producer fields go into `finish`), or, for a stamped batch of an older generation, a
    /// re-stamp at the partition's next sequence. Returns the fields for a new batch (`None`
    /// without idempotence); [`Self::commit_stamp`] advances the counter once the bytes exist.
    fn next_fields(cx: &mut StageCx<'_>, at: PartitionRef) -> Option<(ProducerFields, u32)> {
        if !cx.idem.on() {
            return None;
        }
        let (generation, start) = (cx.idem.generation, cx.idem.generation_start);
        let part = cx.partition_mut(at);
        part.sync_generation(generation, start);
        let seq = part.next_seq;
        Some((cx.idem.fields(seq), generation))
    }

    /// The batch finished as `wire` with the fields from [`Self::next_fields`]: its sequences
    /// are taken.
    fn commit_stamp(
        cx: &mut StageCx<'_>,
        b: &mut InFlightBatch,
        fields: ProducerFields,
        generation: u32,
        wire: &bytes::Bytes,
    ) {
        let part = cx.partition_mut(b.partition);
        part.next_seq = seq_add(fields.base_sequence, b.records.len());
        b.stamp = Some(Box::new(Stamp {
            generation,
            base_seq: fields.base_sequence,
            wire: wire.clone(),
            maybe_written: None,
        }));
    }

    /// A stamped batch about to be sent again: the same bytes, or re-stamped from the
    /// partition's next sequence when the epoch was bumped since. Fails when the batch may
    /// already be in the log (an earlier send got no definitive answer: re-stamping it could
    /// store it twice; the broker can no longer tell under the new epoch), or when the bytes
    /// are not a v2 batch (cannot happen for a batch this core stamped).
    fn refresh_stamp(
        cx: &mut StageCx<'_>,
        at: PartitionRef,
        stamp: Stamp,
        n: usize,
    ) -> Result<Stamp, ProduceError> {
        let (generation, start) = (cx.idem.generation, cx.idem.generation_start);
        let part = cx.partition_mut(at);
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
        let wire = batch::restamp(&stamp.wire, cx.idem.fields(seq)).ok_or(
            ProduceError::IdempotenceUnavailable(
                "a batch with a sequence met a broker without RecordBatch v2",
            ),
        )?;
        cx.partition_mut(at).next_seq = seq_add(seq, n);
        Ok(Stamp {
            generation,
            base_seq: seq,
            wire,
            maybe_written: None,
        })
    }
}
