//! Fast decode attention in f32: grouped-query attention of one query row over a KV cache, the
//! positions split into fixed blocks so the result does not depend on the thread count.
//!
//! Work item = (KV head, block of [`BLOCK_POSITIONS`] positions). An item computes, for every
//! query head sharing that KV head, the block's softmax partials: max score `m`, Σ exp(s − m) `l`
//! and Σ exp(s − m)·V `acc` (flash-decoding). The partials are merged per head in block order on
//! the calling thread. The block's keys and values (128 KiB each at head_dim 128) stay in L2 while
//! the group's query heads use them, so each KV byte comes from memory once per token.
//!
//! A prompt batch ([`attend_causal`]: token t sees the positions up to its own) runs the same items
//! for up to [`CAUSAL_TOKENS`] tokens at once, each item looping over the tokens while its block
//! sits in L2: each KV byte then comes from memory or L3 once per [`CAUSAL_TOKENS`] tokens, and
//! every token gets the bits [`attend`] would give it alone.
//!
//! Summation order is fixed (per lane, then a fixed lane reduction), so repeated runs and any
//! thread count give the same bits. The AVX-512 kernel has a scalar twin (`block_emulated`) that
//! performs the same operations in the same order (the same FMAs, exponential polynomial and
//! reduction tree), so it gives the same bits on any CPU; the AVX2 kernel is the same operations
//! in 8-lane halves, so it gives them too. The scalar reference engine runs the twin when a model
//! cross-validation checks an engine that runs a SIMD kernel (an f32-vs-f64
//! difference, amplified through 30 layers of int8 activation rounding, decorrelates the logits
//! of a synthetic 2B-4T model completely, so the guard needs the same algorithm on both sides).
//! How close the algorithm is to exact attention is checked against the f64 definition here and
//! against numpy's forward pass (`kernels/tests/model_numpy_parity.rs`).

use crate::cpu::kv_element::KvElement;
use crate::cpu::prefetch::PrefetchHint;
use crate::cpu::worker_pool::WorkerPool;
use crate::cpu::{CpuVendor, Isa};

/// Positions per work item.
pub const BLOCK_POSITIONS: usize = 256;

/// Prompt tokens whose attention shares one pass over the cache in [`attend_causal`]. Why: per
/// token, a 2048-token prompt re-read its layer's cache (up to 10 MB at 2B-4T) from L3 for every
/// token, and attention took a third of its prefill. 32 tokens keep the partials of a pass at
/// 32 tokens × 80 items × 4 heads × 130 floats = 5.3 MB at 4096 positions (66 KB per item).
pub const CAUSAL_TOKENS: usize = 32;

/// ln 2 split in a high part exact in f32 products and the rest (Cody–Waite range reduction).
pub(crate) const LN2_HI: f32 = 0.693_145_75;
pub(crate) const LN2_LO: f32 = 1.428_606_8e-6;
/// Horner coefficients of the degree-6 Taylor polynomial of e^r, highest first.
pub(crate) const EXP_COEFFS: [f32; 7] = [
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];
/// Below this e^x is not a normal f32, and the exponential returns 0.
pub(crate) const EXP_MIN: f32 = -87.0;

/// e^x for x ≤ 0 exactly as the AVX-512 kernel's `exp16` computes one lane.
fn exp_emulated(x: f32) -> f32 {
    if x.is_nan() || x < EXP_MIN {
        return 0.0;
    }
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = (-n).mul_add(LN2_HI, x);
    let r = (-n).mul_add(LN2_LO, r);
    let p = EXP_COEFFS[1..]
        .iter()
        .fold(EXP_COEFFS[0], |p, &c| p.mul_add(r, c));
    // n ∈ [−126, 0]: 2^n is a normal f32, so the product rounds once, as `vscalefps` does.
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Σ of 16 lanes in the order of the AVX-512 kernel's transposing reduction: per 128-bit lane k,
/// `S_k = (v[4k] + v[4k+2]) + (v[4k+1] + v[4k+3])`; then `(S0 + S1) + (S2 + S3)`.
pub(crate) fn lane_sum(v: &[f32; 16]) -> f32 {
    let s = |k: usize| (v[4 * k] + v[4 * k + 2]) + (v[4 * k + 1] + v[4 * k + 3]);
    (s(0) + s(1)) + (s(2) + s(3))
}

/// Shape of the attention: query heads, KV heads and head width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (each shared by `heads / kv_heads` query heads).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl AttentionShape {
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }

    #[cfg(test)]
    fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

