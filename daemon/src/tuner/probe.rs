//! How the tuner checks and times a candidate. [`Probe`] is the seam: [`EngineProbe`] runs
//! perfd's own kernels in this process (candidate and incumbent interleaved, decode a token at a
//! time, so a pair shares the host's state of the moment); a harness-backed probe can time other
//! engines.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bitnet_kernels::cpu::KvCacheType;
use bitnet_kernels::model::forward::argmax;
use bitnet_kernels::model::{BitnetModel, DecodeClock, ModelError, Session};
use bitnet_kernels::synthetic::{random_activations, random_matrix};
use bitnet_kernels::{I2sGemm, I2sMatrix, KernelConfig, KernelError, QuantizedActivations};

use super::guard::{self, GuardReport, ModelReference};
use super::objective::Objective;
use super::space::Candidate;

/// Why a probe could not check or time a candidate (not a failed check: that is a report).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The kernels refused the configuration or inputs.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The forward pass failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A harness process failed.
    #[error("{0}")]
    Harness(String),
}

/// Checks and times candidates for one objective.
pub trait Probe {
    /// Whether the candidate is a valid configuration (domains and constraints), without running it.
    fn validate(&self, candidate: &Candidate) -> Result<(), String>;
    /// Runs the cross-validation guard on the candidate.
    fn guard(&mut self, candidate: &Candidate) -> Result<GuardReport, ProbeError>;
    /// Times incumbent and candidate back to back (candidate first when `candidate_first`):
    /// `(incumbent, candidate)` in objective units, higher is better.
    fn pair(
        &mut self,
        incumbent: &Candidate,
        candidate: &Candidate,
        candidate_first: bool,
    ) -> Result<(f64, f64), ProbeError>;
    /// One sample of a candidate alone (exhaustive comparisons; the search only uses pairs).
    fn sample(&mut self, candidate: &Candidate) -> Result<f64, ProbeError>;
    /// Parameters the candidate's kernels do not read for this objective: racing one compares
    /// noise. None known by default (a harness's engine is a black box).
    fn unread(&self, _candidate: &Candidate) -> Vec<String> {
        Vec::new()
    }
}

/// Times `incumbent` and `candidate` back to back, the candidate first when asked; returns
/// `(incumbent, candidate)`. Alternating the order across pairs cancels a drift within a pair.
pub fn in_order<C, E>(
    candidate_first: bool,
    incumbent: C,
    candidate: C,
    mut time: impl FnMut(C) -> Result<f64, E>,
) -> Result<(f64, f64), E> {
    if candidate_first {
        let b = time(candidate)?;
        Ok((time(incumbent)?, b))
    } else {
        let a = time(incumbent)?;
        Ok((a, time(candidate)?))
    }
}

/// Builds the engine of a configuration (tests plant wrong kernels through it).
pub type EngineFactory = Box<dyn Fn(KernelConfig) -> Result<I2sGemm, KernelError>>;

/// Engines kept warm at once: each holds a thread pool, and an exhaustive run visits hundreds.
const MAX_WARM_ENGINES: usize = 12;

/// Target duration of one timed sample: long enough that timer and scheduler jitter are small,
/// short enough that many pairs fit a budget.
const SAMPLE_SECS: f64 = 0.15;

/// perfd's own kernels, in this process.
pub struct EngineProbe {
    objective: Objective,
    model: Option<BitnetModel>,
    /// The model check's reference per numerics the candidates run in (at most two: the SIMD
    /// attention's and f64's), each computed on first need.
    references: Vec<ModelReference>,
    guard_steps: usize,
    make: EngineFactory,
    engines: HashMap<Candidate, I2sGemm>,
    gemv: Option<(I2sMatrix, QuantizedActivations)>,
    /// Work per sample (decode tokens, prefill prompt length, GEMV calls), set on first use.
    work: Option<usize>,
}

