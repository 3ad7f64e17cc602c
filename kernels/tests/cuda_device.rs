//! The CUDA backend on a real device against the CPU scalar reference. Without a driver
//! (libcuda.so.1) every device test prints one line saying so and returns; the absent driver is
//! itself checked to be a clear error, not a panic.
#![cfg(feature = "cuda")]

use bitnet_kernels::cuda::i2s::{crossval, cuda_guard_shapes};
use bitnet_kernels::cuda::model_crossval::crossval_cuda_model;
use bitnet_kernels::cuda::{
    bandwidth, driver_present, CudaError, CudaLaunchParams, CudaModel, CudaRuntime, CudaSession,
};
use bitnet_kernels::format::embedding::EmbeddingFormat;
use bitnet_kernels::model::synthetic_model::{write_model, write_preset, write_preset_as};
use bitnet_kernels::model::{BitnetModel, ModelError, Preset};
use bitnet_kernels::I2sGemm;

fn device(params: CudaLaunchParams) -> Option<CudaRuntime> {
    if !driver_present() {
        eprintln!("SKIPPED: no CUDA driver (libcuda.so.1 not found)");
        return None;
    }
    Some(CudaRuntime::open(0, params).expect("open GPU 0 and compile the kernels"))
}

fn tiny(dir: &tempfile::TempDir) -> BitnetModel {
    let path = dir.path().join("tiny.gguf");
    write_preset(&path, Preset::Tiny, 7).unwrap();
    BitnetModel::load(&path).unwrap()
}

#[test]
fn without_a_driver_opening_is_a_clear_error() {
    if driver_present() {
        eprintln!("SKIPPED: a CUDA driver is present (this checks the error without one)");
        return;
    }
    let err = CudaRuntime::open(0, CudaLaunchParams::default()).expect_err("no driver");
    assert!(matches!(err, CudaError::NoDriver));
    assert_eq!(err.to_string(), "no CUDA driver (libcuda.so.1 not found)");
}

