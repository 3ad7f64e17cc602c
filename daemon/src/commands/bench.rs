//! `perfd bench`: the reference harness's command. Lists the parameter space, or dispatches to
//! the harness's kernel suite, model suite or cross-validation against another engine.

use anyhow::Result;

use bitnet_kernels::{KernelConfig, ParamSpace};

use crate::cli::BenchArgs;
pub use crate::harness::support::BenchOutcome;
use crate::harness::{kernel_suite, model_suite};

/// Runs `perfd bench` with `args`.
pub fn run(args: &BenchArgs) -> Result<BenchOutcome> {
    if args.list_params {
        return list_params(args.json);
    }
    if let Some(dir) = &args.against {
        return super::crossval_against::run(args, dir);
    }
    if args.kernels {
        kernel_suite::run(args)
    } else {
        model_suite::run(args)
    }
}

fn list_params(json: bool) -> Result<BenchOutcome> {
    let space = ParamSpace::for_host();
    let stdout = if json {
        let params: Vec<_> = space
            .params
            .iter()
            .map(|p| serde_json::json!({"name": p.name, "doc": p.doc, "values": p.values}))
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({
            "params": params,
            "constraints": ["rows_per_task % row_tile == 0", "isa must be supported by this CPU"],
            "valid_configurations": space.configs().len(),
            "default": KernelConfig::default().to_string(),
        }))? + "\n"
    } else {
        format!("{space}\n")
    };
    Ok(BenchOutcome {
        stdout,
        crossval_failed: false,
    })
}
