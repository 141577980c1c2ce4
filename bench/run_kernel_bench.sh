#!/usr/bin/env bash
# Runs the kernel benchmarks of an existing build (it builds nothing) with 2 threads and
# with 1, GEMM twice: OpenBLAS with OPENBLAS_CORETYPE as set and with it (and
# OPENBLAS_L2_SIZE) unset. Writes bench/results/kernels.jsonl and kernels.md.
#
#   bench/run_kernel_bench.sh BUILD_DIR        (about 2 minutes on 2 cores)
set -euo pipefail

build=${1:?usage: bench/run_kernel_bench.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
results=${TORUS_BENCH_RESULTS:-$here/results}
gemm=$build/bench/gemm_bench
elementwise=$build/bench/elementwise_bench
for exe in "$gemm" "$elementwise"; do
  [[ -x $exe ]] || { echo "run_kernel_bench.sh: $exe not built (configure with benchmarks on)" >&2; exit 1; }
done

# Machines of this kind set OPENBLAS_CORETYPE=Haswell (BENCHMARKS.md); a shell that does
# not gets it here, so the two OpenBLAS runs are always "as the machine sets it" and
# "unset".
coretype=${OPENBLAS_CORETYPE:-Haswell}

mkdir -p "$results"
jsonl=$results/kernels.jsonl
: >"$jsonl"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for threads in 2 1; do
  OPENBLAS_CORETYPE=$coretype "$gemm" --threads "$threads" >>"$jsonl"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$gemm" --threads "$threads" >>"$jsonl"
  "$elementwise" --threads "$threads" >>"$jsonl"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs));"
  echo "load average (1, 5, 15 min) before: $load_before, after: $load_after."
  echo
  /usr/bin/python3 "$here/render_table.py" "$jsonl"
} >"$results/kernels.md"
cat "$results/kernels.md"
