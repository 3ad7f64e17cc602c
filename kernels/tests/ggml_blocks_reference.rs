//! perfd's readers of llama.cpp's block formats against the `gguf` PyPI package's independent
//! numpy implementation (`tests/python/quant_reference.py`): every dequantised value bit-equal,
//! and the TQ encoders byte-equal to gguf's quantiser. Needs `scripts/setup.sh --test` (the venv).

use std::path::{Path, PathBuf};
use std::process::Command;

use bitnet_kernels::format::ggml_blocks::*;

fn reference_dir() -> tempfile::TempDir {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let py = root.join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup.sh --test",
        py.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(py)
        .arg(root.join("tests/python/quant_reference.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn f32s(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn assert_bit_equal(what: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: value count");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "{what}: value {i}: ours {a}, gguf {b}"
        );
    }
}

#[test]
fn every_block_format_decodes_like_the_gguf_package() {
    let dir = reference_dir();
    let d = dir.path();
    let blocks = |name: &str| std::fs::read(d.join(format!("{name}.blocks"))).unwrap();
    let expected = |name: &str| f32s(&d.join(format!("{name}.f32")));

    let mut q8 = Vec::new();
    blocks("Q8_0")
        .chunks_exact(Q8_0_BLOCK_BYTES)
        .for_each(|b| q8_0_block(b, &mut q8));
    assert_bit_equal("Q8_0", &q8, &expected("Q8_0"));

    let mut q6 = Vec::new();
    blocks("Q6_K")
        .chunks_exact(Q6_K_BLOCK_BYTES)
        .for_each(|b| q6_k_block(b, &mut q6));
    assert_bit_equal("Q6_K", &q6, &expected("Q6_K"));

    let bf: Vec<f32> = blocks("BF16").chunks_exact(2).map(bf16).collect();
    assert_bit_equal("BF16", &bf, &expected("BF16"));

    for (name, size, decode) in [
        (
            "TQ1_0",
            TQ1_0_BLOCK_BYTES,
            tq1_0_block as fn(&[u8]) -> TernaryBlock,
        ),
        ("TQ2_0", TQ2_0_BLOCK_BYTES, tq2_0_block),
    ] {
        let values: Vec<f32> = blocks(name)
            .chunks_exact(size)
            .flat_map(|b| {
                let (t, d) = decode(b);
                t.map(|v| d * f32::from(v))
            })
            .collect();
        assert_bit_equal(name, &values, &expected(name));
    }
}

#[test]
fn ternary_encoders_match_the_gguf_quantiser() {
    let dir = reference_dir();
    let d = dir.path();
    for (name, encode) in [
        (
            "TQ1_0",
            (|t: &[i8], s: f32| encode_tq1_0(t, s).to_vec()) as fn(&[i8], f32) -> Vec<u8>,
        ),
        ("TQ2_0", |t: &[i8], s: f32| encode_tq2_0(t, s).to_vec()),
    ] {
        let ternary: Vec<i8> = std::fs::read(d.join(format!("{name}.ternary")))
            .unwrap()
            .into_iter()
            .map(|b| b as i8)
            .collect();
        let scale = f32s(&d.join(format!("{name}.scale")))[0];
        let ours: Vec<u8> = ternary
            .chunks_exact(QK_K)
            .flat_map(|t| encode(t, scale))
            .collect();
        let theirs = std::fs::read(d.join(format!("{name}.quantized"))).unwrap();
        assert_eq!(
            ours, theirs,
            "{name}: encoded bytes differ from gguf's quantiser"
        );
    }
}
