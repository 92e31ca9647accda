//! The state shared by the driver task and the handles: the core, the clock, the records
//! waiting for an outcome, and everybody waiting for something.
//!
//! One `std::sync::Mutex` guards it all, as in quinn: handles call the core directly (so
//! `try_send` answers synchronously with the core's own typed refusal) and wake the driver
//! task, which does the I/O. The lock is never held across an `.await`.

use crate::clock::Clock;
use crate::outcomes::{ChannelQueues, ReadyCallbacks, Router};
use crate::report::CloseReport;
use odradek_core::{
    Instant, Output, ProducerCore, Record, RecordId, SendError, SendErrorKind, TransactionError,
    TxnOp,
};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// What one pending record costs the driver in memory, beyond what the core charges to
/// `buffer.memory` itself ([`ProducerCore::buffered_bytes`]): the route of its outcome in the
/// router's window, its outcome slot and its place on the free list (the delivery future or
/// receipt that the caller holds is the caller's). 128 bytes just after those vectors
/// doubled, 87 between two doublings. Charged against `buffer.memory` by
/// `State::poll_send`, beside what the core charges.
///
/// What the core holds for a pending record and does not charge one by one (the caller's
/// [`Record`] kept for its outcome, with its key and value allocations) the core covers with
/// what it charges beyond that: each record at least a batch of it alone (a 256-byte buffer
/// and a 184-byte record list slot, which holds the `Record` inline). Measured by
/// `cargo test -p odradek-tests --test record_cost --release -- --nocapture` (a counting
/// allocator; records with their own key and value allocations until the buffer refuses,
/// 16 MiB buffer): at 10 B, 100 B and 1 KiB values and 6, 1,000 and 5,000 partitions the core
/// holds 165 to 1,590 bytes per record *less* than it charges, the whole process (core and
/// driver behind a broker holding every Produce) 123 to 1,460 bytes less. Until the core
/// charged every record its batch share (issue 22) this was 1 KiB, which capped a 32 MiB
/// buffer at ~29,000 records of 100 B: 6 per partition at 5,000 partitions, one-record batches.
pub const RECORD_OVERHEAD: usize = 128;

/// What a record costs while its outcome is on its way from the core to its route (in an
/// output queued here or in the core, not yet [`Router::complete`]d): the core no longer
/// charges it, but the output still holds the whole record (128 bytes inline, its key and
/// value: 176 bytes of heap at 100-byte values). Charged beside [`RECORD_OVERHEAD`], only for
/// such records: a sender that outran a busy driver task piled up delivered records in the
/// queued outputs (95 MB after 100,000 records in `tests/tests/memory_tokio.rs`'s unpaced
/// sender before they were charged). Records are in transit only briefly while the driver
/// keeps up, so this does not cap what the buffer holds in steady state.
pub const TRANSIT_OVERHEAD: usize = 1024;

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

/// What a send does when the record cannot be taken yet (a full buffer or, for the channel
/// shape, full outcome queues).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    /// Wait for space (`send`).
    Wait,
    /// Refuse at once with `BufferFull` (`try_send`).
    Refuse,
}

/// Which handle sends: the channel shape's input is also held back by unread outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    /// A [`Producer`](crate::Producer): outcomes go to futures or callbacks.
    Producer,
    /// An [`InputSender`](crate::InputSender): full outcome queues count as a full buffer.
    Channel,
}

