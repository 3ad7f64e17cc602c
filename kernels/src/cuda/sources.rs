//! The `.cu` sources of the CUDA kernels, embedded in the binary and compiled at run time by NVRTC
//! for the device found (and, in CI without a GPU, to PTX for sm_80 and sm_90).

/// One CUDA source file.
#[derive(Debug, Clone, Copy)]
pub struct CudaSource {
    /// File name (in `kernels/src/cuda/`).
    pub name: &'static str,
    /// The text.
    pub text: &'static str,
    /// Kernels (`extern "C"` entry points) it defines.
    pub entry_points: &'static [&'static str],
}

/// Block reductions and the dependent-launch wait and trigger every source may use, compiled in
/// front of each (NVRTC gets one text per program); a `#line` directive keeps NVRTC's messages
/// pointing into the source's own lines.
pub const PRELUDE: &str = concat!(
    include_str!("block_reduce.cuh"),
    "\n",
    include_str!("dependent_launch.cuh")
);

impl CudaSource {
    /// The text NVRTC compiles: the prelude, then the source.
    pub fn compiled_text(&self) -> String {
        format!("{PRELUDE}\n#line 1 \"{}\"\n{}", self.name, self.text)
    }
}

/// Every CUDA source of the backend.
pub const SOURCES: &[CudaSource] = &[
    CudaSource {
        name: "i2s_gemv.cu",
        text: include_str!("i2s_gemv.cu"),
        entry_points: &["i2s_mm_t1", "i2s_mm_t4", "i2s_mm_t8", "i2s_mm_norm_t1"],
    },
    CudaSource {
        name: "norm_quant.cu",
        text: include_str!("norm_quant.cu"),
        entry_points: &["rms_norm_quant"],
    },
    CudaSource {
        name: "rope_kv.cu",
        text: include_str!("rope_kv.cu"),
        entry_points: &["rope_store"],
    },
    CudaSource {
        name: "attention.cu",
        text: include_str!("attention.cu"),
        entry_points: &["attention_f64", "attention_rope_f64"],
    },
    CudaSource {
        name: "lm_head.cu",
        text: include_str!("lm_head.cu"),
        entry_points: &[
            "f16_gemv",
            "embed_f16",
            "argmax_partial",
            "argmax_advance",
            "advance_position",
        ],
    },
    CudaSource {
        name: "bandwidth.cu",
        text: include_str!("bandwidth.cu"),
        entry_points: &["copy_f4", "read_f4"],
    },
];
