//! `perfd check-config`: validates a configuration file (the unit's `ExecStartPre`).

use anyhow::Result;

use crate::cli::CheckConfigArgs;
use crate::config::{load_file, DEFAULT_CONFIG_PATH};
use crate::UsageError;

/// Reads a configured model's GGUF header and hyper-parameters (not its weights), so a wrong
/// path or a file that is not a BitNet model is found before the daemon starts.
fn check_model_header(model: &std::path::Path) -> Result<(), bitnet_kernels::model::ModelError> {
    let file = bitnet_kernels::gguf::GgufFile::open(model)?;
    bitnet_kernels::model::BitnetHparams::from_gguf(&file)?;
    Ok(())
}

/// Returns the line to print when the file is valid; every problem otherwise (exit 64).
pub fn run(args: &CheckConfigArgs) -> Result<String> {
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| DEFAULT_CONFIG_PATH.into());
    let config = load_file(&path).map_err(|e| UsageError(e.to_string()))?;
    if let (None, Some(model)) = (&config.repository, &config.benchmark.model) {
        check_model_header(model).map_err(|e| {
            UsageError(format!(
                "invalid configuration {}:\n  benchmark.model: {}: {e}",
                path.display(),
                model.display()
            ))
        })?;
    }
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
