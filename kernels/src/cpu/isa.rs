//! Instruction sets a kernel can be built for, their runtime detection and stable kernel ids.

use std::fmt;
use std::str::FromStr;

/// An instruction set with an I2_S kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust, no SIMD: the reference oracle.
    Scalar,
    /// AVX2 with `vpmaddubsw` (u8×s8 → i16 pairs, then i32).
    Avx2,
    /// AVX2 with AVX-VNNI's 256-bit `vpdpbusd` (u8×s8 accumulated straight into i32): the CPUs
    /// with VNNI but without AVX-512 (Intel's client cores since Alder Lake, the E-core Xeons
    /// since Sierra Forest).
    AvxVnni,
    /// AVX-512BW with `vpmaddubsw` on 512-bit vectors.
    Avx512Bw,
    /// AVX-512 VNNI `vpdpbusd`: u8×s8 accumulated straight into i32.
    Avx512Vnni,
}

impl Isa {
    /// Every ISA this crate has a kernel for, slowest first.
    pub const ALL: [Isa; 5] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::AvxVnni,
        Isa::Avx512Bw,
        Isa::Avx512Vnni,
    ];

    /// Short name used in parameters (`isa=avx2`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avxvnni",
            Isa::Avx512Bw => "avx512bw",
            Isa::Avx512Vnni => "avx512vnni",
        }
    }

    /// Stable kernel id reported in results and metrics.
    pub fn gemv_kernel_id(self) -> &'static str {
        match self {
            Isa::Scalar => "i2s_gemv_scalar",
            Isa::Avx2 => "i2s_gemv_avx2",
            Isa::AvxVnni => "i2s_gemv_avxvnni",
            Isa::Avx512Bw => "i2s_gemv_avx512bw",
            Isa::Avx512Vnni => "i2s_gemv_avx512vnni",
        }
    }

    /// Whether this CPU can run the ISA's kernel (runtime detection).
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::AvxVnni => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("avxvnni")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Bw => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The ISAs this CPU supports, slowest first.
    pub fn supported() -> Vec<Isa> {
        Self::ALL.into_iter().filter(|i| i.is_supported()).collect()
    }

    /// The fastest supported ISA.
    pub fn best() -> Isa {
        Self::ALL
            .into_iter()
            .rev()
            .find(|i| i.is_supported())
            .unwrap_or(Isa::Scalar)
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isa {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|i| i.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|i| i.name()).collect();
                format!("unknown ISA `{s}` (known: {})", names.join(", "))
            })
    }
}
