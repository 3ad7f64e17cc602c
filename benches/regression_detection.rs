//! Detection delay and false-alarm rate of the regression pipeline on simulated commit series
//! with this machine's noise (`cargo bench --bench regression_detection`).
//!
//! Model: each harness run measures true × (1 + drift), drift ~ N(0, 3 %) between processes, with
//! 5 repetitions inside a run scattered by N(0, 0.5 %). An interleaved A/B pair shares its drift;
//! its two halves differ only by N(0, 0.1 %) each. Per commit the daemon's own code runs:
//! `verdict::regression::assess` against the last good runs, then, when suspected, three A/B
//! pairs judged by `verdict::ab_confirm::judge`. A confirmed commit leaves the baseline.

use perfd::config::RegressionSection;
use perfd::verdict::ab_confirm::{clearly_not_a_regression, judge};
use perfd::verdict::regression::{assess, BaselineRun};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SERIES: usize = 1000;
const COMMITS: usize = 30;
const STEP_AT: usize = 15;
const TRUE_TPS: f64 = 50.0;
const DRIFT_CV: f64 = 0.03;
const WITHIN_CV: f64 = 0.005;
const PAIR_CV: f64 = 0.001;
const REPS: usize = 5;

fn normal(r: &mut ChaCha8Rng) -> f64 {
    // Box-Muller.
    let (u1, u2): (f64, f64) = (r.random::<f64>().max(1e-12), r.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

struct Outcome {
    /// Index of the first confirmed alarm.
    first_alarm: Option<usize>,
    /// Confirmed alarms before the step (false alarms).
    early_alarms: usize,
    /// Commits that triggered an A/B.
    ab_runs: usize,
    /// A/B pairs run (each pair is two harness runs).
    ab_pair_runs: usize,
}

fn simulate(cfg: &RegressionSection, step: f64, seed: u64) -> Outcome {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut good: Vec<BaselineRun> = Vec::new();
    let mut out = Outcome {
        first_alarm: None,
        early_alarms: 0,
        ab_runs: 0,
        ab_pair_runs: 0,
    };
    for c in 0..COMMITS {
        let truth = if c >= STEP_AT {
            TRUE_TPS * (1.0 - step)
        } else {
            TRUE_TPS
        };
        let level = truth * (1.0 + DRIFT_CV * normal(&mut r));
        let samples: Vec<f64> = (0..REPS)
            .map(|_| level * (1.0 + WITHIN_CV * normal(&mut r)))
            .collect();
        let commit = format!("c{c}");
        let baseline: Vec<BaselineRun> =
            good.iter().rev().take(cfg.baseline_runs).cloned().collect();
        let mut confirmed = false;
        if let Some(a) = assess(cfg, "decode_tps", &commit, &samples, baseline) {
            if a.suspected {
                out.ab_runs += 1;
                let reference: usize = a
                    .reference_commit
                    .trim_start_matches('c')
                    .parse()
                    .unwrap_or(0);
                let base_truth = if reference >= STEP_AT {
                    TRUE_TPS * (1.0 - step)
                } else {
                    TRUE_TPS
                };
                let mut pairs: Vec<(f64, f64)> = Vec::new();
                for _ in 0..cfg.ab_pairs {
                    let d = 1.0 + DRIFT_CV * normal(&mut r);
                    pairs.push((
                        base_truth * d * (1.0 + PAIR_CV * normal(&mut r)),
                        truth * d * (1.0 + PAIR_CV * normal(&mut r)),
                    ));
                    if pairs.len() == 1 && clearly_not_a_regression(pairs[0], cfg.min_effect) {
                        break;
                    }
                }
                out.ab_pair_runs += pairs.len();
                confirmed = judge(&a.reference_commit, &pairs, cfg.min_effect, cfg.alpha).confirmed;
            }
        }
        if confirmed {
            if c < STEP_AT {
                out.early_alarms += 1;
            }
            if out.first_alarm.is_none() {
                out.first_alarm = Some(c);
            }
        } else {
            let mut sorted = samples.clone();
            sorted.sort_by(f64::total_cmp);
            good.push(BaselineRun {
                run_id: c as i64,
                commit,
                median: sorted[REPS / 2],
                samples,
            });
        }
    }
    out
}

fn main() {
    let cfg = RegressionSection::default();
    let start = std::time::Instant::now();
    println!(
        "{SERIES} series x {COMMITS} commits; drift CV {:.1} %, A/B pair CV {:.1} %; config: baseline {} runs, suspicion -{:.1} % (p <= {}), {} A/B pairs, min effect {:.0} %, alpha {}",
        DRIFT_CV * 100.0, PAIR_CV * 100.0, cfg.baseline_runs, cfg.suspicion_effect * 100.0, cfg.suspicion_p, cfg.ab_pairs, cfg.min_effect * 100.0, cfg.alpha
    );
    for step in [0.03, 0.05] {
        let mut delays = [0usize; 5];
        let (mut missed, mut early, mut ab, mut pairs) = (0, 0, 0, 0);
        for s in 0..SERIES {
            let o = simulate(&cfg, step, 1_000 + s as u64);
            ab += o.ab_runs;
            pairs += o.ab_pair_runs;
            early += usize::from(o.early_alarms > 0);
            match o.first_alarm.filter(|&i| i >= STEP_AT) {
                Some(i) => delays[(i - STEP_AT).min(4)] += 1,
                None => missed += 1,
            }
        }
        let within = |k: usize| delays[..k].iter().sum::<usize>() as f64 / SERIES as f64 * 100.0;
        println!(
            "step -{:.0} %: confirmed at the step commit {:.1} %, within 2 commits {:.1} %, within 3 {:.1} %, later {:.1} %, never {:.1} %; series with a false alarm before the step {:.1} %; A/Bs per commit {:.2}, harness runs per A/B {:.1}",
            step * 100.0, within(1), within(2), within(3), delays[3..].iter().sum::<usize>() as f64 / SERIES as f64 * 100.0,
            missed as f64 / SERIES as f64 * 100.0, early as f64 / SERIES as f64 * 100.0, ab as f64 / (SERIES * COMMITS) as f64,
            2.0 * pairs as f64 / ab.max(1) as f64
        );
    }
    let (mut alarmed, mut alarms, mut ab, mut pairs) = (0, 0, 0, 0);
    for s in 0..SERIES {
        let o = simulate(&cfg, 0.0, 900_000 + s as u64);
        alarmed += usize::from(o.first_alarm.is_some());
        alarms += o.early_alarms + usize::from(o.first_alarm.is_some_and(|i| i >= STEP_AT));
        ab += o.ab_runs;
        pairs += o.ab_pair_runs;
    }
    println!(
        "no step: series with any confirmed alarm {:.2} % ({alarms} alarms in {} commits); A/Bs per commit {:.2}, harness runs per A/B {:.1}",
        alarmed as f64 / SERIES as f64 * 100.0,
        SERIES * COMMITS,
        ab as f64 / (SERIES * COMMITS) as f64,
        2.0 * pairs as f64 / ab.max(1) as f64
    );
    println!("({:.1} s)", start.elapsed().as_secs_f64());
}
