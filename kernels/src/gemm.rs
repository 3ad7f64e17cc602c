//! The I2_S GEMV / small-batch GEMM engine: validates a `KernelConfig`, chooses the kernel once,
//! and splits output rows over its own thread pool.
//!
//! Results are laid out `[token][row]`. The raw kernels produce Σ code·q per `[row][token]`; the
//! engine subtracts Σq and applies the one shared f32 epilogue, so every ISA matches the reference
//! bit for bit in both i32 and f32.

use crate::activation::{dequantize_dot, QuantizedActivations};
use crate::config::{KernelConfig, ParamSpace, MAX_ROWS_PER_TASK};
use crate::cpu::worker_pool::WorkerPool;
use crate::cpu::{i2s_reference, Isa};
use crate::error::KernelError;
use crate::format::i2s::I2sMatrixRef;

#[cfg(target_arch = "x86_64")]
use crate::cpu::{i2s_avx2, i2s_avx512, i2s_avx512::InterleavedActs};

/// Activations in the order the chosen kernel reads them.
enum Prepared<'a> {
    Natural(&'a QuantizedActivations),
    #[cfg(target_arch = "x86_64")]
    Interleaved(InterleavedActs),
}

/// A configured I2_S kernel with its worker pool.
#[derive(Debug)]
pub struct I2sGemm {
    config: KernelConfig,
    isa: Isa,
    pool: WorkerPool,
    #[cfg(feature = "planted-faults")]
    fault: Option<crate::planted_fault::PlantedFault>,
}

impl I2sGemm {
    /// Validates `config` on this CPU and starts its thread pool.
    pub fn new(config: KernelConfig) -> Result<Self, KernelError> {
        ParamSpace::for_host().validate(&config)?;
        let isa = config.resolved_isa();
        if !isa.is_supported() {
            let names: Vec<_> = Isa::supported().iter().map(|i| i.name()).collect();
            return Err(KernelError::IsaUnsupported(
                isa.name().into(),
                names.join(", "),
            ));
        }
        let pool = WorkerPool::new(config.threads, config.pin_threads)?;
        Ok(Self {
            config,
            isa,
            pool,
            #[cfg(feature = "planted-faults")]
            fault: None,
        })
    }

    /// An engine that computes wrong results the way `fault` says (tests of the tuner's guard).
    #[cfg(feature = "planted-faults")]
    pub fn with_planted_fault(
        config: KernelConfig,
        fault: crate::planted_fault::PlantedFault,
    ) -> Result<Self, KernelError> {
        let mut engine = Self::new(config)?;
        engine.fault = Some(fault);
        Ok(engine)
    }

    /// The scalar reference kernel, single-threaded: the oracle configuration.
    pub fn reference() -> Result<Self, KernelError> {
        Self::new(KernelConfig {
            isa: Some(Isa::Scalar),
            threads: 1,
            ..KernelConfig::default()
        })
    }

