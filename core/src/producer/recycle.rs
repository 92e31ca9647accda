//! The buffers of finished batches and requests, kept for the next ones: in steady state the
//! core allocates nothing, per record or per batch.
//!
//! What comes back, and from where:
//!
//! * a batch's encoded bytes, once its Produce response came (the request was written by
//!   then, so the driver no longer holds the chunk): `Bytes::try_into_mut` succeeds when no
//!   other handle is left, and the buffer serves the next batch's [`BatchBuilder`];
//! * the record list of a delivered batch and the chunk list of a transmitted request, which
//!   leave the core inside an [`Output`](crate::Output): the driver hands them back with
//!   [`ProducerCore::recycle`](super::ProducerCore::recycle) (optional; an output simply
//!   dropped costs one allocation later);
//! * the lists a Produce request is built from, which stay in the core;
//! * a partition's batch queue, once the sender took its last batch: an idle partition holds
//!   none, and takes one back when it opens a batch.
//!
//! Batch buffers are kept by **size class** (their capacity rounded up to a power of two): a
//! batch opens with a buffer of the smallest class that holds its header and first record
//! ([`class_size`], at least [`MIN_BUFFER`] bytes), or of the class its partition's last
//! batch reached when the budget has room for it, and moves to the next class up (doubling,
//! up to the batch size limit) when a record does not fit, so a partition that sees one
//! record per linger holds a few hundred bytes, not `batch.size`.
//!
//! Memory stays bounded: at most [`KEEP`] of each kind (of each class, for buffers) and
//! [`KEEP_BYTES`] of capacity in all are kept; a buffer grown past twice the batch size (a
//! batch of one large record) is let go. What is kept here is not charged to
//! `buffer.memory`; what batches hold is ([`Recycler::charged`]).
//!
//! [`BatchBuilder`]: crate::record::BatchBuilder

use super::batch::{Batch, Slot};
use super::connection::InFlightBatch;
use super::PartitionRef;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// At most this many of each kind (of each size class, for batch buffers) are kept: enough
/// for the batches of one drain at thousands of partitions; [`KEEP_BYTES`] bounds the bytes.
const KEEP: usize = 4096;

/// The smallest batch buffer taken (bytes): a v2 header (61) and a record of up to ~190
/// bytes.
pub(crate) const MIN_BUFFER: usize = 256;

/// Size classes (powers of two) a kept buffer can fall in.
const CLASSES: usize = usize::BITS as usize;

/// The capacity to take for a batch buffer that must hold `needed` bytes, when a batch may
/// grow to `limit` bytes: `needed` rounded up to a power of two (at least [`MIN_BUFFER`]),
/// but no more than `limit` unless `needed` itself is more.
#[inline]
pub(crate) fn class_size(needed: usize, limit: usize) -> usize {
    needed
        .max(MIN_BUFFER)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX)
        .min(limit)
        .max(needed)
}

/// The class (index into [`Recycler`]'s buffer lists) of a buffer of `capacity` bytes.
#[inline]
fn class_of(capacity: usize) -> usize {
    capacity
        .checked_next_power_of_two()
        .map_or(CLASSES - 1, |c| c.trailing_zeros() as usize)
}

/// At most this much capacity (bytes of buffers and lists) is kept in all.
pub(crate) const KEEP_BYTES: usize = 4 << 20;

/// The kept buffers and lists, all empty.
#[derive(Debug, Default)]
pub(crate) struct Recycler {
    /// Kept batch buffers by size class ([`class_of`]).
    buffers: Vec<Vec<BytesMut>>,
    record_lists: Vec<Vec<Slot>>,
    chunk_lists: Vec<Vec<Bytes>>,
    batch_lists: Vec<Vec<InFlightBatch>>,
    /// Partitions' batch queues, let go when they emptied: a partition holds one only while
    /// it has a batch, so an idle partition costs no queue (at 5,000 partitions each kept
    /// one of 4-8 slots of a `Batch` before, 2-5 MiB in all).
    queues: Vec<VecDeque<Batch>>,
    /// Scratch list of the partitions one request touches.
    pub(crate) touched: Vec<PartitionRef>,
    /// Capacity kept, in bytes.
    kept_bytes: usize,
    /// Largest buffer worth keeping.
    max_buffer: usize,
    /// Bytes of batch buffer capacity charged to `buffer.memory`: the sum of the
    /// [`AcceptedRecord::held`] of every record the producer holds. The partition stage
    /// charges a buffer's capacity when a batch takes or grows it; a record's share is
    /// released with its outcome.
    pub(crate) charged: usize,
    /// Bytes of the held records' encoded size bounds, charged to `buffer.memory` beside
    /// [`charged`](Self::charged).
    pub(crate) sized: usize,
    /// `buffer.memory`: what [`in_use`](Self::in_use) may reach (see
    /// [`Config::buffer_memory`](crate::Config::buffer_memory) for the one exception).
    pub(crate) budget: usize,
}

