//! Loads a bitnet.cpp GGUF file: checks every tensor's presence, type and shape against the
//! hyper-parameters, keeps ternary and embedding data in the mapping, copies the small norms.

use std::path::Path;

use crate::format::i2s::{I2sMatrix, I2sMatrixRef, BLOCK_WEIGHTS};
use crate::gguf::{GgmlType, GgufFile, TensorInfo};
use crate::model::error::ModelError;
use crate::model::hparams::BitnetHparams;

/// A ternary projection: borrowed from the file, or repacked when rows are not block-aligned.
#[derive(Debug)]
enum Ternary {
    Mapped {
        offset: usize,
        len: usize,
        rows: usize,
        cols: usize,
        scale: f32,
    },
    Owned(I2sMatrix),
}

/// One transformer block's weights.
#[derive(Debug)]
pub(crate) struct LayerWeights {
    pub(crate) attn_norm: Vec<f32>,
    q: Ternary,
    k: Ternary,
    v: Ternary,
    o: Ternary,
    pub(crate) attn_sub_norm: Vec<f32>,
    pub(crate) ffn_norm: Vec<f32>,
    gate: Ternary,
    up: Ternary,
    pub(crate) ffn_sub_norm: Vec<f32>,
    down: Ternary,
}

/// Which ternary projection of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

/// A loaded BitNet b1.58 model.
#[derive(Debug)]
pub struct BitnetModel {
    file: GgufFile,
    hparams: BitnetHparams,
    pub(crate) layers: Vec<LayerWeights>,
    embd_offset: usize,
    pub(crate) output_norm: Vec<f32>,
    source: String,
}

fn expect_shape(t: &TensorInfo, dims: &[usize]) -> Result<(), ModelError> {
    let expected: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
    if t.dims != expected {
        return Err(ModelError::TensorShape {
            tensor: t.name.clone(),
            expected,
            found: t.dims.clone(),
        });
    }
    Ok(())
}

fn expect_type(t: &TensorInfo, want: GgmlType) -> Result<(), ModelError> {
    if t.ggml_type != want {
        return Err(ModelError::TensorType {
            tensor: t.name.clone(),
            expected: match want {
                GgmlType::F32 => "F32",
                GgmlType::F16 => "F16",
                _ => "I2_S",
            },
            found: t.ggml_type.to_string(),
        });
    }
    Ok(())
}

fn norm(file: &GgufFile, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
    let t = file.tensor(name)?;
    expect_type(t, GgmlType::F32)?;
    expect_shape(t, &[len])?;
    let values: Vec<f32> = file
        .data(t)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::NonFinite {
            tensor: name.into(),
            index,
        });
    }
    Ok(values)
}

/// Refuses an F16 tensor holding NaN or infinity. The whole tensor is scanned (the 2B-4T
/// embedding is 657 MB: one pass at memory speed, which decode pays on every token anyway);
/// without this a broken embedding benchmarks "fine" and only cross-validation notices.
fn check_f16_finite(t: &TensorInfo, bytes: &[u8]) -> Result<(), ModelError> {
    // F16 is non-finite exactly when all five exponent bits are set.
    let bad = bytes
        .chunks_exact(2)
        .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7C00 == 0x7C00);
    match bad {
        Some(index) => Err(ModelError::NonFinite {
            tensor: t.name.clone(),
            index,
        }),
        None => Ok(()),
    }
}

fn ternary(file: &GgufFile, name: &str, rows: usize, cols: usize) -> Result<Ternary, ModelError> {
    let t = file.tensor(name)?;
    expect_type(t, GgmlType::I2S)?;
    // ggml order: dims[0] is the input (column) count.
    expect_shape(t, &[cols, rows])?;
    let bytes = file.data(t);
    if cols.is_multiple_of(BLOCK_WEIGHTS) {
        let view = I2sMatrixRef::from_gguf_bytes(bytes, rows, cols)?;
        view.validate_codes()?;
        Ok(Ternary::Mapped {
            offset: t.offset as usize,
            len: view.data().len(),
            rows,
            cols,
            scale: view.scale(),
        })
    } else {
        Ok(Ternary::Owned(I2sMatrix::from_gguf_bytes(
            bytes, rows, cols,
        )?))
    }
}

impl BitnetModel {
    /// Maps and validates the model file at `path`.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let file = GgufFile::open(path)?;
        Self::from_file(file, path.display().to_string())
    }

    /// Validates an opened GGUF file as a BitNet b1.58 model.
    pub fn from_file(file: GgufFile, source: String) -> Result<Self, ModelError> {
        let hp = BitnetHparams::from_gguf(&file)?;
        let (h, f, kv) = (hp.hidden, hp.ffn, hp.kv_dim());
        let embd = file.tensor("token_embd.weight")?;
        expect_type(embd, GgmlType::F16)?;
        expect_shape(embd, &[h, hp.vocab])?;
        check_f16_finite(embd, file.data(embd))?;
        let embd_offset = embd.offset as usize;
        let output_norm = norm(&file, "output_norm.weight", h)?;
        let mut layers = Vec::with_capacity(hp.layers);
        for l in 0..hp.layers {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            layers.push(LayerWeights {
                attn_norm: norm(&file, &n("attn_norm"), h)?,
                q: ternary(&file, &n("attn_q"), h, h)?,
                k: ternary(&file, &n("attn_k"), kv, h)?,
                v: ternary(&file, &n("attn_v"), kv, h)?,
                o: ternary(&file, &n("attn_output"), h, h)?,
                attn_sub_norm: norm(&file, &n("attn_sub_norm"), h)?,
                ffn_norm: norm(&file, &n("ffn_norm"), h)?,
                gate: ternary(&file, &n("ffn_gate"), f, h)?,
                up: ternary(&file, &n("ffn_up"), f, h)?,
                ffn_sub_norm: norm(&file, &n("ffn_sub_norm"), f)?,
                down: ternary(&file, &n("ffn_down"), h, f)?,
            });
        }
        Ok(Self {
            file,
            hparams: hp,
            layers,
            embd_offset,
            output_norm,
            source,
        })
    }

    /// The model's shape.
    pub fn hparams(&self) -> &BitnetHparams {
        &self.hparams
    }

    /// Where the model came from (path).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Size of the model file in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.file.bytes().len() as u64
    }

    /// A metadata string of the file, if present.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.file.get(key).and_then(|v| v.as_str())
    }

    /// The F16 token embedding (= lm_head), `vocab × hidden`, little-endian bytes.
    pub(crate) fn embedding(&self) -> &[u8] {
        let len = 2 * self.hparams.vocab * self.hparams.hidden;
        &self.file.bytes()[self.embd_offset..self.embd_offset + len]
    }

    /// One ternary projection of layer `l`.
    pub(crate) fn proj(&self, l: usize, p: Proj) -> I2sMatrixRef<'_> {
        let w = &self.layers[l];
        let t = match p {
            Proj::Q => &w.q,
            Proj::K => &w.k,
            Proj::V => &w.v,
            Proj::O => &w.o,
            Proj::Gate => &w.gate,
            Proj::Up => &w.up,
            Proj::Down => &w.down,
        };
        match t {
            Ternary::Mapped {
                offset,
                len,
                rows,
                cols,
                scale,
            } => I2sMatrixRef::from_validated_parts(
                &self.file.bytes()[*offset..offset + len],
                *rows,
                *cols,
                *scale,
            ),
            Ternary::Owned(m) => m.view(),
        }
    }
}
