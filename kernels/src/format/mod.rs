//! Weight storage formats. I2_S is byte-compatible with bitnet.cpp's x86 layout.

pub mod embedding;
pub mod ggml_blocks;
pub mod i2s;