/// Keys or values of one layer, head-major: position `j` of KV head `h` is the `head_dim`
/// elements at `h · head_stride + j · head_dim`, so one head's positions are contiguous.
#[derive(Debug)]
pub struct KvHeads<'a, E = f32> {
    data: &'a [E],
    head_stride: usize,
    head_dim: usize,
}

// Not derived: a derive would require `E: Copy` of the element although only a reference is copied.
impl<E> Clone for KvHeads<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for KvHeads<'_, E> {}

impl<'a, E> KvHeads<'a, E> {
    /// Views `data` as heads of `head_stride` elements, rows of `head_dim`.
    pub fn new(data: &'a [E], head_stride: usize, head_dim: usize) -> Self {
        Self {
            data,
            head_stride,
            head_dim,
        }
    }

    /// Position `j` of head `h`.
    pub fn row(&self, h: usize, j: usize) -> &'a [E] {
        let at = h * self.head_stride + j * self.head_dim;
        &self.data[at..at + self.head_dim]
    }

    /// Positions `p0..p0 + len` of head `h`, contiguous.
    fn rows(&self, h: usize, p0: usize, len: usize) -> &'a [E] {
        let at = h * self.head_stride + p0 * self.head_dim;
        &self.data[at..at + len * self.head_dim]
    }
}

/// The block routine a call uses, resolved once per call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// AVX-512, `(head_dim / 16, query heads per KV head)`: head widths of 64 or 128 floats and
    /// 1, 2 or 4 query heads per KV head (every shape perfd knows).
    Avx512(usize, usize),
    /// The same kernel in AVX2 halves, the same bits, for the same shapes.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Avx2(usize, usize),
    /// The AVX-512 kernel's scalar twin, for the same shapes on any CPU.
    Emulated(usize, usize),
    /// Plain f32 for any other shape.
    Portable,
}

impl Path {
    fn for_call(isa: Isa, shape: AttentionShape) -> Self {
        let (n, g) = (shape.head_dim / 16, shape.group());
        if !(matches!(shape.head_dim, 64 | 128) && matches!(g, 1 | 2 | 4)) {
            return Path::Portable;
        }
        let avx512 = matches!(isa, Isa::Avx512Bw | Isa::Avx512Vnni) && isa.is_supported();
        if avx512 && cfg!(target_arch = "x86_64") {
            return Path::Avx512(n, g);
        }
        #[cfg(target_arch = "x86_64")]
        if matches!(isa, Isa::Avx2 | Isa::AvxVnni) && super::attention_avx2::is_supported() {
            return Path::Avx2(n, g);
        }
        Path::Emulated(n, g)
    }
}

/// Whether `isa` runs the SIMD attention kernel on `shape` (where it does, sessions default to
/// this attention; elsewhere the f64 one is as fast as the emulation and exact).
pub fn has_simd_kernel(isa: Isa, shape: AttentionShape) -> bool {
    matches!(
        Path::for_call(isa, shape),
        Path::Avx512(..) | Path::Avx2(..)
    )
}

/// Kernel id of the attention a call with `isa` on `shape` runs.
pub fn kernel_id(isa: Isa, shape: AttentionShape) -> &'static str {
    match Path::for_call(isa, shape) {
        Path::Portable => "attention_f32_portable",
        Path::Emulated(..) => "attention_f32_emulated",
        Path::Avx512(..) => "attention_f32_avx512",
        Path::Avx2(..) => "attention_f32_avx2",
    }
}

