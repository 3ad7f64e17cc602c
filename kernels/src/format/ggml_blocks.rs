//! llama.cpp's block formats that real GGUF files use besides I2_S: the ternary TQ2_0 and TQ1_0
//! (repacked to I2_S at load) and the Q8_0, Q6_K and BF16 token embeddings (converted to the
//! F16 lm_head's layout at load). Layouts as in ggml-quants.c; checked value for value against
//! the `gguf` PyPI package's independent numpy implementation (`tests/python/quant_reference.py`).

use half::f16;

/// Weights per block of the K-quants and the TQ formats.
pub const QK_K: usize = 256;
/// Weights per Q8_0 block.
pub const QK8_0: usize = 32;
/// Bytes of one TQ2_0 block: 64 bytes of 2-bit codes, then an f16 scale.
pub const TQ2_0_BLOCK_BYTES: usize = QK_K / 4 + 2;
/// Bytes of one TQ1_0 block: 48 bytes of five base-3 digits each, 4 of four, then an f16 scale.
pub const TQ1_0_BLOCK_BYTES: usize = 48 + 4 + 2;
/// Bytes of one Q8_0 block: an f16 scale, then 32 int8 values.
pub const Q8_0_BLOCK_BYTES: usize = 2 + QK8_0;
/// Bytes of one Q6_K block: 128 low nibbles, 64 high 2-bit parts, 16 int8 scales, an f16 scale.
pub const Q6_K_BLOCK_BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// A decoded ternary block: its 256 values and its scale.
pub type TernaryBlock = ([i8; QK_K], f32);

/// One TQ2_0 block: its 256 ternary values (−1, 0, +1; a code 3 gives 2, which the caller
/// refuses) and its scale.
pub fn tq2_0_block(b: &[u8]) -> TernaryBlock {
    let mut out = [0i8; QK_K];
    let mut k = 0;
    for group in b[..QK_K / 4].chunks_exact(32) {
        for shift in [0u32, 2, 4, 6] {
            for &byte in group {
                out[k] = ((byte >> shift) & 3) as i8 - 1;
                k += 1;
            }
        }
    }
    (out, f16_at(b, QK_K / 4))
}

/// The TQ1_0 byte of five ternary codes (0, 1, 2; `codes[0]` the most significant base-3
/// digit): their base-3 number v as the fixed-point fraction ⌈256·v / 243⌉ (ggml's encoding;
/// v ≤ 242, so the byte is at most 255). The trits16 layout stores its codes this way too.
pub fn tq1_0_byte(codes: [u8; 5]) -> u8 {
    let v = codes.iter().fold(0u32, |v, &c| 3 * v + u32::from(c));
    (256 * v).div_ceil(243) as u8
}

/// Code `n` (0 = most significant) of a TQ1_0 byte: `((byte · 3ⁿ mod 256) · 3) >> 8`, which is
/// 0, 1 or 2 for every byte, made by [`tq1_0_byte`] or not.
pub const fn tq1_0_code(byte: u8, n: usize) -> u8 {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    ((byte.wrapping_mul(POW3[n]) as u16 * 3) >> 8) as u8
}

/// One TQ1_0 block: its 256 ternary values and its scale ([`tq1_0_code`] of its bytes).
pub fn tq1_0_block(b: &[u8]) -> TernaryBlock {
    let digit = |byte: u8, n: usize| tq1_0_code(byte, n) as i8 - 1;
    let mut out = [0i8; QK_K];
    let mut k = 0;
    for (bytes, digits) in [(&b[..32], 5), (&b[32..48], 5), (&b[48..52], 4)] {
        for n in 0..digits {
            for &byte in bytes {
                out[k] = digit(byte, n);
                k += 1;
            }
        }
    }
    (out, f16_at(b, 52))
}

/// Appends one Q8_0 block's 32 values.
pub fn q8_0_block(b: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(b, 0);
    out.extend(b[2..2 + QK8_0].iter().map(|&q| d * f32::from(q as i8)));
}

