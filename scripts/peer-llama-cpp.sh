#!/usr/bin/env bash
# llama.cpp (mainline, TQ2_0) and perfd side by side on the same file, 2 threads, interleaved.
#
#   scripts/peer-llama-cpp.sh [ROUNDS]      (default 3 rounds of 5 repetitions of each engine)
#   scripts/peer-llama-cpp.sh --build-only  (only build llama-bench)
#
# llama.cpp is built outside the repository, under ~/.cache/bitnet-perfd/peers/, from the copy
# vendored in llama-cpp-python's source distribution on PyPI (version and sha256 pinned below):
# GitHub is not reachable from every host perfd runs on, PyPI is. Its code is never copied into
# this repository. The model is perfd's 2b4t synthetic model with TQ2_0 ternary tensors under
# llama.cpp's architecture name `bitnet` (`perfd model write --ternary tq2_0 --arch bitnet`), a
# file both engines read; llama.cpp's `bitnet` graph applies SiLU to the FFN gate where BitNet
# b1.58 2B-4T applies relu², and perfd runs each file with its architecture's activation.
# Each round is one `perfd bench --compare-llama-bench` run: llama-bench runs once between each
# of perfd's repetitions, so both see the same moments of the host; the ratios are of one run.
set -euo pipefail
cd "$(dirname "$0")/.."

LCP_VERSION=0.3.36
LCP_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
LCP_URL=https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/llama_cpp_python-$LCP_VERSION.tar.gz
# The llama.cpp commit that sdist vendors (the git metadata it ships for vendor/llama.cpp),
# 2026-10-01; passed to the build, whose own lookup finds no git directory once extracted.
LLAMA_COMMIT=0c1e57098bba43ac29e6e3b677cdceebdd22334f

say() { printf 'peer-llama-cpp: %s\n' "$*" >&2; }

cache=${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-perfd
peer=$cache/peers/llama.cpp-${LLAMA_COMMIT:0:10}
bench=$peer/build/bin/llama-bench

if [[ ! -x $bench ]]; then
  for tool in cmake g++ curl; do
    command -v $tool >/dev/null || { say "needs $tool (Debian: apt-get install cmake g++ curl)"; exit 1; }
  done
  mkdir -p "$peer"
  tarball=$peer/llama_cpp_python-$LCP_VERSION.tar.gz
  if [[ ! -f $tarball ]] || ! echo "$LCP_SHA256  $tarball" | sha256sum -c --quiet 2>/dev/null; then
    say "downloading llama-cpp-python $LCP_VERSION's sdist (llama.cpp ${LLAMA_COMMIT:0:10})"
    curl -fsSL -o "$tarball.part" "$LCP_URL"
    echo "$LCP_SHA256  $tarball.part" | sha256sum -c --quiet || { say "sha256 mismatch"; exit 1; }
    mv "$tarball.part" "$tarball"
  fi
  rm -rf "$peer/src"
  mkdir -p "$peer/src"
  tar -xzf "$tarball" -C "$peer/src" --strip-components=3 "llama_cpp_python-$LCP_VERSION/vendor/llama.cpp"
  say "building llama-bench (CPU, native ISA) in $peer/build"
  cmake -S "$peer/src" -B "$peer/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_BUILD_COMMIT="${LLAMA_COMMIT:0:7}" -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON >"$peer/cmake.log" 2>&1 \
    || { say "cmake failed: see $peer/cmake.log"; exit 1; }
  cmake --build "$peer/build" --target llama-bench -j "$(nproc)" >"$peer/build.log" 2>&1 \
    || { say "build failed: see $peer/build.log"; exit 1; }
fi
[[ "${1:-}" == "--build-only" ]] && { say "llama-bench: $bench"; exit 0; }
rounds=${1:-3}

[[ -f "$HOME/.cargo/env" ]] && source "$HOME/.cargo/env"
cargo build --release --locked -q -p bitnet-perfd
perfd=target/release/perfd
model=$cache/2b4t-tq2_0-bitnet.gguf
if [[ ! -f $model ]]; then
  say "writing $model"
  $perfd model write --preset 2b4t --ternary tq2_0 --arch bitnet --out "$model.part"
  mv "$model.part" "$model"
fi

out=$(mktemp -d)
for r in $(seq 1 "$rounds"); do
  say "round $r/$rounds"
  $perfd bench --model "$model" --pp 128 --tg 128 --reps 5 --json --compare-llama-bench "$bench" \
    >"$out/round-$r.json"
done
python3 - "$out" "$rounds" "$LLAMA_COMMIT" <<'EOF'
import json, sys
out, rounds, commit = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def median_tps(phases, name):
    for p in phases:
        if p["phase"] == name:
            return p["tokens_per_second"]["median"]
    raise SystemExit(f"no {name} phase in a report")
print(f"llama.cpp {commit[:10]} and perfd on the same TQ2_0 file, 2 threads, runs interleaved,")
print("medians of the repetitions of each round")
print(f"{'round':>5} {'llama.cpp pp128':>16} {'tg128':>7} {'perfd pp128':>12} {'tg128':>7} {'perfd/llama.cpp prefill':>24} {'decode':>7}")
for r in range(1, rounds + 1):
    doc = json.load(open(f"{out}/round-{r}.json"))
    peer = doc["peer"]
    ratio = {x["phase"]: x["ratio"] for x in peer["ratios"]}
    print(f"{r:>5} {median_tps(peer['phases'], 'prefill'):>16.1f} {median_tps(peer['phases'], 'decode'):>7.2f}"
          f" {median_tps(doc['phases'], 'prefill'):>12.1f} {median_tps(doc['phases'], 'decode'):>7.2f}"
          f" {ratio['prefill']:>23.2f}x {ratio['decode']:>6.2f}x")
EOF
say "reports in $out"
