//! Winsorised mean and standard deviation: values beyond `k`·σ of the median are pulled in to
//! that bound, so a process that landed in a slow mode counts as a large deviation, not as an
//! unbounded one, while the spread it adds still shows in the SD.

use super::median;

/// Mean and SD (n − 1) of `values` winsorised at `median ± limit`; `None` when empty. The SD of
/// a single value is 0.
pub fn mean_sd(values: &[f64], limit: f64) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let m = median(&mut values.to_vec());
    let w: Vec<f64> = values
        .iter()
        .map(|x| x.clamp(m - limit, m + limit))
        .collect();
    let n = w.len() as f64;
    let mean = w.iter().sum::<f64>() / n;
    let sd = if w.len() < 2 {
        0.0
    } else {
        (w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    Some((mean, sd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outlier_is_pulled_to_the_limit() {
        let (mean, sd) = mean_sd(&[0.0, 0.0, 0.0, 0.0, -10.0], 1.0).unwrap();
        assert!((mean + 0.2).abs() < 1e-12, "{mean}");
        assert!(sd > 0.4 && sd < 0.5, "{sd}");
        assert_eq!(mean_sd(&[], 1.0), None);
        assert_eq!(mean_sd(&[3.0], 1.0), Some((3.0, 0.0)));
    }
}
