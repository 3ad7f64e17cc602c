//! Model throughput: repeated prefill (pp prompt tokens in one batch) and greedy decode (tg
//! tokens), after a warm-up that touches every weight.

use std::time::Instant;

use anyhow::{bail, Context, Result};

use bitnet_kernels::cpu::KvCacheType;
use bitnet_kernels::model::forward::argmax;
use bitnet_kernels::model::op_profile::{Op, OpProfile};
use bitnet_kernels::model::{BitnetModel, DecodeClock, Session};
use bitnet_kernels::synthetic::rng;
use bitnet_kernels::I2sGemm;
use rand::Rng;

use crate::harness::stream_bandwidth::read_bandwidth_of;
use crate::report::bench_report::PhaseRatio;
use crate::report::phase::{OpShare, Phase, PhaseResult};
use crate::stats::Summary;

/// Tokens of the warm-up run (prefill and decode each).
const WARMUP_TOKENS: usize = 8;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct ModelBenchSpec {
    /// Prompt tokens per prefill.
    pub prompt_tokens: usize,
    /// Tokens generated per decode run.
    pub gen_tokens: usize,
    /// Timed repetitions.
    pub reps: usize,
    /// What the sessions' KV caches hold.
    pub kv_cache: KvCacheType,
}

/// Decode timings after a cache filled to one position.
#[derive(Debug, Clone)]
pub struct ContextRun {
    /// Position of the first decoded token.
    pub positions: usize,
    /// Tokens per second per repetition.
    pub tokens_per_second: Summary,
    /// KV-cache bytes one decoded token read, averaged over the decoded positions.
    pub kv_bytes_per_token: u64,
    /// Bytes/s of a read pass over the model's bytes right after each repetition, in order.
    pub window_read: Vec<f64>,
    /// Decode time per operation at this depth, over all timed repetitions.
    pub decode_profile: Vec<OpShare>,
}

/// Everything measured on the model.
#[derive(Debug, Clone)]
pub struct ModelBenchResult {
    /// Prefill then decode.
    pub phases: Vec<PhaseResult>,
    /// Decode time per operation, over all timed repetitions.
    pub decode_profile: Vec<OpShare>,
    /// Prefill time per operation, over all timed repetitions.
    pub prefill_profile: Vec<OpShare>,
    /// Kernel ids the forward pass executed.
    pub kernel_ids: Vec<String>,
    /// KV-cache bytes one decoded token of the decode phase read, averaged over its positions.
    pub kv_bytes_per_token: u64,
    /// Bytes/s of a read pass over the model's bytes right after each decode repetition, in the
    /// order of the decode phase's samples.
    pub decode_window_read: Vec<f64>,
}

/// The seeded prompt of `n` tokens every run uses (the same tokens on every host).
pub(crate) fn prompt(vocab: usize, n: usize) -> Vec<u32> {
    let mut r = rng(0x9E0_0E7);
    (0..n).map(|_| r.random_range(0..vocab as u32)).collect()
}

/// Mean KV bytes a token reads over the positions `first..first + tokens`.
fn mean_kv_bytes(session: &Session<'_>, first: usize, tokens: usize) -> u64 {
    let total: u64 = (first..first + tokens)
        .map(|p| session.kv_bytes_read_at(p))
        .sum();
    total / tokens.max(1) as u64
}

pub(crate) fn phase(name: Phase, tokens: usize, secs: Vec<f64>) -> Result<PhaseResult> {
    let seconds = Summary::of(secs).with_context(|| format!("{name}: no valid timing"))?;
    let tokens_per_second = seconds.map(|s| tokens as f64 / s);
    Ok(PhaseResult {
        phase: name,
        tokens,
        seconds,
        tokens_per_second,
    })
}

