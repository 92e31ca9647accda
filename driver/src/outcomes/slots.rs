//! The outcome slots behind [`Ticket`]s: one table for the whole producer, its own lock.

use super::{lock, DeliveryResult, Unobserved};
use odradek_core::{DeliveryError, ProduceError, Record, RecordMetadata, TopicName};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A failure kept small in the slot table (failures are rare; successes are not boxed).
pub(super) type SlotResult = Result<RecordMetadata, Box<DeliveryError>>;

enum Slot {
    /// A placeholder while a slot's state is being replaced.
    Free,
    /// A ticket waits; the waker of its last poll, if it was polled.
    Waiting(Option<Waker>),
    /// The outcome came; the ticket has not taken it yet.
    Ready(SlotResult),
    /// The ticket was dropped before the outcome came.
    Abandoned,
    /// The producer died before the outcome came.
    Aborted,
}

struct Table {
    slots: Vec<Slot>,
    /// Slots their tickets are done with, already reset to `Waiting(None)`, to go back to
    /// the router's free list at its next settle (so that handing out a slot takes no lock).
    released: Vec<usize>,
    /// Threads blocked in [`Ticket::wait_outcome`] (so that settling notifies only when needed).
    blocked: usize,
    unobserved: Unobserved,
}

impl Table {
    /// Hands slot `i` back (its ticket is done with it), ready for the next ticket.
    fn release(&mut self, i: usize) {
        self.slots[i] = Slot::Waiting(None);
        self.released.push(i);
    }

    /// Puts an outcome in slot `i`; returns the waker to wake.
    fn fill(&mut self, i: usize, outcome: SlotResult) -> Option<Waker> {
        match std::mem::replace(&mut self.slots[i], Slot::Free) {
            Slot::Waiting(waker) => {
                self.slots[i] = Slot::Ready(outcome);
                waker
            }
            Slot::Abandoned => {
                if let Err(e) = outcome {
                    self.unobserved.push(*e);
                }
                self.release(i);
                None
            }
            // Filled twice, or filled after an abort: keep the first state (cannot happen:
            // the router routes each id once and aborts only waiting ones).
            other => {
                self.slots[i] = other;
                None
            }
        }
    }
}

/// The shared table of outcome slots behind [`Ticket`]s: one allocation for the whole
/// producer, grown to the most tickets alive at once and reused.
pub struct Slots {
    table: Mutex<Table>,
    /// Signalled when outcomes arrive while a thread waits in [`Ticket::wait_outcome`].
    changed: Condvar,
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = lock(&self.table);
        f.debug_struct("Slots")
            .field("slots", &t.slots.len())
            .field("released", &t.released.len())
            .finish_non_exhaustive()
    }
}

impl Slots {
    pub(super) fn new() -> Self {
        Slots {
            table: Mutex::new(Table {
                slots: Vec::new(),
                released: Vec::new(),
                blocked: 0,
                unobserved: Unobserved::default(),
            }),
            changed: Condvar::new(),
        }
    }

    /// A ticket for slot `index` (handed out by [`refill`](Slots::refill)).
    pub(super) fn ticket(self: &Arc<Self>, index: usize, topic: TopicName) -> Ticket {
        Ticket {
            slots: Arc::clone(self),
            index,
            topic,
            taken: false,
        }
    }

    /// Takes back into `free` the slots tickets released and, if none, grows the table by a
    /// chunk.
    pub(super) fn refill(&self, free: &mut Vec<usize>) {
        const CHUNK: usize = 64;
        let mut t = lock(&self.table);
        free.append(&mut t.released);
        if free.is_empty() {
            let start = t.slots.len();
            t.slots.extend((0..CHUNK).map(|_| Slot::Waiting(None)));
            // Lowest first out.
            free.extend((start..start + CHUNK).rev());
        }
    }

    /// Puts routed outcomes in their slots (one lock for all), takes back into `free` the
    /// slots tickets released, and wakes their tasks and blocked threads; `wake` is a reused
    /// scratch list.
    pub(super) fn fill_all(
        &self,
        fills: &mut Vec<(usize, SlotResult)>,
        free: &mut Vec<usize>,
        wake: &mut Vec<Waker>,
    ) {
        let blocked = {
            let mut t = lock(&self.table);
            for (i, r) in fills.drain(..) {
                if let Some(w) = t.fill(i, r) {
                    wake.push(w);
                }
            }
            free.append(&mut t.released);
            t.blocked > 0
        };
        if blocked {
            self.changed.notify_all();
        }
        for w in wake.drain(..) {
            w.wake();
        }
    }