    /// Stable id of the kernel this engine runs.
    pub fn kernel_id(&self) -> &'static str {
        self.isa.gemv_kernel_id()
    }

    /// The ISA actually used.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The configuration, as validated.
    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    fn check_shapes(
        w: &I2sMatrixRef<'_>,
        acts: &QuantizedActivations,
        out_len: usize,
    ) -> Result<(), KernelError> {
        if w.cols() != acts.cols() {
            return Err(KernelError::Shape(format!(
                "weights have {} columns, activations {}",
                w.cols(),
                acts.cols()
            )));
        }
        if out_len != w.rows() * acts.tokens() {
            return Err(KernelError::Shape(format!(
                "output holds {out_len} values, {} rows x {} tokens need {}",
                w.rows(),
                acts.tokens(),
                w.rows() * acts.tokens()
            )));
        }
        Ok(())
    }

    fn prepare<'a>(&self, acts: &'a QuantizedActivations) -> Prepared<'a> {
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Bw | Isa::Avx512Vnni => Prepared::Interleaved(InterleavedActs::new(acts)),
            _ => Prepared::Natural(acts),
        }
    }

    /// Σ code·q of rows `r0..r1` × all tokens into `out` (`[row][token]`).
    fn run_task(
        &self,
        w: &I2sMatrixRef<'_>,
        rows: std::ops::Range<usize>,
        prep: &Prepared<'_>,
        out: &mut [i32],
    ) {
        #[cfg(feature = "planted-faults")]
        if let Some(f) = self.fault {
            if f.skips(&rows, self.config.rows_per_task) {
                out.fill(0);
                return;
            }
        }
        #[cfg(feature = "planted-faults")]
        let planted = (rows.clone(), w.rows(), w.cols());
        let tile = self.config.tile();
        match (self.isa, prep) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `new` verified AVX2 support for this engine's ISA.
            (Isa::Avx2, Prepared::Natural(a)) => unsafe {
                i2s_avx2::dot_codes(w, rows, a, tile, out)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `new` verified AVX-512F/BW/VNNI support for this engine's ISA.
            (Isa::Avx512Vnni, Prepared::Interleaved(a)) => unsafe {
                i2s_avx512::dot_codes_vnni(w, rows, a, tile, out)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `new` verified AVX-512F/BW support for this engine's ISA.
            (Isa::Avx512Bw, Prepared::Interleaved(a)) => unsafe {
                i2s_avx512::dot_codes_bw(w, rows, a, tile, out)
            },
            (_, Prepared::Natural(a)) => i2s_reference::dot_codes(w, rows, a, out),
            #[cfg(target_arch = "x86_64")]
            (_, Prepared::Interleaved(_)) => {
                unreachable!("interleaved activations are only prepared for AVX-512")
            }
        }
        #[cfg(feature = "planted-faults")]
        if let Some(f) = self.fault {
            f.corrupt_codes(&planted.0, planted.1, planted.2, out);
        }
    }

    /// Applies a planted epilogue fault to finished f32 outputs.
    #[cfg_attr(not(feature = "planted-faults"), allow(unused_variables))]
    fn finish(&self, out: &mut [f32]) {
        #[cfg(feature = "planted-faults")]
        if let Some(f) = self.fault {
            f.corrupt_outputs(out);
        }
    }

    /// The engine's worker pool (other kernels of a forward pass share it).
    pub fn pool(&self) -> &WorkerPool {
        &self.pool
    }

    /// Work too small to be worth waking the pool for.
    fn inline(&self, w: &I2sMatrixRef<'_>, acts: &QuantizedActivations) -> bool {
        (w.weight_bytes() as u64).saturating_mul(acts.tokens() as u64)
            < self.config.parallel_min_kib as u64 * 1024
    }

    fn row_range(&self, chunk: usize, rows: usize) -> std::ops::Range<usize> {
        let r0 = chunk * self.config.rows_per_task;
        r0..(r0 + self.config.rows_per_task).min(rows)
    }

    /// Exact Σ t·q for every token and row into `out`, laid out `[token][row]`.
    pub fn dot_i32_into(
        &self,
        w: &I2sMatrixRef<'_>,
        acts: &QuantizedActivations,
        out: &mut [i32],
    ) -> Result<(), KernelError> {
        Self::check_shapes(w, acts, out.len())?;
        let (m, n) = (w.rows(), acts.tokens());
        let prep = self.prepare(acts);
        let mut codes = vec![0i32; m * n];
        self.pool.for_each_chunk_maybe_inline(
            self.inline(w, acts),
            &mut codes,
            self.config.rows_per_task * n,
            |i, c| self.run_task(w, self.row_range(i, m), &prep, c),
        );
        for r in 0..m {
            for t in 0..n {
                out[t * m + r] = codes[r * n + t] - acts.sums()[t];
            }
        }
        Ok(())
    }

    /// Exact Σ t·q for every token and row, laid out `[token][row]`.
    pub fn dot_i32(
        &self,
        w: &I2sMatrixRef<'_>,
        acts: &QuantizedActivations,
    ) -> Result<Vec<i32>, KernelError> {
        let mut out = vec![0; w.rows() * acts.tokens()];
        self.dot_i32_into(w, acts, &mut out)?;
        Ok(out)
    }

    /// y = W·x in f32 for every token and row into `out`, laid out `[token][row]`.
    pub fn gemm_into(
        &self,
        w: &I2sMatrixRef<'_>,
        acts: &QuantizedActivations,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        Self::check_shapes(w, acts, out.len())?;
        let (m, n) = (w.rows(), acts.tokens());
        let prep = self.prepare(acts);
        let (ws, sums, scales) = (w.scale(), acts.sums(), acts.scales());
        if n == 1 {
            // Decode: `[token][row]` equals `[row][token]`, so each task finishes its own rows.
            self.pool.for_each_chunk_maybe_inline(
                self.inline(w, acts),
                out,
                self.config.rows_per_task,
                |i, chunk| {
                    let mut codes = [0i32; MAX_ROWS_PER_TASK];
                    let codes = &mut codes[..chunk.len()];
                    self.run_task(w, self.row_range(i, m), &prep, codes);
                    for (y, &c) in chunk.iter_mut().zip(codes.iter()) {
                        *y = dequantize_dot(c - sums[0], scales[0], ws);
                    }
                },
            );
            self.finish(out);
            return Ok(());
        }
        let mut codes = vec![0i32; m * n];
        self.pool.for_each_chunk_maybe_inline(
            self.inline(w, acts),
            &mut codes,
            self.config.rows_per_task * n,
            |i, c| self.run_task(w, self.row_range(i, m), &prep, c),
        );
        for r in 0..m {
            for t in 0..n {
                out[t * m + r] = dequantize_dot(codes[r * n + t] - sums[t], scales[t], ws);
            }
        }
        self.finish(out);
        Ok(())
    }

    /// y = W·x in f32, laid out `[token][row]`.
    pub fn gemm(
        &self,
        w: &I2sMatrixRef<'_>,
        acts: &QuantizedActivations,
    ) -> Result<Vec<f32>, KernelError> {
        let mut out = vec![0.0; w.rows() * acts.tokens()];
        self.gemm_into(w, acts, &mut out)?;
        Ok(out)
    }
}
