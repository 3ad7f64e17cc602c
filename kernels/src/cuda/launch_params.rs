//! Tunable launch parameters of the CUDA kernels, declared like the CPU's [`crate::ParamSpace`]:
//! each with its domain, printable, parsed from the same `k=v,k=v` syntax, enumerable for a tuner.

use std::fmt;

use crate::config::ParamDomain;

use super::error::CudaError;

const LANES_PER_ROW: [u32; 3] = [8, 16, 32];
const GEMV_THREADS: [u32; 3] = [128, 256, 512];
const PREFILL_TILES: [u32; 3] = [1, 4, 8];
const ATTENTION_THREADS: [u32; 3] = [256, 512, 1024];
const LM_HEAD_THREADS: [u32; 3] = [128, 256, 512];
const NORM_THREADS: [u32; 3] = [256, 512, 1024];

/// Launch shape of the CUDA kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CudaLaunchParams {
    /// Threads computing one I2_S row together (a power of two, at most a warp).
    pub lanes_per_row: u32,
    /// Threads per block of the I2_S products.
    pub gemv_threads: u32,
    /// Prompt tokens sharing each weight chunk in prefill.
    pub prefill_tile: u32,
    /// Threads per (head, token) block of the attention.
    pub attention_threads: u32,
    /// Threads per block of the lm_head (a warp per row).
    pub lm_head_threads: u32,
    /// Threads per token of RMSNorm + quantisation.
    pub norm_threads: u32,
    /// Replay the decode step as a CUDA graph (one launch per token instead of one per kernel).
    pub graph: bool,
    /// Fused kernels: each decode I2_S product normalises and quantises its own input, and the
    /// attention applies RoPE and stores the KV cache itself (5 launches per layer instead of 10).
    pub fused: bool,
    /// Programmatic dependent launch (compute capability 9.0 or later): each kernel of the
    /// forward pass may start while the one ahead of it finishes, loading what no kernel writes
    /// (the products' weights) before it waits for the results it needs.
    pub dependent_launch: bool,
}

impl Default for CudaLaunchParams {
    fn default() -> Self {
        Self {
            // A warp per row: fastest on 3 of the 4 2B-4T shapes on an H100 (2560x6912: 6.96 µs
            // vs 8.42 at 16 lanes and 13.0 at 8; scripts/gpu-check.sh, 2026-11-26).
            lanes_per_row: 32,
            gemv_threads: 256,
            prefill_tile: 8,
            attention_threads: 512,
            lm_head_threads: 256,
            norm_threads: 1024,
            graph: true,
            // Measured slower on an H100 (2b4t decode 359 tokens/s fused vs 436 unfused,
            // scripts/gpu-check.sh 2026-11-26): every block repeating the norm's three reductions
            // costs more than the launches it saves.
            fused: false,
            // 2b4t decode 427.8-427.9 vs 409.3-409.5 tokens/s without, three alternating
            // processes each on an H100 (scripts/gpu-check.sh, 2026-11-27); ignored below sm_90.
            dependent_launch: true,
        }
    }
}

fn texts<T: ToString>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

impl CudaLaunchParams {
    /// Every parameter and its domain.
    pub fn space() -> Vec<ParamDomain> {
        vec![
            ParamDomain {
                name: "lanes_per_row",
                doc: "CUDA: threads computing one I2_S row (shuffle-reduced)",
                values: texts(&LANES_PER_ROW),
            },
            ParamDomain {
                name: "gemv_threads",
                doc: "CUDA: threads per block of the I2_S products",
                values: texts(&GEMV_THREADS),
            },
            ParamDomain {
                name: "prefill_tile",
                doc: "CUDA: prompt tokens sharing each weight load in prefill",
                values: texts(&PREFILL_TILES),
            },
            ParamDomain {
                name: "attention_threads",
                doc: "CUDA: threads per (head, token) attention block",
                values: texts(&ATTENTION_THREADS),
            },
            ParamDomain {
                name: "lm_head_threads",
                doc: "CUDA: threads per lm_head block (a warp per vocabulary row)",
                values: texts(&LM_HEAD_THREADS),
            },
            ParamDomain {
                name: "norm_threads",
                doc: "CUDA: threads per token of RMSNorm + int8 quantisation",
                values: texts(&NORM_THREADS),
            },
            ParamDomain {
                name: "graph",
                doc: "CUDA: replay the decode step as a CUDA graph",
                values: texts(&[false, true]),
            },
            ParamDomain {
                name: "fused",
                doc: "CUDA: fuse norm+quantisation into the decode products and RoPE+KV store into the attention",
                values: texts(&[false, true]),
            },
            ParamDomain {
                name: "dependent_launch",
                doc: "CUDA: programmatic dependent launch (sm_90+): a kernel loads its weights while the one ahead finishes",
                values: texts(&[false, true]),
            },
        ]
    }

