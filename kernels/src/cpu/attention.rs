//! Fast decode attention in f32: grouped-query attention of one query row over a KV cache, the
//! positions split into fixed blocks so the result does not depend on the thread count.
//!
//! Work item = (KV head, block of [`BLOCK_POSITIONS`] positions). An item computes, for every
//! query head sharing that KV head, the block's softmax partials: max score `m`, Σ exp(s − m) `l`
//! and Σ exp(s − m)·V `acc` (flash-decoding). The partials are merged per head in block order on
//! the calling thread. The block's keys and values (128 KiB each at head_dim 128) stay in L2 while
//! the group's query heads use them, so each KV byte comes from memory once per token.
//!
//! Summation order is fixed (per lane, then a fixed lane reduction), so repeated runs and any
//! thread count give the same bits. It differs from the f64 reference ([`crate::model`]'s exact
//! attention) by f32 rounding; the model cross-validation (cosine ≥ 0.9999, identical greedy
//! tokens) is the check, as for every fast path.

use crate::cpu::worker_pool::WorkerPool;
use crate::cpu::Isa;

/// Positions per work item.
pub const BLOCK_POSITIONS: usize = 256;

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

    fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

/// The block routine a call uses, resolved once per call.
/// The block routine a call uses, resolved once per call: AVX-512 for head widths of 64 or 128
/// floats and 1, 2 or 4 query heads per KV head (every shape perfd knows), else portable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// `(head_dim / 16, query heads per KV head)`.
    Avx512(usize, usize),
    Portable,
}

impl Path {
    fn for_call(isa: Isa, shape: AttentionShape) -> Self {
        let avx512 = matches!(isa, Isa::Avx512Bw | Isa::Avx512Vnni) && isa.is_supported();
        let n = shape.head_dim / 16;
        if avx512
            && cfg!(target_arch = "x86_64")
            && matches!(shape.head_dim, 64 | 128)
            && matches!(shape.group(), 1 | 2 | 4)
        {
            Path::Avx512(n, shape.group())
        } else {
            Path::Portable
        }
    }
}

/// Kernel id of the attention a call with `isa` on `shape` runs.
pub fn kernel_id(isa: Isa, shape: AttentionShape) -> &'static str {
    match Path::for_call(isa, shape) {
        Path::Portable => "attention_f32_portable",
        Path::Avx512(..) => "attention_f32_avx512",
    }
}

/// The inputs of one work item.
pub(crate) struct Block<'a> {
    /// The group's query rows, `group × head_dim`.
    pub(crate) q: &'a [f32],
    /// Keys of the block's positions, rows of `stride` floats, this KV head at `offset`.
    pub(crate) keys: &'a [f32],
    /// Values, laid out like `keys`.
    pub(crate) values: &'a [f32],
    /// Positions in the block.
    pub(crate) len: usize,
    /// Floats between two positions' rows.
    pub(crate) stride: usize,
    /// This KV head's first float within a row.
    pub(crate) offset: usize,
    /// Softmax scale (1/√head_dim).
    pub(crate) scale: f32,
}

/// Floats of one head's partial: `m`, `l`, then `acc[head_dim]`.
fn partial_len(head_dim: usize) -> usize {
    head_dim + 2
}

/// Attention of the query rows `q` (`heads × head_dim`) over positions `0..ctx` of `keys` and
/// `values` (`ctx × kv_dim`, row-major), written to `out` (`heads × head_dim`).
///
/// # Panics
/// If the slices are shorter than the shape says, or `heads` is not a multiple of `kv_heads`.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    isa: Isa,
    pool: &WorkerPool,
    shape: AttentionShape,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    ctx: usize,
    out: &mut [f32],
) {
    let (d, group, kvd) = (shape.head_dim, shape.group(), shape.kv_dim());
    assert!(shape.heads.is_multiple_of(shape.kv_heads) && ctx > 0);
    assert!(q.len() >= shape.heads * d && out.len() >= shape.heads * d);
    assert!(keys.len() >= ctx * kvd && values.len() >= ctx * kvd);
    let path = Path::for_call(isa, shape);
    let blocks = ctx.div_ceil(BLOCK_POSITIONS);
    let per_item = group * partial_len(d);
    let mut partials = vec![0f32; shape.kv_heads * blocks * per_item];
    let scale = 1.0 / (d as f32).sqrt();
    pool.for_each_chunk_maybe_inline(
        blocks * shape.kv_heads < 2,
        &mut partials,
        per_item,
        |item, part| {
            let (kvh, b) = (item / blocks, item % blocks);
            let p0 = b * BLOCK_POSITIONS;
            let len = BLOCK_POSITIONS.min(ctx - p0);
            let block = Block {
                q: &q[kvh * group * d..(kvh + 1) * group * d],
                keys: &keys[p0 * kvd..(p0 + len) * kvd],
                values: &values[p0 * kvd..(p0 + len) * kvd],
                len,
                stride: kvd,
                offset: kvh * d,
                scale,
            };
            run_block(path, &block, d, part);
        },
    );
    merge(&partials, shape, blocks, &mut out[..shape.heads * d]);
}

