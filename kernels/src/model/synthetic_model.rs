//! Synthetic BitNet b1.58 GGUF files: the real layout and shapes with seeded random weights, so a
//! tokens/sec figure exists on any machine without downloading a model.
//!
//! The file streams to disk tensor by tensor (the 2b4t preset is ≈1.2 GB and is never held in
//! memory). Weights are chosen so the model is numerically alive: ternary scales are
//! `GAIN / sqrt(2K/3)` — with gain 1 the residual stream barely moves and greedy decoding repeats
//! one token; with gain 8 a tiny model emits varied tokens with clear top-2 logit gaps.

use std::io::{self, Write};
use std::path::Path;

use half::f16;
use rand::{Rng, RngCore};
use rayon::prelude::*;

use crate::format::embedding::EmbeddingFormat;
use crate::format::i2s::{valid_code_bytes, TAIL_BYTES};
use crate::format::ternary::TernaryFormat;
use crate::gguf::{write_gguf, GgmlType, MetaValue, TensorSpec};
use crate::model::error::ModelError;
use crate::model::hparams::{Architecture, BitnetHparams, Preset};
use crate::synthetic::rng;

/// Seed of the synthetic models perfd benchmarks, so every host measures the same weights.
pub const DEFAULT_SEED: u64 = 0x0B17_2B4E;

/// Multiplier of the variance-preserving ternary scale (see module docs).
const GAIN: f32 = 8.0;
/// Standard deviation-like magnitude of embedding values (uniform in ±this·√3).
const EMBED_STD: f32 = 1.0;
/// Values per generated chunk of a large tensor.
const CHUNK: usize = 1 << 20;

/// How a synthetic model file stores its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFormats {
    /// The token embedding (= lm_head).
    pub embeddings: EmbeddingFormat,
    /// The ternary projections.
    pub ternary: TernaryFormat,
}

impl Default for FileFormats {
    /// What bitnet.cpp's own files hold: F16 embeddings, I2_S projections.
    fn default() -> Self {
        Self {
            embeddings: EmbeddingFormat::F16,
            ternary: TernaryFormat::I2s,
        }
    }
}

/// The tensor list of a model with shape `hp` stored in `formats`, in file order.
pub fn tensor_specs(hp: &BitnetHparams, formats: FileFormats) -> Vec<TensorSpec> {
    let (embeddings, ternary) = (formats.embeddings, formats.ternary.ggml_type());
    let (h, f, kv) = (hp.hidden as u64, hp.ffn as u64, hp.kv_dim() as u64);
    let spec = |name: String, dims: Vec<u64>, t| TensorSpec {
        name,
        dims,
        ggml_type: t,
    };
    let mut out = vec![
        spec(
            "token_embd.weight".into(),
            vec![h, hp.vocab as u64],
            embeddings.ggml_type(),
        ),
        spec("output_norm.weight".into(), vec![h], GgmlType::F32),
    ];
    for l in 0..hp.layers {
        let n = |s: &str| format!("blk.{l}.{s}.weight");
        out.extend([
            spec(n("attn_norm"), vec![h], GgmlType::F32),
            spec(n("attn_q"), vec![h, h], ternary),
            spec(n("attn_k"), vec![h, kv], ternary),
            spec(n("attn_v"), vec![h, kv], ternary),
            spec(n("attn_output"), vec![h, h], ternary),
            spec(n("attn_sub_norm"), vec![h], GgmlType::F32),
            spec(n("ffn_norm"), vec![h], GgmlType::F32),
            spec(n("ffn_gate"), vec![h, f], ternary),
            spec(n("ffn_up"), vec![h, f], ternary),
            spec(n("ffn_sub_norm"), vec![f], GgmlType::F32),
            spec(n("ffn_down"), vec![f, h], ternary),
        ]);
    }
    out
}

/// Runs `gen(chunk_index, buffer)` over `len` items in parallel chunks of `chunk` items and
/// writes each chunk's bytes in order; every chunk has its own seed, so the output does not depend
/// on thread count.
fn write_chunked(
    out: &mut dyn Write,
    len: usize,
    item_bytes: usize,
    chunk: usize,
    gen: impl Fn(u64, &mut [u8]) + Sync,
) -> io::Result<()> {
    let mut buf = vec![0u8; chunk * item_bytes];
    let per_batch = 16;
    let mut done = 0usize;
    let mut chunk_index = 0u64;
    while done < len {
        let items = (len - done).min(chunk * per_batch);
        let bytes = items * item_bytes;
        buf.resize(bytes, 0);
        buf.par_chunks_mut(chunk * item_bytes)
            .enumerate()
            .for_each(|(i, c)| gen(chunk_index + i as u64, c));
        out.write_all(&buf)?;
        chunk_index += items.div_ceil(chunk) as u64;
        done += items;
    }
    Ok(())
}

