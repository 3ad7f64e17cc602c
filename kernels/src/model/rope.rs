//! Rotary position embedding, NEOX style: dimension i pairs with i + d/2 in each head.

/// Precomputed cos/sin per position and frequency.
#[derive(Debug)]
pub(crate) struct RopeTable {
    half: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeTable {
    /// Table for `positions` positions of heads of width `head_dim` with base θ.
    pub(crate) fn new(head_dim: usize, positions: usize, base: f32) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for i in 0..half {
                // Angles in f64: position × frequency reaches 10^3+ radians at long contexts.
                let theta = p as f64 * f64::from(base).powf(-2.0 * i as f64 / head_dim as f64);
                cos.push(theta.cos() as f32);
                sin.push(theta.sin() as f32);
            }
        }
        Self { half, cos, sin }
    }

    /// cos θ per position and frequency, `[position][head_dim / 2]` (the CUDA backend uploads it).
    #[cfg(feature = "cuda")]
    pub(crate) fn cos(&self) -> &[f32] {
        &self.cos
    }

    /// sin θ, laid out as [`Self::cos`].
    #[cfg(feature = "cuda")]
    pub(crate) fn sin(&self) -> &[f32] {
        &self.sin
    }

    /// Prefetches position `pos`'s cos and sin (see
    /// [`prefetch_slice`](crate::cpu::prefetch::prefetch_slice)).
    pub(crate) fn prefetch(&self, pos: usize) {
        let row = pos * self.half..(pos + 1) * self.half;
        crate::cpu::prefetch::prefetch_slice(&self.cos[row.clone()]);
        crate::cpu::prefetch::prefetch_slice(&self.sin[row]);
    }

    /// Rotates every head (width `2·half`) of `x` for position `pos`.
    pub(crate) fn apply(&self, x: &mut [f32], pos: usize) {
        let (c, s) = (
            &self.cos[pos * self.half..(pos + 1) * self.half],
            &self.sin[pos * self.half..(pos + 1) * self.half],
        );
        for head in x.chunks_exact_mut(2 * self.half) {
            let (lo, hi) = head.split_at_mut(self.half);
            for i in 0..self.half {
                let (a, b) = (lo[i], hi[i]);
                lo[i] = a * c[i] - b * s[i];
                hi[i] = a * s[i] + b * c[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_zero_is_identity_and_rotation_keeps_norm() {
        let t = RopeTable::new(8, 4, 10_000.0);
        let mut x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let orig = x;
        t.apply(&mut x, 0);
        assert_eq!(x, orig);
        t.apply(&mut x, 3);
        let n0: f32 = orig.iter().map(|v| v * v).sum();
        let n1: f32 = x.iter().map(|v| v * v).sum();
        assert!((n0 - n1).abs() / n0 < 1e-6);
        // Frequency 0 rotates the first pair by exactly `pos` radians.
        let mut y = [1.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        t.apply(&mut y, 1);
        assert!((y[0] - 1f32.cos()).abs() < 1e-6 && (y[4] - 1f32.sin()).abs() < 1e-6);
    }
}
