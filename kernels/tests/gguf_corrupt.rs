//! Corrupt, truncated and hostile GGUF files: every one must be a clean, specific error — never a
//! panic, an abort on a huge allocation or an out-of-bounds read.

use bitnet_kernels::gguf::{
    write_gguf, GgmlType, GgufError, GgufFile, MetaArray, MetaValue, TensorSpec,
};
use bitnet_kernels::model::synthetic_model::write_preset;
use bitnet_kernels::model::{BitnetModel, ModelError, Preset};
use rand::{Rng, SeedableRng};

/// A small valid file: two tensors, a few metadata entries; returns its bytes.
fn small_file() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.gguf");
    let meta = vec![
        (
            "general.architecture".to_string(),
            MetaValue::String("bitnet-b1.58".into()),
        ),
        ("a.count".into(), MetaValue::U32(7)),
        (
            "a.list".into(),
            MetaValue::Array(
                MetaArray::from_values(4, vec![MetaValue::U32(1), MetaValue::U32(2)]).unwrap(),
            ),
        ),
    ];
    let specs = vec![
        TensorSpec {
            name: "norm".into(),
            dims: vec![8],
            ggml_type: GgmlType::F32,
        },
        TensorSpec {
            name: "w".into(),
            dims: vec![128, 2],
            ggml_type: GgmlType::I2S,
        },
    ];
    write_gguf(&path, &meta, &specs, |i, _, out| {
        let size = [32usize, 64 + 32][i];
        out.write_all(&vec![0x55u8; size])
    })
    .unwrap();
    std::fs::read(&path).unwrap()
}

/// Byte offset just after the name of tensor `name` in the tensor-info table.
fn after_tensor_name(bytes: &[u8], name: &str) -> usize {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("tensor name in file");
    at + needle.len()
}

fn parse(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
    GgufFile::from_bytes(bytes)
}

#[test]
fn the_valid_file_parses() {
    let f = parse(small_file()).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.tensors().len(), 2);
    assert_eq!(f.get_u64("a.count").unwrap(), 7);
    let w = f.tensor("w").unwrap();
    assert_eq!((w.size, w.offset % 32), (96, 0));
    assert!(matches!(
        f.get_u64("general.architecture"),
        Err(GgufError::WrongValueType { .. })
    ));
    assert!(matches!(f.get_u64("nope"), Err(GgufError::MissingKey(_))));
}

#[test]
fn bad_magic_and_version() {
    let mut b = small_file();
    b[0] = b'X';
    assert!(matches!(parse(b), Err(GgufError::BadMagic(_))));
    let mut b = small_file();
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(parse(b), Err(GgufError::UnsupportedVersion(1))));
    assert!(matches!(
        parse(Vec::new()),
        Err(GgufError::Truncated { .. })
    ));
}

#[test]
fn truncation_anywhere_is_a_clean_error() {
    let full = small_file();
    for len in 0..full.len() {
        let r = parse(full[..len].to_vec());
        assert!(
            matches!(
                r,
                Err(GgufError::Truncated { .. }
                    | GgufError::BadTensorData { .. }
                    | GgufError::AbsurdCount { .. })
            ),
            "length {len}: {r:?}"
        );
    }
}

