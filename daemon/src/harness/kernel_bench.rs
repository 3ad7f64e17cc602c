//! Kernel throughput: ns per GEMV for each kernel and shape, cache-resident and DRAM-streaming.
//!
//! Cache-resident repeats one weight matrix (it stays in the last-level cache). DRAM-streaming
//! cycles through enough distinct copies of it that the working set is several times the LLC, so
//! every GEMV reads its weights from memory — the situation of a real decode step. The copies lie
//! in one buffer advised for huge pages, as the model's weights are.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use bitnet_kernels::cpu::huge_pages::advise_huge_pages;
use bitnet_kernels::format::i2s_relayout::relayout;
use bitnet_kernels::format::ternary_layout::TernaryLayout;
use bitnet_kernels::synthetic::{random_activations, random_matrix};
use bitnet_kernels::{I2sGemm, I2sMatrixRef, QuantizedActivations};

pub use crate::report::kernel_result::{KernelResult, Residency};
use crate::stats::Summary;

/// The four GEMV shapes of a BitNet b1.58 2B-4T layer (rows × cols): Q/O, K/V, gate/up, down.
pub const BITNET_2B4T_SHAPES: [(usize, usize); 4] =
    [(2560, 2560), (640, 2560), (6912, 2560), (2560, 6912)];

/// How long and how often to sample.
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    /// Timed samples per measurement (after one untimed warm-up sample).
    pub samples: usize,
    /// Minimum wall time of one sample; ops per sample are calibrated to reach it.
    pub min_sample: Duration,
}

/// One shape's weights and activations, shared by every kernel measured on it.
pub struct Workload {
    rows: usize,
    cols: usize,
    residency: Residency,
    /// Per layout an engine reads, back-to-back copies of the matrix's codes in it.
    mats: Vec<Copies>,
    scale: f32,
    acts: QuantizedActivations,
}

/// `count` back-to-back copies of one matrix in `layout`.
struct Copies {
    layout: TernaryLayout,
    count: usize,
    bytes: Vec<u8>,
}

impl Copies {
    /// Bytes of one copy: what a kernel streams per call (trits16 0.8× the other layouts).
    fn matrix_bytes(&self) -> usize {
        self.bytes.len() / self.count
    }
}

impl Workload {
    /// Seeded weights (one matrix, or enough copies to fill `dram_bytes`, at least two) in each
    /// of `layouts` that fits the shape (each engine then reads the layout a model is loaded in
    /// for it; one that does not fit reads row-major), and one token of activations. Every
    /// layout gets the whole working set (trits16 in more, smaller copies), so that each
    /// engine's figure means the same as with one layout: with two (VNNI on trits16 beside the
    /// row-major ISAs) the suite holds twice the memory plan's working set, which
    /// `check_shapes_fit` counts before anything is allocated.
    pub fn new(
        rows: usize,
        cols: usize,
        residency: Residency,
        dram_bytes: u64,
        layouts: &[TernaryLayout],
    ) -> Result<Self> {
        let base = random_matrix(rows, cols, 0xB17_5EED).context("generate weights")?;
        let mut held: Vec<TernaryLayout> = Vec::new();
        for &wanted in layouts {
            let layout = if wanted.fits(rows) {
                wanted
            } else {
                TernaryLayout::RowMajor
            };
            if !held.contains(&layout) {
                held.push(layout);
            }
        }
        let mut mats = Vec::new();
        for layout in held {
            let m = relayout(&base.view(), layout).context("reorder weights")?;
            let image = m.view().data();
            let count = match residency {
                Residency::Cache => 1,
                Residency::Dram => dram_bytes.div_ceil(image.len().max(1) as u64).max(2) as usize,
            };
            // Identical contents in distinct memory: the caches see distinct lines, which is all
            // that matters. Advised before the copies touch it.
            let mut bytes = vec![0u8; count * image.len()];
            advise_huge_pages(&bytes);
            for slot in bytes.chunks_exact_mut(image.len()) {
                slot.copy_from_slice(image);
            }
            mats.push(Copies {
                layout,
                count,
                bytes,
            });
        }
        let x = random_activations(1, cols, 0xAC75);
        let acts = QuantizedActivations::quantize(&x, 1, cols).context("quantise activations")?;
        Ok(Self {
            rows,
            cols,
            residency,
            mats,
            scale: base.view().scale(),
            acts,
        })
    }

