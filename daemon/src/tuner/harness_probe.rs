//! A [`Probe`] over the harness protocol, for repository mode: every check and every sample is a
//! harness process run with the candidate in `PERFD_PARAMS` (and in place of `{params}` in the
//! command). The guard is the harness's own cross-validation (`PERFD_CROSSVAL=1`); a harness
//! that reports none cannot be tuned safely, so its candidates are rejected.
//!
//! Separate processes drift by a few percent against each other, so pairs here carry that noise:
//! the search's move threshold and the adoption A/B's pairs must be sized for it.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use super::guard::{GuardReport, ModelCheck};
use super::objective::Objective;
use super::probe::{in_order, Probe, ProbeError};
use super::space::{Candidate, TuneSpace};
use crate::report::{BenchReport, Phase};
use crate::runner::child_process::{self, CommandSpec};
use crate::runner::harness::{last_error_line, run_report};
use crate::runner::heartbeat::Heartbeat;

/// Shell-quotes `s` for substitution into a `sh -c` command.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The harness command with `{params}` replaced by the quoted candidate.
pub fn with_params(command: &str, params: &str) -> String {
    command.replace("{params}", &shell_quote(params))
}

/// A harness run as a tuning probe.
pub struct HarnessProbe {
    runner: HarnessRunner,
    objective: Objective,
    space: TuneSpace,
}

/// Runs a harness command through the daemon's supervised runner (own process group, timeout,
/// stderr to a log) on a small runtime of its own: the tuner is a plain command.
pub struct HarnessRunner {
    command: String,
    cwd: PathBuf,
    timeout: Duration,
    log: PathBuf,
    runtime: tokio::runtime::Runtime,
    // Never signalled: a tuning child is stopped by its process group, not by a message.
    shutdown: watch::Receiver<bool>,
    _stop: watch::Sender<bool>,
    heartbeat: Heartbeat,
}

impl HarnessRunner {
    /// A runner for `command` (through `sh -c`) in `cwd`, each run killed at `timeout`, stderr
    /// appended to `log`.
    pub fn new(
        command: String,
        cwd: PathBuf,
        timeout: Duration,
        log: PathBuf,
    ) -> Result<Self, ProbeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ProbeError::Harness(format!("cannot start a runtime: {e}")))?;
        let (stop, shutdown) = watch::channel(false);
        Ok(Self {
            command,
            cwd,
            timeout,
            log,
            runtime,
            shutdown,
            _stop: stop,
            heartbeat: Heartbeat::default(),
        })
    }

    fn spec(&self, params: &str, env: &[(&str, &str)]) -> CommandSpec {
        let mut spec = CommandSpec {
            cwd: Some(self.cwd.clone()),
            timeout: self.timeout,
            capture_stdout: true,
            log: self.log.clone(),
            ..CommandSpec::shell("harness", &with_params(&self.command, params))
        };
        spec.env = std::iter::once(("PERFD_PARAMS", params))
            .chain(env.iter().copied())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        spec
    }

    /// One run with `params`, read as a bench report.
    pub fn report(
        &mut self,
        params: &str,
        env: &[(&str, &str)],
    ) -> Result<BenchReport, ProbeError> {
        let spec = self.spec(params, env);
        let (report, _) = self
            .runtime
            .block_on(run_report(&spec, &mut self.shutdown, &self.heartbeat))
            .map_err(|e| ProbeError::Harness(e.to_string()))?;
        Ok(report)
    }

    /// One run with `params`; its stdout, whatever it is.
    pub fn stdout(&mut self, params: &str, env: &[(&str, &str)]) -> Result<String, ProbeError> {
        let spec = self.spec(params, env);
        let r = self
            .runtime
            .block_on(child_process::run(
                &spec,
                &mut self.shutdown,
                &self.heartbeat,
            ))
            .map_err(|e| ProbeError::Harness(format!("cannot start the harness: {e}")))?;
        if !r.success() {
            let cause = last_error_line(&spec.log)
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            return Err(ProbeError::Harness(format!(
                "{}{cause} (log: {})",
                r.describe("harness", spec.timeout),
                spec.log.display()
            )));
        }
        String::from_utf8(r.stdout)
            .map_err(|e| ProbeError::Harness(format!("the harness printed no text: {e}")))
    }
}

