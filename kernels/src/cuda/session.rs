//! One sequence on the device: KV cache, scratch buffers, the forward pass as a queue of kernels,
//! and the decode step captured once as a CUDA graph and replayed at every position.
//!
//! The position, the next token and the generated tokens live in device memory: a decode step
//! reads its position and token there, and its last kernel (greedy argmax) writes the next token
//! and moves the position on, so consecutive steps need no host round trip.

use cudarc::driver::{CudaGraph, CudaSlice};

use crate::format::i2s::padded_cols;
use crate::model::rope::RopeTable;
use crate::model::ModelError;

use super::error::CudaError;
use super::model::{CudaModel, DeviceMatrix};
use super::runtime::{
    AttentionArgs, CudaRuntime, I2sLaunch, I2sMode, NormOut, ARGMAX_BLOCKS, FUSED_MAX_COLS,
};

/// Kernel ids the CUDA forward pass executes.
pub const KERNEL_IDS: &[&str] = &["i2s_mm_cuda_dp4a", "f16_gemv_cuda", "attention_f64_cuda"];

/// Device time per operation over profiled decode steps (events around every launch, so the
/// steps run without the graph: the totals are larger than a graph-replayed step).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceOpTimes {
    /// Seconds per operation, in first-seen order; names as the CPU profile's where they match.
    pub seconds: Vec<(&'static str, f64)>,
}

impl DeviceOpTimes {
    fn add(&mut self, op: &'static str, secs: f64) {
        match self.seconds.iter_mut().find(|(name, _)| *name == op) {
            Some((_, total)) => *total += secs,
            None => self.seconds.push((op, secs)),
        }
    }
}

/// An inference session on the device.
pub struct CudaSession<'a> {
    rt: &'a CudaRuntime,
    model: &'a CudaModel,
    capacity: usize,
    max_batch: usize,
    host_pos: usize,
    pos: CudaSlice<i32>,
    step: CudaSlice<i32>,
    tokens: CudaSlice<i32>,
    generated: CudaSlice<i32>,
    x: CudaSlice<f32>,
    q: CudaSlice<f32>,
    k: CudaSlice<f32>,
    v: CudaSlice<f32>,
    attn: CudaSlice<f32>,
    g: CudaSlice<f32>,
    xn: CudaSlice<f32>,
    acts: CudaSlice<i8>,
    act_scales: CudaSlice<f32>,
    act_sums: CudaSlice<i32>,
    logits: CudaSlice<f32>,
    argmax_v: CudaSlice<f32>,
    argmax_i: CudaSlice<i32>,
    kc: CudaSlice<f32>,
    vc: CudaSlice<f32>,
    scores: CudaSlice<f64>,
    cos: CudaSlice<f32>,
    sin: CudaSlice<f32>,
    graph: Option<CudaGraph>,
}

impl std::fmt::Debug for CudaSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaSession")
            .field("capacity", &self.capacity)
            .field("max_batch", &self.max_batch)
            .field("position", &self.host_pos)
            .field("graph", &self.graph.is_some())
            .finish()
    }
}

impl<'a> CudaSession<'a> {
    /// A session for up to `max_positions` tokens, fed at most `max_batch` at a time.
    pub fn new(
        rt: &'a CudaRuntime,
        model: &'a CudaModel,
        max_positions: usize,
        max_batch: usize,
    ) -> Result<Self, CudaError> {
        let hp = *model.hparams();
        if max_positions == 0 || max_positions > hp.context {
            return Err(ModelError::Context {
                needed: max_positions,
                limit: hp.context,
            }
            .into());
        }
        let mb = max_batch.clamp(1, max_positions);
        let (h, f, kvd) = (hp.hidden, hp.ffn, hp.kv_dim());
        let act_cols = padded_cols(h.max(f));
        let rope = RopeTable::new(hp.head_dim(), max_positions, hp.rope_base);
        let kv = hp.layers * max_positions * kvd;
        Ok(Self {
            rt,
            model,
            capacity: max_positions,
            max_batch: mb,
            host_pos: 0,
            pos: rt.zeros(1)?,
            step: rt.zeros(1)?,
            tokens: rt.zeros(mb)?,
            generated: rt.zeros(max_positions + 1)?,
            x: rt.zeros(mb * h)?,
            q: rt.zeros(mb * h)?,
            k: rt.zeros(mb * kvd)?,
            v: rt.zeros(mb * kvd)?,
            attn: rt.zeros(mb * h)?,
            g: rt.zeros(mb * f)?,
            xn: rt.zeros(mb * h)?,
            acts: rt.zeros(mb * act_cols)?,
            act_scales: rt.zeros(mb)?,
            act_sums: rt.zeros(mb)?,
            logits: rt.zeros(mb * hp.vocab)?,
            argmax_v: rt.zeros(ARGMAX_BLOCKS)?,
            argmax_i: rt.zeros(ARGMAX_BLOCKS)?,
            kc: rt.zeros(kv)?,
            vc: rt.zeros(kv)?,
            scores: rt.zeros(mb * hp.heads * max_positions)?,
            cos: rt.upload(rope.cos())?,
            sin: rt.upload(rope.sin())?,
            graph: None,
        })
    }

