#!/usr/bin/env bash
# Installs what is needed, builds perfd and runs the main job on the embedded default:
# the 2b4t synthetic model (BitNet b1.58 2B-4T shapes, written to ~/.cache/bitnet-perfd on first
# use) cross-validated against the scalar reference, then prefill/decode tokens/sec on this host.
# No configuration, no network.
# Extra arguments go to `perfd bench` (e.g. --json, --kernels, --params isa=avx2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[[ -f "$HOME/.cargo/env" ]] && source "$HOME/.cargo/env"
cargo build --release --locked --bin perfd
exec target/release/perfd bench --crossval --profile "$@"