/// The inputs of one work item.
pub(crate) struct Block<'a, E> {
    /// The group's query rows, `group × head_dim`.
    pub(crate) q: &'a [f32],
    /// Keys of the block's positions, rows of `stride` elements, this KV head at `offset`.
    pub(crate) keys: &'a [E],
    /// Values, laid out like `keys`.
    pub(crate) values: &'a [E],
    /// Positions in the block.
    pub(crate) len: usize,
    /// Elements between two positions' rows.
    pub(crate) stride: usize,
    /// This KV head's first element within a row.
    pub(crate) offset: usize,
    /// Softmax scale (1/√head_dim).
    pub(crate) scale: f32,
    /// Whether the key pass also prefetches the value rows (see [`prefetch_values_with_keys`]).
    // This field and the next are read by the x86-64 kernel only.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) prefetch_values_with_keys: bool,
    /// Cache level the rows ahead are prefetched into (`KernelConfig::kv_prefetch_hint`).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) prefetch_hint: PrefetchHint,
}

/// Whether the SIMD kernel's key pass prefetches the value rows too, for its P·V pass. Measured
/// per vendor (2B-4T at 4096 positions): on the Sapphire Rapids VM it took attention from 17–18
/// to 20–21 GB/s (2 threads, three alternating runs each); on the Zen 5 VM a 256-position block
/// took 11.4–12.0 µs without against 13.0–14.1 with (one thread; P·V still found most values
/// missing from L2, and the key pass streamed at half speed).
fn prefetch_values_with_keys() -> bool {
    static WITH_KEYS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WITH_KEYS.get_or_init(|| CpuVendor::of_host() != CpuVendor::Amd)
}

/// Floats of one head's partial: `m`, `l`, then `acc[head_dim]`.
fn partial_len(head_dim: usize) -> usize {
    head_dim + 2
}

/// Attention of the query rows `q` (`heads × head_dim`) over positions `0..ctx` of `keys` and
/// `values` (head-major, [`KvHeads`]), written to `out` (`heads × head_dim`). The SIMD kernel
/// prefetches the rows ahead of the ones it reads into `prefetch` (a hint: the bits are the same
/// whatever it is).
///
/// # Panics
/// If the slices are shorter than the shape says, or `heads` is not a multiple of `kv_heads`.
#[allow(clippy::too_many_arguments)]
pub fn attend<E: KvElement>(
    isa: Isa,
    pool: &WorkerPool,
    shape: AttentionShape,
    q: &[f32],
    keys: KvHeads<'_, E>,
    values: KvHeads<'_, E>,
    ctx: usize,
    out: &mut [f32],
    prefetch: PrefetchHint,
) {
    let row = shape.heads * shape.head_dim;
    attend_causal(
        isa,
        pool,
        shape,
        &q[..row],
        (keys, values),
        ctx,
        &mut out[..row],
        prefetch,
    );
}

/// Attention of consecutive query tokens, `q` and `out` holding one row of `heads × head_dim`
/// per token: token t attends over positions `0..first_ctx + t` (a prompt batch whose first token
/// sits at position `first_ctx − 1`). Each token's output has the bits [`attend`] gives it alone.
///
/// # Panics
/// If `q` and `out` do not hold the same whole number of rows, the caches hold fewer positions
/// than the last token sees, or `heads` is not a multiple of `kv_heads`.
#[allow(clippy::too_many_arguments)]
pub fn attend_causal<E: KvElement>(
    isa: Isa,
    pool: &WorkerPool,
    shape: AttentionShape,
    q: &[f32],
    keys_values: (KvHeads<'_, E>, KvHeads<'_, E>),
    first_ctx: usize,
    out: &mut [f32],
    prefetch: PrefetchHint,
) {
    let prefetch_values = prefetch_values_with_keys();
    attend_with(
        isa,
        pool,
        shape,
        q,
        keys_values,
        first_ctx,
        out,
        (prefetch, prefetch_values),
    );
}

