//! Every available ISA and tile configuration against the scalar reference: random and ragged
//! shapes must give bit-identical i32 accumulators, and every packed bit must matter.

use bitnet_kernels::config::available_threads;
use bitnet_kernels::cpu::i2s_reference;
use bitnet_kernels::crossval::{check_shape, crossval, Shape, GUARD_SHAPES};
use bitnet_kernels::format::i2s::I2sMatrix;
use bitnet_kernels::format::i2s_relayout::relayout;
use bitnet_kernels::format::ternary_layout::TernaryLayout;
use bitnet_kernels::synthetic::{random_activations, random_matrix};
use bitnet_kernels::{I2sGemm, Isa, KernelConfig, ParamSpace, QuantizedActivations};
use proptest::prelude::*;

fn engine(
    isa: Isa,
    threads: usize,
    rows_per_task: usize,
    row_tile: usize,
    batch_width: usize,
    col_block: usize,
    prefetch_bytes: usize,
) -> I2sGemm {
    I2sGemm::new(KernelConfig {
        isa: Some(isa),
        threads: threads.min(available_threads()),
        rows_per_task,
        row_tile,
        // One token takes the decode tile: the same, so each test's tile covers both paths.
        decode_row_tile: row_tile,
        batch_width,
        col_block,
        prefetch_bytes,
        prefetch_hint: bitnet_kernels::config::PrefetchHint::L2,
        kv_prefetch_hint: bitnet_kernels::config::PrefetchHint::L2,
        // 0: always use the pool, so small test shapes exercise the threaded path.
        parallel_min_kib: 0,
        pin_threads: false,
        amx: false,
    })
    .expect("valid config")
}

