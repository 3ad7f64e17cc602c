//! Kernel launches through `cuLaunchKernelEx`, so that a launch can carry the programmatic
//! dependent launch attribute (cudarc's launch builder passes no launch attributes).
//!
//! With the attribute (Hopper and later), a kernel may start while the kernel ahead of it in the
//! stream is still running; `dependent_launch.cuh` says what each kernel does so that this is
//! safe. A decode step is ~300 short dependent kernels whose own latency, not the memory
//! bandwidth, sets the pace: the overlap lets each product load its weights while the kernel
//! ahead of it finishes.

use std::ffi::c_void;
use std::marker::PhantomData;

use cudarc::driver::sys;
use cudarc::driver::{CudaFunction, CudaStream, DeviceRepr, DriverError, LaunchConfig};

/// A kernel's arguments as the driver takes them: one pointer per parameter, each to a value
/// that lives at least as long as the list (the driver copies the values at the launch).
#[derive(Debug, Default)]
pub(crate) struct KernelArgs<'a> {
    ptrs: Vec<*mut c_void>,
    values: PhantomData<&'a ()>,
}

impl<'a> KernelArgs<'a> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends the next parameter.
    pub(crate) fn arg<T: DeviceRepr>(&mut self, value: &'a T) -> &mut Self {
        self.ptrs.push(value as *const T as *mut c_void);
        self
    }
}

/// How a launch is ordered after the kernel ahead of it in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Starts once everything ahead of it has finished (the stream's usual order).
    Serial,
    /// May start once every block of the kernel ahead has called `allow_next_kernel()`; the
    /// kernel itself waits for it in `wait_for_prior_kernels()` before touching its results.
    AfterPriorAllows,
}

/// Launches `f` on `stream`.
///
/// # Safety
/// `args` must match the kernel's parameter list in number, order and type, and every buffer the
/// kernel reads or writes must be large enough for `cfg`'s grid. With
/// [`Order::AfterPriorAllows`] the kernel must call `wait_for_prior_kernels()` in every thread
/// before it reads or writes memory that another kernel writes, and before any thread returns.
pub(crate) unsafe fn launch(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    args: &mut KernelArgs<'_>,
    order: Order,
) -> Result<(), DriverError> {
    stream.context().bind_to_thread()?;
    // SAFETY: an all-zero attribute value is a valid bit pattern for this plain-data union.
    let mut value: sys::CUlaunchAttributeValue = unsafe { std::mem::zeroed() };
    value.programmaticStreamSerializationAllowed = 1;
    let mut attrs = [sys::CUlaunchAttribute {
        id: sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION,
        pad: [0; 4],
        value,
    }];
    let config = sys::CUlaunchConfig {
        gridDimX: cfg.grid_dim.0,
        gridDimY: cfg.grid_dim.1,
        gridDimZ: cfg.grid_dim.2,
        blockDimX: cfg.block_dim.0,
        blockDimY: cfg.block_dim.1,
        blockDimZ: cfg.block_dim.2,
        sharedMemBytes: cfg.shared_mem_bytes,
        hStream: stream.cu_stream(),
        attrs: attrs.as_mut_ptr(),
        numAttrs: u32::from(order == Order::AfterPriorAllows),
    };
    // SAFETY: `config` and `attrs` outlive the call; the caller vouches for `args` (above), whose
    // pointers are alive for `'_`; the function belongs to the stream's context, bound above.
    unsafe {
        sys::cuLaunchKernelEx(
            &config,
            f.cu_function(),
            args.ptrs.as_mut_ptr(),
            std::ptr::null_mut(),
        )
    }
    .result()
}
