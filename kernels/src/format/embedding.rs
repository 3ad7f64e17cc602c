//! Formats the token embedding (= lm_head) is kept in at run time: F16, or llama.cpp's Q8_0 and
//! Q6_K blocks read as they are in the file (fewer bytes per decoded token: 8.5 and 6.56 bits per
//! weight against 16). Rows hold whole blocks, so a row is a contiguous byte range.
//!
//! The quantisers here are for writing test and benchmark files (`perfd model write
//! --embeddings`); the dequantisers are ggml's (`format::ggml_blocks`), the reference every
//! lm_head kernel is checked against.

use half::f16;

use crate::format::ggml_blocks::{
    pack_q6_k_values, q6_k_block, q8_0_block, Q6_K_BLOCK_BYTES, Q8_0_BLOCK_BYTES, QK8_0, QK_K,
};
use crate::gguf::GgmlType;

/// The layout of the embedding rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbeddingFormat {
    /// IEEE half precision, 2 bytes per weight.
    F16,
    /// 32 int8 values and an f16 scale per 34-byte block.
    Q8_0,
    /// 256 6-bit values with 16 int8 sub-block scales and an f16 scale per 210-byte block.
    Q6K,
}

impl EmbeddingFormat {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [EmbeddingFormat; 3] = [Self::F16, Self::Q8_0, Self::Q6K];

    /// Name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q6K => "q6_k",
        }
    }

    /// The GGUF tensor type of this format.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            Self::F16 => GgmlType::F16,
            Self::Q8_0 => GgmlType::Q8_0,
            Self::Q6K => GgmlType::Q6K,
        }
    }

    /// The format a GGUF tensor type is read in, if it is read as it is.
    pub fn of(t: GgmlType) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.ggml_type() == t)
    }

    /// Weights per block (1 for F16).
    pub fn block_weights(self) -> usize {
        match self {
            Self::F16 => 1,
            Self::Q8_0 => QK8_0,
            Self::Q6K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::F16 => 2,
            Self::Q8_0 => Q8_0_BLOCK_BYTES,
            Self::Q6K => Q6_K_BLOCK_BYTES,
        }
    }

    /// Bytes of one row of `cols` weights (`cols` a multiple of [`Self::block_weights`]).
    pub fn row_bytes(self, cols: usize) -> usize {
        cols / self.block_weights() * self.block_bytes()
    }

    /// Appends the values of one row (or any whole number of blocks) to `out`.
    pub fn dequantize(self, bytes: &[u8], out: &mut Vec<f32>) {
        match self {
            Self::F16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
            ),
            Self::Q8_0 => bytes
                .chunks_exact(Q8_0_BLOCK_BYTES)
                .for_each(|b| q8_0_block(b, out)),
            Self::Q6K => bytes
                .chunks_exact(Q6_K_BLOCK_BYTES)
                .for_each(|b| q6_k_block(b, out)),
        }
    }

    /// Byte offset of each block's f16 scale within the block (None for F16).
    fn scale_offset(self) -> Option<usize> {
        match self {
            Self::F16 => None,
            Self::Q8_0 => Some(0),
            Self::Q6K => Some(Q6_K_BLOCK_BYTES - 2),
        }
    }

    /// Index of the first weight whose value is not finite: an F16 NaN/∞, or a block whose f16
    /// scale is NaN/∞ (its int values are always finite).
    pub fn first_non_finite(self, bytes: &[u8]) -> Option<usize> {
        // F16 is non-finite exactly when all five exponent bits are set.
        let bad = |lo: u8, hi: u8| u16::from_le_bytes([lo, hi]) & 0x7C00 == 0x7C00;
        match self.scale_offset() {
            // Chunks checked a word at a time without a branch (the fold vectorises), then the
            // one with a bad value searched: checking at load is a scan of 657 MB at 2B-4T, and
            // a loop that returned at the first bad value took a tenth of loading it.
            None => {
                const CHUNK: usize = 4096;
                bytes.chunks(CHUNK).enumerate().find_map(|(c, chunk)| {
                    let words = chunk.chunks_exact(8);
                    let tail = words.remainder().chunks_exact(2).any(|b| bad(b[0], b[1]));
                    let any = tail
                        || words.fold(0, |acc, w| {
                            acc | exponent_all_set(u64::from_le_bytes(
                                w.try_into().expect("8-byte chunk"),
                            ))
                        }) != 0;
                    any.then(|| chunk.chunks_exact(2).position(|b| bad(b[0], b[1])))
                        .flatten()
                        .map(|i| c * CHUNK / 2 + i)
                })
            }
            Some(at) => bytes
                .chunks_exact(self.block_bytes())
                .position(|b| bad(b[at], b[at + 1]))
                .map(|block| block * self.block_weights()),
        }
    }

    /// Quantises whole blocks of `values` into `out` (F16: rounds each value).
    pub fn quantize(self, values: &[f32], out: &mut Vec<u8>) {
        match self {
            Self::F16 => values
                .iter()
                .for_each(|&v| out.extend_from_slice(&f16::from_f32(v).to_le_bytes())),
            Self::Q8_0 => values
                .chunks_exact(QK8_0)
                .for_each(|b| out.extend_from_slice(&quantize_q8_0(b))),
            Self::Q6K => values
                .chunks_exact(QK_K)
                .for_each(|b| out.extend_from_slice(&quantize_q6_k(b))),
        }
    }
}

