//! Runtime-independent public types shared by every odradek adapter (odradek-tokio,
//! odradek-async-std re-export them through this crate; odradek-mio re-exports them too).

use odradek_core::DeliveryError;

/// What closing a producer reports (`close` on the producer, or on the channel shape's
/// `InputSender`): counts over the producer's whole life, and the failures nobody saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CloseReport {
    /// Records delivered.
    pub delivered: u64,
    /// Records failed (observed or not).
    pub failed: u64,
    /// Failed records whose outcome reached nobody: their delivery handle (future or receipt)
    /// was dropped, or (channel shape) the errors stream or receiver was dropped.
    pub unobserved_failed: u64,
    /// Those failures with their records, the first 1024 of them (the first `close` to finish
    /// takes them; a later one gets the rest, if any).
    pub unobserved_failures: Vec<DeliveryError>,
}

impl CloseReport {
    /// Whether every record was delivered.
    pub fn all_delivered(&self) -> bool {
        self.failed == 0
    }
}

/// Options for the channel shape (`channels` on the producer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelOptions {
    /// Queue successes on the successes stream or receiver (Sarama's `Return.Successes`);
    /// when `false`, none is returned and successes are only counted.
    pub return_successes: bool,
    /// How many outcomes (successes + errors) may wait unread before input waits. At least 1.
    pub capacity: usize,
}

impl Default for ChannelOptions {
    /// No successes, capacity 1024.
    fn default() -> Self {
        ChannelOptions {
            return_successes: false,
            capacity: 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_all_delivered() {
        let options = ChannelOptions::default();
        assert!(!options.return_successes);
        assert_eq!(options.capacity, 1024);
        let mut report = CloseReport {
            delivered: 3,
            ..CloseReport::default()
        };
        assert!(report.all_delivered());
        report.failed = 1;
        assert!(!report.all_delivered());
    }
}
