//! Another engine measured in the same `perfd bench` run (`--compare-llama-bench`): the harness
//! calls it between its own repetitions and pools what it measured. The process side (running
//! llama-bench) lives with the commands; the harness only knows this interface.

use std::path::Path;

use anyhow::{bail, Result};

use crate::harness::model_bench::{
    phase, phase_ratios, ContextRun, ModelBenchResult, ModelBenchSpec,
};
use crate::report::bench_report::{PeerComparison, PeerContextDecode};
use crate::report::{Phase, PhaseResult};
use crate::stats::Summary;

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
    /// Cache positions filled before its tests (0: an empty cache).
    pub depth: u64,
    /// Its KV cache's element type, when it reports one.
    pub kv_cache: Option<String>,
}

/// An engine run once per call on a model file.
pub trait PeerEngine {
    /// The command line of one run: a prefill of `spec.prompt_tokens` and a decode of
    /// `spec.gen_tokens` tokens on `threads` threads, on the file at `model`.
    fn command(&self, model: &Path, spec: ModelBenchSpec, threads: usize) -> Vec<String>;
    /// The command line of one decode of `spec.gen_tokens` tokens after a cache filled to
    /// `positions`, on `threads` threads, on the file at `model`.
    fn context_command(
        &self,
        model: &Path,
        spec: ModelBenchSpec,
        positions: usize,
        threads: usize,
    ) -> Vec<String>;
    /// Runs `command` (from [`PeerEngine::command`] or [`PeerEngine::context_command`]) once.
    fn run(&mut self, command: &[String]) -> Result<PeerRun>;
    /// An error when the engine cannot run [`PeerEngine::context_command`]: asked before the
    /// first measurement, so a benchmark with cache depths is refused in seconds instead of
    /// failing after its main repetitions.
    fn check_depth_support(&self) -> Result<()> {
        Ok(())
    }
}

/// The peer's runs at one cache depth.
#[derive(Debug)]
struct DepthSamples {
    positions: usize,
    command: String,
    decode_seconds: Vec<f64>,
}

/// The peer's runs of one `perfd bench`, pooled.
#[derive(Debug, Default)]
pub struct PeerSamples {
    prefill_seconds: Vec<f64>,
    decode_seconds: Vec<f64>,
    /// Bytes/s of a read pass over the model's bytes right after the run of each decode sample.
    decode_window_read: Vec<f64>,
    at_depth: Vec<DepthSamples>,
    commit: Option<String>,
    kernel_ids: Vec<String>,
    kv_cache: Option<String>,
}

impl PeerSamples {
    /// Adds one run's seconds and the read bandwidth measured right after it (bytes/s); a run
    /// without both phases, at other token counts than `spec`'s, on another thread count or
    /// after a filled cache is an error (the peer measured something else).
    pub fn add(
        &mut self,
        run: PeerRun,
        spec: ModelBenchSpec,
        threads: usize,
        window_read: f64,
    ) -> Result<()> {
        self.check(&run, threads, 0)?;
        for (which, tokens, into) in [
            (
                Phase::Prefill,
                spec.prompt_tokens,
                &mut self.prefill_seconds,
            ),
            (Phase::Decode, spec.gen_tokens, &mut self.decode_seconds),
        ] {
            into.extend(phase_seconds(&run, which, tokens)?);
        }
        // The read after this run stands for each of its decode samples.
        self.decode_window_read
            .resize(self.decode_seconds.len(), window_read);
        self.keep_identity(run);
        Ok(())
    }

    /// Adds one run of `command` at cache depth `positions`: its decode of `spec.gen_tokens`
    /// tokens, checked like [`Self::add`]'s.
    pub fn add_at_depth(
        &mut self,
        run: PeerRun,
        command: &[String],
        spec: ModelBenchSpec,
        positions: usize,
        threads: usize,
    ) -> Result<()> {
        self.check(&run, threads, positions)?;
        let seconds = phase_seconds(&run, Phase::Decode, spec.gen_tokens)?;
        let at = match self.at_depth.iter().position(|d| d.positions == positions) {
            Some(at) => at,
            None => {
                self.at_depth.push(DepthSamples {
                    positions,
                    command: command.join(" "),
                    decode_seconds: Vec::new(),
                });
                self.at_depth.len() - 1
            }
        };
        self.at_depth[at].decode_seconds.extend(seconds);
        self.keep_identity(run);
        Ok(())
    }

