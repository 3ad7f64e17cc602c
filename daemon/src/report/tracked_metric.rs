//! The figure regression detection follows (`[regression] metric`): a phase's tokens/s
//! (`decode_tps`, `prefill_tps`), or decode tokens/s after a KV cache filled to a depth
//! (`decode_tps_at_3968`, from `[benchmark] context_positions` / `perfd bench --ctx`), where
//! attention reads the cache and a slower attention shows that short contexts hide.

use std::fmt;

use super::{BenchReport, Phase};

/// A tokens/s figure of a bench report, stored per run as the sample series of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackedMetric {
    /// The phase's tokens/s.
    Phase(Phase),
    /// Decode tokens/s after this many cached positions.
    DecodeAtContext(usize),
}

const AT: &str = "decode_tps_at_";

impl TrackedMetric {
    /// The metric a configuration names, or why none: exactly its series name
    /// ([`TrackedMetric::series`]), so that the stored samples are found under it.
    pub fn parse(name: &str) -> Result<Self, String> {
        let metric = match name {
            "decode_tps" => TrackedMetric::Phase(Phase::Decode),
            "prefill_tps" => TrackedMetric::Phase(Phase::Prefill),
            _ => match name.strip_prefix(AT).map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => TrackedMetric::DecodeAtContext(n),
                _ => {
                    return Err(format!(
                        "`{name}` is not decode_tps, prefill_tps or decode_tps_at_N (N cached positions)"
                    ))
                }
            },
        };
        if metric.series() != name {
            return Err(format!("write `{name}` as `{}`", metric.series()));
        }
        Ok(metric)
    }

    /// The sample series (and configuration) name.
    pub fn series(&self) -> String {
        match self {
            TrackedMetric::Phase(p) => p.tps_series(),
            TrackedMetric::DecodeAtContext(n) => format!("{AT}{n}"),
        }
    }

    /// The report's median tokens/s of this figure, when it measured it.
    pub fn tokens_per_second(&self, report: &BenchReport) -> Option<f64> {
        match self {
            TrackedMetric::Phase(p) => report.phase_tps(p),
            TrackedMetric::DecodeAtContext(n) => report.context_decode_tps(*n),
        }
    }
}

impl fmt::Display for TrackedMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrackedMetric::Phase(p) => write!(f, "{p}"),
            TrackedMetric::DecodeAtContext(n) => write!(f, "decode after {n} positions"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_their_own_series_only() {
        for name in ["decode_tps", "prefill_tps", "decode_tps_at_3968"] {
            assert_eq!(TrackedMetric::parse(name).unwrap().series(), name);
        }
        assert_eq!(
            TrackedMetric::parse("decode_tps_at_64"),
            Ok(TrackedMetric::DecodeAtContext(64))
        );
        assert!(TrackedMetric::parse("decode_tps_at_03968")
            .unwrap_err()
            .contains("decode_tps_at_3968"));
        for bad in [
            "decode",
            "e2e_tps",
            "decode_tps_at_0",
            "decode_tps_at_x",
            "",
        ] {
            assert!(TrackedMetric::parse(bad).is_err(), "{bad}");
        }
    }
}