/// `numerator`'s ÷ `denominator`'s median tokens/s for every phase both have, and the ratios of
/// their repetitions pair by pair where both hold as many.
pub(crate) fn phase_ratios(
    numerator: &[PhaseResult],
    denominator: &[PhaseResult],
) -> Vec<PhaseRatio> {
    numerator
        .iter()
        .filter_map(|n| {
            let d = denominator.iter().find(|d| d.phase == n.phase)?;
            let (a, b) = (&n.tokens_per_second.samples, &d.tokens_per_second.samples);
            let per_pair = (a.len() == b.len())
                .then(|| Summary::of(a.iter().zip(b).map(|(x, y)| x / y).collect()))
                .flatten();
            Some(PhaseRatio {
                phase: n.phase.clone(),
                ratio: n.tokens_per_second.median / d.tokens_per_second.median,
                per_pair,
            })
        })
        .collect()
}

/// The read bandwidth of the window just measured: one pass over the model's own bytes with the
/// engine's thread count (no allocation, the very pages the kernels stream).
pub(crate) fn window_read(model: &BitnetModel, engine: &I2sGemm) -> Result<f64> {
    read_bandwidth_of(engine.config().threads, model.bytes())
        .context("read pass over the model's bytes after a repetition")
}

/// Decode time per token of each operation over `tokens` tokens, with the bytes each reads per
/// token: every weight once, and for attention the KV cache (`kv_bytes_per_token`).
fn decode_shares(
    model: &BitnetModel,
    p: &OpProfile,
    tokens: usize,
    kv_bytes_per_token: u64,
) -> Vec<OpShare> {
    shares(p, tokens, |op| {
        Some(match op {
            Op::Attention => kv_bytes_per_token,
            op => model.decode_weight_bytes_of(op),
        })
    })
}

/// Time per token of each operation over `tokens` tokens, with the bytes each reads per token
/// where `bytes_of` knows them.
fn shares(p: &OpProfile, tokens: usize, bytes_of: impl Fn(Op) -> Option<u64>) -> Vec<OpShare> {
    let total = p.total();
    Op::ALL
        .iter()
        .map(|&op| OpShare {
            op: op.name().into(),
            seconds_per_token: p.seconds(op) / tokens.max(1) as f64,
            share: if total > 0.0 {
                p.seconds(op) / total
            } else {
                0.0
            },
            bytes_per_token: bytes_of(op),
        })
        .collect()
}

/// One model's session under measurement: prompt, warm-up done, timings so far.
struct Runner<'m> {
    model: &'m BitnetModel,
    engine: &'m I2sGemm,
    session: Session<'m>,
    prompt: Vec<u32>,
    spec: ModelBenchSpec,
    prefill: Vec<f64>,
    decode: Vec<f64>,
    window_read: Vec<f64>,
    profile: OpProfile,
    prefill_profile: OpProfile,
    /// The repetition in progress.
    clock: DecodeClock,
}

impl<'m> Runner<'m> {
    /// A session on `model`, warmed up (every weight touched once by prefill and decode).
    fn new(model: &'m BitnetModel, engine: &'m I2sGemm, spec: ModelBenchSpec) -> Result<Self> {
        if spec.prompt_tokens == 0 || spec.gen_tokens == 0 || spec.reps == 0 {
            bail!("prompt tokens, generated tokens and repetitions must all be at least 1");
        }
        let vocab = model.hparams().vocab;
        let positions = spec.prompt_tokens + spec.gen_tokens;
        let mut session = Session::new(model, engine, positions.max(2 * WARMUP_TOKENS))
            .context("create inference session")?
            .with_kv_cache(spec.kv_cache);
        let prompt = prompt(vocab, spec.prompt_tokens);
        let warm: Vec<u32> = prompt.iter().copied().cycle().take(WARMUP_TOKENS).collect();
        let mut next = argmax(&session.forward(&warm, false)?);
        for _ in 0..WARMUP_TOKENS {
            next = argmax(&session.decode(next)?);
        }
        Ok(Self {
            model,
            engine,
            session,
            prompt,
            spec,
            prefill: Vec::new(),
            decode: Vec::new(),
            window_read: Vec::new(),
            profile: OpProfile::default(),
            prefill_profile: OpProfile::default(),
            clock: DecodeClock::default(),
        })
    }

