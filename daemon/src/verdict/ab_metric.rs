//! Which figure of a harness process the A/B compares. Decode streams the weights, so a process
//! on a host whose memory bandwidth drifts decodes slower or faster with it; dividing tokens/s
//! by the read-only bandwidth measured in the same process (a control variate) cancels that part
//! of the drift. It helps only where the workload is bandwidth-bound, so `auto` picks, per host,
//! the figure that spread less over its recent runs.

use serde::{Deserialize, Serialize};

use crate::report::{BenchReport, TrackedMetric};
use crate::stats::median;

/// Runs needed before `auto` trusts the comparison of spreads.
pub const MIN_RUNS_TO_CHOOSE: usize = 6;

/// The figure an A/B pair compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbMetric {
    /// The tracked figure's tokens/s.
    #[default]
    TokensPerSecond,
    /// The tracked figure's tokens/s per GB/s of read-only bandwidth measured in the same
    /// process.
    PerReadBandwidth,
}

impl AbMetric {
    /// Name in configuration and evidence.
    pub fn name(self) -> &'static str {
        match self {
            AbMetric::TokensPerSecond => "tokens_per_second",
            AbMetric::PerReadBandwidth => "per_read_bandwidth",
        }
    }

    /// The figure of one harness report.
    pub fn value(self, report: &BenchReport, tracked: &TrackedMetric) -> Option<f64> {
        let tps = tracked.tokens_per_second(report)?;
        match self {
            AbMetric::TokensPerSecond => Some(tps),
            AbMetric::PerReadBandwidth => {
                let gbs = report.memory_bandwidth.read_bytes_per_second() / 1e9;
                (gbs.is_finite() && gbs > 0.0).then(|| tps / gbs)
            }
        }
    }
}

/// Robust relative spread (1.4826·MAD / median) of positive values.
fn robust_cv(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    if v.len() < MIN_RUNS_TO_CHOOSE {
        return None;
    }
    let m = median(&mut v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    Some(1.4826 * median(&mut dev) / m)
}

/// Whether every report measured its read bandwidth the same way (figures per read bandwidth
/// from different read passes differ by the passes' ratio, not by the code measured).
pub fn one_read_pass<'a>(reports: impl IntoIterator<Item = &'a BenchReport>) -> bool {
    let mut passes = reports
        .into_iter()
        .map(|r| r.memory_bandwidth.read_pass.as_str());
    match passes.next() {
        Some(first) => passes.all(|p| p == first),
        None => true,
    }
}

/// The metric with the smaller spread over `reports` (the host's recent runs of one build line),
/// and both spreads; tokens/s until there are enough runs to tell, or when the runs measured
/// their read bandwidth in different ways.
pub fn choose(reports: &[BenchReport], tracked: &TrackedMetric) -> (AbMetric, Option<[f64; 2]>) {
    if !one_read_pass(reports) {
        return (AbMetric::TokensPerSecond, None);
    }
    let of =
        |m: AbMetric| -> Vec<f64> { reports.iter().filter_map(|r| m.value(r, tracked)).collect() };
    match (
        robust_cv(&of(AbMetric::TokensPerSecond)),
        robust_cv(&of(AbMetric::PerReadBandwidth)),
    ) {
        (Some(tps), Some(per_bw)) if per_bw < tps => {
            (AbMetric::PerReadBandwidth, Some([tps, per_bw]))
        }
        (Some(tps), Some(per_bw)) => (AbMetric::TokensPerSecond, Some([tps, per_bw])),
        _ => (AbMetric::TokensPerSecond, None),
    }
}

