//! Host fingerprint: the hardware description every result is labelled with, and a stable id over
//! it so baselines only ever compare runs on the same kind of machine.

pub use crate::report::host::HostFingerprint;
use sha2::{Digest, Sha256};
use sysinfo::System;

use bitnet_kernels::Isa;

/// A CPU feature name and its runtime detector.
#[cfg(target_arch = "x86_64")]
type FeatureProbe = (&'static str, fn() -> bool);

/// x86 features that matter to the kernels, reported when the CPU has them.
#[cfg(target_arch = "x86_64")]
const REPORTED_FEATURES: &[FeatureProbe] = &[
    ("sse4.2", || std::arch::is_x86_feature_detected!("sse4.2")),
    ("avx", || std::arch::is_x86_feature_detected!("avx")),
    ("avx2", || std::arch::is_x86_feature_detected!("avx2")),
    ("fma", || std::arch::is_x86_feature_detected!("fma")),
    ("f16c", || std::arch::is_x86_feature_detected!("f16c")),
    ("avx512f", || std::arch::is_x86_feature_detected!("avx512f")),
    ("avx512bw", || {
        std::arch::is_x86_feature_detected!("avx512bw")
    }),
    ("avx512vl", || {
        std::arch::is_x86_feature_detected!("avx512vl")
    }),
    ("avx512vnni", || {
        std::arch::is_x86_feature_detected!("avx512vnni")
    }),
    ("avxvnni", || std::arch::is_x86_feature_detected!("avxvnni")),
];

impl HostFingerprint {
    /// Reads this machine's description.
    pub fn detect() -> Self {
        let mut sys = System::new();
        sys.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
        sys.refresh_memory();
        let cpu_model = sys
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_string())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "unknown CPU".into());
        #[cfg(target_arch = "x86_64")]
        let isa_features = REPORTED_FEATURES
            .iter()
            .filter(|(_, has)| has())
            .map(|(n, _)| n.to_string())
            .collect();
        #[cfg(not(target_arch = "x86_64"))]
        let isa_features = Vec::new();
        let os = format!(
            "{} / {}",
            System::long_os_version().unwrap_or_else(|| "unknown OS".into()),
            System::kernel_version().unwrap_or_else(|| "unknown kernel".into())
        );
        let mut fp = Self {
            id: String::new(),
            cpu_model,
            isa_features,
            kernel_isas: Isa::supported()
                .iter()
                .map(|i| i.name().to_string())
                .collect(),
            logical_cpus: bitnet_kernels::config::available_threads(),
            physical_cores: System::physical_core_count(),
            memory_bytes: sys.total_memory(),
            llc_bytes: last_level_cache_bytes(),
            gpu: None,
            os,
        };
        fp.id = fp.compute_id();
        fp
    }

    /// Hash of the hardware-defining fields (not the OS, which can be upgraded in place).
    fn compute_id(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.cpu_model.as_str(),
            &self.isa_features.join(","),
            &self.logical_cpus.to_string(),
            &(self.memory_bytes >> 30).to_string(),
            self.gpu.as_deref().unwrap_or("-"),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Largest cache size sysfs reports for CPU 0 (the last level).
pub fn last_level_cache_bytes() -> Option<u64> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    dir.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("index"))
        .filter_map(|e| std::fs::read_to_string(e.path().join("size")).ok())
        .filter_map(|s| parse_cache_size(s.trim()))
        .max()
}

/// Parses sysfs cache sizes such as `32768K` or `32M`.
fn parse_cache_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse() {
        assert_eq!(parse_cache_size("32768K"), Some(32 << 20));
        assert_eq!(parse_cache_size("2M"), Some(2 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("x"), None);
    }

    #[test]
    fn id_is_stable_and_hardware_sensitive() {
        let a = HostFingerprint::detect();
        assert_eq!(a.id, HostFingerprint::detect().id);
        assert_eq!(a.id.len(), 12);
        let mut b = a.clone();
        b.cpu_model.push('X');
        assert_ne!(a.id, b.compute_id());
    }
}
