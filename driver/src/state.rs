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
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

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
    pending: HashMap<RecordId, PendingRecord>,
    /// Sequence numbers of records still waiting for an outcome (for `flush`).
    outstanding: BTreeSet<u64>,
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
                pending: HashMap::new(),
                outstanding: BTreeSet::new(),
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
        if channel {
            if let Some(q) = &self.channels {
                if q.unread() >= q.capacity {
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
            }
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
        let done = self.finished || self.outstanding.first().map_or(true, |&s| s >= mark);
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
        self.outstanding.remove(&p.seq);
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
