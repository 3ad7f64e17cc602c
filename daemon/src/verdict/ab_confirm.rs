//! Confirmation by interleaved A/B, sequential and valid under between-process drift.
//!
//! The baseline build (A) and the new build (B) run alternately, ABAB…; each pair gives a log
//! ratio d = ln(B/A). In repository mode A and B are separate processes, so d carries the drift
//! of two processes (σ_d = √2·σ_process, 3–10 % on shared hosts), not the 0.1 % of an in-process
//! interleave. The process σ is estimated from the data: from the spread of the baseline's own
//! runs (many degrees of freedom) and from the pairs themselves, whichever is larger.
//!
//! Pairs are added until the one-sided interval of the mean log ratio excludes either "no
//! drop worth reporting" (upper bound below ln(1 − min_effect/2): **confirmed**) or "a drop of
//! at least min_effect" (lower bound above ln(1 − min_effect): **cleared**), up to a cap per
//! commit; then the result is **inconclusive** and its pairs are pooled into the next commit's
//! A/B against the same baseline, so evidence accumulates instead of being absorbed. Each pair
//! is winsorised around the median pair, and the median ratio must agree with a confirmation,
//! so one slow-mode process cannot decide alone.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::stats::median;

/// Pairs before any decision.
pub const MIN_PAIRS: usize = 3;
/// One-sided error rate of clearing a real drop of min_effect, per look.
pub const CLEAR_ALPHA: f64 = 0.01;
/// The upper bound of a confirmation lies below a drop of this fraction of min_effect: far
/// enough from zero that repeated looks at a real but smaller step (half of min_effect) do not
/// fail gates, near enough that a step of 1.5 × min_effect is confirmed in a few commits.
pub const CONFIRM_FRACTION: f64 = 0.75;

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

/// What an A/B concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbDecision {
    /// The drop is real and worth reporting.
    Confirmed,
    /// The drop, if any, is smaller than min_effect.
    Cleared,
    /// Neither yet: the pairs carry over to the next commit's A/B.
    #[default]
    Inconclusive,
}

/// How A/B evidence is weighed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbPolicy {
    /// Smallest drop (fraction) worth a failing gate.
    pub min_effect: f64,
    /// A confirmation needs the upper bound below a drop of this fraction of min_effect.
    pub confirm_fraction: f64,
    /// One-sided error rate of a confirmation, per look.
    pub alpha: f64,
    /// One-sided error rate of clearing a real drop of min_effect, per look.
    pub clear_alpha: f64,
    /// Pairs before any decision.
    pub min_pairs: usize,
    /// Pairs one commit may add.
    pub max_pairs_per_commit: usize,
    /// Most pairs pooled from earlier inconclusive commits.
    pub max_pooled: usize,
}

/// The A/B verdict with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbResult {
    /// Baseline commit (A).
    pub baseline_commit: String,
    /// This commit's pairs, in run order.
    pub pairs: Vec<AbPair>,
    /// Pairs carried over from earlier inconclusive commits against the same baseline.
    #[serde(default)]
    pub pooled_pairs: Vec<AbPair>,
    /// Median of all pair ratios (pooled included).
    pub median_ratio: f64,
    /// Mean ratio (exp of the winsorised mean log ratio) and its one-sided bounds.
    #[serde(default)]
    pub mean_ratio: f64,
    /// [lower, upper] bounds of the mean ratio at the decision levels.
    #[serde(default)]
    pub ratio_bounds: [f64; 2],
    /// Between-process σ (log scale) used.
    #[serde(default)]
    pub sigma_process: f64,
    /// One-sided p-value that the mean log ratio is not below ln(1 − min_effect/2).
    pub p_value: f64,
    /// The conclusion.
    #[serde(default)]
    pub decision: AbDecision,
    /// Regression confirmed (`decision == Confirmed`).
    pub confirmed: bool,
    /// The figure each pair compared (older results: tokens/s).
    #[serde(default)]
    pub metric: super::ab_metric::AbMetric,
}

/// Robust σ of ln(x) across separate processes (1.4826·MAD), from at least 4 values.
pub fn process_sigma(values: &[f64]) -> Option<f64> {
    let mut logs: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|v| v.ln())
        .collect();
    if logs.len() < 4 {
        return None;
    }
    let m = median(&mut logs);
    let mut dev: Vec<f64> = logs.iter().map(|l| (l - m).abs()).collect();
    Some(1.4826 * median(&mut dev))
}

