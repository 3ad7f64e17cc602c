//! I2_S dot products with AVX-512: VNNI `vpdpbusd` (u8 codes × s8 activations straight into i32)
//! or, without VNNI, AVX-512BW `vpmaddubsw` + `vpmaddwd`.
//!
//! A 64-byte load covers two I2_S blocks (a "superblock" of 256 weights). Plane g of that load
//! holds weights 32g..32g+32 of the first block and of the second, so activations are reordered once
//! per call into the same interleaving ([`InterleavedActs`]); every row then reads them linearly.
//! An odd last block is loaded with a byte mask so no read crosses into the next row.

use std::arch::x86_64::*;
use std::ops::Range;

use super::byte_dot::{ByteDot, MaddBw, Vnni};
use super::line_aligned::LineAligned;
use super::prefetch::{prefetch_ahead_near, prefetch_ahead_with, with_prefetch_hint};
use super::tile::{self, TileKernel, TileParams};
use crate::activation::QuantizedActivations;
use crate::format::i2s::{I2sMatrixRef, BLOCK_BYTES, BLOCK_WEIGHTS};

/// Weights per superblock (two blocks, one 64-byte load).
const SUPER_WEIGHTS: usize = 2 * BLOCK_WEIGHTS;
/// Bytes per superblock.
const SUPER_BYTES: usize = 2 * BLOCK_BYTES;

/// Activations reordered to the superblock plane interleaving, zero-padded to whole superblocks,
/// each token's row starting on a 64-byte boundary.
///
/// Why aligned: a heap buffer is 16-byte aligned, so three times in four every 64-byte load of
/// the activations straddled two cache lines. Which of the four a process got was fixed by its
/// allocation pattern: on the Zen 5 VM 2b4t prefill ran 150 or 115 tokens/s on one thread (and
/// 250 or 205 on two) from one process to the next, and an A/A `--compare-params` on two pools
/// read 1.21–1.29×.
#[derive(Debug, Clone)]
pub struct InterleavedActs {
    data: LineAligned<i8>,
    stride: usize,
    tokens: usize,
}

impl InterleavedActs {
    /// Reorders every token row of `acts`.
    pub fn new(acts: &QuantizedActivations) -> Self {
        let stride = acts.padded_cols().div_ceil(SUPER_WEIGHTS) * SUPER_WEIGHTS;
        let mut data = LineAligned::new(stride * acts.tokens(), |n| vec![0i8; n]);
        for t in 0..acts.tokens() {
            let src = acts.token(t);
            let dst = &mut data.as_mut_slice()[t * stride..(t + 1) * stride];
            for (sb, chunk) in dst.chunks_exact_mut(SUPER_WEIGHTS).enumerate() {
                for g in 0..4 {
                    for half in 0..2 {
                        let from = sb * SUPER_WEIGHTS + half * BLOCK_WEIGHTS + g * 32;
                        let to = g * 64 + half * 32;
                        if from < src.len() {
                            chunk[to..to + 32].copy_from_slice(&src[from..from + 32]);
                        }
                    }
                }
            }
        }
        Self {
            data,
            stride,
            tokens: acts.tokens(),
        }
    }

    fn token(&self, t: usize) -> &[i8] {
        &self.data.as_slice()[t * self.stride..(t + 1) * self.stride]
    }

    /// Number of token rows.
    pub fn tokens(&self) -> usize {
        self.tokens
    }
}

/// VNNI kernel: Σ code·q for rows `rows` × every token into `out[(r − rows.start)·tokens + t]`.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512VNNI (checked once by `I2sGemm::new`).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn dot_codes_vnni(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &InterleavedActs,
    tile: TileParams,
    out: &mut [i32],
) {
    // SAFETY: this function's contract: AVX-512F/BW/VNNI are present and the shapes agree.
    unsafe { drive::<Vnni>(w, rows, acts, tile, out) }
}