    /// One timed repetition: prefill of the prompt, then greedy decode.
    fn rep(&mut self, label: &str, progress: &dyn Fn(&str)) -> Result<()> {
        let spec = self.spec;
        progress(&format!("{label}prefill {} tokens", spec.prompt_tokens));
        self.prefill()?;
        progress(&format!("{label}decode {} tokens", spec.gen_tokens));
        for _ in 0..spec.gen_tokens {
            self.decode_step()?;
        }
        self.end_decode()
    }

    /// The timed prefill that starts a repetition.
    fn prefill(&mut self) -> Result<()> {
        self.session.reset();
        self.session.reset_profile();
        let t = Instant::now();
        let logits = self.session.forward(&self.prompt, false)?;
        self.prefill.push(t.elapsed().as_secs_f64());
        self.prefill_profile.add_all(self.session.profile());
        self.session.reset_profile();
        self.clock = DecodeClock::start(argmax(&logits));
        Ok(())
    }

    /// One timed greedy decode step of the repetition in progress.
    fn decode_step(&mut self) -> Result<()> {
        Ok(self.clock.step(&mut self.session)?)
    }

    /// Ends the repetition: its decode time, its profile, and the read rate of the window.
    fn end_decode(&mut self) -> Result<()> {
        self.decode.push(self.clock.seconds());
        self.profile.add_all(self.session.profile());
        self.window_read.push(window_read(self.model, self.engine)?);
        Ok(())
    }

    fn finish(self) -> Result<ModelBenchResult> {
        let spec = self.spec;
        let kv_bytes_per_token = mean_kv_bytes(&self.session, spec.prompt_tokens, spec.gen_tokens);
        Ok(ModelBenchResult {
            phases: vec![
                phase(Phase::Prefill, spec.prompt_tokens, self.prefill)?,
                phase(Phase::Decode, spec.gen_tokens, self.decode)?,
            ],
            decode_profile: decode_shares(
                self.model,
                &self.profile,
                spec.gen_tokens * spec.reps,
                kv_bytes_per_token,
            ),
            // A prompt token's share of a prefill's weight reads is no streaming rate.
            prefill_profile: shares(
                &self.prefill_profile,
                spec.prompt_tokens * spec.reps,
                |_| None,
            ),
            kernel_ids: self
                .session
                .kernel_ids()
                .into_iter()
                .map(String::from)
                .collect(),
            kv_bytes_per_token,
            decode_window_read: self.window_read,
        })
    }
}

/// Runs warm-up and `spec.reps` timed repetitions; `progress(rep)` is called before each.
pub fn run(
    model: &BitnetModel,
    engine: &I2sGemm,
    spec: ModelBenchSpec,
    progress: &dyn Fn(&str),
) -> Result<ModelBenchResult> {
    progress("warm-up");
    let mut runner = Runner::new(model, engine, spec)?;
    for rep in 0..spec.reps {
        runner.rep(&format!("repetition {}/{}: ", rep + 1, spec.reps), progress)?;
    }
    runner.finish()
}

/// Repetition `rep` (from 0) of two interleaved sides: `a` then `b` when `rep` is even, `b`
/// then `a` when odd (A B B A A B …), so a host whose speed drifts during a run moves both
/// sides alike.
fn abba(
    rep: usize,
    mut a: impl FnMut() -> Result<()>,
    mut b: impl FnMut() -> Result<()>,
) -> Result<()> {
    if rep.is_multiple_of(2) {
        a()?;
        b()
    } else {
        b()?;
        a()
    }
}

