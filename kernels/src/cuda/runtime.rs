//! One CUDA device opened for perfd: its context and stream, the kernels compiled for its compute
//! capability, and typed launches of each kernel.
//!
//! The driver and NVRTC are loaded at run time; [`CudaRuntime::open`] checks that both libraries
//! exist before the first call that would otherwise panic, so a machine without them gets a
//! [`CudaError`] that says which is missing.

use std::sync::Arc;

use cudarc::driver::sys::{self, CUdevice_attribute};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DeviceRepr, LaunchConfig,
    ValidAsZeroBits,
};
use cudarc::nvrtc::Ptx;

use super::error::{driver, CudaError};
use super::launch::{launch, KernelArgs, Order};
use super::launch_params::CudaLaunchParams;
use super::nvrtc;
use super::sources::SOURCES;

/// Blocks of the first argmax stage (each reduces a strided share of the logits).
pub(crate) const ARGMAX_BLOCKS: usize = 64;

/// Widest input the fused norm + product kernel quantises into shared memory
/// (`FUSED_MAX_COLS` in i2s_gemv.cu).
pub(crate) const FUSED_MAX_COLS: usize = 8192;

/// `i2s_mm` epilogues (see `i2s_gemv.cu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum I2sMode {
    /// f32 outputs of up to three stacked matrices.
    Store = 0,
    /// Adds the f32 output to the residual stream.
    Residual = 1,
    /// relu(gate)²·up of two matrices.
    GateUp = 2,
    /// Raw Σ t·q as i32 (the cross-validation).
    Raw = 3,
}

/// One `i2s_mm` launch: up to three matrices stacked by rows, sharing the activations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct I2sLaunch {
    pub weights: [u64; 3],
    pub rows: [i32; 3],
    pub scales: [f32; 3],
    pub outputs: [u64; 3],
    /// 16-byte chunks per weight row.
    pub chunks: i32,
    pub acts: u64,
    /// 16-byte chunks per activation row (padded columns / 16).
    pub act_stride: i32,
    pub act_sums: u64,
    pub act_scales: u64,
    pub tokens: i32,
    pub mode: I2sMode,
}

/// The buffers and shape of one attention launch (with or without RoPE fused in).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttentionArgs {
    /// This call's query rows, `[tokens][heads·head_dim]`.
    pub q: u64,
    /// This call's key and value rows, `[tokens][kv_dim]`.
    pub kv_new: (u64, u64),
    /// RoPE cos and sin tables, `[position][head_dim / 2]`.
    pub rope: (u64, u64),
    /// This layer's key and value caches, `[capacity][kv_dim]`.
    pub caches: (u64, u64),
    /// (heads, kv_heads, head_dim).
    pub shape: (usize, usize, usize),
    /// The device position (first position of this call).
    pub pos: u64,
    /// Positions the caches hold.
    pub capacity: usize,
    /// f64 scratch, `[tokens][heads][capacity]`.
    pub scores: u64,
    /// Output rows, `[tokens][heads·head_dim]`.
    pub out: u64,
    /// Tokens of this call.
    pub tokens: usize,
}

/// What the driver says about the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device index.
    pub ordinal: usize,
    /// Marketing name (`NVIDIA H100 80GB HBM3`).
    pub name: String,
    /// Compute capability (major, minor).
    pub compute_capability: (i32, i32),
    /// Streaming multiprocessors.
    pub multiprocessors: u32,
    /// Device memory in bytes.
    pub memory_bytes: u64,
    /// L2 cache in bytes.
    pub l2_bytes: u64,
    /// NVRTC version that compiled the kernels.
    pub nvrtc_version: (i32, i32),
}

impl DeviceInfo {
    /// The PTX target the kernels were compiled for (`compute_90`).
    pub fn arch(&self) -> String {
        format!(
            "compute_{}{}",
            self.compute_capability.0, self.compute_capability.1
        )
    }
}