/// `b` in the bytes crate's shared form, in which a buffer goes round `freeze` → `Bytes` (and
/// its clones) → `Bytes::try_into_mut` → `BytesMut` without allocating. A buffer fresh from
/// `with_capacity` is in the plain-`Vec` form instead: its `freeze` allocates a reference
/// count, and `try_into_mut` frees it again, one allocation per batch. Converting costs that
/// allocation once per buffer (nothing for a buffer already shared).
fn shared(mut b: BytesMut) -> BytesMut {
    drop(b.split_to(0));
    b
}

impl Recycler {
    /// A recycler keeping batch buffers up to twice `batch_capacity`.
    pub(crate) fn new(batch_capacity: usize) -> Self {
        Recycler {
            max_buffer: batch_capacity.saturating_mul(2),
            buffers: (0..CLASSES).map(|_| Vec::new()).collect(),
            budget: usize::MAX,
            ..Default::default()
        }
    }

    /// The same, with `buffer.memory` = `budget`.
    pub(crate) fn with_budget(mut self, budget: usize) -> Self {
        self.budget = budget;
        self
    }

    /// Bytes of `buffer.memory` in use: [`sized`](Self::sized) + [`charged`](Self::charged).
    #[inline]
    pub(crate) fn in_use(&self) -> usize {
        self.sized + self.charged
    }

    /// A new empty buffer of exactly `capacity` bytes (not a kept one, whose capacity may be
    /// larger than asked).
    pub(crate) fn exact_buffer(capacity: usize) -> BytesMut {
        shared(BytesMut::with_capacity(capacity))
    }

    /// An empty buffer with room for at least `capacity` bytes: a kept one of its size class,
    /// else a new one of exactly `capacity`.
    pub(crate) fn buffer(&mut self, capacity: usize) -> BytesMut {
        // (A recycler made by `Default` has no class lists yet and keeps nothing.)
        match self.buffers.get_mut(class_of(capacity)).and_then(Vec::pop) {
            Some(mut b) => {
                self.kept_bytes -= b.capacity();
                b.reserve(capacity);
                b
            }
            None => shared(BytesMut::with_capacity(capacity)),
        }
    }

    /// Keeps the buffer behind `wire` (a finished batch), if nothing else holds it.
    pub(crate) fn put_wire(&mut self, wire: Bytes) {
        if wire.is_empty() {
            return;
        }
        if let Ok(b) = wire.try_into_mut() {
            self.put_buffer(b);
        }
    }

    /// Keeps `b` (emptied first) unless it is unallocated, too large or past the budget.
    pub(crate) fn put_buffer(&mut self, mut b: BytesMut) {
        b.clear();
        let cap = b.capacity();
        if cap == 0 || cap > self.max_buffer {
            return;
        }
        let Some(class) = self.buffers.get_mut(class_of(cap)) else {
            return;
        };
        if admit(class.len(), &mut self.kept_bytes, cap) {
            class.push(shared(b));
        }
    }

    /// An empty record list with room for at least `capacity` records.
    pub(crate) fn records(&mut self, capacity: usize) -> Vec<Slot> {
        let mut v = take_list(&mut self.record_lists, &mut self.kept_bytes);
        v.reserve(capacity);
        v
    }

    /// Keeps a record list (emptied first).
    pub(crate) fn put_records(&mut self, v: Vec<Slot>) {
        keep_list(&mut self.record_lists, &mut self.kept_bytes, v);
    }

    /// An empty chunk list (a request's `Output::Transmit` data).
    pub(crate) fn chunks(&mut self) -> Vec<Bytes> {
        take_list(&mut self.chunk_lists, &mut self.kept_bytes)
    }

    /// Keeps a chunk list (emptied first: the chunks still in it are dropped).
    pub(crate) fn put_chunks(&mut self, v: Vec<Bytes>) {
        keep_list(&mut self.chunk_lists, &mut self.kept_bytes, v);
    }

    /// An empty list of in-flight batches.
    pub(crate) fn batch_list(&mut self) -> Vec<InFlightBatch> {
        take_list(&mut self.batch_lists, &mut self.kept_bytes)
    }

