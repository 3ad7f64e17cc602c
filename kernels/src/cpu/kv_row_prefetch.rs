//! Software prefetch of KV cache rows ahead of an attention pass, shared by the SIMD kernels
//! (AVX-512 and AVX2 read the same head-major rows in the same order).

use super::kv_element::KvElement;
use super::prefetch::{prefetch, PrefetchHint};

/// Rows ahead of the current one that are prefetched, for elements of `bytes` bytes. With the
/// head-major cache the rows are contiguous and the hardware prefetcher follows them too: 4, 8,
/// 16 or 32 rows streamed the same 17–18 GB/s at 4096 positions on the Sapphire Rapids VM. On the
/// Zen 5 VM the distance mattered, and differently per element type (2B-4T's 5 KV heads at 4096
/// positions, 30 caches, 2 threads, distances alternating in one process with a read pass over
/// 45–60 s, rounds binned by the read pass's rate, ratios to 8 rows):
/// - f32 rows (512 bytes): 4 rows 1.05–1.06× at 40–60 GB/s and 0.99–1.00× at 60–90; 6 rows
///   1.04× and 1.00–1.01×; 3 rows 1.02–1.03× and 0.96×; 16 rows 0.98×; no prefetch 0.82–0.84×.
/// - F16 rows (256 bytes): 16 rows 1.05–1.06× at 40–60 GB/s and 1.12–1.14× at 60–90; 12 rows
///   0.99× of 16; 32 rows 0.98× of 16 at 40–60 and 1.04–1.05× at 60–90; 4 rows 0.96×.
///
/// The host spends most of its time below 60 GB/s, so 4 f32 rows and 16 F16 rows.
pub(crate) const fn prefetch_rows(bytes: usize) -> usize {
    if bytes == 2 {
        16
    } else {
        4
    }
}

/// Prefetches the cache lines of one head's row of `d` elements at `p` into `hint`'s level (a
/// hint: never faults, so addresses past the block are harmless).
#[inline(always)]
pub(crate) fn prefetch_row<E: KvElement>(p: *const E, d: usize, hint: PrefetchHint) {
    let p = p as *const u8;
    for line in 0..(d * E::BYTES).div_ceil(64) {
        prefetch(p.wrapping_add(64 * line), hint);
    }
}