pub(crate) struct State {
    pub(crate) core: ProducerCore,
    /// Outputs taken from the core by handles (after a `send`), in order, for the driver to
    /// handle before any output still in the core.
    pub(crate) outputs: VecDeque<Output>,
    /// Whether a handle must wake the driver (see [`State::poll_send`]).
    pub(crate) driver_wait: DriverWait,
    pub(crate) clock: Clock,
    /// Where each accepted record's outcome goes; the channel queues; the report's counts.
    pub(crate) router: Router,
    pub(crate) driver_waker: Option<Waker>,
    space_waiters: Vec<Waker>,
    flush_waiters: Vec<Waker>,
    finish_waiters: Vec<Waker>,
    /// Live `Producer` / `InputSender` handles; at zero the producer closes by itself.
    pub(crate) handles: usize,
    /// `Output::Closed` was seen and the driver finished (or the driver is gone).
    pub(crate) finished: bool,
    /// Bytes charged per pending record beside what the core charges ([`RECORD_OVERHEAD`] unless
    /// the front end says otherwise).
    pub(crate) record_overhead: usize,
    /// The running transaction operation and its outcome.
    pub(crate) txn: crate::txn::TxnSlot,
    /// `close_timeout`: when the driver stops waiting and calls the core's `close_now` (the
    /// earliest such deadline asked for).
    pub(crate) close_deadline: Option<Instant>,
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
                router: Router::new(channels),
                driver_waker: None,
                space_waiters: Vec::new(),
                flush_waiters: Vec::new(),
                finish_waiters: Vec::new(),
                handles: 1,
                finished: false,
                record_overhead: RECORD_OVERHEAD,
                txn: crate::txn::TxnSlot::default(),
                close_deadline: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as it was between two complete
        // operations of the core; keep going rather than poisoning every handle.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Flushes: returns once every record sent before the call has its outcome (and every
    /// callback whose outcome came has run).
    pub(crate) async fn flush(&self) {
        let mark = self.lock().start_flush();
        poll_fn(|cx| self.lock().poll_flush(cx, mark)).await
    }

    /// Closes gracefully, waits for the driver to finish and every callback to run, and
    /// reports.
    pub(crate) async fn close(&self) -> CloseReport {
        self.close_within(None).await
    }

    /// [`close`](Self::close), and once `timeout` (if any) passed, the driver fails every
    /// record still without an outcome with `CloseTimedOut` (the core's `close_now`).
    pub(crate) async fn close_within(&self, timeout: Option<Duration>) -> CloseReport {
        {
            let mut st = self.lock();
            if let Some(timeout) = timeout {
                st.set_close_timeout(timeout);
            }
            st.start_close();
        }
        poll_fn(|cx| self.lock().poll_finished(cx)).await;
        let mut st = self.lock();
        let report = st.router.report();
        // Callbacks of records aborted by a runtime that dropped the driver task, if any left.
        let mut aborted = ReadyCallbacks::default();
        st.router.take_callbacks(&mut aborted);
        drop(st);
        if !aborted.is_empty() {
            let ran = aborted.run();
            self.lock().callbacks_finished(ran);
        }
        report
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

    /// One attempt to hand `record` to the core. [`WhenFull::Wait`] makes a full buffer (or,
    /// for [`Sender::Channel`], full output queues) wait instead of refusing.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        slot: &mut Option<Record>,
        when_full: WhenFull,
        sender: Sender,
    ) -> Poll<Result<RecordId, SendError>> {
        let wait = when_full == WhenFull::Wait;
        // The send futures poll this only while they still hold their record.
        let mut record = slot.take().expect("send polled after completion");
        if self.finished || self.core.is_closing() {
            return Poll::Ready(Err(SendError {
                kind: SendErrorKind::Closed,
                record,
            }));
        }
        // Full output queues (channel shape) or a full buffer: wait, or refuse.
        let queues_full = sender == Sender::Channel && self.router.channels_full();
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
        // CreateTime from the wall clock at the send (the core's `now` is monotonic and
        // drifts from it); a refused record is handed back as it came.
        let stamped = record.timestamp.is_none();
        if stamped {
            record.timestamp = Some(self.clock.wall_millis());
        }
        let unstamp = |mut r: Record| {
            if stamped {
                r.timestamp = None;
            }
            r
        };
        match self.core.send(record, now) {
            Ok(id) => {
                self.wake_driver_after_send();
                Poll::Ready(Ok(id))
            }
            Err(e) if wait && e.kind == SendErrorKind::BufferFull => {
                *slot = Some(unstamp(e.record));
                register(&mut self.space_waiters, cx);
                Poll::Pending
            }
            Err(mut e) => {
                e.record = unstamp(e.record);
                Poll::Ready(Err(e))
            }
        }
    }