    fn check(&self, run: &PeerRun, threads: usize, positions: usize) -> Result<()> {
        if run.threads != threads {
            bail!(
                "the peer ran on {} threads, not the {threads} asked for",
                run.threads
            );
        }
        if run.depth != positions as u64 {
            bail!(
                "the peer's tests started after {} cached positions, not the {positions} asked for",
                run.depth
            );
        }
        Ok(())
    }

    fn keep_identity(&mut self, run: PeerRun) {
        self.commit.get_or_insert(run.commit);
        if self.kv_cache.is_none() {
            self.kv_cache = run.kv_cache;
        }
        for id in run.kernel_ids {
            if !self.kernel_ids.contains(&id) {
                self.kernel_ids.push(id);
            }
        }
    }

    /// The comparison: the peer's phases and this run's ÷ the peer's median tokens/s, and the
    /// same at every depth of `ours_at_context` the peer ran.
    pub fn compare(
        self,
        command: String,
        spec: ModelBenchSpec,
        ours: &ModelBenchResult,
        ours_at_context: &[ContextRun],
    ) -> Result<PeerComparison> {
        let phases = vec![
            phase(Phase::Prefill, spec.prompt_tokens, self.prefill_seconds)?,
            phase(Phase::Decode, spec.gen_tokens, self.decode_seconds)?,
        ];
        let ratios = phase_ratios(&ours.phases, &phases);
        let decode_per_read = decode_per_read(ours, &phases, &self.decode_window_read);
        let mut decode_at_context = Vec::with_capacity(self.at_depth.len());
        for d in self.at_depth {
            let Some(mine) = ours_at_context.iter().find(|c| c.positions == d.positions) else {
                bail!("the peer ran at depth {} where perfd did not", d.positions);
            };
            let decode = phase(Phase::Decode, spec.gen_tokens, d.decode_seconds)?;
            decode_at_context.push(PeerContextDecode {
                positions: d.positions,
                command: d.command,
                ratio: mine.tokens_per_second.median / decode.tokens_per_second.median,
                decode,
            });
        }
        Ok(PeerComparison {
            command,
            commit: self.commit.unwrap_or_default(),
            kernel_ids: self.kernel_ids,
            phases,
            ratios,
            kv_cache: self.kv_cache,
            decode_at_context,
            decode_window_read: Summary::of(self.decode_window_read),
            decode_per_read,
        })
    }
}

/// Each repetition pair's decode ratio with both sides' tokens/s taken per byte/s of the read
/// pass right after them: (ours_i / our_read_i) ÷ (peer_i / peer_read_i). The peer runs in other
/// processes, so its decode cannot alternate with perfd's token by token, and on a host whose
/// bandwidth switches between phases within seconds a pair's plain ratio carries the two windows'
/// difference (on the Zen 5 VM 0.99–1.74× within one run). Where decode is bound by memory the
/// division cancels it. `None` when the counts differ (a peer run with several decode samples).
fn decode_per_read(
    ours: &ModelBenchResult,
    peer_phases: &[PhaseResult],
    peer_reads: &[f64],
) -> Option<Summary> {
    let ours_tps = &ours
        .phases
        .iter()
        .find(|p| p.phase == Phase::Decode)?
        .tokens_per_second
        .samples;
    let peer_tps = &peer_phases
        .iter()
        .find(|p| p.phase == Phase::Decode)?
        .tokens_per_second
        .samples;
    let n = ours_tps.len();
    if ours.decode_window_read.len() != n || peer_tps.len() != n || peer_reads.len() != n {
        return None;
    }
    Summary::of(
        (0..n)
            .map(|i| (ours_tps[i] / ours.decode_window_read[i]) / (peer_tps[i] / peer_reads[i]))
            .collect(),
    )
}

/// The samples of `which` in `run`, which must have run `tokens` tokens.
fn phase_seconds(run: &PeerRun, which: Phase, tokens: usize) -> Result<Vec<f64>> {
    let Some(p) = run.phases.iter().find(|p| p.phase == which) else {
        bail!("the peer reported no {which} result");
    };
    if p.tokens != tokens {
        bail!(
            "the peer's {which} ran {} tokens, not the {tokens} asked for",
            p.tokens
        );
    }
    Ok(p.seconds.samples.clone())
}
