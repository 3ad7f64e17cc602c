//! Formats a model file may store its ternary projections in: bitnet.cpp's I2_S (read in place)
//! or llama.cpp's TQ2_0 / TQ1_0 (repacked to I2_S at load, see `model::weights`).

use crate::error::KernelError;
use crate::format::ggml_blocks::{encode_tq1_0, encode_tq2_0, QK_K};
use crate::format::i2s::unpack_gguf;
use crate::gguf::GgmlType;

/// The file layout of the ternary tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TernaryFormat {
    /// bitnet.cpp's x86 layout: 2 bits per weight and one f32 scale per tensor.
    I2s,
    /// llama.cpp's 2-bit blocks: 256 weights and an f16 scale in 66 bytes.
    Tq2_0,
    /// llama.cpp's base-3 blocks: 256 weights and an f16 scale in 54 bytes.
    Tq1_0,
}

impl TernaryFormat {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [TernaryFormat; 3] = [Self::I2s, Self::Tq2_0, Self::Tq1_0];

    /// Name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::I2s => "i2_s",
            Self::Tq2_0 => "tq2_0",
            Self::Tq1_0 => "tq1_0",
        }
    }

    /// The GGUF tensor type.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            Self::I2s => GgmlType::I2S,
            Self::Tq2_0 => GgmlType::Tq2_0,
            Self::Tq1_0 => GgmlType::Tq1_0,
        }
    }

    /// Re-encodes a `rows × cols` tensor given as I2_S file bytes (codes, scale, tail) in this
    /// format: the same ternary values, the scale rounded to F16 in every block for the TQ
    /// formats (what they store).
    ///
    /// # Errors
    /// The I2_S bytes are malformed, or a TQ format is asked for with rows that do not hold whole
    /// 256-weight blocks.
    pub fn from_i2s(self, i2s: &[u8], rows: usize, cols: usize) -> Result<Vec<u8>, KernelError> {
        let encode: fn(&[i8], f32) -> Vec<u8> = match self {
            Self::I2s => return Ok(i2s.to_vec()),
            Self::Tq2_0 => |b, d| encode_tq2_0(b, d).to_vec(),
            Self::Tq1_0 => |b, d| encode_tq1_0(b, d).to_vec(),
        };
        if !cols.is_multiple_of(QK_K) {
            return Err(KernelError::Shape(format!(
                "{} stores rows of whole {QK_K}-weight blocks; {cols} columns are not",
                self.name()
            )));
        }
        let (values, scale) = unpack_gguf(i2s, rows, cols)?;
        Ok(values
            .chunks_exact(QK_K)
            .flat_map(|b| encode(b, scale))
            .collect())
    }
}

crate::named_choice::named_choice!(TernaryFormat, "ternary format");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ggml_blocks::{
        tq1_0_block, tq2_0_block, TQ1_0_BLOCK_BYTES, TQ2_0_BLOCK_BYTES,
    };
    use crate::format::i2s::pack_gguf;

    /// Every format's bytes decode to the I2_S tensor's values, block by block.
    #[test]
    fn re_encoded_tensors_hold_the_same_values() {
        let (rows, cols) = (3, 512);
        let values: Vec<i8> = (0..rows * cols).map(|i| (i * 7 % 3) as i8 - 1).collect();
        let i2s = pack_gguf(&values, rows, cols, 0.375).unwrap();
        assert_eq!(TernaryFormat::I2s.from_i2s(&i2s, rows, cols).unwrap(), i2s);
        let tq2 = TernaryFormat::Tq2_0.from_i2s(&i2s, rows, cols).unwrap();
        let tq1 = TernaryFormat::Tq1_0.from_i2s(&i2s, rows, cols).unwrap();
        for (b, want) in values.chunks_exact(QK_K).enumerate() {
            let (v2, d2) = tq2_0_block(&tq2[b * TQ2_0_BLOCK_BYTES..(b + 1) * TQ2_0_BLOCK_BYTES]);
            let (v1, d1) = tq1_0_block(&tq1[b * TQ1_0_BLOCK_BYTES..(b + 1) * TQ1_0_BLOCK_BYTES]);
            assert_eq!((&v2[..], d2), (want, 0.375));
            assert_eq!((&v1[..], d1), (want, 0.375));
        }
        let err =
            TernaryFormat::Tq1_0.from_i2s(&pack_gguf(&values[..384], 3, 128, 0.5).unwrap(), 3, 128);
        assert!(err.unwrap_err().to_string().contains("tq1_0"));
        for t in TernaryFormat::ALL {
            assert_eq!(t.name().parse::<TernaryFormat>(), Ok(t));
        }
    }
}