    /// The producer died: the waiting `slots` resolve as aborted.
    pub(super) fn abort(&self, slots: &[usize]) {
        let mut t = lock(&self.table);
        for &i in slots {
            match std::mem::replace(&mut t.slots[i], Slot::Aborted) {
                Slot::Waiting(Some(w)) => w.wake(),
                Slot::Waiting(None) => {}
                // Its ticket is gone: nobody will read the slot.
                Slot::Abandoned => t.release(i),
                // Not waiting (cannot be, for a route still live): leave it.
                other => t.slots[i] = other,
            }
        }
        drop(t);
        self.changed.notify_all();
    }

    /// The failures of dropped tickets: their count, and the first `room` of those kept so
    /// far (taken: a later call gets only those that came after).
    pub(super) fn unobserved(&self, room: usize) -> (u64, Vec<DeliveryError>) {
        let mut t = lock(&self.table);
        let kept = std::mem::take(&mut t.unobserved.kept);
        (t.unobserved.count, kept.into_iter().take(room).collect())
    }
}

/// What taking a slot's content found.
enum Taken {
    Outcome(DeliveryResult),
    Aborted,
    Waiting,
}

fn take(t: &mut Table, i: usize) -> Taken {
    match &t.slots[i] {
        Slot::Waiting(_) => Taken::Waiting,
        Slot::Ready(_) => {
            let Slot::Ready(r) = std::mem::replace(&mut t.slots[i], Slot::Free) else {
                unreachable!("matched Ready above")
            };
            t.release(i);
            Taken::Outcome(r.map_err(|e| *e))
        }
        Slot::Aborted => {
            t.release(i);
            Taken::Aborted
        }
        // A ticket only reads its own slot, which it has not released.
        Slot::Free | Slot::Abandoned => Taken::Aborted,
    }
}

