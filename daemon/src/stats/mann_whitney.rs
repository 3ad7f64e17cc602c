//! One-sided Mann-Whitney U test (normal approximation with tie and continuity correction):
//! is sample `b` stochastically smaller than sample `a`?
//!
//! Rank-based, so a single wild sample cannot decide a verdict the way it can move a mean.

use statrs::distribution::{ContinuousCDF, Normal};

/// The test's figures.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MannWhitney {
    /// U statistic of `b` (number of pairs where b < a, ties counting half).
    pub u: f64,
    /// z score of U under the null hypothesis.
    pub z: f64,
    /// One-sided p-value for "b is smaller than a".
    pub p_value: f64,
}

/// Tests whether `b` tends to be smaller than `a`; `None` with fewer than 2 values on either side.
pub fn b_smaller_than_a(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (a.len(), b.len());
    if n1 < 2 || n2 < 2 || a.iter().chain(b).any(|v| !v.is_finite()) {
        return None;
    }
    // Rank all values together (average ranks for ties).
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&v| (v, false))
        .chain(b.iter().map(|&v| (v, true)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut ranks = vec![0f64; n];
    let mut tie_term = 0f64;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        ranks[i..=j].iter_mut().for_each(|r| *r = avg);
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let rank_sum_b: f64 = all
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| v.1)
        .map(|(_, r)| r)
        .sum();
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    // U of b counts pairs with b > a; "b smaller" means U small.
    let u_b = rank_sum_b - n2f * (n2f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let nf = n as f64;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var <= 0.0 {
        // Every value identical: no evidence either way.
        return Some(MannWhitney {
            u: u_b,
            z: 0.0,
            p_value: 1.0,
        });
    }
    let z = (u_b - mean + 0.5) / var.sqrt();
    let p_value = Normal::standard().cdf(z);
    Some(MannWhitney { u: u_b, z, p_value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearly_smaller_sample_has_small_p() {
        let a = [10.0, 10.2, 9.9, 10.1, 10.05, 9.95];
        let b = [9.0, 9.1, 8.9, 9.05, 8.95, 9.02];
        let r = b_smaller_than_a(&a, &b).unwrap();
        assert!(r.p_value < 0.01, "{r:?}");
        assert_eq!(r.u, 0.0);
        let r = b_smaller_than_a(&b, &a).unwrap();
        assert!(r.p_value > 0.99, "{r:?}");
    }

    #[test]
    fn same_distribution_is_not_significant_and_ties_are_handled() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let r = b_smaller_than_a(&a, &a).unwrap();
        assert!((r.p_value - 0.5).abs() < 0.15, "{r:?}");
        assert_eq!(
            b_smaller_than_a(&[1.0, 1.0], &[1.0, 1.0]).unwrap().p_value,
            1.0
        );
        assert!(b_smaller_than_a(&[1.0], &[1.0, 2.0]).is_none());
        assert!(b_smaller_than_a(&[1.0, f64::NAN], &[1.0, 2.0]).is_none());
    }

    #[test]
    fn matches_a_known_value() {
        // U = 3 for these (computed by hand: 3 pairs with b above a).
        let a = [3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 2.0, 3.5, 4.5];
        let r = b_smaller_than_a(&a, &b).unwrap();
        assert_eq!(r.u, 3.0);
        // mean 8, var = 4*4*9/12 = 12 → z = (3 - 8 + 0.5)/√12.
        assert!((r.z - (-4.5 / 12f64.sqrt())).abs() < 1e-12);
    }
}
