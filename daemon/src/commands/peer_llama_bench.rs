//! `perfd bench --compare-llama-bench`: llama-bench as the peer engine of a model benchmark, run
//! once per repetition on the same file with the same lengths and thread count.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::harness::model_bench::ModelBenchSpec;
use crate::harness::peer::{PeerEngine, PeerRun};

use super::llama_bench_child::run_llama_bench;

/// A llama-bench binary, and how long one run of it may take.
pub(crate) struct LlamaBenchPeer {
    program: PathBuf,
    timeout: Duration,
}

impl LlamaBenchPeer {
    pub(crate) fn new(program: &Path, timeout: Duration) -> Self {
        Self {
            program: program.to_path_buf(),
            timeout,
        }
    }
}

impl PeerEngine for LlamaBenchPeer {
    fn command(&self, model: &Path, spec: ModelBenchSpec, threads: usize) -> Vec<String> {
        let mut command = vec![self.program.display().to_string()];
        for (flag, value) in [
            ("-m", model.display().to_string()),
            ("-p", spec.prompt_tokens.to_string()),
            ("-n", spec.gen_tokens.to_string()),
            ("-t", threads.to_string()),
            ("-r", "1".into()),
            ("-o", "json".into()),
        ] {
            command.extend([flag.to_string(), value]);
        }
        command
    }

    fn run(&mut self, command: &[String]) -> Result<PeerRun> {
        let (adapted, _) = run_llama_bench(command, Some(self.timeout))?;
        Ok(PeerRun {
            phases: adapted.phases,
            threads: adapted.threads,
            commit: adapted.commit,
            kernel_ids: adapted.kernel_ids,
        })
    }
}