impl HarnessProbe {
    /// A probe over `runner` for `objective` in `space`.
    pub fn new(
        runner: HarnessRunner,
        objective: Objective,
        space: TuneSpace,
    ) -> Result<Self, ProbeError> {
        if matches!(objective, Objective::Kernel { .. }) {
            return Err(ProbeError::Harness(
                "a harness is tuned on decode or prefill; kernel objectives run in-process".into(),
            ));
        }
        Ok(Self {
            runner,
            objective,
            space,
        })
    }

    fn value(&mut self, params: &Candidate) -> Result<f64, ProbeError> {
        let report = self.runner.report(&params.to_string(), &[])?;
        let phase = match self.objective {
            Objective::Prefill => Phase::Prefill,
            _ => Phase::Decode,
        };
        report
            .phase_tps(&phase)
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| ProbeError::Harness(format!("the harness reported no {phase} tokens/s")))
    }
}

impl Probe for HarnessProbe {
    fn validate(&self, candidate: &Candidate) -> Result<(), String> {
        for d in &self.space.dims {
            if let Some(v) = candidate.get(&d.name) {
                if !d.values.iter().any(|x| x == v) {
                    return Err(format!("{}={v} is not in the declared values", d.name));
                }
            }
        }
        Ok(())
    }

    fn guard(&mut self, candidate: &Candidate) -> Result<GuardReport, ProbeError> {
        let failed = |check: String| GuardReport {
            kernel_id: "unknown".into(),
            kernel_shapes: 0,
            i32_mismatches: 0,
            max_rel_err: 0.0,
            model: None,
            pass: false,
            failed_check: Some(check),
        };
        let report = match self
            .runner
            .report(&candidate.to_string(), &[("PERFD_CROSSVAL", "1")])
        {
            Ok(r) => r,
            // A harness that refuses, crashes or prints no report on a configuration rejects it.
            Err(ProbeError::Harness(why)) => return Ok(failed(why)),
            Err(e) => return Err(e),
        };
        let kernel = report.crossval.clone().unwrap_or_default();
        let Some(model) = report.model_crossval.clone() else {
            return Ok(failed(
                "the harness reported no model cross-validation (it must honour PERFD_CROSSVAL=1)"
                    .into(),
            ));
        };
        let kernel_pass = !kernel.is_empty() && kernel.iter().all(|k| k.pass);
        let max_rel_err = kernel.iter().map(|k| k.max_rel_err).fold(0.0, f64::max);
        let failed_check = if !kernel_pass {
            Some(if kernel.is_empty() {
                "the harness reported no kernel cross-validation".to_string()
            } else {
                format!("kernel crossval: max rel err {max_rel_err:.1e}")
            })
        } else if !model.pass {
            Some(format!(
                "model crossval: max |Δlogit| {:.2e}, min cosine {:.6}, greedy tokens {}",
                model.max_abs_diff,
                model.min_cosine,
                if model.tokens_identical {
                    "identical"
                } else {
                    "differ"
                }
            ))
        } else {
            None
        };
        Ok(GuardReport {
            kernel_id: report.kernel_ids.first().cloned().unwrap_or_default(),
            kernel_shapes: kernel.iter().map(|k| k.shapes.len()).sum(),
            i32_mismatches: 0,
            max_rel_err,
            model: Some(ModelCheck {
                steps: model.steps,
                max_abs_diff: model.max_abs_diff,
                min_cosine: model.min_cosine,
                tokens_identical: model.tokens_identical,
                pass: model.pass,
            }),
            pass: failed_check.is_none(),
            failed_check,
        })
    }

    fn pair(
        &mut self,
        incumbent: &Candidate,
        candidate: &Candidate,
        candidate_first: bool,
    ) -> Result<(f64, f64), ProbeError> {
        in_order(candidate_first, incumbent, candidate, |c| self.value(c))
    }

    fn sample(&mut self, candidate: &Candidate) -> Result<f64, ProbeError> {
        self.value(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_quoted_into_the_command() {
        assert_eq!(
            with_params("bench --params {params}", "a=1,b=it's"),
            r"bench --params 'a=1,b=it'\''s'"
        );
    }
}
