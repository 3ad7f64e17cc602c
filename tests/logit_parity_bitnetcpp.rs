//! Logit parity with bitnet.cpp on its reference fixtures (`../shared/fixtures/bitnetcpp/`:
//! I2_S files from its own quantiser, its logits in prefill and decode paths and its greedy
//! continuations), in perfd's exact numerics and in ggml's F16 rounding points.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/bitnetcpp")
}

fn against(numerics: &str) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args([
            "bench",
            "--crossval",
            "--json",
            "--numerics",
            numerics,
            "--against",
        ])
        .arg(fixtures())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "{numerics}: {err}\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn every_fixture_agrees_in_both_numerics() {
    for numerics in ["exact", "ggml"] {
        let r = against(numerics);
        let files = r["files"].as_array().unwrap();
        // 2 models x 2 sequences x 2 modes x (prompt, gen).
        assert_eq!(files.len(), 16, "{numerics}");
        for f in files {
            assert_eq!(f["pass"], true, "{numerics}: {f}");
            assert!(
                f["min_cosine"].as_f64().unwrap() >= 0.999,
                "{numerics}: {f}"
            );
            assert!(
                f["mean_top5_overlap"].as_f64().unwrap() >= 0.9,
                "{numerics}: {f}"
            );
        }
    }
}

#[test]
fn ggml_numerics_match_bitnetcpp_to_float_rounding_until_an_int8_flip() {
    let r = against("ggml");
    let files = r["files"].as_array().unwrap();
    // The tiny model's seq16 prompt rows see no int8 rounding flip: every logit agrees to 1e-3
    // (measured 1e-4 on logits of standard deviation ~17), in both evaluation paths.
    for f in files
        .iter()
        .filter(|f| f["model"] == "tiny" && f["sequence"] == "seq16" && f["part"] == "prompt")
    {
        assert!(f["first_divergence"].is_null(), "{f}");
        assert!(f["max_abs_diff"].as_f64().unwrap() < 1e-3, "{f}");
    }
    // perfd's exact numerics differ by design (f32 KV cache, f64 attention): O(1) on every file.
    let exact = against("exact");
    assert!(exact["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["max_abs_diff"].as_f64().unwrap() > 1e-2));
}

#[test]
fn model_logits_writes_the_fixture_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.f32");
    let model = fixtures().join("tiny-s1001.i2_s.gguf");
    let o = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args([
            "model",
            "logits",
            "--tokens",
            "1,2,3",
            "--mode",
            "decode",
            "--numerics",
            "ggml",
            "--model",
        ])
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // [3 tokens][512 vocab] f32; compare with bitnet.cpp's decode-path rows for tokens 1,2,3.
    let ours = std::fs::read(&out).unwrap();
    assert_eq!(ours.len(), 3 * 512 * 4);
    let theirs = std::fs::read(fixtures().join("tiny-s1001.seq16.seq.logits.f32")).unwrap();
    let f = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let (a, b) = (f(&ours), f(&theirs[..3 * 512 * 4]));
    let max = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-3, "max |d| {max}");
    let bad = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args(["model", "logits", "--tokens", "1,x", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(64));
}
