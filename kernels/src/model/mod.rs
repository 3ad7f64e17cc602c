//! The BitNet b1.58 model: hyper-parameters, GGUF weight loading, synthetic model files, the
//! forward pass (prefill and decode with a KV cache) and the model-level cross-validation.

pub mod decode_clock;
pub mod error;
pub mod forward;
pub mod hparams;
mod kv_cache;
pub mod logit_parity;
pub mod model_crossval;
pub mod op_profile;
mod rms_norm;
pub(crate) mod rope;
pub mod synthetic_model;
pub mod weights;

pub use decode_clock::DecodeClock;
pub use error::ModelError;
pub use forward::{Numerics, Session};
pub use hparams::{Architecture, BitnetHparams, FfnActivation, Preset};
pub use weights::BitnetModel;
