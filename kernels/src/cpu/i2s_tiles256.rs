//! The row-major I2_S tile of the 256-bit kernels (AVX2 and AVX-VNNI): the walk over a tile's
//! rows, tokens and 32-byte blocks, two blocks (one 64-byte line of a row) a step and an odd last
//! block alone, is the same for both; only the multiply-accumulate of a step differs
//! ([`BlockDot256`]), as `byte_dot` does for the AVX-512 kernels.
//!
//! Blocks: 32 bytes hold 128 weights as four 2-bit planes; plane g (shift 6 − 2g) holds weights
//! 32g..32g + 32, which line up with 32 consecutive activations, so activations stay in natural
//! order.

use std::arch::x86_64::*;
use std::marker::PhantomData;
use std::ops::Range;

use super::i2s_avx2::hsum_epi32;
use super::prefetch::with_prefetch_hint;
use super::tile::{drive, TileKernel, TileParams};
use crate::activation::QuantizedActivations;
use crate::format::i2s::{I2sMatrixRef, BLOCK_BYTES, BLOCK_WEIGHTS};

/// One 256-bit ISA's multiply-accumulate of a tile step. `S` and `N` are the prefetch hint's
/// consts (see `prefetch_ahead_with`); each row of a step is prefetched `ahead` bytes on.
pub(super) trait BlockDot256 {
    /// Adds blocks `b..b + B` (B = 1 or 2: at most one 64-byte line) of `rows` × `toks` to `acc`.
    ///
    /// # Safety
    /// The CPU must support the ISA's instructions (the method is inlined into its entry
    /// point); blocks `b..b + B` lie in every row and every token row holds `padded_cols`
    /// activations.
    unsafe fn add_blocks<
        const S: i32,
        const N: bool,
        const R: usize,
        const T: usize,
        const B: usize,
    >(
        rows: &[&[u8]; R],
        toks: &[&[i8]; T],
        b: usize,
        ahead: usize,
        acc: &mut [[__m256i; T]; R],
    );

    /// The decode tile's step: blocks `b..b + B` of `rows` against one token, into two
    /// accumulators a row that [`Self::decode_sum`] joins (a kernel may keep differently scaled
    /// products apart).
    ///
    /// # Safety
    /// As [`Self::add_blocks`].
    unsafe fn decode_blocks<const S: i32, const N: bool, const R: usize, const B: usize>(
        rows: &[&[u8]; R],
        tok: &[i8],
        b: usize,
        ahead: usize,
        acc: &mut [[__m256i; 2]; R],
    );

    /// A decode row's two accumulators as one of i32 sums.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    unsafe fn decode_sum(acc: [__m256i; 2]) -> __m256i;
}

/// Σ code·q for rows `rows` × every token into `out[(r − rows.start)·tokens + t]` with `D`'s
/// steps.
///
/// # Safety
/// The CPU must support `D`'s instructions: inlined into its `#[target_feature]` entry point,
/// which `I2sGemm::new` checked.
#[inline(always)]
pub(super) unsafe fn dot_codes<D: BlockDot256>(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &QuantizedActivations,
    tile: TileParams,
    out: &mut [i32],
) {
    with_prefetch_hint!(tile.prefetch_hint, S, N => {
        let k = Tiles256::<D, S, N> {
            w,
            row0: rows.start,
            acts,
            tokens: acts.tokens(),
            ahead: tile.prefetch_bytes,
            dot: PhantomData,
        };
        // SAFETY: this function's contract: the ISA is present and the shapes agree.
        unsafe { drive(&k, rows.len(), acts.tokens(), tile, out) }
    })
}

/// The 256-bit tile over natural-order activations with `D`'s steps.
struct Tiles256<'a, 'w, D, const S: i32, const N: bool> {
    w: &'a I2sMatrixRef<'w>,
    row0: usize,
    acts: &'a QuantizedActivations,
    tokens: usize,
    ahead: usize,
    dot: PhantomData<D>,
}

impl<D: BlockDot256, const S: i32, const N: bool> TileKernel for Tiles256<'_, '_, D, S, N> {
    fn units(&self) -> usize {
        self.w.row_bytes() / BLOCK_BYTES
    }

    fn unit_weights(&self) -> usize {
        BLOCK_WEIGHTS
    }

    #[inline(always)]
    unsafe fn add_tile<const R: usize, const T: usize>(
        &self,
        r: usize,
        token: usize,
        units: Range<usize>,
        out: &mut [i32],
    ) {
        // SAFETY: this function's contract: the ISA is present (the caller is its entry point,
        // into which this is inlined) and the tile lies inside the operands.
        unsafe {
            let rows: [&[u8]; R] = std::array::from_fn(|i| self.w.row(self.row0 + r + i));
            if T == 1 {
                let tok = self.acts.token(token);
                let mut acc = [[_mm256_setzero_si256(); 2]; R];
                let mut b = units.start;
                while b + 2 <= units.end {
                    D::decode_blocks::<S, N, R, 2>(&rows, tok, b, self.ahead, &mut acc);
                    b += 2;
                }
                if b < units.end {
                    D::decode_blocks::<S, N, R, 1>(&rows, tok, b, self.ahead, &mut acc);
                }
                for (i, &a) in acc.iter().enumerate() {
                    out[(r + i) * self.tokens + token] += hsum_epi32(D::decode_sum(a));
                }
                return;
            }
            let toks: [&[i8]; T] = std::array::from_fn(|j| self.acts.token(token + j));
            let mut acc = [[_mm256_setzero_si256(); T]; R];
            let mut b = units.start;
            while b + 2 <= units.end {
                D::add_blocks::<S, N, R, T, 2>(&rows, &toks, b, self.ahead, &mut acc);
                b += 2;
            }
            if b < units.end {
                D::add_blocks::<S, N, R, T, 1>(&rows, &toks, b, self.ahead, &mut acc);
            }
            for (i, acc_i) in acc.iter().enumerate() {
                for (j, &a) in acc_i.iter().enumerate() {
                    out[(r + i) * self.tokens + token + j] += hsum_epi32(a);
                }
            }
        }
    }
}
