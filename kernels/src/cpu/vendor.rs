//! The CPU's vendor, for the defaults that were measured to differ between vendors' memory
//! systems (see `KernelConfig::default`).

/// Who made the CPU, as CPUID leaf 0 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuVendor {
    /// `AuthenticAMD`.
    Amd,
    /// `GenuineIntel`.
    Intel,
    /// Anything else, or not x86.
    Other,
}

impl CpuVendor {
    /// This CPU's vendor.
    pub fn of_host() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let leaf = std::arch::x86_64::__cpuid(0);
            Self::from_id(leaf.ebx, leaf.edx, leaf.ecx)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CpuVendor::Other
        }
    }

    /// The vendor of the 12-byte identification string CPUID leaf 0 returns in EBX, EDX, ECX.
    fn from_id(ebx: u32, edx: u32, ecx: u32) -> Self {
        let mut id = [0u8; 12];
        id[..4].copy_from_slice(&ebx.to_le_bytes());
        id[4..8].copy_from_slice(&edx.to_le_bytes());
        id[8..].copy_from_slice(&ecx.to_le_bytes());
        match &id {
            b"AuthenticAMD" => CpuVendor::Amd,
            b"GenuineIntel" => CpuVendor::Intel,
            _ => CpuVendor::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(id: &[u8; 12]) -> [u32; 3] {
        std::array::from_fn(|i| u32::from_le_bytes(id[4 * i..4 * i + 4].try_into().unwrap()))
    }

    #[test]
    fn the_identification_string_names_the_vendor() {
        for (id, want) in [
            (b"AuthenticAMD", CpuVendor::Amd),
            (b"GenuineIntel", CpuVendor::Intel),
            (b"HygonGenuine", CpuVendor::Other),
        ] {
            let [ebx, edx, ecx] = words(id);
            assert_eq!(CpuVendor::from_id(ebx, edx, ecx), want);
        }
    }
}
