//! I2_S × int8 GEMM on AMX tiles (`tdpbusd`), for prompt batches.
//!
//! One `tdpbusd` multiplies a 16×64 u8 tile by a 64×16 s8 tile into 16×16 i32 accumulators:
//! 16 384 multiply-adds, 256× an AVX-512 `vpdpbusd`, at a throughput of one per 16 cycles. Codes
//! (0, 1, 2) are u8 and activations s8, the operand order the instruction takes, so the result is
//! the same exact Σ code·q every ISA produces and the shared epilogue subtracts Σq.
//!
//! Layouts:
//! - A (weights): a task unpacks its rows `PANEL_ROWS` at a time into one byte per code in
//!   natural column order (zero rows past the task's end); a tile is 16 rows × 64 codes. From a
//!   row-major matrix row by row; from lanes16 a 16-row group at a time, each line's four
//!   planes transposed to rows (a task's rows start on a group: AMX tasks are multiples of 32).
//! - B (activations): packed once per call ([`AmxActs`]) in the layout tiles need: per group of
//!   16 tokens and per 4 consecutive columns, 64 bytes `[token][column % 4]`; one tile is 16 such
//!   rows (64 columns), contiguous. Tokens past the last are zero.
//! - C: 2 row tiles × 2 token tiles of accumulators (tmm0–3) per 32 rows × 32 tokens, fed by
//!   two A tiles (tmm4–5) and two B tiles (tmm6–7), so each tile load feeds two products.

use std::arch::asm;
use std::arch::x86_64::*;
use std::cell::RefCell;
use std::ops::Range;

use crate::activation::QuantizedActivations;
use crate::format::i2s::{I2sMatrixRef, BLOCK_BYTES, BLOCK_WEIGHTS};
use crate::format::ternary_layout::{TernaryLayout, LANE_LINE_BYTES, LANE_LINE_COLS, LANE_ROWS};

/// Weight rows unpacked and multiplied together (two A tiles).
const PANEL_ROWS: usize = 32;
/// Tokens per B tile; B is padded to pairs of them.
const TILE_TOKENS: usize = 16;
/// Columns (K) per tile step.
const TILE_K: usize = 64;

/// Activations packed for B tiles, zero-padded to a multiple of 32 tokens.
#[derive(Debug, Clone)]
pub struct AmxActs {
    data: Vec<i8>,
    /// Padded columns (a multiple of 128, hence of [`TILE_K`]).
    k: usize,
    tokens: usize,
    groups: usize,
}

impl AmxActs {
    /// Packs every token row of `acts`.
    pub fn new(acts: &QuantizedActivations) -> Self {
        let k = acts.padded_cols();
        let tokens = acts.tokens();
        let groups = tokens.div_ceil(2 * TILE_TOKENS) * 2;
        let mut data = vec![0i8; groups * TILE_TOKENS * k];
        for t in 0..tokens {
            let (g, lane) = (t / TILE_TOKENS, t % TILE_TOKENS);
            let group = &mut data[g * TILE_TOKENS * k..(g + 1) * TILE_TOKENS * k];
            // Row k4 of the group holds columns 4·k4..4·k4+4 of all 16 tokens, 4 bytes each.
            for (k4, four) in acts.token(t).chunks_exact(4).enumerate() {
                let at = k4 * 4 * TILE_TOKENS + lane * 4;
                group[at..at + 4].copy_from_slice(four);
            }
        }
        Self {
            data,
            k,
            tokens,
            groups,
        }
    }

    /// Number of real token rows.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// First byte of the B tile of token group `g` at column step `s`.
    fn tile(&self, g: usize, s: usize) -> *const i8 {
        self.data[g * TILE_TOKENS * self.k + s * TILE_K * TILE_TOKENS..].as_ptr()
    }
}

thread_local! {
    /// Each worker's unpacked weight panel, kept between calls (a 32 × 6912 panel is 216 KiB;
    /// allocating it per task would map and fault fresh pages every time).
    static PANEL: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The tile palette: all eight tiles 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn all_full() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1; // palette 1
        for t in 0..8 {
            c[16 + 2 * t] = 64; // bytes per row
            c[48 + t] = 16; // rows
        }
        Self(c)
    }
}

