//! The clock the adapter feeds the core: wall-clock time read once, advanced monotonically.

use odradek_core::Instant;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `odradek_core::Instant` from a monotonic clock anchored once to the UNIX epoch.
///
/// The wall clock is read only at construction; afterwards time advances with
/// [`std::time::Instant`], so it never goes backwards even when the system clock is stepped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    anchor: Instant,
    mono: std::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Clock {
            anchor: Instant::EPOCH + since_epoch,
            mono: std::time::Instant::now(),
        }
    }

    /// Now, as the core counts time.
    pub(crate) fn now(&self) -> Instant {
        self.anchor + self.mono.elapsed()
    }
}

/// A seed for the core's RNG, different for every producer.
pub(crate) fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    std::collections::hash_map::RandomState::new().hash_one(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_starts_near_wall_time_and_never_goes_back() {
        let c = Clock::new();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        let diff = (a.as_unix_nanos() as i128 - wall.as_nanos() as i128).abs();
        assert!(
            diff < 5_000_000_000,
            "clock is {diff} ns off the wall clock"
        );
    }
}
