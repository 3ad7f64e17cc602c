//! x quantised for the Q6_K and Q8_0 lm_head kernels (AVX-512 and AVX2): a 15-bit integer x̂
//! per 256-value block, split as x̂ = 128·h + l with h ∈ [−127, 127] and l ∈ [−64, 63], both
//! int8, so unsigned weight bytes multiply with h and with l as u8 × s8 byte products and
//! 128·Σv·h + Σv·l = Σv·x̂ exactly. The weights' offsets are not subtracted per value but through
//! sums of x̂ computed here, once per x: Q6_K's 6-bit values (0..63) carry ggml's offset of 32,
//! Σ(v − 32)·x̂ = Σv·x̂ − 32·Σx̂ per 16-value sub-block; Q8_0's int8 values are read as u = q + 128,
//! Σq·x̂ = Σu·x̂ − 128·Σx̂ per four values (one i32 lane of `vpdpbusd`).

use super::line_aligned::LineAligned;
use crate::format::ggml_blocks::QK_K;
use crate::format::q6_k_regrouped::natural_index;

/// Values per sub-block (one int8 scale).
pub(super) const SUB_BLOCK: usize = 16;
/// Byte offsets of a block's 16 sub-block scales and of its f16 scale.
pub(super) const SCALES_AT: usize = QK_K / 2 + QK_K / 4;
pub(super) const D_AT: usize = SCALES_AT + QK_K / 16;
/// Largest |x̂|: 128·127 + 63, the largest value 128·h + l reaches with int8 h and l ≤ 63.
const X_MAX: f32 = 16319.0;

/// x quantised per 256-value block to x̂ = 128·h + l (int8 h and l, natural order).
#[derive(Debug, Clone)]
pub struct QuantizedX {
    /// On cache lines: every block loads 8 lines of x, which from a 16-byte-aligned heap vector
    /// straddled two lines three times in four.
    pub(super) high: LineAligned<i8>,
    pub(super) low: LineAligned<i8>,
    /// x ≈ x̂ · scale, per block.
    pub(super) scales: Vec<f32>,
    /// 32·Σx̂ per 16-value sub-block (exact in f32: |32·Σx̂| ≤ 32·16·16319 < 2^24).
    pub(super) offsets: Vec<f32>,
    /// −128·Σx̂ per four values in natural order, the Q8_0 kernel's correction of each i32
    /// lane for its u = q + 128 (|·| ≤ 128·4·16319 < 2^23).
    pub(super) lane_offsets: LineAligned<i32>,
    /// Whether each block's values are in the regrouped order (`format::q6_k_regrouped`).
    pub(super) regrouped: bool,
}

impl QuantizedX {
    /// Quantises `x` (a whole number of 256-value blocks).
    pub fn new(x: &[f32]) -> Self {
        Self::quantize(x, false)
    }

    /// Quantises `x` for regrouped blocks (`format::q6_k_regrouped`): the same values, each
    /// block's in the order regrouped blocks hold theirs.
    pub fn new_regrouped(x: &[f32]) -> Self {
        Self::quantize(x, true)
    }

    fn quantize(x: &[f32], regrouped: bool) -> Self {
        let mut high = vec![0i8; x.len()];
        let mut low = vec![0i8; x.len()];
        let mut scales = Vec::with_capacity(x.len() / QK_K);
        let mut offsets = Vec::with_capacity(x.len() / SUB_BLOCK);
        let mut lane_offsets = Vec::with_capacity(x.len() / 4);
        for (b, xb) in x.chunks_exact(QK_K).enumerate() {
            let (scale, q) = quantize_block(xb);
            scales.push(scale);
            for i in 0..QK_K {
                let v = q[if regrouped { natural_index(i) } else { i }];
                let h = (v + 64).div_euclid(128);
                // |v| ≤ 16319 gives h ∈ [−127, 127] and v − 128·h ∈ [−64, 63].
                high[b * QK_K + i] = h as i8;
                low[b * QK_K + i] = (v - 128 * h) as i8;
            }
            offsets.extend(
                q.chunks_exact(SUB_BLOCK)
                    .map(|s| 32.0 * s.iter().sum::<i32>() as f32),
            );
            lane_offsets.extend(q.chunks_exact(4).map(|l| -128 * l.iter().sum::<i32>()));
        }
        Self {
            high: LineAligned::copy_of(&high),
            low: LineAligned::copy_of(&low),
            scales,
            offsets,
            lane_offsets: LineAligned::copy_of(&lane_offsets),
            regrouped,
        }
    }

    /// Number of values.
    pub(super) fn len(&self) -> usize {
        self.high.as_slice().len()
    }

    /// What the Q8_0 VNNI kernels read, from value 0: the high and low parts and the lane
    /// offsets (one per four values), `len()` and `len() / 4` long.
    ///
    /// # Panics
    /// If x is in the regrouped order: the Q8_0 kernels read natural order.
    pub(super) fn q8_0_parts(&self) -> Q8_0Parts {
        assert!(!self.regrouped, "the Q8_0 kernels read x in natural order");
        (
            self.high.as_slice().as_ptr(),
            self.low.as_slice().as_ptr(),
            self.lane_offsets.as_slice().as_ptr(),
        )
    }
}

/// x's high part, low part and lane offsets, as [`QuantizedX::q8_0_parts`] gives them.
pub(super) type Q8_0Parts = (*const i8, *const i8, *const i32);

/// The step of one block's integer grid: max|x| / 16319 (the rounding moves a value by at most
/// half of it).
pub(crate) fn block_step(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, v| m.max(v.abs())) / X_MAX
}

/// One block of x as x̂ in natural order, and its scale (0 for an all-zero block).
fn quantize_block(x: &[f32]) -> (f32, Vec<i32>) {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        // Non-finite inputs: scale NaN makes every product NaN, as the f32 dot product would.
        let scale = if max == 0.0 { 0.0 } else { f32::NAN };
        return (scale, vec![0; x.len()]);
    }
    let inv = X_MAX / max;
    let q = x
        .iter()
        .map(|&v| (v * inv).round_ties_even().clamp(-X_MAX, X_MAX) as i32)
        .collect();
    (max / X_MAX, q)
}
