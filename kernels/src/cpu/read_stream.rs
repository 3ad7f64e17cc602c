//! A read-only pass over memory with the loads the kernels use (the widest vectors the CPU has,
//! optionally software-prefetched ahead): the bandwidth a decode step, which only reads weights,
//! can reach. STREAM's copy and triad also write, and their bandwidth differs from a pure read's
//! by up to 2× on some hosts.

use crate::cpu::prefetch::{prefetch_ahead, Prefetch};
#[cfg(target_arch = "x86_64")]
use crate::cpu::prefetch::{prefetch_ahead_with, with_prefetch_hint, PrefetchHint};

/// Σ of `data`, read once front to back (the sum keeps the loads from being optimised away).
/// With AVX-512F: 64-byte loads into four accumulators, and `ahead` prefetches when given.
pub fn read_sum(data: &[f64], ahead: Option<Prefetch>) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F was detected just above.
        return unsafe { read_sum_avx512(data, ahead) };
    }
    read_sum_portable(data, ahead)
}

/// Wrapping Σ of `data`'s bytes as little-endian u64 words (and the tail bytes), read once front
/// to back: the read pass over bytes of any content, such as a model's weights (integer adds:
/// arbitrary bytes as f64 would include subnormals, which slow float adds on some cores).
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

/// The hint and distance of `ahead` (distance 0 without prefetch), for [`with_prefetch_hint`].
#[cfg(target_arch = "x86_64")]
fn hint_and_bytes(ahead: Option<Prefetch>) -> (PrefetchHint, usize) {
    ahead.map_or((PrefetchHint::L2, 0), |a| (a.hint, a.bytes))
}

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_sum_bytes_avx512(data: &[u8], ahead: Option<Prefetch>) -> u64 {
    let (hint, bytes) = hint_and_bytes(ahead);
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

fn read_sum_portable(data: &[f64], ahead: Option<Prefetch>) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = data.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        if let Some(p) = ahead {
            prefetch_ahead(c.as_ptr() as *const u8, p);
        }
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_sum_avx512(data: &[f64], ahead: Option<Prefetch>) -> f64 {
    let (hint, bytes) = hint_and_bytes(ahead);
    // SAFETY: this function's contract, passed on.
    with_prefetch_hint!(hint, S, N => unsafe { read_sum_avx512_with::<S, N>(data, bytes) })
}

/// [`read_sum_avx512`] prefetching `ahead` bytes with the hint's consts, as the kernels do.
///
/// # Safety
/// As [`read_sum_avx512`]; inlined into it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn read_sum_avx512_with<const S: i32, const N: bool>(data: &[f64], ahead: usize) -> f64 {
    use std::arch::x86_64::*;
    let chunks = data.chunks_exact(32);
    let tail: f64 = chunks.remainder().iter().sum();
    // SAFETY: AVX-512F by this function's contract; each chunk holds 32 f64, so the loads at
    // 8·k, k < 4, are in bounds.
    unsafe {
        let mut acc = [_mm512_setzero_pd(); 4];
        for c in chunks {
            let p = c.as_ptr();
            // 256 bytes per step: four lines.
            for line in 0..4 {
                prefetch_ahead_with::<S, N>((p as *const u8).wrapping_add(64 * line), ahead);
            }
            for (k, s) in acc.iter_mut().enumerate() {
                *s = _mm512_add_pd(*s, _mm512_loadu_pd(p.add(8 * k)));
            }
        }
        let sum = _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]));
        _mm512_reduce_add_pd(sum) + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::PrefetchHint;

    #[test]
    fn every_path_sums_exactly_on_integers() {
        let v: Vec<f64> = (0..1003).map(f64::from).collect();
        let want = 1002.0 * 1003.0 / 2.0;
        let ahead = |hint| Prefetch { bytes: 4096, hint };
        for p in [
            None,
            Some(ahead(PrefetchHint::L2)),
            Some(ahead(PrefetchHint::L2L1)),
        ] {
            assert_eq!(read_sum(&v, p), want);
            assert_eq!(read_sum_portable(&v, p), want);
        }
    }

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
            for p in [None, Some(PrefetchHint::L2), Some(PrefetchHint::L2L1)]
                .map(|hint| hint.map(|hint| Prefetch { bytes: 4096, hint }))
            {
                assert_eq!(read_sum_bytes(data, p), want, "{len}");
                assert_eq!(read_sum_bytes_portable(data, p), want, "{len}");
            }
        }
    }
}
