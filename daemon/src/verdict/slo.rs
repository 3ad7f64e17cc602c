//! Absolute service-level objectives from `[slo]`, judged on every successful run.

use serde::{Deserialize, Serialize};

use crate::config::SloSection;
use crate::report::BenchReport;
use crate::report::Phase;

/// The judgement of one SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloVerdict {
    /// SLO name (metric label), e.g. `decode_tokens_per_second`.
    pub slo: String,
    /// `>=` or `<=`.
    pub comparison: String,
    /// The objective.
    pub target: f64,
    /// What the run measured; `None` when the run did not measure it.
    pub observed: Option<f64>,
    /// Met; `None` when not measured (never counted as a pass).
    pub ok: Option<bool>,
}

fn judge(
    slo: &str,
    target: Option<f64>,
    observed: Option<f64>,
    at_least: bool,
) -> Option<SloVerdict> {
    let target = target?;
    Some(SloVerdict {
        slo: slo.into(),
        comparison: if at_least { ">=" } else { "<=" }.into(),
        target,
        observed,
        ok: observed.map(|o| if at_least { o >= target } else { o <= target }),
    })
}

/// Judges every configured SLO on a run's reports.
pub fn evaluate(
    cfg: &SloSection,
    report: Option<&BenchReport>,
    kernels: Option<&BenchReport>,
) -> Vec<SloVerdict> {
    let min_kernel_bw = kernels
        .into_iter()
        .chain(report)
        .flat_map(|r| r.kernels.iter())
        .map(|k| k.bytes_per_second.median)
        .reduce(f64::min);
    [
        judge(
            "decode_tokens_per_second",
            cfg.decode_tokens_per_second_min,
            report.and_then(|r| r.phase_tps(&Phase::Decode)),
            true,
        ),
        judge(
            "prefill_tokens_per_second",
            cfg.prefill_tokens_per_second_min,
            report.and_then(|r| r.phase_tps(&Phase::Prefill)),
            true,
        ),
        judge(
            "generation_128_seconds",
            cfg.generation_128_seconds_max,
            report
                .and_then(|r| r.generation_128_seconds.as_ref())
                .map(|g| g.median),
            false,
        ),
        judge(
            "kernel_bandwidth_bytes_per_second",
            cfg.kernel_bandwidth_bytes_per_second_min,
            min_kernel_bw,
            true,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// All judged SLOs met (unmeasured ones are not failures, but are shown as such in evidence).
pub fn all_met(verdicts: &[SloVerdict]) -> bool {
    verdicts.iter().all(|v| v.ok != Some(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Phase, PhaseResult};
    use crate::stats::Summary;

    fn report(decode: f64, gen128: Option<f64>) -> BenchReport {
        let json = include_str!("../../../tests/fixtures/bench_report_minimal.json");
        let mut r: BenchReport = serde_json::from_str(json).expect("fixture parses");
        let s = Summary::of(vec![decode, decode * 1.01, decode * 0.99]).unwrap();
        r.phases = vec![PhaseResult {
            phase: Phase::Decode,
            tokens: 128,
            seconds: s.map(|t| 128.0 / t),
            tokens_per_second: s,
        }];
        r.generation_128_seconds = gen128.and_then(|g| Summary::of(vec![g]));
        r
    }

    #[test]
    fn judged_measured_and_unmeasured() {
        let cfg = SloSection {
            decode_tokens_per_second_min: Some(20.0),
            generation_128_seconds_max: Some(10.0),
            ..SloSection::default()
        };
        let v = evaluate(&cfg, Some(&report(25.0, Some(5.1))), None);
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|x| x.ok == Some(true)) && all_met(&v));
        let v = evaluate(&cfg, Some(&report(15.0, None)), None);
        let decode = v
            .iter()
            .find(|x| x.slo == "decode_tokens_per_second")
            .unwrap();
        assert_eq!((decode.ok, decode.observed), (Some(false), Some(15.0)));
        let gen = v
            .iter()
            .find(|x| x.slo == "generation_128_seconds")
            .unwrap();
        assert_eq!(gen.ok, None, "not measured is not a pass");
        assert!(!all_met(&v));
        assert!(evaluate(
            &SloSection {
                generation_128_seconds_max: None,
                ..cfg.clone()
            },
            None,
            None
        )[0]
        .ok
        .is_none());
    }
}