/// [`attend_causal`] with the key pass's prefetch of the value rows chosen by the caller (hints:
/// the result is the same either way, which the tests check on every setting).
#[allow(clippy::too_many_arguments)]
fn attend_with<E: KvElement>(
    isa: Isa,
    pool: &WorkerPool,
    shape: AttentionShape,
    q: &[f32],
    (keys, values): (KvHeads<'_, E>, KvHeads<'_, E>),
    first_ctx: usize,
    out: &mut [f32],
    (prefetch_hint, prefetch_values_with_keys): (PrefetchHint, bool),
) {
    let (d, group) = (shape.head_dim, shape.group());
    let row = shape.heads * d;
    assert!(shape.heads.is_multiple_of(shape.kv_heads) && first_ctx > 0 && row > 0);
    assert!(q.len().is_multiple_of(row) && q.len() == out.len());
    let tokens = q.len() / row;
    let last_ctx = first_ctx + tokens.max(1) - 1;
    for kv in [&keys, &values] {
        assert!(kv.head_dim == d && kv.head_stride >= last_ctx * d);
        assert!(kv.data.len() >= (shape.kv_heads - 1) * kv.head_stride + last_ctx * d);
    }
    let path = Path::for_call(isa, shape);
    let per_token = group * partial_len(d);
    let scale = 1.0 / (d as f32).sqrt();
    let mut partials = Vec::new();
    for (c, (qc, oc)) in q
        .chunks(CAUSAL_TOKENS * row)
        .zip(out.chunks_mut(CAUSAL_TOKENS * row))
        .enumerate()
    {
        let n = qc.len() / row;
        let ctx_of = |t: usize| first_ctx + c * CAUSAL_TOKENS + t;
        // Items span the last token's blocks; a token skips the blocks past its own positions.
        let blocks = ctx_of(n - 1).div_ceil(BLOCK_POSITIONS);
        let per_item = n * per_token;
        partials.clear();
        partials.resize(shape.kv_heads * blocks * per_item, 0f32);
        pool.for_each_chunk_maybe_inline(
            blocks * shape.kv_heads < 2,
            &mut partials,
            per_item,
            |item, part| {
                let (kvh, b) = (item / blocks, item % blocks);
                let p0 = b * BLOCK_POSITIONS;
                for (t, pt) in part.chunks_exact_mut(per_token).enumerate() {
                    let ctx = ctx_of(t);
                    if p0 >= ctx {
                        continue;
                    }
                    let len = BLOCK_POSITIONS.min(ctx - p0);
                    let qt = &qc[t * row..(t + 1) * row];
                    let block = Block {
                        q: &qt[kvh * group * d..(kvh + 1) * group * d],
                        keys: keys.rows(kvh, p0, len),
                        values: values.rows(kvh, p0, len),
                        len,
                        stride: d,
                        offset: 0,
                        scale,
                        prefetch_values_with_keys,
                        prefetch_hint,
                    };
                    run_block(path, &block, d, pt);
                }
            },
        );
        for (t, ot) in oc.chunks_exact_mut(row).enumerate() {
            let token_blocks = ctx_of(t).div_ceil(BLOCK_POSITIONS);
            merge(shape, token_blocks, ot, |kvh, b| {
                &partials[(kvh * blocks + b) * per_item + t * per_token..][..per_token]
            });
        }
    }
}

fn run_block<E: KvElement>(path: Path, block: &Block<'_, E>, d: usize, part: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::attention_avx512::block as simd;
        // SAFETY: `Path::for_call` chose Avx512(n, g) only on a CPU with AVX-512F, for head
        // width 16·n and g query heads per KV head; `attend` sized q, part and the rows so.
        match path {
            Path::Avx512(4, 1) => return unsafe { simd::<E, 4, 1>(block, part) },
            Path::Avx512(4, 2) => return unsafe { simd::<E, 4, 2>(block, part) },
            Path::Avx512(4, 4) => return unsafe { simd::<E, 4, 4>(block, part) },
            Path::Avx512(8, 1) => return unsafe { simd::<E, 8, 1>(block, part) },
            Path::Avx512(8, 2) => return unsafe { simd::<E, 8, 2>(block, part) },
            Path::Avx512(8, 4) => return unsafe { simd::<E, 8, 4>(block, part) },
            _ => {}
        }
        use super::attention_avx2::block as avx2;
        // SAFETY: `Path::for_call` chose Avx2(n, g) only on a CPU with AVX2, FMA and F16C, for
        // the same shapes as above.
        match path {
            Path::Avx2(4, 1) => return unsafe { avx2::<E, 4, 1>(block, part) },
            Path::Avx2(4, 2) => return unsafe { avx2::<E, 4, 2>(block, part) },
            Path::Avx2(4, 4) => return unsafe { avx2::<E, 4, 4>(block, part) },
            Path::Avx2(8, 1) => return unsafe { avx2::<E, 8, 1>(block, part) },
            Path::Avx2(8, 2) => return unsafe { avx2::<E, 8, 2>(block, part) },
            Path::Avx2(8, 4) => return unsafe { avx2::<E, 8, 4>(block, part) },
            _ => {}
        }
    }
    match path {
        Path::Emulated(n, g) | Path::Avx512(n, g) | Path::Avx2(n, g) => {
            block_emulated(block, n, g, part)
        }
        Path::Portable => block_portable(block, d, part),
    }
}

