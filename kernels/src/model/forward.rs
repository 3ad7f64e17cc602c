//! The BitNet b1.58 forward pass over a KV cache: prefill (a batch of prompt tokens through the
//! small-batch GEMM) and decode (one token through the GEMV), greedy sampling on the logits.
//!
//! Per layer: attn_norm → Q,K,V (ternary, int8 activations) → RoPE → GQA attention →
//! attn_sub_norm → O → residual; ffn_norm → gate, up → relu(gate)²·up (silu(gate)·up for llama.cpp's `bitnet`) → ffn_sub_norm → down →
//! residual. Then output_norm and the tied embedding (F16, Q8_0 or Q6_K) as lm_head.

use std::time::Instant;

use crate::activation::QuantizedActivations;
use crate::cpu::attention::{self, AttentionShape, KvHeads};
use crate::cpu::embedding_gemv::{self, Prefetch};
use crate::cpu::kv_element::{KvCacheType, KvElement};
use crate::cpu::prefetch::prefetch_slice;
use crate::cpu::worker_pool::WorkerPool;
use crate::gemm::I2sGemm;
use crate::model::error::ModelError;
use crate::model::hparams::BitnetHparams;
use crate::model::kv_cache::{KvBuffers, KvCache};
use crate::model::op_profile::{Op, OpProfile};
use crate::model::rms_norm::{rms_norm, rms_norm_rows};
use crate::model::rope::RopeTable;
use crate::model::weights::{BitnetModel, Proj};

/// The attention shape of a model.
fn attention_shape(hp: &BitnetHparams) -> AttentionShape {
    AttentionShape {
        heads: hp.heads,
        kv_heads: hp.kv_heads,
        head_dim: hp.head_dim(),
    }
}

/// Index of the largest logit (the lowest index among equal maxima); NaN never wins (0 when
/// every logit is NaN).
///
/// Two passes the compiler vectorises: the maximum over 16 lanes (`v > lane` keeps a lane
/// against NaN, as `vmaxps` does), then the first position holding it. Why: a greedy decode step
/// picks its token from 128 256 logits, and the branchy one-pass scan took 450 µs of a 23 ms
/// 2B-4T token on the Zen 5 VM (its branch mispredicted on random logits); this takes 35 µs.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let chunks = logits.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = if v > *l { v } else { *l };
        }
    }
    let m = lanes
        .into_iter()
        .chain(tail.iter().copied())
        .fold(f32::NEG_INFINITY, |a, v| if v > a { v } else { a });
    logits.iter().position(|&v| v == m).unwrap_or(0) as u32
}

/// Floating-point choices of the attention and lm_head (the ternary matmuls and the int8
/// activation quantisation are exact integer arithmetic either way). The KV cache's element type
/// is a choice of its own ([`Session::with_kv_cache`], f32 unless asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numerics {
    /// Attention in f64: independent of summation order. The scalar reference engine's (the
    /// oracle's) choice.
    Exact,
    /// Attention in f32 with a fixed order of operations
    /// ([`crate::cpu::attention`]): the default of engines with the AVX-512 attention kernel.
    /// The model cross-validation runs the scalar reference with the same numerics (the kernel's
    /// scalar twin); the algorithm is checked against f64 attention and against numpy.
    Fast,
    /// bitnet.cpp's (ggml's) rounding points: keys and values rounded to F16 as its F16 KV cache
    /// stores them (whatever this session's cache holds) and Q rounded to F16 for Q·Kᵀ; for a
    /// single-token evaluation also the softmax probabilities before P·V and the normed hidden
    /// state before the F16 lm_head rounded to F16 (ggml converts them to the weights' type).
    GgmlF16,
}

/// Rounds every value to the nearest F16 (kept as f32).
fn round_f16(v: &mut [f32]) {
    v.iter_mut()
        .for_each(|x| *x = half::f16::from_f32(*x).to_f32());
}

/// An inference session: one sequence, its KV cache and scratch buffers.
#[derive(Debug)]
pub struct Session<'m> {
    model: &'m BitnetModel,
    engine: &'m I2sGemm,
    numerics: Numerics,
    kv: KvCache,
    rope: RopeTable,
    pos: usize,
    acts: Option<QuantizedActivations>,
    profile: OpProfile,
}

