#!/usr/bin/env bash
# The data-parallel benchmark (BENCHMARKS.md: W2 on 2 ranks against PyTorch DDP over gloo,
# weak scaling 1 -> 2 ranks, and the share of the all-reduce hidden behind backward):
# `torus train` under mpirun, bench/torch_ddp_peer.py on as many processes, and
# ddp_overlap_bench, alternating rounds (bench/ddp_bench.py). Builds nothing. Writes
# bench/results/ddp.jsonl and ddp.md.
#
#   bench/run_ddp_bench.sh BUILD_DIR [--reps N] [--warmup N] [--steps N] [--ranks N]
#   (10-15 minutes on a 2-core machine at the defaults: 5 rounds of 7 runs of 3 + 12 steps)
# A short check: --reps 1 --warmup 1 --steps 2 (rounds below 5 are for checking the script
# only; the protocol wants at least 5).
set -euo pipefail

build=${1:?usage: bench/run_ddp_bench.sh BUILD_DIR [--reps N] [--warmup N] [--steps N] [--ranks N]}
shift
here=$(cd "$(dirname "$0")" && pwd)
results=${TORUS_BENCH_RESULTS:-$here/results}
for binary in launcher/torus bench/ddp_overlap_bench; do
  [[ -x $build/$binary ]] || { echo "run_ddp_bench.sh: $build/$binary not built (ninja -C $build $binary)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import torch.distributed' 2>/dev/null ||
  { echo "run_ddp_bench.sh: /usr/bin/python3 has no torch (apt-get install python3-torch)" >&2; exit 1; }

mkdir -p "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
/usr/bin/python3 "$here/ddp_bench.py" "$build" --out "$results/ddp.jsonl" "$@"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "$(mpirun --version | head -n1), PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)');"
  echo "$(( $(date +%s) - start )) s; load average (1, 5, 15 min) before: $load_before, after: $load_after."
  echo
  /usr/bin/python3 "$here/render_table.py" "$results/ddp.jsonl"
} >"$results/ddp.md"
cat "$results/ddp.md"
