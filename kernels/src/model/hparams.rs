//! BitNet b1.58 hyper-parameters, read from GGUF metadata or taken from a named preset.

use crate::gguf::{GgufFile, MetaValue};
use crate::model::error::ModelError;

/// GGUF architecture name of bitnet.cpp models.
pub const ARCHITECTURE: &str = "bitnet-b1.58";

/// The architecture a BitNet b1.58 file declares (`general.architecture`, also the prefix of its
/// hyper-parameter keys). Both have the same tensors, norms, RoPE and attention; they differ in
/// the FFN's gate activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// `bitnet-b1.58`, bitnet.cpp's name (BitNet b1.58 2B-4T): relu(gate)²·up.
    BitnetB158,
    /// `bitnet`, llama.cpp mainline's name (its graph for the 1bitLLM bitnet_b1_58 models):
    /// silu(gate)·up. With it perfd reads the files llama.cpp runs, TQ2_0/TQ1_0 included.
    Bitnet,
}

impl Architecture {
    /// Every architecture.
    pub const ALL: [Architecture; 2] = [Architecture::BitnetB158, Architecture::Bitnet];

    /// The GGUF name.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::BitnetB158 => ARCHITECTURE,
            Architecture::Bitnet => "bitnet",
        }
    }

    /// The FFN gate activation.
    pub fn ffn_activation(self) -> FfnActivation {
        match self {
            Architecture::BitnetB158 => FfnActivation::ReluSquared,
            Architecture::Bitnet => FfnActivation::Silu,
        }
    }
}

crate::named_choice::named_choice!(Architecture, "architecture");

/// What the FFN applies to the gate projection before multiplying by the up projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfnActivation {
    /// relu(g)².
    ReluSquared,
    /// silu(g) = g·σ(g).
    Silu,
}

impl FfnActivation {
    /// gate ← act(gate)·up, element by element.
    pub fn gate_times_up(self, gate: &mut [f32], up: &[f32]) {
        match self {
            FfnActivation::ReluSquared => {
                for (g, &u) in gate.iter_mut().zip(up) {
                    let r = g.max(0.0);
                    *g = r * r * u;
                }
            }
            FfnActivation::Silu => {
                for (g, &u) in gate.iter_mut().zip(up) {
                    *g = *g / (1.0 + (-*g).exp()) * u;
                }
            }
        }
    }
}

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
    /// The architecture the file declares (its FFN activation).
    pub arch: Architecture,
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
                arch: Architecture::BitnetB158,
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
                arch: Architecture::BitnetB158,
            },
        }
    }
}

crate::named_choice::named_choice!(Preset, "preset");

fn key(arch: Architecture, name: &str) -> String {
    format!("{arch}.{name}")
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
        let name = file.get_str("general.architecture")?;
        let arch: Architecture = name
            .parse()
            .map_err(|_| ModelError::Architecture(name.to_string()))?;
        let key = |name: &str| key(arch, name);
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
            arch,
        };
        hp.validate()?;
        Ok(hp)
    }

    /// Checks that the shape is consistent and within sane bounds.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |k: &str, reason: String| {
            Err(ModelError::Hparam {
                key: key(self.arch, k),
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
        let key = |name: &str| key(self.arch, name);
        vec![
            (
                "general.architecture".into(),
                MetaValue::String(self.arch.name().into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_architecture_gates_with_its_activation() {
        let gate = [-2.0f32, -0.5, 0.0, 0.5, 3.0];
        let up = [1.0f32, 2.0, 3.0, -1.0, 0.5];
        let mut relu = gate;
        Architecture::BitnetB158
            .ffn_activation()
            .gate_times_up(&mut relu, &up);
        assert_eq!(relu, [0.0, 0.0, 0.0, -0.25, 4.5]);
        let mut silu = gate;
        Architecture::Bitnet
            .ffn_activation()
            .gate_times_up(&mut silu, &up);
        for ((&s, &g), &u) in silu.iter().zip(&gate).zip(&up) {
            let want = f64::from(g) / (1.0 + (-f64::from(g)).exp()) * f64::from(u);
            assert!(
                (f64::from(s) - want).abs() <= 1e-6 * want.abs().max(1e-6),
                "{g}: {s} vs {want}"
            );
        }
        for a in Architecture::ALL {
            assert_eq!(a.name().parse::<Architecture>(), Ok(a));
        }
        assert!("llama"
            .parse::<Architecture>()
            .unwrap_err()
            .contains("bitnet-b1.58"));
    }
}
