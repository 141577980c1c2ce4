#!/usr/bin/env bash
# What ZeRO stages 1 and 2 and reproducible mode cost per step on W2 against plain data
# parallelism, 2 ranks x 1 thread, alternating rounds (bench/sharding_bench.py), with each
# variant's memory per rank. Builds nothing. Writes bench/results/sharding.jsonl and .md.
#
#   bench/run_sharding_bench.sh BUILD_DIR [--reps N] [--warmup N] [--steps N] [--ranks N]
#   (about 5 minutes on 2 cores at the defaults: 3 rounds of 5 runs of 3 + 10 steps)
set -euo pipefail

build=${1:?usage: bench/run_sharding_bench.sh BUILD_DIR [--reps N] [--warmup N] [--steps N] [--ranks N]}
shift
here=$(cd "$(dirname "$0")" && pwd)
results=${TORUS_BENCH_RESULTS:-$here/results}
[[ -x $build/launcher/torus ]] || { echo "run_sharding_bench.sh: $build/launcher/torus not built" >&2; exit 1; }

mkdir -p "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
/usr/bin/python3 "$here/sharding_bench.py" "$build" --out "$results/sharding.jsonl" \
  --markdown "$results/sharding.table.md" "$@"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "$(( $(date +%s) - start )) s; load average (1, 5, 15 min) before: $load_before, after: $load_after."
  echo
  cat "$results/sharding.table.md"
} >"$results/sharding.md"
rm -f "$results/sharding.table.md"
cat "$results/sharding.md"
