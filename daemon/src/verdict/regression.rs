//! Regression assessment of a run against its baseline: the median of the last good mainline runs
//! on the same host fingerprint, a one-sided Mann-Whitney U test and a bootstrap CI of the median
//! ratio, plus change-point detection over the commit series to attribute a step to a commit.
//!
//! The assessment only raises a *suspicion* (liberal on purpose): on a shared machine separate
//! runs drift by several percent, so a regression is confirmed only by interleaved A/B runs
//! ([`super::ab_confirm`]) before any gate fails.

use serde::{Deserialize, Serialize};

pub use crate::run::BaselineRun;

use super::ab_confirm::process_sigma;

use crate::config::RegressionSection;
use crate::stats::bootstrap::median_ratio_ci;
use crate::stats::change_point::{self, ChangePoint};
use crate::stats::mann_whitney::{self, MannWhitney};
use crate::stats::Summary;

/// Bootstrap resamples for the median-ratio interval.
const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The evidence of one assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// Metric judged (`decode_tps`).
    pub metric: String,
    /// Runs forming the baseline, newest first.
    pub baseline: Vec<BaselineRun>,
    /// Median of the baseline runs' medians.
    pub baseline_median: f64,
    /// The baseline commit an A/B compares against: the oldest run of the window. A regression
    /// that slipped past one assessment is always recent, so it cannot become the reference (a
    /// run closest to the baseline median can: it slipped past *because* it measured high).
    pub reference_commit: String,
    /// Median of this run's samples.
    pub current_median: f64,
    /// current / baseline.
    pub ratio: f64,
    /// Mann-Whitney U of this run's samples against the baseline's pooled samples.
    pub mann_whitney: Option<MannWhitney>,
    /// 95 % bootstrap interval of the median ratio.
    pub ratio_ci95: Option<[f64; 2]>,
    /// Steps found in the commit series (baseline medians oldest first, then this run).
    pub change_points: Vec<ChangePoint>,
    /// Commit a downward step is attributed to, when change-point detection found one.
    pub attributed_commit: Option<String>,
    /// Between-process σ of the metric (log scale) estimated from the host's recent good runs.
    #[serde(default)]
    pub sigma_process: Option<f64>,
    /// Worth confirming by A/B.
    pub suspected: bool,
}

/// Assesses `current` (samples of this run, commit `commit`) against `baseline` (newest first).
/// `history` holds the medians of the host's recent good runs (the baseline's and older), from
/// which the between-process σ is estimated. `None` without any baseline run.
pub fn assess(
    cfg: &RegressionSection,
    metric: &str,
    commit: &str,
    current: &[f64],
    baseline: Vec<BaselineRun>,
    history: &[f64],
) -> Option<Assessment> {
    if baseline.is_empty() {
        return None;
    }
    let current_median = Summary::of(current.to_vec())?.median;
    let baseline_median = Summary::of(baseline.iter().map(|b| b.median).collect())?.median;
    let ratio = current_median / baseline_median;
    let reference_commit = baseline
        .last()
        .map(|b| b.commit.clone())
        .unwrap_or_default();
    let pooled: Vec<f64> = baseline
        .iter()
        .flat_map(|b| b.samples.iter().copied())
        .collect();
    let mw = mann_whitney::b_smaller_than_a(&pooled, current);
    let ci = median_ratio_ci(&pooled, current, 0.95, BOOTSTRAP_RESAMPLES, 0x5EED);
    // Series oldest first, ending with this run, for change-point attribution.
    let mut series: Vec<(String, f64)> = baseline
        .iter()
        .rev()
        .map(|b| (b.commit.clone(), b.median))
        .collect();
    series.push((commit.to_string(), current_median));
    let values: Vec<f64> = series.iter().map(|s| s.1).collect();
    let change_points = change_point::detect(&values, 1, cfg.change_point_max_p);
    let attributed_commit = change_points
        .iter()
        .filter(|c| c.relative_change < 0.0)
        .max_by_key(|c| c.index)
        .map(|c| series[c.index].0.clone());
    // One run against the median of N: its drift and the baseline median's, σ·√(1 + 1/N). On a
    // noisy host that line would pass a drop of min_effect unexamined, so it stops there: such
    // a host pays with more A/Bs instead.
    let sigma_process = process_sigma(history);
    let sigma_line = sigma_process.map_or(0.0, |s| {
        (cfg.suspicion_sigmas * s * (1.0 + 1.0 / baseline.len() as f64).sqrt())
            .min(-(1.0 - cfg.min_effect).ln())
    });
    let below = ratio <= 1.0 - cfg.suspicion_effect && ratio.ln() <= -sigma_line;
    let significant = mw.is_none_or(|m| m.p_value <= cfg.suspicion_p);
    Some(Assessment {
        metric: metric.into(),
        baseline,
        baseline_median,
        reference_commit,
        current_median,
        ratio,
        mann_whitney: mw,
        ratio_ci95: ci,
        change_points,
        attributed_commit,
        sigma_process,
        suspected: below && significant,
    })
}
