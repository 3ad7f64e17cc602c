//! I2_S packing: the layout rule, round trips, zero-copy views and every format error.

use bitnet_kernels::format::i2s::{
    code_position, gguf_tensor_bytes, pack_gguf, ternarize_absmean, unpack_gguf, I2sMatrix,
    I2sMatrixRef,
};
use bitnet_kernels::synthetic::random_ternary;
use bitnet_kernels::KernelError;

#[test]
fn layout_rule_places_each_weight_of_a_block() {
    // One block, a single +1 (code 2) at position j and zeros (code 1) elsewhere.
    for j in 0..128 {
        let mut t = vec![0i8; 128];
        t[j] = 1;
        let bytes = pack_gguf(&t, 1, 128, 1.0).unwrap();
        let (byte, shift) = (j % 32, 6 - 2 * (j / 32));
        assert_eq!(code_position(j), (byte, shift as u32));
        for (b, &v) in bytes[..32].iter().enumerate() {
            let mut want = 0u8;
            for slot in 0..4 {
                let code = if b == byte && 6 - 2 * slot == shift {
                    2
                } else {
                    1
                };
                want |= code << (6 - 2 * slot);
            }
            assert_eq!(v, want, "weight {j}: byte {b}");
        }
    }
}

#[test]
fn gguf_round_trip_keeps_values_scale_and_tail() {
    for (rows, cols) in [(1, 128), (3, 256), (4, 160), (5, 384), (2, 64)] {
        let t = random_ternary(rows * cols, (rows * 31 + cols) as u64);
        let bytes = pack_gguf(&t, rows, cols, 0.0375).unwrap();
        let n = rows * cols;
        assert_eq!(bytes.len(), n / 4 + 32);
        assert_eq!(
            f32::from_le_bytes(bytes[n / 4..n / 4 + 4].try_into().unwrap()),
            0.0375
        );
        assert!(bytes[n / 4 + 4..].iter().all(|&b| b == 0));
        let (back, scale) = unpack_gguf(&bytes, rows, cols).unwrap();
        assert_eq!(back, t);
        assert_eq!(scale, 0.0375);
        // Through the row-aligned form and back to the file layout.
        let m = I2sMatrix::from_gguf_bytes(&bytes, rows, cols).unwrap();
        assert_eq!(m.to_ternary(), t);
        assert_eq!(m.to_gguf_bytes().unwrap(), bytes);
        assert_eq!(I2sMatrix::from_ternary(&t, rows, cols, 0.0375).unwrap(), m);
    }
}

#[test]
fn borrowed_view_reads_file_bytes_in_place() {
    let t = random_ternary(3 * 256, 9);
    let bytes = pack_gguf(&t, 3, 256, 0.5).unwrap();
    let v = I2sMatrixRef::from_gguf_bytes(&bytes, 3, 256).unwrap();
    assert_eq!(v.data().as_ptr(), bytes.as_ptr());
    assert_eq!(v.scale(), 0.5);
    for r in 0..3 {
        for j in 0..256 {
            assert_eq!(v.code(r, j) as i8 - 1, t[r * 256 + j]);
        }
    }
    // A borrowed view cannot repack ragged rows.
    let ragged = pack_gguf(&random_ternary(640, 1), 4, 160, 1.0).unwrap();
    assert!(matches!(
        I2sMatrixRef::from_gguf_bytes(&ragged, 4, 160),
        Err(KernelError::BlockConstraint { .. })
    ));
}

#[test]
fn absmean_ternarisation() {
    let w = [0.3f32, -0.1, 0.0, 0.05, -0.9, 0.12];
    let (t, scale) = ternarize_absmean(&w);
    let mean = w.iter().map(|v| f64::from(v.abs())).sum::<f64>() / 6.0;
    assert_eq!(scale, mean as f32);
    // 0.05/0.245 ≈ 0.20 → 0; 0.12/0.245 ≈ 0.49 → 0; 0.3/0.245 → 1; -0.9 → clamps to -1.
    assert_eq!(t, vec![1, 0, 0, 0, -1, 0]);
    assert_eq!(ternarize_absmean(&[0.0; 4]), (vec![0; 4], 0.0));
}

#[test]
fn format_errors_are_named() {
    assert!(matches!(
        gguf_tensor_bytes(130),
        Err(KernelError::BlockConstraint { value: 130, .. })
    ));
    let t = random_ternary(256, 3);
    let bytes = pack_gguf(&t, 2, 128, 1.0).unwrap();
    // Truncated and oversized buffers.
    for len in [0, 10, bytes.len() - 1] {
        assert!(matches!(
            unpack_gguf(&bytes[..len], 2, 128),
            Err(KernelError::ByteLength { expected: 96, .. })
        ));
    }
    // Code 3 is rejected with the index of the weight (byte 5 top bits → weight 5 of block 0).
    let mut bad = bytes.clone();
    bad[5] |= 0b1100_0000;
    assert_eq!(
        unpack_gguf(&bad, 2, 128),
        Err(KernelError::InvalidCode { index: 5 })
    );
    assert_eq!(
        I2sMatrix::from_gguf_bytes(&bad, 2, 128),
        Err(KernelError::InvalidCode { index: 5 })
    );
    // Second block, byte 3, lowest bits → weight 96 + 3 of block 1.
    let mut bad = bytes.clone();
    bad[32 + 3] |= 0b11;
    assert_eq!(
        I2sMatrix::from_gguf_bytes(&bad, 2, 128),
        Err(KernelError::InvalidCode { index: 128 + 99 })
    );
    // A code 3 far into a larger matrix (past the check's first 4 KiB): the first one's index.
    let big = pack_gguf(&vec![0i8; 64 * 1024], 64, 1024, 1.0).unwrap();
    let mut bad = big.clone();
    // Byte 10 000 (block 312, byte 16 of its 32), bits 4–5: weight 312·128 + 32 + 16 (as above,
    // the top bits are the block's first 32 weights); a later bad byte must not be the one
    // reported.
    bad[10_000] |= 0b0011_0000;
    bad[15_000] |= 0b11;
    assert_eq!(
        I2sMatrix::from_gguf_bytes(&bad, 64, 1024),
        Err(KernelError::InvalidCode {
            index: 312 * 128 + 32 + 16
        })
    );
    // Non-finite or negative scales.
    for s in [f32::NAN, f32::INFINITY, -1.0] {
        let mut b = bytes.clone();
        b[64..68].copy_from_slice(&s.to_le_bytes());
        assert!(matches!(
            unpack_gguf(&b, 2, 128),
            Err(KernelError::BadScale(_))
        ));
    }
    let mut two = vec![0i8; 128];
    two[3] = 2;
    assert!(matches!(
        pack_gguf(&two, 1, 128, 1.0),
        Err(KernelError::Shape(_))
    ));
    assert!(matches!(
        I2sMatrix::from_ternary(&[], 0, 5, 1.0),
        Err(KernelError::InvalidShape { .. })
    ));
    assert!(matches!(
        I2sMatrix::from_ternary(&[], usize::MAX, 2, 1.0),
        Err(KernelError::InvalidShape { .. })
    ));
}
