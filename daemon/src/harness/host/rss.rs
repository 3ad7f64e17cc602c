//! Peak resident memory of this process (Linux `VmHWM`).

/// Peak resident set size in bytes, when the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets the peak to the current RSS (Linux ≥ 4.0), so a later [`peak_rss_bytes`] measures only
/// what follows — the benchmark's STREAM arrays are not the model's memory. Returns whether the
/// kernel accepted the reset.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_rss_is_reported_and_grows() {
        let before = super::peak_rss_bytes().expect("Linux reports VmHWM");
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = super::peak_rss_bytes().unwrap();
        assert!(after >= before + (32 << 20), "{before} -> {after}");
    }
}
