#!/usr/bin/env bash
# The training benchmark (BENCHMARKS.md W1 MLP, W2 GPT, W3 CNN): `torus train` on synthetic
# data against the PyTorch peer (bench/torch_train_peer.py) at the same threads, the peer as
# installed and tuned (OPENBLAS_CORETYPE as set and unset), alternating rounds. Builds
# nothing. Writes bench/results/train.jsonl and train.md.
#
#   bench/run_train_bench.sh BUILD_DIR [--reps N] [--threads N] [--workloads W1,W2,W3]
#                                      (about 6-10 minutes on 2 cores at 5 rounds)
set -euo pipefail

build=${1:?usage: bench/run_train_bench.sh BUILD_DIR [--reps N] [--threads N] [--workloads W1,W2,W3]}
shift
here=$(cd "$(dirname "$0")" && pwd)
results=${TORUS_BENCH_RESULTS:-$here/results}
[[ -x $build/launcher/torus ]] || { echo "run_train_bench.sh: $build/launcher/torus not built" >&2; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null ||
  { echo "run_train_bench.sh: /usr/bin/python3 has no torch (apt-get install python3-torch)" >&2; exit 1; }

mkdir -p "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
/usr/bin/python3 "$here/train_bench.py" "$build" --out "$results/train.jsonl" "$@"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "$(( $(date +%s) - start )) s; load average (1, 5, 15 min) before: $load_before, after: $load_after."
  echo
  /usr/bin/python3 "$here/render_table.py" "$results/train.jsonl"
} >"$results/train.md"
cat "$results/train.md"
