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
    // Validated at load; a depth that is no number names nothing a run measures. In order of
    // depth, not of the keys' text.
    let mut depths: Vec<(usize, f64)> = cfg
        .context_decode_tokens_per_second_min
        .iter()
        .filter_map(|(depth, &min)| Some((depth.parse().ok()?, min)))
        .collect();
    depths.sort_by_key(|&(positions, _)| positions);
    let context = depths.into_iter().filter_map(|(positions, min)| {
        judge(
            &format!("context_decode_tokens_per_second_{positions}"),
            Some(min),
            report.and_then(|r| r.context_decode_tps(positions)),
            true,
        )
    });
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
        judge(
            "decode_same_window_roofline_ratio",
            cfg.decode_same_window_roofline_ratio_min,
            report
                .and_then(|r| r.decode_roofline.as_ref())
                .and_then(|rf| rf.same_window.as_ref())
                .map(|w| w.ratio.median),
            true,
        ),
    ]
    .into_iter()
    .flatten()
    .chain(context)
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
    fn a_context_slo_judges_decode_at_its_depth() {
        let mut r = report(25.0, Some(5.1));
        let roofline = serde_json::from_value(serde_json::json!({
            "bytes_per_token": 1_800_000_000u64, "roofline_tokens_per_second": 28.0, "ratio": 0.5
        }))
        .expect("a roofline");
        r.decode_at_context = vec![crate::report::bench_report::ContextDecode {
            positions: 3968,
            tokens: 32,
            tokens_per_second: Summary::of(vec![14.0, 14.5, 13.5]).unwrap(),
            roofline,
            decode_profile: Vec::new(),
        }];
        let cfg = SloSection {
            generation_128_seconds_max: None,
            context_decode_tokens_per_second_min: [("3968", 15.0), ("1024", 20.0)]
                .map(|(k, v)| (k.to_string(), v))
                .into(),
            ..SloSection::default()
        };
        let v = evaluate(&cfg, Some(&r), None);
        let got: Vec<_> = v
            .iter()
            .map(|x| (x.slo.as_str(), x.observed, x.ok))
            .collect();
        // In order of depth; 1024 was not measured by this run, so it is no pass.
        assert_eq!(
            got,
            vec![
                ("context_decode_tokens_per_second_1024", None, None),
                (
                    "context_decode_tokens_per_second_3968",
                    Some(14.0),
                    Some(false)
                ),
            ]
        );
        assert!(!all_met(&v));
        r.decode_at_context[0].tokens_per_second = Summary::of(vec![15.0]).unwrap();
        let v = evaluate(&cfg, Some(&r), None);
        assert_eq!(v[1].ok, Some(true));
    }

    #[test]
    fn the_roofline_slo_judges_the_same_window_ratio() {
        let mut r = report(25.0, None);
        let cfg = SloSection {
            generation_128_seconds_max: None,
            decode_same_window_roofline_ratio_min: Some(0.9),
            ..SloSection::default()
        };
        // A run without the same-window figure (CUDA, an older report) is not measured.
        assert_eq!(evaluate(&cfg, Some(&r), None)[0].ok, None);
        let roofline = |window: f64| {
            serde_json::from_value(serde_json::json!({
                "bytes_per_token": 1_200_000_000u64, "roofline_tokens_per_second": 40.0,
                "ratio": 0.6,
                "same_window": {
                    "read_bytes_per_second": {"samples": [5e10], "median": 5e10, "mad": 0.0, "ci95": [5e10, 5e10]},
                    "ratio": {"samples": [window], "median": window, "mad": 0.0, "ci95": [window, window]}
                }
            }))
            .expect("a roofline")
        };
        for (window, ok) in [(0.93, true), (0.85, false)] {
            r.decode_roofline = Some(roofline(window));
            let v = evaluate(&cfg, Some(&r), None);
            assert_eq!(v[0].slo, "decode_same_window_roofline_ratio");
            // The same-window median, not the run-wide 0.6.
            assert_eq!((v[0].observed, v[0].ok), (Some(window), Some(ok)));
        }
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