/// AVX-512BW kernel (no VNNI), same contract as [`dot_codes_vnni`].
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512BW (checked once by `I2sGemm::new`).
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn dot_codes_bw(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &InterleavedActs,
    tile: TileParams,
    out: &mut [i32],
) {
    // SAFETY: this function's contract: AVX-512F/BW are present and the shapes agree.
    unsafe { drive::<MaddBw>(w, rows, acts, tile, out) }
}

/// Walks the rows of `rows` in tiles and accumulates each into `out`.
///
/// # Safety
/// The CPU must support what `A` needs (AVX-512F/BW, VNNI for `Vnni`); the shapes of `w`,
/// `acts` and `out` agree (checked by `I2sGemm` before any kernel runs).
#[inline(always)]
unsafe fn drive<A: ByteDot>(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &InterleavedActs,
    tile: TileParams,
    out: &mut [i32],
) {
    // The prefetch hint becomes const parameters of the tile, so its inner loops carry no
    // dispatch on it per line.
    // SAFETY: this function's contract, passed on unchanged.
    with_prefetch_hint!(tile.prefetch_hint, S, N => unsafe {
        drive_with::<A, S, N>(w, rows, acts, tile, out)
    })
}

/// [`drive`] with the prefetch hint's consts `S` and `N` (see `prefetch_ahead_with`).
///
/// # Safety
/// As [`drive`].
#[inline(always)]
unsafe fn drive_with<A: ByteDot, const S: i32, const N: bool>(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &InterleavedActs,
    tile: TileParams,
    out: &mut [i32],
) {
    let k = Avx512Tiles::<A, S, N> {
        w,
        row0: rows.start,
        acts,
        tokens: acts.tokens(),
        blocks: w.row_bytes() / BLOCK_BYTES,
        prefetch: tile.prefetch_bytes,
        acc: std::marker::PhantomData,
    };
    // SAFETY: this function's contract: the CPU features of `A` are present and the shapes agree.
    unsafe { tile::drive(&k, rows.len(), acts.tokens(), tile, out) }
}

/// The AVX-512 tile over superblock-interleaved activations, multiplying with `A`, prefetching
/// `prefetch` bytes ahead with the hint's consts `S` and `N`.
struct Avx512Tiles<'a, 'w, A, const S: i32, const N: bool> {
    w: &'a I2sMatrixRef<'w>,
    row0: usize,
    acts: &'a InterleavedActs,
    tokens: usize,
    /// 32-byte blocks per row (an odd count ends in a half superblock).
    blocks: usize,
    prefetch: usize,
    acc: std::marker::PhantomData<A>,
}

impl<A: ByteDot, const S: i32, const N: bool> TileKernel for Avx512Tiles<'_, '_, A, S, N> {
    fn units(&self) -> usize {
        self.blocks.div_ceil(2)
    }

    fn unit_weights(&self) -> usize {
        SUPER_WEIGHTS
    }

