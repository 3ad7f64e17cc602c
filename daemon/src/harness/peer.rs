//! Another engine measured in the same `perfd bench` run (`--compare-llama-bench`): the harness
//! calls it between its own repetitions and pools what it measured. The process side (running
//! llama-bench) lives with the commands; the harness only knows this interface.

use std::path::Path;

use anyhow::{bail, Result};

use crate::harness::model_bench::{phase, phase_ratios, ModelBenchResult, ModelBenchSpec};
use crate::report::bench_report::PeerComparison;
use crate::report::{Phase, PhaseResult};

/// What one run of the peer measured.
#[derive(Debug, Clone)]
pub struct PeerRun {
    /// Its prefill and decode (any number of samples each).
    pub phases: Vec<PhaseResult>,
    /// The threads it ran on.
    pub threads: usize,
    /// Its build commit, as it reports it.
    pub commit: String,
    /// What it names its kernels or model.
    pub kernel_ids: Vec<String>,
}

/// An engine run once per call on a model file.
pub trait PeerEngine {
    /// The command line of one run: a prefill of `spec.prompt_tokens` and a decode of
    /// `spec.gen_tokens` tokens on `threads` threads, on the file at `model`.
    fn command(&self, model: &Path, spec: ModelBenchSpec, threads: usize) -> Vec<String>;
    /// Runs `command` (from [`PeerEngine::command`]) once.
    fn run(&mut self, command: &[String]) -> Result<PeerRun>;
}

/// The peer's runs of one `perfd bench`, pooled.
#[derive(Debug, Default)]
pub struct PeerSamples {
    prefill_seconds: Vec<f64>,
    decode_seconds: Vec<f64>,
    commit: Option<String>,
    kernel_ids: Vec<String>,
}

impl PeerSamples {
    /// Adds one run's seconds; a run without both phases, at other token counts than `spec`'s
    /// or on another thread count is an error (the peer measured something else).
    pub fn add(&mut self, run: PeerRun, spec: ModelBenchSpec, threads: usize) -> Result<()> {
        if run.threads != threads {
            bail!(
                "the peer ran on {} threads, not the {threads} asked for",
                run.threads
            );
        }
        for (which, tokens, into) in [
            (
                Phase::Prefill,
                spec.prompt_tokens,
                &mut self.prefill_seconds,
            ),
            (Phase::Decode, spec.gen_tokens, &mut self.decode_seconds),
        ] {
            let Some(p) = run.phases.iter().find(|p| p.phase == which) else {
                bail!("the peer reported no {which} result");
            };
            if p.tokens != tokens {
                bail!(
                    "the peer's {which} ran {} tokens, not the {tokens} asked for",
                    p.tokens
                );
            }
            into.extend(&p.seconds.samples);
        }
        self.commit.get_or_insert(run.commit);
        for id in run.kernel_ids {
            if !self.kernel_ids.contains(&id) {
                self.kernel_ids.push(id);
            }
        }
        Ok(())
    }

    /// The comparison: the peer's phases and this run's ÷ the peer's median tokens/s.
    pub fn compare(
        self,
        command: String,
        spec: ModelBenchSpec,
        ours: &ModelBenchResult,
    ) -> Result<PeerComparison> {
        let phases = vec![
            phase(Phase::Prefill, spec.prompt_tokens, self.prefill_seconds)?,
            phase(Phase::Decode, spec.gen_tokens, self.decode_seconds)?,
        ];
        let ratios = phase_ratios(&ours.phases, &phases);
        Ok(PeerComparison {
            command,
            commit: self.commit.unwrap_or_default(),
            kernel_ids: self.kernel_ids,
            phases,
            ratios,
        })
    }
}
