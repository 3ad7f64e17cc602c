//! Models whose ternary weights are llama.cpp's TQ1_0 / TQ2_0 and whose token embeddings are
//! BF16, Q8_0 or Q6_K load through the validating reader and compute what the same weights give
//! in perfd's own layout (I2_S, F16). The TQ tensors are repacked to I2_S and a BF16 embedding
//! converted to F16 at load, so those logits must be bit-identical to a file written directly in
//! I2_S / F16. Q8_0 and Q6_K embeddings are read as they are (their own lookup and lm_head
//! kernels): their scales are chosen so every value is exactly an F16, so the F16 twin holds the
//! same weights and only the lm_head's summation order differs (cosine ≥ 0.999999 and the same
//! argmax at every position); the fast kernels must also pass the model cross-validation against
//! the scalar reference on that file. The decoders themselves are checked against the `gguf`
//! package in `ggml_blocks_reference.rs`.

use bitnet_kernels::cpu::KvCacheType;
use bitnet_kernels::format::ggml_blocks::*;
use bitnet_kernels::format::i2s::{pack_gguf, unpack_gguf};
use bitnet_kernels::format::model_layout::{LmHeadLayout, ModelLayout};
use bitnet_kernels::format::ternary::TernaryFormat;
use bitnet_kernels::gguf::{write_gguf, GgmlType, GgufFile, Placement, TensorSpec};
use bitnet_kernels::model::forward::argmax;
use bitnet_kernels::model::model_crossval::{cosine, crossval_model};
use bitnet_kernels::model::synthetic_model::{write_model, write_model_as, FileFormats};
use bitnet_kernels::model::{BitnetHparams, BitnetModel, ModelError, Session};
use bitnet_kernels::{I2sGemm, KernelConfig};
use half::f16;
use rand::{Rng, SeedableRng};

/// A small shape whose every row holds whole 256-weight blocks (the TQ formats need that).
fn hparams() -> BitnetHparams {
    BitnetHparams {
        layers: 2,
        hidden: 256,
        ffn: 768,
        heads: 4,
        kv_heads: 2,
        vocab: 512,
        context: 64,
        rms_eps: 1e-5,
        rope_base: 500_000.0,
        arch: bitnet_kernels::model::Architecture::BitnetB158,
    }
}

/// How a variant stores its ternary tensors.
#[derive(Clone, Copy)]
enum Ternary {
    I2s,
    Tq1,
    Tq2,
}

/// Rewrites `base` with the ternary tensors in `ternary` (their scale rounded to F16, which is
/// what the TQ formats store) and the token embedding given as (type, bytes).
fn write_variant(
    base: &GgufFile,
    out: &std::path::Path,
    ternary: Ternary,
    embedding: &(GgmlType, Vec<u8>),
) {
    let mut specs = Vec::new();
    let mut data: Vec<Vec<u8>> = Vec::new();
    for t in base.tensors() {
        let bytes = base.data(t);
        let (ty, body) = match (t.ggml_type, t.name.as_str()) {
            (_, "token_embd.weight") => (embedding.0, embedding.1.clone()),
            (GgmlType::I2S, _) => {
                let (cols, rows) = (t.dims[0] as usize, t.dims[1] as usize);
                let (values, scale) = unpack_gguf(bytes, rows, cols).unwrap();
                let scale = f16::from_f32(scale).to_f32();
                match ternary {
                    Ternary::I2s => (
                        GgmlType::I2S,
                        pack_gguf(&values, rows, cols, scale).unwrap(),
                    ),
                    Ternary::Tq1 => (
                        GgmlType::Tq1_0,
                        values
                            .chunks_exact(QK_K)
                            .flat_map(|b| encode_tq1_0(b, scale))
                            .collect(),
                    ),
                    Ternary::Tq2 => (
                        GgmlType::Tq2_0,
                        values
                            .chunks_exact(QK_K)
                            .flat_map(|b| encode_tq2_0(b, scale))
                            .collect(),
                    ),
                }
            }
            _ => (t.ggml_type, bytes.to_vec()),
        };
        specs.push(TensorSpec {
            name: t.name.clone(),
            dims: t.dims.clone(),
            ggml_type: ty,
        });
        data.push(body);
    }
    write_gguf(out, base.metadata(), &specs, |i, _, w| {
        w.write_all(&data[i])
    })
    .unwrap();
}

fn logits(path: &std::path::Path) -> Vec<f32> {
    let model = BitnetModel::load(path).unwrap();
    let engine = I2sGemm::new(KernelConfig::default()).unwrap();
    let mut s = Session::new(&model, &engine, 8).unwrap();
    s.forward(&[1, 7, 300, 42, 511], true).unwrap()
}

