//! Whether this process may use AMX-INT8 tiles.
//!
//! Sapphire Rapids and later have AMX (CPUID.(EAX=7,ECX=0):EDX bit 24 AMX-TILE, bit 25
//! AMX-INT8), but Linux enables the 8 KiB of tile state per thread only for a process that asks
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`); a tile instruction before that
//! raises SIGILL. The request is made once per process and its answer kept, so "usable" means
//! the CPU has AMX-INT8 *and* the kernel granted the state. The permission is process-wide, so
//! pool threads started before or after the request may all use tiles.

use std::sync::OnceLock;

/// AMX-INT8 tiles may be used by every thread of this process.
pub fn amx_int8_usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(detect_and_request)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect_and_request() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    if __cpuid(0).eax < 7 {
        return false;
    }
    let edx = __cpuid_count(7, 0).edx;
    let (tile, int8) = (edx & (1 << 24) != 0, edx & (1 << 25) != 0);
    // The AMX kernel also unpacks and gathers with AVX-512BW.
    if !(tile && int8 && std::arch::is_x86_feature_detected!("avx512bw")) {
        return false;
    }
    // SAFETY: FFI to the arch_prctl system call with two integer arguments; it touches no memory
    // of ours. A kernel without AMX support answers with an error, which means "not usable".
    let granted = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    granted == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect_and_request() -> bool {
    false
}
