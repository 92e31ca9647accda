//! The driver's clock: wall-clock time read once, advanced by a monotonic clock.

use odradek_core::Instant;
use std::time::{SystemTime, UNIX_EPOCH};

/// Tells the core what time it is: [`odradek_core::Instant`] (nanoseconds since the UNIX
/// epoch), anchored once to `SystemTime::now()` and advanced with the monotonic
/// `std::time::Instant`, so it never goes backwards when the wall clock is adjusted.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    anchor_unix_nanos: u64,
    anchor: std::time::Instant,
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
}