/// Σ code·q for rows `rows` × every token into `out[(r − rows.start)·tokens + t]`.
///
/// # Safety
/// The CPU must support AVX-512F/BW and AMX-INT8, and this process must hold the AMX tile
/// permission (both checked by [`super::amx::amx_int8_usable`], which `I2sGemm` requires before
/// choosing this kernel); `rows` lie inside `w`, `acts` was packed from activations with
/// `w.cols()` columns, and `out` holds `rows.len() · acts.tokens()` values.
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn dot_codes_amx(
    w: &I2sMatrixRef<'_>,
    rows: Range<usize>,
    acts: &AmxActs,
    out: &mut [i32],
) {
    let k = acts.k;
    debug_assert_eq!(k, w.padded_cols());
    assert!(out.len() >= rows.len() * acts.tokens);
    // Taken out and put back rather than borrowed in a closure: a closure would not inherit
    // this function's target features.
    let mut panel = PANEL.take();
    {
        panel.resize(PANEL_ROWS * k, 0);
        let config = TileConfig::all_full();
        let mut c = [[0i32; 256]; 4];
        // SAFETY: AMX is usable (this function's contract); the configuration is a valid palette-1
        // layout, 64-byte aligned.
        unsafe { asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack)) };
        let mut p0 = rows.start;
        while p0 < rows.end {
            let prow = (rows.end - p0).min(PANEL_ROWS);
            // SAFETY: AVX-512F/BW by this function's contract; rows p0..p0+prow lie inside `w`.
            unsafe { unpack_panel(w, p0, prow, &mut panel) };
            for g0 in (0..acts.groups).step_by(2) {
                // SAFETY: tiles are configured; every A tile reads 16 rows of 64 bytes at stride
                // k inside `panel` (32·k bytes), every B tile 1 KiB inside `acts.data` (group
                // g0+1 < groups, step s < k/64); C stores write 16 rows of 64 bytes into `c`.
                unsafe {
                    asm!(
                        "tilezero tmm0",
                        "tilezero tmm1",
                        "tilezero tmm2",
                        "tilezero tmm3",
                        options(nostack)
                    );
                    let a0 = panel.as_ptr();
                    let a1 = panel.as_ptr().add(16 * k);
                    for s in 0..k / TILE_K {
                        asm!(
                            "tileloadd tmm4, [{a0} + {ka}*1]",
                            "tileloadd tmm5, [{a1} + {ka}*1]",
                            "tileloadd tmm6, [{b0} + {kb}*1]",
                            "tileloadd tmm7, [{b1} + {kb}*1]",
                            "tdpbusd tmm0, tmm4, tmm6",
                            "tdpbusd tmm1, tmm4, tmm7",
                            "tdpbusd tmm2, tmm5, tmm6",
                            "tdpbusd tmm3, tmm5, tmm7",
                            a0 = in(reg) a0.add(s * TILE_K),
                            a1 = in(reg) a1.add(s * TILE_K),
                            b0 = in(reg) acts.tile(g0, s),
                            b1 = in(reg) acts.tile(g0 + 1, s),
                            ka = in(reg) k,
                            kb = in(reg) 4 * TILE_TOKENS,
                            options(nostack)
                        );
                    }
                    asm!(
                        "tilestored [{c0} + {stride}*1], tmm0",
                        "tilestored [{c1} + {stride}*1], tmm1",
                        "tilestored [{c2} + {stride}*1], tmm2",
                        "tilestored [{c3} + {stride}*1], tmm3",
                        c0 = in(reg) c[0].as_mut_ptr(),
                        c1 = in(reg) c[1].as_mut_ptr(),
                        c2 = in(reg) c[2].as_mut_ptr(),
                        c3 = in(reg) c[3].as_mut_ptr(),
                        stride = in(reg) 64usize,
                        options(nostack)
                    );
                }
                scatter(
                    &c,
                    p0 - rows.start,
                    prow,
                    g0 * TILE_TOKENS,
                    acts.tokens,
                    out,
                );
            }
            p0 += prow;
        }
        // SAFETY: tiles were configured above; releasing returns them to the init state.
        unsafe { asm!("tilerelease", options(nostack)) };
    }
    PANEL.set(panel);
}

