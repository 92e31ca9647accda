//! Transaction operations on the driver: one at a time, each ending with the core's
//! [`Output::Transaction`](odradek_core::Output::Transaction) for it.
//!
//! A handle starts the operation on the core under the lock and then waits on the slot here
//! ([`TxnFuture`]), or (the embedded mio producer) asks for the outcome to be queued as an
//! event. The driver task hands the core's output to [`TxnSlot::complete`].

use crate::state::Shared;
use odradek_core::{TransactionError, TxnOp};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The refusal of an operation started while another one is still running.
pub(crate) const BUSY: TransactionError =
    TransactionError::InvalidState("another transaction operation is in progress");

/// Where the outcome of the running operation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// To the [`TxnFuture`] waiting for it.
    Future,
    /// The future was dropped: the outcome is dropped too.
    Orphaned,
    /// Queued for [`TxnSlot::take_events`].
    Event,
}

/// The running transaction operation and its outcome.
#[derive(Debug, Default)]
pub(crate) struct TxnSlot {
    /// The operation in progress and where its outcome goes; `None` when another may start.
    running: Option<(TxnOp, Route)>,
    /// The outcome, arrived, not yet taken by its future.
    outcome: Option<Result<(), TransactionError>>,
    waker: Option<Waker>,
    /// Outcomes of operations started with [`Route::Event`].
    events: VecDeque<(TxnOp, Result<(), TransactionError>)>,
}

impl TxnSlot {
    /// Whether an operation may start: none is running.
    pub(crate) fn check_idle(&self) -> Result<(), TransactionError> {
        match self.running {
            Some(_) => Err(BUSY),
            None => Ok(()),
        }
    }

    /// The core accepted `op`: its outcome goes to a future (`event == false`) or the events.
    pub(crate) fn started(&mut self, op: TxnOp, event: bool) {
        let route = if event { Route::Event } else { Route::Future };
        self.running = Some((op, route));
        self.outcome = None;
    }

    /// The core's `Output::Transaction { op, result }`.
    pub(crate) fn complete(&mut self, op: TxnOp, result: Result<(), TransactionError>) {
        match self.running {
            Some((_, Route::Future)) => {
                self.outcome = Some(result);
                if let Some(w) = self.waker.take() {
                    w.wake();
                }
            }
            Some((_, Route::Event)) => {
                self.running = None;
                self.events.push_back((op, result));
            }
            // Nobody waits (the future was dropped, or the core finished an operation no
            // handle started): it is over.
            Some((_, Route::Orphaned)) | None => self.running = None,
        }
    }

    /// Moves the outcomes of operations started as events to the back of `into`.
    pub(crate) fn take_events(
        &mut self,
        into: &mut VecDeque<(TxnOp, Result<(), TransactionError>)>,
    ) {
        into.append(&mut self.events);
    }

    /// The producer finished (closed, or its task dropped): whoever waits learns it.
    pub(crate) fn finish(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        if let Some((op, Route::Event)) = self.running {
            self.running = None;
            self.events.push_back((op, Err(TransactionError::Closed)));
        }
    }
}

/// Waits for the outcome of the running operation (started by the caller, future-routed).
pub(crate) struct TxnFuture {
    pub(crate) shared: Arc<Shared>,
    pub(crate) done: bool,
}

impl Future for TxnFuture {
    type Output = Result<(), TransactionError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.done {
            return Poll::Ready(Err(BUSY));
        }
        let shared = self.shared.clone();
        let mut st = shared.lock();
        let finished = st.finished;
        let slot = &mut st.txn;
        let result = match slot.outcome.take() {
            Some(result) => result,
            None if finished => Err(TransactionError::Closed),
            None => {
                match &slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => slot.waker = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
        };
        slot.running = None;
        slot.waker = None;
        drop(st);
        self.done = true;
        Poll::Ready(result)
    }
}

