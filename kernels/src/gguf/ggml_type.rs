//! The ggml tensor types this crate reads, with their byte sizes.

use std::fmt;

/// A ggml tensor element type (the id is what GGUF stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float (id 0).
    F32,
    /// 16-bit float (id 1).
    F16,
    /// 8-bit blocks of 32 with an f16 scale (id 8).
    Q8_0,
    /// 6-bit K-quant in blocks of 256 (id 14).
    Q6K,
    /// bfloat16 (id 30).
    Bf16,
    /// llama.cpp ternary, 1.6 bits per weight in blocks of 256 (id 34).
    Tq1_0,
    /// llama.cpp ternary, 2 bits per weight in blocks of 256 with an f16 scale (id 35).
    Tq2_0,
    /// bitnet.cpp I2_S: 2-bit codes, one f32 scale per tensor (id 36 in that fork).
    I2S,
}

impl GgmlType {
    /// Maps a GGUF type id; `None` for ids this crate does not read.
    pub fn from_id(id: u32) -> Option<Self> {
        match id {
            0 => Some(Self::F32),
            1 => Some(Self::F16),
            8 => Some(Self::Q8_0),
            14 => Some(Self::Q6K),
            30 => Some(Self::Bf16),
            34 => Some(Self::Tq1_0),
            35 => Some(Self::Tq2_0),
            36 => Some(Self::I2S),
            _ => None,
        }
    }

    /// The GGUF type id.
    pub fn id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q8_0 => 8,
            Self::Q6K => 14,
            Self::Bf16 => 30,
            Self::Tq1_0 => 34,
            Self::Tq2_0 => 35,
            Self::I2S => 36,
        }
    }

    /// Weights per block (1 for plain floats): a row's length must be a multiple of it.
    pub fn block_weights(self) -> u64 {
        match self {
            Self::F32 | Self::F16 | Self::Bf16 => 1,
            Self::Q8_0 => 32,
            Self::I2S => 128,
            Self::Q6K | Self::Tq1_0 | Self::Tq2_0 => 256,
        }
    }

    /// Bytes a tensor of `n` elements occupies, or why `n` does not fit the type's blocks.
    pub fn tensor_bytes(self, n: u64) -> Result<u64, String> {
        let blocks = |block: u64, bytes: u64| {
            if n.is_multiple_of(block) {
                (n / block)
                    .checked_mul(bytes)
                    .ok_or_else(|| "size overflows".to_string())
            } else {
                Err(format!(
                    "{n} elements is not a multiple of the {self} block size {block}"
                ))
            }
        };
        match self {
            Self::F32 => n.checked_mul(4).ok_or_else(|| "size overflows".into()),
            Self::F16 | Self::Bf16 => n.checked_mul(2).ok_or_else(|| "size overflows".into()),
            Self::Q8_0 => blocks(32, 34),
            Self::Q6K => blocks(256, 210),
            Self::Tq1_0 => blocks(256, 54),
            Self::Tq2_0 => blocks(256, 66),
            // Packed codes, then the f32 scale and padding (bitnet.cpp's 32-byte tail).
            Self::I2S => blocks(128, 32).map(|b| b + 32),
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Q8_0 => "Q8_0",
            Self::Q6K => "Q6_K",
            Self::Bf16 => "BF16",
            Self::Tq1_0 => "TQ1_0",
            Self::Tq2_0 => "TQ2_0",
            Self::I2S => "I2_S",
        })
    }
}