impl<'m> Session<'m> {
    /// A session for sequences of up to `max_positions` tokens, computing with `engine`.
    pub fn new(
        model: &'m BitnetModel,
        engine: &'m I2sGemm,
        max_positions: usize,
    ) -> Result<Self, ModelError> {
        let hp = model.hparams();
        if max_positions == 0 || max_positions > hp.context {
            return Err(ModelError::Context {
                needed: max_positions,
                limit: hp.context,
            });
        }
        Ok(Self {
            model,
            engine,
            numerics: Self::default_numerics(model, engine),
            kv: KvCache::new(
                KvCacheType::F32,
                hp.layers,
                hp.kv_heads,
                hp.head_dim(),
                max_positions,
            ),
            rope: RopeTable::new(hp.head_dim(), max_positions, hp.rope_base),
            pos: 0,
            acts: None,
            profile: OpProfile::default(),
        })
    }

    /// The numerics a new session of `engine` on `model` computes with: the SIMD attention where
    /// the engine has it; elsewhere f64 attention, exact and no slower than the SIMD kernel's
    /// scalar emulation. A check of an engine against the reference must run the reference in
    /// these numerics (see [`crate::model::model_crossval`]).
    pub fn default_numerics(model: &BitnetModel, engine: &I2sGemm) -> Numerics {
        if attention::has_simd_kernel(engine.isa(), attention_shape(model.hparams())) {
            Numerics::Fast
        } else {
            Numerics::Exact
        }
    }

    /// The same session computing with `numerics`.
    pub fn with_numerics(mut self, numerics: Numerics) -> Self {
        self.numerics = numerics;
        self
    }

    /// The floating-point choices this session computes with.
    pub fn numerics(&self) -> Numerics {
        self.numerics
    }

    /// The same session with its KV cache holding `kind` (an empty cache: the sequence starts
    /// over). F16 halves the bytes every decoded token reads per cached position, and what the
    /// cache holds in memory, for one rounding of each key and value.
    pub fn with_kv_cache(mut self, kind: KvCacheType) -> Self {
        if kind != self.kv.kind() {
            let hp = self.model.hparams();
            let capacity = self.kv.capacity();
            self.kv = KvCache::new(kind, hp.layers, hp.kv_heads, hp.head_dim(), capacity);
        }
        self.pos = 0;
        self
    }

    /// The element type of this session's KV cache.
    pub fn kv_cache(&self) -> KvCacheType {
        self.kv.kind()
    }

    /// Tokens fed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves a sequence of at least one token on to `positions` by filling the cache between with
    /// copies of its keys and values, cyclically. For benchmarks of decode at long contexts: what
    /// attention costs depends on the number of positions, not on their values, and this avoids a
    /// prefill of thousands of tokens. The logits that follow are not a real model's.
    pub fn extend_by_repeating(&mut self, positions: usize) -> Result<(), ModelError> {
        if self.pos == 0 {
            return Err(ModelError::EmptySequence);
        }
        if positions > self.kv.capacity() {
            return Err(ModelError::Context {
                needed: positions,
                limit: self.kv.capacity(),
            });
        }
        if positions > self.pos {
            self.kv.repeat_prefix(self.pos, positions);
            self.pos = positions;
        }
        Ok(())
    }

    /// Bytes of KV cache a token at position `p` reads: `p + 1` positions of keys and values in
    /// every layer (decode's memory traffic on top of the weights).
    pub fn kv_bytes_read_at(&self, p: usize) -> u64 {
        self.kv.bytes_per_position() * (p as u64 + 1)
    }

    /// Starts a new sequence (the cache is overwritten as positions are reused).
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Time per operation since the last [`OpProfile::reset`].
    pub fn profile(&self) -> &OpProfile {
        &self.profile
    }

    /// Clears the per-operation timers.
    pub fn reset_profile(&mut self) {
        self.profile.reset();
    }

