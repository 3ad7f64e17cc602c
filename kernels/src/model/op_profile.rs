//! Where a forward pass spends its time, per operation (`perfd bench --profile`).

use std::time::Instant;

/// Operations timed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Embedding lookup (f16 → f32).
    Embed,
    /// RMSNorms and int8 activation quantisation.
    NormQuant,
    /// Q, K, V projections.
    Qkv,
    /// RoPE, KV cache and attention.
    Attention,
    /// Attention output projection.
    OProj,
    /// FFN gate and up projections and relu²·up.
    GateUp,
    /// FFN down projection.
    Down,
    /// Final norm and F16 lm_head.
    LmHead,
}

impl Op {
    /// Every operation, in forward order.
    pub const ALL: [Op; 8] = [
        Op::Embed,
        Op::NormQuant,
        Op::Qkv,
        Op::Attention,
        Op::OProj,
        Op::GateUp,
        Op::Down,
        Op::LmHead,
    ];

    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Embed => "embed",
            Op::NormQuant => "norm_quant",
            Op::Qkv => "qkv_proj",
            Op::Attention => "rope_attention",
            Op::OProj => "o_proj",
            Op::GateUp => "ffn_gate_up",
            Op::Down => "ffn_down",
            Op::LmHead => "lm_head",
        }
    }
}

/// Accumulated seconds per operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpProfile {
    seconds: [f64; 8],
}

impl OpProfile {
    /// Adds the time since `start` to `op` and returns now (the start of the next op).
    pub(crate) fn lap(&mut self, op: Op, start: Instant) -> Instant {
        let now = Instant::now();
        self.seconds[op as usize] += (now - start).as_secs_f64();
        now
    }

    /// Adds `seconds` to `op` (to pool the profiles of several runs).
    pub fn add(&mut self, op: Op, seconds: f64) {
        self.seconds[op as usize] += seconds;
    }

    /// Seconds spent in `op`.
    pub fn seconds(&self, op: Op) -> f64 {
        self.seconds[op as usize]
    }

    /// Seconds over all ops.
    pub fn total(&self) -> f64 {
        self.seconds.iter().sum()
    }

    /// Clears all counters.
    pub fn reset(&mut self) {
        self.seconds = [0.0; 8];
    }
}
