//! Device memory bandwidth of this run: the roofline the CUDA kernels are compared with.

use super::error::CudaError;
use super::runtime::CudaRuntime;

/// Bandwidth of one pass kind, over repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceBandwidth {
    /// `copy` (bytes read + bytes written) or `read` (bytes read).
    pub kind: &'static str,
    /// Bytes the pass moves (both directions for a copy).
    pub bytes: u64,
    /// Bytes per second of each repetition (device-event timed).
    pub bytes_per_second: Vec<f64>,
}

impl DeviceBandwidth {
    /// The best repetition (what the memory can do; kernels are compared with it).
    pub fn best(&self) -> f64 {
        self.bytes_per_second.iter().copied().fold(0.0, f64::max)
    }
}

/// Copy and read-only bandwidth over buffers of `bytes` each (far larger than L2), `reps` timed
/// passes after one warm-up each.
pub fn measure(
    rt: &CudaRuntime,
    bytes: usize,
    reps: usize,
) -> Result<(DeviceBandwidth, DeviceBandwidth), CudaError> {
    let n4 = (bytes / 16).max(1);
    let src = rt.upload(&vec![1.0f32; n4 * 4])?;
    let dst = rt.zeros::<f32>(n4 * 4)?;
    let sink = rt.zeros::<f32>(rt.stream_blocks() as usize)?;
    let (s, d, k) = (rt.ptr(&src), rt.ptr(&dst), rt.ptr(&sink));
    let mut copy = DeviceBandwidth {
        kind: "copy",
        bytes: (2 * n4 * 16) as u64,
        bytes_per_second: Vec::with_capacity(reps),
    };
    let mut read = DeviceBandwidth {
        kind: "read",
        bytes: (n4 * 16) as u64,
        bytes_per_second: Vec::with_capacity(reps),
    };
    rt.copy_f4(s, d, n4)?;
    rt.read_f4(s, n4, k)?;
    for _ in 0..reps.max(1) {
        let t = rt.time(|| rt.copy_f4(s, d, n4))?;
        copy.bytes_per_second.push(copy.bytes as f64 / t);
        let t = rt.time(|| rt.read_f4(s, n4, k))?;
        read.bytes_per_second.push(read.bytes as f64 / t);
    }
    // The copy must have happened: a kernel that silently did nothing would report any speed.
    let probe = rt.download(&dst, 4)?;
    if probe.iter().any(|&v| v != 1.0) {
        return Err(CudaError::Unsupported(
            "a bandwidth copy that left its destination unwritten".into(),
        ));
    }
    Ok((copy, read))
}