impl EngineProbe {
    /// A probe of `objective` on `model` (needed for decode and prefill; with a model, the guard
    /// also runs the model check over `guard_steps` greedy tokens).
    pub fn new(
        objective: Objective,
        model: Option<BitnetModel>,
        guard_steps: usize,
        make: EngineFactory,
    ) -> Result<Self, ProbeError> {
        let gemv = match objective {
            Objective::Kernel { rows, cols } => {
                let w = random_matrix(rows, cols, 7)?;
                let x = random_activations(1, cols, 8);
                Some((w, QuantizedActivations::quantize(&x, 1, cols)?))
            }
            Objective::Decode | Objective::Prefill => {
                if model.is_none() {
                    return Err(ProbeError::Harness(format!(
                        "the {objective} objective needs a model"
                    )));
                }
                None
            }
        };
        Ok(Self {
            objective,
            model,
            references: Vec::new(),
            guard_steps,
            make,
            engines: HashMap::new(),
            gemv,
            work: None,
        })
    }

    /// The engine of `c`, created (and warmed up) on first use.
    fn engine(&mut self, c: &Candidate, keep: &Candidate) -> Result<&I2sGemm, ProbeError> {
        if !self.engines.contains_key(c) {
            if self.engines.len() >= MAX_WARM_ENGINES {
                self.engines.retain(|k, _| k == keep);
            }
            let config = KernelConfig::default()
                .with_params(&c.to_string())
                .map_err(ProbeError::Kernel)?;
            let engine = (self.make)(config)?;
            // Warm-up: page in the weights, start the pool, settle the clocks.
            self.sample_on(&engine, 1)?;
            self.engines.insert(c.clone(), engine);
        }
        self.engines
            .get(c)
            .ok_or_else(|| ProbeError::Harness("engine cache lost an entry".into()))
    }

    /// One timed sample of `work` units on `engine`: (units per second).
    fn sample_on(&self, engine: &I2sGemm, work: usize) -> Result<f64, ProbeError> {
        let work = work.max(1);
        match (self.objective, &self.model, &self.gemv) {
            (Objective::Decode, Some(m), _) => {
                let (mut s, mut token) = decode_session(m, engine, work)?;
                let t = Instant::now();
                for _ in 0..work {
                    token = argmax(&s.decode(token)?);
                }
                Ok(work as f64 / t.elapsed().as_secs_f64())
            }
            (Objective::Prefill, Some(m), _) => {
                let prompt: Vec<u32> = (0..work as u32).map(|i| 1 + i % 64).collect();
                let mut s =
                    Session::new(m, engine, work)?.with_kv_cache(KvCacheType::BENCH_DEFAULT);
                let t = Instant::now();
                s.forward(&prompt, false)?;
                Ok(work as f64 / t.elapsed().as_secs_f64())
            }
            (Objective::Kernel { rows, .. }, _, Some((w, acts))) => {
                let mut out = vec![0f32; rows];
                let view = w.view();
                let t = Instant::now();
                for _ in 0..work {
                    engine.gemm_into(&view, acts, &mut out)?;
                }
                Ok(work as f64 / t.elapsed().as_secs_f64())
            }
            _ => Err(ProbeError::Harness(format!(
                "the {} objective has nothing to run",
                self.objective
            ))),
        }
    }

    /// Work per sample: sized on the first engine so a sample lasts about [`SAMPLE_SECS`].
    fn work(&mut self, engine_of: &Candidate) -> Result<usize, ProbeError> {
        if let Some(w) = self.work {
            return Ok(w);
        }
        self.engine(engine_of, engine_of)?;
        let engine = &self.engines[engine_of];
        let probe = match self.objective {
            Objective::Kernel { .. } => 16,
            Objective::Decode => 2,
            Objective::Prefill => 8,
        };
        let rate = self.sample_on(engine, probe)?;
        // A decode sample holds its prompt token and `work` generated ones in the KV cache.
        let context = self.model.as_ref().map_or(1, |m| m.hparams().context);
        let limit = match self.objective {
            Objective::Kernel { .. } => 1 << 20,
            Objective::Decode => context.saturating_sub(1).max(1),
            Objective::Prefill => context.max(1),
        };
        let w = ((rate * SAMPLE_SECS) as usize).clamp(probe, limit);
        self.work = Some(w);
        Ok(w)
    }
}