/// The embedding values of chunk `c` (up to [`CHUNK`] of them): F16-rounded uniform values, the
/// same for every embedding format, so an F16 file and its Q8_0 / Q6_K variants hold one model.
fn embedding_values(seed: u64, c: u64, n: usize) -> Vec<f32> {
    let a = EMBED_STD * 3f32.sqrt();
    let mut r = rng(seed ^ c);
    (0..n)
        .map(|_| f16::from_f32(r.random_range(-a..a)).to_f32())
        .collect()
}

fn tensor_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// `general.file_type` of a mostly-I2_S file in bitnet.cpp's llama.cpp fork (`LLAMA_FTYPE_MOSTLY_I2_S`).
pub const FILE_TYPE_MOSTLY_I2_S: u32 = 40;
/// `general.file_type` of mostly-TQ1_0 / TQ2_0 files in llama.cpp (`LLAMA_FTYPE_MOSTLY_TQ1_0`, `_TQ2_0`).
pub const FILE_TYPE_MOSTLY_TQ1_0: u32 = 36;
/// See [`FILE_TYPE_MOSTLY_TQ1_0`].
pub const FILE_TYPE_MOSTLY_TQ2_0: u32 = 37;
/// `general.quantization_version` that llama.cpp writes for quantised files.
pub const QUANTIZATION_VERSION: u32 = 2;

/// What bitnet.cpp's and llama.cpp's loaders require beyond the hyper-parameters, for a model
/// without a vocabulary (they refuse a file without `tokenizer.ggml.model`): the same keys
/// bitnet.cpp's own quantiser writes (see `../shared/fixtures/bitnetcpp/`), with the file type
/// of the ternary format.
fn loader_metadata(ternary: TernaryFormat) -> Vec<(String, MetaValue)> {
    let file_type = match ternary {
        TernaryFormat::I2s => FILE_TYPE_MOSTLY_I2_S,
        TernaryFormat::Tq2_0 => FILE_TYPE_MOSTLY_TQ2_0,
        TernaryFormat::Tq1_0 => FILE_TYPE_MOSTLY_TQ1_0,
    };
    vec![
        ("general.file_type".into(), MetaValue::U32(file_type)),
        (
            "general.quantization_version".into(),
            MetaValue::U32(QUANTIZATION_VERSION),
        ),
        (
            "tokenizer.ggml.model".into(),
            MetaValue::String("no_vocab".into()),
        ),
    ]
}

/// A deep, narrow shape for tests (16 layers of width 512, 8/2 heads, context 64): deep enough
/// that every layer's int8 rounding amplifies an f32-vs-f64 difference in attention until the
/// logits part (cosine 0.85–0.99), small enough to run in seconds.
pub fn deep_test_hparams() -> BitnetHparams {
    BitnetHparams {
        layers: 16,
        hidden: 512,
        ffn: 1280,
        heads: 8,
        kv_heads: 2,
        context: 64,
        ..Preset::Tiny.hparams()
    }
}

/// Writes a synthetic model of shape `hp` with an F16 embedding to `path`; returns the file size.
pub fn write_model(
    path: &Path,
    hp: &BitnetHparams,
    name: &str,
    seed: u64,
) -> Result<u64, ModelError> {
    write_model_as(path, hp, name, seed, FileFormats::default())
}

