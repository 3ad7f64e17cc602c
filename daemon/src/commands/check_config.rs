//! `perfd check-config`: validates a configuration file (the unit's `ExecStartPre`).

use anyhow::Result;

use crate::cli::CheckConfigArgs;
use crate::config::{load_file, DEFAULT_CONFIG_PATH};
use crate::UsageError;

/// Returns the line to print when the file is valid; every problem otherwise (exit 64).
pub fn run(args: &CheckConfigArgs) -> Result<String> {
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| DEFAULT_CONFIG_PATH.into());
    let config = load_file(&path).map_err(|e| UsageError(e.to_string()))?;
    let mode = match &config.repository {
        Some(r) => format!("tracking {} ({})", r.url, r.branch),
        None => "embedded default".into(),
    };
    Ok(format!(
        "{}: ok — {mode}, every {} s, state in {}, listening on {}\n",
        path.display(),
        config.schedule.interval_secs,
        config.state_dir().display(),
        config.daemon.listen
    ))
}
