//! The tiny synthetic model through writer → reader → forward: prefill equals token-by-token
//! decode, every ISA matches the scalar reference configuration, greedy output is not degenerate.

use bitnet_kernels::config::available_threads;
use bitnet_kernels::cpu::KvCacheType;
use bitnet_kernels::format::model_layout::{LmHeadLayout, ModelLayout};
use bitnet_kernels::format::ternary_layout::TernaryLayout;
use bitnet_kernels::gguf::Placement;
use bitnet_kernels::model::forward::{argmax, greedy};
use bitnet_kernels::model::model_crossval::{crossval_model, MIN_COSINE};
use bitnet_kernels::model::synthetic_model::write_preset;
use bitnet_kernels::model::{BitnetModel, DecodeClock, Numerics, Preset, Session};
use bitnet_kernels::{I2sGemm, Isa, KernelConfig};

fn tiny(dir: &tempfile::TempDir) -> BitnetModel {
    let path = dir.path().join("tiny.gguf");
    write_preset(&path, Preset::Tiny, 7).unwrap();
    BitnetModel::load(&path).unwrap()
}

fn engine(isa: Isa) -> I2sGemm {
    I2sGemm::new(KernelConfig {
        isa: Some(isa),
        threads: available_threads().min(2),
        ..KernelConfig::default()
    })
    .unwrap()
}

#[test]
fn writer_reader_round_trip_keeps_shape_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    let size = write_preset(&path, Preset::Tiny, 7).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    assert!(!dir.path().join("tiny.gguf.partial").exists());
    let m = BitnetModel::load(&path).unwrap();
    assert_eq!(*m.hparams(), Preset::Tiny.hparams());
    assert!(m.metadata_str("general.name").unwrap().contains("tiny"));
    // Same seed, same bytes; another seed, other bytes.
    let again = dir.path().join("again.gguf");
    write_preset(&again, Preset::Tiny, 7).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&again).unwrap()
    );
    write_preset(&again, Preset::Tiny, 8).unwrap();
    assert_ne!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn prefill_equals_token_by_token_decode() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(&dir);
    let e = engine(Isa::best());
    let tokens = [3u32, 141, 59, 265, 35, 89, 7];
    let mut batched = Session::new(&m, &e, 16).unwrap();
    let all = batched.forward(&tokens, true).unwrap();
    let mut stepped = Session::new(&m, &e, 16).unwrap();
    let vocab = m.hparams().vocab;
    for (i, &t) in tokens.iter().enumerate() {
        let l = stepped.decode(t).unwrap();
        // Integer kernels are exact and every other op runs in the same order: identical bits.
        assert_eq!(&all[i * vocab..(i + 1) * vocab], &l[..], "position {i}");
    }
    assert!(all.iter().all(|v| v.is_finite()));
}

/// Ternary projections reordered into lanes16 or trits16 at load (in place in the huge-page copy,
/// into owned copies from a read-only mapping) give every engine the row-major model's logits bit
/// for bit: the integer dot products are exact whatever the order they are read in.
#[test]
fn a_model_in_a_lane_layout_gives_every_engine_the_row_major_logits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_preset(&path, Preset::Tiny, 7).unwrap();
    let row_major =
        BitnetModel::load_as(&path, Placement::HugePages, ModelLayout::AS_STORED).unwrap();
    let tokens = [3u32, 141, 59, 265, 35, 89, 7, 400, 12];
    for (placement, layout) in [Placement::Mapped, Placement::HugePages]
        .into_iter()
        .flat_map(|p| [(p, TernaryLayout::Lanes16), (p, TernaryLayout::Trits16)])
    {
        let lanes = BitnetModel::load_as(&path, placement, ModelLayout::ternary(layout)).unwrap();
        assert_eq!(lanes.weight_layout(), layout);
        if lanes.placement() == Placement::HugePages {
            assert_ne!(lanes.bytes(), row_major.bytes(), "reordered in place");
        }
        for isa in Isa::supported() {
            let e = engine(isa);
            let want = Session::new(&row_major, &e, 16)
                .unwrap()
                .forward(&tokens, true)
                .unwrap();
            let got = Session::new(&lanes, &e, 16)
                .unwrap()
                .forward(&tokens, true)
                .unwrap();
            assert_eq!(want, got, "{isa}, {layout}, {}", placement.name());
            let mut step = Session::new(&lanes, &e, 16).unwrap();
            let vocab = lanes.hparams().vocab;
            let last = tokens
                .iter()
                .map(|&t| step.decode(t).unwrap())
                .last()
                .unwrap();
            assert_eq!(
                &want[(tokens.len() - 1) * vocab..],
                &last[..],
                "{isa}, {layout} decode"
            );
        }
    }
}

