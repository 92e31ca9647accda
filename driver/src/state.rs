//! The state shared by the driver task and the handles: the core, the clock, the records
//! waiting for an outcome, and everybody waiting for something.
//!
//! One `std::sync::Mutex` guards it all, as in quinn: handles call the core directly (so
//! `try_send` answers synchronously with the core's own typed refusal) and wake the driver
//! task, which does the I/O. The lock is never held across an `.await`.

use crate::clock::Clock;
use futures_channel::oneshot;
use odradek_core::{
    DeliveryError, Instant, Output, ProduceError, ProducerCore, Record, RecordId, RecordMetadata,
    SendError, SendErrorKind,
};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// What one pending record costs in memory beyond the bytes the core counts against
/// `buffer.memory` (its encoded size): the core's copy of the record, kept for the outcome,
/// and its state (~250-400 bytes), plus the driver's routing entry and the delivery future's
/// shared slot: about 1 KiB in all, measured with `tests/tests/memory_tokio.rs` (a broker
/// holding every Produce, 100-byte records until the buffer refused). Charged against
/// `buffer.memory` by `State::poll_send`: counting encoded bytes alone, a 16 MiB buffer
/// held 132 MiB of such records once a broker stopped answering (8x; the 894 MB of issue 6
/// under SIGKILL).
pub(crate) const RECORD_OVERHEAD: usize = 1024;

/// How many unobserved failures (whose delivery future or errors stream was dropped) are kept
/// for the [`CloseReport`](crate::CloseReport); past this only the count grows.
pub(crate) const UNOBSERVED_KEEP: usize = 1024;

pub(crate) type DeliveryResult = Result<RecordMetadata, DeliveryError>;

/// Where a record's outcome goes.
pub(crate) enum Sink {
    /// A [`DeliveryFuture`](crate::DeliveryFuture).
    Future(oneshot::Sender<DeliveryResult>),
    /// The successes / errors streams of the channel shape.
    Channel,
}

pub(crate) struct PendingRecord {
    seq: u64,
    sink: Sink,
}

/// A cheap hasher for the driver's own map keyed by [`RecordId`] (sequential numbers from the
/// core, never chosen by the network or the user): one multiplication instead of SipHash.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The sequence numbers (given out in order, from 0) of records still waiting for an outcome,
/// as a sliding window: O(1) to add the next one, amortised O(1) to remove any, and the
/// lowest is at hand (what `flush` asks).
#[derive(Default)]
pub(crate) struct Outstanding {
    /// The sequence number of `done[0]`.
    base: u64,
    /// Per sequence number from `base`: whether it has its outcome. The front is always
    /// `false` (a waiting record) when not empty.
    done: VecDeque<bool>,
}

impl Outstanding {
    /// Adds `seq`, which must be the next sequence number given out.
    fn insert(&mut self, seq: u64) {
        if self.done.is_empty() {
            self.base = seq;
        }
        debug_assert_eq!(seq, self.base + self.done.len() as u64);
        self.done.push_back(false);
    }

    fn remove(&mut self, seq: u64) {
        let Some(i) = seq.checked_sub(self.base) else {
            return;
        };
        if let Some(flag) = usize::try_from(i).ok().and_then(|i| self.done.get_mut(i)) {
            *flag = true;
        }
        while self.done.front() == Some(&true) {
            self.done.pop_front();
            self.base += 1;
        }
    }

    /// The lowest sequence number still waiting.
    fn first(&self) -> Option<u64> {
        (!self.done.is_empty()).then_some(self.base)
    }

    fn clear(&mut self) {
        self.done.clear();
    }
}

/// The queues behind the channel shape's output streams.
pub(crate) struct ChannelQueues {
    pub(crate) return_successes: bool,
    pub(crate) capacity: usize,
    pub(crate) successes: VecDeque<(RecordMetadata, Record)>,
    pub(crate) errors: VecDeque<DeliveryError>,
    pub(crate) successes_open: bool,
    pub(crate) errors_open: bool,
    pub(crate) successes_waker: Option<Waker>,
    pub(crate) errors_waker: Option<Waker>,
}