impl Probe for EngineProbe {
    fn validate(&self, candidate: &Candidate) -> Result<(), String> {
        KernelConfig::default()
            .with_params(&candidate.to_string())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn guard(&mut self, candidate: &Candidate) -> Result<GuardReport, ProbeError> {
        let config = KernelConfig::default()
            .with_params(&candidate.to_string())
            .map_err(ProbeError::Kernel)?;
        // A fresh engine, not the cached (warmed) one: the guard must see exactly what the
        // factory builds for this configuration.
        let engine = (self.make)(config)?;
        let Some(m) = &self.model else {
            return guard::check(&engine, None);
        };
        let numerics = Session::default_numerics(m, &engine);
        let at = match self
            .references
            .iter()
            .position(|r| r.numerics() == numerics)
        {
            Some(at) => at,
            None => {
                let r = ModelReference::compute(m, self.guard_steps, numerics)?;
                self.references.push(r);
                self.references.len() - 1
            }
        };
        guard::check(&engine, Some((m, &self.references[at])))
    }

    fn pair(
        &mut self,
        incumbent: &Candidate,
        candidate: &Candidate,
        candidate_first: bool,
    ) -> Result<(f64, f64), ProbeError> {
        let work = self.work(incumbent)?;
        self.engine(incumbent, candidate)?;
        self.engine(candidate, incumbent)?;
        let (a, b) = (&self.engines[incumbent], &self.engines[candidate]);
        if let (Objective::Decode, Some(m)) = (self.objective, &self.model) {
            return decode_pair(m, (a, b), work, candidate_first);
        }
        in_order(candidate_first, a, b, |e| self.sample_on(e, work))
    }

    fn sample(&mut self, candidate: &Candidate) -> Result<f64, ProbeError> {
        let work = self.work(candidate)?;
        self.engine(candidate, candidate)?;
        self.sample_on(&self.engines[candidate], work)
    }

    fn unread(&self, candidate: &Candidate) -> Vec<String> {
        let Ok(config) = KernelConfig::default().with_params(&candidate.to_string()) else {
            return Vec::new();
        };
        let layout = match (&self.model, &self.gemv) {
            (Some(m), _) => m.weight_layout(),
            (None, Some((w, _))) => w.layout(),
            (None, None) => return Vec::new(),
        };
        // Decode and the kernel objective's GEMV are one-token calls.
        let one_token = !matches!(self.objective, Objective::Prefill);
        let mut unread = config.unread_params(layout, one_token);
        // A GEMV runs no attention, and the decode and prefill samples start from an empty
        // cache: their attention reads a few hundred KB a token, where the hint was measured to
        // matter from ~1000 positions on (`perfd bench --ctx … --compare-params` measures it).
        unread.push("kv_prefetch_hint");
        unread.into_iter().map(String::from).collect()
    }
}

/// A session for a decode sample of `work` tokens, its prompt token fed: the session and the
/// first token to decode.
fn decode_session<'m>(
    model: &'m BitnetModel,
    engine: &'m I2sGemm,
    work: usize,
) -> Result<(Session<'m>, u32), ProbeError> {
    let mut session =
        Session::new(model, engine, 1 + work)?.with_kv_cache(KvCacheType::BENCH_DEFAULT);
    let token = argmax(&session.forward(&[1], false)?);
    Ok((session, token))
}

/// A decode sample of `work` tokens on each of two engines, their steps alternating a token at a
/// time (`b` first in even steps when `b_first`, then the order flips each step): `(a, b)` in
/// tokens/s, each over its own steps' time. Back-to-back samples of a few tenths of a second can
/// straddle a switch of the host's memory phase (the Zen 5 VM moves between ~45 and ~75 GB/s
/// within seconds); alternating tokens puts both sides in the same windows (the same scheme as
/// `perfd bench --compare-*`).
fn decode_pair(
    model: &BitnetModel,
    (a, b): (&I2sGemm, &I2sGemm),
    work: usize,
    b_first: bool,
) -> Result<(f64, f64), ProbeError> {
    let work = work.max(1);
    let mut sides = Vec::with_capacity(2);
    for engine in [a, b] {
        let (session, token) = decode_session(model, engine, work)?;
        sides.push((session, DecodeClock::start(token)));
    }
    for step in 0..work {
        let order = if (step % 2 == 0) == b_first {
            [1, 0]
        } else {
            [0, 1]
        };
        for i in order {
            let (session, clock) = &mut sides[i];
            clock.step(session)?;
        }
    }
    let rate = |i: usize| work as f64 / sides[i].1.seconds();
    Ok((rate(0), rate(1)))
}

/// Seconds left until `deadline` (zero when past).
pub fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