/// Copies the valid rows and tokens of one 32 × 32 accumulator block into `out`.
fn scatter(
    c: &[[i32; 256]; 4],
    row0: usize,
    rows: usize,
    tok0: usize,
    tokens: usize,
    out: &mut [i32],
) {
    for i in 0..rows {
        for tt in 0..2 {
            let first = tok0 + tt * TILE_TOKENS;
            let n = tokens.saturating_sub(first).min(TILE_TOKENS);
            if n == 0 {
                break;
            }
            let tile = &c[(i / 16) * 2 + tt][(i % 16) * 16..(i % 16) * 16 + n];
            let at = (row0 + i) * tokens + first;
            out[at..at + n].copy_from_slice(tile);
        }
    }
}

/// Rows `p0..p0 + prow` of `w` into `panel` ([`PANEL_ROWS`] rows of `k` code bytes), rows past
/// `prow` zero.
///
/// # Safety
/// The CPU must support AVX-512F/BW; the rows lie inside `w` and `panel` holds
/// `PANEL_ROWS · w.padded_cols()` bytes.
#[inline(always)]
unsafe fn unpack_panel(w: &I2sMatrixRef<'_>, p0: usize, prow: usize, panel: &mut [u8]) {
    let k = w.padded_cols();
    let whole_groups = p0.is_multiple_of(LANE_ROWS) && prow.is_multiple_of(LANE_ROWS);
    match w.layout() {
        TernaryLayout::Lanes16 if whole_groups => {
            let group_bytes = LANE_ROWS * w.row_bytes();
            for (i, dst) in panel.chunks_exact_mut(LANE_ROWS * k).enumerate() {
                if i * LANE_ROWS < prow {
                    let g = p0 / LANE_ROWS + i;
                    let group = &w.data()[g * group_bytes..(g + 1) * group_bytes];
                    // SAFETY: this function's contract; `group` is one whole lane group.
                    unsafe { unpack_group(group, k, dst) };
                } else {
                    dst.fill(0);
                }
            }
        }
        layout => {
            for (i, dst) in panel.chunks_exact_mut(k).enumerate() {
                if i >= prow {
                    dst.fill(0);
                } else if layout == TernaryLayout::RowMajor {
                    // SAFETY: AVX2 by this function's contract; the row has k/4 bytes.
                    unsafe { unpack_row(w.row(p0 + i), dst) };
                } else {
                    // Lanes16 rows not on a group (never from `I2sGemm`, whose AMX tasks are
                    // multiples of 32 rows): code by code.
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d = w.code(p0 + i, j);
                    }
                }
            }
        }
    }
}

/// One lane group (16 rows of a lanes16 matrix) → 16 rows of `k` code bytes in natural column
/// order. Plane p of line c holds, in 32-bit lane r, row r's columns 16c + 4p .. + 4: a 4 × 16
/// transpose of dwords turns the four planes into each row's 16 consecutive codes.
///
/// # Safety
/// The CPU must support AVX-512F/BW; `group` holds `k / 16` lines and `dst` 16 · `k` bytes.
#[inline(always)]
unsafe fn unpack_group(group: &[u8], k: usize, dst: &mut [u8]) {
    debug_assert!(group.len() * 4 == LANE_ROWS * k && dst.len() == LANE_ROWS * k);
    // SAFETY: line c reads group bytes 64c..64c+64 and writes dst bytes r·k + 16c .. + 16 for
    // r < 16, in bounds by the length relations above; AVX-512F/BW by this function's contract.
    unsafe {
        let three = _mm512_set1_epi8(3);
        for c in 0..k / LANE_LINE_COLS {
            let line =
                _mm512_loadu_si512(group.as_ptr().add(c * LANE_LINE_BYTES) as *const __m512i);
            let v0 = _mm512_and_si512(_mm512_srli_epi16::<6>(line), three);
            let v1 = _mm512_and_si512(_mm512_srli_epi16::<4>(line), three);
            let v2 = _mm512_and_si512(_mm512_srli_epi16::<2>(line), three);
            let v3 = _mm512_and_si512(line, three);
            let t0 = _mm512_unpacklo_epi32(v0, v1);
            let t1 = _mm512_unpackhi_epi32(v0, v1);
            let t2 = _mm512_unpacklo_epi32(v2, v3);
            let t3 = _mm512_unpackhi_epi32(v2, v3);
            // Row 4L + m is 128-bit lane L of rows[m].
            let rows = [
                _mm512_unpacklo_epi64(t0, t2),
                _mm512_unpackhi_epi64(t0, t2),
                _mm512_unpacklo_epi64(t1, t3),
                _mm512_unpackhi_epi64(t1, t3),
            ];
            let out = dst.as_mut_ptr().add(c * LANE_LINE_COLS);
            for (m, r) in rows.iter().enumerate() {
                let lanes = [
                    _mm512_castsi512_si128(*r),
                    _mm512_extracti32x4_epi32::<1>(*r),
                    _mm512_extracti32x4_epi32::<2>(*r),
                    _mm512_extracti32x4_epi32::<3>(*r),
                ];
                for (l, x) in lanes.iter().enumerate() {
                    _mm_storeu_si128(out.add((4 * l + m) * k) as *mut __m128i, *x);
                }
            }
        }
    }
}