    #[inline(always)]
    unsafe fn add_tile<const R: usize, const T: usize>(
        &self,
        r: usize,
        token: usize,
        supers: Range<usize>,
        out: &mut [i32],
    ) {
        // Masked, unshifted planes put code·4^k (up to 128) in a byte: exact only where the
        // products are widened one by one.
        if T == 1 && A::EXACT_TO_128 {
            // SAFETY: as below; the same tile, one token.
            unsafe { self.add_rows_one_token::<R>(r, token, supers, out) };
            return;
        }
        // SAFETY: this function's contract: the features are present (inlined into the entry
        // point that enables them) and the tile lies inside the operands.
        unsafe {
            let rows: [&[u8]; R] = std::array::from_fn(|i| self.w.row(self.row0 + r + i));
            let toks: [&[i8]; T] = std::array::from_fn(|j| self.acts.token(token + j));
            let mask = _mm512_set1_epi8(3);
            let mut acc = [[_mm512_setzero_si512(); T]; R];
            let mut acc2 = [[_mm512_setzero_si512(); T]; R];
            // A second accumulator set only while it fits the 32 vector registers with codes and loads.
            let two_chains = R * T <= 4;
            // The last superblock of a row with an odd block count holds only one block.
            let odd_tail = self.blocks % 2 == 1 && supers.end == self.units();
            let full_end = if odd_tail { supers.end - 1 } else { supers.end };
            for s in supers.start..full_end {
                for i in 0..R {
                    let wp = rows[i].as_ptr().add(s * SUPER_BYTES);
                    prefetch_ahead_with::<S, N>(wp, self.prefetch);
                    // SAFETY: s < full_end, so both blocks of superblock s lie inside row i.
                    let wv = _mm512_loadu_si512(wp as *const __m512i);
                    accumulate::<A, T>(&mut acc[i], &mut acc2[i], wv, mask, &toks, s, two_chains);
                }
            }
            if odd_tail && supers.end > supers.start {
                let s = supers.end - 1;
                for i in 0..R {
                    // SAFETY: the mask keeps the load to the row's last 32-byte block; masked
                    // bytes are not read and become code 0, which adds nothing.
                    let wv = _mm512_maskz_loadu_epi8(
                        0xFFFF_FFFF,
                        rows[i].as_ptr().add(s * SUPER_BYTES) as *const i8,
                    );
                    accumulate::<A, T>(&mut acc[i], &mut acc2[i], wv, mask, &toks, s, two_chains);
                }
            }
            for i in 0..R {
                for j in 0..T {
                    out[(r + i) * self.tokens + token + j] +=
                        _mm512_reduce_add_epi32(_mm512_add_epi32(acc[i][j], acc2[i][j]));
                }
            }
        }
    }
}

