//! The adopted tuning profile every later run uses: `--params` for the embedded benchmark, and
//! `PERFD_PARAMS` plus the `{params}` placeholder for a repository's harness.

use crate::config::{Config, RepositorySection};
use crate::runner::child_process::CommandSpec;
use crate::state::DaemonState;
use crate::tuner::harness_probe::with_params;

use super::tune_job::{embedded_model, REPOSITORY_MODEL_KEY};

/// The adopted parameters for this host, model and objective, when a job adopted any. A store
/// error is logged and the run goes on with the configured parameters.
pub fn adopted_params(state: &DaemonState, config: &Config) -> Option<String> {
    let model = match &config.repository {
        None => embedded_model(config).0,
        Some(_) => REPOSITORY_MODEL_KEY.to_string(),
    };
    let found = state
        .store
        .lock()
        .current_params(&state.host.id, &model, &config.tuner.objective);
    match found {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the adopted tuning profile; running with the configured parameters");
            None
        }
    }
}

/// The repository harness as a shell command with the adopted parameters: substituted for
/// `{params}` (empty when none) and exported as `PERFD_PARAMS`.
pub fn harness_command(label: &str, repo: &RepositorySection, params: Option<&str>) -> CommandSpec {
    let mut spec = CommandSpec::shell(
        label,
        &with_params(&repo.harness_command, params.unwrap_or_default()),
    );
    if let Some(p) = params {
        spec.env.push(("PERFD_PARAMS".into(), p.to_string()));
    }
    spec
}
