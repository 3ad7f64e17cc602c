//! Change-point detection over a commit series: E-Divisive means picks the split where the two
//! sides differ most; a Welch t-test between the sides decides whether the split is real (the
//! combination Apache Otava / Hunter uses). Accepted splits are searched again recursively.
//!
//! A change point at index k attributes the step to the k-th commit: the first of the new regime.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// One detected step.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChangePoint {
    /// Index of the first value after the step.
    pub index: usize,
    /// Mean before the step (within its segment).
    pub mean_before: f64,
    /// Mean after the step (within its segment).
    pub mean_after: f64,
    /// (after − before) / before.
    pub relative_change: f64,
    /// Two-sided Welch t-test p-value between the segments.
    pub p_value: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn var(v: &[f64], m: f64) -> f64 {
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)
}

/// Two-sided Welch t-test p-value; 1.0 when a side is too short or nothing varies.
pub fn welch_p(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 2 || b.len() < 2 {
        return 1.0;
    }
    let (ma, mb) = (mean(a), mean(b));
    let (va, vb) = (var(a, ma) / a.len() as f64, var(b, mb) / b.len() as f64);
    let se2 = va + vb;
    if se2 <= 0.0 {
        return if ma == mb { 1.0 } else { 0.0 };
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.len() as f64 - 1.0) + vb * vb / (b.len() as f64 - 1.0));
    match StudentsT::new(0.0, 1.0, df.max(1.0)) {
        Ok(d) => 2.0 * (1.0 - d.cdf(t.abs())),
        Err(_) => 1.0,
    }
}

/// E-Divisive statistic of splitting `x` at `tau` (sides `x[..tau]`, `x[tau..]`).
fn e_divisive(x: &[f64], tau: usize) -> f64 {
    let (l, r) = x.split_at(tau);
    let (m, n) = (l.len() as f64, r.len() as f64);
    let between: f64 = l
        .iter()
        .map(|a| r.iter().map(|b| (a - b).abs()).sum::<f64>())
        .sum::<f64>()
        * 2.0
        / (m * n);
    let within = |s: &[f64]| {
        let k = s.len() as f64;
        if k < 2.0 {
            return 0.0;
        }
        let mut t = 0.0;
        for i in 0..s.len() {
            for j in i + 1..s.len() {
                t += (s[i] - s[j]).abs();
            }
        }
        t / (k * (k - 1.0) / 2.0)
    };
    (between - within(l) - within(r)) * m * n / (m + n)
}

/// Change points of `series` with at least `min_size` values per segment and p ≤ `max_p`.
pub fn detect(series: &[f64], min_size: usize, max_p: f64) -> Vec<ChangePoint> {
    let mut out = Vec::new();
    split(series, 0, min_size.max(2), max_p, &mut out);
    out.sort_by_key(|c| c.index);
    out
}

fn split(x: &[f64], offset: usize, min: usize, max_p: f64, out: &mut Vec<ChangePoint>) {
    if x.len() < 2 * min {
        return;
    }
    let best = (min..=x.len() - min).max_by(|&a, &b| e_divisive(x, a).total_cmp(&e_divisive(x, b)));
    let Some(tau) = best else { return };
    let (l, r) = x.split_at(tau);
    let p = welch_p(l, r);
    if p > max_p {
        return;
    }
    let (mb, ma) = (mean(l), mean(r));
    out.push(ChangePoint {
        index: offset + tau,
        mean_before: mb,
        mean_after: ma,
        relative_change: if mb != 0.0 { (ma - mb) / mb } else { 0.0 },
        p_value: p,
    });
    split(l, offset, min, max_p, out);
    split(r, offset + tau, min, max_p, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn noisy(values: &[f64], cv: f64, seed: u64) -> Vec<f64> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        values
            .iter()
            .map(|v| v * (1.0 + cv * (r.random::<f64>() * 2.0 - 1.0) * 1.7))
            .collect()
    }

    #[test]
    fn finds_a_planted_step_at_the_right_commit() {
        let mut base = vec![100.0; 20];
        base.extend(vec![85.0; 15]);
        let s = noisy(&base, 0.03, 3);
        let cps = detect(&s, 3, 0.001);
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert!((19..=21).contains(&cps[0].index), "{cps:?}");
        assert!(cps[0].relative_change < -0.1);
    }

    #[test]
    fn no_step_no_change_point() {
        let s = noisy(&vec![100.0; 40], 0.03, 9);
        assert!(detect(&s, 3, 0.001).is_empty());
        assert!(detect(&[1.0, 2.0], 3, 0.05).is_empty());
    }

    #[test]
    fn welch_on_known_samples() {
        assert!(welch_p(&[1.0, 1.1, 0.9, 1.05], &[2.0, 2.1, 1.9, 2.05]) < 1e-4);
        assert!(welch_p(&[1.0, 1.1, 0.9], &[1.0, 1.1, 0.9]) > 0.99);
    }
}
