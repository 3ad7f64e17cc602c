//! What a gate says: conclusion, the one-line evidence of DESIGN §9, and the text body (Before /
//! After / Optimization Applied / Cross-Validation / SLO Status / command to reproduce).

use std::fmt::Write;

use crate::report::BenchReport;
use crate::store::{RunRow, RunStatus};
use crate::verdict::ab_confirm::{AbDecision, AbDesign, AbResult};
use crate::verdict::regression::Assessment;
use crate::verdict::slo::{all_met, SloVerdict};

/// Name of the perf gate.
pub const PERF_GATE: &str = "integrative:gate:perf";
/// Name of the throughput gate.
pub const THROUGHPUT_GATE: &str = "integrative:gate:throughput";

pub use crate::verdict::gate::{Conclusion, GateOutcome};

/// Everything known about a run when its gates are decided.
#[derive(Debug, Clone)]
pub struct GateInputs<'a> {
    /// The stored run.
    pub run: &'a RunRow,
    /// Its model report, when it produced one.
    pub report: Option<&'a BenchReport>,
    /// Regression assessment against the baseline.
    pub assessment: Option<&'a Assessment>,
    /// A/B confirmation, when one ran.
    pub ab: Option<&'a AbResult>,
    /// SLO verdicts.
    pub slos: &'a [SloVerdict],
    /// Command that reproduces the measurement.
    pub reproduce: String,
    /// Host suffix for gate names (empty for none).
    pub suffix: &'a str,
    /// The tuning job this run's verdicts triggered, once it finished.
    pub tuning: Option<&'a crate::tuner::TuneReport>,
    /// The `[regression] metric` (series name) when the run's report lacks it: a harness that
    /// does not decode at the tracked depth. Then there is nothing to compare, baseline or not.
    pub unmeasured: Option<&'a str>,
}

/// Why there is no delta against the baseline.
fn no_delta(i: &GateInputs<'_>) -> String {
    i.unmeasured
        .map_or("no baseline yet".into(), |m| format!("{m} not measured"))
}

fn pct(ratio: f64) -> String {
    format!("{:+.1}%", (ratio - 1.0) * 100.0)
}

fn gate_name(base: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        base.to_string()
    } else {
        format!("{base}:{suffix}")
    }
}

/// The change vs baseline the gates report: the A/B median ratio when one ran, else the history ratio.
fn delta(i: &GateInputs<'_>) -> Option<f64> {
    i.ab.map(|a| a.median_ratio)
        .or(i.assessment.map(|a| a.ratio))
}

