//! The task loop the two lane-group kernels (lanes16, trits16) share: a task's rows a 16-row group
//! at a time, two groups at a time for prompt batches (each broadcast activation quad then feeds
//! two `vpdpbusd`, which halves the loads per product: 2b4t pp128 on the Zen 5 VM, alternating
//! processes, 305–313 → 329–345 tokens/s on lanes16, 0.85 → 0.995× lanes16 on trits16), tokens
//! in tiles of 8, 4, 2 and 1, and a whole group's one-token sums written straight to its rows
//! (the row-by-row copy through a buffer cost 18 % of a K = 2560 lanes16 GEMV from L2 on the
//! Zen 5 VM, 1–4 % from DRAM).

use std::ops::Range;

use super::prefetch::with_prefetch_hint;
use super::tile::TileParams;
use crate::activation::QuantizedActivations;
use crate::format::ternary_layout::LANE_ROWS;

/// Tokens one batch tile shares each line's codes among: 16 accumulators (8 tokens × 2 groups)
/// and a line's planes fit the 32 vector registers. Measured against 4 and 12 on lanes16 (Zen 5
/// VM, 64 tokens, 2 threads): 4 was 10 % slower, 12 the same.
pub(crate) const BATCH_TOKENS: usize = 8;

/// The sums a batch tile reports: `[group][token][row of the group]`, up to two groups.
pub(crate) type GroupSums = [[[i32; LANE_ROWS]; BATCH_TOKENS]; 2];

/// One layout's kernels over 16-row lane groups.
pub(crate) trait LaneGroups {
    /// Bytes of one group.
    fn group_bytes(&self) -> usize;

    /// One token against one group: Σ code·q of its 16 rows into `sums`, prefetching `prefetch`
    /// bytes ahead with the hint's consts (see `prefetch_ahead_with`).
    ///
    /// # Safety
    /// The CPU has the kernel's features; `group` holds one group; `acts` is a token's row,
    /// every column the group's lines cover.
    unsafe fn decode_with<const S: i32, const N: bool>(
        &self,
        group: &[u8],
        acts: &[i8],
        prefetch: usize,
        sums: &mut [i32; LANE_ROWS],
    );

    /// [`Self::decode_with`] with the tile's prefetch hint.
    ///
    /// # Safety
    /// As [`Self::decode_with`].
    unsafe fn decode(
        &self,
        group: &[u8],
        acts: &[i8],
        tile: TileParams,
        sums: &mut [i32; LANE_ROWS],
    ) {
        // SAFETY: this function's contract, passed on.
        unsafe {
            with_prefetch_hint!(tile.prefetch_hint, S, N => {
                self.decode_with::<S, N>(group, acts, tile.prefetch_bytes, sums)
            })
        }
    }

    /// `tile`'s tokens against its groups: Σ code·q of group `g`'s rows into
    /// `sums[g][0..tile.tokens.len()]`.
    ///
    /// # Safety
    /// As [`Self::decode_with`], for the tile's groups and every token of it.
    unsafe fn batch(&self, tile: BatchTile<'_>, sums: &mut GroupSums);
}

/// A prompt batch tile: tokens `tokens` (8, 4, 2 or 1 of them) of `acts` against `span` (1 or 2)
/// adjacent groups, `groups`.
pub(crate) struct BatchTile<'a> {
    pub(crate) groups: &'a [u8],
    pub(crate) span: usize,
    pub(crate) acts: &'a QuantizedActivations,
    pub(crate) tokens: Range<usize>,
    pub(crate) params: TileParams,
}

/// Σ code·q for rows `rows` × every token into `out[(r − rows.start)·tokens + t]`, `data` the
/// matrix's groups in `kernel`'s layout.
///
/// # Safety
/// The CPU has `kernel`'s features; `data` holds whole groups up to `rows.end` and every token row
/// of `acts` the columns they cover.
pub(crate) unsafe fn dot_codes<K: LaneGroups>(
    kernel: &K,
    data: &[u8],
    rows: Range<usize>,
    acts: &QuantizedActivations,
    tile: TileParams,
    out: &mut [i32],
) {
    let tokens = acts.tokens();
    let group_bytes = kernel.group_bytes();
    // One buffer for the whole call: each tile overwrites the sums it reports before they are
    // read, so nothing is zeroed per group.
    let mut sums: GroupSums = [[[0; LANE_ROWS]; BATCH_TOKENS]; 2];
    let mut r = rows.start;
    while r < rows.end {
        let g = r / LANE_ROWS;
        let pair = tokens > 1 && (g + 1) * LANE_ROWS < rows.end;
        let span = if pair { 2 } else { 1 };
        let end = rows.end.min((g + span) * LANE_ROWS);
        let groups = &data[g * group_bytes..(g + span) * group_bytes];
        if tokens == 1 && r == g * LANE_ROWS && end == r + LANE_ROWS {
            let at = r - rows.start;
            if let Ok(dst) = <&mut [i32; LANE_ROWS]>::try_from(&mut out[at..at + LANE_ROWS]) {
                // SAFETY: this function's contract; `groups` is the one group.
                unsafe { kernel.decode(groups, acts.token(0), tile, dst) };
                r = end;
                continue;
            }
        }
        let mut t = 0;
        while t < tokens {
            let width = match tokens - t {
                n if n >= BATCH_TOKENS => BATCH_TOKENS,
                n if n >= 4 => 4,
                n if n >= 2 => 2,
                _ => 1,
            };
            // SAFETY: this function's contract; `groups` holds `span` groups.
            unsafe {
                if tokens == 1 {
                    kernel.decode(groups, acts.token(t), tile, &mut sums[0][0]);
                } else {
                    let batch = BatchTile {
                        groups,
                        span,
                        acts,
                        tokens: t..t + width,
                        params: tile,
                    };
                    kernel.batch(batch, &mut sums);
                }
            }
            for row in r..end {
                let s = &sums[row / LANE_ROWS - g];
                let lane = row % LANE_ROWS;
                for (j, sj) in s.iter().take(width).enumerate() {
                    out[(row - rows.start) * tokens + t + j] = sj[lane];
                }
            }
            t += width;
        }
        r = end;
    }
}

/// Activations `col..col + 4` broadcast to every 32-bit lane: the `vpdpbusd` operand of both
/// lane-group kernels.
///
/// # Safety
/// AVX-512F is present; the four bytes at `acts + col` are readable.
#[inline(always)]
pub(crate) unsafe fn quad(acts: *const i8, col: usize) -> std::arch::x86_64::__m512i {
    // SAFETY: this function's contract.
    unsafe {
        std::arch::x86_64::_mm512_set1_epi32(std::ptr::read_unaligned(acts.add(col) as *const i32))
    }
}
