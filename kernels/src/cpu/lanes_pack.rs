//! Row-major → lanes16 → trits16 in place, with AVX-512 where the CPU has it: what a model's load
//! spends on reordering its ternary projections (2B-4T: 0.52 GB).
//!
//! Per line of a group: the 16 rows' 16 codes of the line's columns (one shift for all, see
//! `format::i2s_relayout`), four rows per register, become the four planes by the 4 × 4 dword
//! transpose that the AMX kernel uses the other way (a transpose is its own inverse), and the
//! planes are packed back into bytes at shifts 6, 4, 2, 0.

use crate::format::i2s_relayout;
#[cfg(target_arch = "x86_64")]
use crate::format::ternary_layout::{LANE_LINE_BYTES, LANE_LINE_COLS, LANE_ROWS};
use crate::format::trits16;
#[cfg(target_arch = "x86_64")]
use crate::format::trits16::TRIT_LINE_COLS;

/// Reorders the row-major codes `data` of a `rows`-row matrix (`row_bytes` per row) into
/// lanes16, in place; `rows` must be a multiple of 16.
pub fn row_major_to_lanes_in_place(data: &mut [u8], rows: usize, row_bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        i2s_relayout::each_group_in_place(data, rows, row_bytes, |group, row_bytes, out| {
            // SAFETY: AVX-512F/BW detected just above; `group` and `out` hold 16 rows of
            // `row_bytes` (a whole number of 32-byte blocks, so of 16-column lines).
            unsafe { avx512::group_to_lanes(group, row_bytes, out) }
        });
        return;
    }
    i2s_relayout::row_major_to_lanes_in_place(data, rows, row_bytes);
}