/// Writes a synthetic model of shape `hp` stored in `formats`; returns the file size. The values
/// do not depend on the formats (only their quantisation does): the embedding's are the same
/// F16-rounded values in every embedding format, the ternary tensors the same values in every
/// ternary format (TQ blocks store the tensor's scale rounded to F16).
pub fn write_model_as(
    path: &Path,
    hp: &BitnetHparams,
    name: &str,
    seed: u64,
    formats: FileFormats,
) -> Result<u64, ModelError> {
    hp.validate()?;
    let FileFormats {
        embeddings,
        ternary,
    } = formats;
    let mut metadata = vec![(
        "general.name".to_string(),
        MetaValue::String(name.to_string()),
    )];
    metadata.push(("general.alignment".into(), MetaValue::U32(32)));
    metadata.extend(hp.to_metadata());
    metadata.extend(loader_metadata(ternary));
    metadata.push(("bitnet-perfd.synthetic_seed".into(), MetaValue::U64(seed)));
    let specs = tensor_specs(hp, formats);
    let valid = valid_code_bytes();
    write_gguf(path, &metadata, &specs, |i, spec, out| {
        let s = tensor_seed(seed, i);
        let n: usize = spec.dims.iter().product::<u64>() as usize;
        match spec.ggml_type {
            _ if spec.name == "token_embd.weight" => {
                let (block, bytes) = (embeddings.block_weights(), embeddings.block_bytes());
                // Blocks never straddle a row or a chunk: rows and CHUNK hold whole blocks.
                write_chunked(out, n / block, bytes, CHUNK / block, |c, buf| {
                    let values = embedding_values(s, c, buf.len() / bytes * block);
                    let mut q = Vec::with_capacity(buf.len());
                    embeddings.quantize(&values, &mut q);
                    buf.copy_from_slice(&q);
                })
            }
            GgmlType::F32 => {
                let mut r = rng(s);
                let bytes: Vec<u8> = (0..n)
                    .flat_map(|_| r.random_range(0.8f32..1.2).to_le_bytes())
                    .collect();
                out.write_all(&bytes)
            }
            _ => {
                let k = spec.dims[0] as f32;
                let scale = GAIN / (2.0 * k / 3.0).sqrt();
                let codes = |out: &mut dyn Write| {
                    write_chunked(out, n / 4, 1, CHUNK, |c, buf| {
                        let mut r = rng(s ^ c);
                        r.fill_bytes(buf);
                        // Map each random byte onto the 81 valid ones (multiply-shift: near
                        // uniform).
                        buf.iter_mut()
                            .for_each(|b| *b = valid[(*b as usize * valid.len()) >> 8]);
                    })?;
                    let mut tail = [0u8; TAIL_BYTES];
                    tail[..4].copy_from_slice(&scale.to_le_bytes());
                    out.write_all(&tail)
                };
                if ternary == TernaryFormat::I2s {
                    return codes(out);
                }
                // The I2_S bytes of one tensor (≤ 4.5 MB for 2b4t) in memory, re-encoded.
                let mut i2s = Vec::with_capacity(n / 4 + TAIL_BYTES);
                codes(&mut i2s)?;
                let (cols, rows) = (spec.dims[0] as usize, spec.dims[1] as usize);
                let blocks = ternary
                    .from_i2s(&i2s, rows, cols)
                    .map_err(io::Error::other)?;
                out.write_all(&blocks)
            }
        }
    })
    .map_err(ModelError::from)
}

/// Writes the synthetic model of a preset (F16 embedding, I2_S, bitnet.cpp's architecture name).
pub fn write_preset(path: &Path, preset: Preset, seed: u64) -> Result<u64, ModelError> {
    write_preset_as(path, preset, seed, EmbeddingFormat::F16)
}

/// Writes the synthetic model of a preset with its embedding in `embeddings`.
pub fn write_preset_as(
    path: &Path,
    preset: Preset,
    seed: u64,
    embeddings: EmbeddingFormat,
) -> Result<u64, ModelError> {
    let formats = FileFormats {
        embeddings,
        ..FileFormats::default()
    };
    write_preset_with(path, preset, seed, formats, Architecture::BitnetB158)
}

/// Writes the synthetic model of a preset stored in `formats`, declaring architecture `arch`
/// (llama.cpp mainline reads BitNet files as `bitnet`, bitnet.cpp as `bitnet-b1.58`).
pub fn write_preset_with(
    path: &Path,
    preset: Preset,
    seed: u64,
    formats: FileFormats,
    arch: Architecture,
) -> Result<u64, ModelError> {
    let mut suffix = String::new();
    if formats.embeddings != EmbeddingFormat::F16 {
        let name = formats.embeddings.name().to_uppercase();
        suffix.push_str(&format!(", {name} embeddings"));
    }
    if formats.ternary != TernaryFormat::I2s {
        let name = formats.ternary.name().to_uppercase();
        suffix.push_str(&format!(", {name} ternary"));
    }
    if arch != Architecture::BitnetB158 {
        suffix.push_str(&format!(", architecture {arch}"));
    }
    let hp = BitnetHparams {
        arch,
        ..preset.hparams()
    };
    write_model_as(
        path,
        &hp,
        &format!("bitnet-perfd synthetic {preset} (seed {seed}{suffix})"),
        seed,
        formats,
    )
}