/// The configured metric (`[regression] ab_metric`), `auto` resolved against `reports`. Per read
/// bandwidth only where every report measured it the same way (a configured
/// `per_read_bandwidth` too: across read passes it would compare the passes).
pub fn resolve(configured: &str, reports: &[BenchReport], tracked: &TrackedMetric) -> AbMetric {
    match configured {
        "tokens_per_second" => AbMetric::TokensPerSecond,
        "per_read_bandwidth" if one_read_pass(reports) => AbMetric::PerReadBandwidth,
        "per_read_bandwidth" => AbMetric::TokensPerSecond,
        _ => choose(reports, tracked).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Phase, PhaseResult};
    use crate::stats::Summary;

    const DECODE: TrackedMetric = TrackedMetric::Phase(Phase::Decode);

    /// A report decoding `tps` tokens/s on a host that read `gbs` GB/s.
    fn report(tps: f64, gbs: f64) -> BenchReport {
        let json = include_str!("../../../tests/fixtures/bench_report_minimal.json");
        let mut r: BenchReport = serde_json::from_str(json).expect("fixture parses");
        let s = Summary::of(vec![tps]).unwrap();
        r.phases = vec![PhaseResult {
            phase: Phase::Decode,
            tokens: 32,
            seconds: s.map(|t| 32.0 / t),
            tokens_per_second: s,
        }];
        r.memory_bandwidth.read = Summary::of(vec![gbs * 1e9]).unwrap();
        r
    }

    #[test]
    fn bandwidth_bound_drift_picks_the_control_variate_and_cache_bound_keeps_tokens() {
        // Decode follows the host's bandwidth (±8 %), with 0.5 % of its own scatter.
        let drift = [1.0, 0.92, 1.05, 0.97, 1.08, 0.95, 1.02, 0.9];
        let bound: Vec<_> = drift
            .iter()
            .enumerate()
            .map(|(i, d)| report(13.0 * d * (1.0 + 0.005 * (i % 2) as f64), 18.0 * d))
            .collect();
        let (m, spreads) = choose(&bound, &DECODE);
        assert_eq!(m, AbMetric::PerReadBandwidth, "{spreads:?}");
        // Cache-resident: tokens/s steady, the bandwidth figure drifts on its own.
        let cached: Vec<_> = drift
            .iter()
            .enumerate()
            .map(|(i, d)| report(9000.0 * (1.0 + 0.005 * (i % 2) as f64), 24.0 * d))
            .collect();
        assert_eq!(choose(&cached, &DECODE).0, AbMetric::TokensPerSecond);
        // Too few runs to tell.
        assert_eq!(
            choose(&bound[..3], &DECODE),
            (AbMetric::TokensPerSecond, None)
        );
        assert_eq!(
            resolve("tokens_per_second", &bound, &DECODE),
            AbMetric::TokensPerSecond
        );
        let r = report(13.0, 20.0);
        assert_eq!(
            AbMetric::PerReadBandwidth.value(&r, &DECODE),
            Some(13.0 / 20.0)
        );
    }

    #[test]
    fn runs_whose_read_bandwidth_was_measured_differently_compare_tokens_per_second() {
        let drift = [1.0, 0.92, 1.05, 0.97, 1.08, 0.95, 1.02, 0.9];
        let mut reports: Vec<_> = drift.iter().map(|d| report(13.0 * d, 18.0 * d)).collect();
        assert_eq!(choose(&reports, &DECODE).0, AbMetric::PerReadBandwidth);
        assert_eq!(
            resolve("per_read_bandwidth", &reports, &DECODE),
            AbMetric::PerReadBandwidth
        );
        // A newer build's read pass reads 1.6x faster on the same host: its tokens per GB/s
        // would look like a 38 % regression.
        let last = reports.len() - 1;
        reports[last].memory_bandwidth.read_pass = "another-pass".into();
        assert!(!one_read_pass(&reports));
        assert_eq!(choose(&reports, &DECODE), (AbMetric::TokensPerSecond, None));
        for configured in ["auto", "per_read_bandwidth"] {
            assert_eq!(
                resolve(configured, &reports, &DECODE),
                AbMetric::TokensPerSecond,
                "{configured}"
            );
        }
    }
}
