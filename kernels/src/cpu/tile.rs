//! Tiling of one task's work (a range of output rows × all tokens) shared by the SIMD kernels.
//!
//! Loop order: column block (outer) → row tile → token tile. With the column block outermost the
//! activations of one block stay in L1 while every row tile of the task streams past them.

use super::prefetch::PrefetchHint;

/// Tile shape and streaming hints one kernel call uses; validated by `KernelConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileParams {
    /// Weight rows computed together (share each activation load): 1, 2 or 4.
    pub row_tile: usize,
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
