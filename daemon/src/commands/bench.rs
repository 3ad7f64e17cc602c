//! `perfd bench`: the reference harness's command. Lists the parameter space, or dispatches to
//! the harness's kernel suite, model suite or cross-validation against another engine.

use anyhow::Result;

use bitnet_kernels::cuda::CudaLaunchParams;
use bitnet_kernels::{KernelConfig, ParamSpace};

use crate::cli::BenchArgs;
use crate::harness::backend::{self, Backend};
pub use crate::harness::support::BenchOutcome;
use crate::harness::{cuda_kernel_suite, cuda_model_suite, kernel_suite, model_suite};
use crate::UsageError;

use super::peer_llama_bench::LlamaBenchPeer;

/// Runs `perfd bench` with `args`.
pub fn run(args: &BenchArgs) -> Result<BenchOutcome> {
    if args.list_params {
        return list_params(args);
    }
    if let Some(dir) = &args.against {
        return super::crossval_against::run(args, dir);
    }
    match (resolve_backend(args), args.kernels) {
        (Backend::Cpu, true) => kernel_suite::run(args),
        (Backend::Cpu, false) => match &args.compare_llama_bench {
            Some(program) => model_suite::run(
                args,
                Some(&mut LlamaBenchPeer::new(
                    program,
                    std::time::Duration::from_secs(args.peer_timeout),
                )),
            ),
            None => model_suite::run(args, None),
        },
        (Backend::Cuda, false) if args.compare_llama_bench.is_some() => Err(UsageError(
            "--compare-llama-bench runs with the CPU model suite (--backend cpu)".into(),
        )
        .into()),
        (Backend::Cuda, true) => cuda_kernel_suite::run(args),
        (Backend::Cuda, false) => cuda_model_suite::run(args),
    }
}

/// `--backend`: `auto` takes CUDA when it is usable and no CPU-only flag is given (a model-suite
/// comparison, or `--params` naming a CPU kernel parameter such as `threads` or `isa`).
fn resolve_backend(args: &BenchArgs) -> Backend {
    let cpu_only = args.ctx.is_some()
        || args.params.as_deref().is_some_and(names_a_cpu_param)
        || args.compare_embeddings.is_some()
        || args.compare_model.is_some()
        || args.compare_weights.is_some()
        || args.compare_layout.is_some()
        || args.compare_lm_head.is_some()
        || args.lm_head == crate::cli::LmHeadArg::Packed
        || matches!(
            args.layout,
            crate::cli::LayoutArg::Lanes16 | crate::cli::LayoutArg::Trits16
        )
        || args.compare_params.is_some()
        || args.compare_kv_cache.is_some()
        || args.kv_cache == "f16"
        || args.compare_llama_bench.is_some();
    if args.backend == "auto" && cpu_only {
        return Backend::Cpu;
    }
    backend::resolve(&args.backend)
}

/// Whether a `key=value,...` spec names a parameter of the CPU kernels that the CUDA launch
/// parameters lack: on a GPU host `perfd bench --params threads=2` means the CPU.
fn names_a_cpu_param(spec: &str) -> bool {
    let cpu = ParamSpace::for_host();
    let cuda = CudaLaunchParams::space();
    spec.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, _)| key.trim())
        .any(|key| cpu.params.iter().any(|d| d.name == key) && !cuda.iter().any(|d| d.name == key))
}

/// `--list-params`: the parameter space of the backend a benchmark with these flags would run on
/// as `params` (what the tuner reads through the harness protocol, `PERFD_LIST_PARAMS=1`; with
/// `PERFD_BACKEND=cuda` it searches the CUDA launch parameters), and the CUDA space beside it.
fn list_params(args: &BenchArgs) -> Result<BenchOutcome> {
    let backend = resolve_backend(args);
    let space = ParamSpace::for_host();
    let cuda = CudaLaunchParams::space();
    let listed = |params: &[bitnet_kernels::config::ParamDomain]| -> Vec<serde_json::Value> {
        params
            .iter()
            .map(|p| serde_json::json!({"name": p.name, "doc": p.doc, "values": p.values}))
            .collect()
    };
    let stdout = if args.json {
        let doc = match backend {
            Backend::Cpu => serde_json::json!({
                "backend": "cpu",
                "params": listed(&space.params),
                "constraints": ["rows_per_task % row_tile == 0", "isa must be supported by this CPU"],
                "valid_configurations": space.configs().len(),
                "default": KernelConfig::default().to_string(),
                "cuda_params": listed(&cuda),
                "cuda_default": CudaLaunchParams::default().to_string(),
            }),
            Backend::Cuda => serde_json::json!({
                "backend": "cuda",
                "params": listed(&cuda),
                "constraints": [],
                "valid_configurations": CudaLaunchParams::configs().len(),
                "default": CudaLaunchParams::default().to_string(),
                "cuda_params": listed(&cuda),
                "cuda_default": CudaLaunchParams::default().to_string(),
            }),
        };
        serde_json::to_string_pretty(&doc)? + "\n"
    } else {
        let cuda_lines: String = cuda
            .iter()
            .map(|p| format!("  {:<18} {} [{}]\n", p.name, p.doc, p.values.join(", ")))
            .collect();
        format!(
            "{space}\nCUDA launch parameters (--backend cuda; {} configurations):\n{cuda_lines}",
            CudaLaunchParams::configs().len()
        )
    };
    Ok(BenchOutcome {
        stdout,
        crossval_failed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::names_a_cpu_param;

    #[test]
    fn cpu_kernel_parameters_send_auto_to_the_cpu() {
        assert!(names_a_cpu_param("threads=2"));
        assert!(names_a_cpu_param("lanes_per_row=16, isa=scalar"));
        assert!(!names_a_cpu_param("lanes_per_row=16,graph=false"));
        assert!(!names_a_cpu_param("warps=4"));
        assert!(!names_a_cpu_param(""));
    }
}
