//! Per-token int8 activation quantisation: scale, round-half-even, Σq, padding and the zero floor.

use bitnet_kernels::activation::ABSMAX_FLOOR;
use bitnet_kernels::QuantizedActivations;

#[test]
fn rounds_half_to_even_with_unit_scale() {
    // absmax 127 → s = 1 exactly, so x·s keeps the .5 ties.
    let x = [127.0f32, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -127.0, 3.49];
    let a = QuantizedActivations::quantize(&x, 1, x.len()).unwrap();
    assert_eq!(a.scales(), &[1.0]);
    assert_eq!(&a.q()[..x.len()], &[127, 0, 2, 2, 0, -2, -2, -127, 3]);
    assert_eq!(a.sums(), &[3]);
    // Padding to the block is zero and excluded from Σq.
    assert_eq!(a.padded_cols(), 128);
    assert!(a.q()[x.len()..].iter().all(|&q| q == 0));
}

#[test]
fn each_token_has_its_own_scale_and_zero_rows_use_the_floor() {
    let x = [0.0f32, 0.0, 0.0, 2.0, -4.0, 1.0];
    let a = QuantizedActivations::quantize(&x, 2, 3).unwrap();
    assert_eq!(a.scales()[0], 127.0 / ABSMAX_FLOOR);
    assert_eq!(a.token(0)[..3], [0, 0, 0]);
    assert_eq!(a.scales()[1], 127.0 / 4.0);
    // 2·31.75 = 63.5 → 64 (even); -4 → -127; 1·31.75 → 32.
    assert_eq!(a.token(1)[..3], [64, -127, 32]);
    assert_eq!(a.sums(), &[0, 64 - 127 + 32]);
}

#[test]
fn rejects_mismatched_lengths() {
    assert!(QuantizedActivations::quantize(&[1.0; 5], 2, 3).is_err());
    assert!(QuantizedActivations::quantize(&[], 0, 3).is_err());
}