#[test]
fn i2s_products_match_the_reference_bit_for_bit_at_every_launch_shape() {
    let Some(mut rt) = device(CudaLaunchParams::default()) else {
        return;
    };
    // Every block size too: the launch-parameter sweep of scripts/gpu-check.sh times them all,
    // and the rows a block covers (gemv_threads / lanes_per_row) change with it.
    for gemv_threads in [128, 256, 512] {
        for lanes_per_row in [8, 16, 32] {
            for prefill_tile in [1, 4, 8] {
                for dependent_launch in [false, true] {
                    rt.set_params(CudaLaunchParams {
                        gemv_threads,
                        lanes_per_row,
                        prefill_tile,
                        dependent_launch,
                        ..CudaLaunchParams::default()
                    });
                    let checks = crossval(&rt, &cuda_guard_shapes(), 0xC0FFEE).unwrap();
                    for c in &checks {
                        let shape = format!(
                            "block {gemv_threads} lanes {lanes_per_row} tile {prefill_tile} \
                             pdl {dependent_launch}"
                        );
                        assert!(c.pass, "{shape}: {c:?}");
                        assert_eq!(c.i32_mismatches, 0, "{shape}");
                        assert_eq!(
                            c.max_abs_err, 0.0,
                            "same epilogue, same bits: {shape}: {c:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn tiny_model_matches_the_cpu_reference_with_and_without_graph_fusion_and_dependent_launch() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(&dir);
    let reference = I2sGemm::reference().unwrap();
    let Some(mut rt) = device(CudaLaunchParams::default()) else {
        return;
    };
    let dm = CudaModel::upload(&rt, &model).unwrap();
    for graph in [true, false] {
        for fused in [true, false] {
            for dependent_launch in [true, false] {
                rt.set_params(CudaLaunchParams {
                    graph,
                    fused,
                    dependent_launch,
                    ..CudaLaunchParams::default()
                });
                let r =
                    crossval_cuda_model(&rt, &dm, &model, &reference, &[1, 2, 3, 4], 16).unwrap();
                let how = format!("graph {graph} fused {fused} pdl {dependent_launch}");
                assert!(r.pass, "{how}: {r:?}");
                assert_eq!(r.tokens, r.reference_tokens, "{how}");
            }
        }
    }
}

/// 16 layers of width 512: deep enough that f32-vs-f64 attention decorrelates the logits (see
/// model_forward.rs), so a match here means the device computes the reference's numbers.
#[test]
fn deep_model_matches_the_cpu_reference() {
    let Some(mut rt) = device(CudaLaunchParams::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.gguf");
    let hp = bitnet_kernels::model::synthetic_model::deep_test_hparams();
    write_model(&path, &hp, "deep", 3).unwrap();
    let model = BitnetModel::load(&path).unwrap();
    let dm = CudaModel::upload(&rt, &model).unwrap();
    let reference = I2sGemm::reference().unwrap();
    for fused in [true, false] {
        for dependent_launch in [true, false] {
            rt.set_params(CudaLaunchParams {
                fused,
                dependent_launch,
                ..CudaLaunchParams::default()
            });
            let r = crossval_cuda_model(&rt, &dm, &model, &reference, &[1, 2, 3], 12).unwrap();
            assert!(r.pass, "fused {fused} pdl {dependent_launch}: {r:?}");
        }
    }
}

/// Token tiles of the batched products, and (fused) the one-token kernels that normalise their
/// own input, compute the same bits as feeding the tokens one by one.
#[test]
fn a_batched_prefill_equals_feeding_tokens_one_at_a_time() {
    let Some(mut rt) = device(CudaLaunchParams::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(&dir);
    let dm = CudaModel::upload(&rt, &model).unwrap();
    let tokens = [5u32, 9, 2, 7, 1, 8, 3, 4, 6, 10, 11];
    let vocab = model.hparams().vocab;
    for (fused, dependent_launch) in [(true, false), (false, false), (false, true)] {
        rt.set_params(CudaLaunchParams {
            fused,
            dependent_launch,
            ..CudaLaunchParams::default()
        });
        let mut batch = CudaSession::new(&rt, &dm, 16, tokens.len()).unwrap();
        let all = batch.forward(&tokens, true).unwrap();
        let mut single = CudaSession::new(&rt, &dm, 16, 1).unwrap();
        for (t, &tok) in tokens.iter().enumerate() {
            let one = single.forward(&[tok], false).unwrap();
            assert_eq!(
                one,
                all[t * vocab..(t + 1) * vocab],
                "fused {fused} pdl {dependent_launch}, token {t}"
            );
        }
    }
}

#[test]
fn session_limits_are_errors_not_faults() {
    let Some(rt) = device(CudaLaunchParams::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(&dir);
    let dm = CudaModel::upload(&rt, &model).unwrap();
    let mut s = CudaSession::new(&rt, &dm, 4, 4).unwrap();
    let vocab = model.hparams().vocab as u32;
    assert!(matches!(
        s.forward(&[vocab], false),
        Err(CudaError::Model(ModelError::Token { .. }))
    ));
    s.prefill(&[1, 2, 3]).unwrap();
    s.decode_step().unwrap();
    assert!(matches!(
        s.decode_step(),
        Err(CudaError::Model(ModelError::Context { .. }))
    ));
    let generated = s.generated(2).unwrap();
    assert!(generated.iter().all(|&t| t < vocab), "{generated:?}");
    assert!(CudaSession::new(&rt, &dm, model.hparams().context + 1, 1).is_err());
}

#[test]
fn embeddings_the_lm_head_cannot_read_are_refused() {
    let Some(rt) = device(CudaLaunchParams::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q8.gguf");
    write_preset_as(&path, Preset::Tiny, 7, EmbeddingFormat::Q8_0).unwrap();
    let model = BitnetModel::load(&path).unwrap();
    let err = CudaModel::upload(&rt, &model).expect_err("Q8_0 is not read on the GPU");
    assert!(err.to_string().contains("q8_0"), "{err}");
}

#[test]
fn device_bandwidth_is_measured() {
    let Some(rt) = device(CudaLaunchParams::default()) else {
        return;
    };
    let (copy, read) = bandwidth::measure(&rt, 256 << 20, 3).unwrap();
    assert_eq!(copy.bytes_per_second.len(), 3);
    assert!(copy.best() > 1e9 && read.best() > 1e9, "{copy:?} {read:?}");
}