/// Bit 15 of each of the four F16 lanes of `w` set where that lane's five exponent bits are all
/// set (a NaN or ∞): the masked exponent plus one exponent unit reaches 0x8000 only from 0x7C00,
/// and never carries into the next lane.
fn exponent_all_set(w: u64) -> u64 {
    const EXPONENTS: u64 = 0x7C00_7C00_7C00_7C00;
    ((w & EXPONENTS) + 0x0400_0400_0400_0400) & 0x8000_8000_8000_8000
}

crate::named_choice::named_choice!(EmbeddingFormat, "embedding format");

/// ggml's `quantize_row_q8_0_ref`: scale = max|v| / 127, values rounded to nearest.
fn quantize_q8_0(v: &[f32]) -> [u8; Q8_0_BLOCK_BYTES] {
    let amax = v.iter().fold(0f32, |a, x| a.max(x.abs()));
    let d = amax / 127.0;
    let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
    let mut out = [0u8; Q8_0_BLOCK_BYTES];
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    for (o, &x) in out[2..].iter_mut().zip(v) {
        *o = (x * inv).round().clamp(-127.0, 127.0) as i8 as u8;
    }
    out
}

/// A Q6_K block: per 16 values the scale that maps the value of largest magnitude to −32 (as
/// ggml's reference does before its refinement search, which we skip: any valid block is fine
/// for benchmark files), the 16 scales quantised to int8 against one f16 super-scale.
fn quantize_q6_k(v: &[f32]) -> [u8; Q6_K_BLOCK_BYTES] {
    let mut sub = [0f32; QK_K / 16];
    for (s, chunk) in sub.iter_mut().zip(v.chunks_exact(16)) {
        let extreme = chunk
            .iter()
            .copied()
            .fold(0f32, |a, x| if x.abs() > a.abs() { x } else { a });
        *s = extreme / -32.0;
    }
    let max_scale = sub
        .iter()
        .copied()
        .fold(0f32, |a, x| if x.abs() > a.abs() { x } else { a });
    let d = f16::from_f32(max_scale / -128.0);
    let df = d.to_f32();
    let inv_d = if df == 0.0 { 0.0 } else { 1.0 / df };
    let mut out = [0u8; Q6_K_BLOCK_BYTES];
    let (scales, tail) = out[QK_K / 2 + QK_K / 4..].split_at_mut(QK_K / 16);
    tail.copy_from_slice(&d.to_le_bytes());
    let mut q = [0u8; QK_K];
    for (i, chunk) in v.chunks_exact(16).enumerate() {
        let sc = (sub[i] * inv_d).round().clamp(-128.0, 127.0) as i8;
        scales[i] = sc as u8;
        let step = df * f32::from(sc);
        let inv = if step == 0.0 { 0.0 } else { 1.0 / step };
        for (j, &x) in chunk.iter().enumerate() {
            q[i * 16 + j] = ((x * inv).round().clamp(-32.0, 31.0) as i32 + 32) as u8;
        }
    }
    pack_q6_k_values(&q, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng;
    use rand::Rng;

    #[test]
    fn quantised_blocks_dequantise_close_to_their_values() {
        let mut r = rng(7);
        let values: Vec<f32> = (0..4 * QK_K).map(|_| r.random_range(-1.7..1.7)).collect();
        for (format, tol) in [
            (EmbeddingFormat::F16, 1e-3),
            (EmbeddingFormat::Q8_0, 1.7 / 127.0),
            (EmbeddingFormat::Q6K, 1.7 / 31.0),
        ] {
            let mut bytes = Vec::new();
            format.quantize(&values, &mut bytes);
            assert_eq!(bytes.len(), format.row_bytes(values.len()));
            let mut back = Vec::new();
            format.dequantize(&bytes, &mut back);
            assert_eq!(back.len(), values.len());
            for (i, (&a, &b)) in values.iter().zip(&back).enumerate() {
                assert!((a - b).abs() <= tol, "{format} value {i}: {a} -> {b}");
            }
            assert_eq!(format.first_non_finite(&bytes), None);
        }
    }

    #[test]
    fn the_word_check_flags_exactly_the_non_finite_f16_lanes() {
        // Every F16 bit pattern in every lane, the other lanes the largest finite exponent.
        for v in 0..=u16::MAX {
            let non_finite = !f16::from_bits(v).to_f32().is_finite();
            for lane in 0..4 {
                let mut lanes = [0x7BFFu16; 4];
                lanes[lane] = v;
                let w = lanes
                    .iter()
                    .rev()
                    .fold(0u64, |w, &l| (w << 16) | u64::from(l));
                assert_eq!(
                    exponent_all_set(w),
                    u64::from(non_finite) << (16 * lane + 15),
                    "{v:#06x} in lane {lane}"
                );
            }
        }
    }

    #[test]
    fn the_first_non_finite_f16_is_found_in_any_chunk() {
        // 10 000 values span three of the check's 4 KiB chunks.
        let mut bytes = Vec::new();
        EmbeddingFormat::F16.quantize(&[0.25; 10_000], &mut bytes);
        assert_eq!(EmbeddingFormat::F16.first_non_finite(&bytes), None);
        for (first, later, value) in [
            (0, 9_999, f16::NAN),
            (2_047, 2_048, f16::INFINITY),
            (2_048, 9_000, f16::NEG_INFINITY),
            (9_999, 9_999, f16::NAN),
        ] {
            let mut b = bytes.clone();
            for i in [first, later] {
                b[2 * i..2 * i + 2].copy_from_slice(&value.to_le_bytes());
            }
            assert_eq!(EmbeddingFormat::F16.first_non_finite(&b), Some(first));
        }
    }

    #[test]
    fn a_non_finite_block_scale_is_found() {
        let mut bytes = Vec::new();
        EmbeddingFormat::Q6K.quantize(&[0.5; 2 * QK_K], &mut bytes);
        let at = Q6_K_BLOCK_BYTES + Q6_K_BLOCK_BYTES - 2;
        bytes[at..at + 2].copy_from_slice(&f16::NAN.to_le_bytes());
        assert_eq!(EmbeddingFormat::Q6K.first_non_finite(&bytes), Some(QK_K));
    }
}
