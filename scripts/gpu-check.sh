#!/usr/bin/env bash
# The CUDA backend on a real GPU, in one go (about 3-5 minutes on one H100):
#   1. the device tests (kernel crossval at every launch shape, tiny and deep model crossval
#      against the CPU scalar reference, graph vs no graph, limits, bandwidth);
#   2. perfd bench --kernels --backend cuda --crossval: I2_S products with HBM roofline ratios;
#   3. perfd bench --backend cuda --preset 2b4t --crossval --json (and --profile);
#   4. a launch-parameter sweep and, where Nsight Compute is installed, each kernel's device time;
#   5. a short `perfd run` (embedded default, backend auto) whose /metrics must carry the
#      backend="cuda" figures and the bitnet_gpu_* NVML families.
#
# Usage: scripts/gpu-check.sh [OUT_DIR]
#   Binaries come from $PERFD_BIN_DIR (perfd and cuda_device, e.g. copied from a build machine),
#   else target/release (built with cargo when missing).
# PERFD_GPU_CHECK_NCU=0 skips the Nsight Compute breakdown (about 2.5 minutes) when device time is short.
# NVRTC: found on the loader path, else looked up in the CUDA toolkit and Python wheels and put
# on LD_LIBRARY_PATH for this script.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-/tmp/perfd-gpu-check}}
mkdir -p "$out"
say() { printf '\n== %s\n' "$*"; }
fail=0
step() { # name, command...: stdout to $out/NAME.out, stderr to $out/NAME.log; records failure
  local name=$1; shift
  say "$name: $*"
  local t0=$SECONDS
  if "$@" >"$out/$name.out" 2>"$out/$name.log"; then
    echo "ok ($((SECONDS - t0)) s)"
  else
    echo "FAILED (status $?, $((SECONDS - t0)) s)"; fail=1
  fi
  tail -n 12 "$out/$name.log"
  [[ "$name" == *json* ]] || tail -n 40 "$out/$name.out"
}

bin=${PERFD_BIN_DIR:-target/release}
if [[ -z "${PERFD_BIN_DIR:-}" && ! -x "$bin/perfd" ]]; then
  cargo build --release --bin perfd || exit 1
fi
device_tests=${PERFD_DEVICE_TESTS:-$(ls -t "$bin"/cuda_device* "$bin"/deps/cuda_device-* 2>/dev/null | grep -v '\.d$' | head -1)}
if [[ -z "$device_tests" && -z "${PERFD_BIN_DIR:-}" ]]; then
  cargo test --release -p bitnet-kernels --test cuda_device --no-run || exit 1
  device_tests=$(ls -t target/release/deps/cuda_device-* | grep -v '\.d$' | head -1)
fi

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true

