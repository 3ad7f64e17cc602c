//! Loads a bitnet.cpp GGUF file: checks every tensor's presence, type and shape against the
//! hyper-parameters, keeps ternary and embedding data in the mapping, copies the small norms.

use std::path::Path;

use crate::cpu::lanes_pack::{lanes_to_trits_in_place, row_major_to_lanes_in_place};
use crate::format::embedding::EmbeddingFormat;
use crate::format::embedding_rows::EmbeddingRows;
use crate::format::ggml_blocks::{
    bf16, tq1_0_block, tq2_0_block, TernaryBlock, QK_K, TQ1_0_BLOCK_BYTES, TQ2_0_BLOCK_BYTES,
};
use crate::format::i2s::{I2sMatrix, I2sMatrixRef, BLOCK_WEIGHTS};
use crate::format::model_layout::{LmHeadLayout, ModelLayout};
use crate::format::packed_f16::{choose_table, high_byte_counts, PackedF16};
use crate::format::q6_k_regrouped;
use crate::format::ternary_layout::TernaryLayout;
use crate::gguf::{GgmlType, GgufFile, Placement, TensorInfo};
use crate::model::error::ModelError;
use crate::model::hparams::BitnetHparams;
use crate::model::op_profile::Op;

/// A ternary projection: borrowed from the file's bytes (reordered there in place for lanes16
/// and trits16), or an owned copy (repacked when rows are not block-aligned, or reordered from a
/// read-only mapping).
#[derive(Debug)]
enum Ternary {
    Mapped {
        offset: usize,
        len: usize,
        rows: usize,
        cols: usize,
        scale: f32,
        layout: TernaryLayout,
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

impl Ternary {
    /// The projection as the kernels read it; `file` holds the bytes of a mapped one.
    fn view<'a>(&'a self, file: &'a [u8]) -> I2sMatrixRef<'a> {
        match self {
            Ternary::Mapped {
                offset,
                len,
                rows,
                cols,
                scale,
                layout,
            } => I2sMatrixRef::from_validated_parts(
                &file[*offset..offset + len],
                *rows,
                *cols,
                *scale,
                *layout,
            ),
            Ternary::Owned(m) => m.view(),
        }
    }
}

impl LayerWeights {
    fn projections_mut(&mut self) -> [&mut Ternary; 7] {
        [
            &mut self.q,
            &mut self.k,
            &mut self.v,
            &mut self.o,
            &mut self.gate,
            &mut self.up,
            &mut self.down,
        ]
    }
}

/// A copy of a row-major projection (from a read-only mapping, or an owned repack of
/// TQ2_0/TQ1_0) in `layout`, reordered with the same routine as in place.
fn layout_copy(view: &I2sMatrixRef<'_>, layout: TernaryLayout) -> Result<I2sMatrix, ModelError> {
    let mut data = view.data().to_vec();
    let len = reorder_tensor(&mut data, view.rows(), layout);
    data.truncate(len);
    Ok(I2sMatrix::from_aligned_in(
        data,
        view.rows(),
        view.cols(),
        view.scale(),
        layout,
    )?)
}

/// Reorders one row-major tensor (`rows` rows filling `data`) into lanes16 or trits16 in place;
/// returns the bytes it takes now (trits16: 0.8×, the rest of `data` left as it was).
fn reorder_tensor(data: &mut [u8], rows: usize, layout: TernaryLayout) -> usize {
    let row_bytes = data.len() / rows;
    row_major_to_lanes_in_place(data, rows, row_bytes);
    if layout == TernaryLayout::Trits16 {
        lanes_to_trits_in_place(data, rows, 4 * row_bytes)
    } else {
        data.len()
    }
}

/// Reorders the tensors `(offset, len, rows)` of `bytes` from row-major into `layout` (lanes16
/// or trits16), in parallel over tensors (2b4t: 210 tensors, 0.52 GB).
fn reorder_in_place(
    bytes: &mut [u8],
    mut tensors: Vec<(usize, usize, usize)>,
    layout: TernaryLayout,
) {
    use rayon::prelude::*;
    tensors.sort_unstable();
    let mut parts = Vec::with_capacity(tensors.len());
    let mut rest = bytes;
    let mut at = 0;
    for (offset, len, rows) in tensors {
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(offset - at);
        let (tensor, tail) = tail.split_at_mut(len);
        parts.push((tensor, rows));
        rest = tail;
        at = offset + len;
    }
    parts.into_par_iter().for_each(|(tensor, rows)| {
        reorder_tensor(tensor, rows, layout);
    });
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

/// The token embedding (= lm_head) in the layout the lm_head kernels read: F16, Q8_0 or Q6_K
/// borrowed from the file as they are; BF16 converted once at load to F16; or F16 packed
/// losslessly (`format::packed_f16`), in place in the file's bytes or, from a read-only
/// mapping, in an owned copy.
#[derive(Debug)]
enum Embedding {
    Mapped {
        format: EmbeddingFormat,
        offset: usize,
        len: usize,
    },
    Owned(Vec<u8>),
    Packed {
        packed: Box<PackedF16>,
        data: PackedData,
    },
    /// Q6_K with every block's values regrouped (`format::q6_k_regrouped`), `len` bytes.
    RegroupedQ6K {
        data: PackedData,
        len: usize,
    },
}

/// Where packed or regrouped embedding rows are.
#[derive(Debug)]
enum PackedData {
    /// In the file's bytes from this offset.
    InFile(usize),
    Owned(Vec<u8>),
}

/// A loaded BitNet b1.58 model.
#[derive(Debug)]
pub struct BitnetModel {
    file: GgufFile,
    hparams: BitnetHparams,
    pub(crate) layers: Vec<LayerWeights>,
    embedding: Embedding,
    pub(crate) output_norm: Vec<f32>,
    source: String,
    layout: TernaryLayout,
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

/// Rows of a block format must hold whole blocks (ggml's own rule).
fn expect_whole_blocks(t: &TensorInfo, cols: usize) -> Result<(), ModelError> {
    let block = t.ggml_type.block_weights() as usize;
    if !cols.is_multiple_of(block) {
        return Err(ModelError::TensorShape {
            tensor: t.name.clone(),
            expected: vec![cols.div_ceil(block) as u64 * block as u64],
            found: t.dims.clone(),
        });
    }
    Ok(())
}

/// A TQ1_0 / TQ2_0 tensor as ternary values and its one scale. perfd's kernels take one scale
/// per tensor (BitNet's own quantisation has one); blocks whose scales differ cannot be
/// represented and are refused. An all-zero block's scale does not matter.
fn tq_ternary(t: &TensorInfo, bytes: &[u8], cols: usize) -> Result<(Vec<i8>, f32), ModelError> {
    expect_whole_blocks(t, cols)?;
    let (size, decode): (usize, fn(&[u8]) -> TernaryBlock) = match t.ggml_type {
        GgmlType::Tq1_0 => (TQ1_0_BLOCK_BYTES, tq1_0_block),
        _ => (TQ2_0_BLOCK_BYTES, tq2_0_block),
    };
    let mut values = Vec::with_capacity(bytes.len() / size * QK_K);
    let mut scale: Option<f32> = None;
    for (i, block) in bytes.chunks_exact(size).enumerate() {
        let (v, d) = decode(block);
        if let Some(bad) = v.iter().position(|&x| x > 1) {
            return Err(ModelError::BlockFormat {
                tensor: t.name.clone(),
                reason: format!("weight {} has code 3, which is not ternary", i * QK_K + bad),
            });
        }
        if v.iter().any(|&x| x != 0) {
            match scale {
                None => scale = Some(d),
                Some(s) if s.to_bits() == d.to_bits() => {}
                Some(s) => {
                    return Err(ModelError::BlockFormat {
                        tensor: t.name.clone(),
                        reason: format!(
                            "block {i} has scale {d}, block 0's is {s}: perfd's ternary kernels take one scale per tensor"
                        ),
                    })
                }
            }
        }
        values.extend_from_slice(&v);
    }
    Ok((values, scale.unwrap_or(0.0)))
}

/// The token embedding: F16, Q8_0 and Q6_K mapped, BF16 converted to F16. Values are checked
/// for NaN/Inf (F16: every value; Q8_0/Q6_K: every block scale, the only float in a block); the
/// scan is one pass at memory speed, which decode pays on every token anyway, and without it a
/// broken embedding benchmarks "fine" and only cross-validation notices.
fn embedding(t: &TensorInfo, bytes: &[u8], hidden: usize) -> Result<Embedding, ModelError> {
    if let Some(format) = EmbeddingFormat::of(t.ggml_type) {
        expect_whole_blocks(t, hidden)?;
        if let Some(index) = format.first_non_finite(bytes) {
            return Err(ModelError::NonFinite {
                tensor: t.name.clone(),
                index,
            });
        }
        return Ok(Embedding::Mapped {
            format,
            offset: t.offset as usize,
            len: bytes.len(),
        });
    }
    if t.ggml_type != GgmlType::Bf16 {
        return Err(ModelError::TensorType {
            tensor: t.name.clone(),
            expected: "F16, BF16, Q8_0 or Q6_K",
            found: t.ggml_type.to_string(),
        });
    }
    let mut out = Vec::with_capacity(bytes.len());
    for (index, b) in bytes.chunks_exact(2).enumerate() {
        let v = bf16(b);
        let h = half::f16::from_f32(v);
        if !v.is_finite() || !h.is_finite() {
            return Err(ModelError::NonFinite {
                tensor: t.name.clone(),
                index,
            });
        }
        out.extend_from_slice(&h.to_le_bytes());
    }
    Ok(Embedding::Owned(out))
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

fn ternary(file: &GgufFile, name: &str, rows: usize, cols: usize) -> Result<Ternary, ModelError> {
    let t = file.tensor(name)?;
    // ggml order: dims[0] is the input (column) count.
    expect_shape(t, &[cols, rows])?;
    let bytes = file.data(t);
    if matches!(t.ggml_type, GgmlType::Tq1_0 | GgmlType::Tq2_0) {
        // llama.cpp's ternary formats: repacked once into I2_S for perfd's kernels.
        let (values, scale) = tq_ternary(t, bytes, cols)?;
        return Ok(Ternary::Owned(I2sMatrix::from_ternary(
            &values, rows, cols, scale,
        )?));
    }
    expect_type(t, GgmlType::I2S)?;
    if cols.is_multiple_of(BLOCK_WEIGHTS) {
        let view = I2sMatrixRef::from_gguf_bytes(bytes, rows, cols)?;
        view.validate_codes()?;
        Ok(Ternary::Mapped {
            offset: t.offset as usize,
            len: view.data().len(),
            rows,
            cols,
            scale: view.scale(),
            layout: TernaryLayout::RowMajor,
        })
    } else {
        Ok(Ternary::Owned(I2sMatrix::from_gguf_bytes(
            bytes, rows, cols,
        )?))
    }
}

impl BitnetModel {
    /// Loads and validates the model file at `path`, its weights copied into huge pages
    /// ([`Placement::HugePages`]: the placement that streams fastest and the same in every
    /// process).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::load_with(path, Placement::HugePages)
    }

    /// Loads and validates the model file at `path` with its bytes placed as `placement` asks.
    pub fn load_with(path: &Path, placement: Placement) -> Result<Self, ModelError> {
        Self::load_as(path, placement, ModelLayout::AS_STORED)
    }

    /// Like [`Self::load_with`], its weights in `layout` (what an engine's
    /// [`crate::I2sGemm::model_layout`] reads fastest). Placed in huge pages, they are reordered
    /// in place; from a read-only mapping, into owned copies. A projection whose rows do not fit
    /// the ternary layout stays row-major; an lm_head that does not pack stays as stored.
    pub fn load_as(
        path: &Path,
        placement: Placement,
        layout: ModelLayout,
    ) -> Result<Self, ModelError> {
        let file = GgufFile::open_with(path, placement)?;
        let mut model = Self::from_file(file, path.display().to_string())?;
        model.reorder(layout.ternary)?;
        if layout.lm_head == LmHeadLayout::Packed {
            model.pack_lm_head()?;
        }
        Ok(model)
    }

    /// Puts the lm_head in the layout its AVX-512 kernels read fastest: F16 packed losslessly
    /// (`format::packed_f16`) with the table that streams the fewest bytes, Q6_K regrouped
    /// (`format::q6_k_regrouped`, the same bytes); other formats, and shapes the packing does
    /// not take, stay as they are.
    fn pack_lm_head(&mut self) -> Result<(), ModelError> {
        if let Embedding::Mapped {
            format: EmbeddingFormat::Q6K,
            offset,
            len,
        } = self.embedding
        {
            let data = match self.file.bytes_mut() {
                Some(file) => {
                    q6_k_regrouped::regroup(&mut file[offset..offset + len]);
                    PackedData::InFile(offset)
                }
                None => {
                    let mut copy = self.file.bytes()[offset..offset + len].to_vec();
                    q6_k_regrouped::regroup(&mut copy);
                    PackedData::Owned(copy)
                }
            };
            self.embedding = Embedding::RegroupedQ6K { data, len };
            return Ok(());
        }
        let (rows, cols) = (self.hparams.vocab, self.hparams.hidden);
        let f16 = matches!(
            self.embedding,
            Embedding::Owned(_)
                | Embedding::Mapped {
                    format: EmbeddingFormat::F16,
                    ..
                }
        );
        if !f16 || PackedF16::check(rows, cols, 2 * rows * cols).is_err() {
            return Ok(());
        }
        let (table, _) = choose_table(&high_byte_counts(self.embedding_bytes()), rows, cols);
        let (packed, data) = match &mut self.embedding {
            // BF16 converted at load: packed in its own vector, which then shrinks.
            Embedding::Owned(bytes) => {
                let packed = PackedF16::pack_in_place(table, bytes, rows, cols)?;
                bytes.truncate(packed.data_bytes());
                bytes.shrink_to_fit();
                (packed, PackedData::Owned(std::mem::take(bytes)))
            }
            Embedding::Mapped { offset, len, .. } => {
                let (offset, len) = (*offset, *len);
                match self.file.bytes_mut() {
                    Some(file) => {
                        let tensor = &mut file[offset..offset + len];
                        let packed = PackedF16::pack_in_place(table, tensor, rows, cols)?;
                        (packed, PackedData::InFile(offset))
                    }
                    None => {
                        let mut data = vec![0u8; rows * table.row_bytes(cols)];
                        let src = &self.file.bytes()[offset..offset + len];
                        let packed = PackedF16::pack(table, src, rows, cols, &mut data)?;
                        (packed, PackedData::Owned(data))
                    }
                }
            }
            Embedding::Packed { .. } | Embedding::RegroupedQ6K { .. } => return Ok(()),
        };
        self.embedding = Embedding::Packed {
            packed: Box::new(packed),
            data,
        };
        Ok(())
    }

    /// The layout the ternary projections were asked to be in.
    pub fn weight_layout(&self) -> TernaryLayout {
        self.layout
    }

    /// Reorders every row-major projection that fits `layout` into it (models load row-major,
    /// and `layout` is lanes16 or trits16 past the first line).
    fn reorder(&mut self, layout: TernaryLayout) -> Result<(), ModelError> {
        self.layout = layout;
        if layout == TernaryLayout::RowMajor {
            return Ok(());
        }
        let mut in_place = Vec::new();
        let writable = self.file.bytes_mut().is_some();
        for lw in &mut self.layers {
            for t in lw.projections_mut() {
                let view = t.view(self.file.bytes());
                if view.layout() == layout || !layout.fits(view.rows()) {
                    continue;
                }
                let padded_cols = view.padded_cols();
                if !(writable && matches!(t, Ternary::Mapped { .. })) {
                    *t = Ternary::Owned(layout_copy(&view, layout)?);
                } else if let Ternary::Mapped {
                    offset,
                    len,
                    rows,
                    layout: now,
                    ..
                } = t
                {
                    in_place.push((*offset, *len, *rows));
                    // The view reads the reordered bytes only: trits16 leaves the last fifth
                    // of the tensor's bytes behind, unread.
                    *len = *rows * layout.row_bytes(padded_cols);
                    *now = layout;
                }
            }
        }
        if let Some(bytes) = self.file.bytes_mut() {
            reorder_in_place(bytes, in_place, layout);
        }
        Ok(())
    }

    /// Where the weights live (the placement asked for, or `Mapped` after a fallback).
    pub fn placement(&self) -> Placement {
        self.file.placement()
    }

    /// Bytes of the weights backed by 2 MiB pages now (Linux; `None` elsewhere).
    pub fn huge_page_bytes(&self) -> Option<u64> {
        self.file.huge_page_bytes()
    }

    /// Validates an opened GGUF file as a BitNet b1.58 model.
    pub fn from_file(file: GgufFile, source: String) -> Result<Self, ModelError> {
        let hp = BitnetHparams::from_gguf(&file)?;
        let (h, f, kv) = (hp.hidden, hp.ffn, hp.kv_dim());
        let embd = file.tensor("token_embd.weight")?;
        expect_shape(embd, &[h, hp.vocab])?;
        let embedding = embedding(embd, file.data(embd), h)?;
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
            embedding,
            output_norm,
            source,
            layout: TernaryLayout::RowMajor,
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

    /// The file's bytes where they live for this run ([`Self::placement`]): what a read pass
    /// over the weights' own memory streams.
    pub fn bytes(&self) -> &[u8] {
        self.file.bytes()
    }

    /// A metadata string of the file, if present.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.file.get(key).and_then(|v| v.as_str())
    }

    /// The bytes of an unpacked embedding (empty once packed).
    fn embedding_bytes(&self) -> &[u8] {
        match &self.embedding {
            Embedding::Mapped { offset, len, .. } => &self.file.bytes()[*offset..offset + len],
            Embedding::Owned(bytes) => bytes,
            Embedding::Packed { .. } | Embedding::RegroupedQ6K { .. } => &[],
        }
    }

    /// The token embedding (= lm_head): `vocab` rows of `hidden` weights as the kernels read
    /// them.
    pub fn embedding_rows(&self) -> EmbeddingRows<'_> {
        match &self.embedding {
            Embedding::Mapped { format, .. } => EmbeddingRows::Stored {
                format: *format,
                cols: self.hparams.hidden,
                bytes: self.embedding_bytes(),
            },
            Embedding::Owned(bytes) => EmbeddingRows::Stored {
                format: EmbeddingFormat::F16,
                cols: self.hparams.hidden,
                bytes,
            },
            Embedding::Packed { packed, data } => EmbeddingRows::PackedF16 {
                packed,
                data: match data {
                    PackedData::InFile(offset) => {
                        &self.file.bytes()[*offset..offset + packed.data_bytes()]
                    }
                    PackedData::Owned(bytes) => bytes,
                },
            },
            Embedding::RegroupedQ6K { data, len } => EmbeddingRows::RegroupedQ6K {
                cols: self.hparams.hidden,
                bytes: match data {
                    PackedData::InFile(offset) => &self.file.bytes()[*offset..offset + len],
                    PackedData::Owned(bytes) => bytes,
                },
            },
        }
    }

    /// The format of the embedding's values (F16 when packed: the values are exact).
    pub fn embedding_format(&self) -> EmbeddingFormat {
        self.embedding_rows().format()
    }

    /// Every embedding row in [`Self::embedding_format`]'s bytes, packed rows unpacked and
    /// regrouped ones in the file's order (for engines that read the file's format, e.g. the
    /// CUDA model).
    pub fn embedding_stored_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        let rows = self.embedding_rows();
        match rows {
            EmbeddingRows::Stored { bytes, .. } => std::borrow::Cow::Borrowed(bytes),
            EmbeddingRows::RegroupedQ6K { bytes, .. } => {
                let mut stored = bytes.to_vec();
                q6_k_regrouped::ungroup(&mut stored);
                std::borrow::Cow::Owned(stored)
            }
            EmbeddingRows::PackedF16 { .. } => std::borrow::Cow::Owned(
                (0..rows.rows())
                    .flat_map(|r| rows.row_bytes_of(r).into_owned())
                    .collect(),
            ),
        }
    }

    /// Bytes one decoded token reads from the weights: the ternary matrices, the norms and the
    /// whole embedding in the format it is read in (the KV cache comes on top, per position).
    /// The sum of [`Self::decode_weight_bytes_of`] over every operation.
    pub fn decode_weight_bytes(&self) -> u64 {
        Op::ALL
            .iter()
            .map(|&op| self.decode_weight_bytes_of(op))
            .sum()
    }

    /// Bytes of weights operation `op` reads for one decoded token (the KV cache that attention
    /// reads depends on the position and is not counted): what the profile divides its times
    /// by to say how close each operation streams to the memory's read bandwidth.
    pub fn decode_weight_bytes_of(&self, op: Op) -> u64 {
        let f32s = |v: &[f32]| 4 * v.len() as u64;
        let projs = |ps: &[Proj]| -> u64 {
            (0..self.layers.len())
                .flat_map(|l| ps.iter().map(move |&p| (l, p)))
                .map(|(l, p)| self.proj(l, p).weight_bytes() as u64)
                .sum()
        };
        match op {
            Op::Embed => self.embedding_rows().lookup_bytes(),
            Op::NormQuant => self
                .layers
                .iter()
                .map(|w| {
                    f32s(&w.attn_norm)
                        + f32s(&w.attn_sub_norm)
                        + f32s(&w.ffn_norm)
                        + f32s(&w.ffn_sub_norm)
                })
                .sum(),
            Op::Qkv => projs(&[Proj::Q, Proj::K, Proj::V]),
            Op::Attention => 0,
            Op::OProj => projs(&[Proj::O]),
            Op::GateUp => projs(&[Proj::Gate, Proj::Up]),
            Op::Down => projs(&[Proj::Down]),
            Op::LmHead => f32s(&self.output_norm) + self.embedding_rows().streamed_bytes(),
        }
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
        t.view(self.file.bytes())
    }
}