/// The A/B line of a gate body: design, runs, estimate, decision.
fn ab_evidence(ab: &AbResult) -> String {
    let all = ab.all_runs();
    let design = match ab.design {
        AbDesign::History => format!(
            "{} runs of this build vs {} good runs of the host's history and {} fresh runs of `{}`",
            all.candidate.len(),
            ab.history_runs,
            all.baseline.len(),
            short(&ab.baseline_commit)
        ),
        AbDesign::Paired => format!(
            "{} interleaved pairs vs `{}`",
            all.candidate.len(),
            short(&ab.baseline_commit)
        ),
    };
    let pooled = if ab.pooled.candidate.is_empty() && ab.pooled_pairs.is_empty() {
        String::new()
    } else {
        format!(
            " ({} of them pooled from earlier inconclusive commits)",
            ab.pooled.candidate.len().max(ab.pooled_pairs.len())
        )
    };
    format!(
        "{design}{pooled}, {} design, figure {}: median {}, mean {} (one-sided bounds [{:.4}, {:.4}], process σ {:.1} %, log likelihood ratio {:.1}) → {}",
        ab.design.name(),
        ab.metric.name(),
        pct(ab.median_ratio),
        pct(ab.mean_ratio),
        ab.ratio_bounds[0],
        ab.ratio_bounds[1],
        100.0 * ab.sigma_process,
        ab.llr,
        match ab.decision {
            AbDecision::Confirmed => "regression confirmed",
            AbDecision::Cleared => "cleared: no drop of min_effect",
            AbDecision::Inconclusive if ab.baseline_level_moved => {
                "inconclusive: the baseline build measures below its history now; the next commit's A/B is paired"
            }
            AbDecision::Inconclusive => "inconclusive: the runs carry over to the next commit",
        }
    )
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

fn crossval_text(r: Option<&BenchReport>) -> String {
    let Some(r) = r else { return "not run".into() };
    let kernel = r.crossval.as_ref().map(|c| {
        (
            c.iter().all(|x| x.pass),
            c.iter().map(|x| x.max_rel_err).fold(0.0, f64::max),
        )
    });
    match (kernel, &r.model_crossval) {
        (None, None) => "not run".into(),
        (k, m) => {
            let pass = k.is_none_or(|k| k.0) && m.as_ref().is_none_or(|m| m.pass);
            let mut s = format!(
                "{} (max rel err {:.1e}",
                if pass { "pass" } else { "FAIL" },
                k.map_or(0.0, |k| k.1)
            );
            if let Some(m) = m {
                let _ = write!(
                    s,
                    "; logits cosine {:.6}, greedy tokens {}",
                    m.min_cosine,
                    if m.tokens_identical {
                        "identical"
                    } else {
                        "differ"
                    }
                );
            }
            s.push(')');
            s
        }
    }
}

fn slo_text(slos: &[SloVerdict]) -> String {
    if slos.is_empty() {
        return "none configured".into();
    }
    let parts: Vec<String> = slos
        .iter()
        .map(|v| {
            let state = match v.ok {
                Some(true) => "pass",
                Some(false) => "FAIL",
                None => "not measured",
            };
            format!(
                "{} {} {} → {} ({state})",
                v.slo,
                v.comparison,
                v.target,
                v.observed.map_or("–".into(), |o| format!("{o:.3}"))
            )
        })
        .collect();
    parts.join("; ")
}

fn body(i: &GateInputs<'_>) -> String {
    let mut t = String::new();
    let r = i.run;
    let _ = writeln!(t, "### Performance ({})\n", r.commit);
    match i.assessment {
        Some(a) => {
            let _ = writeln!(
                t,
                "**Before:** {:.2} tokens/sec ({}: median of {} good mainline runs on host `{}`: {})",
                a.baseline_median,
                a.metric,
                a.baseline.len(),
                r.host_id,
                a.baseline.iter().map(|b| format!("`{}`", &b.commit[..b.commit.len().min(10)])).collect::<Vec<_>>().join(", ")
            );
            let _ = writeln!(
                t,
                "**After:** {:.2} tokens/sec ({} vs baseline; Mann-Whitney p = {}; 95% CI of the median ratio {})",
                a.current_median,
                pct(a.ratio),
                a.mann_whitney.map_or("–".into(), |m| format!("{:.3}", m.p_value)),
                a.ratio_ci95.map_or("–".into(), |c| format!("[{:.3}, {:.3}]", c[0], c[1]))
            );
            if let Some(ab) = i.ab {
                let _ = writeln!(t, "**A/B confirmation:** {}", ab_evidence(ab));
            }
            if let Some(c) = &a.attributed_commit {
                let _ = writeln!(t, "**Change point:** a step down attributed to `{c}`");
            }
        }
        None => {
            let _ = match i.unmeasured {
                Some(m) => writeln!(
                    t,
                    "**Before:** not compared: this run's report has no `{m}` (the tracked \
                     `[regression] metric`; decode after N cached positions needs the harness to \
                     run `perfd bench --ctx N`)"
                ),
                None => writeln!(
                    t,
                    "**Before:** no baseline yet (first good run on host `{}`)",
                    r.host_id
                ),
            };
            let _ = writeln!(
                t,
                "**After:** {}",
                r.decode_tps
                    .map_or("no result".into(), |v| format!("{v:.2} tokens/sec"))
            );
        }
    }
    match i.tuning {
        Some(tr) => {
            let _ = writeln!(t, "**Optimization Applied:** {}", tr.optimization_applied());
            if let Some(ab) = tr.job.decisive_test() {
                let _ = writeln!(
                    t,
                    "**Tuning A/B:** current profile vs tuned: {}",
                    ab.describe(&tr.unit)
                );
            }
            let _ = writeln!(
                t,
                "**Cross-Validation:** {}; tuning: {}",
                crossval_text(i.report),
                tr.crossval_line()
            );
            for x in tr.job.rejected.iter().take(10) {
                let _ = writeln!(t, "- rejected `{}`: {}", x.params, x.check);
            }
        }
        None => {
            let _ = writeln!(
                t,
                "**Optimization Applied:** none (no tuning run for this commit)"
            );
            let _ = writeln!(t, "**Cross-Validation:** {}", crossval_text(i.report));
        }
    }
    let _ = writeln!(t, "**SLO Status:** {}", slo_text(i.slos));
    if let Some(rep) = i.report {
        let _ = writeln!(
            t,
            "**Hardware:** {} ({}), kernels {}, read-only bandwidth {:.1} GB/s",
            rep.host.cpu_model,
            rep.host.isa_features.join(" "),
            rep.kernel_ids.join(", "),
            rep.memory_bandwidth.read_bytes_per_second() / 1e9
        );
    }
    let _ = writeln!(t, "\nReproduce:\n```sh\n{}\n```", i.reproduce);
    t
}

/// Decides both gates for a run.
pub fn decide(i: &GateInputs<'_>) -> Vec<GateOutcome> {
    let r = i.run;
    let external_id = format!("bitnet-perfd:{}", r.host_id);
    let text = body(i);
    let make = |base: &str, conclusion: Conclusion, title: String, summary: String| GateOutcome {
        name: gate_name(base, i.suffix),
        head_sha: r.commit.clone(),
        external_id: external_id.clone(),
        conclusion,
        title,
        summary,
        text: text.clone(),
    };
    if r.status != RunStatus::Success {
        let reason = r
            .reason
            .clone()
            .unwrap_or_else(|| r.status.name().to_string());
        let line = format!("benchmark did not run: {} — {reason}", r.status.name());
        return vec![
            make(
                PERF_GATE,
                Conclusion::Failure,
                "perf: benchmark failed".into(),
                format!("perf: {line}"),
            ),
            make(
                THROUGHPUT_GATE,
                Conclusion::Failure,
                "throughput: benchmark failed".into(),
                format!("throughput: {line}"),
            ),
        ];
    }
    let confirmed = i.ab.is_some_and(|a| a.confirmed);
    let simd = i
        .report
        .and_then(|rep| rep.kernel_ids.first())
        .map_or("unknown".to_string(), |k| {
            k.rsplit('_').next().unwrap_or(k).to_string()
        });
    let d = delta(i);
    let mut perf_line = format!(
        "perf: CPU: {}; SIMD: {simd}; crossval: {}",
        d.map_or(no_delta(i), |x| format!("{} vs baseline", pct(x))),
        crossval_text(i.report)
    );
    if let Some(tr) = i.tuning {
        let guard = tr.job.crossval.as_ref();
        let _ = write!(
            perf_line,
            "; tuned: {}{}",
            match tr.job.decisive_test() {
                Some(ab) if tr.job.adopted =>
                    format!("{:+.1}% vs current profile", ab.gain * 100.0),
                _ => "not adopted".into(),
            },
            guard.map_or(String::new(), |g| format!(
                " (crossval: {}, max |Δ| {:.0e})",
                if g.pass { "pass" } else { "FAIL" },
                g.model.as_ref().map_or(g.max_rel_err, |m| m.max_abs_diff)
            ))
        );
    }
    let perf_conclusion = if confirmed {
        Conclusion::Failure
    } else if i.assessment.is_none() {
        Conclusion::Neutral
    } else {
        Conclusion::Success
    };
    let slo_ok = all_met(i.slos);
    let tps = r.decode_tps.map_or("–".into(), |v| format!("{v:.1}"));
    let throughput_line = format!(
        "throughput: inference: {tps} tokens/sec; Δ vs baseline: {}; SLO: {}",
        d.map_or(
            i.unmeasured
                .map_or("n/a (no baseline)".into(), |_| "n/a (not measured)".into()),
            pct
        ),
        if slo_ok { "pass" } else { "fail" }
    );
    let throughput_conclusion = if confirmed || !slo_ok {
        Conclusion::Failure
    } else {
        Conclusion::Success
    };
    let title = |name: &str, c: Conclusion| match (c, confirmed) {
        (Conclusion::Failure, true) => format!(
            "{name}: regression confirmed by A/B ({})",
            d.map_or(String::new(), pct)
        ),
        (Conclusion::Failure, false) => format!("{name}: SLO breached"),
        (Conclusion::Neutral, _) => format!("{name}: {}", no_delta(i)),
        (Conclusion::Success, _) => format!("{name}: pass"),
    };
    vec![
        make(
            PERF_GATE,
            perf_conclusion,
            title("perf", perf_conclusion),
            perf_line,
        ),
        make(
            THROUGHPUT_GATE,
            throughput_conclusion,
            title("throughput", throughput_conclusion),
            throughput_line,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::ab_confirm::{
        decide as ab_decide, AbDesign, AbEvidence, AbPolicy, AbResult, AbRuns,
    };
    use crate::verdict::ab_metric::AbMetric;

    /// The daemon's paired A/B decision on `pairs` (each given twice), σ unknown.
    fn judge(baseline: &str, pairs: &[(f64, f64)], min_effect: f64, alpha: f64) -> AbResult {
        let policy = AbPolicy {
            min_effect,
            alpha,
            beta: 0.05,
            runs_per_commit: 6,
            max_runs_per_commit: 24,
            max_pooled: 200,
        };
        let runs = AbRuns {
            baseline: pairs.iter().chain(pairs).map(|p| p.0).collect(),
            candidate: pairs.iter().chain(pairs).map(|p| p.1).collect(),
        };
        ab_decide(
            &AbEvidence {
                baseline_commit: baseline,
                design: AbDesign::Paired,
                this: &runs,
                pooled: &AbRuns::default(),
                pooled_from: &[],
                history: &[],
                sigma_history: None,
                metric: AbMetric::TokensPerSecond,
            },
            &policy,
        )
    }
    use crate::store::RunRecord;
    use crate::verdict::regression::BaselineRun;

    fn row(status: RunStatus, tps: Option<f64>) -> RunRow {
        RunRow {
            id: 7,
            record: RunRecord {
                started_at: 0.0,
                finished_at: 1.0,
                commit: "abcdef0123456789".into(),
                branch: "main".into(),
                source: "repository".into(),
                status,
                reason: Some("build exited with status 3".into())
                    .filter(|_| status != RunStatus::Success),
                host_id: "h1".into(),
                noisy: false,
                attempts: 1,
                params: None,
                kernel_ids: None,
                decode_tps: tps,
                prefill_tps: None,
            },
        }
    }

    fn assessment(ratio: f64) -> Assessment {
        Assessment {
            metric: "decode_tps".into(),
            baseline: vec![BaselineRun {
                run_id: 1,
                commit: "0123456789ab".into(),
                median: 45.2,
                samples: vec![],
            }],
            baseline_median: 45.2,
            reference_commit: "0123456789ab".into(),
            current_median: 45.2 * ratio,
            ratio,
            mann_whitney: None,
            ratio_ci95: None,
            change_points: vec![],
            sigma_process: None,
            attributed_commit: None,
            suspected: ratio < 1.0,
        }
    }

    fn inputs<'a>(
        run: &'a RunRow,
        a: Option<&'a Assessment>,
        ab: Option<&'a AbResult>,
        slos: &'a [SloVerdict],
    ) -> GateInputs<'a> {
        GateInputs {
            run,
            report: None,
            assessment: a,
            ab,
            slos,
            reproduce: "perfd bench".into(),
            tuning: None,
            suffix: "",
            unmeasured: None,
        }
    }

    #[test]
    fn a_run_without_the_tracked_figure_says_so_not_no_baseline() {
        let run = row(RunStatus::Success, Some(30.0));
        let g = decide(&GateInputs {
            unmeasured: Some("decode_tps_at_3968"),
            ..inputs(&run, None, None, &[])
        });
        assert_eq!(g[0].conclusion, Conclusion::Neutral);
        assert_eq!(g[0].title, "perf: decode_tps_at_3968 not measured");
        assert!(g[0]
            .summary
            .contains("CPU: decode_tps_at_3968 not measured"));
        assert!(g[0].text.contains("--ctx N") && !g[0].text.contains("no baseline"));
        assert!(
            g[1].summary.contains("n/a (not measured)"),
            "{}",
            g[1].summary
        );
    }

    #[test]
    fn confirmed_regression_fails_both_gates_with_the_evidence_lines() {
        let run = row(RunStatus::Success, Some(32.1));
        let a = assessment(32.1 / 45.2);
        let ab = judge(
            "0123456789ab",
            &[(45.0, 32.0), (45.5, 32.3), (44.8, 31.9)],
            0.02,
            0.01,
        );
        let g = decide(&inputs(&run, Some(&a), Some(&ab), &[]));
        assert_eq!(g[0].name, PERF_GATE);
        assert_eq!(g[1].name, THROUGHPUT_GATE);
        assert!(g.iter().all(|x| x.conclusion == Conclusion::Failure));
        assert_eq!(
            g[1].summary,
            "throughput: inference: 32.1 tokens/sec; Δ vs baseline: -28.9%; SLO: pass"
        );
        assert!(
            g[0].summary
                .starts_with("perf: CPU: -28.9% vs baseline; SIMD: unknown; crossval: not run"),
            "{}",
            g[0].summary
        );
        assert!(
            g[1].text.contains("**Before:** 45.20 tokens/sec")
                && g[1].text.contains("regression confirmed")
        );
        assert_eq!(g[0].external_id, "bitnet-perfd:h1");
    }

    #[test]
    fn unconfirmed_drop_passes_and_no_baseline_is_neutral() {
        let run = row(RunStatus::Success, Some(44.0));
        let a = assessment(44.0 / 45.2);
        let ab = judge("0123456789ab", &[(45.0, 45.02)], 0.02, 0.01);
        let g = decide(&inputs(&run, Some(&a), Some(&ab), &[]));
        assert!(g.iter().all(|x| x.conclusion == Conclusion::Success));
        let g = decide(&inputs(&run, None, None, &[]));
        assert_eq!(
            (g[0].conclusion, g[1].conclusion),
            (Conclusion::Neutral, Conclusion::Success)
        );
        assert!(g[1].summary.contains("n/a (no baseline)"));
    }

    #[test]
    fn slo_breach_fails_throughput_and_failed_run_fails_both() {
        let run = row(RunStatus::Success, Some(9.0));
        let slo = [SloVerdict {
            slo: "decode_tokens_per_second".into(),
            comparison: ">=".into(),
            target: 10.0,
            observed: Some(9.0),
            ok: Some(false),
        }];
        let g = decide(&GateInputs {
            suffix: "avx512",
            ..inputs(&run, Some(&assessment(1.0)), None, &slo)
        });
        assert_eq!(g[1].conclusion, Conclusion::Failure);
        assert_eq!(g[1].name, "integrative:gate:throughput:avx512");
        assert!(g[1].summary.ends_with("SLO: fail") && g[1].text.contains("FAIL"));
        let failed = row(RunStatus::BuildFailed, None);
        let g = decide(&inputs(&failed, None, None, &[]));
        assert!(g.iter().all(|x| x.conclusion == Conclusion::Failure
            && x.summary.contains("build exited with status 3")));
    }
}
