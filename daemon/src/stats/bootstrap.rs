//! Percentile bootstrap confidence interval of the ratio of medians (b / a), with a seeded RNG so
//! a verdict's evidence can be recomputed exactly.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::median;

/// `[low, high]` of the `level` (e.g. 0.95) interval of median(b)/median(a) over `resamples`.
pub fn median_ratio_ci(
    a: &[f64],
    b: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Option<[f64; 2]> {
    if a.is_empty() || b.is_empty() || resamples < 10 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ratios = Vec::with_capacity(resamples);
    let (mut ra, mut rb) = (vec![0f64; a.len()], vec![0f64; b.len()]);
    for _ in 0..resamples {
        ra.iter_mut()
            .for_each(|x| *x = a[rng.random_range(0..a.len())]);
        rb.iter_mut()
            .for_each(|x| *x = b[rng.random_range(0..b.len())]);
        let ma = median(&mut ra);
        if ma > 0.0 {
            ratios.push(median(&mut rb) / ma);
        }
    }
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    Some([at(tail), at(1.0 - tail)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_brackets_the_true_ratio() {
        let a: Vec<f64> = (0..20).map(|i| 100.0 + (i % 5) as f64).collect();
        let b: Vec<f64> = a.iter().map(|v| v * 0.9).collect();
        let ci = median_ratio_ci(&a, &b, 0.95, 2000, 1).unwrap();
        assert!(
            ci[0] <= 0.9 && 0.9 <= ci[1] && ci[1] - ci[0] < 0.05,
            "{ci:?}"
        );
        assert_eq!(
            ci,
            median_ratio_ci(&a, &b, 0.95, 2000, 1).unwrap(),
            "seeded: reproducible"
        );
        assert!(median_ratio_ci(&[], &b, 0.95, 100, 1).is_none());
    }
}
