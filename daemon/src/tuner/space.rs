//! What the tuner may change: named dimensions with their values, and points in that space
//! (`Candidate`), printed in the `k=v,...` form every harness takes through `--params` or
//! `PERFD_PARAMS`.

use std::collections::BTreeMap;
use std::fmt;

use bitnet_kernels::{Isa, KernelConfig, ParamSpace};
use serde::{Deserialize, Serialize};

/// One parameter the tuner can move along, with every value it may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    /// Parameter name (`threads`).
    pub name: String,
    /// Allowed values, as the harness takes them.
    pub values: Vec<String>,
}

/// The searchable space: dimensions in the order coordinate descent visits them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TuneSpace {
    /// Dimensions, most influential first.
    pub dims: Vec<Dimension>,
}

/// Order in which coordinate descent visits perfd's kernel parameters: the ones that change how
/// memory is streamed first, since decode is bandwidth-bound.
const KERNEL_ORDER: [&str; 13] = [
    "isa",
    "threads",
    "prefetch_bytes",
    "rows_per_task",
    "row_tile",
    "decode_row_tile",
    "prefetch_hint",
    "kv_prefetch_hint",
    "parallel_min_kib",
    "col_block",
    "batch_width",
    "amx",
    "pin_threads",
];

impl TuneSpace {
    /// perfd's own kernel parameters on this host. `auto` and the scalar reference are left out:
    /// `auto` repeats an explicit ISA, and the reference is the oracle, never a candidate.
    pub fn kernel_params() -> Self {
        Self::from_param_space(&ParamSpace::for_host())
    }

    /// The kernel parameters of a given `ParamSpace` (tests use other hosts' spaces).
    pub fn from_param_space(space: &ParamSpace) -> Self {
        let mut dims: Vec<Dimension> = space
            .params
            .iter()
            .map(|p| Dimension {
                name: p.name.to_string(),
                values: p
                    .values
                    .iter()
                    .filter(|v| !(p.name == "isa" && (*v == "auto" || *v == Isa::Scalar.name())))
                    .cloned()
                    .collect(),
            })
            .collect();
        dims.sort_by_key(|d| {
            KERNEL_ORDER
                .iter()
                .position(|n| *n == d.name)
                .unwrap_or(KERNEL_ORDER.len())
        });
        Self { dims }
    }

    /// The space a harness prints for `perfd bench --list-params --json` (run with
    /// `PERFD_LIST_PARAMS=1`): `{"params": [{"name", "values"}, ...]}`.
    pub fn from_list_params_json(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Listed {
            params: Vec<ListedParam>,
        }
        #[derive(Deserialize)]
        struct ListedParam {
            name: String,
            values: Vec<String>,
        }
        let listed: Listed = serde_json::from_str(text)
            .map_err(|e| format!("the harness's parameter list is not the expected JSON: {e}"))?;
        let mut dims: Vec<Dimension> = listed
            .params
            .into_iter()
            .map(|p| Dimension {
                values: p
                    .values
                    .into_iter()
                    .filter(|v| !(p.name == "isa" && (v == "auto" || v == Isa::Scalar.name())))
                    .collect(),
                name: p.name,
            })
            .filter(|d| !d.values.is_empty())
            .collect();
        if dims.is_empty() {
            return Err("the harness listed no tunable parameters".into());
        }
        dims.sort_by_key(|d| {
            KERNEL_ORDER
                .iter()
                .position(|n| *n == d.name)
                .unwrap_or(KERNEL_ORDER.len())
        });
        Ok(Self { dims })
    }

    /// A space declared in the configuration (`[tuner.space]`), for harnesses other than perfd's.
    pub fn declared(space: &BTreeMap<String, Vec<String>>) -> Self {
        Self {
            dims: space
                .iter()
                .map(|(name, values)| Dimension {
                    name: name.clone(),
                    values: values.clone(),
                })
                .collect(),
        }
    }