/// The AVX-512 kernel's work item in scalar f32, operation for operation (see the module docs):
/// lanes `l` of a 16-float vector are the array index `l`, FMAs are `mul_add`, elements widen to
/// f32 exactly as the kernel's loads do.
fn block_emulated<'a, E: KvElement>(block: &Block<'a, E>, n: usize, g: usize, part: &mut [f32]) {
    let d = 16 * n;
    let len = block.len;
    let padded = len.next_multiple_of(16);
    let mut scores = vec![f32::NEG_INFINITY; g * padded];
    let tile = 16 / g;
    let row = |rows: &'a [E], j: usize| &rows[j * block.stride + block.offset..][..d];
    for j0 in (0..len).step_by(tile) {
        let count = tile.min(len - j0);
        let mut p = [[0f32; 16]; 16];
        for t in 0..count {
            let k = row(block.keys, j0 + t);
            for i in 0..n {
                for h in 0..g {
                    let q = &block.q[h * d + 16 * i..][..16];
                    for (l, acc) in p[t * g + h].iter_mut().enumerate() {
                        *acc = k[16 * i + l].to_f32().mul_add(q[l], *acc);
                    }
                }
            }
        }
        for t in 0..count {
            for h in 0..g {
                scores[h * padded + j0 + t] = lane_sum(&p[t * g + h]) * block.scale;
            }
        }
    }
    let mut ml = vec![(0f32, 0f32); g];
    for (h, mlh) in ml.iter_mut().enumerate() {
        let row = &mut scores[h * padded..(h + 1) * padded];
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut lanes = [0f32; 16];
        for c in row.chunks_exact_mut(16) {
            for (lane, x) in lanes.iter_mut().zip(c.iter_mut()) {
                *x = exp_emulated(*x - m);
                *lane += *x;
            }
        }
        *mlh = (m, lane_sum(&lanes));
    }
    for (h, &(m, l)) in ml.iter().enumerate() {
        let ph = &mut part[h * (d + 2)..(h + 1) * (d + 2)];
        ph[0] = m;
        ph[1] = l;
        let acc = &mut ph[2..];
        acc.fill(0.0);
        for j in 0..len {
            let w = scores[h * padded + j];
            for (a, &x) in acc.iter_mut().zip(row(block.values, j)) {
                *a = w.mul_add(x.to_f32(), *a);
            }
        }
    }
}

/// One work item in plain f32 (any head width).
fn block_portable<E: KvElement>(block: &Block<'_, E>, d: usize, part: &mut [f32]) {
    let mut scores = vec![0f32; block.len];
    for (h, ph) in part.chunks_exact_mut(partial_len(d)).enumerate() {
        let qh = &block.q[h * d..(h + 1) * d];
        for (j, s) in scores.iter_mut().enumerate() {
            let k = &block.keys[j * block.stride + block.offset..][..d];
            *s = qh.iter().zip(k).map(|(a, b)| a * b.to_f32()).sum::<f32>() * block.scale;
        }
        let m = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (head, acc) = ph.split_at_mut(2);
        acc.fill(0.0);
        let mut l = 0f32;
        for (j, &s) in scores.iter().enumerate() {
            let e = (s - m).exp();
            l += e;
            let v = &block.values[j * block.stride + block.offset..][..d];
            acc.iter_mut()
                .zip(v)
                .for_each(|(a, &x)| *a += e * x.to_f32());
        }
        head[0] = m;
        head[1] = l;
    }
}