impl ChannelQueues {
    fn unread(&self) -> usize {
        self.successes.len() + self.errors.len()
    }
}

/// What the driver task is doing, as far as a handle needs to know to decide whether a
/// `send` must wake it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriverWait {
    /// It will be polled again without being woken (woken already, yielding, or not yet
    /// polled): no need to wake it.
    Scheduled,
    /// It sleeps until I/O, a wake, or its timer at this deadline (`None`: no timer).
    Sleeping(Option<Instant>),
}

pub(crate) struct State {
    pub(crate) core: ProducerCore,
    /// Outputs taken from the core by handles (after a `send`), in order, for the driver to
    /// handle before any output still in the core.
    pub(crate) outputs: VecDeque<Output>,
    /// Whether a handle must wake the driver (see [`State::poll_send`]).
    pub(crate) driver_wait: DriverWait,
    pub(crate) clock: Clock,
    pending: HashMap<RecordId, PendingRecord, BuildHasherDefault<IdHasher>>,
    /// Sequence numbers of records still waiting for an outcome (for `flush`).
    outstanding: Outstanding,
    next_seq: u64,
    pub(crate) driver_waker: Option<Waker>,
    space_waiters: Vec<Waker>,
    flush_waiters: Vec<Waker>,
    finish_waiters: Vec<Waker>,
    pub(crate) channels: Option<ChannelQueues>,
    /// Live `Producer` / `InputSender` handles; at zero the producer closes by itself.
    pub(crate) handles: usize,
    /// `Output::Closed` was seen and the driver finished (or the driver is gone).
    pub(crate) finished: bool,
    pub(crate) delivered: u64,
    pub(crate) failed: u64,
    pub(crate) unobserved_failed: u64,
    pub(crate) unobserved: Vec<DeliveryError>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(core: ProducerCore, clock: Clock, channels: Option<ChannelQueues>) -> Self {
        Shared {
            state: Mutex::new(State {
                core,
                outputs: VecDeque::new(),
                driver_wait: DriverWait::Scheduled,
                clock,
                pending: HashMap::default(),
                outstanding: Outstanding::default(),
                next_seq: 0,
                driver_waker: None,
                space_waiters: Vec::new(),
                flush_waiters: Vec::new(),
                finish_waiters: Vec::new(),
                channels,
                handles: 1,
                finished: false,
                delivered: 0,
                failed: 0,
                unobserved_failed: 0,
                unobserved: Vec::new(),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as it was between two complete
        // operations of the core; keep going rather than poisoning every handle.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn register(list: &mut Vec<Waker>, cx: &Context<'_>) {
    if !list.iter().any(|w| w.will_wake(cx.waker())) {
        list.push(cx.waker().clone());
    }
}

fn wake_all(list: &mut Vec<Waker>) {
    for w in list.drain(..) {
        w.wake();
    }
}

impl State {
    pub(crate) fn wake_driver(&mut self) {
        if let Some(w) = &self.driver_waker {
            w.wake_by_ref();
            self.driver_wait = DriverWait::Scheduled;
        }
    }

    /// After a `send`: wakes the driver only if it has something to do that it would not
    /// otherwise get to — outputs to handle, or a deadline earlier than its armed timer.
    /// A record that only joined an open batch whose linger deadline is already armed
    /// wakes nobody.
    fn wake_driver_after_send(&mut self) {
        let before = self.outputs.len();
        while let Some(out) = self.core.poll_output() {
            self.outputs.push_back(out);
        }
        let needed = match self.driver_wait {
            DriverWait::Scheduled => false,
            DriverWait::Sleeping(_) if self.outputs.len() > before => true,
            DriverWait::Sleeping(armed) => match (self.core.poll_timeout(), armed) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some((deadline, _)), Some(armed)) => deadline < armed,
            },
        };
        if needed {
            self.wake_driver();
        }
    }

    /// The next output for the driver: those taken by handles first, then the core's.
    pub(crate) fn next_output(&mut self) -> Option<Output> {
        self.outputs.pop_front().or_else(|| self.core.poll_output())
    }

    /// One attempt to hand `record` to the core. `wait` makes a full buffer (or, for the
    /// channel shape, full output queues) wait instead of refusing.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        slot: &mut Option<Record>,
        wait: bool,
        channel: bool,
    ) -> Poll<Result<(RecordId, u64), SendError>> {
        // The send futures poll this only while they still hold their record.
        let record = slot.take().expect("send polled after completion");
        if self.finished || self.core.is_closing() {
            return Poll::Ready(Err(SendError {
                kind: SendErrorKind::Closed,
                record,
            }));
        }
        // Full output queues (channel shape) or a full buffer: wait, or refuse.
        let queues_full =
            channel && (self.channels.as_ref()).is_some_and(|q| q.unread() >= q.capacity);
        if queues_full || self.over_budget() {
            if wait {
                *slot = Some(record);
                register(&mut self.space_waiters, cx);
                return Poll::Pending;
            }
            return Poll::Ready(Err(SendError {
                kind: SendErrorKind::BufferFull,
                record,
            }));
        }
        let now = self.clock.now();
        match self.core.send(record, now) {
            Ok(id) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.outstanding.insert(seq);
                self.wake_driver_after_send();
                Poll::Ready(Ok((id, seq)))
            }
            Err(e) if wait && e.kind == SendErrorKind::BufferFull => {
                *slot = Some(e.record);
                register(&mut self.space_waiters, cx);
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Whether one more record would take the records held, with their bookkeeping
    /// ([`RECORD_OVERHEAD`] each), past `buffer.memory`. One record is always taken, so the
    /// overhead can never stall a producer with a tiny buffer.
    ///
    /// A record counts from `send` until its outcome is routed ([`State::complete`]), not only
    /// until the core emits it: the core frees its share of `buffer.memory` when it queues the
    /// outcome, but the record lives on in that queued output (here or in the core) until the
    /// driver task takes it. Counting only the core's records let a sender that outran a busy
    /// driver task pile up delivered records without bound.
    fn over_budget(&self) -> bool {
        let pending = self.core.pending_records().max(self.pending.len());
        let held = self
            .core
            .buffered_bytes()
            .saturating_add((pending + 1).saturating_mul(RECORD_OVERHEAD));
        pending > 0 && held > self.core.config().buffer_memory
    }

    /// Remembers where the outcome of an accepted record goes.
    pub(crate) fn track(&mut self, id: RecordId, seq: u64, sink: Sink) {
        self.pending.insert(id, PendingRecord { seq, sink });
    }

    /// Starts a flush and returns its mark: every record with a sequence below it.
    pub(crate) fn start_flush(&mut self) -> u64 {
        if !self.finished && !self.core.is_closing() {
            let now = self.clock.now();
            self.core.flush(now);
            self.wake_driver();
        }
        self.next_seq
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>, mark: u64) -> Poll<()> {
        let done = self.finished || self.outstanding.first().map_or(true, |s| s >= mark);
        if done {
            Poll::Ready(())
        } else {
            register(&mut self.flush_waiters, cx);
            Poll::Pending
        }
    }

    /// Asks the core to close (once) and wakes the driver.
    pub(crate) fn start_close(&mut self) {
        if !self.finished && !self.core.is_closing() {
            let now = self.clock.now();
            self.core.close(now);
        }
        self.wake_driver();
    }

    pub(crate) fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.finished {
            Poll::Ready(())
        } else {
            register(&mut self.finish_waiters, cx);
            Poll::Pending
        }
    }

    /// Routes one outcome from the core to whoever waits for it.
    pub(crate) fn complete(
        &mut self,
        id: RecordId,
        outcome: Result<RecordMetadata, ProduceError>,
        record: Record,
    ) {
        let Some(p) = self.pending.remove(&id) else {
            // Accepted between `send` returning and `track` (cannot happen under one lock),
            // or an id the core never gave out: count it, lose nothing silently.
            match outcome {
                Ok(_) => self.delivered += 1,
                Err(error) => {
                    self.failed += 1;
                    self.unobserved_failure(DeliveryError { error, record });
                }
            }
            return;
        };
        self.outstanding.remove(p.seq);
        match (p.sink, outcome) {
            (Sink::Future(tx), Ok(metadata)) => {
                self.delivered += 1;
                let _ = tx.send(Ok(metadata));
            }
            (Sink::Future(tx), Err(error)) => {
                self.failed += 1;
                if let Err(Err(e)) = tx.send(Err(DeliveryError { error, record })) {
                    self.unobserved_failure(e);
                }
            }
            (Sink::Channel, Ok(metadata)) => {
                self.delivered += 1;
                if let Some(q) = &mut self.channels {
                    if q.return_successes && q.successes_open {
                        q.successes.push_back((metadata, record));
                        if let Some(w) = q.successes_waker.take() {
                            w.wake();
                        }
                    }
                }
            }
            (Sink::Channel, Err(error)) => {
                self.failed += 1;
                let e = DeliveryError { error, record };
                match &mut self.channels {
                    Some(q) if q.errors_open => {
                        q.errors.push_back(e);
                        if let Some(w) = q.errors_waker.take() {
                            w.wake();
                        }
                    }
                    _ => self.unobserved_failure(e),
                }
            }
        }
    }

    pub(crate) fn unobserved_failure(&mut self, e: DeliveryError) {
        self.unobserved_failed += 1;
        if self.unobserved.len() < UNOBSERVED_KEEP {
            self.unobserved.push(e);
        }
    }

    /// Outcomes happened: buffer space may be free, flushes may be done.
    pub(crate) fn wake_after_outcomes(&mut self) {
        wake_all(&mut self.space_waiters);
        wake_all(&mut self.flush_waiters);
    }

    /// Channel-shape output was read: input may go on.
    pub(crate) fn wake_space(&mut self) {
        wake_all(&mut self.space_waiters);
    }

    /// The driver is done (closed, or dropped by its runtime): resolve everything still
    /// waiting. Records without an outcome (only possible when the runtime dropped the driver
    /// task) lose their delivery futures' senders, which then resolve as aborted.
    pub(crate) fn finish(&mut self) {
        self.finished = true;
        for (_, p) in self.pending.drain() {
            if let Sink::Channel = p.sink {
                self.failed += 1;
                self.unobserved_failed += 1;
            }
        }
        self.outstanding.clear();
        wake_all(&mut self.space_waiters);
        wake_all(&mut self.flush_waiters);
        wake_all(&mut self.finish_waiters);
        if let Some(q) = &mut self.channels {
            if let Some(w) = q.successes_waker.take() {
                w.wake();
            }
            if let Some(w) = q.errors_waker.take() {
                w.wake();
            }
        }
    }
}

/// A handle's share of the state; counts live handles so that dropping the last one closes
/// the producer gracefully.
pub(crate) struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Handle { shared }
    }
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        self.shared.lock().handles += 1;
        Handle {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.handles -= 1;
        if st.handles == 0 {
            st.start_close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outstanding_tracks_the_lowest_waiting_sequence() {
        let mut o = Outstanding::default();
        assert_eq!(o.first(), None);
        for seq in 0..5 {
            o.insert(seq);
        }
        assert_eq!(o.first(), Some(0));
        o.remove(2);
        o.remove(3);
        assert_eq!(o.first(), Some(0));
        o.remove(0);
        assert_eq!(o.first(), Some(1));
        o.remove(1);
        assert_eq!(o.first(), Some(4));
        o.remove(7); // never given out: ignored
        o.remove(2); // already done: ignored
        assert_eq!(o.first(), Some(4));
        o.remove(4);
        assert_eq!(o.first(), None);
        o.insert(5);
        assert_eq!(o.first(), Some(5));
        o.clear();
        assert_eq!(o.first(), None);
        o.insert(6);
        assert_eq!(o.first(), Some(6));
    }

    #[test]
    fn id_hasher_spreads_sequential_ids() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<IdHasher>::default();
        let hashes: std::collections::HashSet<u64> = (0..1000u64)
            .map(|i| b.hash_one(RecordId(i)) >> 57)
            .collect();
        // The top 7 bits (what hashbrown compares first) take many values, not one.
        assert!(hashes.len() > 64, "{}", hashes.len());
    }
}