/// Random embedding blocks of `ty` and the F16 bytes of their values. Q8_0 and Q6_K scales are
/// powers of two, so every dequantised value is exactly an F16 and the twin holds the same
/// weights.
fn embedding(ty: GgmlType, n: usize, seed: u64) -> ((GgmlType, Vec<u8>), Vec<u8>) {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (block_bytes, block_len) = match ty {
        GgmlType::Q8_0 => (Q8_0_BLOCK_BYTES, 32),
        GgmlType::Q6K => (Q6_K_BLOCK_BYTES, QK_K),
        _ => (2, 1),
    };
    let mut raw = Vec::new();
    let mut values = Vec::new();
    for _ in 0..n / block_len {
        let mut b: Vec<u8> = (0..block_bytes).map(|_| r.random()).collect();
        match ty {
            GgmlType::Q8_0 => {
                let d = 2f32.powi(-r.random_range(6..10));
                b[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                q8_0_block(&b, &mut values);
            }
            GgmlType::Q6K => {
                let at = block_bytes - 2;
                let d = 2f32.powi(-r.random_range(9..12));
                b[at..].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                for sc in &mut b[at - QK_K / 16..at] {
                    let v = 1i8 << r.random_range(0..6);
                    *sc = if r.random() { v } else { -v } as u8;
                }
                q6_k_block(&b, &mut values);
            }
            _ => {
                let v: f32 = r.random_range(-1.5..1.5);
                b = ((v.to_bits() >> 16) as u16).to_le_bytes().to_vec();
                values.push(bf16(&b));
            }
        }
        raw.extend(b);
    }
    let f16_bytes = values
        .iter()
        .flat_map(|&v| {
            let h = f16::from_f32(v);
            assert_eq!(h.to_f32(), v, "{ty}: a test value is not exactly an F16");
            h.to_le_bytes()
        })
        .collect();
    ((ty, raw), f16_bytes)
}

/// The synthetic I2_S/F16 model of [`hparams`] written in `dir`, and its embedding as F16.
fn base_model(dir: &std::path::Path) -> (GgufFile, (GgmlType, Vec<u8>)) {
    let base_path = dir.join("base.gguf");
    write_model(&base_path, &hparams(), "block formats", 7).unwrap();
    let base = GgufFile::open(&base_path).unwrap();
    let f16_embd = (
        GgmlType::F16,
        base.data(base.tensor("token_embd.weight").unwrap())
            .to_vec(),
    );
    (base, f16_embd)
}

#[test]
fn tq_ternaries_and_quantised_embeddings_compute_like_their_i2s_f16_twins() {
    let dir = tempfile::tempdir().unwrap();
    let (base, f16_embd) = base_model(dir.path());
    let n = hparams().vocab * hparams().hidden;
    let write = |name: &str, t: Ternary, e: &(GgmlType, Vec<u8>)| {
        let p = dir.path().join(name);
        write_variant(&base, &p, t, e);
        p
    };
    let reference = logits(&write("ref.gguf", Ternary::I2s, &f16_embd));
    for (name, t) in [("tq1.gguf", Ternary::Tq1), ("tq2.gguf", Ternary::Tq2)] {
        assert_eq!(logits(&write(name, t, &f16_embd)), reference, "{name}");
    }
    for (i, ty) in [GgmlType::Bf16, GgmlType::Q8_0, GgmlType::Q6K]
        .into_iter()
        .enumerate()
    {
        let (quantised, as_f16) = embedding(ty, n, 100 + i as u64);
        let expected = logits(&write("f16.gguf", Ternary::I2s, &(GgmlType::F16, as_f16)));
        let got = logits(&write("q.gguf", Ternary::Tq2, &quantised));
        if ty == GgmlType::Bf16 {
            assert_eq!(got, expected, "{ty} embedding");
            // Converted to F16 at load, it packs like an F16 file's: the same values.
            let layout = ModelLayout {
                lm_head: LmHeadLayout::Packed,
                ..ModelLayout::AS_STORED
            };
            let bf16 = dir.path().join("q.gguf");
            let packed = BitnetModel::load_as(&bf16, Placement::HugePages, layout).unwrap();
            let stored = BitnetModel::load(&bf16).unwrap();
            let (p, s) = (packed.embedding_rows(), stored.embedding_rows());
            assert!(p.name().starts_with("f16-packed"), "{}", p.name());
            assert!((0..hparams().vocab).all(|r| p.row_bytes_of(r) == s.row_bytes_of(r)));
            continue;
        }
        let vocab = hparams().vocab;
        for (pos, (g, e)) in got.chunks(vocab).zip(expected.chunks(vocab)).enumerate() {
            let c = cosine(g, e);
            assert!(c >= 0.999_999, "{ty} embedding, position {pos}: cosine {c}");
            assert_eq!(argmax(g), argmax(e), "{ty} embedding, position {pos}");
        }
        let model = BitnetModel::load(&dir.path().join("q.gguf")).unwrap();
        let fast = I2sGemm::new(KernelConfig::default()).unwrap();
        let crossval = |m: &BitnetModel, what: &str| {
            let r = crossval_model(
                m,
                &fast,
                &I2sGemm::reference().unwrap(),
                KvCacheType::F32,
                &[1, 2, 3],
                16,
            )
            .unwrap();
            assert!(r.pass, "{ty} embedding, {what}: {r:?}");
        };
        crossval(&model, "as stored");
        // Packed, Q8_0 is read as it is and Q6_K regrouped (in place in huge pages, in a copy
        // from a read-only mapping): the same bytes, rows that give the file's back.
        let layout = ModelLayout {
            lm_head: LmHeadLayout::Packed,
            ..ModelLayout::AS_STORED
        };
        for placement in [Placement::Mapped, Placement::HugePages] {
            let asked = BitnetModel::load_as(&dir.path().join("q.gguf"), placement, layout);
            let packed = asked.unwrap();
            let (p, s) = (packed.embedding_rows(), model.embedding_rows());
            let name = if ty == GgmlType::Q6K {
                "q6_k-regrouped"
            } else {
                s.name()
            };
            assert_eq!(p.name(), name, "{placement:?}");
            assert_eq!(p.streamed_bytes(), s.streamed_bytes());
            assert!((0..vocab).all(|r| p.row_bytes_of(r) == s.row_bytes_of(r)));
            assert_eq!(
                packed.embedding_stored_bytes(),
                model.embedding_stored_bytes()
            );
            crossval(&packed, &format!("packed, {placement:?}"));
        }
    }
}

/// `perfd model write --ternary tq2_0|tq1_0` (the synthetic writer) stores the I2_S model's
/// values: its file computes exactly what the I2_S file does with the scale rounded to F16.
#[test]
fn written_tq_files_hold_the_i2s_models_values() {
    let dir = tempfile::tempdir().unwrap();
    let (base, f16_embd) = base_model(dir.path());
    let rounded = dir.path().join("rounded.gguf");
    write_variant(&base, &rounded, Ternary::I2s, &f16_embd);
    let reference = logits(&rounded);
    for (ternary, file_type) in [(TernaryFormat::Tq2_0, 37u32), (TernaryFormat::Tq1_0, 36)] {
        let path = dir.path().join(format!("{ternary}.gguf"));
        let formats = FileFormats {
            ternary,
            ..FileFormats::default()
        };
        write_model_as(&path, &hparams(), "block formats", 7, formats).unwrap();
        let file = GgufFile::open(&path).unwrap();
        for name in ["blk.0.attn_q.weight", "blk.1.ffn_down.weight"] {
            assert_eq!(file.tensor(name).unwrap().ggml_type, ternary.ggml_type());
        }
        assert_eq!(
            file.get("general.file_type"),
            Some(&bitnet_kernels::gguf::MetaValue::U32(file_type))
        );
        assert_eq!(logits(&path), reference, "{ternary}");
    }
    // Rows of 640 weights do not hold whole 256-weight blocks: refused, naming the format.
    let narrow = BitnetHparams {
        ffn: 640,
        ..hparams()
    };
    let formats = FileFormats {
        ternary: TernaryFormat::Tq2_0,
        ..FileFormats::default()
    };
    let err = write_model_as(&dir.path().join("x.gguf"), &narrow, "x", 7, formats).unwrap_err();
    assert!(err.to_string().contains("tq2_0"), "{err}");
}

#[test]
fn tensors_the_kernels_cannot_take_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (base, f16_embd) = base_model(dir.path());
    let path = dir.path().join("tq2.gguf");
    write_variant(&base, &path, Ternary::Tq2, &f16_embd);
    // Give the second block of one tensor another scale.
    let file = GgufFile::open(&path).unwrap();
    let t = file.tensor("blk.0.attn_q.weight").unwrap().clone();
    drop(file);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = t.offset as usize + TQ2_0_BLOCK_BYTES + QK_K / 4;
    bytes[at..at + 2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    match BitnetModel::load(&path) {
        Err(ModelError::BlockFormat { tensor, reason }) => {
            assert_eq!(tensor, "blk.0.attn_q.weight");
            assert!(reason.contains("one scale per tensor"), "{reason}");
        }
        other => panic!("expected a block-format error, got {other:?}"),
    }
}
