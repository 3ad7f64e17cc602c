//! The search: coordinate descent over the space's dimensions, each step a successive-halving
//! race of the dimension's other values against the incumbent. Every arm is guarded before it is
//! timed, and timed only in interleaved pairs with the incumbent (alternating which runs first),
//! so the comparison carries the within-process noise of a pair (~0.1–1 %), not the drift
//! between processes or minutes.

use std::collections::HashSet;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::guard::GuardReport;
use super::memory::TuneMemory;
use super::probe::{Probe, ProbeError};
use super::space::{Candidate, TuneSpace};
use crate::stats::median;

/// Limits and thresholds of one search.
#[derive(Debug, Clone, Copy)]
pub struct SearchLimits {
    /// Most distinct configurations guarded (and timed).
    pub max_evals: usize,
    /// The search stops taking new work after this instant.
    pub deadline: Instant,
    /// Pairs per arm in the first halving round (doubling each round).
    pub first_pairs: usize,
    /// Pairs the winner of a race needs before it may replace the incumbent.
    pub confirm_pairs: usize,
    /// Smallest median gain for a move (smaller gains are noise, not worth a change).
    pub move_gain: f64,
    /// Passes over all dimensions (a pass with no move ends the search early).
    pub max_passes: usize,
}

impl SearchLimits {
    /// Defaults for a deadline and an evaluation cap.
    pub fn new(deadline: Instant, max_evals: usize) -> Self {
        Self {
            max_evals,
            deadline,
            first_pairs: 2,
            confirm_pairs: 6,
            move_gain: 0.01,
            max_passes: 3,
        }
    }
}

/// A candidate the guard rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// The configuration.
    pub params: Candidate,
    /// The failing check, in words.
    pub check: String,
}

/// One accepted move of the incumbent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Move {
    /// Parameter changed.
    pub param: String,
    /// Old value.
    pub from: String,
    /// New value.
    pub to: String,
    /// Median candidate/incumbent ratio of its pairs.
    pub median_ratio: f64,
    /// Pairs behind it.
    pub pairs: usize,
}

/// Why the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A full pass over every dimension moved nothing.
    Converged,
    /// The pass limit was reached.
    Passes,
    /// The evaluation cap was reached.
    MaxEvals,
    /// The time budget ran out.
    Budget,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Where it started.
    pub start: Candidate,
    /// The final incumbent.
    pub best: Candidate,
    /// The guard report of `best`.
    pub best_guard: Option<GuardReport>,
    /// Moves made, in order.
    pub moves: Vec<Move>,
    /// Distinct configurations guarded (including the start).
    pub evaluations: usize,
    /// Interleaved pairs timed in this search (not counting pairs found in memory).
    pub pairs_timed: usize,
    /// Guards run in this search (not counting reports found in memory).
    pub guards_run: usize,
    /// Candidates the guard rejected.
    pub rejected: Vec<Rejected>,
    /// Dimensions not raced because the incumbent's kernels do not read them (in the order
    /// first skipped).
    #[serde(default)]
    pub unraced: Vec<String>,
    /// Why it stopped.
    pub stopped: StopReason,
}

/// Progress of a search, for a progress bar.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Configurations guarded so far.
    pub evaluations: usize,
    /// What is happening.
    pub message: String,
}

struct Searcher<'a> {
    probe: &'a mut dyn Probe,
    memory: &'a mut dyn TuneMemory,
    limits: SearchLimits,
    progress: &'a mut dyn FnMut(Progress),
    guarded: HashSet<Candidate>,
    rejected: Vec<Rejected>,
    pairs_timed: usize,
    guards_run: usize,
    out_of_budget: Option<StopReason>,
}

