//! The adoption test: a winner replaces the current profile only when an interleaved A/B shows
//! its gain is at least `min_gain` at the configured alpha. One-sided Student t test on the log
//! ratios of the pairs (within one process the pairs' ratios are close to log-normal and
//! independent; the drift that makes separate processes disagree cancels inside a pair).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The A/B behind an adoption decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdoptionTest {
    /// `(current, winner)` values of each pair, objective units.
    pub pairs: Vec<(f64, f64)>,
    /// Geometric-mean gain of the winner (0.05 = 5 % faster).
    pub gain: f64,
    /// 95 % confidence interval of the gain.
    pub gain_ci95: [f64; 2],
    /// p-value of "gain ≤ min_gain".
    pub p_value: f64,
    /// The gain the winner had to show.
    pub min_gain: f64,
    /// The significance level.
    pub alpha: f64,
    /// Median of the current profile's values.
    pub before: f64,
    /// Median of the winner's values.
    pub after: f64,
    /// The winner is adopted.
    pub adopted: bool,
}

impl AdoptionTest {
    /// The A/B in one line: pairs, before → after, gain with its interval and p-value.
    pub fn describe(&self, unit: &str) -> String {
        format!(
            "{} interleaved pairs, {:.2} → {:.2} {unit}, gain {:+.1} % (95 % CI {:+.1} % .. {:+.1} %), p = {:.2e} for a gain above {:.1} %",
            self.pairs.len(),
            self.before,
            self.after,
            self.gain * 100.0,
            self.gain_ci95[0] * 100.0,
            self.gain_ci95[1] * 100.0,
            self.p_value,
            self.min_gain * 100.0
        )
    }
}

/// Judges the pairs.
pub fn judge(pairs: Vec<(f64, f64)>, min_gain: f64, alpha: f64) -> AdoptionTest {
    let logs: Vec<f64> = pairs
        .iter()
        .filter(|(a, b)| *a > 0.0 && *b > 0.0 && a.is_finite() && b.is_finite())
        .map(|(a, b)| (b / a).ln())
        .collect();
    let n = logs.len();
    let mean = if n > 0 {
        logs.iter().sum::<f64>() / n as f64
    } else {
        0.0
    };
    let sd = if n > 1 {
        (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        f64::INFINITY
    };
    let threshold = (1.0 + min_gain).ln();
    let (p_value, half) = if n < 2 {
        (1.0, f64::INFINITY)
    } else if sd == 0.0 {
        (if mean > threshold { 0.0 } else { 1.0 }, 0.0)
    } else {
        let se = sd / (n as f64).sqrt();
        match StudentsT::new(0.0, 1.0, (n - 1) as f64) {
            Ok(t) => (
                1.0 - t.cdf((mean - threshold) / se),
                t.inverse_cdf(0.975) * se,
            ),
            Err(_) => (1.0, f64::INFINITY),
        }
    };
    let mut before: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let mut after: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    AdoptionTest {
        gain: mean.exp() - 1.0,
        gain_ci95: [(mean - half).exp() - 1.0, (mean + half).exp() - 1.0],
        p_value,
        min_gain,
        alpha,
        before: crate::stats::median(&mut before),
        after: crate::stats::median(&mut after),
        adopted: n >= 2 && p_value < alpha,
        pairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_gain_is_adopted_and_a_small_or_noisy_one_is_not() {
        let clear: Vec<_> = (0..8)
            .map(|i| (100.0, 106.0 + 0.3 * f64::from(i % 3)))
            .collect();
        let t = judge(clear, 0.01, 0.01);
        assert!(t.adopted, "{t:?}");
        assert!(t.gain > 0.05 && t.gain_ci95[0] > 0.01);
        // 0.5 % faster: real, but below min_gain.
        let small: Vec<_> = (0..8)
            .map(|i| (100.0, 100.5 + 0.05 * f64::from(i % 2)))
            .collect();
        assert!(!judge(small, 0.01, 0.01).adopted);
        // Large but inconsistent.
        let noisy = vec![(100.0, 130.0), (100.0, 80.0), (100.0, 125.0), (100.0, 90.0)];
        assert!(!judge(noisy, 0.01, 0.01).adopted);
        assert!(!judge(vec![(100.0, 150.0)], 0.01, 0.01).adopted);
    }
}