/// The lm_head packed at load (in place in the huge-page copy, into an owned copy from a
/// read-only mapping) holds the file's F16 values exactly and streams fewer bytes; every
/// engine's logits keep the as-stored model's argmax at every position and differ by no more
/// than summation order allows (only the lm_head's sums are ordered differently: exceptions are
/// added apart), and the model passes cross-validation against the reference configuration.
#[test]
fn a_packed_lm_head_keeps_the_values_and_the_logits() {
    use bitnet_kernels::model::op_profile::Op;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_preset(&path, Preset::Tiny, 7).unwrap();
    let stored = BitnetModel::load_as(&path, Placement::HugePages, ModelLayout::AS_STORED).unwrap();
    let vocab = stored.hparams().vocab;
    let tokens = [3u32, 141, 59, 265, 35, 89, 7, 400, 12];
    let reference = I2sGemm::reference().unwrap();
    for placement in [Placement::Mapped, Placement::HugePages] {
        let layout = ModelLayout {
            ternary: TernaryLayout::RowMajor,
            lm_head: LmHeadLayout::Packed,
        };
        let packed = BitnetModel::load_as(&path, placement, layout).unwrap();
        let (a, b) = (stored.embedding_rows(), packed.embedding_rows());
        assert!(b.name().starts_with("f16-packed"), "{}", b.name());
        for r in 0..vocab {
            assert_eq!(a.row_bytes_of(r), b.row_bytes_of(r), "row {r}");
        }
        assert!(
            packed.decode_weight_bytes_of(Op::LmHead) < stored.decode_weight_bytes_of(Op::LmHead)
        );
        for isa in Isa::supported() {
            let e = engine(isa);
            let want = Session::new(&stored, &e, 16)
                .unwrap()
                .forward(&tokens, true)
                .unwrap();
            let got = Session::new(&packed, &e, 16)
                .unwrap()
                .forward(&tokens, true)
                .unwrap();
            for (i, (w, g)) in want.chunks(vocab).zip(got.chunks(vocab)).enumerate() {
                assert_eq!(argmax(w), argmax(g), "{isa} position {i}");
                let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
                let worst = w.iter().zip(g).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    worst <= 1e-5 * scale,
                    "{isa} position {i}: {worst} of {scale}"
                );
            }
            let r = crossval_model(&packed, &e, &reference, KvCacheType::F32, &[1, 2, 3, 4], 16)
                .unwrap();
            assert!(r.pass, "{isa}, {}: {r:?}", placement.name());
        }
    }
}

#[test]
fn every_isa_matches_the_reference_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(&dir);
    let reference = I2sGemm::reference().unwrap();
    for isa in Isa::supported() {
        for kv in KvCacheType::ALL {
            let r = crossval_model(&m, &engine(isa), &reference, kv, &[1, 2, 3, 4], 32).unwrap();
            assert!(r.pass, "{isa}, {kv} cache: {r:?}");
            assert!(r.min_cosine >= MIN_COSINE);
            assert_eq!(r.positions, 4 + 31);
        }
    }
}

