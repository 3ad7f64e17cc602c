//! A BitNet model's weights on the device: the packed I2_S bytes of every projection exactly as
//! the CPU kernels read them (uploaded once, never re-packed), the norms in f32 and the F16 tied
//! embedding that is both the token lookup and the lm_head.

use cudarc::driver::CudaSlice;

use crate::format::embedding::EmbeddingFormat;
use crate::model::hparams::{BitnetHparams, FfnActivation};
use crate::model::weights::{BitnetModel, Proj};

use super::error::CudaError;
use super::runtime::CudaRuntime;

/// Largest head width the attention kernel holds in shared memory.
pub const MAX_HEAD_DIM: usize = 256;

/// One ternary matrix on the device.
#[derive(Debug)]
pub(crate) struct DeviceMatrix {
    pub data: CudaSlice<u8>,
    pub rows: usize,
    /// 16-byte chunks per row.
    pub chunks: usize,
    pub scale: f32,
}

impl DeviceMatrix {
    /// Uploads the row-aligned packed bytes of `m` (rows are whole 32-byte blocks).
    pub(crate) fn upload(
        rt: &CudaRuntime,
        m: &crate::format::i2s::I2sMatrixRef<'_>,
    ) -> Result<Self, CudaError> {
        if m.layout() != crate::format::ternary_layout::TernaryLayout::RowMajor {
            return Err(CudaError::Unsupported(format!(
                "ternary weights in the {} layout (the CUDA kernels read row-major I2_S; load the model row-major)",
                m.layout()
            )));
        }
        Ok(Self {
            data: rt.upload(m.data())?,
            rows: m.rows(),
            chunks: m.row_bytes() / 16,
            scale: m.scale(),
        })
    }
}

#[derive(Debug)]
pub(crate) struct DeviceLayer {
    pub attn_norm: CudaSlice<f32>,
    pub q: DeviceMatrix,
    pub k: DeviceMatrix,
    pub v: DeviceMatrix,
    pub o: DeviceMatrix,
    pub attn_sub_norm: CudaSlice<f32>,
    pub ffn_norm: CudaSlice<f32>,
    pub gate: DeviceMatrix,
    pub up: DeviceMatrix,
    pub ffn_sub_norm: CudaSlice<f32>,
    pub down: DeviceMatrix,
}

/// A model uploaded to one device.
#[derive(Debug)]
pub struct CudaModel {
    pub(crate) hparams: BitnetHparams,
    pub(crate) layers: Vec<DeviceLayer>,
    pub(crate) embedding: CudaSlice<u8>,
    pub(crate) output_norm: CudaSlice<f32>,
    weight_bytes: u64,
}

impl CudaModel {
    /// Uploads `model`. The CUDA lm_head reads F16 embeddings; other formats are refused rather
    /// than converted (a conversion would change the numbers the CPU reference computes).
    pub fn upload(rt: &CudaRuntime, model: &BitnetModel) -> Result<Self, CudaError> {
        let hp = *model.hparams();
        if model.embedding_format() != EmbeddingFormat::F16 {
            return Err(CudaError::Unsupported(format!(
                "{} token embeddings (the CUDA lm_head reads F16; write the model with --embeddings f16)",
                model.embedding_format().name()
            )));
        }
        if hp.arch.ffn_activation() != FfnActivation::ReluSquared {
            return Err(CudaError::Unsupported(format!(
                "architecture `{}` (the CUDA gate/up kernel applies BitNet b1.58's relu², not {:?})",
                hp.arch,
                hp.arch.ffn_activation()
            )));
        }
        if hp.head_dim() > MAX_HEAD_DIM || !hp.head_dim().is_multiple_of(4) {
            return Err(CudaError::Unsupported(format!(
                "head width {} (the attention kernel takes multiples of 4 up to {MAX_HEAD_DIM})",
                hp.head_dim()
            )));
        }
        if !hp.hidden.is_multiple_of(8) {
            return Err(CudaError::Unsupported(format!(
                "hidden width {} (the F16 lm_head reads rows in 16-byte chunks: a multiple of 8)",
                hp.hidden
            )));
        }
        let mut layers = Vec::with_capacity(hp.layers);
        for (l, w) in model.layers.iter().enumerate() {
            let m = |p| DeviceMatrix::upload(rt, &model.proj(l, p));
            layers.push(DeviceLayer {
                attn_norm: rt.upload(&w.attn_norm)?,
                q: m(Proj::Q)?,
                k: m(Proj::K)?,
                v: m(Proj::V)?,
                o: m(Proj::O)?,
                attn_sub_norm: rt.upload(&w.attn_sub_norm)?,
                ffn_norm: rt.upload(&w.ffn_norm)?,
                gate: m(Proj::Gate)?,
                up: m(Proj::Up)?,
                ffn_sub_norm: rt.upload(&w.ffn_sub_norm)?,
                down: m(Proj::Down)?,
            });
        }
        Ok(Self {
            hparams: hp,
            layers,
            embedding: rt.upload(&model.embedding_stored_bytes())?,
            output_norm: rt.upload(&model.output_norm)?,
            weight_bytes: model.decode_weight_bytes(),
        })
    }

    /// The model's shape.
    pub fn hparams(&self) -> &BitnetHparams {
        &self.hparams
    }

    /// Bytes of weights one decoded token reads (as [`BitnetModel::decode_weight_bytes`]).
    pub fn decode_weight_bytes(&self) -> u64 {
        self.weight_bytes
    }
}
