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

    /// This CPU's family as CPUID leaf 1 reports it (the base family, plus the extended family
    /// where the base is 0xF): 0x19 for AMD Zen 3 and Zen 4, 0x1A for Zen 5, 6 for Intel's cores.
    /// 0 off x86.
    pub fn family_of_host() -> u32 {
        #[cfg(target_arch = "x86_64")]
        {
            family_of(std::arch::x86_64::__cpuid(1).eax)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            0
        }
    }

    /// The vendor of the 12-byte identification string CPUID leaf 0 returns in EBX, EDX, ECX.
    // Only x86-64 has CPUID to decode; the decoding is tested on every target.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
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

/// The family in CPUID leaf 1's EAX (the "display family").
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn family_of(eax: u32) -> u32 {
    let base = (eax >> 8) & 0xF;
    if base == 0xF {
        base + ((eax >> 20) & 0xFF)
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leaf 1 signatures of CPUs the project has run on.
    #[test]
    fn the_family_adds_the_extended_family_to_0xf_only() {
        // EPYC Zen 5 (family 26, model 2), Zen 4 (25, model 17), Emerald Rapids (6, model 207).
        assert_eq!(family_of(0x00B0_0F21), 0x1A);
        assert_eq!(family_of(0x00A1_0F11), 0x19);
        assert_eq!(family_of(0x000C_06F2), 6);
    }

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