/// Every kernel [`CudaRuntime::open`] loads (each must be an entry point of a source in
/// [`SOURCES`]; a unit test checks, and the compile test checks that each is in the PTX).
pub const LOADED_KERNELS: &[&str] = &[
    "i2s_mm_t1",
    "i2s_mm_t4",
    "i2s_mm_t8",
    "i2s_mm_norm_t1",
    "rms_norm_quant",
    "rope_store",
    "attention_f64",
    "attention_rope_f64",
    "f16_gemv",
    "embed_f16",
    "argmax_partial",
    "argmax_advance",
    "advance_position",
    "copy_f4",
    "read_f4",
];

/// Kernels always launched in plain stream order (the bandwidth measurement, which must not
/// overlap anything); every other kernel waits for the kernel ahead (`dependent_launch.cuh`) and
/// is launched after it allows when [`CudaRuntime::dependent_launch`] holds.
pub const SERIAL_KERNELS: &[&str] = &["copy_f4", "read_f4"];

/// A loaded kernel and the order it launches in.
struct Kernel {
    function: CudaFunction,
    /// In [`SERIAL_KERNELS`]: launched in plain stream order whatever the parameters, so that
    /// the list the compile test checks the PTX against is the list the launches follow.
    serial: bool,
}

struct Kernels {
    i2s_mm_t1: Kernel,
    i2s_mm_t4: Kernel,
    i2s_mm_t8: Kernel,
    i2s_mm_norm_t1: Kernel,
    rms_norm_quant: Kernel,
    rope_store: Kernel,
    attention_f64: Kernel,
    attention_rope_f64: Kernel,
    f16_gemv: Kernel,
    embed_f16: Kernel,
    argmax_partial: Kernel,
    argmax_advance: Kernel,
    advance_position: Kernel,
    copy_f4: Kernel,
    read_f4: Kernel,
}

/// An opened device with the kernels loaded.
pub struct CudaRuntime {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    info: DeviceInfo,
    params: CudaLaunchParams,
    k: Kernels,
}

impl std::fmt::Debug for CudaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaRuntime")
            .field("info", &self.info)
            .field("params", &self.params)
            .finish()
    }
}

/// Whether the CUDA driver library can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to open the library by its candidate names; calls nothing in it.
    unsafe { sys::is_culib_present() }
}

/// CUDA devices the driver reports.
pub fn device_count() -> Result<usize, CudaError> {
    if !driver_present() {
        return Err(CudaError::NoDriver);
    }
    CudaContext::device_count()
        .map(|n| n.max(0) as usize)
        .map_err(driver("count devices"))
}

fn grid(n: usize, per_block: usize) -> u32 {
    n.div_ceil(per_block.max(1)).max(1) as u32
}