    /// The copies in `layout`, else row-major.
    fn copies_in(&self, layout: TernaryLayout) -> Result<&Copies> {
        self.mats
            .iter()
            .find(|c| c.layout == layout)
            .or_else(|| {
                self.mats
                    .iter()
                    .find(|c| c.layout == TernaryLayout::RowMajor)
            })
            .context("no copy of the weights in a layout the kernel reads")
    }

    /// Copy `i` (modulo the copies held) of the weights in `layout`, else row-major (a view:
    /// O(1), the codes were validated when generated).
    fn matrix(&self, i: usize, layout: TernaryLayout) -> Result<I2sMatrixRef<'_>> {
        let copies = self.copies_in(layout)?;
        let len = copies.matrix_bytes();
        let at = (i % copies.count) * len;
        I2sMatrixRef::from_aligned_in(
            &copies.bytes[at..at + len],
            self.rows,
            self.cols,
            self.scale,
            copies.layout,
        )
        .context("view weights")
    }
}

/// One kernel's timing state on a workload.
struct Timer<'a> {
    engine: &'a I2sGemm,
    per_sample: usize,
    next: usize,
    out: Vec<f32>,
    ns: Vec<f64>,
}

impl Timer<'_> {
    fn run(&mut self, w: &Workload, n: usize) -> Result<()> {
        for _ in 0..n {
            self.engine
                .gemm_into(
                    &w.matrix(self.next, self.engine.weight_layout())?,
                    &w.acts,
                    &mut self.out,
                )
                .context("kernel call")?;
            self.next = self.next.wrapping_add(1);
        }
        Ok(())
    }
}

/// Measures `engines` on one workload with samples interleaved round-robin (sample 1 of every
/// kernel, then sample 2, …), so drift of a shared machine moves all kernels alike and their
/// ratios stay meaningful. `roofline_ratio` is set by the caller once the run's STREAM bandwidth
/// is known.
pub fn measure_interleaved(
    engines: &[&I2sGemm],
    w: &Workload,
    sampling: Sampling,
) -> Result<Vec<KernelResult>> {
    let mut timers: Vec<Timer<'_>> = engines
        .iter()
        .map(|&engine| Timer {
            engine,
            per_sample: 1,
            next: 0,
            out: vec![0f32; w.rows],
            ns: Vec::with_capacity(sampling.samples),
        })
        .collect();
    for t in &mut timers {
        // Calibrate ops per sample so one sample lasts at least `min_sample`, then warm up.
        loop {
            let start = Instant::now();
            t.run(w, t.per_sample)?;
            if start.elapsed() >= sampling.min_sample || t.per_sample >= 1 << 24 {
                break;
            }
            t.per_sample *= 2;
        }
        t.run(w, t.per_sample)?;
    }
    for _ in 0..sampling.samples {
        for t in &mut timers {
            let start = Instant::now();
            t.run(w, t.per_sample)?;
            t.ns.push(start.elapsed().as_nanos() as f64 / t.per_sample as f64);
        }
    }
    timers
        .into_iter()
        .map(|t| {
            std::hint::black_box(&t.out);
            // What this kernel streams: trits16 reads 0.8× the bytes of the other layouts.
            let copies = w.copies_in(t.engine.weight_layout())?;
            let matrix_bytes = copies.matrix_bytes() as u64;
            let bytes_per_op = matrix_bytes + w.acts.padded_cols() as u64 + 4 * w.rows as u64;
            let ns_per_op = Summary::of(t.ns).context("no valid kernel timing samples")?;
            let bytes_per_second = ns_per_op.map(|ns| bytes_per_op as f64 * 1e9 / ns);
            Ok(KernelResult {
                kernel_id: t.engine.kernel_id().to_string(),
                params: t.engine.config().to_string(),
                rows: w.rows,
                cols: w.cols,
                tokens: 1,
                residency: w.residency,
                matrices: copies.count,
                working_set_bytes: matrix_bytes * copies.count as u64,
                bytes_per_op,
                ops_per_second: 1e9 / ns_per_op.median,
                roofline_ratio: None,
                ns_per_op,
                bytes_per_second,
            })
        })
        .collect()
}
