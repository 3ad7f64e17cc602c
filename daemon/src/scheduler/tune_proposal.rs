//! Proposes an adopted profile upstream (repository mode): queues a `pull_request` outbox entry
//! that adds or updates the profile file on `perfd/tune-<host>`. The outbox posts it (or records
//! it in a dry run), retrying like any gate.

use crate::clock::unix_now;
use crate::config::Config;
use crate::gates::pull_request::ProfileProposal;
use crate::state::DaemonState;
use crate::tuner::TuneReport;

/// The proposal of a report's adopted profile.
pub fn proposal(config: &Config, report: &TuneReport) -> Option<ProfileProposal> {
    let repo = config.repository.as_ref()?;
    let profile = report.profile.as_ref()?;
    let content = match profile.to_toml() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the tuned profile for the pull request");
            return None;
        }
    };
    let host = &report.host_id;
    let ab = report.job.decisive_test();
    let gain = ab.map_or(String::new(), |t| {
        format!(
            " ({:+.1} % {}, 95 % CI {:+.1} % .. {:+.1} %)",
            t.gain * 100.0,
            report.objective,
            t.gain_ci95[0] * 100.0,
            t.gain_ci95[1] * 100.0
        )
    });
    Some(ProfileProposal {
        branch: format!("perfd/tune-{host}"),
        base: repo.branch.clone(),
        path: config.tuner.profile_path.replace("{host}", host),
        content,
        message: format!("perf: tuned kernel profile for host {host}{gain}"),
        title: format!("perf: tuned kernel profile for {} ({host})", report.cpu_model),
        body: format!(
            "Proposed by bitnet-perfd after a tuning job (trigger: `{}`).\n\n\
             **Optimization Applied:** {}\n\n**Cross-Validation:** {}\n\n\
             The harness receives these parameters through `PERFD_PARAMS` (and `{{params}}`):\n\n```\n{}\n```\n",
            report.trigger,
            report.optimization_applied(),
            report.crossval_line(),
            profile.params
        ),
    })
}

/// Queues the pull request of an adopted profile, when configured.
pub fn propose(state: &DaemonState, config: &Config, report: &TuneReport) {
    if !config.tuner.pull_request || config.github.is_none() {
        return;
    }
    let Some(p) = proposal(config, report) else {
        return;
    };
    let Some(run_id) = state
        .store
        .lock()
        .last_success()
        .ok()
        .flatten()
        .map(|r| r.id)
    else {
        tracing::warn!("no stored run to attach the profile pull request to; not proposed");
        return;
    };
    let queued = serde_json::to_value(&p)
        .map_err(|e| e.to_string())
        .and_then(|payload| {
            state.store.with(|s| {
                s.enqueue(
                    run_id,
                    "pull_request",
                    &p.branch,
                    &p.branch,
                    &payload,
                    unix_now(),
                )
                .map_err(|e| e.to_string())
            })
        });
    match queued {
        Ok(_) => {
            tracing::info!(branch = %p.branch, path = %p.path, "tuned profile pull request queued");
            state.outbox.wake();
        }
        Err(e) => tracing::error!(error = %e, "cannot queue the tuned profile pull request"),
    }
}
