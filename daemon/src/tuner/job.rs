//! One tuning job: at most two attempts (search, then the adoption A/B against the current
//! profile); the first adopted winner ends it. The outcome carries its evidence for the gates.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::adoption::{judge, AdoptionTest};
use super::guard::GuardReport;
use super::memory::TuneMemory;
use super::probe::{Probe, ProbeError};
use super::search::{search, Progress, Rejected, SearchLimits, SearchResult, StopReason};
use super::space::{Candidate, TuneSpace};

/// Attempts per trigger (the fixer workflow's retry policy).
pub const MAX_ATTEMPTS: usize = 2;

/// What a job is asked to do.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The profile in use now.
    pub current: Candidate,
    /// Where the second attempt starts (perfd's defaults), when it differs from `current`.
    pub fallback_start: Candidate,
    /// Total time budget.
    pub budget: Duration,
    /// Most configurations guarded over all attempts.
    pub max_evals: usize,
    /// Gain the adoption A/B must show.
    pub min_gain: f64,
    /// Significance level of the adoption A/B.
    pub alpha: f64,
    /// Pairs of the adoption A/B.
    pub adoption_pairs: usize,
}

/// One attempt: a search and, when it found something else, the adoption A/B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The search.
    pub search: SearchResult,
    /// The A/B of its winner against the current profile (None: the winner was the current one).
    pub adoption: Option<AdoptionTest>,
}

/// A job's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// The profile before the job.
    pub before: Candidate,
    /// The profile after it (the adopted winner, or `before`).
    pub after: Candidate,
    /// A winner was adopted.
    pub adopted: bool,
    /// Why (adopted with what gain, or why not).
    pub why: String,
    /// The attempts, in order.
    pub attempts: Vec<Attempt>,
    /// Configurations guarded over all attempts.
    pub evaluations: usize,
    /// Candidates the guard rejected, over all attempts.
    pub rejected: Vec<Rejected>,
    /// The guard report of `after`.
    pub crossval: Option<GuardReport>,
    /// Wall seconds.
    pub seconds: f64,
}

impl JobOutcome {
    /// The adoption A/B that decided (the adopted one, else the last one run).
    pub fn decisive_test(&self) -> Option<&AdoptionTest> {
        self.attempts
            .iter()
            .filter_map(|a| a.adoption.as_ref())
            .find(|t| t.adopted)
            .or_else(|| self.attempts.iter().rev().find_map(|a| a.adoption.as_ref()))
    }
}

/// Time kept back from the search for the adoption A/B.
fn adoption_reserve(budget: Duration) -> Duration {
    budget.mul_f64(0.15)
}

/// The interleaved A/B of `winner` against the current profile.
fn adoption_test(
    probe: &mut dyn Probe,
    spec: &JobSpec,
    winner: &Candidate,
) -> Result<AdoptionTest, ProbeError> {
    let mut pairs = Vec::with_capacity(spec.adoption_pairs);
    for i in 0..spec.adoption_pairs.max(2) {
        pairs.push(probe.pair(&spec.current, winner, i % 2 == 1)?);
    }
    Ok(judge(pairs, spec.min_gain, spec.alpha))
}

/// Why an A/B adopted its winner or did not, in the words the gates quote.
fn explain(test: &AdoptionTest, spec: &JobSpec, current_ok: bool) -> String {
    let ci = format!(
        "95 % CI {:+.1} % .. {:+.1} %",
        test.gain_ci95[0] * 100.0,
        test.gain_ci95[1] * 100.0
    );
    if test.adopted {
        format!(
            "adopted: {:+.1} % ({ci}, p = {:.2e} for gain > {:.1} %)",
            test.gain * 100.0,
            test.p_value,
            spec.min_gain * 100.0
        )
    } else if !current_ok {
        format!(
            "adopted because the current profile fails cross-validation (gain {:+.1} %)",
            test.gain * 100.0
        )
    } else {
        format!(
            "not adopted: gain {:+.1} % ({ci}) is not above {:.1} % at alpha {} (p = {:.3})",
            test.gain * 100.0,
            spec.min_gain * 100.0,
            spec.alpha,
            test.p_value
        )
    }
}

/// Why a search that kept the current profile kept it. A search the time budget or the
/// evaluation cap cut short says so: "no configuration beat" would read as a finding when the
/// races were never finished (on a busy host a 300 s budget ran out after three configurations,
/// with a 20× faster ISA among the arms).
fn no_move_reason(found: &SearchResult, move_gain: f64) -> String {
    let counts = format!(
        "{} evaluated, {} pairs timed",
        found.evaluations, found.pairs_timed
    );
    let gain = move_gain * 100.0;
    match found.stopped {
        StopReason::Budget => format!(
            "the time budget ran out before any configuration beat the current profile by {gain:.1} % in interleaved pairs ({counts}); a larger budget would search further"
        ),
        StopReason::MaxEvals => format!(
            "the evaluation cap was reached before any configuration beat the current profile by {gain:.1} % in interleaved pairs ({counts})"
        ),
        StopReason::Converged | StopReason::Passes => format!(
            "no configuration beat the current profile by {gain:.1} % in interleaved pairs ({counts}, stopped: {:?})",
            found.stopped
        ),
    }
}

