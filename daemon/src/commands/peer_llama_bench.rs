//! `perfd bench --compare-llama-bench`: llama-bench as the peer engine of a model benchmark, run
//! once per repetition on the same file with the same lengths and thread count.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use bitnet_kernels::cpu::KvCacheType;

use crate::harness::model_bench::ModelBenchSpec;
use crate::harness::peer::{PeerEngine, PeerRun};

use super::llama_bench_child::{llama_bench_help, run_llama_bench};

/// How long `llama-bench --help` may take (it loads nothing).
const HELP_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether llama-bench's usage text offers `-d, --n-depth` (llama.cpp since 2025-04).
fn mentions_depth(help: &str) -> bool {
    help.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("-d,") && l.contains("--n-depth")
    })
}

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

impl LlamaBenchPeer {
    /// `-m`, the lengths and the rest every run shares; with an F16 cache, `-ctk f16 -ctv f16`.
    /// llama-bench has no f32 cache (its cache types are F16 and quantised ones), so against
    /// perfd's f32 cache (`--kv-cache f32`) it keeps its own default, F16, which the comparison
    /// reports.
    fn with_common(
        &self,
        model: &Path,
        lengths: [(&str, String); 2],
        spec: ModelBenchSpec,
        threads: usize,
    ) -> Vec<String> {
        let mut command = vec![self.program.display().to_string()];
        let mut flags = vec![("-m", model.display().to_string())];
        flags.extend(lengths);
        flags.extend([
            ("-t", threads.to_string()),
            ("-r", "1".into()),
            ("-o", "json".into()),
        ]);
        if spec.kv_cache == KvCacheType::F16 {
            flags.extend([("-ctk", "f16".into()), ("-ctv", "f16".into())]);
        }
        for (flag, value) in flags {
            command.extend([flag.to_string(), value]);
        }
        command
    }
}

impl PeerEngine for LlamaBenchPeer {
    fn command(&self, model: &Path, spec: ModelBenchSpec, threads: usize) -> Vec<String> {
        let lengths = [
            ("-p", spec.prompt_tokens.to_string()),
            ("-n", spec.gen_tokens.to_string()),
        ];
        self.with_common(model, lengths, spec, threads)
    }

    fn context_command(
        &self,
        model: &Path,
        spec: ModelBenchSpec,
        positions: usize,
        threads: usize,
    ) -> Vec<String> {
        // `-p 0`: the depth's own prompt is untimed; only the decode after it is compared.
        let mut command = self.with_common(
            model,
            [("-p", "0".into()), ("-n", spec.gen_tokens.to_string())],
            spec,
            threads,
        );
        command.extend(["-d".to_string(), positions.to_string()]);
        command
    }

    fn check_depth_support(&self) -> Result<()> {
        let help = llama_bench_help(&self.program, HELP_TIMEOUT)?;
        if !mentions_depth(&help) {
            bail!(
                "`{} --help` lists no -d/--n-depth: this llama-bench cannot start its tests after \
                 a filled cache (bitnet.cpp's builds lack it); compare it without --ctx, or use \
                 llama.cpp's llama-bench",
                self.program.display()
            );
        }
        Ok(())
    }

    fn run(&mut self, command: &[String]) -> Result<PeerRun> {
        let (adapted, _) = run_llama_bench(command, Some(self.timeout))?;
        Ok(PeerRun {
            phases: adapted.phases,
            threads: adapted.threads,
            commit: adapted.commit,
            kernel_ids: adapted.kernel_ids,
            depth: adapted.depth,
            kv_cache: adapted.model.kv_cache,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_depth_flag_is_read_from_the_usage_text() {
        // llama.cpp's usage line, and bitnet.cpp's, which has --delay but no depth.
        assert!(mentions_depth(
            "options:\n  -d, --n-depth <n>                                 (default: 0)\n"
        ));
        assert!(!mentions_depth(
            "  --delay <0...N> (seconds)                 (default: 0)\n  -dev, --device <dev0/dev1/...>\n"
        ));
    }

    #[test]
    fn commands_carry_the_lengths_threads_depth_and_an_f16_cache() {
        let peer = LlamaBenchPeer::new(Path::new("/opt/llama-bench"), Duration::from_secs(1));
        let spec = |kv_cache| ModelBenchSpec {
            prompt_tokens: 64,
            gen_tokens: 32,
            reps: 3,
            kv_cache,
        };
        let m = Path::new("m.gguf");
        let f32 = spec(KvCacheType::F32);
        assert_eq!(
            peer.command(m, f32, 2).join(" "),
            "/opt/llama-bench -m m.gguf -p 64 -n 32 -t 2 -r 1 -o json"
        );
        assert_eq!(
            peer.context_command(m, f32, 4000, 2).join(" "),
            "/opt/llama-bench -m m.gguf -p 0 -n 32 -t 2 -r 1 -o json -d 4000"
        );
        let f16 = spec(KvCacheType::F16);
        assert!(peer
            .command(m, f16, 2)
            .join(" ")
            .ends_with("-o json -ctk f16 -ctv f16"));
        assert!(peer
            .context_command(m, f16, 4000, 2)
            .join(" ")
            .ends_with("-ctk f16 -ctv f16 -d 4000"));
    }
}
