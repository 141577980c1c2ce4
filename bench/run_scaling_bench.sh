#!/usr/bin/env bash
# Weak and strong scaling of W2 over 1, 2 and 4 ranks (4 oversubscribed on a 2-core machine,
# and marked so), and the step profiles the scaling model is calibrated with
# (bench/scaling_bench.py). Builds nothing. Writes RESULTS/scaling.jsonl and scaling.md,
# RESULTS being $TORUS_BENCH_RESULTS or bench/results.
#
#   bench/run_scaling_bench.sh BUILD_DIR [--reps N] [--warmup N] [--steps N]
#   (about 8 minutes on 2 cores at the defaults: 5 rounds of 10 jobs of 3 + 10 steps)
# A short check: --reps 1 --warmup 1 --steps 2 (the protocol wants at least 5 rounds).
set -euo pipefail

build=${1:?usage: bench/run_scaling_bench.sh BUILD_DIR [--reps N] [--warmup N] [--steps N]}
shift
here=$(cd "$(dirname "$0")" && pwd)
results=${TORUS_BENCH_RESULTS:-$here/results}
for binary in launcher/torus bench/step_profile_bench; do
  [[ -x $build/$binary ]] || { echo "run_scaling_bench.sh: $build/$binary not built (ninja -C $build $binary)" >&2; exit 1; }
done

mkdir -p "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
/usr/bin/python3 "$here/scaling_bench.py" "$build" --out "$results/scaling.jsonl" "$@"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "$(mpirun --version | head -n1); $(( $(date +%s) - start )) s; load average (1, 5, 15 min) before: $load_before, after: $load_after."
  echo
  /usr/bin/python3 "$here/render_table.py" "$results/scaling.jsonl"
} >"$results/scaling.md"
cat "$results/scaling.md"