    /// Kernel ids this session executes.
    pub fn kernel_ids(&self) -> Vec<&'static str> {
        let attention = match self.numerics {
            Numerics::Fast => attention::kernel_id(self.engine.isa(), self.attention_shape()),
            Numerics::Exact | Numerics::GgmlF16 => "attention_f64",
        };
        let mut ids = vec![self.engine.kernel_id()];
        ids.extend(self.engine.batch_kernel_id());
        ids.extend([
            embedding_gemv::kernel_id_of(self.engine.isa(), &self.model.embedding_rows()),
            attention,
        ]);
        ids
    }

    /// Feeds one token and returns its logits.
    pub fn decode(&mut self, token: u32) -> Result<Vec<f32>, ModelError> {
        self.forward(&[token], false)
    }

    /// Feeds `tokens` at the next positions. Returns the logits of the last token, or of every
    /// token (`[token][vocab]`) when `all_logits` is set.
    pub fn forward(&mut self, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, ModelError> {
        // On a pool worker, each of the ~150 parallel calls of a decode step starts from a
        // worker instead of waking one and then sleeping until woken back: a round trip measured
        // 8–15 µs from outside the pool and 1–4 µs from inside on the Emerald Rapids VM (KVM,
        // no guest halt-polling), and 2b4t decode 1.032× (median of 11 paired rounds in one
        // process).
        let engine = self.engine;
        engine
            .pool()
            .run(|| self.forward_on_this_thread(tokens, all_logits))
    }

    /// [`Self::forward`] on the calling thread.
    fn forward_on_this_thread(
        &mut self,
        tokens: &[u32],
        all_logits: bool,
    ) -> Result<Vec<f32>, ModelError> {
        let hp = *self.model.hparams();
        let n = tokens.len();
        if n == 0 || self.pos + n > self.kv.capacity() {
            return Err(ModelError::Context {
                needed: self.pos + n,
                limit: self.kv.capacity(),
            });
        }
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= hp.vocab) {
            return Err(ModelError::Token {
                token,
                vocab: hp.vocab,
            });
        }
        let (h, kvd, f) = (hp.hidden, hp.kv_dim(), hp.ffn);
        let mut t0 = Instant::now();
        // Small per-layer data (norm weights, 10–27 KB; the KV rows a token stores; its RoPE
        // row) has left the caches since the last token, pushed out by ~1 GB of weights: each
        // is prefetched one step before the step that touches it, so its misses overlap a GEMV
        // instead of stalling a single-threaded step. 2b4t decode on the Zen 5 VM, per token:
        // norm_quant 0.26–0.32 → 0.19–0.23 ms, RoPE and the KV store 0.12–0.14 → 0.05–0.07 ms.
        prefetch_slice(&self.model.layers[0].attn_norm);

        let embd = self.model.embedding_rows();
        let mut x = Vec::with_capacity(n * h);
        for &tok in tokens {
            embd.append_row(tok as usize, &mut x);
        }
        t0 = self.profile.lap(Op::Embed, t0);

        let mut hbuf = vec![0f32; n * h];
        let (mut q, mut k, mut v) = (vec![0f32; n * h], vec![0f32; n * kvd], vec![0f32; n * kvd]);
        let mut attn = vec![0f32; n * h];
        let mut proj = vec![0f32; n * h];
        let (mut g, mut u) = (vec![0f32; n * f], vec![0f32; n * f]);
        let mut acts = self.acts.take();
        let pool = self.engine.pool();

        for l in 0..hp.layers {
            let w = &self.model.layers[l];
            rms_norm_rows(pool, &x, &w.attn_norm, hp.rms_eps, &mut hbuf);
            let a = quantize(pool, &mut acts, &hbuf, n, h)?;
            t0 = self.profile.lap(Op::NormQuant, t0);
            if n == 1 {
                self.kv.prefetch_position(l, self.pos);
                self.rope.prefetch(self.pos);
            }
            self.engine.gemm_many_into(
                &mut [
                    (self.model.proj(l, Proj::Q), &mut q),
                    (self.model.proj(l, Proj::K), &mut k),
                    (self.model.proj(l, Proj::V), &mut v),
                ],
                a,
            )?;
            t0 = self.profile.lap(Op::Qkv, t0);
            prefetch_slice(&w.attn_sub_norm);

            let ggml = self.numerics == Numerics::GgmlF16;
            for t in 0..n {
                let p = self.pos + t;
                self.rope.apply(&mut q[t * h..(t + 1) * h], p);
                self.rope.apply(&mut k[t * kvd..(t + 1) * kvd], p);
                if ggml {
                    round_f16(&mut q[t * h..(t + 1) * h]);
                    round_f16(&mut k[t * kvd..(t + 1) * kvd]);
                    round_f16(&mut v[t * kvd..(t + 1) * kvd]);
                }
                self.kv
                    .store(l, p, &k[t * kvd..(t + 1) * kvd], &v[t * kvd..(t + 1) * kvd]);
            }
            self.attend(l, self.pos + 1, &q, ggml && n == 1, &mut attn);
            t0 = self.profile.lap(Op::Attention, t0);

            rms_norm_rows(pool, &attn, &w.attn_sub_norm, hp.rms_eps, &mut hbuf);
            let a = quantize(pool, &mut acts, &hbuf, n, h)?;
            t0 = self.profile.lap(Op::NormQuant, t0);
            prefetch_slice(&w.ffn_norm);
            self.engine
                .gemm_into(&self.model.proj(l, Proj::O), a, &mut proj)?;
            x.iter_mut().zip(&proj).for_each(|(xi, &o)| *xi += o);
            t0 = self.profile.lap(Op::OProj, t0);

            rms_norm_rows(pool, &x, &w.ffn_norm, hp.rms_eps, &mut hbuf);
            let a = quantize(pool, &mut acts, &hbuf, n, h)?;
            t0 = self.profile.lap(Op::NormQuant, t0);
            prefetch_slice(&w.ffn_sub_norm);
            self.engine.gemm_many_into(
                &mut [
                    (self.model.proj(l, Proj::Gate), &mut g),
                    (self.model.proj(l, Proj::Up), &mut u),
                ],
                a,
            )?;
            hp.arch.ffn_activation().gate_times_up(&mut g, &u);
            t0 = self.profile.lap(Op::GateUp, t0);

            rms_norm_rows(pool, &g, &w.ffn_sub_norm, hp.rms_eps, &mut u);
            let a = quantize(pool, &mut acts, &u, n, f)?;
            t0 = self.profile.lap(Op::NormQuant, t0);
            prefetch_slice(match self.model.layers.get(l + 1) {
                Some(next) => &next.attn_norm,
                None => &self.model.output_norm,
            });
            self.engine
                .gemm_into(&self.model.proj(l, Proj::Down), a, &mut proj)?;
            x.iter_mut().zip(&proj).for_each(|(xi, &d)| *xi += d);
            t0 = self.profile.lap(Op::Down, t0);
        }
        self.acts = acts;
        self.pos += n;

        let first = if all_logits { 0 } else { n - 1 };
        let mut logits = vec![0f32; (n - first) * hp.vocab];
        let mut xn = vec![0f32; h];
        let tile = self.engine.config().tile();
        let prefetch = Prefetch {
            bytes: tile.prefetch_bytes,
            hint: tile.prefetch_hint,
        };
        for (row, out) in x
            .chunks_exact(h)
            .skip(first)
            .zip(logits.chunks_exact_mut(hp.vocab))
        {
            rms_norm(row, &self.model.output_norm, hp.rms_eps, &mut xn);
            if self.numerics == Numerics::GgmlF16 && n == 1 {
                round_f16(&mut xn);
            }
            embedding_gemv::gemv_rows_of(
                self.engine.isa(),
                self.engine.pool(),
                prefetch,
                &embd,
                &xn,
                out,
            );
        }
        self.profile.lap(Op::LmHead, t0);
        Ok(logits)
    }

    fn attention_shape(&self) -> AttentionShape {
        attention_shape(self.model.hparams())
    }

    /// Grouped-query attention of consecutive query rows (`hidden` floats each) over layer `l`'s
    /// cache: row t over positions `0..first_ctx + t`, heads split over the worker pool.
    ///
    /// [`Numerics::Fast`] runs the f32 kernel, a prompt's rows together
    /// ([`attention::attend_causal`]: each block of the cache read once per pass over up to
    /// [`attention::CAUSAL_TOKENS`] rows, each row the bits it would get alone). Otherwise scores,
    /// softmax and the weighted sum run in f64, a row at a time: cheap next to the weight
    /// streaming, and independent of summation order to the last f32 bit, which keeps int8
    /// rounding downstream identical to other implementations. With `f16_probabilities` the
    /// softmax weights are rounded to F16 before P·V (ggml's single-token path).
    fn attend(
        &self,
        l: usize,
        first_ctx: usize,
        q: &[f32],
        f16_probabilities: bool,
        out: &mut [f32],
    ) {
        match &self.kv {
            KvCache::F32(kv) => self.attend_in(kv, l, first_ctx, q, f16_probabilities, out),
            KvCache::F16(kv) => self.attend_in(kv, l, first_ctx, q, f16_probabilities, out),
        }
    }

    /// [`Self::attend`] over a cache of element type `E`.
    fn attend_in<E: KvElement>(
        &self,
        kv: &KvBuffers<E>,
        l: usize,
        first_ctx: usize,
        q: &[f32],
        f16_probabilities: bool,
        out: &mut [f32],
    ) {
        let (keys, values) = (kv.keys(l), kv.values(l));
        if self.numerics == Numerics::Fast {
            let shape = self.attention_shape();
            attention::attend_causal(
                self.engine.isa(),
                self.engine.pool(),
                shape,
                q,
                (keys, values),
                first_ctx,
                out,
                self.engine.config().kv_prefetch_hint,
            );
            return;
        }
        let h = self.model.hparams().hidden;
        for (t, (qt, ot)) in q.chunks_exact(h).zip(out.chunks_exact_mut(h)).enumerate() {
            self.attend_exact(keys, values, first_ctx + t, qt, f16_probabilities, ot);
        }
    }

    /// One query row over positions `0..ctx` in f64 (see [`Self::attend`]).
    fn attend_exact<E: KvElement>(
        &self,
        keys: KvHeads<'_, E>,
        values: KvHeads<'_, E>,
        ctx: usize,
        q: &[f32],
        f16_probabilities: bool,
        out: &mut [f32],
    ) {
        let hp = self.model.hparams();
        let d = hp.head_dim();
        let group = hp.heads / hp.kv_heads;
        let scale = 1.0 / (d as f64).sqrt();
        self.engine.pool().for_each_chunk(out, d, |head, oh| {
            let kvh = head / group;
            let qh: Vec<f64> = q[head * d..(head + 1) * d]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let mut scores: Vec<f64> = (0..ctx)
                .map(|j| dot_f64(&qh, keys.row(kvh, j)) * scale)
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0f64;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let mut acc = vec![0f64; d];
            for (j, &e) in scores.iter().enumerate() {
                let vj = values.row(kvh, j);
                let mut w = e / sum;
                if f16_probabilities {
                    w = f64::from(half::f16::from_f64(w).to_f32());
                }
                acc.iter_mut()
                    .zip(vj)
                    .for_each(|(o, &vv)| *o += w * f64::from(vv.to_f32()));
            }
            for (o, &a) in oh.iter_mut().zip(&acc) {
                *o = a as f32;
            }
        });
    }
}

