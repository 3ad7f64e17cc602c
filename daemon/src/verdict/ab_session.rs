//! One commit's sequential A/B as a state machine: it says which build to run next, takes each
//! process's value, and stops when the question is settled or the commit's share of runs is
//! spent. The daemon drives it with real harness processes, the detection benchmark with
//! simulated ones, so both measure the same procedure; [`AbPlan::new`] holds the rules a commit's
//! A/B starts from (design, continuation, pooling) for both.

use super::ab_confirm::{
    choose_design, decide, process_sigma, AbDecision, AbDesign, AbEvidence, AbPolicy, AbResult,
    AbRuns,
};
use super::ab_metric::AbMetric;

/// Which build a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The baseline build (A).
    Baseline,
    /// The new build (B).
    Candidate,
}

/// What one commit's A/B starts from.
#[derive(Debug, Clone, Default)]
pub struct AbPlan {
    /// Baseline commit (A).
    pub baseline_commit: String,
    /// Design (see [`super::ab_confirm::choose_design`]).
    pub design: AbDesign,
    /// The host's good runs of the baseline, newest first, in the A/B's figure.
    pub history: Vec<f64>,
    /// Between-process σ (log) estimated from the history.
    pub sigma_history: Option<f64>,
    /// Runs carried over from earlier inconclusive commits against the same baseline.
    pub pooled: AbRuns,
    /// Run ids those came from.
    pub pooled_from: Vec<i64>,
    /// This commit's own benchmark run, when it continues an earlier inconclusive A/B (it was
    /// not selected for being low, so it is evidence like any other candidate run).
    pub own_run: Option<f64>,
    /// The figure each run measures.
    pub metric: AbMetric,
}

/// Evidence an inconclusive A/B of the previous commit left open.
#[derive(Debug, Clone)]
pub struct Carried {
    /// Its baseline commit.
    pub baseline: String,
    /// The figure its runs measured.
    pub metric: AbMetric,
    /// Its design.
    pub design: AbDesign,
    /// Its runs, pooled ones included.
    pub runs: AbRuns,
    /// The runs (ids) whose A/Bs it pooled, that one included.
    pub from: Vec<i64>,
    /// The baseline build measured below its history: the next A/B is paired, from scratch.
    pub baseline_level_moved: bool,
}

impl Carried {
    /// What run `run_id`'s A/B leaves open; `None` unless it ended inconclusive.
    pub fn of(result: &AbResult, run_id: i64) -> Option<Self> {
        (result.decision == AbDecision::Inconclusive).then(|| {
            let mut from = result.pooled_from.clone();
            from.push(run_id);
            Carried {
                baseline: result.baseline_commit.clone(),
                metric: result.metric,
                design: result.design,
                runs: result.all_runs(),
                from,
                baseline_level_moved: result.baseline_level_moved,
            }
        })
    }
}

impl AbPlan {
    /// A commit's plan: the host's good runs (newest first, in `metric`), the reference commit
    /// of its assessment, and what the previous commit's A/B left open with this commit's own
    /// run — then a continuation, else a fresh A/B.
    pub fn new(
        reference_commit: &str,
        history: Vec<f64>,
        metric: AbMetric,
        carried: Option<Carried>,
        own_run: Option<f64>,
    ) -> Self {
        let design = match &carried {
            Some(c) if c.baseline_level_moved => AbDesign::Paired,
            _ => choose_design(&history),
        };
        let mut plan = AbPlan {
            baseline_commit: reference_commit.to_string(),
            design,
            sigma_history: process_sigma(&history),
            history,
            metric,
            ..AbPlan::default()
        };
        if let Some(c) = carried {
            // A continuation: the run was not selected for being low, so it is evidence too,
            // and the open question keeps its baseline.
            plan.baseline_commit = c.baseline;
            plan.own_run = own_run;
            plan.pooled_from = c.from;
            if c.metric == metric && c.design == design && !c.baseline_level_moved {
                plan.pooled = c.runs;
            }
        }
        plan
    }
}

/// A commit's A/B in progress.
#[derive(Debug, Clone)]
pub struct AbSession {
    plan: AbPlan,
    policy: AbPolicy,
    runs: AbRuns,
    /// Runs this commit added (a pair counts two in the paired design; the own run none).
    added: usize,
    cap: usize,
    result: Option<AbResult>,
}

impl AbSession {
    /// Starts a commit's A/B.
    pub fn new(mut plan: AbPlan, policy: AbPolicy) -> Self {
        plan.pooled.keep_newest(policy.max_pooled);
        let mut runs = AbRuns::default();
        if plan.design == AbDesign::History {
            runs.candidate.extend(plan.own_run);
        }
        let cap = policy.runs_for(plan.sigma_history);
        let mut session = Self {
            plan,
            policy,
            runs,
            added: 0,
            cap,
            result: None,
        };
        session.judge();
        session
    }