/// An F16 cache holds each key and value rounded once, in half the bytes per position. Under
/// ggml's numerics, which round keys and values to F16 before storing them anyway, the F16
/// cache must give the f32 cache's logits bit for bit: what is stored and read back is the same.
/// (Under the other numerics the logits move by the rounding, which a synthetic model's random
/// weights amplify through every layer's int8 activations until greedy continuations part; the
/// SIMD and scalar attention over an F16 cache are checked against the f64 definition and
/// against each other in `cpu::attention`.)
#[test]
fn an_f16_kv_cache_halves_the_bytes_and_stores_what_ggml_numerics_round_to() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(&dir);
    for isa in Isa::supported() {
        let e = engine(isa);
        let run = |kv: KvCacheType| {
            let mut s = Session::new(&m, &e, 48)
                .unwrap()
                .with_numerics(Numerics::GgmlF16)
                .with_kv_cache(kv);
            assert_eq!(s.kv_cache(), kv);
            let bytes = s.kv_bytes_read_at(10);
            (bytes, greedy(&mut s, &[3, 1, 4, 1, 5], 24).unwrap())
        };
        let ((b32, l32), (b16, l16)) = (run(KvCacheType::F32), run(KvCacheType::F16));
        assert_eq!(b16 * 2, b32, "{isa}");
        assert_eq!(l16, l32, "{isa}: tokens and logits");
    }
}

/// Choosing the cache type starts the sequence over: no position of the old cache is read.
#[test]
fn choosing_the_kv_cache_type_starts_the_sequence_over() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(&dir);
    let e = engine(Isa::best());
    let mut s = Session::new(&m, &e, 16).unwrap();
    s.forward(&[1, 2, 3], false).unwrap();
    let mut s = s.with_kv_cache(KvCacheType::F16);
    assert_eq!(s.position(), 0);
    let fresh = Session::new(&m, &e, 16)
        .unwrap()
        .with_kv_cache(KvCacheType::F16)
        .forward(&[7, 8], false)
        .unwrap();
    assert_eq!(s.forward(&[7, 8], false).unwrap(), fresh);
    // Deep decode over copied positions works in F16 too (what `perfd bench --ctx` does).
    s.extend_by_repeating(12).unwrap();
    assert_eq!(s.position(), 12);
    assert!(s.decode(5).unwrap().iter().all(|v| v.is_finite()));
}

#[test]
fn greedy_output_is_not_degenerate() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(&dir);
    let e = engine(Isa::best());
    let mut s = Session::new(&m, &e, 64).unwrap();
    let (tokens, logits) = greedy(&mut s, &[10, 20, 30], 32).unwrap();
    let distinct: std::collections::BTreeSet<_> = tokens.iter().collect();
    assert!(
        distinct.len() >= 8,
        "synthetic model repeats itself: {tokens:?}"
    );
    assert_eq!(argmax(&logits[2]), tokens[0]);
}

/// Two sessions whose clocked steps alternate a token at a time each decode what greedy decodes
/// alone, and each clock counts its own steps' time.
#[test]
fn alternating_clocked_decodes_follow_greedy() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(&dir);
    let e = engine(Isa::best());
    let prompt = [10, 20, 30];
    let (want, _) = greedy(&mut Session::new(&m, &e, 64).unwrap(), &prompt, 9).unwrap();
    let mut sides: Vec<(Session<'_>, DecodeClock)> = (0..2)
        .map(|_| {
            let mut s = Session::new(&m, &e, 64).unwrap();
            let first = argmax(&s.forward(&prompt, false).unwrap());
            (s, DecodeClock::start(first))
        })
        .collect();
    for (step, &token) in want.iter().enumerate().skip(1) {
        for (s, clock) in sides.iter_mut() {
            clock.step(s).unwrap();
            assert_eq!(clock.next(), token, "step {step}");
        }
    }
    for (s, clock) in &sides {
        assert_eq!(s.position(), prompt.len() + want.len() - 1);
        assert!(clock.seconds() > 0.0);
    }
}