/// One packed I2_S row → one code byte per weight in natural column order.
///
/// # Safety
/// The CPU must support AVX2 (implied by AVX-512BW); `dst.len() == 4 · row.len()` and `row` is
/// whole blocks.
#[inline(always)]
unsafe fn unpack_row(row: &[u8], dst: &mut [u8]) {
    debug_assert_eq!(dst.len(), 4 * row.len());
    // SAFETY: block b reads bytes 32b..32b+32 of `row` and writes 128b..128b+128 of `dst`, in
    // bounds by the length relation above; AVX2 by this function's contract.
    unsafe {
        let mask = _mm256_set1_epi8(3);
        for b in 0..row.len() / BLOCK_BYTES {
            let v = _mm256_loadu_si256(row.as_ptr().add(b * BLOCK_BYTES) as *const __m256i);
            let d = dst.as_mut_ptr().add(b * BLOCK_WEIGHTS) as *mut __m256i;
            // Weight 32g + j of a block sits in byte j at shift 6 − 2g.
            _mm256_storeu_si256(d, _mm256_and_si256(_mm256_srli_epi16::<6>(v), mask));
            _mm256_storeu_si256(d.add(1), _mm256_and_si256(_mm256_srli_epi16::<4>(v), mask));
            _mm256_storeu_si256(d.add(2), _mm256_and_si256(_mm256_srli_epi16::<2>(v), mask));
            _mm256_storeu_si256(d.add(3), _mm256_and_si256(v, mask));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::i2s_relayout::relayout;
    use crate::synthetic::random_matrix;

    /// The panel a lanes16 matrix unpacks to is the row-major matrix's, byte for byte: what the
    /// AMX tiles read does not depend on the layout. Runs wherever AVX-512BW does (no AMX needed).
    #[test]
    fn lane_groups_unpack_to_the_row_major_panel() {
        if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")) {
            eprintln!("no AVX-512BW: the unpacking was not run");
            return;
        }
        for (rows, cols) in [(32, 128), (48, 384), (64, 2560), (16, 300)] {
            let m = random_matrix(rows, cols, 3).unwrap();
            let lanes = relayout(&m.view(), TernaryLayout::Lanes16).unwrap();
            let k = m.view().padded_cols();
            for p0 in (0..rows).step_by(PANEL_ROWS) {
                let prow = (rows - p0).min(PANEL_ROWS);
                let mut want = vec![7u8; PANEL_ROWS * k];
                let mut got = vec![9u8; PANEL_ROWS * k];
                // SAFETY: AVX-512F/BW detected above; the panels hold PANEL_ROWS · k bytes.
                unsafe {
                    unpack_panel(&m.view(), p0, prow, &mut want);
                    unpack_panel(&lanes.view(), p0, prow, &mut got);
                }
                assert_eq!(got, want, "{rows}x{cols} panel at row {p0}");
                assert_eq!(want[k + 5], m.view().code(p0 + 1, 5));
            }
            // Rows that start inside a group take the code-by-code path.
            if rows >= 32 {
                let mut want = vec![7u8; PANEL_ROWS * k];
                let mut got = vec![9u8; PANEL_ROWS * k];
                // SAFETY: as above; rows 8..8+20 lie inside the matrix.
                unsafe {
                    unpack_panel(&m.view(), 8, 20, &mut want);
                    unpack_panel(&lanes.view(), 8, 20, &mut got);
                }
                assert_eq!(got, want, "{rows}x{cols} panel at row 8");
            }
        }
    }
}
