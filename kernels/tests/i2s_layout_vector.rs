//! Checks our I2_S packing, activation quantisation and every available kernel against vectors
//! produced independently by `tests/python/gen_i2s_vector.py` (numpy, written from the layout rule).
//! A layout mistake shared by our packer and our kernels cannot pass this test.

use bitnet_kernels::format::i2s::{pack_gguf, ternarize_absmean, I2sMatrix};
use bitnet_kernels::{I2sGemm, Isa, KernelConfig, QuantizedActivations};
use serde::Deserialize;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/i2s_layout_vector.json"
);

#[derive(Deserialize)]
struct Vector {
    schema: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    rows: usize,
    cols: usize,
    tokens: usize,
    weights_f32: Vec<f32>,
    scale: f32,
    ternary: Vec<i8>,
    packed_hex: String,
    acts_f32: Vec<f32>,
    act_scale: Vec<f32>,
    act_q: Vec<i8>,
    act_sum: Vec<i32>,
    dot_i32: Vec<i32>,
    y_f32: Vec<f32>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

fn load() -> Vector {
    let text = std::fs::read_to_string(FIXTURE).expect("read fixture");
    let v: Vector = serde_json::from_str(&text).expect("parse fixture");
    assert_eq!(v.schema, "bitnet-perfd/i2s-layout-vector/v1");
    assert!(v.cases.len() >= 6);
    v
}

#[test]
fn ternarisation_and_packing_match_numpy() {
    for c in load().cases {
        let (t, scale) = ternarize_absmean(&c.weights_f32);
        assert_eq!(scale, c.scale, "{}: scale", c.name);
        assert_eq!(t, c.ternary, "{}: ternary", c.name);
        let packed = pack_gguf(&c.ternary, c.rows, c.cols, c.scale).unwrap();
        assert_eq!(packed, hex(&c.packed_hex), "{}: packed bytes", c.name);
    }
}

#[test]
fn activation_quantisation_matches_numpy() {
    for c in load().cases {
        let a = QuantizedActivations::quantize(&c.acts_f32, c.tokens, c.cols).unwrap();
        assert_eq!(a.scales(), &c.act_scale[..], "{}: scales", c.name);
        assert_eq!(a.sums(), &c.act_sum[..], "{}: sums", c.name);
        for t in 0..c.tokens {
            assert_eq!(
                &a.token(t)[..c.cols],
                &c.act_q[t * c.cols..(t + 1) * c.cols],
                "{}: q",
                c.name
            );
        }
    }
}

#[test]
fn every_kernel_reproduces_numpy_outputs_from_the_file_bytes() {
    for c in load().cases {
        let m = I2sMatrix::from_gguf_bytes(&hex(&c.packed_hex), c.rows, c.cols).unwrap();
        let a = QuantizedActivations::quantize(&c.acts_f32, c.tokens, c.cols).unwrap();
        for isa in Isa::supported() {
            for threads in [1, 2] {
                let cfg = KernelConfig {
                    isa: Some(isa),
                    threads: threads.min(bitnet_kernels::config::available_threads()),
                    rows_per_task: 4,
                    ..KernelConfig::default()
                };
                let g = I2sGemm::new(cfg).unwrap();
                assert_eq!(
                    g.dot_i32(&m.view(), &a).unwrap(),
                    c.dot_i32,
                    "{} {isa}: dot",
                    c.name
                );
                assert_eq!(
                    g.gemm(&m.view(), &a).unwrap(),
                    c.y_f32,
                    "{} {isa}: y",
                    c.name
                );
            }
        }
    }
}