    /// Whether one more record would take the records held, with their bookkeeping
    /// (`record_overhead` each, [`RECORD_OVERHEAD`] by default, and [`TRANSIT_OVERHEAD`]
    /// more for each whose outcome left the core but is not routed yet), past
    /// `buffer.memory`. One record is always taken, so the overhead can never stall a
    /// producer with a tiny buffer.
    ///
    /// A record counts from `send` until its outcome is routed ([`Router::complete`]), not only
    /// until the core emits it: the core frees its share of `buffer.memory` when it queues the
    /// outcome, but the record lives on in that queued output (here or in the core) until the
    /// driver task takes it. Counting only the core's records let a sender that outran a busy
    /// driver task pile up delivered records without bound.
    fn over_budget(&self) -> bool {
        let in_core = self.core.pending_records();
        let pending = in_core.max(self.router.pending());
        let in_transit = pending - in_core;
        let held = self
            .core
            .buffered_bytes()
            .saturating_add((pending + 1).saturating_mul(self.record_overhead))
            .saturating_add(in_transit.saturating_mul(TRANSIT_OVERHEAD));
        pending > 0 && held > self.core.config().buffer_memory
    }

    /// Starts a flush and returns its mark: every record with an id below it.
    pub(crate) fn start_flush(&mut self) -> u64 {
        if !self.finished && !self.core.is_closing() {
            let now = self.clock.now();
            self.core.flush(now);
            self.wake_driver();
        }
        self.router.flush_mark()
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>, mark: u64) -> Poll<()> {
        let done = self.finished || self.router.flushed(mark);
        if done {
            Poll::Ready(())
        } else {
            register(&mut self.flush_waiters, cx);
            Poll::Pending
        }
    }

    /// Starts transaction operation `op` on the core with `start`, one at a time: refused
    /// when another runs, the producer finished, or the core refuses it. Its outcome goes to a
    /// [`TxnFuture`](crate::txn::TxnFuture) or, with `event`, to the transaction events.
    pub(crate) fn start_txn(
        &mut self,
        op: TxnOp,
        event: bool,
        start: impl FnOnce(&mut ProducerCore, Instant) -> Result<(), TransactionError>,
    ) -> Result<(), TransactionError> {
        if self.finished {
            return Err(TransactionError::Closed);
        }
        self.txn.check_idle()?;
        let now = self.clock.now();
        start(&mut self.core, now)?;
        self.txn.started(op, event);
        self.wake_driver();
        Ok(())
    }

    /// Sets the close's deadline `timeout` from now (the earliest one asked for holds); the
    /// driver calls the core's `close_now` there ([`start_close`](Self::start_close) begins
    /// the close itself).
    pub(crate) fn set_close_timeout(&mut self, timeout: Duration) {
        let at = self.clock.now() + timeout;
        self.close_deadline = Some(self.close_deadline.map_or(at, |d| d.min(at)));
    }

    /// Asks the core to close (once) and wakes the driver.
    pub(crate) fn start_close(&mut self) {
        if !self.finished && !self.core.is_closing() {
            let now = self.clock.now();
            self.core.close(now);
        }
        self.wake_driver();
    }

    /// `send_with` callbacks taken from the router ran: flushes and close may be done.
    pub(crate) fn callbacks_finished(&mut self, ran: usize) {
        if self.router.callbacks_finished(ran) {
            wake_all(&mut self.flush_waiters);
            wake_all(&mut self.finish_waiters);
        }
    }

    /// Ready once the driver finished and every callback ran.
    pub(crate) fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.finished && self.router.callbacks_outstanding() == 0 {
            Poll::Ready(())
        } else {
            register(&mut self.finish_waiters, cx);
            Poll::Pending
        }
    }

    /// After outcomes were routed ([`Router::complete`]): hands them to their delivery
    /// futures (one lock of the slot table for all) and, since buffer space may be free and
    /// flushes may be done, wakes those waiting for that.
    pub(crate) fn wake_after_outcomes(&mut self) {
        if self.router.settle() {
            wake_all(&mut self.space_waiters);
            wake_all(&mut self.flush_waiters);
        }
    }

    /// Channel-shape output was read: input may go on.
    pub(crate) fn wake_space(&mut self) {
        wake_all(&mut self.space_waiters);
    }

    /// The driver is done (closed, or dropped by its runtime): resolve everything still
    /// waiting. Records without an outcome (only possible when the runtime dropped the driver
    /// task) are aborted ([`Router::abort_all`]); their callbacks run at the driver's next
    /// [`Router::take_callbacks`].
    pub(crate) fn finish(&mut self) {
        self.finished = true;
        self.router.abort_all();
        self.txn.finish();
        wake_all(&mut self.space_waiters);
        wake_all(&mut self.flush_waiters);
        wake_all(&mut self.finish_waiters);
        if let Some(q) = &mut self.router.channels {
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