impl Searcher<'_> {
    fn note(&mut self, message: String) {
        (self.progress)(Progress {
            evaluations: self.guarded.len(),
            message,
        });
    }

    fn budget_left(&mut self) -> bool {
        if self.out_of_budget.is_some() {
            return false;
        }
        if Instant::now() >= self.limits.deadline {
            self.out_of_budget = Some(StopReason::Budget);
            return false;
        }
        true
    }

    /// Guards `c` (from memory when known); `None` when the evaluation cap stops it.
    fn guard(&mut self, c: &Candidate) -> Result<Option<GuardReport>, ProbeError> {
        if !self.guarded.contains(c) && self.guarded.len() >= self.limits.max_evals {
            self.out_of_budget = Some(StopReason::MaxEvals);
            return Ok(None);
        }
        let report = match self.memory.guard(c) {
            Some(r) => r,
            None => {
                self.note(format!("cross-validating {c}"));
                let r = self.probe.guard(c)?;
                self.guards_run += 1;
                self.memory.keep_guard(c, &r);
                r
            }
        };
        if self.guarded.insert(c.clone()) && !report.pass {
            let check = report
                .failed_check
                .clone()
                .unwrap_or_else(|| "failed".into());
            tracing::warn!(params = %c, check = %check, "candidate rejected by the cross-validation guard");
            self.rejected.push(Rejected {
                params: c.clone(),
                check,
            });
        }
        Ok(Some(report))
    }

    /// The candidate/incumbent ratios of `c`, timing pairs until there are `n`.
    fn ratios(
        &mut self,
        incumbent: &Candidate,
        c: &Candidate,
        n: usize,
    ) -> Result<Vec<f64>, ProbeError> {
        let mut pairs = self.memory.pairs(incumbent, c);
        // Exactly the first `n`: every arm of a round is judged on as many pairs, and a resumed
        // job (whose memory may hold more from later rounds) replays the same decisions.
        pairs.truncate(n);
        while pairs.len() < n && self.budget_left() {
            let candidate_first = pairs.len() % 2 == 1;
            let p = self.probe.pair(incumbent, c, candidate_first)?;
            self.memory.keep_pair(incumbent, c, p);
            self.pairs_timed += 1;
            pairs.push(p);
        }
        Ok(pairs
            .iter()
            .filter(|(a, b)| *a > 0.0 && b.is_finite())
            .map(|(a, b)| b / a)
            .collect())
    }

    /// Races the other values of dimension `dim` against the incumbent; returns the winner when
    /// it beats the incumbent clearly.
    fn race(
        &mut self,
        incumbent: &Candidate,
        dim: &str,
        values: &[String],
    ) -> Result<Option<(Candidate, Move)>, ProbeError> {
        let current = incumbent.get(dim).unwrap_or_default().to_string();
        let mut arms = Vec::new();
        for v in values.iter().filter(|v| **v != current) {
            let c = incumbent.with(dim, v);
            if self.probe.validate(&c).is_err() {
                continue;
            }
            match self.guard(&c)? {
                Some(r) if r.pass => arms.push(c),
                Some(_) => {}
                None => break,
            }
        }
        let mut pairs = self.limits.first_pairs.max(1);
        let mut scored: Vec<(Candidate, f64, usize)> = Vec::new();
        while !arms.is_empty() && self.budget_left() {
            self.note(format!(
                "{dim}: racing {} value(s) against {dim}={current}, {pairs} pair(s) each",
                arms.len()
            ));
            scored.clear();
            for c in &arms {
                let mut r = self.ratios(incumbent, c, pairs)?;
                let n = r.len();
                scored.push((c.clone(), median(&mut r), n));
            }
            scored.sort_by(|a, b| b.1.total_cmp(&a.1));
            if scored.len() == 1 {
                break;
            }
            arms = scored
                .iter()
                .take(scored.len().div_ceil(2))
                .map(|s| s.0.clone())
                .collect();
            pairs *= 2;
        }
        let Some((winner, _, _)) = scored.first().cloned() else {
            return Ok(None);
        };
        let mut r = self.ratios(incumbent, &winner, self.limits.confirm_pairs)?;
        let n = r.len();
        if n < self.limits.confirm_pairs {
            return Ok(None);
        }
        let wins = r.iter().filter(|x| **x > 1.0).count();
        let m = median(&mut r);
        // A move needs a median gain above noise and most pairs agreeing: one lucky pair or a
        // slow incumbent sample must not move the search.
        if m >= 1.0 + self.limits.move_gain && wins * 4 >= n * 3 {
            let to = winner.get(dim).unwrap_or_default().to_string();
            Ok(Some((
                winner,
                Move {
                    param: dim.to_string(),
                    from: current,
                    to,
                    median_ratio: m,
                    pairs: n,
                },
            )))
        } else {
            Ok(None)
        }
    }
}