/// One record's outcome as seen by its delivery future or receipt: an index into the
/// producer's [`Slots`]. Dropping it does not cancel the record; a failure that arrives
/// for a dropped ticket goes to the [`CloseReport`](crate::CloseReport) as unobserved.
pub struct Ticket {
    slots: Arc<Slots>,
    index: usize,
    topic: TopicName,
    /// The outcome was taken (the slot is released).
    taken: bool,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("topic", &self.topic)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl Ticket {
    /// The record's topic.
    pub fn topic(&self) -> &TopicName {
        &self.topic
    }

    /// Whether the outcome was already taken (by a poll or a wait that returned it).
    pub fn is_taken(&self) -> bool {
        self.taken
    }

    /// The outcome of a record whose producer died first, or of a ticket whose outcome was
    /// already taken: [`ProduceError::Aborted`], with a record that carries only the topic.
    pub fn aborted(&self) -> DeliveryError {
        DeliveryError {
            error: ProduceError::Aborted,
            record: Record::new(self.topic.clone()),
        }
    }

    fn finish(&mut self, taken: Taken) -> Option<DeliveryResult> {
        match taken {
            Taken::Waiting => None,
            Taken::Outcome(r) => {
                self.taken = true;
                Some(r)
            }
            Taken::Aborted => {
                self.taken = true;
                Some(Err(self.aborted()))
            }
        }
    }

    /// Async: the outcome if it has come, else registers `cx`'s waker. After the outcome was
    /// taken, [`aborted`](Ticket::aborted).
    pub fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        if self.taken {
            return Poll::Ready(Err(self.aborted()));
        }
        let slots = Arc::clone(&self.slots);
        let mut t = lock(&slots.table);
        let taken = take(&mut t, self.index);
        if let Taken::Waiting = taken {
            if let Slot::Waiting(w) = &mut t.slots[self.index] {
                match w {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
            }
            return Poll::Pending;
        }
        drop(t);
        Poll::Ready(self.finish(taken).expect("not waiting"))
    }

    /// The outcome if it has come (`None` otherwise, or once taken).
    pub fn try_outcome(&mut self) -> Option<DeliveryResult> {
        if self.taken {
            return None;
        }
        let slots = Arc::clone(&self.slots);
        let taken = take(&mut lock(&slots.table), self.index);
        self.finish(taken)
    }

    /// Blocks the thread until the outcome comes, at most `timeout` when given (`None` when
    /// it runs out, or once the outcome was taken).
    pub fn wait_outcome(&mut self, timeout: Option<Duration>) -> Option<DeliveryResult> {
        if self.taken {
            return None;
        }
        let deadline = timeout.map(|d| Instant::now() + d);
        let slots = Arc::clone(&self.slots);
        let mut t = lock(&slots.table);
        loop {
            let taken = take(&mut t, self.index);
            if !matches!(taken, Taken::Waiting) {
                drop(t);
                return self.finish(taken);
            }
            t.blocked += 1;
            t = match deadline {
                None => slots
                    .changed
                    .wait(t)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        t.blocked -= 1;
                        return None;
                    }
                    slots
                        .changed
                        .wait_timeout(t, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            t.blocked -= 1;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let mut t = lock(&self.slots.table);
        let i = self.index;
        match std::mem::replace(&mut t.slots[i], Slot::Free) {
            Slot::Waiting(_) => t.slots[i] = Slot::Abandoned,
            Slot::Ready(Err(e)) => {
                t.unobserved.push(*e);
                t.release(i);
            }
            Slot::Ready(Ok(_)) | Slot::Aborted => t.release(i),
            other @ (Slot::Free | Slot::Abandoned) => t.slots[i] = other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fail, ok, CountingWaker};
    use super::super::Router;
    use super::*;
    use odradek_core::RecordId;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn slot_count(router: &Router) -> usize {
        lock(&router.slots.table).slots.len()
    }

    #[test]
    fn tickets_reuse_one_slot_table_and_get_their_own_outcome() {
        let mut r = Router::new(None);
        for round in 0..1000u64 {
            let id = 2 * round;
            let mut a = r.track_ticket(RecordId(id), TopicName::new("t"));
            let mut b = r.track_ticket(RecordId(id + 1), TopicName::new("t"));
            assert!(a.try_outcome().is_none(), "no outcome yet");
            ok(&mut r, id + 1);
            ok(&mut r, id);
            assert!(a.try_outcome().is_none(), "not before settle");
            r.settle();
            assert_eq!(b.try_outcome().unwrap().unwrap().offset, (id + 1) as i64);
            assert_eq!(a.try_outcome().unwrap().unwrap().offset, id as i64);
            assert!(a.try_outcome().is_none(), "taken once");
            assert!(a.is_taken());
        }
        // Two tickets alive at a time: the first chunk of slots, however many records.
        assert_eq!(slot_count(&r), 64);
        assert_eq!(r.report().delivered, 2000);
    }

    #[test]
    fn a_dropped_ticket_hands_its_failure_to_the_report() {
        let mut r = Router::new(None);
        let before = r.track_ticket(RecordId(0), TopicName::new("t"));
        let after = r.track_ticket(RecordId(1), TopicName::new("t"));
        let delivered = r.track_ticket(RecordId(2), TopicName::new("t"));
        // Dropped before its outcome, and after it (not taken).
        drop(before);
        fail(&mut r, 0);
        fail(&mut r, 1);
        ok(&mut r, 2);
        r.settle();
        drop(after);
        drop(delivered);
        let report = r.report();
        assert_eq!((report.delivered, report.failed), (1, 2));
        assert_eq!(report.unobserved_failed, 2);
        assert_eq!(report.unobserved_failures.len(), 2);
        assert_eq!(
            report.unobserved_failures[0].record.value.as_deref(),
            Some(&b"v"[..])
        );
        // Every slot is free again.
        let t = lock(&r.slots.table);
        assert_eq!(r.free.len() + t.released.len(), t.slots.len());
    }

    #[test]
    fn polling_registers_the_waker_and_settle_wakes_it() {
        let mut r = Router::new(None);
        let mut ticket = r.track_ticket(RecordId(7), TopicName::new("t"));
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(ticket.poll_outcome(&mut cx).is_pending());
        assert!(ticket.poll_outcome(&mut cx).is_pending());
        ok(&mut r, 7);
        assert_eq!(counter.0.load(Ordering::SeqCst), 0, "woken only at settle");
        r.settle();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        match ticket.poll_outcome(&mut cx) {
            Poll::Ready(Ok(m)) => assert_eq!(m.offset, 7),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_blocked_thread_is_woken_by_settle_and_a_timeout_returns_none() {
        let mut r = Router::new(None);
        let mut waiting = r.track_ticket(RecordId(0), TopicName::new("t"));
        assert!(waiting
            .wait_outcome(Some(Duration::from_millis(1)))
            .is_none());
        let waiter = std::thread::spawn(move || waiting.wait_outcome(None));
        // Wait until the thread blocks, on readiness (the blocked count), not a fixed sleep.
        let t0 = Instant::now();
        while lock(&r.slots.table).blocked == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "waiter never blocked"
            );
            std::thread::yield_now();
        }
        ok(&mut r, 0);
        r.settle();
        let outcome = waiter.join().unwrap().expect("an outcome, not a timeout");
        assert_eq!(outcome.unwrap().offset, 0);
    }
}
