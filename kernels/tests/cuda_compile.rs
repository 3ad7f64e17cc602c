//! Every `.cu` source compiles to PTX for sm_80 and sm_90 through the NVRTC path the binary uses,
//! without an error or a warning, and defines the kernels the runtime loads. Needs NVRTC only (no
//! GPU): scripts/test.sh installs the `nvidia-cuda-nvrtc-cu12` wheel and sets
//! `PERFD_REQUIRE_NVRTC=1`, which turns a missing NVRTC into a failure instead of a skip.
#![cfg(feature = "cuda")]

use bitnet_kernels::cuda::nvrtc::{compile, nvrtc_present, version};
use bitnet_kernels::cuda::runtime::SERIAL_KERNELS;
use bitnet_kernels::cuda::sources::SOURCES;

/// The PTX of kernel `entry`, up to the next entry point.
fn entry_body<'a>(ptx: &'a str, entry: &str) -> &'a str {
    let start = ptx.find(&format!(".entry {entry}(")).unwrap_or(ptx.len());
    let rest = &ptx[start..];
    let end = rest[1..].find(".entry ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[test]
fn every_source_compiles_to_ptx_for_sm80_and_sm90_without_warnings() {
    if !nvrtc_present() {
        assert!(
            std::env::var("PERFD_REQUIRE_NVRTC").as_deref() != Ok("1"),
            "PERFD_REQUIRE_NVRTC=1 but NVRTC (libnvrtc.so.12) is not on LD_LIBRARY_PATH"
        );
        eprintln!("SKIPPED: NVRTC not found (libnvrtc.so.12 not on the loader path)");
        return;
    }
    let (major, minor) = version().expect("NVRTC version");
    eprintln!("NVRTC {major}.{minor}");
    for arch in ["compute_80", "compute_90"] {
        for source in SOURCES {
            let out =
                compile(source, arch).unwrap_or_else(|e| panic!("{} for {arch}: {e}", source.name));
            assert!(
                out.log.is_empty(),
                "{} for {arch}: NVRTC said:\n{}",
                source.name,
                out.log
            );
            let target = format!(".target sm_{}", &arch["compute_".len()..]);
            assert!(out.ptx.contains(&target), "{}: no `{target}`", source.name);
            for entry in source.entry_points {
                assert!(
                    out.ptx.contains(&format!(".entry {entry}(")),
                    "{} for {arch}: no kernel {entry}",
                    source.name
                );
                // A kernel launched after the one ahead allows it must wait for it (sm_90+ only;
                // below, the wait compiles to nothing and launches stay serial).
                let body = entry_body(&out.ptx, entry);
                let waits = body.contains("griddepcontrol.wait");
                let allows = body.contains("griddepcontrol.launch_dependents");
                let dependent = arch == "compute_90" && !SERIAL_KERNELS.contains(entry);
                assert_eq!(
                    (waits, allows),
                    (dependent, dependent),
                    "{entry} for {arch}: griddepcontrol wait {waits}, launch_dependents {allows}"
                );
            }
        }
    }
}

#[test]
fn a_broken_source_is_an_error_with_nvrtc_log() {
    if !nvrtc_present() {
        eprintln!("SKIPPED: NVRTC not found (libnvrtc.so.12 not on the loader path)");
        return;
    }
    let broken = bitnet_kernels::cuda::sources::CudaSource {
        name: "broken.cu",
        text: "extern \"C\" __global__ void k(int* p) { p[0] = undefined_name; }",
        entry_points: &["k"],
    };
    let err = compile(&broken, "compute_90").expect_err("must not compile");
    let text = err.to_string();
    assert!(
        text.contains("broken.cu") && text.contains("undefined_name"),
        "{text}"
    );
}