/// Like [`run`], with `peer(label)` (another engine's run on the same file, one prefill and one
/// decode per call) between the repetitions, ordered A P P A A P …, so a host whose speed drifts
/// during the run moves both alike.
pub fn run_with_peer(
    model: &BitnetModel,
    engine: &I2sGemm,
    spec: ModelBenchSpec,
    progress: &dyn Fn(&str),
    peer: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<ModelBenchResult> {
    progress("warm-up");
    let mut runner = Runner::new(model, engine, spec)?;
    for rep in 0..spec.reps {
        let label = |side: &str| format!("repetition {}/{} ({side}): ", rep + 1, spec.reps);
        abba(
            rep,
            || runner.rep(&label("perfd"), progress),
            || peer(&label("peer")),
        )?;
    }
    runner.finish()
}

/// Like [`run`] for two models in one process. The prefills of a repetition run A B, then B A in
/// the next (A B B A …); the decode steps alternate a token at a time in the same pattern, each
/// side's repetition the sum of its own steps. So both sides decode in the same memory windows:
/// on a host whose bandwidth switches between phases within seconds (the Zen 5 VM: 45–75 GB/s),
/// Q6_K against F16 embeddings gave per-pair decode ratios of 1.27–1.56× over 7 whole
/// interleaved repetitions, and 1.42–1.50× with tokens alternating. The candidate's sessions hold
/// a `candidate_kv_cache` cache.
pub fn run_pair(
    baseline: (&BitnetModel, &I2sGemm),
    candidate: (&BitnetModel, &I2sGemm),
    spec: ModelBenchSpec,
    candidate_kv_cache: KvCacheType,
    progress: &dyn Fn(&str),
) -> Result<(ModelBenchResult, ModelBenchResult)> {
    progress("warm-up");
    let mut a = Runner::new(baseline.0, baseline.1, spec)?;
    let candidate_spec = ModelBenchSpec {
        kv_cache: candidate_kv_cache,
        ..spec
    };
    let mut b = Runner::new(candidate.0, candidate.1, candidate_spec)?;
    for rep in 0..spec.reps {
        let label = format!("repetition {}/{}: ", rep + 1, spec.reps);
        progress(&format!(
            "{label}prefill {} tokens, baseline and candidate",
            spec.prompt_tokens
        ));
        abba(rep, || a.prefill(), || b.prefill())?;
        progress(&format!(
            "{label}decode {} tokens each, alternating",
            spec.gen_tokens
        ));
        for step in 0..spec.gen_tokens {
            abba(rep + step, || a.decode_step(), || b.decode_step())?;
        }
        a.end_decode()?;
        b.end_decode()?;
    }
    Ok((a.finish()?, b.finish()?))
}

/// One run of another engine, given a progress label (it pools what it measured itself).
pub type PeerRunner<'a> = dyn FnMut(&str) -> Result<()> + 'a;

/// One model's decode at one cache depth, a repetition at a time (so that two engines' or two
/// models' repetitions can interleave).
struct ContextRunner<'m> {
    model: &'m BitnetModel,
    engine: &'m I2sGemm,
    session: Session<'m>,
    spec: ModelBenchSpec,
    positions: usize,
    prompt: Vec<u32>,
    tps: Vec<f64>,
    reads: Vec<f64>,
    profile: OpProfile,
    /// The repetition in progress.
    clock: DecodeClock,
}

impl<'m> ContextRunner<'m> {
    fn new(
        model: &'m BitnetModel,
        engine: &'m I2sGemm,
        spec: ModelBenchSpec,
        positions: usize,
    ) -> Result<Self> {
        if positions == 0 {
            bail!("a context position must be at least 1");
        }
        let session = Session::new(model, engine, positions + spec.gen_tokens)
            .with_context(|| format!("create an inference session of {positions} positions"))?
            .with_kv_cache(spec.kv_cache);
        Ok(Self {
            model,
            engine,
            session,
            spec,
            positions,
            prompt: prompt(model.hparams().vocab, spec.prompt_tokens.min(positions)),
            tps: Vec::with_capacity(spec.reps),
            reads: Vec::with_capacity(spec.reps),
            profile: OpProfile::default(),
            clock: DecodeClock::default(),
        })
    }

    /// Fills the cache to the depth and decodes: one token untimed (`timed` false: the warm-up,
    /// which touches the cache and the weights), or `gen_tokens` timed, then a read pass.
    fn rep(&mut self, timed: bool) -> Result<()> {
        self.fill()?;
        if !timed {
            return self.decode_step();
        }
        for _ in 0..self.spec.gen_tokens {
            self.decode_step()?;
        }
        self.end_decode()
    }

    /// Fills the cache to the depth: the start of a repetition.
    fn fill(&mut self) -> Result<()> {
        self.session.reset();
        let token = argmax(&self.session.forward(&self.prompt, false)?);
        self.session.extend_by_repeating(self.positions)?;
        self.session.reset_profile();
        self.clock = DecodeClock::start(token);
        Ok(())
    }

