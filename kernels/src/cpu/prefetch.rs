//! Software prefetch of the weight stream, with the cache level as a tunable choice.
//!
//! Measured on a Zen 4 VM (2560x6912 GEMV, DRAM-streaming, 2 threads, one process): prefetching
//! 8 KiB ahead into L2 streamed at 28.6 GB/s where the same distance into L1 reached 18.4 GB/s —
//! L1's few miss buffers cap the misses in flight; L2 has enough to cover DRAM latency.
//!
//! [`PrefetchHint::L2L1`] adds a second, short prefetch from L2 into L1 ([`L1_NEAR_BYTES`] ahead),
//! so the loads find their lines in L1 rather than waiting on L2 with the dependent work queued
//! behind them. Why: on the Emerald Rapids VM a read loop with the I2_S kernel's work per line
//! (4 AND + 4 `vpdpbusd`) streamed 22–24 GB/s where the bare read streamed 27–28, and the cost
//! grew with the vector instructions per line, not with their kind (a loop of light adds lost as
//! much), while pure `prefetcht1` issue reached 35 GB/s. Adding the L1 prefetch: that loop
//! 24.1 → 25.1 GB/s, and 2b4t decode 1.036–1.062× in five paired A/Bs in one process (11
//! alternating rounds each; both the I2_S and the F16 lm_head kernel gain). It is the default on
//! Intel only: on the Zen 5 VM one row stream per thread streamed best with a single prefetch 6 KiB
//! ahead, non-temporal ([`PrefetchHint::Nta`]) rather than into L2 by ~2 % of decode
//! (`config::StreamingDefaults`).

/// Cache level a software prefetch fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefetchHint {
    /// `prefetcht0`: into L1 and beyond.
    L1,
    /// `prefetcht1`: into L2 and beyond.
    L2,
    /// `prefetchnta`: non-temporal, minimal cache pollution.
    Nta,
    /// `prefetcht1` at the distance, plus `prefetcht0` [`L1_NEAR_BYTES`] ahead.
    L2L1,
}

/// How far ahead of the current load [`PrefetchHint::L2L1`] prefetches into L1: far enough to
/// cover L2's latency at streaming speed, near enough to stay within L1's miss buffers.
/// 512, 1024 and 2048 bytes measured alike (decode 1.036, 1.045, 1.062× in paired A/Bs).
pub const L1_NEAR_BYTES: usize = 1024;

impl PrefetchHint {
    /// Every hint, in parameter-domain order.
    pub const ALL: [PrefetchHint; 4] = [
        PrefetchHint::L1,
        PrefetchHint::L2,
        PrefetchHint::Nta,
        PrefetchHint::L2L1,
    ];

    /// The hints of one prefetch per line ([`PrefetchHint::L2L1`]'s near second one follows a
    /// stream): what prefetches of rows ahead of a pass over a KV cache take.
    pub const ROW: [PrefetchHint; 3] = [PrefetchHint::L1, PrefetchHint::L2, PrefetchHint::Nta];

    /// Name used in parameters.
    pub fn name(self) -> &'static str {
        match self {
            PrefetchHint::L1 => "l1",
            PrefetchHint::L2 => "l2",
            PrefetchHint::Nta => "nta",
            PrefetchHint::L2L1 => "l2_l1",
        }
    }
}

crate::named_choice::named_choice!(PrefetchHint, "prefetch hint");

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

/// Issues one prefetch of the line holding `p` (any address: prefetches never fault) into the
/// level `hint` fills at its distance (L2 for [`PrefetchHint::L2L1`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn prefetch(p: *const u8, hint: PrefetchHint) {
    use std::arch::x86_64::{_MM_HINT_NTA, _MM_HINT_T0, _MM_HINT_T1};
    match hint {
        PrefetchHint::L1 => prefetch_with::<_MM_HINT_T0>(p),
        PrefetchHint::L2 | PrefetchHint::L2L1 => prefetch_with::<_MM_HINT_T1>(p),
        PrefetchHint::Nta => prefetch_with::<_MM_HINT_NTA>(p),
    }
}

