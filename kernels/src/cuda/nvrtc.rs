//! Run-time compilation of the `.cu` sources through cudarc's NVRTC bindings, keeping NVRTC's log
//! (warnings included) so that a test can refuse any warning.

use std::ffi::{CStr, CString};

use cudarc::nvrtc::{result, sys};

use super::error::CudaError;
use super::sources::CudaSource;

/// Options every source is compiled with. `--fmad=false`: no multiply and add are fused, so the
/// f32 arithmetic the CPU reference does (which Rust never fuses) is done the same way here.
pub const OPTIONS: &[&str] = &["--fmad=false", "--std=c++17"];

/// PTX of one source and NVRTC's log (empty when there was nothing to say).
#[derive(Debug, Clone)]
pub struct CompiledPtx {
    /// The source file.
    pub source_name: &'static str,
    /// The PTX text.
    pub ptx: String,
    /// NVRTC's log: warnings, if any.
    pub log: String,
}

/// Whether NVRTC can be loaded (checked before any call that would otherwise panic).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the library by its candidate names; calls nothing in it.
    unsafe { sys::is_culib_present() }
}

/// NVRTC's version (major, minor).
pub fn version() -> Result<(i32, i32), CudaError> {
    if !nvrtc_present() {
        return Err(CudaError::NoNvrtc);
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is present; both pointers are valid for writes.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| CudaError::Nvrtc {
            context: "version",
            message: format!("{e:?}"),
        })?;
    Ok((major, minor))
}

fn c_text(raw: &[std::ffi::c_char]) -> String {
    // NVRTC's buffers are NUL-terminated; a buffer without a NUL gives an empty string.
    // `c_char` is i8 on x86-64 and u8 on aarch64: the same bits either way.
    let bytes: Vec<u8> = raw
        .iter()
        .map(|&c| u8::from_ne_bytes(c.to_ne_bytes()))
        .collect();
    CStr::from_bytes_until_nul(&bytes)
        .map(|s| s.to_string_lossy().trim().to_string())
        .unwrap_or_default()
}

fn nvrtc_err(context: &'static str) -> impl FnOnce(result::NvrtcError) -> CudaError {
    move |e| CudaError::Nvrtc {
        context,
        message: format!("{e:?}"),
    }
}

/// Compiles `source` to PTX for `arch` (`compute_80`, `compute_90`, …).
pub fn compile(source: &CudaSource, arch: &str) -> Result<CompiledPtx, CudaError> {
    if !nvrtc_present() {
        return Err(CudaError::NoNvrtc);
    }
    let text = CString::new(source.compiled_text()).map_err(|_| CudaError::Nvrtc {
        context: "read source",
        message: format!("{} contains a NUL byte", source.name),
    })?;
    let name = CString::new(source.name).map_err(|_| CudaError::Nvrtc {
        context: "read source",
        message: "source name contains a NUL byte".into(),
    })?;
    let prog = result::create_program(&text, Some(&name)).map_err(nvrtc_err("create program"))?;
    let mut options: Vec<String> = OPTIONS.iter().map(|s| s.to_string()).collect();
    options.push(format!("--gpu-architecture={arch}"));
    // SAFETY: `prog` was just created and is destroyed once, below; `text` and `name` outlive it.
    let compiled = unsafe { result::compile_program(prog, &options) };
    // SAFETY: as above.
    let log = unsafe { result::get_program_log(prog) }
        .map(|raw| c_text(&raw))
        .unwrap_or_default();
    let ptx = match compiled {
        // SAFETY: as above; the program compiled.
        Ok(()) => unsafe { result::get_ptx(prog) }.map(|raw| c_text(&raw)),
        Err(_) => {
            // The compile error is what the user needs; a failed clean-up after it adds nothing.
            // SAFETY: as above; destroyed once on this path.
            let _ = unsafe { result::destroy_program(prog) };
            return Err(CudaError::Compile {
                source_name: source.name,
                arch: arch.to_string(),
                log,
            });
        }
    };
    // SAFETY: as above; destroyed once on this path.
    unsafe { result::destroy_program(prog) }.map_err(nvrtc_err("destroy program"))?;
    Ok(CompiledPtx {
        source_name: source.name,
        ptx: ptx.map_err(nvrtc_err("get PTX"))?,
        log,
    })
}
