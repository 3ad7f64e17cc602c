//! Logits of two engines compared position by position: cosine, largest absolute difference and
//! top-1 / top-5 agreement. Whole vectors are compared because on tied-embedding models every
//! position's argmax is its own input token, which makes top-1 agreement a weak check.

use super::forward::{argmax, Session};
use super::ModelError;

/// How the tokens are evaluated, which decides the numerical path taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalMode {
    /// All tokens in one forward call (the prefill path).
    Prefill,
    /// One token per forward call (the decode path).
    Decode,
}

/// Agreement at one position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionParity {
    /// Cosine of the two logit vectors.
    pub cosine: f64,
    /// Largest |a − b| over the vocabulary.
    pub max_abs_diff: f64,
    /// Same argmax.
    pub top1: bool,
    /// Fraction of the reference's 5 best tokens among ours.
    pub top5_overlap: f64,
}

/// Compares `ours` with `reference`, both `[positions][vocab]` row-major.
pub fn compare(ours: &[f32], reference: &[f32], vocab: usize) -> Vec<PositionParity> {
    ours.chunks_exact(vocab)
        .zip(reference.chunks_exact(vocab))
        .map(|(a, b)| {
            let (mut dot, mut na, mut nb, mut max) = (0f64, 0f64, 0f64, 0f64);
            for (&x, &y) in a.iter().zip(b) {
                let (x, y) = (f64::from(x), f64::from(y));
                dot += x * y;
                na += x * x;
                nb += y * y;
                max = max.max((x - y).abs());
            }
            let (ta, tb) = (top_k(a, 5), top_k(b, 5));
            let shared = tb.iter().filter(|t| ta.contains(t)).count();
            PositionParity {
                cosine: dot / (na.sqrt() * nb.sqrt()).max(f64::MIN_POSITIVE),
                max_abs_diff: max,
                top1: argmax(a) == argmax(b),
                top5_overlap: shared as f64 / tb.len().max(1) as f64,
            }
        })
        .collect()
}

/// Indices of the `k` largest values (ties: lower index first).
fn top_k(v: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[j].total_cmp(&v[i]).then(i.cmp(&j)));
    idx.truncate(k);
    idx
}

/// Logits after each of `tokens` (`[tokens][vocab]`), evaluated in `mode`, then after each of
/// `continuation` fed one at a time (the generation path, whatever `mode` was).
pub fn logits(
    session: &mut Session<'_>,
    tokens: &[u32],
    mode: EvalMode,
    continuation: &[u32],
) -> Result<Vec<f32>, ModelError> {
    let mut out = match mode {
        EvalMode::Prefill => session.forward(tokens, true)?,
        EvalMode::Decode => {
            let mut all = Vec::new();
            for &t in tokens {
                all.extend(session.decode(t)?);
            }
            all
        }
    };
    for &t in continuation {
        out.extend(session.decode(t)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_logits_agree_fully_and_a_swap_is_seen() {
        let a = [1.0f32, 5.0, 3.0, 2.0, 4.0, 0.0, -1.0];
        let p = compare(&a, &a, a.len());
        assert_eq!(p.len(), 1);
        assert!((p[0].cosine - 1.0).abs() < 1e-12);
        assert_eq!(p[0].max_abs_diff, 0.0);
        assert!(p[0].top1);
        assert_eq!(p[0].top5_overlap, 1.0);
        // Swap the best token with the worst: top-1 and one of the top 5 change.
        let mut b = a;
        b.swap(1, 6);
        let p = compare(&b, &a, a.len());
        assert!(!p[0].top1);
        assert_eq!(p[0].top5_overlap, 0.8);
        assert_eq!(p[0].max_abs_diff, 6.0);
        assert!(p[0].cosine < 0.9);
    }
}