/// The 6-bit values (0..63) of one Q6_K block in ggml's order.
pub fn q6_k_values(b: &[u8]) -> [u8; QK_K] {
    let (ql, qh) = (&b[..QK_K / 2], &b[QK_K / 2..QK_K / 2 + QK_K / 4]);
    let mut q = [0u8; QK_K];
    for half in 0..2 {
        let (ql, qh, q) = (&ql[half * 64..], &qh[half * 32..], &mut q[half * 128..]);
        for l in 0..32 {
            q[l] = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
            q[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
            q[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            q[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
    q
}

/// Writes 256 6-bit values into a block's low nibbles and high bits in ggml's packing: per half
/// of 128, `ql[l]` holds values l (low nibble) and l+64 (high), `ql[l+32]` values l+32 and l+96,
/// `qh[l]` the top two bits of l, l+32, l+64, l+96.
pub fn pack_q6_k_values(q: &[u8; QK_K], b: &mut [u8]) {
    let (ql, rest) = b.split_at_mut(QK_K / 2);
    let qh = &mut rest[..QK_K / 4];
    for half in 0..2 {
        let (q, ql, qh) = (&q[half * 128..], &mut ql[half * 64..], &mut qh[half * 32..]);
        for l in 0..32 {
            ql[l] = (q[l] & 0xF) | ((q[l + 64] & 0xF) << 4);
            ql[l + 32] = (q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4);
            qh[l] = (q[l] >> 4)
                | ((q[l + 32] >> 4) << 2)
                | ((q[l + 64] >> 4) << 4)
                | ((q[l + 96] >> 4) << 6);
        }
    }
}

/// Appends one Q6_K block's 256 values.
pub fn q6_k_block(b: &[u8], out: &mut Vec<f32>) {
    let scales = &b[QK_K / 2 + QK_K / 4..QK_K / 2 + QK_K / 4 + QK_K / 16];
    let d = f16_at(b, QK_K / 2 + QK_K / 4 + QK_K / 16);
    out.extend(q6_k_values(b).iter().enumerate().map(|(v, &q)| {
        let sc = f32::from(scales[v / 16] as i8);
        d * sc * f32::from(q as i8 - 32)
    }));
}

/// One BF16 value.
pub fn bf16(b: &[u8]) -> f32 {
    f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)
}

/// Encodes 256 ternary values with scale `d` as one TQ2_0 block (for writing test and benchmark files).
pub fn encode_tq2_0(values: &[i8], d: f32) -> [u8; TQ2_0_BLOCK_BYTES] {
    let mut out = [0u8; TQ2_0_BLOCK_BYTES];
    for (g, group) in values.chunks_exact(128).enumerate() {
        for (s, quarter) in group.chunks_exact(32).enumerate() {
            for (m, &v) in quarter.iter().enumerate() {
                out[g * 32 + m] |= ((v + 1) as u8 & 3) << (2 * s);
            }
        }
    }
    out[QK_K / 4..].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    out
}

/// Encodes 256 ternary values with scale `d` as one TQ1_0 block (for writing test and benchmark files).
pub fn encode_tq1_0(values: &[i8], d: f32) -> [u8; TQ1_0_BLOCK_BYTES] {
    let mut out = [0u8; TQ1_0_BLOCK_BYTES];
    let mut pack = |dst: usize, width: usize, digits: usize, src: &[i8]| {
        for m in 0..width {
            // Four digits take the top four places, the fifth code 0.
            let mut codes = [0u8; 5];
            for (n, code) in codes.iter_mut().enumerate().take(digits) {
                *code = (src[n * width + m] + 1) as u8;
            }
            out[dst + m] = tq1_0_byte(codes);
        }
    };
    pack(0, 32, 5, &values[..160]);
    pack(32, 16, 5, &values[160..240]);
    pack(48, 4, 4, &values[240..256]);
    out[52..].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ternary_blocks_round_trip() {
        let values: Vec<i8> = (0..QK_K)
            .map(|i| ((i * 7 + i / 13) % 3) as i8 - 1)
            .collect();
        let (tq2, d2) = tq2_0_block(&encode_tq2_0(&values, 0.25));
        assert_eq!(&tq2[..], &values[..]);
        assert_eq!(d2, 0.25);
        let (tq1, d1) = tq1_0_block(&encode_tq1_0(&values, 0.5));
        assert_eq!(&tq1[..], &values[..]);
        assert_eq!(d1, 0.5);
    }

    #[test]
    fn q8_0_and_bf16_decode() {
        let mut b = vec![0u8; Q8_0_BLOCK_BYTES];
        b[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        b[2] = (-4i8) as u8;
        b[3] = 6;
        let mut out = Vec::new();
        q8_0_block(&b, &mut out);
        assert_eq!(&out[..3], &[-2.0, 3.0, 0.0]);
        assert_eq!(bf16(&0x3FC0u16.to_le_bytes()), 1.5);
    }
}
