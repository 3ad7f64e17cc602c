//! The number types a KV cache can hold: f32, or F16 for half the bytes per position.
//!
//! Attention computes in f32 either way: an F16 key or value widens to f32 exactly (in the
//! AVX-512 kernel with `vcvtph2ps`, in the scalar paths with `half`), so the SIMD kernel and its
//! scalar twin still give the same bits. What F16 changes is what is stored: each key and value
//! rounded once to 11 significant bits, as bitnet.cpp's and llama.cpp's default cache does.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A KV cache element.
pub trait KvElement: Copy + Send + Sync + 'static + sealed::Sealed {
    /// Bytes per element.
    const BYTES: usize;
    /// The element nearest to `v` (round to nearest, ties to even).
    fn from_f32(v: f32) -> Self;
    /// `dst[i] = Self::from_f32(src[i])` for every `i` (the lengths must match): the same bits,
    /// converted a vector at a time where the type has an instruction for it.
    fn from_f32_slice(dst: &mut [Self], src: &[f32]) {
        assert_eq!(dst.len(), src.len());
        dst.iter_mut()
            .zip(src)
            .for_each(|(o, &x)| *o = Self::from_f32(x));
    }
    /// The element's value, exactly.
    fn to_f32(self) -> f32;
    /// `n` zeros, allocated zeroed (the pages stay untouched until written, so a cache can
    /// still be advised into huge pages).
    fn zeroed(n: usize) -> Vec<Self>;
    /// Sixteen elements at `p`, widened to f32.
    ///
    /// # Safety
    /// The CPU must support AVX-512F (the callers are `#[target_feature]` kernels into which this
    /// inlines); 16 elements at `p` are readable.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> __m512;
    /// Eight elements at `p`, widened to f32.
    ///
    /// # Safety
    /// The CPU must support AVX and F16C (the callers are `#[target_feature]` kernels into which
    /// this inlines); 8 elements at `p` are readable.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> __m256;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
}

impl KvElement for f32 {
    const BYTES: usize = 4;

    fn from_f32(v: f32) -> Self {
        v
    }

    fn from_f32_slice(dst: &mut [Self], src: &[f32]) {
        dst.copy_from_slice(src);
    }

    fn to_f32(self) -> f32 {
        self
    }

    fn zeroed(n: usize) -> Vec<Self> {
        vec![0.0; n]
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> __m512 {
        // SAFETY: this function's contract.
        unsafe { _mm512_loadu_ps(p) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: this function's contract.
        unsafe { _mm256_loadu_ps(p) }
    }
}

impl KvElement for half::f16 {
    const BYTES: usize = 2;

    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v)
    }

    fn from_f32_slice(dst: &mut [Self], src: &[f32]) {
        use half::slice::HalfFloatSliceExt;
        // One feature check and `vcvtps2ph` over 8 values at a time, where `from_f32` checks
        // for F16C and converts one value per call (a decoded token stores 1280 a layer).
        dst.convert_from_f32_slice(src);
    }

    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }

    fn zeroed(n: usize) -> Vec<Self> {
        use half::vec::HalfBitsVecExt;
        // Bits 0 are +0.0; `vec![f16::ZERO; n]` would write every element instead of asking
        // the allocator for zeroed memory.
        vec![0u16; n].reinterpret_into()
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> __m512 {
        // SAFETY: this function's contract; `f16` is a transparent u16, so 16 of them are the
        // 32 bytes `vcvtph2ps` reads.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: this function's contract; 8 `f16` are the 16 bytes `vcvtph2ps` reads.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }
}

/// Which element type a KV cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvCacheType {
    /// f32: keys and values exactly as computed.
    F32,
    /// F16: half the bytes per position, each value rounded once.
    F16,
}

impl KvCacheType {
    /// Every type, in the order the help lists them.
    pub const ALL: [KvCacheType; 2] = [KvCacheType::F32, KvCacheType::F16];

    /// The cache `perfd bench` and the tuner measure unless told otherwise: F16, bitnet.cpp's and
    /// llama.cpp's default. At 4096 positions of 2B-4T it decoded 1.26× the f32 cache (85.8
    /// against 79.5 % of the read roofline on the Zen 5 VM), at 128–256 positions 1.017×, for one
    /// rounding of each key and value. A [`crate::model::Session`] itself starts with F32, the
    /// exact cache.
    pub const BENCH_DEFAULT: KvCacheType = KvCacheType::F16;

    /// Name in flags and reports.
    pub fn name(self) -> &'static str {
        match self {
            KvCacheType::F32 => "f32",
            KvCacheType::F16 => "f16",
        }
    }

    /// Bytes per stored value.
    pub fn bytes(self) -> usize {
        match self {
            KvCacheType::F32 => f32::BYTES,
            KvCacheType::F16 => half::f16::BYTES,
        }
    }
}

crate::named_choice::named_choice!(KvCacheType, "KV cache type");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for t in KvCacheType::ALL {
            assert_eq!(t.name().parse::<KvCacheType>(), Ok(t));
        }
        assert!("q8_0"
            .parse::<KvCacheType>()
            .unwrap_err()
            .contains("f32, f16"));
    }

    /// The SIMD widening is the scalar one, bit for bit, over every F16 value (NaNs keep NaN).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_widening_of_f16_equals_the_scalar_one() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("no AVX-512F: the SIMD widening is not run on this CPU");
            return;
        }
        #[target_feature(enable = "avx512f")]
        unsafe fn widen(v: &[half::f16; 16]) -> [f32; 16] {
            let mut out = [0f32; 16];
            // SAFETY: AVX-512F checked by the caller; 16 elements and 16 floats.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), half::f16::load16(v.as_ptr())) };
            out
        }
        for chunk in (0..=u16::MAX).collect::<Vec<_>>().chunks_exact(16) {
            let v: [half::f16; 16] = std::array::from_fn(|i| half::f16::from_bits(chunk[i]));
            // SAFETY: AVX-512F detected above.
            let got = unsafe { widen(&v) };
            for (g, h) in got.iter().zip(v) {
                let want = h.to_f32();
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "{:#06x}: {g} vs {want}",
                    h.to_bits()
                );
            }
        }
    }

    /// The slice conversion gives each element's `from_f32` bits: the rounding boundaries of
    /// every F16 binade (each F16 value, the midpoints to both neighbours and one ulp of f32
    /// either side), NaN, infinities, overflow and f32 subnormals, at every offset of an
    /// 8-wide vector and its tail.
    #[test]
    fn slice_conversion_equals_the_element_one() {
        let mut src = vec![
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            65520.0,
            -1e9,
            1e-40,
        ];
        for bits in (0..=u16::MAX).step_by(7) {
            let v = half::f16::from_bits(bits).to_f32();
            if v.is_finite() {
                let next = half::f16::from_bits(bits.wrapping_add(1)).to_f32();
                let mid = (v + next) / 2.0;
                src.extend([v, mid, f32::from_bits(mid.to_bits() + 1)]);
                src.push(f32::from_bits(mid.to_bits().saturating_sub(1)));
            }
        }
        for skip in 0..9 {
            let src = &src[skip..];
            let mut got = vec![half::f16::ZERO; src.len()];
            half::f16::from_f32_slice(&mut got, src);
            for (g, &x) in got.iter().zip(src) {
                let want = half::f16::from_f32(x);
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "{x:e}: {:#06x} vs {:#06x}",
                    g.to_bits(),
                    want.to_bits()
                );
            }
            let mut same = vec![0f32; src.len()];
            f32::from_f32_slice(&mut same, src);
            assert!(same
                .iter()
                .zip(src)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