fn isa_strategy() -> impl Strategy<Value = Isa> {
    prop::sample::select(Isa::supported())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn simd_matches_reference_on_random_shapes(
        isa in isa_strategy(),
        rows in 1usize..90,
        cols in 1usize..1100,
        tokens in 1usize..7,
        threads in 1usize..3,
        rpt_tile in prop::sample::select(vec![(4usize, 1usize), (4, 4), (8, 2), (16, 4), (32, 1), (64, 4), (256, 2)]),
        batch_width in prop::sample::select(vec![1usize, 2, 4]),
        col_block in prop::sample::select(vec![0usize, 512, 1024]),
        prefetch in prop::sample::select(vec![0usize, 1024, 8192]),
        hint in prop::sample::select(bitnet_kernels::config::PrefetchHint::ALL.to_vec()),
        seed in any::<u64>(),
    ) {
        let mut g = engine(isa, threads, rpt_tile.0, rpt_tile.1, batch_width, col_block, prefetch);
        g = I2sGemm::new(KernelConfig { prefetch_hint: hint, ..*g.config() }).unwrap();
        let r = check_shape(&g, Shape { rows, cols, tokens }, seed).unwrap();
        prop_assert!(r.pass, "{r:?} with {}", g.config());
        prop_assert_eq!(r.max_abs_err, 0.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Matrices in lanes16 and trits16: the VNNI lane-group kernels (decode, 8/4/2/1-token
    /// tiles, task row ranges that start and end inside a group, trits16 rows whose last line
    /// holds 1–4 digits), and every other ISA through the per-task repack, all bit-identical in
    /// i32 and f32 to the reference on the original row-major matrix.
    #[test]
    fn lane_layouts_match_reference_on_every_isa(
        isa in isa_strategy(),
        layout in prop::sample::select(vec![TernaryLayout::Lanes16, TernaryLayout::Trits16]),
        groups in 1usize..6,
        cols in 1usize..1100,
        tokens in 1usize..20,
        threads in 1usize..3,
        rows_per_task in prop::sample::select(vec![4usize, 8, 16, 32, 64]),
        prefetch in prop::sample::select(vec![0usize, 1024, 8192]),
        hint in prop::sample::select(bitnet_kernels::config::PrefetchHint::ALL.to_vec()),
        seed in any::<u64>(),
    ) {
        let rows = 16 * groups;
        let mut g = engine(isa, threads, rows_per_task, 1, 4, 0, prefetch);
        g = I2sGemm::new(KernelConfig { prefetch_hint: hint, ..*g.config() }).unwrap();
        let m = random_matrix(rows, cols, seed).unwrap();
        let lanes = relayout(&m.view(), layout).unwrap();
        let x = random_activations(tokens, cols, seed ^ 1);
        let acts = QuantizedActivations::quantize(&x, tokens, cols).unwrap();
        prop_assert_eq!(
            g.dot_i32(&lanes.view(), &acts).unwrap(),
            i2s_reference::dot_i32(&m.view(), &acts),
            "{} {}", g.config(), layout
        );
        prop_assert_eq!(
            g.gemm(&lanes.view(), &acts).unwrap(),
            i2s_reference::gemm_f32(&m.view(), &acts),
            "{} {}", g.config(), layout
        );
    }
}

/// One token over lanes16 and trits16 on every ISA (the VNNI decodes write whole groups straight
/// to their rows, partial ones through a buffer): task row ranges on and off group
/// boundaries, one and two threads, widths with and without a partial line pair (lanes16) or a
/// partial last line (trits16: 1000 and 6912 columns), bit-identical in i32 and f32.
#[test]
fn lane_layout_decode_matches_reference_for_every_task_split() {
    let shapes = [(1usize, 128usize), (5, 2560), (7, 1000), (3, 6912)];
    for (isa, layout) in Isa::supported()
        .into_iter()
        .flat_map(|isa| [(isa, TernaryLayout::Lanes16), (isa, TernaryLayout::Trits16)])
    {
        for (groups, cols) in shapes {
            let rows = 16 * groups;
            let m = random_matrix(rows, cols, 11 + cols as u64).unwrap();
            let lanes = relayout(&m.view(), layout).unwrap();
            let x = random_activations(1, cols, 5);
            let acts = QuantizedActivations::quantize(&x, 1, cols).unwrap();
            let dots = i2s_reference::dot_i32(&m.view(), &acts);
            let ys = i2s_reference::gemm_f32(&m.view(), &acts);
            for rows_per_task in [4usize, 8, 16, 32, 64] {
                for threads in [1usize, 2] {
                    let g = engine(isa, threads, rows_per_task, 1, 4, 0, 4096);
                    let what = format!("{} {layout} rows {rows} cols {cols}", g.config());
                    assert_eq!(g.dot_i32(&lanes.view(), &acts).unwrap(), dots, "{what}");
                    assert_eq!(g.gemm(&lanes.view(), &acts).unwrap(), ys, "{what}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Prompt batches on AMX tiles: ragged rows (partial 32-row panels), columns (zero-padded
    /// tile steps) and tokens (partial 16-token tiles), bit-identical to the reference. On a CPU
    /// without AMX-INT8 the configuration is refused instead (checked below), so there is nothing
    /// to run.
    #[test]
    fn amx_matches_reference_on_random_shapes(
        rows in 1usize..100,
        cols in 1usize..1100,
        tokens in 16usize..70,
        threads in 1usize..3,
        rows_per_task in prop::sample::select(vec![4usize, 32, 64, 256]),
        seed in any::<u64>(),
    ) {
        if bitnet_kernels::cpu::amx_int8_usable() {
            let base = engine(Isa::Avx512Vnni, threads, rows_per_task, 1, 1, 0, 0);
            let g = I2sGemm::new(KernelConfig { amx: true, ..*base.config() }).unwrap();
            prop_assert_eq!(g.batch_kernel_id(), Some("i2s_gemm_amx"));
            let r = check_shape(&g, Shape { rows, cols, tokens }, seed).unwrap();
            prop_assert!(r.pass, "{r:?} with {}", g.config());
            prop_assert_eq!(r.max_abs_err, 0.0);
            // The same rows rounded up to whole 16-row groups, in lanes16 (AMX unpacks lane
            // groups itself) and trits16 (whose batches stay on the VNNI kernel).
            let m = random_matrix(rows.div_ceil(16) * 16, cols, seed).unwrap();
            let x = random_activations(tokens, cols, seed ^ 1);
            let acts = QuantizedActivations::quantize(&x, tokens, cols).unwrap();
            for layout in [TernaryLayout::Lanes16, TernaryLayout::Trits16] {
                let lanes = relayout(&m.view(), layout).unwrap();
                prop_assert_eq!(
                    g.dot_i32(&lanes.view(), &acts).unwrap(),
                    i2s_reference::dot_i32(&m.view(), &acts),
                    "{}", layout
                );
            }
        }
    }
}

#[test]
fn amx_is_refused_where_the_cpu_has_none_and_offered_where_it_has() {
    // Without naming the ISA: a host without AVX-512 VNNI must refuse `amx`, not the ISA.
    let with_amx = KernelConfig::default().with_params("amx=true");
    if bitnet_kernels::cpu::amx_int8_usable() {
        assert!(with_amx.is_ok());
        assert!(
            KernelConfig::default().amx,
            "AMX is the default where usable"
        );
    } else {
        let err = with_amx.unwrap_err().to_string();
        assert!(err.contains("amx"), "{err}");
        assert!(!KernelConfig::default().amx);
        eprintln!("no AMX-INT8 on this host: the AMX kernel was not run");
    }
}

#[test]
fn every_tile_configuration_passes_the_guard_shapes() {
    for isa in Isa::supported() {
        for row_tile in [1, 2, 4] {
            for batch_width in [1, 2, 4] {
                for col_block in [0, 512, 1024, 2048, 4096] {
                    let g = engine(isa, 2, 8, row_tile, batch_width, col_block, 8192);
                    let report = crossval(&g, GUARD_SHAPES, 42).unwrap();
                    assert!(report.passed(), "{report:?}");
                    if isa == Isa::Avx512Vnni && bitnet_kernels::cpu::amx_int8_usable() {
                        let g = I2sGemm::new(KernelConfig {
                            amx: true,
                            ..*g.config()
                        })
                        .unwrap();
                        let report = crossval(&g, GUARD_SHAPES, 42).unwrap();
                        assert!(report.passed(), "{report:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn sampled_configurations_of_the_space_pass() {
    let configs = ParamSpace::for_host().configs();
    assert!(!configs.is_empty());
    // Every 881st configuration (a prime, so no parameter's period aliases it): a spread over
    // all parameters without running thousands.
    for cfg in configs.iter().step_by(881) {
        let g = I2sGemm::new(*cfg).unwrap();
        let report = crossval(&g, &GUARD_SHAPES[..6], 7).unwrap();
        assert!(report.passed(), "{cfg}: {report:?}");
    }
}

/// Flipping any single bit of a weight's code must change the output, and every kernel must see
/// exactly the change the reference sees.
#[test]
fn every_packed_bit_is_read() {
    let (rows, cols) = (6, 300);
    let base = random_matrix(rows, cols, 5).unwrap();
    // Activations with |q| ≥ 1 everywhere, so every weight contributes.
    let x: Vec<f32> = (0..cols)
        .map(|j| {
            if j % 3 == 0 {
                -0.5 - (j as f32) / 600.0
            } else {
                0.25 + (j as f32) / 400.0
            }
        })
        .collect();
    let acts = QuantizedActivations::quantize(&x, 1, cols).unwrap();
    assert!(acts.token(0)[..cols].iter().all(|&q| q != 0));
    let engines: Vec<I2sGemm> = Isa::supported()
        .into_iter()
        .map(|isa| engine(isa, 1, 4, 4, 1, 0, 0))
        .collect();
    let row_bytes = base.view().row_bytes();
    let before = i2s_reference::dot_i32(&base.view(), &acts);
    let mut flips = 0;
    for r in 0..rows {
        for byte in 0..row_bytes {
            let block = byte / 32;
            for bit in 0..8u32 {
                let j = block * 128 + (3 - (bit / 2) as usize) * 32 + byte % 32;
                if j >= cols {
                    continue; // row padding: not a weight
                }
                let mut m = base.clone();
                m.flip_bit(r * row_bytes + byte, bit);
                let want = i2s_reference::dot_i32(&m.view(), &acts);
                assert_ne!(
                    want[r], before[r],
                    "reference blind to row {r} byte {byte} bit {bit}"
                );
                for g in &engines {
                    assert_eq!(
                        g.dot_i32(&m.view(), &acts).unwrap(),
                        want,
                        "{} row {r} byte {byte} bit {bit}",
                        g.kernel_id()
                    );
                }
                flips += 1;
            }
        }
    }
    assert_eq!(flips, rows * cols * 2);
}

/// A row long enough that 256·Σ code·q passes 2³¹ (40960 columns of weight +1 against q = 127):
/// the trits16 decode folds its sums every 1024 lines and stays exact.
#[test]
fn trits16_decode_is_exact_on_a_long_row_of_extremes() {
    let (rows, cols) = (16, 40960);
    let m = I2sMatrix::from_ternary(&vec![1i8; rows * cols], rows, cols, 1.0).unwrap();
    let trits = relayout(&m.view(), TernaryLayout::Trits16).unwrap();
    let acts = QuantizedActivations::quantize(&vec![1.0f32; cols], 1, cols).unwrap();
    let want = i2s_reference::dot_i32(&m.view(), &acts);
    // Σ w·q; the kernels sum code·q = (w + 1)·q, twice that, before subtracting Σq.
    assert_eq!(want[0], 127 * cols as i32);
    for isa in Isa::supported() {
        let g = engine(isa, 2, 16, 1, 1, 0, 4096);
        assert_eq!(
            g.dot_i32(&trits.view(), &acts).unwrap(),
            want,
            "{}",
            g.config()
        );
    }
}

/// One 16-row group of 128 columns in `layout`, each of its bits flipped in turn: every engine
/// reads each flipped matrix as the reference does. Returns the flips and how many of them
/// changed the reference's result.
fn flip_every_bit_of_a_group(layout: TernaryLayout) -> (usize, usize) {
    let (rows, cols) = (16, 128);
    let base = relayout(&random_matrix(rows, cols, 9).unwrap().view(), layout).unwrap();
    let x: Vec<f32> = (0..cols)
        .map(|j| {
            if j % 2 == 0 {
                -0.6
            } else {
                0.3 + (j as f32) / 300.0
            }
        })
        .collect();
    let acts = QuantizedActivations::quantize(&x, 1, cols).unwrap();
    assert!(acts.token(0)[..cols].iter().all(|&q| q != 0));
    let engines: Vec<I2sGemm> = Isa::supported()
        .into_iter()
        .map(|isa| engine(isa, 1, 16, 1, 1, 0, 0))
        .collect();
    let before = i2s_reference::dot_i32(&base.view(), &acts);
    let (mut flips, mut seen) = (0, 0);
    for byte in 0..base.view().data().len() {
        for bit in 0..8u32 {
            let mut m = base.clone();
            m.flip_bit(byte, bit);
            let want = i2s_reference::dot_i32(&m.view(), &acts);
            flips += 1;
            seen += usize::from(want != before);
            for g in &engines {
                assert_eq!(
                    g.dot_i32(&m.view(), &acts).unwrap(),
                    want,
                    "{layout} {} byte {byte} bit {bit}",
                    g.kernel_id()
                );
            }
        }
    }
    (flips, seen)
}

/// The same for the lanes16 layout: every bit of a 16-row group is read by every kernel.
#[test]
fn every_packed_bit_of_a_lane_group_is_read() {
    let (flips, seen) = flip_every_bit_of_a_group(TernaryLayout::Lanes16);
    assert_eq!(
        (flips, seen),
        (16 * 128 * 2, 16 * 128 * 2),
        "the reference is blind to some"
    );
}

/// Every bit of a trits16 group, flipped, is read the same by every kernel as by the reference;
/// a flipped byte may decode to the same five codes (256 bytes for 243 code patterns: flipping
/// bit 0 often moves q within one pattern's range), but most change the result (87 % here).
#[test]
fn every_packed_bit_of_a_trits16_group_is_read_alike() {
    let (flips, seen) = flip_every_bit_of_a_group(TernaryLayout::Trits16);
    assert_eq!(flips, 7 * 64 * 8, "seven lines of 64 bytes");
    assert!(
        seen * 4 >= flips * 3,
        "{seen} of {flips} flips changed the result"
    );
}

#[test]
fn forced_scalar_runs_the_reference_kernel() {
    let g = I2sGemm::new(
        KernelConfig::default()
            .with_params("isa=scalar,threads=1")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(g.isa(), Isa::Scalar);
    assert_eq!(g.kernel_id(), "i2s_gemv_scalar");
    assert!(crossval(&g, GUARD_SHAPES, 1).unwrap().passed());
}

#[test]
fn crossval_reports_a_broken_result() {
    let want = [5, -3];
    let r = bitnet_kernels::crossval::compare(
        "k",
        Shape {
            rows: 2,
            cols: 1,
            tokens: 1,
        },
        0,
        &want,
        &[5, -2],
        &[1.0, 2.0],
        &[1.0, 2.0001],
    );
    assert!(!r.pass);
    assert_eq!(r.i32_mismatches, 1);
    assert!(r.max_rel_err > 4e-5 && r.nmse > 0.0);
    let nan = bitnet_kernels::crossval::compare(
        "k",
        Shape {
            rows: 1,
            cols: 1,
            tokens: 1,
        },
        0,
        &[1],
        &[1],
        &[1.0],
        &[f32::NAN],
    );
    assert!(!nan.pass);
}