/// Σ a·b in f64 with four independent accumulators (vectorises; order-insensitive at f32 output).
fn dot_f64<E: KvElement>(a: &[f64], b: &[E]) -> f64 {
    let mut acc = [0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| x * f64::from(y.to_f32()))
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * f64::from(y[k].to_f32());
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Quantises `x` into the reusable activation buffer.
fn quantize<'a>(
    pool: &WorkerPool,
    slot: &'a mut Option<QuantizedActivations>,
    x: &[f32],
    tokens: usize,
    cols: usize,
) -> Result<&'a QuantizedActivations, ModelError> {
    let a = match slot.take() {
        Some(mut a) => {
            a.requantize_on(Some(pool), x, tokens, cols)?;
            a
        }
        None => QuantizedActivations::quantize(x, tokens, cols)?,
    };
    Ok(slot.insert(a))
}

/// Greedy generation: feeds `prompt`, then `steps` argmax tokens. Returns the generated tokens and
/// the logits of every fed position except the last generated one (`prompt.len() + steps − 1`).
pub fn greedy(
    session: &mut Session<'_>,
    prompt: &[u32],
    steps: usize,
) -> Result<(Vec<u32>, Vec<Vec<f32>>), ModelError> {
    let vocab = session.model.hparams().vocab;
    let all = session.forward(prompt, true)?;
    let mut logits: Vec<Vec<f32>> = all.chunks_exact(vocab).map(<[f32]>::to_vec).collect();
    let mut generated = Vec::with_capacity(steps);
    for step in 0..steps {
        let next = argmax(logits.last().map_or(&[][..], |v| v.as_slice()));
        generated.push(next);
        if step + 1 < steps {
            logits.push(session.decode(next)?);
        }
    }
    Ok((generated, logits))
}

