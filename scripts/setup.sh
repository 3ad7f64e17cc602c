#!/usr/bin/env bash
# Installs what perfd needs on a fresh Debian machine, idempotently.
#   scripts/setup.sh          what running perfd needs (a Rust toolchain)
#   scripts/setup.sh --test   plus the test-only tools (Python venv with numpy/gguf for the
#                             independent reference implementations, Prometheus, Alertmanager,
#                             Chromium, and rustup's aarch64 target)
# Re-running is cheap: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

say() { printf 'setup: %s\n' "$*" >&2; }

# Debian packages: install only the ones missing (apt-get update once, only if needed).
apt_updated=0
need_deb() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if ! command -v apt-get >/dev/null; then
    say "missing Debian packages ${missing[*]} and no apt-get: install them by hand"; exit 1
  fi
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  if [[ $apt_updated -eq 0 ]]; then $sudo apt-get update -qq; apt_updated=1; fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Rust: perfd needs rustc >= 1.89 (AVX-512 intrinsics). rustup's toolchain is used when present.
[[ -f "$HOME/.cargo/env" ]] && source "$HOME/.cargo/env"
if ! command -v cargo >/dev/null; then
  say "no cargo found: install a Rust toolchain >= 1.89 (https://rustup.rs), then re-run"; exit 1
fi
rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if [[ "$rust_minor" -lt 89 ]]; then
  say "rustc $(rustc --version) is too old: perfd needs >= 1.89"; exit 1
fi
command -v cc >/dev/null || need_deb gcc libc6-dev
command -v git >/dev/null || need_deb git

if [[ $want_test -eq 1 ]]; then
  # promtool (Debian's prometheus package): lints /metrics and tests the alert rules.
  command -v promtool >/dev/null || need_deb prometheus
  # Alertmanager (and amtool): the real-server test of the alert routing.
  command -v prometheus-alertmanager >/dev/null || need_deb prometheus-alertmanager
  # Headless Chromium: the status page is checked in a real browser.
  command -v chromium >/dev/null || need_deb chromium
  command -v python3 >/dev/null || need_deb python3
  python3 -c 'import ensurepip, venv' 2>/dev/null || need_deb python3-venv
  # A non-x86 build (test.sh lints the kernels for aarch64): the Rust target comes from rustup,
  # where it can download it.
  # (The list is read whole before grep: `grep -q` quitting early could fail a pipe under pipefail.)
  if command -v rustup >/dev/null \
    && ! grep -qx aarch64-unknown-linux-gnu <<<"$(rustup target list --installed)"; then
    say "adding the Rust target aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu >/dev/null \
      || say "could not add the aarch64 target: test.sh will say that it skipped that check"
  fi
  stamp=.venv/.requirements.sha256
  want=$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)
  if [[ ! -x .venv/bin/python || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    say "creating .venv with tests/python/requirements.txt"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt
    echo "$want" > "$stamp"
  fi
fi
say "ok"