/// Runs the job.
pub fn run(
    probe: &mut dyn Probe,
    space: &TuneSpace,
    spec: &JobSpec,
    memory: &mut dyn TuneMemory,
    progress: &mut dyn FnMut(Progress),
) -> Result<JobOutcome, ProbeError> {
    let started = Instant::now();
    let end = started + spec.budget;
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut evaluations = 0;
    let mut rejected: Vec<Rejected> = Vec::new();
    let mut adopted: Option<(Candidate, String)> = None;
    let mut why = String::new();
    let mut current_ok = true;
    for attempt in 0..MAX_ATTEMPTS {
        // The second attempt starts from perfd's defaults; when those are the current profile,
        // it runs from there again with what the first learnt in memory and more pairs per arm.
        let start = if attempt == 0 {
            spec.current.clone()
        } else {
            spec.fallback_start.clone()
        };
        let search_end = end
            .checked_sub(adoption_reserve(spec.budget))
            .unwrap_or(end);
        if Instant::now() >= search_end || evaluations >= spec.max_evals {
            if why.is_empty() {
                why = "the tuning budget ran out before an attempt could run".into();
            }
            break;
        }
        let mut limits = SearchLimits::new(search_end, spec.max_evals - evaluations);
        if attempt > 0 {
            limits.first_pairs = 4;
        }
        progress(Progress {
            evaluations,
            message: format!(
                "attempt {} of {MAX_ATTEMPTS}: searching from {start}",
                attempt + 1
            ),
        });
        let found = search(probe, space, &start, limits, memory, progress)?;
        evaluations += found.evaluations;
        for r in &found.rejected {
            if !rejected.iter().any(|x| x.params == r.params) {
                rejected.push(r.clone());
            }
        }
        if attempt == 0 && found.best_guard.as_ref().is_some_and(|g| !g.pass) {
            // The current profile itself fails cross-validation: it must not stay in use.
            current_ok = false;
            why = "the current profile fails cross-validation".into();
            attempts.push(Attempt {
                search: found,
                adoption: None,
            });
            continue;
        }
        if found.best == spec.current {
            why = if current_ok {
                no_move_reason(&found, limits.move_gain)
            } else {
                "the current profile fails cross-validation, and no search start passed it".into()
            };
            attempts.push(Attempt {
                search: found,
                adoption: None,
            });
            continue;
        }
        progress(Progress {
            evaluations,
            message: format!("adoption A/B: {} vs current", found.best),
        });
        let test = adoption_test(probe, spec, &found.best)?;
        why = explain(&test, spec, current_ok);
        if test.adopted || !current_ok {
            adopted = Some((found.best.clone(), why.clone()));
        }
        attempts.push(Attempt {
            search: found,
            adoption: Some(test),
        });
        if adopted.is_some() {
            break;
        }
    }
    let after = adopted
        .as_ref()
        .map_or_else(|| spec.current.clone(), |(c, _)| c.clone());
    let crossval = memory.guard(&after);
    Ok(JobOutcome {
        before: spec.current.clone(),
        adopted: adopted.is_some(),
        after,
        why,
        attempts,
        evaluations,
        rejected,
        crossval,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(stopped: StopReason) -> SearchResult {
        let start = Candidate::parse("isa=scalar").unwrap();
        SearchResult {
            start: start.clone(),
            best: start,
            best_guard: None,
            moves: Vec::new(),
            evaluations: 3,
            pairs_timed: 5,
            guards_run: 3,
            rejected: Vec::new(),
            unraced: Vec::new(),
            stopped,
        }
    }

    /// A search cut short by the budget or the cap does not read as "nothing was faster".
    #[test]
    fn a_search_cut_short_says_what_cut_it() {
        let budget = no_move_reason(&kept(StopReason::Budget), 0.01);
        assert!(
            budget.starts_with("the time budget ran out before"),
            "{budget}"
        );
        assert!(budget.contains("3 evaluated, 5 pairs timed"), "{budget}");
        let cap = no_move_reason(&kept(StopReason::MaxEvals), 0.01);
        assert!(cap.starts_with("the evaluation cap was reached"), "{cap}");
        for s in [StopReason::Converged, StopReason::Passes] {
            let done = no_move_reason(&kept(s), 0.01);
            assert!(
                done.starts_with("no configuration beat the current profile by 1.0 %"),
                "{done}"
            );
        }
    }
}
