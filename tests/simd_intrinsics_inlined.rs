//! The released `perfd` binary has every SIMD intrinsic compiled into the kernel that calls it.
//!
//! An intrinsic called from code compiled without its target feature (a closure inside an
//! `#[inline(always)]` helper is compiled on its own, without its caller's `#[target_feature]`)
//! stays an out-of-line call with its vectors passed through memory: the numbers stay right and
//! the kernel gets several times slower. That happened to the Q8_0 lm_head for two days
//! (22 → 106–124 ms for 2B-4T's 128256×2560 on the Emerald Rapids VM) with every correctness test
//! passing. Such calls leave `core::core_arch` functions in the binary's symbol table; this test
//! lists them with `nm` (binutils, which the toolchain's linker comes with).

#[test]
#[cfg_attr(
    any(debug_assertions, not(target_arch = "x86_64")),
    ignore = "an unoptimised build calls every intrinsic out of line; the kernels' SIMD is x86-64"
)]
fn no_simd_intrinsic_is_left_out_of_line() {
    let exe = env!("CARGO_BIN_EXE_perfd");
    let out = std::process::Command::new("nm")
        .args(["--demangle", exe])
        .output()
        .unwrap_or_else(|e| panic!("running nm on {exe}: {e}"));
    assert!(
        out.status.success(),
        "nm {exe}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let symbols = String::from_utf8_lossy(&out.stdout);
    assert!(
        symbols.lines().count() > 1000,
        "nm listed too few symbols in {exe} to judge (stripped?)"
    );
    // `_xgetbv` (the AMX and AVX-512 state checks) is called where no vector is passed: out of
    // line it costs nothing.
    let stray: Vec<&str> = symbols
        .lines()
        .filter(|l| l.contains("core::core_arch::x86") && !l.contains("::xsave::"))
        .collect();
    assert!(
        stray.is_empty(),
        "SIMD intrinsics compiled as out-of-line functions (called from code without their \
         target feature, e.g. a closure in an #[inline(always)] helper):\n{}",
        stray.join("\n")
    );
}