/// Searches `space` from `start`. The start itself must pass the guard: a current profile that
/// fails cross-validation is reported as rejected and the search does not run from it.
pub fn search(
    probe: &mut dyn Probe,
    space: &TuneSpace,
    start: &Candidate,
    limits: SearchLimits,
    memory: &mut dyn TuneMemory,
    progress: &mut dyn FnMut(Progress),
) -> Result<SearchResult, ProbeError> {
    let mut s = Searcher {
        probe,
        memory,
        limits,
        progress,
        guarded: HashSet::new(),
        rejected: Vec::new(),
        pairs_timed: 0,
        guards_run: 0,
        out_of_budget: None,
    };
    let start_guard = s.guard(start)?;
    let mut incumbent = start.clone();
    let mut moves = Vec::new();
    let mut stopped = StopReason::Passes;
    let mut unraced: Vec<String> = Vec::new();
    if start_guard.as_ref().is_some_and(|g| g.pass) {
        'passes: for _ in 0..limits.max_passes.max(1) {
            let mut moved = false;
            for d in &space.dims {
                if !s.budget_left() {
                    break 'passes;
                }
                // Asked per dimension: a move (of the ISA, say) can change what is read.
                if s.probe.unread(&incumbent).contains(&d.name) {
                    if !unraced.contains(&d.name) {
                        s.note(format!(
                            "{}: not read by the kernels of {incumbent}, not raced",
                            d.name
                        ));
                        unraced.push(d.name.clone());
                    }
                    continue;
                }
                if let Some((winner, m)) = s.race(&incumbent, &d.name, &d.values)? {
                    tracing::info!(param = %m.param, from = %m.from, to = %m.to, ratio = m.median_ratio, "tuner moved");
                    s.note(format!(
                        "moved {} {}→{} ({:+.1}%)",
                        m.param,
                        m.from,
                        m.to,
                        (m.median_ratio - 1.0) * 100.0
                    ));
                    incumbent = winner;
                    moves.push(m);
                    moved = true;
                }
            }
            if !moved {
                stopped = StopReason::Converged;
                break;
            }
        }
    }
    if let Some(reason) = s.out_of_budget {
        stopped = reason;
    }
    let best_guard = s.memory.guard(&incumbent);
    Ok(SearchResult {
        start: start.clone(),
        best: incumbent,
        best_guard,
        moves,
        evaluations: s.guarded.len(),
        pairs_timed: s.pairs_timed,
        guards_run: s.guards_run,
        rejected: s.rejected,
        unraced,
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::tuner::memory::InMemory;

    /// A synthetic objective: `fast=1` is 10 % faster; `tile` only matters once `fast=1` (the
    /// kernel of `fast=0` does not read it, and says so). Records every candidate it guards.
    struct Synthetic {
        guarded: Vec<Candidate>,
    }

    impl Synthetic {
        fn speed(c: &Candidate) -> f64 {
            match (c.get("fast"), c.get("tile")) {
                (Some("1"), Some("2")) => 1.2,
                (Some("1"), _) => 1.1,
                _ => 1.0,
            }
        }
    }

    impl Probe for Synthetic {
        fn validate(&self, _: &Candidate) -> Result<(), String> {
            Ok(())
        }
        fn guard(&mut self, c: &Candidate) -> Result<GuardReport, ProbeError> {
            self.guarded.push(c.clone());
            Ok(GuardReport {
                kernel_id: "synthetic".into(),
                kernel_shapes: 1,
                i32_mismatches: 0,
                max_rel_err: 0.0,
                model: None,
                pass: true,
                failed_check: None,
            })
        }
        fn pair(
            &mut self,
            incumbent: &Candidate,
            candidate: &Candidate,
            _: bool,
        ) -> Result<(f64, f64), ProbeError> {
            Ok((Self::speed(incumbent), Self::speed(candidate)))
        }
        fn sample(&mut self, c: &Candidate) -> Result<f64, ProbeError> {
            Ok(Self::speed(c))
        }
        fn unread(&self, c: &Candidate) -> Vec<String> {
            if c.get("fast") == Some("1") {
                Vec::new()
            } else {
                vec!["tile".into()]
            }
        }
    }

    #[test]
    fn dimensions_the_incumbent_does_not_read_are_not_raced_until_a_move_makes_them_read() {
        let space = TuneSpace::declared(&BTreeMap::from([
            ("tile".to_string(), vec!["1".into(), "2".into()]),
            ("fast".to_string(), vec!["0".into(), "1".into()]),
        ]));
        // Declared spaces keep their names' order: `fast` is visited before `tile`.
        assert_eq!(space.dims[0].name, "fast");
        let start = Candidate::parse("fast=0,tile=1").unwrap();
        let limits = SearchLimits::new(Instant::now() + Duration::from_secs(60), 100);

        // Only `tile`: never read from this start, so nothing beyond the start is guarded.
        let mut probe = Synthetic { guarded: vec![] };
        let only_tile = space.only(&["tile"]);
        let found = search(
            &mut probe,
            &only_tile,
            &start,
            limits,
            &mut InMemory::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(probe.guarded, vec![start.clone()]);
        assert_eq!(found.unraced, vec!["tile".to_string()]);
        assert_eq!(found.best, start);
        assert_eq!(found.stopped, StopReason::Converged);

        // Both: `fast` moves first, then `tile` is read and raced in the same pass.
        let mut probe = Synthetic { guarded: vec![] };
        let found = search(
            &mut probe,
            &space,
            &start,
            limits,
            &mut InMemory::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(found.best, Candidate::parse("fast=1,tile=2").unwrap());
        assert!(found.unraced.is_empty(), "{:?}", found.unraced);
        // `tile` was first raced from `fast=1` (later passes race `fast` back from there).
        let parse = |s: &str| Candidate::parse(s).unwrap();
        assert_eq!(
            probe.guarded[..3],
            [start, parse("fast=1,tile=1"), parse("fast=1,tile=2")]
        );
    }
}