fn run_block(path: Path, block: &Block<'_>, d: usize, part: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::attention_avx512::block as simd;
        // SAFETY: `Path::for_call` chose Avx512(n, g) only on a CPU with AVX-512F, for head
        // width 16·n and g query heads per KV head; `attend` sized q, part and the rows so.
        match path {
            Path::Avx512(4, 1) => return unsafe { simd::<4, 1>(block, part) },
            Path::Avx512(4, 2) => return unsafe { simd::<4, 2>(block, part) },
            Path::Avx512(4, 4) => return unsafe { simd::<4, 4>(block, part) },
            Path::Avx512(8, 1) => return unsafe { simd::<8, 1>(block, part) },
            Path::Avx512(8, 2) => return unsafe { simd::<8, 2>(block, part) },
            Path::Avx512(8, 4) => return unsafe { simd::<8, 4>(block, part) },
            _ => {}
        }
    }
    block_portable(block, d, part)
}

/// One work item in plain f32 (any head width).
fn block_portable(block: &Block<'_>, d: usize, part: &mut [f32]) {
    let mut scores = vec![0f32; block.len];
    for (h, ph) in part.chunks_exact_mut(partial_len(d)).enumerate() {
        let qh = &block.q[h * d..(h + 1) * d];
        for (j, s) in scores.iter_mut().enumerate() {
            let k = &block.keys[j * block.stride + block.offset..][..d];
            *s = qh.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * block.scale;
        }
        let m = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (head, acc) = ph.split_at_mut(2);
        acc.fill(0.0);
        let mut l = 0f32;
        for (j, &s) in scores.iter().enumerate() {
            let e = (s - m).exp();
            l += e;
            let v = &block.values[j * block.stride + block.offset..][..d];
            acc.iter_mut().zip(v).for_each(|(a, &x)| *a += e * x);
        }
        head[0] = m;
        head[1] = l;
    }
}

/// Merges the blocks' partials per head, in block order.
fn merge(partials: &[f32], shape: AttentionShape, blocks: usize, out: &mut [f32]) {
    let (d, group) = (shape.head_dim, shape.group());
    let pl = partial_len(d);
    for (head, oh) in out.chunks_exact_mut(d).enumerate() {
        let (kvh, h) = (head / group, head % group);
        let part = |b: usize| &partials[((kvh * blocks + b) * group + h) * pl..][..pl];
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
        let (d, kvd, group) = (shape.head_dim, shape.kv_dim(), shape.group());
        let mut out = vec![0f64; shape.heads * d];
        let mut largest = 0f64;
        for head in 0..shape.heads {
            let kvh = head / group;
            let s: Vec<f64> = (0..ctx)
                .map(|j| {
                    (0..d)
                        .map(|i| f64::from(q[head * d + i]) * f64::from(k[j * kvd + kvh * d + i]))
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
                    out[head * d + i] += w / sum * f64::from(v[j * kvd + kvh * d + i]);
                }
            }
        }
        (out, largest)
    }

    fn check(isa: Isa, threads: usize, shape: AttentionShape, ctx: usize, spread: f32) {
        let mut r = rng(ctx as u64 * 31 + shape.head_dim as u64);
        let kvd = shape.kv_dim();
        let mut gen =
            |n: usize| -> Vec<f32> { (0..n).map(|_| r.random_range(-spread..spread)).collect() };
        let (q, k, v) = (
            gen(shape.heads * shape.head_dim),
            gen(ctx * kvd),
            gen(ctx * kvd),
        );
        let pool = WorkerPool::new(threads, false).unwrap();
        let mut out = vec![0f32; shape.heads * shape.head_dim];
        attend(isa, &pool, shape, &q, &k, &v, ctx, &mut out);
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
        let single = WorkerPool::new(1, false).unwrap();
        let mut again = vec![0f32; out.len()];
        attend(isa, &single, shape, &q, &k, &v, ctx, &mut again);
        assert_eq!(
            out, again,
            "{isa} ctx {ctx}: thread count changed the result"
        );
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
                        check(isa, 2, shape, ctx, 1.0);
                    }
                    // Large scores: the softmax's max subtraction and the block merge must hold.
                    check(isa, 2, shape, 600, 8.0);
                }
            }
        }
    }
}
