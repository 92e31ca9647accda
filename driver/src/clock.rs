//! The driver's clock: wall-clock time read once, advanced by a monotonic clock; and the
//! wall clock itself, read at each `send` for the record's timestamp.

use odradek_core::Instant;
use std::time::{SystemTime, UNIX_EPOCH};

/// Tells the core what time it is: [`odradek_core::Instant`] (nanoseconds since the UNIX
/// epoch), anchored once to `SystemTime::now()` and advanced with the monotonic
/// `std::time::Instant`, so it never goes backwards when the wall clock is adjusted (the
/// core's deadlines stay monotonic). Records are stamped with
/// [`wall_millis`](Clock::wall_millis) instead, which follows the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    anchor_unix_nanos: u64,
    anchor: std::time::Instant,
    /// Reads the wall clock: `SystemTime::now()` (a test may set another).
    wall: fn() -> SystemTime,
}

fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

impl Clock {
    /// A clock anchored now.
    pub fn new() -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Clock {
            anchor_unix_nanos: unix,
            anchor: std::time::Instant::now(),
            wall: SystemTime::now,
        }
    }

    /// The wall clock now, in milliseconds since the UNIX epoch: a record's `CreateTime`
    /// when it has none (read at `send`, so it follows the wall clock where
    /// [`now`](Clock::now) does not).
    pub fn wall_millis(&self) -> i64 {
        unix_millis((self.wall)())
    }

    /// A clock anchored now whose wall clock is `wall` (for tests of the timestamps).
    #[doc(hidden)]
    pub fn with_wall(wall: fn() -> SystemTime) -> Self {
        Clock {
            wall,
            ..Clock::new()
        }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        Instant::from_unix_nanos(self.anchor_unix_nanos) + self.anchor.elapsed()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_near_wall_time_and_monotonic() {
        let c = Clock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((a.as_unix_millis() - wall).abs() < 5_000);
    }

    /// A wall clock set one hour ahead of the real one (as after a suspend, or an NTP step).
    fn jumped() -> SystemTime {
        SystemTime::now() + std::time::Duration::from_secs(3600)
    }

    #[test]
    fn records_follow_a_wall_clock_that_jumped() {
        use crate::state::{Sender, Shared, WhenFull};
        use odradek_core::{Config, Output, ProduceError, ProducerCore, Record};
        use std::task::{Context, Poll};

        // The monotonic clock did not jump: `now` stays near the real time.
        let clock = Clock::with_wall(jumped);
        let now = clock.now();
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((now.as_unix_millis() - real).abs() < 5_000);
        assert!(clock.wall_millis() - real >= 3_599_000);

        let core = ProducerCore::new(Config::new(["localhost:9092"]), 1, now).unwrap();
        let shared = Shared::new(core, clock, None);
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let mut st = shared.lock();
        let mut send = |r: Record| {
            let mut slot = Some(r);
            match st.poll_send(&mut cx, &mut slot, WhenFull::Refuse, Sender::Producer) {
                Poll::Ready(r) => r,
                Poll::Pending => unreachable!(),
            }
        };
        let a = send(Record::new("t").value("a")).unwrap();
        let b = send(Record::new("t").value("b").timestamp(42)).unwrap();
        // A refused record comes back as it was given: no timestamp.
        let refused = send(Record::new("").value("bad")).unwrap_err();
        assert_eq!(refused.record.timestamp, None);
        // The records come back with their outcome (no broker: the close gives up on them).
        let now = st.clock.now();
        st.core.close_now(now);
        let mut stamps = std::collections::BTreeMap::new();
        while let Some(out) = st.core.poll_output() {
            if let Output::Failed { id, error, record } = out {
                assert_eq!(error, ProduceError::CloseTimedOut);
                stamps.insert(id, record.timestamp);
            }
        }
        let ts_a = stamps[&a].expect("stamped at send");
        assert!(
            ts_a - real >= 3_599_000,
            "the wall clock's time, not the monotonic one's"
        );
        assert!(ts_a - now.as_unix_millis() >= 3_599_000);
        assert_eq!(stamps[&b], Some(42), "a timestamp given is kept");
    }
}