    /// Keeps a list of in-flight batches (emptied first).
    pub(crate) fn put_batch_list(&mut self, v: Vec<InFlightBatch>) {
        keep_list(&mut self.batch_lists, &mut self.kept_bytes, v);
    }

    /// An empty batch queue, for a partition about to hold a batch (kept, or unallocated).
    #[inline]
    pub(crate) fn batch_queue(&mut self) -> VecDeque<Batch> {
        match self.queues.pop() {
            Some(q) => {
                self.kept_bytes -= q.capacity() * std::mem::size_of::<Batch>();
                q
            }
            None => VecDeque::new(),
        }
    }

    /// Keeps the batch queue of a partition that no longer holds a batch (`q` is empty).
    #[inline]
    pub(crate) fn put_batch_queue(&mut self, mut q: VecDeque<Batch>) {
        debug_assert!(q.is_empty(), "a queue with batches in it is not let go");
        q.clear();
        let bytes = q.capacity() * std::mem::size_of::<Batch>();
        if q.capacity() > 0 && admit(self.queues.len(), &mut self.kept_bytes, bytes) {
            self.queues.push(q);
        }
    }

    /// Batch buffers kept, of every class (for tests).
    #[cfg(test)]
    pub(crate) fn kept_buffers(&self) -> usize {
        self.buffers.iter().map(Vec::len).sum()
    }

    /// Capacity kept, in bytes (for tests).
    #[cfg(test)]
    pub(crate) fn kept_bytes(&self) -> usize {
        self.kept_bytes
    }
}

/// Whether `bytes` more fit the budget beside `kind_len` kept of their kind; counts them in
/// `kept_bytes` if so.
fn admit(kind_len: usize, kept_bytes: &mut usize, bytes: usize) -> bool {
    let fits = kind_len < KEEP && *kept_bytes + bytes <= KEEP_BYTES;
    if fits {
        *kept_bytes += bytes;
    }
    fits
}

/// A kept list of `lists` (its capacity no longer counted), or a new empty one.
fn take_list<T>(lists: &mut Vec<Vec<T>>, kept_bytes: &mut usize) -> Vec<T> {
    match lists.pop() {
        Some(v) => {
            *kept_bytes -= v.capacity() * std::mem::size_of::<T>();
            v
        }
        None => Vec::new(),
    }
}

