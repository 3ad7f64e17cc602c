//! BitNet b1.58 hyper-parameters, read from GGUF metadata or taken from a named preset.

use std::fmt;
use std::str::FromStr;

use crate::gguf::{GgufFile, MetaValue};
use crate::model::error::ModelError;

/// GGUF architecture name of bitnet.cpp models.
pub const ARCHITECTURE: &str = "bitnet-b1.58";

/// Shape of a BitNet b1.58 model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BitnetHparams {
    /// Transformer blocks.
    pub layers: usize,
    /// Residual width.
    pub hidden: usize,
    /// FFN inner width.
    pub ffn: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: usize,
    /// Vocabulary size (rows of the tied embedding).
    pub vocab: usize,
    /// Maximum context length.
    pub context: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// RoPE frequency base θ.
    pub rope_base: f32,
}

/// Named shapes for synthetic models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// A few-megabyte model for tests.
    Tiny,
    /// The real BitNet b1.58 2B-4T shape (≈1.2 GB).
    B2b4t,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 2] = [Preset::Tiny, Preset::B2b4t];

    /// Name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::B2b4t => "2b4t",
        }
    }

    /// The preset's shape.
    pub fn hparams(self) -> BitnetHparams {
        match self {
            Preset::Tiny => BitnetHparams {
                layers: 2,
                hidden: 256,
                ffn: 640,
                heads: 4,
                kv_heads: 2,
                vocab: 512,
                context: 256,
                rms_eps: 1e-5,
                rope_base: 500_000.0,
            },
            Preset::B2b4t => BitnetHparams {
                layers: 30,
                hidden: 2560,
                ffn: 6912,
                heads: 20,
                kv_heads: 5,
                vocab: 128_256,
                context: 4096,
                rms_eps: 1e-5,
                rope_base: 500_000.0,
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown preset `{s}` (known: tiny, 2b4t)"))
    }
}

fn key(name: &str) -> String {
    format!("{ARCHITECTURE}.{name}")
}

impl BitnetHparams {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }
    /// Width of the K and V projections.
    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim()
    }

    /// Reads and validates the hyper-parameters of a bitnet.cpp GGUF file.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, ModelError> {
        let arch = file.get_str("general.architecture")?;
        if arch != ARCHITECTURE {
            return Err(ModelError::Architecture(arch.to_string()));
        }
        let int = |name: &str| -> Result<usize, ModelError> {
            let v = file.get_u64(&key(name))?;
            usize::try_from(v).map_err(|_| ModelError::Hparam {
                key: key(name),
                reason: format!("{v} does not fit this machine's address size"),
            })
        };
        let float =
            |name: &str| -> Result<f32, ModelError> { Ok(file.get_f64(&key(name))? as f32) };
        let hp = Self {
            layers: int("block_count")?,
            hidden: int("embedding_length")?,
            ffn: int("feed_forward_length")?,
            heads: int("attention.head_count")?,
            kv_heads: int("attention.head_count_kv")?,
            vocab: int("vocab_size").or_else(|_| {
                // Files without vocab_size carry it as the token list's length.
                match file.get("tokenizer.ggml.tokens") {
                    Some(MetaValue::Array(a)) => Ok(a.len()),
                    _ => int("vocab_size"),
                }
            })?,
            context: int("context_length")?,
            rms_eps: float("attention.layer_norm_rms_epsilon")?,
            rope_base: float("rope.freq_base")?,
        };
        hp.validate()?;
        Ok(hp)
    }

    /// Checks that the shape is consistent and within sane bounds.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |k: &str, reason: String| {
            Err(ModelError::Hparam {
                key: key(k),
                reason,
            })
        };
        let bounded = [
            ("block_count", self.layers, 1usize << 10),
            ("embedding_length", self.hidden, 1 << 17),
            ("feed_forward_length", self.ffn, 1 << 19),
            ("attention.head_count", self.heads, 1 << 10),
            ("attention.head_count_kv", self.kv_heads, 1 << 10),
            ("vocab_size", self.vocab, 1 << 24),
            ("context_length", self.context, 1 << 24),
        ];
        for (k, v, max) in bounded {
            if v == 0 || v > max {
                return bad(k, format!("{v} is outside 1..={max}"));
            }
        }
        if !self.hidden.is_multiple_of(self.heads) {
            return bad(
                "attention.head_count",
                format!(
                    "{} does not divide embedding_length {}",
                    self.heads, self.hidden
                ),
            );
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return bad(
                "attention.head_count_kv",
                format!(
                    "{} does not divide head_count {}",
                    self.kv_heads, self.heads
                ),
            );
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(
                "attention.head_count",
                format!("head_dim {} must be even for RoPE", self.head_dim()),
            );
        }
        if !(self.rms_eps.is_finite() && self.rms_eps > 0.0) {
            return bad(
                "attention.layer_norm_rms_epsilon",
                format!("{} is not a positive number", self.rms_eps),
            );
        }
        if !(self.rope_base.is_finite() && self.rope_base > 1.0) {
            return bad(
                "rope.freq_base",
                format!("{} is not a number above 1", self.rope_base),
            );
        }
        Ok(())
    }

    /// The GGUF metadata entries that describe this shape.
    pub fn to_metadata(&self) -> Vec<(String, MetaValue)> {
        let u = |v: usize| MetaValue::U32(v as u32);
        vec![
            (
                "general.architecture".into(),
                MetaValue::String(ARCHITECTURE.into()),
            ),
            (key("block_count"), u(self.layers)),
            (key("embedding_length"), u(self.hidden)),
            (key("feed_forward_length"), u(self.ffn)),
            (key("attention.head_count"), u(self.heads)),
            (key("attention.head_count_kv"), u(self.kv_heads)),
            (
                key("attention.layer_norm_rms_epsilon"),
                MetaValue::F32(self.rms_eps),
            ),
            (key("rope.freq_base"), MetaValue::F32(self.rope_base)),
            (key("context_length"), u(self.context)),
            (key("vocab_size"), u(self.vocab)),
            // llama.cpp's loaders read the rope dimension (= head_dim for BitNet) themselves.
            (key("rope.dimension_count"), u(self.head_dim())),
        ]
    }
}