# NVRTC for run-time compilation: a toolkit's or a wheel's libnvrtc, named as perfd looks for it.
if ! ldconfig -p | grep -q 'libnvrtc\.so\(\.12\)\? '; then
  lib=$( (ls -d ${CUDA_HOME:-/usr/local/cuda}/lib64 /usr/local/cuda*/targets/x86_64-linux/lib \
          /usr/local/lib/python3*/dist-packages/nvidia/*/lib /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib \
          /usr/lib/x86_64-linux-gnu 2>/dev/null; python3 -c 'import site; print("\n".join(site.getsitepackages()))' 2>/dev/null | sed 's|$|/nvidia/cuda_nvrtc/lib|; p; s|cuda_nvrtc/lib|cu13/lib|') \
        | while read -r d; do ls "$d"/libnvrtc.so.1[0-9]* 2>/dev/null; done | grep -v builtins | head -1)
  if [[ -n "$lib" ]]; then
    shim=$(mktemp -d); ln -sf "$lib" "$shim/libnvrtc.so"
    export LD_LIBRARY_PATH="$shim:$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "NVRTC: $lib"
  else
    echo "NVRTC: none found (perfd will say so)"
  fi
fi

export PERFD_CACHE_DIR=${PERFD_CACHE_DIR:-/tmp/perfd-gpu-check-cache}
if [[ -n "$device_tests" ]]; then
  step device_tests "$device_tests" --test-threads=1 --nocapture
else
  say "device_tests: no cuda_device test binary"; fail=1
fi
step kernels "$bin/perfd" bench --kernels --backend cuda --crossval --samples 7
step kernels_json "$bin/perfd" bench --kernels --backend cuda --json --samples 5 --params lanes_per_row=16
step model_2b4t_json "$bin/perfd" bench --backend cuda --preset 2b4t --crossval --reps 5 --json
step model_2b4t_profile "$bin/perfd" bench --backend cuda --preset 2b4t --reps 3 --profile
# The sweep's leader on the H100 and the H200 (not yet the default): checked, not only timed.
step model_2b4t_gemv128 "$bin/perfd" bench --backend cuda --preset 2b4t --crossval --reps 3 --params gemv_threads=128
sweep_line() { # report.json label
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ph = {p["phase"]: p["tokens_per_second"]["median"] for p in r["phases"]}
print(f'{sys.argv[2]:<24} decode {ph["decode"]:8.1f} tok/s  prefill {ph["prefill"]:8.1f} tok/s  '
      f'roofline {100 * r["decode_roofline"]["ratio"]:.1f}%')
PY
}
say "launch-parameter sweep (2b4t, decode and prefill medians, 3 repetitions each)"
for p in graph=false fused=false dependent_launch=false dependent_launch=true \
  graph=false,dependent_launch=true lanes_per_row=16 attention_threads=1024 attention_threads=256 \
  gemv_threads=128 gemv_threads=512; do
  if "$bin/perfd" bench --backend cuda --preset 2b4t --reps 3 --json --params "$p" \
      >"$out/sweep.json" 2>>"$out/sweep.log"; then
    sweep_line "$out/sweep.json" "$p"
  else
    echo "$p: FAILED"; fail=1
  fi
done

say "where a decode step's device time goes (Nsight Compute, each kernel alone, caches flushed)"
if [[ "${PERFD_GPU_CHECK_NCU:-1}" == 0 ]]; then
  echo "ncu: skipped (PERFD_GPU_CHECK_NCU=0)"
elif command -v ncu >/dev/null; then
  # Graph off, so each kernel is its own launch; 610 launches = two decode steps of 2b4t.
  timeout 150 ncu --csv --page raw --metrics gpu__time_duration.sum --clock-control none \
    --kernel-name 'regex:^(i2s|rms|rope|attention|f16|embed|argmax|advance)' \
    --launch-skip 700 --launch-count 610 \
    "$bin/perfd" bench --backend cuda --preset 2b4t --reps 1 --pp 8 --tg 8 --params graph=false \
    >"$out/ncu.csv" 2>"$out/ncu.log" || { echo "ncu: status $? (not a failure of perfd)"; tail -n 3 "$out/ncu.log"; }
  python3 - "$out/ncu.csv" <<'PY'
import csv, collections, sys
rows = list(csv.reader(open(sys.argv[1])))
hi = next((i for i, r in enumerate(rows) if "Kernel Name" in r), None)
if hi is None:
    print("ncu: no table"); sys.exit(0)
h = rows[hi]; k, g, m = h.index("Kernel Name"), h.index("Grid Size"), h.index("gpu__time_duration.sum")
agg = collections.defaultdict(list)
for r in rows[hi + 1:]:
    try:
        t = float(r[m].replace(",", ""))
    except (ValueError, IndexError):
        continue  # the units row
    agg[(r[k], r[g])].append(t)
tot = sum(sum(v) for v in agg.values()) or 1.0
print(f"{sum(len(v) for v in agg.values())} kernels, ns")
for (name, grid), v in sorted(agg.items(), key=lambda kv: -sum(kv[1])):
    print(f"{name:<22} grid {grid:<16} n {len(v):4d}  mean {sum(v)/len(v):9.1f}  min {min(v):9.1f}  share {100*sum(v)/tot:5.1f}%")
PY
else
  echo "ncu: not installed, skipped"
fi

say "perfd run: embedded default on the GPU, /metrics"
state=$(mktemp -d); port=$((20000 + RANDOM % 20000))
cat >"$state/perfd.toml" <<EOT
[daemon]
state_dir = "$state"
listen = "127.0.0.1:$port"
[benchmark]
backend = "auto"
preset = "tiny"
prompt_tokens = 16
gen_tokens = 16
reps = 3
[noise]
limit_cores = 64.0
EOT
"$bin/perfd" run --config "$state/perfd.toml" >"$out/run.log" 2>&1 &
pid=$!
metrics=""
for _ in $(seq 1 120); do
  sleep 1
  metrics=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$port/metrics" 2>/dev/null) || continue
  grep -q 'bitnet_inference_tokens_per_second{phase="decode",model="tiny",backend="cuda"}' <<<"$metrics" && break
  grep -q 'run recorded' "$out/run.log" && { sleep 2; break; }
done
kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
printf '%s\n' "$metrics" >"$out/metrics.txt"
for needle in 'backend="cuda"' bitnet_gpu_utilization_ratio bitnet_gpu_memory_used_bytes \
  bitnet_gpu_memory_total_bytes bitnet_gpu_sm_clock_hertz bitnet_gpu_power_watts \
  bitnet_gpu_temperature_celsius bitnet_gpu_throttle_reasons; do
  if grep -q "$needle" "$out/metrics.txt"; then echo "metrics: $needle present"; else echo "metrics: $needle MISSING"; fail=1; fi
done
grep -E '^bitnet_(gpu_|inference_tokens_per_second|inference_roofline)' "$out/metrics.txt" | head -20
tail -n 5 "$out/run.log"

say "summary"
python3 - "$out" <<'PY' || fail=1
import json, sys
out = sys.argv[1]
def load(name):
    try:
        return json.load(open(f"{out}/{name}"))
    except Exception as e:
        print(f"{name}: unreadable ({e})"); return None
m = load("model_2b4t_json.out")
if m:
    g = m["gpu"]; bw = g["bandwidth"]
    print(f'{g["device"]} cc {g["compute_capability"]}, NVRTC {g["nvrtc"]}, copy {max(bw["copy_bytes_per_second"]["samples"])/1e9:.0f} GB/s best, read {max(bw["read_bytes_per_second"]["samples"])/1e9:.0f} GB/s best')
    for p in m["phases"]:
        print(f'{p["phase"]}: {p["tokens_per_second"]["median"]:.1f} tok/s median over {len(p["tokens_per_second"]["samples"])} runs')
    r = m["decode_roofline"]
    print(f'decode roofline ({r["bandwidth"]}): {100*r["ratio"]:.1f}% of {r["roofline_tokens_per_second"]:.0f} tok/s, {r["bytes_per_token"]/1e9:.3f} GB/token')
    mc = m["model_crossval"]
    print(f'model crossval: pass={mc["pass"]} min cosine {mc["min_cosine"]:.9f} max|dlogit| {mc["max_abs_diff"]:.2e} tokens identical={mc["tokens_identical"]}')
    for c in m["crossval"]:
        print(f'kernel crossval {c["check"]}: pass={c["pass"]} i32 mismatches {c["i32_mismatches"]} max rel {c["max_rel_err"]:.1e}')
    if not (mc["pass"] and all(c["pass"] for c in m["crossval"])): sys.exit(1)
k = load("kernels_json.out")
if k:
    for r in k["kernels"]:
        print(f'{r["rows"]}x{r["cols"]}: {r["ns_per_op"]["median"]/1e3:.2f} us, {r["bytes_per_second"]["median"]/1e9:.0f} GB/s = {100*r["roofline_ratio"]:.1f}% of copy')
PY
if [[ $fail -eq 0 ]]; then say "gpu-check: all passed"; else say "gpu-check: FAILED (logs in $out)"; fi
exit $fail
