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

    /// Adds every op's time of `other` (one run's profile pooled into several runs').
    pub fn add_all(&mut self, other: &OpProfile) {
        for (mine, theirs) in self.seconds.iter_mut().zip(other.seconds) {
            *mine += theirs;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_pool_op_by_op() {
        let (mut pooled, mut run) = (OpProfile::default(), OpProfile::default());
        run.add(Op::LmHead, 0.25);
        run.add(Op::Qkv, 0.5);
        pooled.add(Op::LmHead, 1.0);
        pooled.add_all(&run);
        pooled.add_all(&run);
        assert_eq!(pooled.seconds(Op::LmHead), 1.5);
        assert_eq!(pooled.seconds(Op::Qkv), 1.0);
        assert_eq!(pooled.seconds(Op::Attention), 0.0);
        assert_eq!(pooled.total(), 2.5);
    }
}