/// Whether `pooled` (earlier commits' pairs) measured the same change as `this` commit's: their
/// mean log ratios differ by less than 3 standard errors (σ from the pairs' pooled spread).
fn consistent(this: &[(f64, f64)], pooled: &[(f64, f64)]) -> bool {
    let logs = |v: &[(f64, f64)]| -> Vec<f64> {
        v.iter()
            .map(|&(a, b)| (b / a).ln())
            .filter(|x| x.is_finite())
            .collect()
    };
    let (a, b) = (logs(this), logs(pooled));
    if a.is_empty() || b.len() < 2 {
        return !b.is_empty() || pooled.is_empty();
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(&a), mean(&b));
    let all: Vec<f64> = a
        .iter()
        .map(|x| x - ma)
        .chain(b.iter().map(|x| x - mb))
        .collect();
    let dof = (all.len() - 2).max(1) as f64;
    let sd = (all.iter().map(|x| x * x).sum::<f64>() / dof)
        .sqrt()
        .max(1e-6);
    let se = sd * (1.0 / a.len() as f64 + 1.0 / b.len() as f64).sqrt();
    (ma - mb).abs() <= 3.0 * se
}

/// Whether the pairs so far settle the question (`Some`), or more are needed (`None`).
pub fn decide(
    baseline_commit: &str,
    this: &[(f64, f64)],
    pooled: &[(f64, f64)],
    sigma_history: Option<f64>,
    policy: &AbPolicy,
) -> AbResult {
    let to_pairs = |v: &[(f64, f64)]| -> Vec<AbPair> {
        v.iter()
            .map(|&(a, b)| AbPair {
                baseline: a,
                candidate: b,
                ratio: b / a,
            })
            .collect()
    };
    let pairs = to_pairs(this);
    // Earlier commits' pairs only pool when they measured the same step as this commit's:
    // a commit that moved the level again makes them a different question.
    let pooled = if consistent(this, pooled) {
        pooled
    } else {
        &[]
    };
    let pooled_pairs = to_pairs(pooled);
    let mut d: Vec<f64> = pooled_pairs
        .iter()
        .chain(&pairs)
        .map(|p| p.ratio)
        .filter(|r| r.is_finite() && *r > 0.0)
        .map(f64::ln)
        .collect();
    let n = d.len();
    let med = median(&mut d.clone());
    let mut result = AbResult {
        baseline_commit: baseline_commit.into(),
        pairs,
        pooled_pairs,
        median_ratio: med.exp(),
        mean_ratio: f64::NAN,
        ratio_bounds: [f64::NAN, f64::NAN],
        sigma_process: sigma_history.unwrap_or(f64::NAN),
        p_value: 1.0,
        decision: AbDecision::Inconclusive,
        confirmed: false,
        metric: super::ab_metric::AbMetric::default(),
    };
    let valid = n == this.len() + pooled.len();
    if n < policy.min_pairs.max(2) || !valid {
        return result;
    }
    // Spread of the pairs themselves (robust), and what the history says two processes give.
    let mut dev: Vec<f64> = d.iter().map(|x| (x - med).abs()).collect();
    let sd_pairs = {
        let mad = 1.4826 * median(&mut dev);
        let mean = d.iter().sum::<f64>() / n as f64;
        let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        // The larger of the two: the MAD alone would ignore slow-mode pairs that the SD sees,
        // and underestimating σ is what turns noise into confirmations.
        sd.max(mad).max(1e-6)
    };
    let sd_history = sigma_history.map(|s| std::f64::consts::SQRT_2 * s);
    let sd = sd_history.map_or(sd_pairs, |h| h.max(sd_pairs));
    // Winsorise each pair at 2σ around the median pair: a slow-mode process moves its pair by
    // more than that, and then counts as a 2σ pair, not as a decision.
    d.iter_mut()
        .for_each(|x| *x = x.clamp(med - 2.0 * sd, med + 2.0 * sd));
    let mean = d.iter().sum::<f64>() / n as f64;
    let se = sd / (n as f64).sqrt();
    // With σ from the history the interval is a z-interval; from the pairs alone a t-interval.
    let quantile = |alpha: f64| match sd_history {
        Some(_) => Normal::new(0.0, 1.0).map_or(f64::INFINITY, |z| z.inverse_cdf(1.0 - alpha)),
        None => StudentsT::new(0.0, 1.0, (n - 1) as f64)
            .map_or(f64::INFINITY, |t| t.inverse_cdf(1.0 - alpha)),
    };
    let upper = mean + quantile(policy.alpha) * se;
    let lower = mean - quantile(policy.clear_alpha) * se;
    let report_line = (1.0 - policy.min_effect * policy.confirm_fraction).ln();
    let effect_line = (1.0 - policy.min_effect).ln();
    let z = (mean - report_line) / se;
    result.p_value = match sd_history {
        Some(_) => Normal::new(0.0, 1.0).map_or(1.0, |d| d.cdf(z)),
        None => StudentsT::new(0.0, 1.0, (n - 1) as f64).map_or(1.0, |t| t.cdf(z)),
    };
    result.mean_ratio = mean.exp();
    result.ratio_bounds = [lower.exp(), upper.exp()];
    result.sigma_process = sd / std::f64::consts::SQRT_2;
    // At this commit's last pair, an estimate near no change clears too: carrying such pairs
    // would only dilute the next commit's evidence, and keeping the run out of the baseline
    // would starve it.
    let last_look = this.len() >= policy.max_pairs_per_commit;
    let near_no_change = mean > (1.0 - policy.min_effect / 4.0).ln();
    result.decision = if upper < report_line && med < report_line {
        AbDecision::Confirmed
    } else if lower > effect_line || (last_look && near_no_change) {
        AbDecision::Cleared
    } else {
        AbDecision::Inconclusive
    };
    result.confirmed = result.decision == AbDecision::Confirmed;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AbPolicy {
        AbPolicy {
            min_effect: 0.02,
            confirm_fraction: 0.5,
            alpha: 0.001,
            clear_alpha: 0.01,
            min_pairs: 3,
            max_pairs_per_commit: 4,
            max_pooled: 40,
        }
    }

    #[test]
    fn a_consistent_drop_is_confirmed_and_equal_halves_are_cleared() {
        let drop: Vec<(f64, f64)> = (0..4)
            .map(|i| (100.0 + i as f64, (100.0 + i as f64) * 0.95))
            .collect();
        let r = decide("a", &drop, &[], Some(0.005), &policy());
        assert_eq!(r.decision, AbDecision::Confirmed, "{r:?}");
        assert!((r.median_ratio - 0.95).abs() < 1e-9);
        let same: Vec<(f64, f64)> = (0..4)
            .map(|i| (100.0 + i as f64, 100.0 + i as f64))
            .collect();
        assert_eq!(
            decide("a", &same, &[], Some(0.005), &policy()).decision,
            AbDecision::Cleared
        );
        // Too few pairs: no decision either way.
        assert_eq!(
            decide("a", &drop[..2], &[], Some(0.005), &policy()).decision,
            AbDecision::Inconclusive
        );
    }

    #[test]
    fn noisy_pairs_stay_inconclusive_and_pooling_settles_them() {
        // σ 3 % per process: a 3 % drop is not settled by 4 pairs...
        let noisy = [(100.0, 95.0), (97.0, 96.5), (103.0, 98.0), (99.0, 97.9)];
        let r = decide("a", &noisy, &[], Some(0.03), &policy());
        assert_eq!(r.decision, AbDecision::Inconclusive, "{r:?}");
        // ...but the same evidence pooled over several commits is.
        let pooled: Vec<(f64, f64)> = noisy.iter().cycle().take(76).copied().collect();
        let r = decide("a", &noisy, &pooled, Some(0.03), &policy());
        assert_eq!(r.decision, AbDecision::Confirmed, "{r:?}");
        assert_eq!(r.pooled_pairs.len(), 76);
    }

    #[test]
    fn one_slow_process_does_not_decide_alone() {
        // Three equal pairs and one whose B landed in a −6 % slow mode.
        let pairs = [(100.0, 100.1), (100.0, 99.9), (100.0, 94.0), (100.0, 100.0)];
        let r = decide("a", &pairs, &[], Some(0.01), &policy());
        assert_ne!(r.decision, AbDecision::Confirmed, "{r:?}");
    }

    #[test]
    fn process_sigma_is_robust() {
        let runs = [100.0, 101.0, 99.0, 100.5, 99.5, 94.0];
        let s = process_sigma(&runs).unwrap();
        assert!(s > 0.004 && s < 0.012, "{s}");
        assert!(process_sigma(&runs[..3]).is_none());
    }
}
