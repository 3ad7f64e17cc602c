#!/usr/bin/env bash
# Installs what is needed, builds perfd and runs the main job on the embedded default:
# the kernel benchmark on this host, with no configuration and no network.
# Extra arguments go to `perfd bench` (e.g. --json, --crossval, --params isa=avx2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[[ -f "$HOME/.cargo/env" ]] && source "$HOME/.cargo/env"
cargo build --release --locked --bin perfd
exec target/release/perfd bench --kernels --crossval "$@"
