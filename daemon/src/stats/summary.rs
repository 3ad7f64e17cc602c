//! Median, MAD and a distribution-free 95 % confidence interval of the median.
//!
//! Benchmark samples on a shared machine have outliers in one direction (interference only makes
//! things slower), so the median and the median absolute deviation describe them, not mean and sd.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// A set of samples with its robust summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Raw samples in measurement order.
    pub samples: Vec<f64>,
    /// Median of the samples.
    pub median: f64,
    /// Median absolute deviation from the median (unscaled).
    pub mad: f64,
    /// 95 % confidence interval of the median, `[low, high]`.
    pub ci95: [f64; 2],
}

/// Median of `v` (sorted in place); NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    median_sorted(v)
}

/// Median of already sorted values.
fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

impl Summary {
    /// Summarises `samples`; `None` when there are none or any is not finite (a failed run is an
    /// error for the caller to report, never a zero).
    pub fn of(samples: Vec<f64>) -> Option<Self> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let median = median_sorted(&sorted);
        let mut dev: Vec<f64> = sorted.iter().map(|s| (s - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad = median_sorted(&dev);
        // Order-statistic interval (normal approximation to the binomial): 1-based ranks
        // round(n/2 − z·√n/2) and round(1 + n/2 + z·√n/2), clamped to the sample.
        let n = sorted.len() as f64;
        let half = Z95 * n.sqrt() / 2.0;
        let lo = ((n / 2.0 - half).round().max(1.0) as usize).min(sorted.len()) - 1;
        let hi = ((1.0 + n / 2.0 + half).round() as usize).clamp(1, sorted.len()) - 1;
        Some(Self {
            samples,
            median,
            mad,
            ci95: [sorted[lo], sorted[hi]],
        })
    }

    /// Applies `f` (monotone) to every figure, e.g. ns/op → ops/s; an interval is re-sorted.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Self {
        let (a, b) = (f(self.ci95[0]), f(self.ci95[1]));
        Self {
            samples: self.samples.iter().map(|&s| f(s)).collect(),
            median: f(self.median),
            mad: (f(self.median + self.mad) - f(self.median)).abs(),
            ci95: [a.min(b), a.max(b)],
        }
    }

    /// The largest sample: for a bandwidth, what the memory can do (the roofline basis).
    pub fn best(&self) -> f64 {
        self.samples
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// MAD relative to the median (a robust coefficient of variation).
    pub fn relative_mad(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            self.mad / self.median.abs()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_and_even_medians_and_mad() {
        let s = Summary::of(vec![5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.median, s.mad), (3.0, 2.0));
        let s = Summary::of(vec![4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert_eq!(s.mad, 1.0);
    }

    #[test]
    fn interval_contains_median_and_narrows_with_n() {
        let wide = Summary::of((0..9).map(f64::from).collect()).unwrap();
        let narrow = Summary::of((0..101).map(|i| f64::from(i) / 100.0 * 8.0).collect()).unwrap();
        for s in [&wide, &narrow] {
            assert!(s.ci95[0] <= s.median && s.median <= s.ci95[1]);
        }
        assert!(narrow.ci95[1] - narrow.ci95[0] < wide.ci95[1] - wide.ci95[0]);
        // n = 9: ranks 2 and 8 (1-based) of 0..9.
        assert_eq!(wide.ci95, [1.0, 7.0]);
    }

    #[test]
    fn empty_or_non_finite_is_none() {
        assert!(Summary::of(vec![]).is_none());
        assert!(Summary::of(vec![1.0, f64::NAN]).is_none());
        assert!(Summary::of(vec![1.0, f64::INFINITY]).is_none());
    }

    #[test]
    fn map_inverts_order_for_rates() {
        let s = Summary::of(vec![1.0, 2.0, 4.0]).unwrap().map(|ns| 1e9 / ns);
        assert_eq!(s.median, 5e8);
        assert!(s.ci95[0] <= s.ci95[1]);
    }
}
