//! Software prefetch of the weight stream, with the cache level as a tunable choice.
//!
//! Measured on a Zen 4 VM (2560x6912 GEMV, DRAM-streaming, 2 threads, one process): prefetching
//! 8 KiB ahead into L2 streamed at 28.6 GB/s where the same distance into L1 reached 18.4 GB/s —
//! L1's few miss buffers cap the misses in flight; L2 has enough to cover DRAM latency.

use std::fmt;
use std::str::FromStr;

/// Cache level a software prefetch fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefetchHint {
    /// `prefetcht0`: into L1 and beyond.
    L1,
    /// `prefetcht1`: into L2 and beyond.
    L2,
    /// `prefetchnta`: non-temporal, minimal cache pollution.
    Nta,
}

impl PrefetchHint {
    /// Every hint, in parameter-domain order.
    pub const ALL: [PrefetchHint; 3] = [PrefetchHint::L1, PrefetchHint::L2, PrefetchHint::Nta];

    /// Name used in parameters.
    pub fn name(self) -> &'static str {
        match self {
            PrefetchHint::L1 => "l1",
            PrefetchHint::L2 => "l2",
            PrefetchHint::Nta => "nta",
        }
    }
}

impl fmt::Display for PrefetchHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PrefetchHint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|h| h.name() == s)
            .ok_or_else(|| format!("unknown prefetch hint `{s}` (known: l1, l2, nta)"))
    }
}

/// How far ahead of a stream to prefetch, and into which cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefetch {
    /// Bytes ahead of the current load; 0 = no software prefetch.
    pub bytes: usize,
    /// Cache level filled.
    pub hint: PrefetchHint,
}

/// [`prefetch`] with the strategy fixed at compile time: an inner loop that takes the hint as a
/// const parameter has no branch on it per line.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn prefetch_with<const STRATEGY: i32>(p: *const u8) {
    // SAFETY: prefetch is a hint; it never faults or reads architecturally, even for addresses
    // outside any allocation (callers form them with `wrapping_add`). SSE is baseline on x86_64.
    unsafe { std::arch::x86_64::_mm_prefetch::<STRATEGY>(p as *const i8) }
}

/// Issues one prefetch of the line holding `p` (any address: prefetches never fault).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn prefetch(p: *const u8, hint: PrefetchHint) {
    use std::arch::x86_64::{_MM_HINT_NTA, _MM_HINT_T0, _MM_HINT_T1};
    match hint {
        PrefetchHint::L1 => prefetch_with::<_MM_HINT_T0>(p),
        PrefetchHint::L2 => prefetch_with::<_MM_HINT_T1>(p),
        PrefetchHint::Nta => prefetch_with::<_MM_HINT_NTA>(p),
    }
}
