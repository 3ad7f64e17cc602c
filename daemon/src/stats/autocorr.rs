//! Lag-1 autocorrelation of a series: whether a host's drift is independent from one process to
//! the next, or wanders slowly (then a process is best compared with one run right beside it).

/// Lag-1 sample autocorrelation of `series` (in time order); `None` with fewer than 3 values or
/// no spread.
pub fn lag1(series: &[f64]) -> Option<f64> {
    let n = series.len();
    if n < 3 {
        return None;
    }
    let mean = series.iter().sum::<f64>() / n as f64;
    let var: f64 = series.iter().map(|x| (x - mean).powi(2)).sum();
    if !(var.is_finite() && var > 0.0) {
        return None;
    }
    let cov: f64 = series
        .windows(2)
        .map(|w| (w[0] - mean) * (w[1] - mean))
        .sum();
    Some(cov / var)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternating_is_negative_and_a_slow_wander_is_positive() {
        let alternating: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert!(lag1(&alternating).unwrap() < -0.9);
        let wander: Vec<f64> = (0..20).map(|i| (i as f64 / 6.0).sin()).collect();
        assert!(lag1(&wander).unwrap() > 0.6);
        assert_eq!(lag1(&[1.0, 1.0, 1.0]), None);
        assert_eq!(lag1(&[1.0, 2.0]), None);
    }
}