impl Drop for TxnFuture {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut st = self.shared.lock();
        let finished = st.finished;
        let slot = &mut st.txn;
        slot.waker = None;
        if slot.outcome.take().is_some() || finished {
            slot.running = None;
        } else if let Some((op, Route::Future)) = slot.running {
            // The core still runs it: the next operation waits until it ends.
            slot.running = Some((op, Route::Orphaned));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use odradek_core::{Config, ProducerCore, TransactionState};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// Counts its wake-ups.
    struct CountWaker(AtomicUsize);

    impl Wake for CountWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn shared(transactional: bool) -> Arc<Shared> {
        let mut config = Config::new(["127.0.0.1:9"]);
        if transactional {
            config.transactional_id = Some("txn-test".into());
        }
        let clock = Clock::new();
        let core = ProducerCore::new(config, 7, clock.now()).expect("valid config");
        Arc::new(Shared::new(core, clock, None))
    }

    fn start_init(shared: &Arc<Shared>, event: bool) -> Result<TxnFuture, TransactionError> {
        shared
            .lock()
            .start_txn(TxnOp::Init, event, |core, now| core.init_transactions(now))?;
        Ok(TxnFuture {
            shared: shared.clone(),
            done: false,
        })
    }

    fn poll(fut: &mut TxnFuture, waker: &Arc<CountWaker>) -> Poll<Result<(), TransactionError>> {
        let waker = Waker::from(waker.clone());
        Pin::new(fut).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn the_future_resolves_with_its_ops_output_and_a_concurrent_op_is_refused() {
        let shared = shared(true);
        let waker = Arc::new(CountWaker(AtomicUsize::new(0)));
        let mut fut = start_init(&shared, false).expect("init starts");
        assert_eq!(
            shared.lock().core.transaction_state(),
            TransactionState::Initializing
        );
        assert!(poll(&mut fut, &waker).is_pending());
        // A second operation while the first runs: refused, typed, nothing started.
        let second = shared
            .lock()
            .start_txn(TxnOp::Abort, false, |core, now| core.abort_transaction(now));
        assert_eq!(second.err(), Some(BUSY));
        assert_eq!(BUSY.class(), odradek_core::TxnErrorClass::Usage);
        // The driver hands over the core's output: the waiting future is woken and resolves.
        let fenced = TransactionError::Broker {
            api: "InitProducerId",
            code: odradek_core::protocol::ErrorCode(47),
        };
        shared.lock().txn.complete(TxnOp::Init, Err(fenced.clone()));
        assert_eq!(waker.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut fut, &waker), Poll::Ready(Err(fenced)));
        // Over: the next operation reaches the core (which refuses a second init itself).
        let again = start_init(&shared, false).err().expect("core refuses");
        assert_ne!(again, BUSY);
    }

    #[test]
    fn a_dropped_future_holds_the_slot_until_its_op_ends() {
        let shared = shared(true);
        let fut = start_init(&shared, false).expect("init starts");
        drop(fut);
        assert_eq!(shared.lock().txn.check_idle(), Err(BUSY));
        shared.lock().txn.complete(TxnOp::Init, Ok(()));
        assert_eq!(shared.lock().txn.check_idle(), Ok(()));
        assert!(
            shared.lock().txn.outcome.is_none(),
            "the orphan's outcome is dropped"
        );
    }

    #[test]
    fn a_finished_producer_resolves_the_waiting_future_closed() {
        let shared = shared(true);
        let waker = Arc::new(CountWaker(AtomicUsize::new(0)));
        let mut fut = start_init(&shared, false).expect("init starts");
        assert!(poll(&mut fut, &waker).is_pending());
        shared.lock().finish();
        assert_eq!(waker.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            poll(&mut fut, &waker),
            Poll::Ready(Err(TransactionError::Closed))
        );
        let late = start_init(&shared, false).err();
        assert_eq!(late, Some(TransactionError::Closed));
    }

    #[test]
    fn event_routed_outcomes_are_queued_in_order() {
        let shared = shared(true);
        start_init(&shared, true).expect("init starts");
        assert_eq!(shared.lock().txn.check_idle(), Err(BUSY));
        shared.lock().txn.complete(TxnOp::Init, Ok(()));
        let mut events = VecDeque::new();
        shared.lock().txn.take_events(&mut events);
        assert_eq!(events, VecDeque::from([(TxnOp::Init, Ok(()))]));
        shared.lock().txn.take_events(&mut events);
        assert_eq!(events.len(), 1, "taken once");
        assert_eq!(shared.lock().txn.check_idle(), Ok(()));
    }

    #[test]
    fn a_non_transactional_producer_refuses_without_starting() {
        let shared = shared(false);
        let refused = start_init(&shared, false).err();
        assert_eq!(refused, Some(TransactionError::NotTransactional));
        assert_eq!(shared.lock().txn.check_idle(), Ok(()));
    }
}