/// Reorders the lanes16 codes `data` of a `rows`-row matrix of `padded_cols` columns into
/// trits16, in place (`format::trits16`), and returns the trits16 length. AVX-512 packs the full
/// lines; a row's last line, when its columns are not a multiple of 20, goes through the scalar
/// packer. 2B-4T from the page cache into huge pages, trits16 load 1.1–1.26 s with the scalar
/// packer alone against 0.49–0.52 s for lanes16 (Zen 5 VM).
pub fn lanes_to_trits_in_place(data: &mut [u8], rows: usize, padded_cols: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        let full = padded_cols / TRIT_LINE_COLS;
        return trits16::lanes_to_trits_in_place_with(data, rows, padded_cols, |group, c, out| {
            if c >= full {
                return false;
            }
            // SAFETY: AVX-512F/BW detected just above; line c is full, so the lanes16 lines it
            // reads (quads 5c..5c + 5, lines up to (5c + 4) / 4) lie inside `group`.
            unsafe { avx512::trits_line(group, c, out) };
            true
        });
    }
    trits16::lanes_to_trits_in_place(data, rows, padded_cols)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{LANE_LINE_BYTES, LANE_LINE_COLS, LANE_ROWS};
    use crate::format::i2s_relayout::row_major_line;
    use crate::format::trits16::DIGITS;

    /// Trits16 line `c` of a lanes16 group: digit k of every byte is plane `(5c + k) % 4` of
    /// lanes16 line `(5c + k) / 4`; the five planes make v = Σ code_k·3^(4−k) in bytes, and
    /// q = ⌈256·v / 243⌉ = ⌊x·8631 / 2²¹⌋ with x = 256·v + 242 in a 16-bit lane (exact for every
    /// v ≤ 242: `the_simd_trits_packer_writes_the_scalar_one_byte_for_byte`).
    ///
    /// # Safety
    /// The CPU must support AVX-512F/BW; `group` holds the lanes16 lines up to `(5c + 4) / 4`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn trits_line(group: &[u8], c: usize, out: &mut [u8; LANE_LINE_BYTES]) {
        let three = _mm512_set1_epi8(3);
        let plane = |quad: usize| {
            let line = quad / 4;
            debug_assert!((line + 1) * LANE_LINE_BYTES <= group.len());
            // SAFETY: this function's contract bounds every line read.
            let w = unsafe {
                _mm512_loadu_si512(group.as_ptr().add(line * LANE_LINE_BYTES) as *const __m512i)
            };
            let count = _mm_cvtsi32_si128(6 - 2 * (quad % 4) as i32);
            _mm512_and_si512(_mm512_srl_epi16(w, count), three)
        };
        let mut v = plane(DIGITS * c);
        for k in 1..DIGITS {
            // v·3 + d stays ≤ 242: no byte carries.
            v = _mm512_add_epi8(
                _mm512_add_epi8(v, _mm512_add_epi8(v, v)),
                plane(DIGITS * c + k),
            );
        }
        let low = _mm512_set1_epi16(242);
        let magic = _mm512_set1_epi16(8631);
        let even = _mm512_or_si512(_mm512_slli_epi16::<8>(v), low);
        let odd = _mm512_or_si512(
            _mm512_and_si512(v, _mm512_set1_epi16(0xFF00u16 as i16)),
            low,
        );
        let q_even = _mm512_srli_epi16::<5>(_mm512_mulhi_epu16(even, magic));
        let q_odd = _mm512_srli_epi16::<5>(_mm512_mulhi_epu16(odd, magic));
        let q = _mm512_or_si512(q_even, _mm512_slli_epi16::<8>(q_odd));
        // SAFETY: `out` is 64 bytes.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr() as *mut __m512i, q) };
    }

    /// One group: 16 row-major rows (`rows`) → its lanes16 lines in `out`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F/BW; `rows` and `out` hold 16 · `row_bytes` bytes and
    /// `row_bytes` is a multiple of 32.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn group_to_lanes(rows: &[u8], row_bytes: usize, out: &mut [u8]) {
        debug_assert!(rows.len() == LANE_ROWS * row_bytes && out.len() == rows.len());
        let three = _mm512_set1_epi8(3);
        for c in 0..row_bytes * 4 / LANE_LINE_COLS {
            let (offset, shift) = row_major_line(c);
            let count = _mm_cvtsi32_si128(shift as i32);
            // SAFETY: row r's bytes offset..offset+16 lie inside it (offset + 16 ≤ row_bytes: a
            // line's 16 columns are 16 bytes of one 32-byte block); line c of `out` is in bounds.
            unsafe {
                let row = |r: usize| {
                    _mm_loadu_si128(rows.as_ptr().add(r * row_bytes + offset) as *const __m128i)
                };
                // Register m, 128-bit lane L: the codes of row 4L + m.
                let quad: [__m512i; 4] = std::array::from_fn(|m| {
                    let v = _mm512_castsi128_si512(row(m));
                    let v = _mm512_inserti32x4::<1>(v, row(4 + m));
                    let v = _mm512_inserti32x4::<2>(v, row(8 + m));
                    let v = _mm512_inserti32x4::<3>(v, row(12 + m));
                    _mm512_and_si512(_mm512_srl_epi16(v, count), three)
                });
                let t0 = _mm512_unpacklo_epi32(quad[0], quad[1]);
                let t1 = _mm512_unpackhi_epi32(quad[0], quad[1]);
                let t2 = _mm512_unpacklo_epi32(quad[2], quad[3]);
                let t3 = _mm512_unpackhi_epi32(quad[2], quad[3]);
                // Plane p: lane r holds row r's columns 4p..4p+4 of the line.
                let planes = [
                    _mm512_unpacklo_epi64(t0, t2),
                    _mm512_unpackhi_epi64(t0, t2),
                    _mm512_unpacklo_epi64(t1, t3),
                    _mm512_unpackhi_epi64(t1, t3),
                ];
                // Codes are at most 3, so 16-bit shifts move no bits across bytes.
                let packed = _mm512_or_si512(
                    _mm512_or_si512(
                        _mm512_slli_epi16::<6>(planes[0]),
                        _mm512_slli_epi16::<4>(planes[1]),
                    ),
                    _mm512_or_si512(_mm512_slli_epi16::<2>(planes[2]), planes[3]),
                );
                _mm512_storeu_si512(
                    out.as_mut_ptr().add(c * LANE_LINE_BYTES) as *mut __m512i,
                    packed,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::random_matrix;

    #[test]
    fn the_simd_reorder_writes_the_scalar_one_byte_for_byte() {
        for (rows, cols) in [(16, 128), (32, 300), (48, 2560), (64, 6912)] {
            let m = random_matrix(rows, cols, 11).unwrap();
            let rb = m.view().row_bytes();
            let mut want = m.view().data().to_vec();
            i2s_relayout::row_major_to_lanes_in_place(&mut want, rows, rb);
            let mut got = m.view().data().to_vec();
            row_major_to_lanes_in_place(&mut got, rows, rb);
            assert_eq!(got, want, "{rows}x{cols}");
        }
    }

    #[test]
    fn the_simd_trits_packer_writes_the_scalar_one_byte_for_byte() {
        // 300 and 6912 columns end on a partial line (scalar); 2560 on a full one. Every code
        // pattern of a byte occurs in 64 × 2560 random codes.
        for (rows, cols) in [(16, 128), (32, 300), (64, 2560), (64, 6912)] {
            let m = random_matrix(rows, cols, 5).unwrap();
            let v = m.view();
            let mut lanes = v.data().to_vec();
            row_major_to_lanes_in_place(&mut lanes, rows, v.row_bytes());
            let mut want = lanes.clone();
            let n = trits16::lanes_to_trits_in_place(&mut want, rows, v.padded_cols());
            let mut got = lanes;
            assert_eq!(lanes_to_trits_in_place(&mut got, rows, v.padded_cols()), n);
            assert_eq!(got, want, "{rows}x{cols}");
        }
    }
}