    /// One timed greedy decode step of the repetition in progress.
    fn decode_step(&mut self) -> Result<()> {
        Ok(self.clock.step(&mut self.session)?)
    }

    /// Ends the repetition: `gen_tokens` in its decode time, its profile and the window's read
    /// rate.
    fn end_decode(&mut self) -> Result<()> {
        self.tps
            .push(self.spec.gen_tokens as f64 / self.clock.seconds());
        self.profile.add_all(self.session.profile());
        self.reads.push(window_read(self.model, self.engine)?);
        Ok(())
    }

    fn finish(self) -> Result<ContextRun> {
        let (positions, spec) = (self.positions, self.spec);
        let kv_bytes_per_token = mean_kv_bytes(&self.session, positions, spec.gen_tokens);
        Ok(ContextRun {
            positions,
            tokens_per_second: Summary::of(self.tps)
                .with_context(|| format!("context {positions}: no valid timing"))?,
            kv_bytes_per_token,
            window_read: self.reads,
            decode_profile: decode_shares(
                self.model,
                &self.profile,
                spec.gen_tokens * spec.reps,
                kv_bytes_per_token,
            ),
        })
    }
}

/// Decode of `spec.gen_tokens` tokens starting at `positions`, `spec.reps` times. The cache is
/// filled by a real prefill of up to `spec.prompt_tokens` tokens, then with copies of their keys
/// and values up to `positions` ([`Session::extend_by_repeating`]: attention's cost depends on
/// the number of positions, not their values, and a 4096-token prefill would take minutes).
/// With `peer`, another engine's run at the same depth goes between the repetitions, ordered
/// A P P A … as in [`run_with_peer`].
pub fn run_at_context(
    model: &BitnetModel,
    engine: &I2sGemm,
    spec: ModelBenchSpec,
    positions: usize,
    progress: &dyn Fn(&str),
    mut peer: Option<&mut PeerRunner<'_>>,
) -> Result<ContextRun> {
    let mut runner = ContextRunner::new(model, engine, spec, positions)?;
    progress(&format!("context {positions}: warm-up"));
    runner.rep(false)?;
    for rep in 0..spec.reps {
        let label = |side: &str| {
            format!(
                "context {positions}: repetition {}/{} ({side}): ",
                rep + 1,
                spec.reps
            )
        };
        abba(
            rep,
            || {
                progress(&label("perfd"));
                runner.rep(true)
            },
            || peer.as_mut().map_or(Ok(()), |p| p(&label("peer"))),
        )?;
    }
    runner.finish()
}

/// Like [`run_at_context`] for two models in one process, their decode steps alternating a token
/// at a time as in [`run_pair`] (the cache fills A B B A …); the candidate's sessions hold a
/// `candidate_kv_cache` cache.
pub fn run_pair_at_context(
    baseline: (&BitnetModel, &I2sGemm),
    candidate: (&BitnetModel, &I2sGemm),
    spec: ModelBenchSpec,
    candidate_kv_cache: KvCacheType,
    positions: usize,
    progress: &dyn Fn(&str),
) -> Result<(ContextRun, ContextRun)> {
    let mut a = ContextRunner::new(baseline.0, baseline.1, spec, positions)?;
    let candidate_spec = ModelBenchSpec {
        kv_cache: candidate_kv_cache,
        ..spec
    };
    let mut b = ContextRunner::new(candidate.0, candidate.1, candidate_spec, positions)?;
    progress(&format!("context {positions}: warm-up"));
    a.rep(false)?;
    b.rep(false)?;
    for rep in 0..spec.reps {
        progress(&format!(
            "context {positions}: repetition {}/{}, baseline and candidate alternating",
            rep + 1,
            spec.reps
        ));
        abba(rep, || a.fill(), || b.fill())?;
        for step in 0..spec.gen_tokens {
            abba(rep + step, || a.decode_step(), || b.decode_step())?;
        }
        a.end_decode()?;
        b.end_decode()?;
    }
    Ok((a.finish()?, b.finish()?))
}