/// Merges the blocks' partials per head, in block order: `item(kvh, b)` is the partials of KV
/// head `kvh`'s block `b` (per query head of its group: m, l, acc).
fn merge<'p>(
    shape: AttentionShape,
    blocks: usize,
    out: &mut [f32],
    item: impl Fn(usize, usize) -> &'p [f32],
) {
    let (d, group) = (shape.head_dim, shape.group());
    let pl = partial_len(d);
    for (head, oh) in out.chunks_exact_mut(d).enumerate() {
        let (kvh, h) = (head / group, head % group);
        let part = |b: usize| &item(kvh, b)[h * pl..(h + 1) * pl];
        let m = (0..blocks)
            .map(|b| part(b)[0])
            .fold(f32::NEG_INFINITY, f32::max);
        oh.fill(0.0);
        let mut l = 0f32;
        for b in 0..blocks {
            let p = part(b);
            let w = (p[0] - m).exp();
            l += w * p[1];
            oh.iter_mut().zip(&p[2..]).for_each(|(o, &a)| *o += w * a);
        }
        let inv = 1.0 / l;
        oh.iter_mut().for_each(|o| *o *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng;
    use rand::Rng;

    /// Attention in f64, straight from the definition, and the largest |score|.
    fn reference(
        shape: AttentionShape,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        ctx: usize,
    ) -> (Vec<f64>, f64) {
        // Head-major, as `attend` reads them.
        let (d, group) = (shape.head_dim, shape.group());
        let at = |kvh: usize, j: usize, i: usize| kvh * ctx * d + j * d + i;
        let mut out = vec![0f64; shape.heads * d];
        let mut largest = 0f64;
        for head in 0..shape.heads {
            let kvh = head / group;
            let s: Vec<f64> = (0..ctx)
                .map(|j| {
                    (0..d)
                        .map(|i| f64::from(q[head * d + i]) * f64::from(k[at(kvh, j, i)]))
                        .sum::<f64>()
                        / (d as f64).sqrt()
                })
                .collect();
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            largest = s.iter().fold(largest, |a, x| a.max(x.abs()));
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let sum: f64 = e.iter().sum();
            for (j, w) in e.iter().enumerate() {
                for i in 0..d {
                    out[head * d + i] += w / sum * f64::from(v[at(kvh, j, i)]);
                }
            }
        }
        (out, largest)
    }

    /// Keys or values stored as `E`, and the f32 values the stored elements hold.
    fn stored<E: KvElement>(values: &[f32]) -> (Vec<E>, Vec<f32>) {
        let e: Vec<E> = values.iter().map(|&x| E::from_f32(x)).collect();
        let held = e.iter().map(|x| x.to_f32()).collect();
        (e, held)
    }

    /// `attend` over a cache of `E` against the f64 definition on the values the cache holds.
    fn check<E: KvElement>(
        isa: Isa,
        threads: usize,
        shape: AttentionShape,
        ctx: usize,
        spread: f32,
    ) {
        let mut r = rng(ctx as u64 * 31 + shape.head_dim as u64);
        let kvd = shape.kv_dim();
        let mut gen =
            |n: usize| -> Vec<f32> { (0..n).map(|_| r.random_range(-spread..spread)).collect() };
        let q = gen(shape.heads * shape.head_dim);
        let ((ke, k), (ve, v)) = (stored::<E>(&gen(ctx * kvd)), stored::<E>(&gen(ctx * kvd)));
        let d = shape.head_dim;
        let run = |threads: usize| {
            let pool = WorkerPool::new(threads, false).unwrap();
            let mut out = vec![0f32; shape.heads * d];
            let (keys, values) = (KvHeads::new(&ke, ctx * d, d), KvHeads::new(&ve, ctx * d, d));
            attend(
                isa,
                &pool,
                shape,
                &q,
                keys,
                values,
                ctx,
                &mut out,
                PrefetchHint::L2,
            );
            out
        };
        let out = run(threads);
        let (want, largest) = reference(shape, &q, &k, &v, ctx);
        // Outputs are convex combinations of values of magnitude ≤ spread; an f32 score is off by
        // a few ulps of its magnitude, which moves its weight by as much relatively.
        let tol = f64::from(spread) * (1e-5 + 1e-6 * largest);
        for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
            assert!(
                (f64::from(o) - w).abs() <= tol,
                "{isa} ctx {ctx} d {} out[{i}] = {o}, reference {w}",
                shape.head_dim
            );
        }
        // Same bits on one thread as on two (fixed blocks, fixed merge order).
        let again = run(1);
        assert_eq!(
            out, again,
            "{isa} ctx {ctx}: thread count changed the result"
        );
    }

    /// The scalar twin gives the bits of every SIMD kernel this CPU runs, AVX-512 and AVX2 (the
    /// scalar reference engine runs it).
    #[test]
    fn the_emulation_reproduces_the_simd_kernels_bit_for_bit() {
        let shape = AttentionShape {
            heads: 8,
            kv_heads: 2,
            head_dim: 128,
        };
        let simd: Vec<Isa> = Isa::supported()
            .into_iter()
            .filter(|&i| has_simd_kernel(i, shape))
            .collect();
        if simd.is_empty() {
            eprintln!("no SIMD attention on this CPU: the emulation is checked against f64 only");
            return;
        }
        for simd in simd {
            emulation_reproduces(simd);
        }
    }

    fn emulation_reproduces(simd: Isa) {
        let pool = WorkerPool::new(2, false).unwrap();
        for head_dim in [64, 128] {
            for (heads, kv_heads) in [(8, 2), (4, 2), (3, 3)] {
                let shape = AttentionShape {
                    heads,
                    kv_heads,
                    head_dim,
                };
                for (ctx, spread) in [(1, 1.0), (7, 1.0), (300, 1.0), (600, 8.0), (1000, 0.3)] {
                    let mut r = rng(ctx as u64 + 17 * head_dim as u64);
                    let kvd = shape.kv_dim();
                    let mut gen = |n: usize| -> Vec<f32> {
                        (0..n).map(|_| r.random_range(-spread..spread)).collect()
                    };
                    let (q, k, v) = (gen(heads * head_dim), gen(ctx * kvd), gen(ctx * kvd));
                    let what = format!("{simd} d {head_dim} {heads}/{kv_heads} ctx {ctx}");
                    same_bits::<f32>(simd, &pool, shape, &q, &k, &v, ctx, &what);
                    same_bits::<half::f16>(simd, &pool, shape, &q, &k, &v, ctx, &what);
                }
            }
        }
    }

    /// `attend` with `simd` and with the scalar twin over `k` and `v` stored as `E`.
    #[allow(clippy::too_many_arguments)]
    fn same_bits<E: KvElement>(
        simd: Isa,
        pool: &WorkerPool,
        shape: AttentionShape,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        ctx: usize,
        what: &str,
    ) {
        let d = shape.head_dim;
        let ((k, _), (v, _)) = (stored::<E>(k), stored::<E>(v));
        let (k, v) = (KvHeads::new(&k, ctx * d, d), KvHeads::new(&v, ctx * d, d));
        let mut b = vec![0f32; shape.heads * d];
        attend(
            Isa::Scalar,
            pool,
            shape,
            q,
            k,
            v,
            ctx,
            &mut b,
            PrefetchHint::L2,
        );
        // Both settings of the vendor-chosen prefetch, whichever this host uses, and every
        // cache level the rows ahead may be prefetched into.
        for prefetch_values in [false, true] {
            for hint in PrefetchHint::ROW {
                let mut a = vec![0f32; shape.heads * d];
                let prefetch = (hint, prefetch_values);
                attend_with(simd, pool, shape, q, (k, v), ctx, &mut a, prefetch);
                let differ = a.iter().zip(&b).filter(|(x, y)| x.to_bits() != y.to_bits());
                assert_eq!(
                    differ.count(),
                    0,
                    "{what}, {} elements, values prefetched with keys: {prefetch_values}, {hint}",
                    E::BYTES
                );
            }
        }
    }

    /// A prompt batch gives every token the bits `attend` gives it alone: across a block
    /// boundary (positions 250–289), over several passes of [`CAUSAL_TOKENS`] (70 tokens from
    /// the start), on every ISA's path (AVX-512, its twin, the portable one for head width 40)
    /// and both cache types.
    #[test]
    fn a_prompt_batch_gives_each_token_the_bits_it_gets_alone() {
        let pool = WorkerPool::new(2, false).unwrap();
        for isa in Isa::supported() {
            for (heads, kv_heads, d) in [(8, 2, 128), (3, 3, 64), (4, 2, 40)] {
                let shape = AttentionShape {
                    heads,
                    kv_heads,
                    head_dim: d,
                };
                for (first_ctx, tokens) in [(1, 1), (250, 40), (1, 70), (300, 3)] {
                    let cap = first_ctx + tokens - 1;
                    let mut r = rng((first_ctx * 7 + tokens + d) as u64);
                    let mut gen = |n: usize, lo: f32, hi: f32| -> Vec<f32> {
                        (0..n).map(|_| r.random_range(lo..hi)).collect()
                    };
                    let q = gen(tokens * heads * d, -2.0, 2.0);
                    let (k, v) = (
                        gen(cap * shape.kv_dim(), -2.0, 2.0),
                        gen(cap * shape.kv_dim(), -2.0, 2.0),
                    );
                    // And every score negative: a block a token does not reach must not join its
                    // merge even where its empty partial (m = 0) would be the largest.
                    let (qp, kn) = (gen(q.len(), 0.0, 2.0), gen(k.len(), -2.0, 0.0));
                    for (q, k) in [(&q, &k), (&qp, &kn)] {
                        causal_matches_alone::<f32>(isa, &pool, shape, q, (k, &v), first_ctx);
                        causal_matches_alone::<half::f16>(isa, &pool, shape, q, (k, &v), first_ctx);
                    }
                }
            }
        }
    }

    fn causal_matches_alone<E: KvElement>(
        isa: Isa,
        pool: &WorkerPool,
        shape: AttentionShape,
        q: &[f32],
        (k, v): (&[f32], &[f32]),
        first_ctx: usize,
    ) {
        let (d, row) = (shape.head_dim, shape.heads * shape.head_dim);
        let cap = k.len() / shape.kv_dim();
        let ((k, _), (v, _)) = (stored::<E>(k), stored::<E>(v));
        let (k, v) = (KvHeads::new(&k, cap * d, d), KvHeads::new(&v, cap * d, d));
        let mut batch = vec![0f32; q.len()];
        attend_causal(
            isa,
            pool,
            shape,
            q,
            (k, v),
            first_ctx,
            &mut batch,
            PrefetchHint::Nta,
        );
        for (t, (qt, bt)) in q.chunks_exact(row).zip(batch.chunks_exact(row)).enumerate() {
            let mut alone = vec![0f32; row];
            attend(
                isa,
                pool,
                shape,
                qt,
                k,
                v,
                first_ctx + t,
                &mut alone,
                PrefetchHint::L2,
            );
            let differ = alone
                .iter()
                .zip(bt)
                .filter(|(x, y)| x.to_bits() != y.to_bits());
            assert_eq!(
                differ.count(),
                0,
                "{isa} {shape:?} {} bytes: token {t} of a batch from ctx {first_ctx}",
                E::BYTES
            );
        }
    }

    #[test]
    fn the_exponential_is_close_to_exp_and_zero_below_the_normal_range() {
        for i in 0..=87_000 {
            let x = -(i as f32) / 1000.0;
            let (got, want) = (exp_emulated(x), f64::from(x).exp());
            assert!(
                ((f64::from(got) - want) / want).abs() < 4e-7,
                "e^{x}: {got} vs {want}"
            );
        }
        assert_eq!(exp_emulated(-87.5), 0.0);
        assert_eq!(exp_emulated(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_emulated(0.0), 1.0);
    }

    #[test]
    fn fast_attention_matches_f64_definition() {
        let mut isas = vec![Isa::Scalar];
        isas.extend(Isa::supported().into_iter().filter(|&i| i != Isa::Scalar));
        for isa in isas {
            for head_dim in [64, 128, 40] {
                for (heads, kv_heads) in [(8, 2), (4, 2), (3, 3), (6, 1)] {
                    let shape = AttentionShape {
                        heads,
                        kv_heads,
                        head_dim,
                    };
                    for ctx in [1, 7, 256, 257, 700] {
                        check::<f32>(isa, 2, shape, ctx, 1.0);
                    }
                    // Large scores: the softmax's max subtraction and the block merge must hold.
                    check::<f32>(isa, 2, shape, 600, 8.0);
                    // An F16 cache: the same algorithm on the values it holds.
                    check::<half::f16>(isa, 2, shape, 257, 1.0);
                    check::<half::f16>(isa, 2, shape, 600, 8.0);
                }
            }
        }
    }
}
