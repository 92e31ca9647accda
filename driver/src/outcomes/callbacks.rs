//! `send_with` callbacks: stored by value in a pool per closure type, run once their outcome
//! came, outside the producer lock.

use super::slots::SlotResult;
use super::{lock, DeliveryResult};
use odradek_core::{DeliveryError, ProduceError, Record, TopicName};
use std::any::TypeId;
use std::fmt;
use std::sync::{Arc, Mutex};

/// One ready callback: its pool's number, its index in the pool, and its outcome (`None`:
/// the producer died first; a failure boxed, so that the entries stay small as they move).
pub(super) type ReadyEntry = (u32, usize, Option<SlotResult>);

/// A pool of callbacks of one closure type: stored by value (with the record's topic, for
/// an aborted outcome), reused as they run.
pub(super) trait Pool: Send + Sync {
    /// Runs the callbacks `run` names (index in this pool, outcome; `None`: the producer
    /// died first), in order: all taken out under one lock, then run outside it.
    fn call_run(&self, run: &mut dyn Iterator<Item = (usize, Option<SlotResult>)>);
    fn as_any(&self) -> &dyn std::any::Any;
    /// Entries the pool has grown to (used or free).
    fn entries(&self) -> usize;
}

type PoolSlots<F> = (Vec<Option<(F, TopicName)>>, Vec<usize>);

/// Callbacks [`Pool::call_run`] takes out of their pool under one lock, at most.
const CALL_CHUNK: usize = 64;

/// Callbacks taken out of the pool, about to run, with their outcomes.
type Taken<F> = Vec<((F, TopicName), Option<SlotResult>)>;

struct TypedPool<F> {
    inner: Mutex<PoolSlots<F>>,
    /// The buffer [`Pool::call_run`] takes callbacks into, kept for the next run (a nested
    /// run, from a callback, finds it taken and uses a fresh one).
    scratch: Mutex<Taken<F>>,
}

impl<F: FnOnce(DeliveryResult) + Send + 'static> TypedPool<F> {
    fn insert(&self, f: F, topic: TopicName) -> usize {
        let mut g = lock(&self.inner);
        match g.1.pop() {
            Some(i) => {
                g.0[i] = Some((f, topic));
                i
            }
            None => {
                g.0.push(Some((f, topic)));
                g.0.len() - 1
            }
        }
    }
}

impl<F: FnOnce(DeliveryResult) + Send + 'static> Pool for TypedPool<F> {
    fn call_run(&self, run: &mut dyn Iterator<Item = (usize, Option<SlotResult>)>) {
        let mut kept = self.scratch.try_lock().ok();
        let mut fresh = Vec::new();
        let taken: &mut Taken<F> = kept.as_deref_mut().unwrap_or(&mut fresh);
        let mut run = run.peekable();
        while run.peek().is_some() {
            {
                // One lock per chunk, not one per record, and never held long: `send_with`
                // inserts under this lock (holding the producer's) from the sending threads
                // while the I/O thread runs callbacks.
                let mut g = lock(&self.inner);
                for (index, outcome) in run.by_ref().take(CALL_CHUNK) {
                    if let Some(entry) = g.0.get_mut(index).and_then(Option::take) {
                        g.1.push(index);
                        taken.push((entry, outcome));
                    }
                }
            }
            // Run outside the pool's lock: the callback may send (and so insert) again. A
            // panicking callback is contained: the producer's I/O and the other callbacks go
            // on (and flush / close are not left waiting for it).
            for ((f, topic), outcome) in taken.drain(..) {
                let outcome = match outcome {
                    Some(r) => r.map_err(|e| *e),
                    None => Err(DeliveryError {
                        error: ProduceError::Aborted,
                        record: Record::new(topic),
                    }),
                };
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(outcome)));
            }
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn entries(&self) -> usize {
        lock(&self.inner).0.len()
    }
}

/// Callbacks whose outcome came, to run once the producer lock is released
/// ([`Router::take_callbacks`](super::Router::take_callbacks)).
#[derive(Default)]
pub struct ReadyCallbacks {
    pub(super) ready: Vec<ReadyEntry>,
    /// The router's pools, as many as it had at the last take (pools are only ever added).
    pub(super) pools: Vec<Arc<dyn Pool>>,
}

impl fmt::Debug for ReadyCallbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyCallbacks")
            .field("ready", &self.ready.len())
            .finish()
    }
}

impl ReadyCallbacks {
    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }

    /// Runs every callback, in outcome order, and tells how many ran. Call it with no
    /// producer lock held, then report the count with [`Router::callbacks_finished`](super::Router::callbacks_finished).
    pub fn run(&mut self) -> usize {
        let n = self.ready.len();
        let mut ready = self.ready.drain(..).peekable();
        // Consecutive callbacks of one pool (usually all of them) run as one run.
        while let Some(&(p, _, _)) = ready.peek() {
            let mut run = std::iter::from_fn(|| {
                ready
                    .next_if(|(q, _, _)| *q == p)
                    .map(|(_, index, outcome)| (index, outcome))
            });
            self.pools[p as usize].call_run(&mut run);
        }
        n
    }
}

