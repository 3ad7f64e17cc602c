//! CPU kernels for I2_S: the scalar reference (oracle) and one file per SIMD instruction set.
//!
//! Dispatch happens once, in [`crate::gemm::I2sGemm::new`]: the chosen ISA is verified against
//! runtime CPU detection there, which is what makes the `unsafe` SIMD entry points sound to call.

mod amx;
pub mod attention;
pub mod embedding_gemv;
pub mod epilogue;
pub mod huge_pages;
pub mod i2s_reference;
mod isa;
pub mod kv_element;
pub mod lanes_pack;
pub mod line_aligned;
pub mod prefetch;
pub mod read_stream;
pub mod tile;
pub mod vendor;
pub mod worker_pool;

#[cfg(target_arch = "x86_64")]
mod attention_avx2;
#[cfg(target_arch = "x86_64")]
mod attention_avx512;
#[cfg(target_arch = "x86_64")]
mod byte_dot;
#[cfg(target_arch = "x86_64")]
mod f16_avx2;
#[cfg(target_arch = "x86_64")]
mod f16_avx512;
#[cfg(target_arch = "x86_64")]
mod hsum16_avx2;
#[cfg(target_arch = "x86_64")]
mod hsum16_avx512;
#[cfg(target_arch = "x86_64")]
mod hsum8_avx;
#[cfg(target_arch = "x86_64")]
pub mod i2s_amx;
#[cfg(target_arch = "x86_64")]
pub mod i2s_avx2;
#[cfg(target_arch = "x86_64")]
pub mod i2s_avx512;
#[cfg(target_arch = "x86_64")]
pub mod i2s_avxvnni;
#[cfg(target_arch = "x86_64")]
pub mod i2s_lanes_avx512;
#[cfg(target_arch = "x86_64")]
mod i2s_tiles256;
#[cfg(target_arch = "x86_64")]
pub mod i2s_trits_avx512;
#[cfg(target_arch = "x86_64")]
mod kv_row_prefetch;
#[cfg(target_arch = "x86_64")]
mod lane_group_driver;
#[cfg(target_arch = "x86_64")]
mod packed_f16_avx512;
#[cfg(target_arch = "x86_64")]
mod q6_k_avx2;
#[cfg(target_arch = "x86_64")]
mod q6_k_avx512;
#[cfg(target_arch = "x86_64")]
mod q6_k_regrouped_avx512;
#[cfg(target_arch = "x86_64")]
mod q8_0_avx2;
#[cfg(target_arch = "x86_64")]
mod q8_0_avx512;
#[cfg(target_arch = "x86_64")]
mod q8_0_avxvnni;
#[cfg(target_arch = "x86_64")]
mod quantized_x;

pub use amx::amx_int8_usable;
pub use isa::Isa;
pub use kv_element::{KvCacheType, KvElement};
pub use prefetch::{Prefetch, PrefetchHint};
pub use vendor::CpuVendor;
