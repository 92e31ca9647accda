//! A fixed-size log-linear latency histogram (microseconds, ~1.6 % resolution): constant
//! memory whatever the record count, so `odradek perf`'s own footprint does not grow with
//! `--num-records`.

/// Sub-buckets per power of two.
const SUB: u64 = 64;
/// Values below this are counted exactly.
const EXACT: u64 = 2 * SUB;
/// Enough buckets for any `u64`.
const BUCKETS: usize = (EXACT + 58 * SUB) as usize;

/// Counts of values in microseconds.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            max: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let msb = 63 - u64::from(v.leading_zeros()); // ≥ 7
    let shift = msb - 6; // v >> shift is in [64, 128)
    let top = v >> shift;
    (EXACT + (shift - 1) * SUB + (top - SUB)) as usize
}

/// The middle of bucket `i`.
fn value(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let k = i - EXACT;
    let shift = k / SUB + 1;
    let top = k % SUB + SUB;
    let low = top << shift;
    low + (1 << shift) / 2
}

impl Histogram {
    /// Adds one value.
    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.total += 1;
        self.sum += u128::from(micros);
        self.max = self.max.max(micros);
    }

    /// How many values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The mean, exact.
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The largest value, exact.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), to the histogram's resolution; never above
    /// [`max`](Self::max).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..5_000u64).chain([1 << 20, 123_456_789, u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            assert!(i >= last, "{v}");
            last = i;
            let mid = value(i);
            let err = mid.abs_diff(v) as f64 / v.max(1) as f64;
            assert!(err <= 0.016, "{v} -> bucket {i} mid {mid}");
        }
    }

    #[test]
    fn quantiles_mean_and_max() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000 {
            h.record(v * 1000);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max(), 1_000_000);
        assert!((h.mean() - 500_500.0).abs() < 1e-6);
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.016, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.016, "{p99}");
        assert_eq!(h.quantile(1.0), 1_000_000);
    }
}
