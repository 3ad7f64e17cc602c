//! A read-only pass over memory with the loads the kernels use (the widest vectors the CPU has,
//! optionally software-prefetched ahead): the bandwidth a decode step, which only reads weights,
//! can reach. STREAM's copy and triad also write, and their bandwidth differs from a pure read's
//! by up to 2× on some hosts.

use crate::cpu::prefetch::{prefetch_ahead, Prefetch};
#[cfg(target_arch = "x86_64")]
use crate::cpu::prefetch::{prefetch_ahead_with, with_prefetch_hint, PrefetchHint};

/// Wrapping Σ of `data`'s bytes as little-endian u64 words (and the tail bytes), read once front
/// to back (the sum keeps the loads from being optimised away): the read pass over bytes of any
/// content — a model's weights, or the STREAM arrays viewed as bytes (integer adds: arbitrary
/// bytes as f64 would include subnormals, which slow float adds on some cores). With AVX-512F:
/// 64-byte loads into four accumulators, and `ahead` prefetches when given.
pub fn read_sum_bytes(data: &[u8], ahead: Option<Prefetch>) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was detected just above.
        return unsafe { read_sum_bytes_avx512(data, ahead) };
    }
    read_sum_bytes_portable(data, ahead)
}

fn read_sum_bytes_portable(data: &[u8], ahead: Option<Prefetch>) -> u64 {
    let chunks = data.chunks_exact(8);
    let tail = chunks
        .remainder()
        .iter()
        .fold(0u64, |s, &b| s.wrapping_add(u64::from(b)));
    let mut sum = 0u64;
    for c in chunks {
        if let Some(p) = ahead {
            prefetch_ahead(c.as_ptr(), p);
        }
        let word = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        sum = sum.wrapping_add(word);
    }
    sum.wrapping_add(tail)
}

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_sum_bytes_avx512(data: &[u8], ahead: Option<Prefetch>) -> u64 {
    // Without prefetch: distance 0 (any hint; none is issued).
    let (hint, bytes) = ahead.map_or((PrefetchHint::L2, 0), |a| (a.hint, a.bytes));
    // SAFETY: this function's contract, passed on.
    with_prefetch_hint!(hint, S, N => unsafe { read_sum_bytes_avx512_with::<S, N>(data, bytes) })
}

/// [`read_sum_bytes_avx512`] prefetching `ahead` bytes with the hint's consts, as the kernels do.
///
/// # Safety
/// As [`read_sum_bytes_avx512`]; inlined into it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn read_sum_bytes_avx512_with<const S: i32, const N: bool>(
    data: &[u8],
    ahead: usize,
) -> u64 {
    use std::arch::x86_64::*;
    let chunks = data.chunks_exact(256);
    let rest = read_sum_bytes_portable(chunks.remainder(), None);
    // SAFETY: AVX-512F by this function's contract; each chunk holds 256 bytes, so the loads at
    // 64·k, k < 4, are in bounds.
    unsafe {
        let mut acc = [_mm512_setzero_si512(); 4];
        for c in chunks {
            let p = c.as_ptr();
            for line in 0..4 {
                prefetch_ahead_with::<S, N>(p.wrapping_add(64 * line), ahead);
            }
            for (k, s) in acc.iter_mut().enumerate() {
                *s = _mm512_add_epi64(*s, _mm512_loadu_si512(p.add(64 * k) as *const __m512i));
            }
        }
        let sum = _mm512_add_epi64(
            _mm512_add_epi64(acc[0], acc[1]),
            _mm512_add_epi64(acc[2], acc[3]),
        );
        (_mm512_reduce_add_epi64(sum) as u64).wrapping_add(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::PrefetchHint;

    #[test]
    fn the_byte_pass_sums_words_and_tail_on_every_path() {
        let bytes: Vec<u8> = (0..1003u32).map(|i| (i * 37 % 251) as u8).collect();
        for len in [0, 7, 8, 255, 256, 257, 1003] {
            let data = &bytes[..len];
            let words = data.chunks_exact(8).fold(0u64, |s, c| {
                s.wrapping_add(u64::from_le_bytes(c.try_into().unwrap()))
            });
            let tail = data.chunks_exact(8).remainder();
            let want = tail
                .iter()
                .fold(words, |s, &b| s.wrapping_add(u64::from(b)));
            for p in [
                None,
                Some(PrefetchHint::L2),
                Some(PrefetchHint::L2L1),
                Some(PrefetchHint::Nta),
            ]
            .map(|hint| hint.map(|hint| Prefetch { bytes: 4096, hint }))
            {
                assert_eq!(read_sum_bytes(data, p), want, "{len}");
                assert_eq!(read_sum_bytes_portable(data, p), want, "{len}");
            }
        }
    }
}