#[cfg(test)]
mod tests {
    use super::argmax;
    use rand::Rng;

    /// The one-pass definition: the first index whose value no later value exceeds.
    fn argmax_by_scan(logits: &[f32]) -> u32 {
        let mut best: Option<usize> = None;
        for (i, &v) in logits.iter().enumerate() {
            if !v.is_nan() && best.is_none_or(|b| v > logits[b]) {
                best = Some(i);
            }
        }
        best.unwrap_or(0) as u32
    }

    /// Random lengths (SIMD tails included), ties drawn from few values, NaNs, infinities and
    /// signed zeros: the vectorised argmax is the scan's.
    #[test]
    fn argmax_is_the_first_largest_non_nan() {
        let mut r = crate::synthetic::rng(5);
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1.0];
        for _ in 0..2000 {
            let n = r.random_range(0..100);
            let v: Vec<f32> = (0..n)
                .map(|_| match r.random_range(0..4) {
                    0 => specials[r.random_range(0..specials.len())],
                    1 => r.random_range(-3..3) as f32,
                    _ => r.random_range(-5.0..5.0),
                })
                .collect();
            assert_eq!(argmax(&v), argmax_by_scan(&v), "{v:?}");
        }
        assert_eq!(argmax(&[f32::NAN; 40]), 0);
        assert_eq!(argmax(&[]), 0);
    }
}