/// Keeps `v` in `lists`, emptied, if it holds an allocation and fits the budget.
fn keep_list<T>(lists: &mut Vec<Vec<T>>, kept_bytes: &mut usize, mut v: Vec<T>) {
    v.clear();
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if v.capacity() > 0 && admit(lists.len(), kept_bytes, bytes) {
        lists.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Record, RecordId};
    use crate::producer::accept::{record_bound, AcceptedRecord};
    use crate::producer::batch::{BatchLimits, SealTrigger};
    use crate::producer::partition::PartitionState;
    use crate::record::{BatchBuilder, RecordFormat};
    use crate::time::Instant;

    #[test]
    fn a_finished_batch_buffer_comes_back_only_when_nothing_else_holds_it() {
        let mut r = Recycler::new(1024);
        let mut b = r.buffer(1000);
        let ptr = b.as_ptr();
        b.extend_from_slice(&[7; 900]);
        let wire = b.freeze();
        let held = wire.clone(); // the driver's chunk, not written yet
        r.put_wire(wire);
        assert_eq!(
            r.kept_buffers(),
            0,
            "a buffer still held elsewhere is not taken"
        );
        r.put_wire(held); // the last handle
        assert_eq!(r.kept_buffers(), 1);
        let again = r.buffer(1000);
        assert_eq!(
            again.as_ptr(),
            ptr,
            "the same allocation serves the next batch"
        );
        assert!(again.is_empty() && again.capacity() >= 1000);
        assert_eq!(r.kept_bytes(), 0);
    }

    #[test]
    fn oversized_buffers_and_the_byte_budget_bound_what_is_kept() {
        let mut r = Recycler::new(1024);
        r.put_wire(Bytes::from(vec![0u8; 4096]));
        assert_eq!(r.kept_buffers(), 0, "past twice the batch size: let go");
        let mut big = Recycler::new(KEEP_BYTES);
        big.put_wire(Bytes::from(vec![0u8; KEEP_BYTES / 2 + 1]));
        big.put_wire(Bytes::from(vec![0u8; KEEP_BYTES / 2 + 1]));
        assert_eq!(
            big.kept_buffers(),
            1,
            "the second would pass the byte budget"
        );
        for _ in 0..KEEP + 5 {
            r.put_chunks(Vec::with_capacity(4));
        }
        assert_eq!(r.chunk_lists.len(), KEEP);
        r.put_chunks(Vec::new());
        assert_eq!(r.chunk_lists.len(), KEEP, "an unallocated list is not kept");
    }

    #[test]
    fn a_partition_takes_its_queue_from_the_pool_and_its_next_buffer_at_the_last_size() {
        let now = Instant::from_unix_millis(1_700_000_000_000);
        let mut l = BatchLimits::new(&crate::Config::new(["b:9092"]));
        l.format = Some(RecordFormat::V2);
        l.batch_size = 64 * 1024;
        let mut pool = Recycler::new(l.batch_size);
        pool.sized = 1 << 30; // the records' sizes, as `send` charges them
        let kept: VecDeque<Batch> = VecDeque::with_capacity(8);
        let cap = kept.capacity();
        pool.put_batch_queue(kept);
        let mut part = PartitionState::new(Some(1));
        assert_eq!(
            part.batches.capacity(),
            0,
            "an idle partition holds no queue"
        );
        let r = |i: u64| {
            let record = Record::new("t").key(format!("k{i}")).value(vec![b'x'; 100]);
            AcceptedRecord {
                id: RecordId(i),
                size: record_bound(RecordFormat::V2, &record),
                record,
                timestamp: 1_700_000_000_000,
                held: 0,
                retries: 0,
                deadline: None,
            }
        };
        part.append(r(0), &l, now, &mut pool);
        assert_eq!(
            part.batches.capacity(),
            cap,
            "the kept queue, not a new one"
        );
        assert_eq!(pool.kept_bytes(), 0);
        for i in 1..12 {
            part.append(r(i), &l, now, &mut pool);
        }
        let grown = part.batches[0]
            .enc
            .as_ref()
            .map_or(0, BatchBuilder::capacity);
        assert!(grown >= 2048, "12 records of ~110 bytes: {grown}");
        assert!(part.seal_open(now, &l, SealTrigger::Flush));
        part.append(r(12), &l, now, &mut pool);
        let next = part.batches[1]
            .enc
            .as_ref()
            .map_or(0, BatchBuilder::capacity);
        assert_eq!(
            next, grown,
            "taken at the size the last batch reached, not doubled up to it"
        );
        let held: usize = part.batches[1].records.iter().map(|p| p.held).sum();
        assert!(held >= next, "and charged for it");
    }

    #[test]
    fn an_emptied_batch_queue_is_kept_for_the_next_partition_within_the_budget() {
        let mut r = Recycler::new(1024);
        assert_eq!(
            r.batch_queue().capacity(),
            0,
            "none kept: an unallocated one"
        );
        r.put_batch_queue(VecDeque::new());
        assert_eq!(r.queues.len(), 0, "an unallocated queue is not kept");
        let q: VecDeque<Batch> = VecDeque::with_capacity(8);
        let cap = q.capacity();
        r.put_batch_queue(q);
        assert_eq!(r.kept_bytes(), cap * std::mem::size_of::<Batch>());
        let again = r.batch_queue();
        assert_eq!(
            again.capacity(),
            cap,
            "the same allocation serves the next partition"
        );
        assert_eq!(r.kept_bytes(), 0);
        for _ in 0..KEEP + 3 {
            r.put_batch_queue(VecDeque::with_capacity(4));
        }
        assert_eq!(r.queues.len(), KEEP, "at most KEEP queues are kept");
        assert!(r.kept_bytes() <= KEEP_BYTES);
    }

    #[test]
    fn buffers_are_kept_and_handed_out_by_size_class() {
        assert_eq!(class_size(1, 65536), MIN_BUFFER);
        assert_eq!(class_size(300, 65536), 512);
        assert_eq!(class_size(40_000, 50_000), 50_000, "capped at the limit");
        assert_eq!(
            class_size(70_000, 50_000),
            70_000,
            "a record larger than the limit"
        );
        let mut r = Recycler::new(65536);
        let small = r.buffer(256);
        let large = r.buffer(4096);
        let (small_ptr, large_ptr) = (small.as_ptr(), large.as_ptr());
        r.put_buffer(large);
        r.put_buffer(small);
        let b = r.buffer(4096);
        assert_eq!(
            b.as_ptr(),
            large_ptr,
            "the 4 KiB class, not the last one kept"
        );
        assert_eq!(b.capacity(), 4096);
        let s = r.buffer(200);
        assert_eq!(s.as_ptr(), small_ptr);
        assert_eq!(r.kept_buffers(), 0);
        assert_eq!(r.kept_bytes(), 0);
    }
}