/// The callback pools, one per closure type (found by `TypeId`), never removed.
#[derive(Default)]
pub(super) struct Pools {
    pools: Vec<(TypeId, Arc<dyn Pool>)>,
}

impl Pools {
    /// Stores `callback` by value in the pool of its type (made on first use); returns the
    /// pool's number and the callback's index in it.
    pub(super) fn insert<F>(&mut self, callback: F, topic: TopicName) -> (u32, usize)
    where
        F: FnOnce(DeliveryResult) + Send + 'static,
    {
        let type_id = TypeId::of::<F>();
        let p = match self.pools.iter().position(|(t, _)| *t == type_id) {
            Some(p) => p,
            None => {
                let pool: Arc<dyn Pool> = Arc::new(TypedPool::<F> {
                    inner: Mutex::new((Vec::new(), Vec::new())),
                    scratch: Mutex::new(Vec::new()),
                });
                self.pools.push((type_id, pool));
                self.pools.len() - 1
            }
        };
        let pool = self.pools[p]
            .1
            .as_any()
            .downcast_ref::<TypedPool<F>>()
            .expect("pool found by its TypeId");
        let index = pool.insert(callback, topic);
        // Pools are never removed, and fewer than 2^32 closure types exist in one program.
        (p as u32, index)
    }

    /// Gives `into` the pools it does not have yet (pools are only ever added), so that
    /// ready callbacks name their pool by number.
    pub(super) fn share(&self, into: &mut Vec<Arc<dyn Pool>>) {
        let known = into.len();
        into.extend(self.pools[known..].iter().map(|(_, p)| Arc::clone(p)));
    }

    /// Entries the pools have grown to (used or free), in all.
    pub(super) fn entries(&self) -> usize {
        self.pools.iter().map(|(_, p)| p.entries()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fail, ok};
    use super::super::Router;
    use super::*;
    use odradek_core::RecordId;

    #[test]
    fn callbacks_run_once_outside_the_router_and_their_pool_is_reused() {
        let mut r = Router::new(None);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut ready = ReadyCallbacks::default();
        for id in 0..500u64 {
            let seen2 = Arc::clone(&seen);
            let cb = move |o: DeliveryResult| lock(&seen2).push(o.map(|m| m.offset));
            r.track_callback(RecordId(id), TopicName::new("t"), cb);
            if id % 2 == 0 {
                ok(&mut r, id);
            } else {
                fail(&mut r, id);
            }
            assert!(
                lock(&seen).len() as u64 == id,
                "not run before take_callbacks"
            );
            assert!(r.callbacks_ready());
            r.take_callbacks(&mut ready);
            assert!(!r.callbacks_ready());
            ready.run();
            assert!(ready.is_empty());
        }
        let seen = lock(&seen);
        assert_eq!(seen.len(), 500);
        for (i, o) in seen.iter().enumerate() {
            match o {
                Ok(offset) => assert_eq!(*offset, i as i64),
                Err(e) => assert!(i % 2 == 1 && e.error == ProduceError::Aborted),
            }
        }
        // One closure type, one pool, one entry reused for all 500.
        assert_eq!(r.pools.pools.len(), 1);
        assert_eq!(r.pools.pools[0].1.entries(), 1);
        let report = r.report();
        assert_eq!(
            (report.delivered, report.failed, report.unobserved_failed),
            (250, 250, 0)
        );
    }

    #[test]
    fn callbacks_of_two_closure_types_run_once_each_in_outcome_order() {
        let mut r = Router::new(None);
        let seen = Arc::new(Mutex::new(Vec::new()));
        for id in 0..40u64 {
            let seen2 = Arc::clone(&seen);
            // Two closure types, interleaved in runs of 1..4: two pools, runs that switch.
            if (id / 3) % 2 == 0 {
                let cb = move |o: DeliveryResult| lock(&seen2).push(("a", id, o.is_ok()));
                r.track_callback(RecordId(id), TopicName::new("t"), cb);
            } else {
                let cb = move |o: DeliveryResult| lock(&seen2).push(("b", id, o.is_ok()));
                r.track_callback(RecordId(id), TopicName::new("t"), cb);
            }
        }
        for id in 0..40u64 {
            if id % 5 == 0 {
                fail(&mut r, id);
            } else {
                ok(&mut r, id);
            }
        }
        let mut ready = ReadyCallbacks::default();
        r.take_callbacks(&mut ready);
        assert_eq!(ready.run(), 40);
        let seen = lock(&seen);
        let expected: Vec<_> = (0..40u64)
            .map(|id| (if (id / 3) % 2 == 0 { "a" } else { "b" }, id, id % 5 != 0))
            .collect();
        assert_eq!(*seen, expected);
        assert_eq!(r.pools.pools.len(), 2);
    }
}