    /// Every combination of the domains (for an exhaustive tuner).
    pub fn configs() -> Vec<Self> {
        let mut out = Vec::new();
        for &lanes_per_row in &LANES_PER_ROW {
            for &gemv_threads in &GEMV_THREADS {
                for &prefill_tile in &PREFILL_TILES {
                    for &attention_threads in &ATTENTION_THREADS {
                        for &lm_head_threads in &LM_HEAD_THREADS {
                            for &norm_threads in &NORM_THREADS {
                                for graph in [false, true] {
                                    for fused in [false, true] {
                                        for dependent_launch in [false, true] {
                                            out.push(Self {
                                                lanes_per_row,
                                                gemv_threads,
                                                prefill_tile,
                                                attention_threads,
                                                lm_head_threads,
                                                norm_threads,
                                                graph,
                                                fused,
                                                dependent_launch,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Applies `k=v,k=v` overrides and checks each value against its domain.
    pub fn with_params(mut self, spec: &str) -> Result<Self, CudaError> {
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| CudaError::ParamEntry {
                entry: pair.to_string(),
                reason: "is not key=value".into(),
            })?;
            self.set(key.trim(), value.trim())?;
        }
        Ok(self)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), CudaError> {
        let space = Self::space();
        let Some(domain) = space.iter().find(|d| d.name == key) else {
            let known: Vec<_> = space.iter().map(|d| d.name).collect();
            return Err(CudaError::ParamEntry {
                entry: format!("{key}={value}"),
                reason: format!(
                    "names no CUDA launch parameter (known: {}; CPU kernel parameters need \
                     --backend cpu)",
                    known.join(", ")
                ),
            });
        };
        if !domain.values.iter().any(|v| v == value) {
            return Err(CudaError::Param {
                name: domain.name,
                value: value.to_string(),
                reason: format!("must be one of {}", domain.values.join(", ")),
            });
        }
        // The domain check above makes every parse below succeed.
        let n = value.parse::<u32>().unwrap_or_default();
        match domain.name {
            "lanes_per_row" => self.lanes_per_row = n,
            "gemv_threads" => self.gemv_threads = n,
            "prefill_tile" => self.prefill_tile = n,
            "attention_threads" => self.attention_threads = n,
            "lm_head_threads" => self.lm_head_threads = n,
            "norm_threads" => self.norm_threads = n,
            "graph" => self.graph = value == "true",
            "fused" => self.fused = value == "true",
            _ => self.dependent_launch = value == "true",
        }
        Ok(())
    }
}

impl fmt::Display for CudaLaunchParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lanes_per_row={},gemv_threads={},prefill_tile={},attention_threads={},lm_head_threads={},norm_threads={},graph={},fused={},dependent_launch={}",
            self.lanes_per_row,
            self.gemv_threads,
            self.prefill_tile,
            self.attention_threads,
            self.lm_head_threads,
            self.norm_threads,
            self.graph,
            self.fused,
            self.dependent_launch
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back_and_domains_are_enforced() {
        let p = CudaLaunchParams::default();
        assert_eq!(
            CudaLaunchParams::default().with_params(&p.to_string()).ok(),
            Some(p)
        );
        let q = p.with_params("lanes_per_row=32,graph=false").ok();
        assert_eq!(q.map(|q| (q.lanes_per_row, q.graph)), Some((32, false)));
        let e = p
            .with_params("lanes_per_row=12")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("must be one of 8, 16, 32")));
        let e = p.with_params("warps=4").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("`warps=4` names no CUDA launch parameter")));
        assert!(CudaLaunchParams::configs().contains(&p));
    }
}
