//! Weight storage formats. I2_S is byte-compatible with bitnet.cpp's x86 layout; TQ2_0/TQ1_0 and
//! the embedding blocks are llama.cpp's.

pub mod embedding;
pub mod embedding_rows;
pub mod ggml_blocks;
pub mod i2s;
pub mod i2s_relayout;
pub mod model_layout;
pub mod packed_f16;
pub mod packed_f16_exceptions;
pub mod q6_k_regrouped;
pub mod ternary;
pub mod ternary_layout;
pub mod trits16;