    /// Only the named dimensions, in this space's order (a reduced space).
    pub fn only(&self, names: &[&str]) -> Self {
        Self {
            dims: self
                .dims
                .iter()
                .filter(|d| names.contains(&d.name.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// Every point of the space (for exhaustive search of small spaces), from `base` for the
    /// parameters the space does not cover.
    pub fn enumerate(&self, base: &Candidate) -> Vec<Candidate> {
        let mut points = vec![base.clone()];
        for d in &self.dims {
            points = points
                .iter()
                .flat_map(|p| d.values.iter().map(move |v| p.with(&d.name, v)))
                .collect();
        }
        points
    }

    /// Number of points before constraints.
    pub fn size(&self) -> usize {
        self.dims.iter().map(|d| d.values.len().max(1)).product()
    }
}

/// A configuration: `(name, value)` pairs in a fixed order, printed `k=v,...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Candidate(Vec<(String, String)>);

impl Candidate {
    /// The configuration of a kernel config, with the ISA made explicit.
    pub fn of_kernel_config(c: &KernelConfig) -> Self {
        let explicit = KernelConfig {
            isa: Some(c.resolved_isa()),
            ..*c
        };
        Self::parse(&explicit.to_string()).unwrap_or_else(|_| Self(Vec::new()))
    }

    /// Parses `k=v,k=v`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pairs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not key=value"))?;
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Self(pairs))
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// This configuration with `name` set to `value` (appended when absent).
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut pairs = self.0.clone();
        match pairs.iter_mut().find(|(k, _)| k == name) {
            Some(p) => p.1 = value.to_string(),
            None => pairs.push((name.to_string(), value.to_string())),
        }
        Self(pairs)
    }

    /// Parameters whose values differ: `(name, before, after)`.
    pub fn diff(&self, after: &Candidate) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (k, v) in &after.0 {
            let before = self.get(k).unwrap_or("(unset)");
            if before != v {
                out.push((k.clone(), before.to_string(), v.clone()));
            }
        }
        out
    }

    /// The diff as `threads 1→2, prefetch_bytes 0→16384`, or `none`.
    pub fn diff_text(&self, after: &Candidate) -> String {
        let d = self.diff(after);
        if d.is_empty() {
            return "none".into();
        }
        d.iter()
            .map(|(k, a, b)| format!("{k} {a}→{b}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl From<Candidate> for String {
    fn from(c: Candidate) -> Self {
        c.to_string()
    }
}

impl TryFrom<String> for Candidate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Candidate::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_space_leaves_out_auto_and_the_reference_and_orders_dimensions() {
        let space = TuneSpace::from_param_space(&ParamSpace::new(vec![Isa::Scalar, Isa::Avx2], 2));
        assert_eq!(space.dims[0].name, "isa");
        assert_eq!(space.dims[0].values, vec!["avx2"]);
        assert_eq!(space.dims[1].name, "threads");
        // Every parameter, `amx` with only `false` on a host without AVX-512 VNNI.
        assert_eq!(space.dims.len(), 13);
    }

    #[test]
    fn candidates_round_trip_and_diff() {
        let a = Candidate::parse("threads=1,prefetch_bytes=0").unwrap();
        let b = a.with("threads", "2");
        assert_eq!(b.to_string(), "threads=2,prefetch_bytes=0");
        assert_eq!(a.diff_text(&b), "threads 1→2");
        assert_eq!(a.diff_text(&a), "none");
        assert!(Candidate::parse("threads").is_err());
        let space = TuneSpace {
            dims: vec![
                Dimension {
                    name: "threads".into(),
                    values: vec!["1".into(), "2".into()],
                },
                Dimension {
                    name: "prefetch_bytes".into(),
                    values: vec!["0".into(), "4096".into(), "8192".into()],
                },
            ],
        };
        let all = space.enumerate(&a);
        assert_eq!(all.len(), 6);
        assert!(all.contains(&Candidate::parse("threads=2,prefetch_bytes=8192").unwrap()));
    }
}
