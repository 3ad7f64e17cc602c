//! Parity with an independent implementation: `tests/python/ref_forward.py` (numpy, reading the
//! GGUF through the `gguf` PyPI package) must agree with our logits on every position (cosine
//! ≥ 0.9999) and produce the same 32 greedy tokens. Needs `scripts/setup.sh --test` (the venv).

use std::path::PathBuf;
use std::process::Command;

use bitnet_kernels::cpu::KvCacheType;
use bitnet_kernels::model::forward::greedy;
use bitnet_kernels::model::model_crossval::{compare, MIN_COSINE};
use bitnet_kernels::model::synthetic_model::{write_preset, write_preset_with, FileFormats};
use bitnet_kernels::model::{Architecture, BitnetModel, Preset, Session};
use bitnet_kernels::{I2sGemm, KernelConfig};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    schema: String,
    prompt: Vec<u32>,
    generated: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let py = root.join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup.sh --test first",
        py.display()
    );
    py
}

#[test]
fn rust_forward_agrees_with_numpy_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_preset(&path, Preset::Tiny, 11).unwrap();
    assert_numpy_parity(&path, KvCacheType::F32);
}

/// An F16 KV cache on both sides: numpy rounds each key and value to float16 as it caches them.
#[test]
fn an_f16_kv_cache_agrees_with_numpy_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_preset(&path, Preset::Tiny, 11).unwrap();
    assert_numpy_parity(&path, KvCacheType::F16);
}

/// llama.cpp's architecture name `bitnet` (SiLU gate), computed by the numpy reference too.
#[test]
fn the_llama_cpp_architecture_agrees_with_numpy_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-bitnet.gguf");
    write_preset_with(
        &path,
        Preset::Tiny,
        11,
        FileFormats::default(),
        Architecture::Bitnet,
    )
    .unwrap();
    assert_numpy_parity(&path, KvCacheType::F32);
}

fn assert_numpy_parity(path: &std::path::Path, kv: KvCacheType) {
    let prompt = [5u32, 77, 300, 12, 481];
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/python/ref_forward.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(path)
        .args(["--prompt", "5,77,300,12,481", "--steps", "32", "--out", "-"])
        .args(["--kv-cache", kv.name()])
        .output()
        .expect("run ref_forward.py");
    assert!(
        out.status.success(),
        "ref_forward.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: Reference = serde_json::from_slice(&out.stdout).expect("reference JSON");
    assert_eq!(reference.schema, "bitnet-perfd/ref-forward/v1");
    assert_eq!(reference.prompt, prompt);

    let model = BitnetModel::load(path).unwrap();
    let engine = I2sGemm::new(KernelConfig::default()).unwrap();
    let mut session = Session::new(&model, &engine, 64).unwrap().with_kv_cache(kv);
    let (tokens, logits) = greedy(&mut session, &prompt, 32).unwrap();
    let r = compare(&logits, &reference.logits, tokens, reference.generated);
    assert_eq!(r.positions, prompt.len() + 31);
    assert!(r.min_cosine >= MIN_COSINE, "cosine {}", r.min_cosine);
    assert_eq!(r.tokens, r.reference_tokens);
    assert!(r.pass, "{r:?}");
    eprintln!(
        "numpy parity ({kv} cache): min cosine {:.9}, max |Δlogit| {:.2e}, tokens {:?}",
        r.min_cosine, r.max_abs_diff, r.tokens
    );
}
