//! A [`Probe`] over the harness protocol, for repository mode: every check and every sample is a
//! harness process run with the candidate in `PERFD_PARAMS` (and in place of `{params}` in the
//! command). The guard is the harness's own cross-validation (`PERFD_CROSSVAL=1`); a harness
//! that reports none cannot be tuned safely, so its candidates are rejected.
//!
//! Separate processes drift by a few percent against each other, so pairs here carry that noise:
//! the search's move threshold and the adoption A/B's pairs must be sized for it.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::guard::{GuardReport, ModelCheck};
use super::objective::Objective;
use super::probe::{in_order, Probe, ProbeError};
use super::space::{Candidate, TuneSpace};
use crate::report::{BenchReport, Phase};

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
    command: String,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
    objective: Objective,
    space: TuneSpace,
}

impl HarnessProbe {
    /// A probe running `command` (through `sh -c`) in `cwd`.
    pub fn new(
        command: String,
        cwd: PathBuf,
        env: Vec<(String, String)>,
        timeout: Duration,
        objective: Objective,
        space: TuneSpace,
    ) -> Result<Self, ProbeError> {
        if matches!(objective, Objective::Kernel { .. }) {
            return Err(ProbeError::Harness(
                "a harness is tuned on decode or prefill; kernel objectives run in-process".into(),
            ));
        }
        Ok(Self {
            command,
            cwd,
            env,
            timeout,
            objective,
            space,
        })
    }

    /// Runs the harness once with `params` (and the extra environment); returns its stdout.
    fn run(&self, params: &str, extra: &[(&str, &str)]) -> Result<String, ProbeError> {
        run_harness(
            &with_params(&self.command, params),
            &self.cwd,
            self.env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([("PERFD_PARAMS", params)])
                .chain(extra.iter().copied()),
            self.timeout,
        )
    }

    fn value(&self, params: &Candidate) -> Result<f64, ProbeError> {
        let out = self.run(&params.to_string(), &[])?;
        let report: BenchReport = serde_json::from_str(&out).map_err(|e| {
            ProbeError::Harness(format!("the harness printed no bench report: {e}"))
        })?;
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

/// Runs `command` through `sh -c` in its own process group, killed whole at the timeout.
pub fn run_harness<'a>(
    command: &str,
    cwd: &std::path::Path,
    env: impl Iterator<Item = (&'a str, &'a str)>,
    timeout: Duration,
) -> Result<String, ProbeError> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| ProbeError::Harness(format!("cannot start the harness: {e}")))?;
    // Drain both pipes on threads so a chatty harness cannot block on a full pipe.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                // A read error leaves what was read; the exit status says whether it matters.
                if let Err(e) = r.read_to_string(&mut s) {
                    s.push_str(&format!("\n(read error: {e})"));
                }
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let end = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) | Err(_) => {
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                if let Err(e) = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL) {
                    tracing::warn!(error = %e, "cannot kill the harness's process group");
                }
                // Reap it; its exit status no longer matters.
                let reaped = child.wait();
                tracing::debug!(?reaped, "timed-out harness reaped");
                return Err(ProbeError::Harness(format!(
                    "the harness ran past its {} s timeout and was killed",
                    timeout.as_secs()
                )));
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("(no output)");
        return Err(ProbeError::Harness(format!(
            "the harness failed ({status}): {last}"
        )));
    }
    Ok(stdout)
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
        let out = match self.run(&candidate.to_string(), &[("PERFD_CROSSVAL", "1")]) {
            Ok(o) => o,
            // A harness that refuses or crashes on a configuration rejects that candidate.
            Err(ProbeError::Harness(why)) => return Ok(failed(why)),
            Err(e) => return Err(e),
        };
        let report: BenchReport = match serde_json::from_str(&out) {
            Ok(r) => r,
            Err(e) => return Ok(failed(format!("the harness printed no bench report: {e}"))),
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
        in_order(
            candidate_first,
            || self.value(incumbent),
            || self.value(candidate),
        )
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
