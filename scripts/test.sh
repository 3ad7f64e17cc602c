#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
[[ -f "$HOME/.cargo/env" ]] && source "$HOME/.cargo/env"
# Each section says when it started, so that a slow CI run shows where its time went.
section() { echo "== $* (at ${SECONDS}s)"; }

section "independent I2_S vector (numpy) reproduces the committed fixture"
.venv/bin/python tests/python/gen_i2s_vector.py - | cmp - tests/fixtures/i2s_layout_vector.json

section "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release --locked -- -D warnings

section "the kernels on a non-x86 target: clippy for aarch64"
# Off x86-64 the kernels build without their SIMD paths, CPUID or prefetch instructions; nothing
# else compiles those cfg branches, and they had stopped compiling once unnoticed. (The portable
# code they leave is what the tests above already run on x86-64, through the scalar ISA.)
if grep -qx aarch64-unknown-linux-gnu <<<"$(rustup target list --installed 2>/dev/null || true)"; then
  cargo clippy -p bitnet-kernels --all-targets --release --locked \
    --target aarch64-unknown-linux-gnu -- -D warnings
else
  echo "SKIPPED: Rust target aarch64-unknown-linux-gnu not installed (rustup could not add it)"
fi

section "alert rules and Alertmanager example"
promtool check rules alerts/perfd.rules.yml
promtool test rules alerts/tests/*.yml
amtool check-config alerts/alertmanager.example.yml

section "tests (release: the numeric tests are heavy)"
# NVRTC from the nvidia-cuda-nvrtc-cu12 wheel (installed into .venv by setup.sh): the CUDA sources
# are compiled to PTX for sm_80 and sm_90 by the test below, which must not skip here. Without
# libcuda.so.1 the device tests say so and skip; on a GPU machine they run (scripts/gpu-check.sh).
nvrtc_lib=$(ls -d "$PWD"/.venv/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib | head -1)
export LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PERFD_REQUIRE_NVRTC=1
cargo test --workspace --release --locked

section "alerts and dashboards against real perfd, Prometheus and Alertmanager"
python3 tests/observability/real_servers.py --perfd target/release/perfd
section "done"
