//! Q6_K blocks with each block's 256 values regrouped for the AVX-512 kernel: the same bytes (128
//! low nibbles, 64 high 2-bit parts, 16 int8 scales, an f16 scale, in ggml's packing), but the
//! value at ggml position p is the block's value [`natural_index`]`(p)`.
//!
//! The kernel unpacks 64 values at a time into one byte each and sums four bytes into each i32
//! lane. In ggml's order lane j of the 64-value group G holds values of sub-block 4G + j/4, so
//! every group needs its own int→float conversion and a permute of the 16 sub-block scales. In
//! this order lane j of every group holds values of sub-block j, so a block's four groups add up
//! in integers and one conversion and one multiply by the scales in their stored order finish it
//! (~32 vector instructions a block instead of ~42). x is permuted the same way, once per GEMV.
//!
//! Regrouping is lossless (a permutation within each block) and keeps the block's size, so the
//! lm_head streams the same bytes; the scales and the f16 scale stay where they are.

use crate::format::ggml_blocks::{pack_q6_k_values, q6_k_values, Q6_K_BLOCK_BYTES, QK_K};

/// Values in one of the kernel's groups (one 64-byte vector of unpacked values).
const GROUP: usize = 64;
/// Values per sub-block (one int8 scale).
const SUB_BLOCK: usize = 16;

/// The ggml (natural) index of the value a regrouped block holds at position `p` (< 256): group
/// p / 64, lane (p % 64) / 4 holds four consecutive values of sub-block `lane`, the group-th four.
pub const fn natural_index(p: usize) -> usize {
    let (group, lane, i) = (p / GROUP, (p % GROUP) / 4, p % 4);
    SUB_BLOCK * lane + 4 * group + i
}

/// Blocks per parallel task of [`regroup`] and [`ungroup`] (~200 KiB).
const TASK_BLOCKS: usize = 1024;

/// Regroups every block of `bytes` (whole Q6_K blocks) in place, on rayon's threads (a model's
/// load: 2B-4T's lm_head is 269 MB, ~0.2 s on one thread).
///
/// # Panics
/// If `bytes` is not a whole number of blocks.
pub fn regroup(bytes: &mut [u8]) {
    each_block(bytes, |b| {
        let natural = q6_k_values(b);
        let regrouped = std::array::from_fn(|p| natural[natural_index(p)]);
        pack_q6_k_values(&regrouped, b);
    });
}

/// Undoes [`regroup`] on every block of `bytes`: ggml's order again.
///
/// # Panics
/// If `bytes` is not a whole number of blocks.
pub fn ungroup(bytes: &mut [u8]) {
    each_block(bytes, |b| {
        let regrouped = q6_k_values(b);
        let mut natural = [0u8; QK_K];
        for (p, &v) in regrouped.iter().enumerate() {
            natural[natural_index(p)] = v;
        }
        pack_q6_k_values(&natural, b);
    });
}

/// `f` on every block of `bytes`: up to [`TASK_BLOCKS`] blocks (a row, as the lookup and the
/// other ISAs' GEMV ungroup them) on the calling thread, more in tasks of that many in parallel.
fn each_block(bytes: &mut [u8], f: impl Fn(&mut [u8]) + Sync) {
    use rayon::prelude::*;
    assert!(bytes.len().is_multiple_of(Q6_K_BLOCK_BYTES));
    let task = TASK_BLOCKS * Q6_K_BLOCK_BYTES;
    if bytes.len() <= task {
        bytes.chunks_exact_mut(Q6_K_BLOCK_BYTES).for_each(f);
        return;
    }
    bytes
        .par_chunks_mut(task)
        .for_each(|t| t.chunks_exact_mut(Q6_K_BLOCK_BYTES).for_each(&f));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::embedding::EmbeddingFormat;
    use crate::synthetic::rng;
    use rand::Rng;

    /// A lm_head-sized buffer goes through the parallel tasks (the last one partial) and gets
    /// the bytes each block gets alone, and ungrouping gives the input back.
    #[test]
    fn regrouping_in_parallel_tasks_equals_block_by_block() {
        let mut r = rng(5);
        let blocks = 2 * TASK_BLOCKS + 37;
        let stored: Vec<u8> = (0..blocks * Q6_K_BLOCK_BYTES).map(|_| r.random()).collect();
        let mut whole = stored.clone();
        regroup(&mut whole);
        let mut each = stored.clone();
        each.chunks_exact_mut(Q6_K_BLOCK_BYTES).for_each(regroup);
        assert!(
            whole == each,
            "parallel regrouping differs from block by block"
        );
        ungroup(&mut whole);
        assert!(
            whole == stored,
            "ungrouping did not give the file's bytes back"
        );
    }

    #[test]
    fn positions_are_a_permutation_and_each_lane_one_sub_block() {
        let mut seen = [false; QK_K];
        for p in 0..QK_K {
            let n = natural_index(p);
            assert!(!seen[n], "natural index {n} twice");
            seen[n] = true;
            let lane = (p % GROUP) / 4;
            assert_eq!(n / SUB_BLOCK, lane, "position {p} is in lane {lane}");
        }
    }

    /// Regrouped blocks hold the same values, permuted; the scales are untouched and ungrouping
    /// gives the file's bytes back.
    #[test]
    fn regrouping_permutes_values_and_round_trips() {
        let mut r = rng(71);
        let weights: Vec<f32> = (0..4 * QK_K).map(|_| r.random_range(-2.0..2.0)).collect();
        let mut stored = Vec::new();
        EmbeddingFormat::Q6K.quantize(&weights, &mut stored);
        let mut regrouped = stored.clone();
        regroup(&mut regrouped);
        assert_ne!(regrouped, stored);
        // Dequantising a regrouped block would apply the sub-block scales by position, which no
        // longer match: the raw 6-bit values are compared.
        for (s, g) in stored
            .chunks_exact(Q6_K_BLOCK_BYTES)
            .zip(regrouped.chunks_exact(Q6_K_BLOCK_BYTES))
        {
            let (vs, vg) = (q6_k_values(s), q6_k_values(g));
            for p in 0..QK_K {
                assert_eq!(vg[p], vs[natural_index(p)]);
            }
            assert_eq!(s[QK_K / 2 + QK_K / 4..], g[QK_K / 2 + QK_K / 4..]);
        }
        ungroup(&mut regrouped);
        assert_eq!(regrouped, stored);
    }
}