    /// The build to run next; `None` when the A/B is over.
    pub fn next(&self) -> Option<Side> {
        let r = self.result.as_ref()?;
        if r.decision != AbDecision::Inconclusive || r.baseline_level_moved {
            return None;
        }
        let fresh_a = self.runs.baseline.len() + r.pooled.baseline.len();
        match self.plan.design {
            AbDesign::History => {
                if r.needs_baseline_runs {
                    return Some(Side::Baseline);
                }
                if self.added >= self.cap {
                    return None;
                }
                // Balanced allocation: once the candidate side outnumbers all the baseline
                // evidence, a baseline run shrinks the error more than another candidate run.
                let b = self.runs.candidate.len() + r.pooled.candidate.len();
                if b > self.plan.history.len() + fresh_a {
                    Some(Side::Baseline)
                } else {
                    Some(Side::Candidate)
                }
            }
            AbDesign::Paired => {
                if self.runs.baseline.len() > self.runs.candidate.len() {
                    Some(Side::Candidate)
                } else if self.added >= self.cap {
                    None
                } else {
                    Some(Side::Baseline)
                }
            }
        }
    }

    /// Takes the value of a run of `side`.
    pub fn record(&mut self, side: Side, value: f64) {
        let paired = self.plan.design == AbDesign::Paired;
        match side {
            Side::Baseline => self.runs.baseline.push(value),
            Side::Candidate => self.runs.candidate.push(value),
        }
        // The commit's share counts candidate runs, and both halves of a pair.
        if side == Side::Candidate || paired {
            self.added += 1;
        }
        // A pair is judged once it is complete.
        if !(paired && side == Side::Baseline) {
            self.judge();
        }
    }

    /// The verdict so far (the final one once [`next`](Self::next) is `None`).
    pub fn result(&self) -> AbResult {
        self.result.clone().unwrap_or_else(|| self.evaluate())
    }

    /// Runs this commit spent (the own run not counted).
    pub fn runs_spent(&self) -> usize {
        self.runs.baseline.len() + self.runs.candidate.len()
            - usize::from(self.plan.own_run.is_some() && self.plan.design == AbDesign::History)
    }

    fn judge(&mut self) {
        self.result = Some(self.evaluate());
    }

    fn evaluate(&self) -> AbResult {
        decide(
            &AbEvidence {
                baseline_commit: &self.plan.baseline_commit,
                design: self.plan.design,
                this: &self.runs,
                pooled: &self.plan.pooled,
                pooled_from: &self.plan.pooled_from,
                history: &self.plan.history,
                sigma_history: self.plan.sigma_history,
                metric: self.plan.metric,
            },
            &self.policy,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::ab_confirm::tests::policy;

    fn history() -> Vec<f64> {
        crate::verdict::ab_confirm::tests::history(100, 0.01)
    }

    fn drive(plan: AbPlan, mut value: impl FnMut(Side, usize) -> f64) -> (AbResult, Vec<Side>) {
        let mut s = AbSession::new(plan, policy());
        let mut order = Vec::new();
        while let Some(side) = s.next() {
            order.push(side);
            let v = value(side, order.len());
            s.record(side, v);
            assert!(order.len() < 100, "the session does not end");
        }
        (s.result(), order)
    }

    #[test]
    fn history_design_runs_the_candidate_then_checks_the_baseline_before_confirming() {
        let plan = AbPlan::new("a", history(), AbMetric::TokensPerSecond, None, None);
        assert_eq!(plan.design, AbDesign::History);
        let (r, order) = drive(plan, |side, i| match side {
            Side::Baseline => 100.0,
            Side::Candidate => 95.0 + 0.05 * (i % 3) as f64,
        });
        assert_eq!(r.decision, AbDecision::Confirmed, "{r:?}");
        let firsts: Vec<Side> = order.iter().copied().take(6).collect();
        assert_eq!(firsts, vec![Side::Candidate; 6]);
        assert_eq!(
            order.iter().filter(|s| **s == Side::Baseline).count(),
            crate::verdict::ab_confirm::LEVEL_CHECK_RUNS
        );
    }

    #[test]
    fn paired_design_alternates_and_stops_at_the_cap() {
        let h = history();
        let plan = AbPlan {
            baseline_commit: "a".into(),
            design: AbDesign::Paired,
            sigma_history: Some(0.03),
            history: h,
            ..Default::default()
        };
        // σ 3 %: 24 runs (12 pairs) at most; a 1.5 % drop settles nothing in 12 noisy pairs.
        let (r, order) = drive(plan, |side, i| {
            let wobble = if i % 4 < 2 { 1.03 } else { 0.97 };
            match side {
                Side::Baseline => 100.0 * wobble,
                Side::Candidate => 98.5 * wobble,
            }
        });
        assert!(order.len() <= 24, "{}", order.len());
        for (i, s) in order.iter().enumerate() {
            let want = if i % 2 == 0 {
                Side::Baseline
            } else {
                Side::Candidate
            };
            assert_eq!(*s, want);
        }
        assert_eq!(r.runs.baseline.len(), r.runs.candidate.len());
    }

    #[test]
    fn a_continuation_counts_its_own_run() {
        // An A/B that has not run yet is open (inconclusive).
        let open = AbSession::new(
            AbPlan::new("a", history(), AbMetric::TokensPerSecond, None, None),
            policy(),
        )
        .result();
        let carried = Carried::of(&open, 41);
        let plan = AbPlan::new(
            "b",
            history(),
            AbMetric::TokensPerSecond,
            carried,
            Some(100.0),
        );
        assert_eq!(
            (plan.baseline_commit.as_str(), &plan.pooled_from[..]),
            ("a", &[41][..])
        );
        let s = AbSession::new(plan, policy());
        assert_eq!(s.result().runs.candidate, vec![100.0]);
        assert_eq!(s.runs_spent(), 0);
    }
}
