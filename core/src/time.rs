//! Time as the core sees it: a value handed in by the driver, never read from a clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in time, in nanoseconds since the UNIX epoch, as told to the core by its driver.
///
/// The core never reads a clock. Drivers pass `now` into every `handle_*` call. Real-time
/// adapters build it from a monotonic clock anchored once to wall-clock time (see
/// [`Instant::from_unix_nanos`]), so it never goes backwards, and deadlines stay monotonic.
/// It is only the fallback record timestamp (Kafka's `CreateTime`) for a record sent
/// without one straight to the core: the adapters stamp records with the wall clock read at
/// `send`, since this anchored clock drifts from it (clock slew, suspend). The simulator starts
/// from a fixed epoch and jumps from deadline to deadline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The UNIX epoch itself.
    pub const EPOCH: Instant = Instant(0);

    /// An instant `nanos` nanoseconds after the UNIX epoch.
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// An instant `millis` milliseconds after the UNIX epoch.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the UNIX epoch.
    pub const fn as_unix_nanos(self) -> u64 {
        self.0
    }

    /// Milliseconds since the UNIX epoch (what Kafka calls a timestamp).
    pub const fn as_unix_millis(self) -> i64 {
        (self.0 / 1_000_000) as i64
    }

    /// Time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at the far future.
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_nanos(d)))
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Instant({}.{:09}s)",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_converts() {
        let t = Instant::from_unix_millis(1_500);
        assert_eq!(t.as_unix_millis(), 1_500);
        assert_eq!((t + Duration::from_millis(20)).as_unix_millis(), 1_520);
        assert_eq!(Instant::EPOCH - t, Duration::ZERO);
        assert_eq!(t - Instant::EPOCH, Duration::from_millis(1_500));
        assert_eq!(
            Instant::from_unix_nanos(u64::MAX) + Duration::from_secs(1),
            Instant::from_unix_nanos(u64::MAX)
        );
    }
}