impl<A: ByteDot, const S: i32, const N: bool> Avx512Tiles<'_, '_, A, S, N> {
    /// The decode tile (one token): each plane of a 64-byte load is only masked, not shifted —
    /// plane g keeps its codes at bit 6 − 2g, i.e. multiplied by 4^(3−g) — and goes into its own
    /// accumulator; the row's sum divides the scales out once at the end (exactly: every lane
    /// is a multiple of its scale). Three shifts fewer per load: on Intel cores 512-bit shifts and
    /// `vpdpbusd` share port 0, which is what the per-byte work of a DRAM-streaming GEMV contends
    /// for. Measured on the Sapphire Rapids VM, one process, interleaved, 2 threads: weights in
    /// cache 47.5 → 56.2 GB/s (2560×6912) and 42.1 → 46.3 (6912×2560); streaming from DRAM
    /// +2–3 % (22.0 → 22.7, 23.6 → 24.1).
    ///
    /// # Safety
    /// As [`TileKernel::add_tile`] with T = 1; `A` is VNNI.
    #[inline(always)]
    unsafe fn add_rows_one_token<const R: usize>(
        &self,
        r: usize,
        token: usize,
        supers: Range<usize>,
        out: &mut [i32],
    ) {
        // SAFETY: this function's contract: the features are present and the tile lies inside
        // the operands (the same bounds as `add_tile`).
        unsafe {
            let rows: [&[u8]; R] = std::array::from_fn(|i| self.w.row(self.row0 + r + i));
            let acts = self.acts.token(token);
            let masks = [
                _mm512_set1_epi8(0xC0u8 as i8),
                _mm512_set1_epi8(0x30),
                _mm512_set1_epi8(0x0C),
                _mm512_set1_epi8(0x03),
            ];
            let mut acc = [[_mm512_setzero_si512(); 4]; R];
            // The tile's rows are contiguous: one block of R rows. Prefetches walk that block
            // line by line (line sR + i at row i of superblock s), the far one `prefetch` bytes
            // ahead, the L1 one a whole block ahead (the same place in the next tile): each line
            // is prefetched once, and from two base pointers rather than one per row and
            // distance, which spilled row pointers to the stack. Before, the L1 prefetch went a
            // flat kilobyte ahead of each row, which for 640-byte rows is mostly a line of this
            // tile already read: cpu-clock samples piled on the third and fourth rows' loads.
            // Emerald Rapids VM, 2 threads, 3840x2560 streaming from DRAM, against a synthetic
            // loop of the same instructions in the same process: 0.849 -> 0.891 of its rate
            // (three runs of 8 rounds); in the model, qkv +2 %, o +4.6 %, gate/up +2.4 %, down
            // -1 % against the lm_head's rate in the same runs (five alternating processes).
            let block_start = rows[0].as_ptr();
            let block = R * self.w.row_bytes();
            let odd_tail = self.blocks % 2 == 1 && supers.end == self.units();
            let full_end = if odd_tail { supers.end - 1 } else { supers.end };
            for s in supers.start..full_end {
                let a = superblock_acts(acts, s);
                // Each row's prefetch, load and products together: with the four loads and
                // prefetches of a step issued back to back, cpu-clock samples piled on the
                // prefetches (waiting for L1 miss buffers); issued per row they spread out.
                // Interleaved A/B on the Sapphire Rapids VM: +2-6 % streaming from DRAM, the
                // same with the weights in L2.
                for (i, (acc_row, row)) in acc.iter_mut().zip(rows).enumerate() {
                    let line = block_start.wrapping_add((s * R + i) * 64);
                    prefetch_ahead_near::<S, N>(line, self.prefetch, block);
                    let wp = row.as_ptr().add(s * SUPER_BYTES);
                    // SAFETY: s < full_end, so both blocks of superblock s lie inside the row.
                    let wv = _mm512_loadu_si512(wp as *const __m512i);
                    for g in 0..4 {
                        acc_row[g] = A::dot(acc_row[g], _mm512_and_si512(wv, masks[g]), a[g]);
                    }
                }
            }
            if odd_tail && supers.end > supers.start {
                let s = supers.end - 1;
                // SAFETY: the mask keeps each load to the row's last 32-byte block; masked bytes
                // become code 0, which adds nothing.
                let mut loads = [_mm512_setzero_si512(); R];
                for (load, row) in loads.iter_mut().zip(rows) {
                    *load = _mm512_maskz_loadu_epi8(
                        0xFFFF_FFFF,
                        row.as_ptr().add(s * SUPER_BYTES) as *const i8,
                    );
                }
                plane_step::<A, R>(&mut acc, loads, acts, s, &masks);
            }
            for (i, planes) in acc.iter().enumerate() {
                let sum = _mm512_add_epi32(
                    _mm512_add_epi32(
                        _mm512_srai_epi32::<6>(planes[0]),
                        _mm512_srai_epi32::<4>(planes[1]),
                    ),
                    _mm512_add_epi32(_mm512_srai_epi32::<2>(planes[2]), planes[3]),
                );
                out[(r + i) * self.tokens + token] += _mm512_reduce_add_epi32(sum);
            }
        }
    }
}

/// One superblock of R rows (`loads`) against one token, each plane masked into its accumulator.
/// A function rather than a closure: closures do not inherit the caller's target features.
///
/// # Safety
/// As [`Avx512Tiles::add_rows_one_token`]; superblock `s` lies inside the activations.
#[inline(always)]
unsafe fn plane_step<A: ByteDot, const R: usize>(
    acc: &mut [[__m512i; 4]; R],
    loads: [__m512i; R],
    acts: &[i8],
    s: usize,
    masks: &[__m512i; 4],
) {
    // SAFETY: this function's contract.
    unsafe {
        let a = superblock_acts(acts, s);
        for i in 0..R {
            for g in 0..4 {
                let codes = _mm512_and_si512(loads[i], masks[g]);
                acc[i][g] = A::dot(acc[i][g], codes, a[g]);
            }
        }
    }
}

