//! Tuning metrics, read from the store at scrape time: jobs by outcome, configurations evaluated
//! and rejected by the guard, the adopted profile per model and objective with its gain, and the
//! jobs waiting.

use crate::state::DaemonState;

use super::family::{Family, Kind};

/// Every tuning family; `None` when the store cannot be read (the caller counts the error).
pub fn collect(state: &DaemonState) -> Option<Vec<Family>> {
    let (totals, profiles) = {
        let s = state.store.lock();
        (
            s.tuning_totals().ok()?,
            s.profiles_in_force(&state.host.id).ok()?,
        )
    };
    let mut runs = Family::new(
        "bitnet_tuning_runs",
        "Tuning jobs by outcome: adopted (a faster profile passed the guard and the A/B), kept (nothing beat the current profile), failed (the job could not run).",
        Kind::Counter,
        None,
    );
    for outcome in ["adopted", "kept", "failed"] {
        let n = totals
            .outcomes
            .iter()
            .find(|(o, _)| o == outcome)
            .map_or(0, |(_, n)| *n);
        runs.push(vec![("outcome", outcome.to_string())], n as f64);
    }
    let mut evals = Family::new(
        "bitnet_tuner_evaluations",
        "Configurations the tuner cross-validated and timed, over all jobs.",
        Kind::Counter,
        None,
    );
    evals.push(vec![], totals.evaluations as f64);
    let mut rejected = Family::new(
        "bitnet_tuner_rejected_candidates",
        "Candidates the cross-validation guard rejected (never timed, never adopted), over all jobs.",
        Kind::Counter,
        None,
    );
    rejected.push(vec![], totals.rejected as f64);
    let mut info = Family::new(
        "bitnet_tuned_profile_info",
        "The adopted tuning profile per model and objective on this host (always 1; params is what --params / PERFD_PARAMS receive).",
        Kind::Gauge,
        None,
    );
    let mut gain = Family::new(
        "bitnet_tuner_gain_ratio",
        "Gain of the adopted profile over the one it replaced in its interleaved A/B (0.05 = 5 % faster).",
        Kind::Gauge,
        Some("ratio"),
    );
    let mut adopted_at = Family::new(
        "bitnet_tuned_profile_adopted_timestamp_seconds",
        "Unix time the profile in use was adopted.",
        Kind::Gauge,
        Some("seconds"),
    );
    for p in &profiles {
        let labels = vec![
            ("model", p.model.clone()),
            ("objective", p.objective.clone()),
        ];
        let mut with_params = labels.clone();
        with_params.push(("params", p.params.clone()));
        info.push(with_params, 1.0);
        adopted_at.push(labels.clone(), p.adopted_at);
        if let Some(g) = p.gain {
            gain.push(labels, g);
        }
    }
    let mut waiting = Family::new(
        "bitnet_tuning_jobs",
        "Tuning jobs by state: waiting in the queue, or running (0 or 1).",
        Kind::Gauge,
        None,
    );
    waiting.push(
        vec![("state", "waiting".to_string())],
        state.tune_queue.waiting() as f64,
    );
    waiting.push(
        vec![("state", "running".to_string())],
        f64::from(u8::from(state.tune_queue.running().is_some())),
    );
    Some(vec![runs, evals, rejected, info, gain, adopted_at, waiting])
}