impl CudaRuntime {
    /// Opens device `ordinal` and compiles every kernel for it with NVRTC.
    pub fn open(ordinal: usize, params: CudaLaunchParams) -> Result<Self, CudaError> {
        if !driver_present() {
            return Err(CudaError::NoDriver);
        }
        if !nvrtc::nvrtc_present() {
            return Err(CudaError::NoNvrtc);
        }
        let count = device_count()?;
        if ordinal >= count {
            return Err(CudaError::NoDevice {
                ordinal,
                reason: format!("the driver reports {count} device(s)"),
            });
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| CudaError::NoDevice {
            ordinal,
            reason: e.to_string(),
        })?;
        // SAFETY: perfd uses one stream per context, so cudarc's cross-stream events are not
        // needed; without them a stream capture (the decode graph) records kernels only.
        unsafe { ctx.disable_event_tracking() };
        // Graph capture needs a stream other than the legacy default stream.
        let stream = ctx.new_stream().map_err(driver("create a stream"))?;
        let attr = |a| ctx.attribute(a).map_err(driver("read a device attribute"));
        let info = DeviceInfo {
            ordinal,
            name: ctx.name().map_err(driver("read the device name"))?,
            compute_capability: ctx
                .compute_capability()
                .map_err(driver("read the compute capability"))?,
            multiprocessors: attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?
                as u32,
            memory_bytes: ctx.total_mem().map_err(driver("read the memory size"))? as u64,
            l2_bytes: attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)?.max(0) as u64,
            nvrtc_version: nvrtc::version()?,
        };
        let arch = info.arch();
        let mut functions = std::collections::HashMap::new();
        for source in SOURCES {
            let compiled = nvrtc::compile(source, &arch)?;
            let module = ctx
                .load_module(Ptx::from_src(compiled.ptx))
                .map_err(driver("load a compiled module"))?;
            for &name in source.entry_points {
                let f = module
                    .load_function(name)
                    .map_err(driver("find a kernel in its module"))?;
                functions.insert(name, f);
            }
        }
        let mut take = |name: &'static str| {
            debug_assert!(
                LOADED_KERNELS.contains(&name),
                "{name} not in LOADED_KERNELS"
            );
            let function = functions.remove(name).ok_or_else(|| CudaError::Nvrtc {
                context: "load kernels",
                message: format!("kernel {name} missing from the compiled modules"),
            })?;
            Ok::<_, CudaError>(Kernel {
                function,
                serial: SERIAL_KERNELS.contains(&name),
            })
        };
        let k = Kernels {
            i2s_mm_t1: take("i2s_mm_t1")?,
            i2s_mm_t4: take("i2s_mm_t4")?,
            i2s_mm_t8: take("i2s_mm_t8")?,
            i2s_mm_norm_t1: take("i2s_mm_norm_t1")?,
            rms_norm_quant: take("rms_norm_quant")?,
            rope_store: take("rope_store")?,
            attention_f64: take("attention_f64")?,
            attention_rope_f64: take("attention_rope_f64")?,
            f16_gemv: take("f16_gemv")?,
            embed_f16: take("embed_f16")?,
            argmax_partial: take("argmax_partial")?,
            argmax_advance: take("argmax_advance")?,
            advance_position: take("advance_position")?,
            copy_f4: take("copy_f4")?,
            read_f4: take("read_f4")?,
        };
        Ok(Self {
            ctx,
            stream,
            info,
            params,
            k,
        })
    }

    /// The device.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Launches from now on use `params` (they are host-side only: nothing is recompiled).
    pub fn set_params(&mut self, params: CudaLaunchParams) {
        self.params = params;
    }

    /// The launch parameters in use.
    pub fn params(&self) -> &CudaLaunchParams {
        &self.params
    }

    /// Whether kernels are launched with programmatic dependent launch: asked for by the
    /// parameters and supported by the device (compute capability 9.0 or later; on older devices
    /// the kernels' wait and trigger compile to nothing and launches stay serial).
    pub fn dependent_launch(&self) -> bool {
        self.params.dependent_launch && self.info.compute_capability.0 >= 9
    }

    /// The order `kernel` launches in. Every kernel outside [`SERIAL_KERNELS`] waits for the
    /// kernel ahead before it touches a result of it or returns (`dependent_launch.cuh`);
    /// `kernels/tests/cuda_compile.rs` checks that the sm_90 PTX of each has the wait, which is
    /// what lets each of them launch after the prior kernel allows.
    fn order(&self, kernel: &Kernel) -> Order {
        if self.dependent_launch() && !kernel.serial {
            Order::AfterPriorAllows
        } else {
            Order::Serial
        }
    }

    /// Launches `kernel` on the runtime's stream, in the order [`Self::order`] gives it.
    ///
    /// # Safety
    /// As [`launch`]: `args` match the kernel's parameters and the buffers fit `cfg`'s grid.
    unsafe fn launch(
        &self,
        kernel: &Kernel,
        cfg: LaunchConfig,
        args: &mut KernelArgs<'_>,
        what: &'static str,
    ) -> Result<(), CudaError> {
        let order = self.order(kernel);
        // SAFETY: the caller's guarantees are this function's own, and `order` waits where the
        // kernel does (`Self::order`).
        unsafe { launch(&self.stream, &kernel.function, cfg, args, order) }.map_err(driver(what))
    }

    /// Copies `host` to a new device buffer.
    pub(crate) fn upload<T: DeviceRepr>(&self, host: &[T]) -> Result<CudaSlice<T>, CudaError> {
        self.stream
            .clone_htod(host)
            .map_err(driver("copy to the device"))
    }

    /// Overwrites the start of `dst` with `host`.
    pub(crate) fn write<T: DeviceRepr>(
        &self,
        host: &[T],
        dst: &mut CudaSlice<T>,
    ) -> Result<(), CudaError> {
        self.stream
            .memcpy_htod(host, dst)
            .map_err(driver("copy to the device"))
    }

    /// A zeroed device buffer of `n` values.
    pub(crate) fn zeros<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        n: usize,
    ) -> Result<CudaSlice<T>, CudaError> {
        self.stream
            .alloc_zeros(n.max(1))
            .map_err(driver("allocate device memory"))
    }

    /// Copies a device buffer back (waits for the stream).
    pub(crate) fn download<T: DeviceRepr + Default + Clone>(
        &self,
        src: &CudaSlice<T>,
        n: usize,
    ) -> Result<Vec<T>, CudaError> {
        let mut out = vec![T::default(); src.len()];
        self.stream
            .memcpy_dtoh(src, &mut out)
            .map_err(driver("copy from the device"))?;
        out.truncate(n);
        Ok(out)
    }

    /// The device address of a buffer (kernels take raw addresses so that offsets into the KV
    /// cache and the stacked projections are plain arithmetic).
    pub(crate) fn ptr<T>(&self, buf: &CudaSlice<T>) -> u64 {
        // Event tracking is off, so the guard has nothing to record.
        let (p, _guard) = buf.device_ptr(&self.stream);
        p
    }

    /// Waits for everything queued.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.stream.synchronize().map_err(driver("synchronize"))
    }

    /// Seconds `work` takes on the device, between two events on the stream.
    pub(crate) fn time(
        &self,
        work: impl FnOnce() -> Result<(), CudaError>,
    ) -> Result<f64, CudaError> {
        let flags = Some(sys::CUevent_flags::CU_EVENT_DEFAULT);
        let start = self
            .ctx
            .new_event(flags)
            .map_err(driver("create an event"))?;
        let end = self
            .ctx
            .new_event(flags)
            .map_err(driver("create an event"))?;
        start
            .record(&self.stream)
            .map_err(driver("record an event"))?;
        work()?;
        end.record(&self.stream)
            .map_err(driver("record an event"))?;
        end.synchronize().map_err(driver("wait for an event"))?;
        let ms = start.elapsed_ms(&end).map_err(driver("read an event"))?;
        Ok(f64::from(ms) / 1e3)
    }

    pub(crate) fn begin_capture(&self) -> Result<(), CudaError> {
        self.stream
            .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(driver("begin a graph capture"))
    }

    pub(crate) fn end_capture(&self) -> Result<cudarc::driver::CudaGraph, CudaError> {
        self.stream
            .end_capture(sys::CUgraphInstantiate_flags(0))
            .map_err(driver("end a graph capture"))?
            .ok_or_else(|| CudaError::Unsupported("an empty decode graph".into()))
    }

    pub(crate) fn i2s_mm(&self, l: &I2sLaunch) -> Result<(), CudaError> {
        let p = &self.params;
        let tile = if l.tokens == 1 { 1 } else { p.prefill_tile };
        let f = match tile {
            1 => &self.k.i2s_mm_t1,
            4 => &self.k.i2s_mm_t4,
            _ => &self.k.i2s_mm_t8,
        };
        let total = if l.mode == I2sMode::GateUp {
            l.rows[0]
        } else {
            l.rows.iter().sum()
        } as usize;
        let rows_per_block = (p.gemv_threads / p.lanes_per_row) as usize;
        let cfg = LaunchConfig {
            grid_dim: (
                grid(total, rows_per_block),
                grid(l.tokens as usize, tile as usize),
                1,
            ),
            block_dim: (p.gemv_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let (lanes, mode) = (p.lanes_per_row as i32, l.mode as i32);
        let mut b = KernelArgs::new();
        push_stacked(&mut b, l);
        b.arg(&l.acts).arg(&l.act_stride);
        b.arg(&l.act_sums).arg(&l.act_scales).arg(&l.tokens);
        b.arg(&lanes).arg(&mode);
        // SAFETY: the argument list matches `i2s_mm` in i2s_gemv.cu; the callers size every
        // buffer for `rows` × `tokens` outputs and `chunks`/`act_stride` inputs.
        unsafe { self.launch(f, cfg, &mut b, "launch i2s_mm") }?;
        Ok(())
    }

    /// One token's I2_S products with the RMSNorm + quantisation of the f32 input `xin` (`n`
    /// values, norm weights `gn`) done by every block itself (`l.acts`, `l.act_sums`,
    /// `l.act_scales` and `l.tokens` are not read).
    pub(crate) fn i2s_mm_norm(
        &self,
        l: &I2sLaunch,
        xin: u64,
        gn: u64,
        n: usize,
        eps: f32,
    ) -> Result<(), CudaError> {
        let p = &self.params;
        let total = if l.mode == I2sMode::GateUp {
            l.rows[0]
        } else {
            l.rows.iter().sum()
        } as usize;
        let rows_per_block = (p.gemv_threads / p.lanes_per_row) as usize;
        let cfg = LaunchConfig {
            grid_dim: (grid(total, rows_per_block), 1, 1),
            block_dim: (p.gemv_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let (lanes, mode, n) = (p.lanes_per_row as i32, l.mode as i32, n as i32);
        let mut b = KernelArgs::new();
        push_stacked(&mut b, l);
        b.arg(&xin).arg(&gn).arg(&n).arg(&eps);
        b.arg(&l.act_stride).arg(&lanes).arg(&mode);
        // SAFETY: the argument list matches `i2s_mm_norm_t1` in i2s_gemv.cu; n ≤
        // FUSED_MAX_COLS is checked by the caller ([`FUSED_MAX_COLS`]).
        unsafe { self.launch(&self.k.i2s_mm_norm_t1, cfg, &mut b, "launch i2s_mm_norm_t1") }?;
        Ok(())
    }

    /// RMSNorm of `tokens` rows of `n` values; with `quantize`, int8 activations (rows of
    /// `padded`) with scales and sums, else the normed rows into `y`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rms_norm_quant(
        &self,
        x: u64,
        g: u64,
        n: usize,
        eps: f32,
        padded: usize,
        tokens: usize,
        out: NormOut,
    ) -> Result<(), CudaError> {
        let (quantize, q, scales, sums, y) = match out {
            NormOut::Quantized { q, scales, sums } => (1i32, q, scales, sums, 0u64),
            NormOut::F32 { y } => (0i32, 0, 0, 0, y),
        };
        let (n, padded) = (n as i32, padded as i32);
        let cfg = LaunchConfig {
            grid_dim: (tokens as u32, 1, 1),
            block_dim: (self.params.norm_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = KernelArgs::new();
        b.arg(&x)
            .arg(&g)
            .arg(&n)
            .arg(&eps)
            .arg(&padded)
            .arg(&quantize);
        b.arg(&q).arg(&scales).arg(&sums).arg(&y);
        // SAFETY: matches `rms_norm_quant` in norm_quant.cu; buffers hold `tokens` rows.
        unsafe { self.launch(&self.k.rms_norm_quant, cfg, &mut b, "launch rms_norm_quant") }?;
        Ok(())
    }

    /// RoPE on the query and key rows, then keys and values into the cache.
    pub(crate) fn rope_store(&self, a: &AttentionArgs) -> Result<(), CudaError> {
        let (heads, kv_heads, head_dim) = (a.shape.0 as i32, a.shape.1 as i32, a.shape.2 as i32);
        let cfg = LaunchConfig {
            grid_dim: (a.tokens as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = KernelArgs::new();
        b.arg(&a.q)
            .arg(&a.kv_new.0)
            .arg(&a.kv_new.1)
            .arg(&a.rope.0)
            .arg(&a.rope.1);
        b.arg(&heads).arg(&kv_heads).arg(&head_dim).arg(&a.pos);
        b.arg(&a.caches.0).arg(&a.caches.1);
        // SAFETY: matches `rope_store` in rope_kv.cu; the caches hold every position < capacity
        // and the session never moves `pos` past it.
        unsafe { self.launch(&self.k.rope_store, cfg, &mut b, "launch rope_store") }?;
        Ok(())
    }

    /// Attention over the cache (keys already rotated and stored), or with `fused` RoPE and the
    /// cache store done by the attention kernel itself.
    pub(crate) fn attention(&self, a: &AttentionArgs, fused: bool) -> Result<(), CudaError> {
        let (heads, kv_heads, head_dim) = (a.shape.0 as i32, a.shape.1 as i32, a.shape.2 as i32);
        let capacity = a.capacity as i32;
        let cfg = LaunchConfig {
            grid_dim: (a.shape.0 as u32, a.tokens as u32, 1),
            block_dim: (self.params.attention_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let (f, name) = if fused {
            (&self.k.attention_rope_f64, "launch attention_rope_f64")
        } else {
            (&self.k.attention_f64, "launch attention_f64")
        };
        let mut b = KernelArgs::new();
        b.arg(&a.q);
        if fused {
            b.arg(&a.kv_new.0)
                .arg(&a.kv_new.1)
                .arg(&a.rope.0)
                .arg(&a.rope.1);
        }
        b.arg(&a.caches.0).arg(&a.caches.1);
        b.arg(&heads)
            .arg(&kv_heads)
            .arg(&head_dim)
            .arg(&a.pos)
            .arg(&capacity);
        b.arg(&a.scores).arg(&a.out);
        // SAFETY: matches `attention_f64` / `attention_rope_f64` in attention.cu; `scores` holds
        // tokens × heads × capacity values, head_dim ≤ 256 is checked at model upload and the
        // cos/sin tables cover every position < capacity.
        unsafe { self.launch(f, cfg, &mut b, name) }?;
        Ok(())
    }

    /// `tokens` rows of logits: `out[t][r] = E[r] · x[t]` over an F16 matrix of `rows` × `cols`.
    pub(crate) fn f16_gemv(
        &self,
        e: u64,
        rows: usize,
        cols: usize,
        x: u64,
        out: u64,
        tokens: usize,
    ) -> Result<(), CudaError> {
        let warps = (self.params.lm_head_threads / 32) as usize;
        let blocks = grid(rows, warps).min(self.info.multiprocessors.max(1) * 64);
        let (rows, chunks) = (rows as i32, (cols / 8) as i32);
        let cfg = LaunchConfig {
            grid_dim: (blocks, tokens as u32, 1),
            block_dim: (self.params.lm_head_threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = KernelArgs::new();
        b.arg(&e).arg(&rows).arg(&chunks).arg(&x).arg(&out);
        // SAFETY: matches `f16_gemv` in lm_head.cu; cols % 8 == 0 is checked at model upload.
        unsafe { self.launch(&self.k.f16_gemv, cfg, &mut b, "launch f16_gemv") }?;
        Ok(())
    }

    pub(crate) fn embed(
        &self,
        e: u64,
        tokens_buf: u64,
        cols: usize,
        x: u64,
        tokens: usize,
    ) -> Result<(), CudaError> {
        let cols = cols as i32;
        let cfg = LaunchConfig {
            grid_dim: (tokens as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = KernelArgs::new();
        b.arg(&e).arg(&tokens_buf).arg(&cols).arg(&x);
        // SAFETY: matches `embed_f16` in lm_head.cu; token ids are checked against the
        // vocabulary before they are uploaded, and argmax only yields row indices.
        unsafe { self.launch(&self.k.embed_f16, cfg, &mut b, "launch embed_f16") }?;
        Ok(())
    }

    /// Greedy step: the argmax of `n` logits (two stages through `scratch`, which holds
    /// [`ARGMAX_BLOCKS`] values and indices) becomes `token`, is appended to `generated` at
    /// `step`, and `step` and `pos` advance (`pos` by `advance`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn argmax_advance(
        &self,
        logits: u64,
        n: usize,
        scratch: (u64, u64),
        token: u64,
        generated: u64,
        step: u64,
        pos: u64,
        advance: usize,
    ) -> Result<(), CudaError> {
        let (n, advance, parts) = (n as i32, advance as i32, ARGMAX_BLOCKS as i32);
        let cfg = |blocks| LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (1024, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = KernelArgs::new();
        b.arg(&logits).arg(&n).arg(&scratch.0).arg(&scratch.1);
        // SAFETY: matches `argmax_partial` in lm_head.cu; the scratch holds one value and index
        // per block.
        unsafe {
            self.launch(
                &self.k.argmax_partial,
                cfg(ARGMAX_BLOCKS as u32),
                &mut b,
                "launch argmax_partial",
            )
        }?;
        let mut b = KernelArgs::new();
        b.arg(&scratch.0).arg(&scratch.1).arg(&parts);
        b.arg(&token)
            .arg(&generated)
            .arg(&step)
            .arg(&pos)
            .arg(&advance);
        // SAFETY: matches `argmax_advance` in lm_head.cu; `generated` holds a slot per position
        // and the session bounds the steps by it.
        unsafe {
            self.launch(
                &self.k.argmax_advance,
                cfg(1),
                &mut b,
                "launch argmax_advance",
            )
        }?;
        Ok(())
    }

    pub(crate) fn advance_position(&self, pos: u64, n: usize) -> Result<(), CudaError> {
        let n = n as i32;
        let cfg = LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (32, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = KernelArgs::new();
        b.arg(&pos).arg(&n);
        // SAFETY: matches `advance_position` in lm_head.cu.
        unsafe {
            self.launch(
                &self.k.advance_position,
                cfg,
                &mut b,
                "launch advance_position",
            )
        }?;
        Ok(())
    }

    /// Copies `n` float4s from `src` to `dst`.
    pub(crate) fn copy_f4(&self, src: u64, dst: u64, n: usize) -> Result<(), CudaError> {
        let n = n as i64;
        let cfg = self.stream_grid();
        let mut b = KernelArgs::new();
        b.arg(&src).arg(&dst).arg(&n);
        // SAFETY: matches `copy_f4` in bandwidth.cu; both buffers hold `n` float4s.
        unsafe { self.launch(&self.k.copy_f4, cfg, &mut b, "launch copy_f4") }?;
        Ok(())
    }

    /// Reads `n` float4s from `src`, one partial sum per block into `sink`.
    pub(crate) fn read_f4(&self, src: u64, n: usize, sink: u64) -> Result<(), CudaError> {
        let n = n as i64;
        let cfg = self.stream_grid();
        let mut b = KernelArgs::new();
        b.arg(&src).arg(&n).arg(&sink);
        // SAFETY: matches `read_f4` in bandwidth.cu; `sink` holds one float per block of
        // [`Self::stream_blocks`].
        unsafe { self.launch(&self.k.read_f4, cfg, &mut b, "launch read_f4") }?;
        Ok(())
    }

    /// Blocks of the bandwidth kernels: enough to keep every SM's loads in flight.
    pub(crate) fn stream_blocks(&self) -> u32 {
        self.info.multiprocessors.max(1) * 8
    }

    fn stream_grid(&self) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (self.stream_blocks(), 1, 1),
            block_dim: (512, 1, 1),
            shared_mem_bytes: 0,
        }
    }
}

/// The arguments `i2s_mm` and `i2s_mm_norm_t1` start with: the stacked matrices, their rows,
/// scales and outputs, and the chunks per row.
fn push_stacked<'a>(b: &mut KernelArgs<'a>, l: &'a I2sLaunch) {
    b.arg(&l.weights[0]).arg(&l.weights[1]).arg(&l.weights[2]);
    b.arg(&l.rows[0]).arg(&l.rows[1]).arg(&l.rows[2]);
    b.arg(&l.scales[0]).arg(&l.scales[1]).arg(&l.scales[2]);
    b.arg(&l.outputs[0]).arg(&l.outputs[1]).arg(&l.outputs[2]);
    b.arg(&l.chunks);
}

/// Where `rms_norm_quant` writes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NormOut {
    /// int8 rows, per-token scales and sums.
    Quantized { q: u64, scales: u64, sums: u64 },
    /// f32 normed rows.
    F32 { y: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_the_runtime_loads_is_an_entry_point_of_a_source() {
        for name in LOADED_KERNELS {
            assert!(
                SOURCES.iter().any(|s| s.entry_points.contains(name)),
                "{name} is loaded but no source lists it"
            );
        }
        let runtime_src = include_str!("runtime.rs");
        let takes = runtime_src.matches("take(\"").count();
        assert_eq!(
            takes,
            LOADED_KERNELS.len(),
            "every take(..) is listed in LOADED_KERNELS"
        );
    }
}