/// The four activation planes of superblock `s` of one token's interleaved activations.
///
/// # Safety
/// The CPU must support AVX-512F; `acts` holds whole superblocks up to `s` (interleaved
/// activations are padded so).
#[inline(always)]
unsafe fn superblock_acts(acts: &[i8], s: usize) -> [__m512i; 4] {
    debug_assert!(acts.len() >= (s + 1) * SUPER_WEIGHTS);
    // SAFETY: this function's contract: the four 64-byte loads lie inside superblock s.
    unsafe {
        let ap = acts.as_ptr().add(s * SUPER_WEIGHTS) as *const __m512i;
        [
            _mm512_loadu_si512(ap),
            _mm512_loadu_si512(ap.add(1)),
            _mm512_loadu_si512(ap.add(2)),
            _mm512_loadu_si512(ap.add(3)),
        ]
    }
}

/// One superblock of one row against T tokens.
///
/// # Safety
/// As [`drive`]; the superblock lies inside the row and the activations.
#[inline(always)]
unsafe fn accumulate<A: ByteDot, const T: usize>(
    acc: &mut [__m512i; T],
    acc2: &mut [__m512i; T],
    wv: __m512i,
    mask: __m512i,
    toks: &[&[i8]; T],
    s: usize,
    two_chains: bool,
) {
    // SAFETY: this function's contract: the features are present and the superblock lies inside
    // the operands.
    unsafe {
        let c0 = _mm512_and_si512(_mm512_srli_epi16::<6>(wv), mask);
        let c1 = _mm512_and_si512(_mm512_srli_epi16::<4>(wv), mask);
        let c2 = _mm512_and_si512(_mm512_srli_epi16::<2>(wv), mask);
        let c3 = _mm512_and_si512(wv, mask);
        for j in 0..T {
            // SAFETY: interleaved token rows are padded to whole superblocks (stride ≥ (s+1)·256).
            let ap = toks[j].as_ptr().add(s * SUPER_WEIGHTS) as *const __m512i;
            if two_chains {
                // Two independent accumulators halve the dependent `vpdpbusd` chain (latency ~5
                // cycles each), which otherwise bounds small tiles.
                let v = A::dot(acc[j], c0, _mm512_loadu_si512(ap));
                let w = A::dot(acc2[j], c1, _mm512_loadu_si512(ap.add(1)));
                acc[j] = A::dot(v, c2, _mm512_loadu_si512(ap.add(2)));
                acc2[j] = A::dot(w, c3, _mm512_loadu_si512(ap.add(3)));
            } else {
                let mut v = A::dot(acc[j], c0, _mm512_loadu_si512(ap));
                v = A::dot(v, c1, _mm512_loadu_si512(ap.add(1)));
                v = A::dot(v, c2, _mm512_loadu_si512(ap.add(2)));
                acc[j] = A::dot(v, c3, _mm512_loadu_si512(ap.add(3)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_rows_start_on_cache_lines_and_hold_the_planes_in_order() {
        for (tokens, cols) in [(1, 256), (3, 300), (5, 2560), (2, 6912)] {
            let x: Vec<f32> = (0..tokens * cols)
                .map(|i| ((i * 37 % 201) as f32 - 100.0) / 7.0)
                .collect();
            let acts = QuantizedActivations::quantize(&x, tokens, cols).unwrap();
            let il = InterleavedActs::new(&acts);
            for t in 0..tokens {
                let row = il.token(t);
                assert_eq!(row.as_ptr() as usize % 64, 0, "{tokens}x{cols} token {t}");
                // Superblock 0, plane g, half h holds weights h·128 + 32g .. + 32 of the token.
                let src = acts.token(t);
                for (g, half) in [(0, 0), (1, 1), (3, 0)] {
                    let from = half * BLOCK_WEIGHTS + g * 32;
                    if from + 32 <= cols {
                        let to = g * 64 + half * 32;
                        assert_eq!(&row[to..to + 32], &src[from..from + 32]);
                    }
                }
            }
        }
    }
}
