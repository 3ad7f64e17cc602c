//! The hardware a result was measured on, as the bench report carries it (measured by
//! `harness::host::fingerprint`).

use serde::{Deserialize, Serialize};

/// The hardware a result was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostFingerprint {
    /// Short stable id: hash of the fields that define the hardware class.
    pub id: String,
    /// CPU brand string.
    pub cpu_model: String,
    /// ISA features relevant to the kernels.
    pub isa_features: Vec<String>,
    /// Kernel ISAs usable on this CPU.
    pub kernel_isas: Vec<String>,
    /// Logical CPUs.
    pub logical_cpus: usize,
    /// Physical cores, when the OS tells.
    pub physical_cores: Option<usize>,
    /// Installed memory in bytes.
    pub memory_bytes: u64,
    /// Last-level cache size in bytes, when the OS tells.
    pub llc_bytes: Option<u64>,
    /// GPU name and driver, when one is present.
    pub gpu: Option<String>,
    /// Operating system and kernel.
    pub os: String,
}