    /// Tokens fed so far.
    pub fn position(&self) -> usize {
        self.host_pos
    }

    /// KV-cache bytes a token at position `p` reads (keys and values of `p + 1` positions).
    pub fn kv_bytes_read_at(&self, p: usize) -> u64 {
        let hp = self.model.hparams();
        (2 * hp.layers * hp.kv_dim() * 4) as u64 * (p as u64 + 1)
    }

    /// Starts a new sequence.
    pub fn reset(&mut self) -> Result<(), CudaError> {
        self.rt.write(&[0], &mut self.pos)?;
        self.rt.write(&[0], &mut self.step)?;
        self.host_pos = 0;
        Ok(())
    }

    fn check_room(&self, n: usize) -> Result<(), CudaError> {
        if n == 0 || self.host_pos + n > self.capacity {
            return Err(ModelError::Context {
                needed: self.host_pos + n,
                limit: self.capacity,
            }
            .into());
        }
        Ok(())
    }

    fn upload_tokens(&mut self, tokens: &[u32]) -> Result<(), CudaError> {
        let vocab = self.model.hparams().vocab;
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(ModelError::Token { token, vocab }.into());
        }
        if tokens.len() > self.max_batch {
            return Err(CudaError::Unsupported(format!(
                "{} tokens in one call (this session takes at most {})",
                tokens.len(),
                self.max_batch
            )));
        }
        let ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
        self.rt.write(&ids, &mut self.tokens)
    }

    fn mm(
        &self,
        mats: &[&DeviceMatrix],
        outputs: &[u64],
        mode: I2sMode,
        tokens: usize,
        cols: usize,
    ) -> Result<(), CudaError> {
        self.rt
            .i2s_mm(&self.launch(mats, outputs, mode, tokens, cols))
    }

    /// The launch of `mats` (up to three, stacked by rows) on the session's activations.
    fn launch(
        &self,
        mats: &[&DeviceMatrix],
        outputs: &[u64],
        mode: I2sMode,
        tokens: usize,
        cols: usize,
    ) -> I2sLaunch {
        let rt = self.rt;
        let mut l = I2sLaunch {
            weights: [0; 3],
            rows: [0; 3],
            scales: [0.0; 3],
            outputs: [0; 3],
            chunks: mats[0].chunks as i32,
            acts: rt.ptr(&self.acts),
            act_stride: (padded_cols(cols) / 16) as i32,
            act_sums: rt.ptr(&self.act_sums),
            act_scales: rt.ptr(&self.act_scales),
            tokens: tokens as i32,
            mode,
        };
        for (i, m) in mats.iter().enumerate() {
            l.weights[i] = rt.ptr(&m.data);
            l.rows[i] = m.rows as i32;
            l.scales[i] = m.scale;
        }
        for (i, &o) in outputs.iter().enumerate() {
            l.outputs[i] = o;
        }
        l
    }

    fn norm_quant(
        &self,
        x: u64,
        g: &CudaSlice<f32>,
        n: usize,
        tokens: usize,
    ) -> Result<(), CudaError> {
        let rt = self.rt;
        rt.rms_norm_quant(
            x,
            rt.ptr(g),
            n,
            self.model.hparams().rms_eps,
            padded_cols(n),
            tokens,
            NormOut::Quantized {
                q: rt.ptr(&self.acts),
                scales: rt.ptr(&self.act_scales),
                sums: rt.ptr(&self.act_sums),
            },
        )
    }

    /// RMSNorm + quantisation of `input` (`cols` values per token, norm weights `norm`), then
    /// the I2_S product of `mats` into `outputs`: one fused launch for a single token when the
    /// launch parameters ask for it (the norm's time is then inside the product's), else a norm
    /// launch and a product launch.
    #[allow(clippy::too_many_arguments)]
    fn product(
        &self,
        prof: &mut Option<&mut DeviceOpTimes>,
        op: &'static str,
        input: (u64, &CudaSlice<f32>, usize),
        mats: &[&DeviceMatrix],
        outputs: &[u64],
        mode: I2sMode,
        n: usize,
    ) -> Result<(), CudaError> {
        let (x, norm, cols) = input;
        if n == 1 && self.rt.params().fused && cols <= FUSED_MAX_COLS {
            return self.op(prof, op, || {
                let l = self.launch(mats, outputs, mode, n, cols);
                let eps = self.model.hparams().rms_eps;
                self.rt.i2s_mm_norm(&l, x, self.rt.ptr(norm), cols, eps)
            });
        }
        self.op(prof, "norm_quant", || self.norm_quant(x, norm, cols, n))?;
        self.op(prof, op, || self.mm(mats, outputs, mode, n, cols))
    }

    /// Queues the forward pass of the `n` tokens in the token buffer at the device position, and
    /// the logits of tokens `first..n` into the logits buffer. Launches only: capturable.
    fn enqueue_forward(&self, n: usize, first: usize) -> Result<(), CudaError> {
        self.forward_ops(n, first, &mut None)
    }

    /// Runs `launch` as operation `op`: timed between events when profiling, else only queued.
    fn op(
        &self,
        prof: &mut Option<&mut DeviceOpTimes>,
        op: &'static str,
        launch: impl FnOnce() -> Result<(), CudaError>,
    ) -> Result<(), CudaError> {
        match prof {
            Some(p) => {
                let secs = self.rt.time(launch)?;
                p.add(op, secs);
                Ok(())
            }
            None => launch(),
        }
    }

    fn forward_ops(
        &self,
        n: usize,
        first: usize,
        prof: &mut Option<&mut DeviceOpTimes>,
    ) -> Result<(), CudaError> {
        let rt = self.rt;
        let m = self.model;
        let hp = *m.hparams();
        let (h, f, kvd) = (hp.hidden, hp.ffn, hp.kv_dim());
        let shape = (hp.heads, hp.kv_heads, hp.head_dim());
        let (x, q, k, v) = (
            rt.ptr(&self.x),
            rt.ptr(&self.q),
            rt.ptr(&self.k),
            rt.ptr(&self.v),
        );
        let (attn, g, pos) = (rt.ptr(&self.attn), rt.ptr(&self.g), rt.ptr(&self.pos));
        let layer_bytes = (self.capacity * kvd * 4) as u64;
        self.op(prof, "embed", || {
            rt.embed(rt.ptr(&m.embedding), rt.ptr(&self.tokens), h, x, n)
        })?;
        for (l, w) in m.layers.iter().enumerate() {
            let caches = (
                rt.ptr(&self.kc) + l as u64 * layer_bytes,
                rt.ptr(&self.vc) + l as u64 * layer_bytes,
            );
            let qkv = [&w.q, &w.k, &w.v];
            self.product(
                prof,
                "qkv_proj",
                (x, &w.attn_norm, h),
                &qkv,
                &[q, k, v],
                I2sMode::Store,
                n,
            )?;
            let att = AttentionArgs {
                q,
                kv_new: (k, v),
                rope: (rt.ptr(&self.cos), rt.ptr(&self.sin)),
                caches,
                shape,
                pos,
                capacity: self.capacity,
                scores: rt.ptr(&self.scores),
                out: attn,
                tokens: n,
            };
            if rt.params().fused {
                self.op(prof, "rope_attention", || rt.attention(&att, true))?;
            } else {
                self.op(prof, "rope_kv", || rt.rope_store(&att))?;
                self.op(prof, "attention", || rt.attention(&att, false))?;
            }
            self.product(
                prof,
                "o_proj",
                (attn, &w.attn_sub_norm, h),
                &[&w.o],
                &[x],
                I2sMode::Residual,
                n,
            )?;
            let gate_up = [&w.gate, &w.up];
            self.product(
                prof,
                "ffn_gate_up",
                (x, &w.ffn_norm, h),
                &gate_up,
                &[g],
                I2sMode::GateUp,
                n,
            )?;
            self.product(
                prof,
                "ffn_down",
                (g, &w.ffn_sub_norm, f),
                &[&w.down],
                &[x],
                I2sMode::Residual,
                n,
            )?;
        }
        let rows = n - first;
        self.op(prof, "output_norm", || {
            rt.rms_norm_quant(
                x + (first * h * 4) as u64,
                rt.ptr(&m.output_norm),
                h,
                hp.rms_eps,
                h,
                rows,
                NormOut::F32 {
                    y: rt.ptr(&self.xn),
                },
            )
        })?;
        self.op(prof, "lm_head", || {
            rt.f16_gemv(
                rt.ptr(&m.embedding),
                hp.vocab,
                h,
                rt.ptr(&self.xn),
                rt.ptr(&self.logits),
                rows,
            )
        })
    }

    /// Queues the greedy step after logits row `row`: the argmax becomes the next token, is
    /// appended to the generated tokens, and the position moves on by `advance`.
    fn enqueue_argmax(&self, row: usize, advance: usize) -> Result<(), CudaError> {
        let rt = self.rt;
        let vocab = self.model.hparams().vocab;
        rt.argmax_advance(
            rt.ptr(&self.logits) + (row * vocab * 4) as u64,
            vocab,
            (rt.ptr(&self.argmax_v), rt.ptr(&self.argmax_i)),
            rt.ptr(&self.tokens),
            rt.ptr(&self.generated),
            rt.ptr(&self.step),
            rt.ptr(&self.pos),
            advance,
        )
    }

    /// Feeds `tokens` (prefill); returns the logits of every token (`[token][vocab]`) when
    /// `all_logits`, else of the last one.
    pub fn forward(&mut self, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, CudaError> {
        let n = tokens.len();
        self.check_room(n)?;
        self.upload_tokens(tokens)?;
        let first = if all_logits { 0 } else { n - 1 };
        self.enqueue_forward(n, first)?;
        self.rt.advance_position(self.rt.ptr(&self.pos), n)?;
        self.host_pos += n;
        let vocab = self.model.hparams().vocab;
        self.rt.download(&self.logits, (n - first) * vocab)
    }

    /// Feeds the prompt without reading logits back, then makes its greedy next token the input of
    /// the first decode step (the timed prefill of the benchmark: the device finishes the work
    /// asynchronously; time it with [`CudaRuntime::synchronize`]).
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<(), CudaError> {
        let n = tokens.len();
        self.check_room(n)?;
        self.upload_tokens(tokens)?;
        self.enqueue_forward(n, n - 1)?;
        self.enqueue_argmax(0, n)?;
        self.host_pos += n;
        Ok(())
    }

    /// Queues one decode step on the token the last step (or prefill) chose: the captured graph
    /// when the launch parameters ask for one (captured on first use), else the kernels one by one.
    pub fn decode_step(&mut self) -> Result<(), CudaError> {
        self.check_room(1)?;
        if self.rt.params().graph {
            if self.graph.is_none() {
                self.rt.begin_capture()?;
                let queued = self
                    .enqueue_forward(1, 0)
                    .and_then(|()| self.enqueue_argmax(0, 1));
                // End the capture on every path, so the stream is usable after an error.
                let graph = self.rt.end_capture();
                queued?;
                self.graph = Some(graph?);
            }
            if let Some(graph) = &self.graph {
                graph
                    .launch()
                    .map_err(super::error::driver("launch the decode graph"))?;
            }
        } else {
            self.enqueue_forward(1, 0)?;
            self.enqueue_argmax(0, 1)?;
        }
        self.host_pos += 1;
        Ok(())
    }

    /// Runs `steps` decode steps without the graph, timing every operation between events.
    pub fn profile_decode(&mut self, steps: usize) -> Result<DeviceOpTimes, CudaError> {
        let mut times = DeviceOpTimes::default();
        for _ in 0..steps {
            self.check_room(1)?;
            let mut prof = Some(&mut times);
            self.forward_ops(1, 0, &mut prof)?;
            self.op(&mut prof, "argmax", || self.enqueue_argmax(0, 1))?;
            self.host_pos += 1;
        }
        Ok(times)
    }

    /// The logits of the last decode step.
    pub fn last_logits(&self) -> Result<Vec<f32>, CudaError> {
        self.rt.download(&self.logits, self.model.hparams().vocab)
    }

    /// The tokens generated since the last [`Self::reset`].
    pub fn generated(&self, n: usize) -> Result<Vec<u32>, CudaError> {
        Ok(self
            .rt
            .download(&self.generated, n)?
            .into_iter()
            .map(|t| t as u32)
            .collect())
    }

    /// Greedy generation like [`crate::model::forward::greedy`]: feeds `prompt`, then `steps`
    /// argmax tokens. Returns the generated tokens and the logits of every fed position except
    /// the last generated one (`prompt.len() + steps − 1`).
    pub fn greedy(
        &mut self,
        prompt: &[u32],
        steps: usize,
    ) -> Result<(Vec<u32>, Vec<Vec<f32>>), CudaError> {
        let vocab = self.model.hparams().vocab;
        let n = prompt.len();
        self.reset()?;
        self.check_room(n + steps.saturating_sub(1))?;
        self.upload_tokens(prompt)?;
        self.enqueue_forward(n, 0)?;
        self.enqueue_argmax(n - 1, n)?;
        self.host_pos += n;
        let all = self.rt.download(&self.logits, n * vocab)?;
        let mut logits: Vec<Vec<f32>> = all.chunks_exact(vocab).map(<[f32]>::to_vec).collect();
        for _ in 1..steps {
            self.decode_step()?;
            logits.push(self.last_logits()?);
        }
        Ok((self.generated(steps)?, logits))
    }
}