/// Asks for every cache line of `data` (into L2 and L1), for small buffers a step will touch
/// after a long stream: each line's miss then overlaps the others and the work before the
/// touch, instead of stalling the touch one line after another. A no-op off x86_64.
#[inline]
pub fn prefetch_slice<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let (start, bytes) = (data.as_ptr() as *const u8, std::mem::size_of_val(data));
        let first = start as usize & !63;
        for line in (first..start as usize + bytes).step_by(64) {
            prefetch_with::<{ std::arch::x86_64::_MM_HINT_T0 }>(line as *const u8);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// The prefetches `ahead` asks for while the line holding `cur` is being read: the line
/// `ahead.bytes` further (none when 0), and for [`PrefetchHint::L2L1`] also the line
/// [`L1_NEAR_BYTES`] further into L1. For loops that are not hot: the hint is matched per call
/// (a jump table per line), which `with_prefetch_hint!` and [`prefetch_ahead_with`] avoid.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn prefetch_ahead(cur: *const u8, ahead: Prefetch) {
    if ahead.bytes == 0 {
        return;
    }
    prefetch(cur.wrapping_add(ahead.bytes), ahead.hint);
    if ahead.hint == PrefetchHint::L2L1 {
        prefetch_with::<{ std::arch::x86_64::_MM_HINT_T0 }>(cur.wrapping_add(L1_NEAR_BYTES));
    }
}

/// [`prefetch_ahead_with`] with the L1 prefetch `near` bytes ahead instead of
/// [`L1_NEAR_BYTES`]: for kernels that read several rows side by side and walk their block of
/// rows line by line (the decode tile of `i2s_avx512`), where a flat kilobyte would land in a
/// row of the same tile that has already been read.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn prefetch_ahead_near<const STRATEGY: i32, const NEAR: bool>(
    cur: *const u8,
    bytes: usize,
    near: usize,
) {
    if bytes == 0 {
        return;
    }
    prefetch_with::<STRATEGY>(cur.wrapping_add(bytes));
    if NEAR {
        prefetch_with::<{ std::arch::x86_64::_MM_HINT_T0 }>(cur.wrapping_add(near));
    }
}

/// [`prefetch_ahead`] with the hint fixed at compile time (`STRATEGY` the far prefetch's
/// `_mm_prefetch` strategy, `NEAR` whether the L1 prefetch follows): what a kernel's inner loop
/// calls per line, with the consts from `with_prefetch_hint!`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn prefetch_ahead_with<const STRATEGY: i32, const NEAR: bool>(cur: *const u8, bytes: usize) {
    prefetch_ahead_near::<STRATEGY, NEAR>(cur, bytes, L1_NEAR_BYTES);
}

/// Off x86_64 nothing is prefetched (the hardware prefetchers are all there is).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn prefetch_ahead(_cur: *const u8, _ahead: Prefetch) {}

/// Evaluates `$body` with a [`PrefetchHint`] turned into the consts `$strategy: i32` and
/// `$near: bool` of [`prefetch_ahead_with`], once per kernel call. Why: with the hint matched per
/// line, the F16 and Q6_K loops compiled to an indirect jump per step.
#[cfg(target_arch = "x86_64")]
macro_rules! with_prefetch_hint {
    ($hint:expr, $strategy:ident, $near:ident => $body:expr) => {{
        use std::arch::x86_64::{_MM_HINT_NTA, _MM_HINT_T0, _MM_HINT_T1};
        use $crate::cpu::prefetch::PrefetchHint;
        match $hint {
            PrefetchHint::L1 => {
                const $strategy: i32 = _MM_HINT_T0;
                const $near: bool = false;
                $body
            }
            PrefetchHint::L2 => {
                const $strategy: i32 = _MM_HINT_T1;
                const $near: bool = false;
                $body
            }
            PrefetchHint::Nta => {
                const $strategy: i32 = _MM_HINT_NTA;
                const $near: bool = false;
                $body
            }
            PrefetchHint::L2L1 => {
                const $strategy: i32 = _MM_HINT_T1;
                const $near: bool = true;
                $body
            }
        }
    }};
}
#[cfg(target_arch = "x86_64")]
pub(crate) use with_prefetch_hint;
