//! Confirmation by interleaved A/B: the baseline build (A) and the new build (B) run alternately
//! in the same time window, ABAB…, and each pair gives one ratio B/A. Drift that moves separate
//! runs by several percent moves both halves of a pair alike, so the ratios scatter by ~0.1 %.
//! A regression is confirmed when the median ratio is below 1 − min_effect and a one-sided t-test
//! on the log ratios says the pairs are consistently below 1.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// One A/B pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AbPair {
    /// Baseline (A) metric.
    pub baseline: f64,
    /// Candidate (B) metric.
    pub candidate: f64,
    /// candidate / baseline.
    pub ratio: f64,
}

/// The A/B verdict with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbResult {
    /// Baseline commit (A).
    pub baseline_commit: String,
    /// The pairs, in run order.
    pub pairs: Vec<AbPair>,
    /// Median of the pair ratios.
    pub median_ratio: f64,
    /// One-sided p-value that the mean log ratio is below 0.
    pub p_value: f64,
    /// Regression confirmed.
    pub confirmed: bool,
}

/// One-sided p-value that the mean of `x` is below 0 (one-sample t-test).
fn p_mean_below_zero(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 2 {
        return 1.0;
    }
    let m = x.iter().sum::<f64>() / n;
    let sd = (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0)).sqrt();
    if sd == 0.0 {
        return if m < 0.0 { 0.0 } else { 1.0 };
    }
    let t = m / (sd / n.sqrt());
    StudentsT::new(0.0, 1.0, n - 1.0).map_or(1.0, |d| d.cdf(t))
}

/// After the first pair: is it already clear there is no regression? (Pairs scatter by ~0.1 %, so
/// a first ratio above 1 − min_effect/2 will not turn into a confirmed drop of min_effect.)
/// Stopping there keeps the cost of a false suspicion at one pair.
pub fn clearly_not_a_regression(first: (f64, f64), min_effect: f64) -> bool {
    first.1 / first.0 > 1.0 - min_effect / 2.0
}

/// Judges measured pairs `(baseline, candidate)`.
pub fn judge(
    baseline_commit: &str,
    measured: &[(f64, f64)],
    min_effect: f64,
    alpha: f64,
) -> AbResult {
    let pairs: Vec<AbPair> = measured
        .iter()
        .map(|&(a, b)| AbPair {
            baseline: a,
            candidate: b,
            ratio: b / a,
        })
        .collect();
    let mut ratios: Vec<f64> = pairs
        .iter()
        .map(|p| p.ratio)
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median_ratio = match ratios.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => ratios[n / 2],
        n => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
    };
    let logs: Vec<f64> = ratios.iter().map(|r| r.ln()).collect();
    let p_value = p_mean_below_zero(&logs);
    AbResult {
        baseline_commit: baseline_commit.into(),
        confirmed: ratios.len() == pairs.len()
            && median_ratio <= 1.0 - min_effect
            && p_value <= alpha,
        pairs,
        median_ratio,
        p_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistent_drop_is_confirmed_and_noise_is_not() {
        let drop = [(100.0, 96.9), (103.0, 99.9), (98.0, 95.1)];
        let r = judge("a", &drop, 0.02, 0.01);
        assert!(r.confirmed, "{r:?}");
        assert!((r.median_ratio - 0.97).abs() < 0.002);
        // Drift between pairs (100 → 103 → 98) but equal halves: no regression.
        let same = [(100.0, 100.1), (103.0, 102.9), (98.0, 98.05)];
        assert!(!judge("a", &same, 0.02, 0.01).confirmed);
        // A drop below the minimum effect is not a regression either.
        let small = [(100.0, 99.0), (100.0, 99.1), (100.0, 98.9)];
        assert!(!judge("a", &small, 0.02, 0.01).confirmed);
        assert!(!judge("a", &[], 0.02, 0.01).confirmed);
    }
}