#[test]
fn absurd_counts_are_refused_before_allocating() {
    for (offset, what) in [(8usize, "tensor"), (16, "metadata")] {
        let mut b = small_file();
        b[offset..offset + 8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        let r = parse(b);
        assert!(
            matches!(r, Err(GgufError::AbsurdCount { what: w, .. }) if w == what),
            "{r:?}"
        );
    }
    // An array announcing 2^60 elements.
    let mut b = small_file();
    let at = after_tensor_name(&b, "a.list") + 4 + 4;
    b[at..at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(matches!(parse(b), Err(GgufError::AbsurdCount { .. })));
    // A string announcing 2^62 bytes (the first key's length).
    let mut b = small_file();
    b[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(matches!(parse(b), Err(GgufError::Truncated { .. })));
}

#[test]
fn tensor_info_corruption() {
    let base = small_file();
    let w = after_tensor_name(&base, "w"); // n_dims(4) dims(2x8) type(4) offset(8)
    let set = |at: usize, v: &[u8]| {
        let mut b = base.clone();
        b[at..at + v.len()].copy_from_slice(v);
        parse(b)
    };
    assert!(matches!(
        set(w, &0u32.to_le_bytes()),
        Err(GgufError::BadShape { .. })
    ));
    assert!(matches!(
        set(w, &9u32.to_le_bytes()),
        Err(GgufError::BadShape { .. })
    ));
    assert!(matches!(
        set(w + 4, &0u64.to_le_bytes()),
        Err(GgufError::BadShape { .. })
    ));
    // Overflowing element count.
    let r = set(w + 4, &u64::MAX.to_le_bytes());
    assert!(
        matches!(r, Err(GgufError::BadShape { ref reason, .. }) if reason.contains("overflow")),
        "{r:?}"
    );
    // Huge but representable: data past the end of the file.
    assert!(matches!(
        set(w + 4, &(1u64 << 40).to_le_bytes()),
        Err(GgufError::BadTensorData { .. })
    ));
    // Not a whole number of I2_S blocks.
    assert!(matches!(
        set(w + 4, &100u64.to_le_bytes()),
        Err(GgufError::BadShape { .. })
    ));
    // Wrong type id.
    assert!(matches!(
        set(w + 20, &99u32.to_le_bytes()),
        Err(GgufError::UnknownTensorType { type_id: 99, .. })
    ));
    // Misaligned, past-the-end and overlapping offsets.
    assert!(matches!(
        set(w + 24, &3u64.to_le_bytes()),
        Err(GgufError::BadTensorData { .. })
    ));
    assert!(matches!(
        set(w + 24, &(u64::MAX - 31).to_le_bytes()),
        Err(GgufError::BadTensorData { .. })
    ));
    assert!(
        matches!(set(w + 24, &0u64.to_le_bytes()), Err(GgufError::BadTensorData { ref reason, .. }) if reason.contains("overlaps"))
    );
    // A bad metadata value type.
    let at = after_tensor_name(&base, "a.count");
    assert!(matches!(
        set(at, &77u32.to_le_bytes()),
        Err(GgufError::BadValueType { type_id: 77, .. })
    ));
    // Non-UTF-8 tensor name.
    let mut b = base.clone();
    b[w - 1] = 0xFF;
    assert!(matches!(parse(b), Err(GgufError::BadUtf8 { .. })));
}

#[test]
fn random_mutations_never_panic() {
    let base = small_file();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for _ in 0..5000 {
        let mut b = base.clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        let _ = parse(b);
    }
}

#[test]
fn model_level_errors_name_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_preset(&path, Preset::Tiny, 3).unwrap();
    let good = std::fs::read(&path).unwrap();
    let load = |b: Vec<u8>| BitnetModel::from_file(GgufFile::from_bytes(b)?, "mem".into());

    // Truncated tensor data: cut the file short.
    let r = load(good[..good.len() - 1000].to_vec());
    assert!(
        matches!(r, Err(ModelError::Gguf(GgufError::BadTensorData { .. }))),
        "{r:?}"
    );

    // A norm stored as I2_S: swap the type id of blk.0.attn_norm.
    let mut b = good.clone();
    let at = after_tensor_name(&b, "blk.0.attn_norm.weight") + 4 + 8;
    b[at..at + 4].copy_from_slice(&36u32.to_le_bytes());
    let r = load(b);
    assert!(
        matches!(r, Err(ModelError::TensorType { ref tensor, .. }) if tensor == "blk.0.attn_norm.weight"),
        "{r:?}"
    );

    // Wrong shape: attn_q announced as [256, 128] (same byte size, wrong rows).
    let mut b = good.clone();
    let at = after_tensor_name(&b, "blk.1.attn_q.weight") + 4 + 8;
    b[at..at + 8].copy_from_slice(&128u64.to_le_bytes());
    let r = load(b);
    assert!(
        matches!(r, Err(ModelError::TensorShape { ref tensor, .. }) if tensor == "blk.1.attn_q.weight"),
        "{r:?}"
    );

    // A packed code of 3 inside a ternary tensor.
    let model_file = GgufFile::from_bytes(good.clone()).unwrap();
    let t = model_file.tensor("blk.0.ffn_down.weight").unwrap().clone();
    let mut b = good.clone();
    b[t.offset as usize + 10] = 0xFF;
    let r = load(b);
    assert!(matches!(r, Err(ModelError::Kernel(_))), "{r:?}");

    // NaN in a norm.
    let t = model_file.tensor("output_norm.weight").unwrap().clone();
    let mut b = good.clone();
    b[t.offset as usize..t.offset as usize + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(matches!(load(b), Err(ModelError::NonFinite { .. })));

    // Not a BitNet file.
    let mut b = good.clone();
    let at = b.windows(12).position(|w| w == b"bitnet-b1.58").unwrap();
    b[at] = b'X';
    assert!(matches!(load(b), Err(ModelError::Architecture(_))));

    // A missing tensor: rename blk.1.ffn_up.
    let mut b = good.clone();
    let at = after_tensor_name(&b, "blk.1.ffn_up.weight") - 9;
    b[at] = b'X';
    assert!(matches!(
        load(b),
        Err(ModelError::Gguf(GgufError::MissingTensor(_)))
    ));

    // Hyper-parameters that do not divide.
    let mut b = good;
    let key = b"bitnet-b1.58.attention.head_count";
    let at = b.windows(key.len()).position(|w| w == key).unwrap() + key.len() + 4;
    b[at..at + 4].copy_from_slice(&3u32.to_le_bytes());
    assert!(matches!(load(b), Err(ModelError::Hparam { .. })));
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let e = GgufFile::open(std::path::Path::new("/nonexistent/model.gguf")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/model.gguf"));
}
