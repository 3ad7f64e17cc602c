//! Row-major → lanes16 in place, with AVX-512 where the CPU has it: what a model's load spends on
//! reordering its ternary projections (2B-4T: 0.52 GB).
//!
//! Per line of a group: the 16 rows' 16 codes of the line's columns (one shift for all, see
//! `format::i2s_relayout`), four rows per register, become the four planes by the 4 × 4 dword
//! transpose that the AMX kernel uses the other way (a transpose is its own inverse), and the
//! planes are packed back into bytes at shifts 6, 4, 2, 0.

use crate::format::i2s_relayout;
use crate::format::ternary_layout::{LANE_LINE_BYTES, LANE_LINE_COLS, LANE_ROWS};

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

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{LANE_LINE_BYTES, LANE_LINE_COLS, LANE_ROWS};
    use crate::format::i2s_relayout::row_major_line;

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
}
