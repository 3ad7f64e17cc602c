//! Criterion benchmarks of the I2_S GEMV for the BitNet 2B-4T shapes, every supported ISA (on
//! the layout a model is loaded in for it, and the VNNI kernel on all three layouts),
//! cache-resident and DRAM-streaming. Throughput is reported in the bytes of weights each layout
//! streams per second (trits16 holds the same weights in 0.8× the bytes: compare times).
//!
//! `cargo bench --bench i2s_gemv` (add `-- dram` to run only the DRAM-streaming group).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use bitnet_kernels::format::i2s_relayout::relayout;
use bitnet_kernels::format::ternary_layout::TernaryLayout;
use bitnet_kernels::synthetic::{random_activations, random_matrix};
use bitnet_kernels::{I2sGemm, I2sMatrix, Isa, KernelConfig, QuantizedActivations};
use perfd::harness::host::fingerprint::last_level_cache_bytes;
use perfd::harness::kernel_bench::BITNET_2B4T_SHAPES;

fn engines() -> Vec<I2sGemm> {
    Isa::supported()
        .into_iter()
        .filter_map(|isa| {
            I2sGemm::new(KernelConfig {
                isa: Some(isa),
                ..KernelConfig::default()
            })
            .ok()
        })
        .collect()
}

fn bench_gemv(c: &mut Criterion, group_name: &str, dram: bool) {
    let mut group = c.benchmark_group(group_name);
    group.sample_size(20);
    let llc = last_level_cache_bytes().unwrap_or(32 << 20);
    for (rows, cols) in BITNET_2B4T_SHAPES {
        let base = random_matrix(rows, cols, 1).expect("weights");
        let lanes = relayout(&base.view(), TernaryLayout::Lanes16).expect("lanes16");
        let trits = relayout(&base.view(), TernaryLayout::Trits16).expect("trits16");
        let layouts = [
            (TernaryLayout::RowMajor, &base),
            (TernaryLayout::Lanes16, &lanes),
            (TernaryLayout::Trits16, &trits),
        ];
        let acts =
            QuantizedActivations::quantize(&random_activations(1, cols, 2), 1, cols).expect("acts");
        let mut out = vec![0f32; rows];
        for engine in engines() {
            if engine.isa() == Isa::Scalar && dram {
                continue; // the oracle is not a streaming kernel; its cache figure is enough
            }
            // Each engine on the layout a model is loaded in for it; the VNNI engine also on
            // the file's row-major order and lanes16, for the ratios between its kernels.
            for (layout, matrix) in layouts {
                if layout != engine.weight_layout() && engine.isa() != Isa::Avx512Vnni {
                    continue;
                }
                let bytes = matrix.view().weight_bytes() as u64;
                let copies = if dram {
                    (4 * llc).div_ceil(bytes).max(2) as usize
                } else {
                    1
                };
                group.throughput(Throughput::Bytes(bytes));
                let mats: Vec<I2sMatrix> = (0..copies).map(|_| matrix.clone()).collect();
                let mut next = 0;
                group.bench_function(
                    BenchmarkId::new(
                        format!("{}/{layout}", engine.kernel_id()),
                        format!("{rows}x{cols}"),
                    ),
                    |b| {
                        b.iter(|| {
                            engine
                                .gemm_into(&mats[next].view(), &acts, &mut out)
                                .expect("gemv");
                            next = (next + 1) % mats.len();
                            black_box(&out);
                        })
                    },
                );
            }
        }
    }
    group.finish();
}

fn cache_resident(c: &mut Criterion) {
    bench_gemv(c, "i2s_gemv_cache", false);
}

fn dram_streaming(c: &mut Criterion) {
    bench_gemv(c, "i2s_gemv_dram", true);
}

criterion_group!(benches, cache_resident, dram_streaming);
criterion_main!(benches);
