//! Tiling of one task's work (a range of output rows × all tokens) shared by the SIMD kernels.
//!
//! Loop order: column block (outer) → row tile → token tile. With the column block outermost the
//! activations of one block stay in L1 while every row tile of the task streams past them.

use super::prefetch::PrefetchHint;

/// Tile shape and streaming hints one kernel call uses; validated by `KernelConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileParams {
    /// Weight rows computed together (share each activation load) for two or more tokens: 1, 2
    /// or 4.
    pub row_tile: usize,
    /// The same for one token (decode): 1, 2 or 4.
    pub decode_row_tile: usize,
    /// Tokens computed together (share each unpacked weight vector): 1, 2 or 4.
    pub batch_width: usize,
    /// Weights of K per column block; 0 = the whole row in one pass.
    pub col_block: usize,
    /// Software prefetch distance in bytes ahead of the weight stream; 0 = off.
    pub prefetch_bytes: usize,
    /// Cache level the prefetches fill.
    pub prefetch_hint: PrefetchHint,
}

/// Splits `units` (blocks or superblocks) into column blocks of `units_per_block` (0 = one block).
pub fn column_blocks(units: usize, units_per_block: usize) -> impl Iterator<Item = (usize, usize)> {
    let step = if units_per_block == 0 {
        units.max(1)
    } else {
        units_per_block
    };
    (0..units)
        .step_by(step)
        .map(move |s| (s, (s + step).min(units)))
}

/// One ISA's R-row × T-token tile: the only part of a SIMD kernel that differs between ISAs.
/// [`drive`] walks a task's rows and tokens in tiles and calls it (the pattern of memchr's
/// `generic` module: one walk over a vector-specific step).
pub trait TileKernel {
    /// Column units of a row (32-byte blocks for AVX2, 64-byte superblocks for AVX-512).
    fn units(&self) -> usize;

    /// Weights one column unit covers (to turn `col_block` into units).
    fn unit_weights(&self) -> usize;

    /// Adds Σ code·q of rows `r..r+R` (relative to the task's first row) × tokens `t..t+T` over
    /// column units `units` to `out[(r + i)·tokens + t + j]`.
    ///
    /// # Safety
    /// The CPU must support the kernel's instructions, and the tile must lie inside the task's
    /// rows, the activations and `out` (checked by `I2sGemm` before any kernel runs).
    unsafe fn add_tile<const R: usize, const T: usize>(
        &self,
        r: usize,
        t: usize,
        units: std::ops::Range<usize>,
        out: &mut [i32],
    );
}

/// Walks `nrows × tokens` in tiles of `tile.row_tile × tile.batch_width` (`tile.decode_row_tile`
/// rows for one token; 1-wide at the edges),
/// column block by column block, and accumulates every tile into `out` (`[row][token]`).
///
/// # Safety
/// As [`TileKernel::add_tile`]. Inlined into each ISA's `#[target_feature]` entry point, so the
/// tile loops compile with that ISA's features.
#[inline(always)]
pub unsafe fn drive<K: TileKernel>(
    k: &K,
    nrows: usize,
    tokens: usize,
    tile: TileParams,
    out: &mut [i32],
) {
    out[..nrows * tokens].fill(0);
    let per_block = tile.col_block / k.unit_weights();
    let row_tile = if tokens == 1 {
        tile.decode_row_tile
    } else {
        tile.row_tile
    };
    for (u0, u1) in column_blocks(k.units(), per_block) {
        let mut r = 0;
        while r < nrows {
            let rt = if nrows - r >= row_tile { row_tile } else { 1 };
            let mut t = 0;
            while t < tokens {
                let tt = if tokens - t >= tile.batch_width {
                    tile.batch_width
                } else {
                    1
                };
                // SAFETY: this function's contract; the tile stays inside `nrows × tokens`.
                unsafe {
                    match (rt, tt) {
                        (4, 4) => k.add_tile::<4, 4>(r, t, u0..u1, out),
                        (4, 2) => k.add_tile::<4, 2>(r, t, u0..u1, out),
                        (4, _) => k.add_tile::<4, 1>(r, t, u0..u1, out),
                        (2, 4) => k.add_tile::<2, 4>(r, t, u0..u1, out),
                        (2, 2) => k.add_tile::<2, 2>(r, t, u0..u1, out),
                        (2, _) => k.add_tile::<2, 1>(r, t, u0..u1, out),
                        (_, 4) => k.add_tile::<1, 4>(r, t, u0..u1, out),
                        (_, 2) => k.add_tile::<1, 2>(r, t, u0..u1, out),
                        _ => k.add_tile::<1, 1>(r, t, u0..u1, out),
                    }
                }
                t += tt;
            }
            r += rt;
        }
    }
}
