//! Phases of a model benchmark and their results, as the bench report carries them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

/// A phase of a model benchmark. Other harnesses may report phases perfd does not judge; those
/// are kept by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Prompt processing: all prompt tokens in one forward call.
    Prefill,
    /// Generation: one token per forward call.
    Decode,
    /// A phase perfd does not judge.
    #[serde(untagged)]
    Other(String),
}

impl Phase {
    /// The name in reports and metric labels.
    pub fn name(&self) -> &str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
            Phase::Other(s) => s,
        }
    }

    /// The sample series name of this phase's tokens/sec (`decode_tps`).
    pub fn tps_series(&self) -> String {
        format!("{}_tps", self.name())
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Timings of one phase over the repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    /// Which phase.
    pub phase: Phase,
    /// Tokens per repetition.
    pub tokens: usize,
    /// Wall seconds per repetition.
    pub seconds: Summary,
    /// Tokens per second per repetition.
    pub tokens_per_second: Summary,
}

/// Share of decode time per operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpShare {
    /// Operation name.
    pub op: String,
    /// Seconds per decoded token.
    pub seconds_per_token: f64,
    /// Fraction of the decode time.
    pub share: f64,
    /// Bytes the operation reads per decoded token: its weights, and for attention the KV cache
    /// (mean over the decoded positions). With `seconds_per_token`, how fast the operation
    /// streams. Absent where not known (prefill, older reports, other engines).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_per_token: Option<u64>,
}

impl OpShare {
    /// Bytes/s the operation streamed its bytes at, where both are known.
    pub fn bytes_per_second(&self) -> Option<f64> {
        let bytes = self.bytes_per_token? as f64;
        (self.seconds_per_token > 0.0).then(|| bytes / self.seconds_per_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_read_and_write_their_names_and_keep_unknown_ones() {
        for (p, s) in [
            (Phase::Prefill, "\"prefill\""),
            (Phase::Decode, "\"decode\""),
        ] {
            assert_eq!(serde_json::to_string(&p).unwrap(), s);
            assert_eq!(serde_json::from_str::<Phase>(s).unwrap(), p);
        }
        let other: Phase = serde_json::from_str("\"e2e\"").unwrap();
        assert_eq!(other, Phase::Other("e2e".into()));
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"e2e\"");
        assert_eq!(Phase::Prefill.tps_series(), "prefill_tps");
    }
}
