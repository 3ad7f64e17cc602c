//! What the tuner maximises: decode or prefill tokens/s of the model, or the calls/s of one GEMV
//! shape.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The quantity a tuning job maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Objective {
    /// Greedy decode tokens/s (the default: what users wait for).
    Decode,
    /// Prefill tokens/s.
    Prefill,
    /// I2_S GEMV calls/s of one `rows x cols` shape.
    Kernel {
        /// Output rows.
        rows: usize,
        /// Input columns.
        cols: usize,
    },
}

impl Objective {
    /// Unit of the objective's values.
    pub fn unit(self) -> &'static str {
        match self {
            Objective::Decode | Objective::Prefill => "tokens/s",
            Objective::Kernel { .. } => "GEMV/s",
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Objective::Decode => f.write_str("decode"),
            Objective::Prefill => f.write_str("prefill"),
            Objective::Kernel { rows, cols } => write!(f, "kernel:{rows}x{cols}"),
        }
    }
}

impl FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "decode" => Ok(Objective::Decode),
            "prefill" => Ok(Objective::Prefill),
            _ => {
                let shape = s
                    .strip_prefix("kernel:")
                    .ok_or_else(|| format!("`{s}` is not decode, prefill or kernel:ROWSxCOLS"))?;
                let (r, c) = shape
                    .split_once('x')
                    .ok_or_else(|| format!("`{shape}` is not ROWSxCOLS"))?;
                let num = |t: &str| {
                    t.parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1 << 20).contains(n))
                        .ok_or_else(|| format!("`{t}` is not a dimension in 1..=1048576"))
                };
                Ok(Objective::Kernel {
                    rows: num(r)?,
                    cols: num(c)?,
                })
            }
        }
    }
}

impl From<Objective> for String {
    fn from(o: Objective) -> Self {
        o.to_string()
    }
}

impl TryFrom<String> for Objective {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_parse_and_print() {
        for s in ["decode", "prefill", "kernel:2560x6912"] {
            assert_eq!(s.parse::<Objective>().unwrap().to_string(), s);
        }
        assert!("kernel:0x5".parse::<Objective>().is_err());
        assert!("latency".parse::<Objective>().is_err());
    }
}
