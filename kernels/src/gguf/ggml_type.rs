//! The ggml tensor types this crate reads, with their byte sizes.

use std::fmt;

/// A ggml tensor element type (the id is what GGUF stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float (id 0).
    F32,
    /// 16-bit float (id 1).
    F16,
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
            Self::Tq1_0 => 34,
            Self::Tq2_0 => 35,
            Self::I2S => 36,
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
            Self::F16 => n.checked_mul(2).ok_or_else(|| "size overflows".into()),
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
            Self::Tq1_0 => "TQ1_0",
            Self::Tq2_0 => "TQ2_0",
            Self::I2S => "I2_S",
        })
    }
}