#[test]
fn session_limits_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(&dir);
    let e = engine(Isa::Scalar);
    assert!(Session::new(&m, &e, 0).is_err());
    assert!(Session::new(&m, &e, 100_000).is_err());
    let mut s = Session::new(&m, &e, 4).unwrap();
    assert!(s.forward(&[1, 2, 3, 4, 5], false).is_err());
    assert!(s.forward(&[], false).is_err());
    assert!(s.decode(512).is_err(), "token outside the vocabulary");
    s.forward(&[1, 2, 3], false).unwrap();
    assert!(
        s.forward(&[4, 5], false).is_err(),
        "past the session's capacity"
    );
    assert_eq!(s.position(), 3);
}

/// A deep synthetic model amplifies any f32-vs-f64 difference in attention through the int8
/// rounding of every layer (16 layers of width 512 here: cosine 0.99 between the two attentions'
/// logits; on the 2b4t preset they decorrelate completely). The guard runs the scalar reference
/// in the candidate's numerics (the SIMD kernel's scalar twin), so every engine passes.
#[test]
fn the_guard_holds_on_a_deep_model_where_attention_numerics_diverge() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.gguf");
    let hp = bitnet_kernels::model::synthetic_model::deep_test_hparams();
    bitnet_kernels::model::synthetic_model::write_model(&path, &hp, "deep", 3).unwrap();
    let model = BitnetModel::load(&path).unwrap();
    let reference = I2sGemm::reference().unwrap();
    for isa in Isa::supported() {
        let r = crossval_model(
            &model,
            &engine(isa),
            &reference,
            KvCacheType::F32,
            &[1, 2, 3],
            12,
        )
        .unwrap();
        assert!(r.pass, "{isa}: {r:?}");
    }
    // Comparing across numerics would fail the guard: the reason it compares like with like.
    let best = engine(Isa::best());
    let tokens = [1, 2, 3, 4, 5, 6, 7, 8];
    let logits = |numerics| {
        let mut s = Session::new(&model, &best, 8)
            .unwrap()
            .with_numerics(numerics);
        s.forward(&tokens, true).unwrap()
    };
    let c = bitnet_kernels::model::model_crossval::cosine(
        &logits(Numerics::Fast),
        &logits(Numerics::Exact),
    );
    assert!(c < MIN_COSINE, "f32 and f64 attention agree to cosine {c}");
}

#[test]
fn decode_bytes_per_operation_add_up_to_the_roofline_bytes() {
    use bitnet_kernels::model::op_profile::Op;
    let dir = tempfile::tempdir().unwrap();
    let m = tiny(&dir);
    let hp = *m.hparams();
    let (h, f, kv, layers) = (hp.hidden, hp.ffn, hp.kv_dim(), hp.layers);
    let bytes = |op| m.decode_weight_bytes_of(op) as usize;
    // Two bits a ternary weight, per layer; f32 norms; the embedding in its own format.
    assert_eq!(bytes(Op::Qkv), layers * (h * h + 2 * kv * h) / 4);
    assert_eq!(bytes(Op::OProj), layers * h * h / 4);
    assert_eq!(bytes(Op::GateUp), layers * 2 * f * h / 4);
    assert_eq!(bytes(Op::Down), layers * f * h / 4);
    assert_eq!(bytes(Op::NormQuant), layers * (3 * h + f) * 4);
    assert_eq!(bytes(Op::Attention), 0);
    let embedding = m.embedding_format().row_bytes(h) * hp.vocab;
    assert_eq!(bytes(Op::LmHead), embedding + 4 * h);
    assert_eq!(bytes(Op::Embed), m.embedding_format().row_bytes(h));
    let total: u64 = Op::ALL.iter().map(|&op| m.decode_weight_bytes_of(op)).sum();
    assert_eq!(m.decode_weight_bytes(), total);
}
