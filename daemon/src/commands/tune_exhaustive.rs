//! `perfd tune --compare-exhaustive`: the tuner's efficiency on a space small enough to
//! enumerate. Every configuration of isa x rows_per_task x decode_row_tile x prefetch_bytes for one GEMV
//! shape is cross-validated and timed; then the tuner searches the same space with a quarter of
//! the evaluations, and its choice is timed against the exhaustive optimum in interleaved pairs.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use bitnet_kernels::{I2sGemm, KernelConfig};

use crate::cli::TuneArgs;
use crate::harness::host::HostFingerprint;
use crate::harness::support::progress;
use crate::stats::median;
use crate::tuner::memory::InMemory;
use crate::tuner::search::{search, Progress, SearchLimits};
use crate::tuner::{Candidate, EngineProbe, Objective, Probe, TuneSpace};
use crate::UsageError;

/// Parameters of the reduced space (`decode_row_tile`, not `row_tile`: the GEMV is one token
/// wide, and one-token calls read only the former).
const REDUCED: [&str; 4] = ["isa", "rows_per_task", "decode_row_tile", "prefetch_bytes"];
/// Samples per configuration in the exhaustive pass.
const EXHAUSTIVE_SAMPLES: usize = 5;
/// Interleaved pairs of the final comparison.
const FINAL_PAIRS: usize = 12;

/// The comparison, as printed.
#[derive(Debug, Serialize)]
struct Comparison {
    host_id: String,
    cpu_model: String,
    objective: String,
    unit: String,
    space: Vec<String>,
    configurations: usize,
    exhaustive_rejected: usize,
    exhaustive_seconds: f64,
    exhaustive_best: String,
    exhaustive_best_median: f64,
    tuner_choice: String,
    tuner_evaluations: usize,
    evaluation_fraction: f64,
    tuner_seconds: f64,
    /// Median of choice/optimum over the interleaved pairs.
    choice_vs_optimum: f64,
    final_pairs: Vec<(f64, f64)>,
    within_2_percent: bool,
}

/// Guards and times every point; the best one, its median and how many the guard rejected.
fn exhaustive(
    probe: &mut EngineProbe,
    points: &[Candidate],
    pb: &indicatif::ProgressBar,
) -> Result<(Candidate, f64, usize)> {
    let mut rejected = 0;
    let mut best: Option<(Candidate, f64)> = None;
    for (i, c) in points.iter().enumerate() {
        pb.set_position(i as u64);
        pb.set_message(format!("exhaustive: {c}"));
        if !probe.guard(c)?.pass {
            rejected += 1;
            continue;
        }
        let mut v = (0..EXHAUSTIVE_SAMPLES)
            .map(|_| probe.sample(c))
            .collect::<Result<Vec<_>, _>>()?;
        let m = median(&mut v);
        if best.as_ref().is_none_or(|(_, b)| m > *b) {
            best = Some((c.clone(), m));
        }
    }
    let (optimum, optimum_median) = best.context("no configuration passed the guard")?;
    Ok((optimum, optimum_median, rejected))
}

/// The comparison in words.
fn human(c: &Comparison) -> String {
    format!(
        "tuner efficiency on {} ({}), {} over {}:\n\
         exhaustive: {} configurations ({} rejected) in {:.0} s; optimum {} at {:.0} {}\n\
         tuner:      {} evaluations ({:.1} % of exhaustive) in {:.0} s; choice {}\n\
         choice / optimum, {} interleaved pairs: median {:.4} ({})\n",
        c.cpu_model,
        c.host_id,
        c.objective,
        c.space.join(" x "),
        c.configurations,
        c.exhaustive_rejected,
        c.exhaustive_seconds,
        c.exhaustive_best,
        c.exhaustive_best_median,
        c.unit,
        c.tuner_evaluations,
        c.evaluation_fraction * 100.0,
        c.tuner_seconds,
        c.tuner_choice,
        c.final_pairs.len(),
        c.choice_vs_optimum,
        if c.within_2_percent {
            "within 2 % of the optimum"
        } else {
            "MORE than 2 % below the optimum"
        }
    )
}

/// Runs the comparison.
pub fn run(args: &TuneArgs, objective: Objective) -> Result<String> {
    if !matches!(objective, Objective::Kernel { .. }) {
        bail!(UsageError(
            "--compare-exhaustive needs --objective kernel:ROWSxCOLS (a model objective cannot be enumerated in time)".into()
        ));
    }
    let host = HostFingerprint::detect();
    let space = TuneSpace::kernel_params().only(&REDUCED);
    let mut probe = EngineProbe::new(objective, None, 0, Box::new(I2sGemm::new))?;
    let base = Candidate::of_kernel_config(&KernelConfig::default());
    let points: Vec<Candidate> = space
        .enumerate(&base)
        .into_iter()
        .filter(|c| probe.validate(c).is_ok())
        .collect();
    let pb = progress(args.json, points.len() as u64);

    let t = Instant::now();
    let (optimum, optimum_median, rejected) = exhaustive(&mut probe, &points, &pb)?;
    let exhaustive_seconds = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let max_evals = points.len() / 4;
    let limits = SearchLimits::new(
        Instant::now() + Duration::from_secs(args.budget_secs),
        max_evals,
    );
    let mut memory = InMemory::default();
    let mut on_progress = |p: Progress| {
        pb.set_position(p.evaluations as u64);
        pb.set_message(format!("tuner: {}", p.message));
    };
    let found = search(
        &mut probe,
        &space,
        &base,
        limits,
        &mut memory,
        &mut on_progress,
    )?;
    let tuner_seconds = t.elapsed().as_secs_f64();

    pb.set_message("interleaved: tuner choice vs exhaustive optimum");
    let pairs = (0..FINAL_PAIRS)
        .map(|i| probe.pair(&optimum, &found.best, i % 2 == 1))
        .collect::<Result<Vec<_>, _>>()?;
    pb.finish_and_clear();
    let mut ratios: Vec<f64> = pairs.iter().map(|(a, b)| b / a).collect();
    let ratio = median(&mut ratios);
    let c = Comparison {
        host_id: host.id,
        cpu_model: host.cpu_model,
        objective: objective.to_string(),
        unit: objective.unit().into(),
        space: REDUCED.iter().map(|s| s.to_string()).collect(),
        configurations: points.len(),
        exhaustive_rejected: rejected,
        exhaustive_seconds,
        exhaustive_best: optimum.to_string(),
        exhaustive_best_median: optimum_median,
        tuner_choice: found.best.to_string(),
        tuner_evaluations: found.evaluations,
        evaluation_fraction: found.evaluations as f64 / points.len() as f64,
        tuner_seconds,
        choice_vs_optimum: ratio,
        final_pairs: pairs,
        within_2_percent: ratio >= 0.98,
    };
    if args.json {
        return Ok(serde_json::to_string_pretty(&c)? + "\n");
    }
    Ok(human(&c))
}
