//! `perfd bench`: the reference harness's command. Lists the parameter space, or dispatches to
//! the harness's kernel suite, model suite or cross-validation against another engine.

use anyhow::Result;

use bitnet_kernels::{KernelConfig, ParamSpace};

use crate::cli::BenchArgs;
use crate::harness::backend::{self, Backend};
pub use crate::harness::support::BenchOutcome;
use crate::harness::{cuda_kernel_suite, cuda_model_suite, kernel_suite, model_suite};

/// Runs `perfd bench` with `args`.
pub fn run(args: &BenchArgs) -> Result<BenchOutcome> {
    if args.list_params {
        return list_params(args.json);
    }
    if let Some(dir) = &args.against {
        return super::crossval_against::run(args, dir);
    }
    match (resolve_backend(args), args.kernels) {
        (Backend::Cpu, true) => kernel_suite::run(args),
        (Backend::Cpu, false) => model_suite::run(args),
        (Backend::Cuda, true) => cuda_kernel_suite::run(args),
        (Backend::Cuda, false) => cuda_model_suite::run(args),
    }
}

/// `--backend`: `auto` takes CUDA when it is usable and no CPU-only model-suite flag is given.
fn resolve_backend(args: &BenchArgs) -> Backend {
    let cpu_only =
        args.ctx.is_some() || args.compare_embeddings.is_some() || args.compare_model.is_some();
    if args.backend == "auto" && cpu_only {
        return Backend::Cpu;
    }
    backend::resolve(&args.backend)
}

fn list_params(json: bool) -> Result<BenchOutcome> {
    let space = ParamSpace::for_host();
    let cuda = bitnet_kernels::cuda::CudaLaunchParams::space();
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
            "cuda_params": cuda
                .iter()
                .map(|p| serde_json::json!({"name": p.name, "doc": p.doc, "values": p.values}))
                .collect::<Vec<_>>(),
            "cuda_default": bitnet_kernels::cuda::CudaLaunchParams::default().to_string(),
        }))? + "\n"
    } else {
        let cuda_lines: String = cuda
            .iter()
            .map(|p| format!("  {:<18} {} [{}]\n", p.name, p.doc, p.values.join(", ")))
            .collect();
        format!("{space}\nCUDA launch parameters (--backend cuda):\n{cuda_lines}")
    };
    Ok(BenchOutcome {
        stdout,
        crossval_failed: false,
    })
}
