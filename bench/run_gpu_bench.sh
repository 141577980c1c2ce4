#!/usr/bin/env bash
# On a GPU machine: configures and builds the CUDA backend, runs the GPU tests (ctest -L gpu)
# and the kernel resource check, times the kernels against their roofline (gpu_kernel_bench:
# bytes moved against the D2D copy bandwidth, GEMM FLOP/s against the nominal peak), then the
# GPT training step against PyTorch on the same device (gpu_train_bench.py: `torus train` with
# trainer.device=cuda against gpt_gpu_peer.py, alternating rounds; tokens/s and the ratio).
# Writes bench/results/gpu/: tests.log, resource_check.log, kernels.json (every measurement),
# kernels.md (the table), gpt.jsonl and gpt.md (the training step). Without a GPU it says so
# and exits 1 before running or timing anything. The peer needs a torch built with CUDA:
# TORUS_GPU_PEER_PYTHON names its Python (default /usr/bin/python3, whose Debian torch is a
# CPU build: then Torus is timed alone and the ratio is reported as not measured, saying why).
#
#   bench/run_gpu_bench.sh [BUILD_DIR]        (default: build-cuda at the repository root)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build-cuda}
results=${TORUS_BENCH_RESULTS:-$here/results}/gpu
bench=$build/bench/gpu_kernel_bench

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTORUS_WITH_CUDA=ON
# The bench first (it needs only torus_cuda): it is also what tells whether a GPU is here.
cmake --build "$build" --target gpu_kernel_bench
status=0
device=$("$bench" --device) || status=$?
if [[ $status -ne 0 ]]; then
  echo "run_gpu_bench.sh: no usable GPU on $(hostname) (gpu_kernel_bench --device exited $status);" \
       "nothing run or timed" >&2
  exit 1
fi
echo "run_gpu_bench.sh: timing on $device"

# Everything, so every test labelled gpu has its executable (discovered at build time).
cmake --build "$build"
mkdir -p "$results"
ctest --test-dir "$build" -L gpu --output-on-failure 2>&1 | tee "$results/tests.log"
ctest --test-dir "$build" -R '^cuda_resource_check$' --output-on-failure 2>&1 | tee "$results/resource_check.log"
# Skipped GPU tests would mean the device vanished or a test cannot use it: not a valid run.
if grep -q 'Skipped' "$results/tests.log"; then
  echo "run_gpu_bench.sh: some GPU tests skipped on a machine with a GPU (see $results/tests.log)" >&2
  exit 1
fi

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $device."
  echo
  "$bench" --json "$results/kernels.json"
} | tee "$results/kernels.md"

# The GPT step, Torus against PyTorch on this device (gpu_train_bench.py says why when the
# peer's torch cannot use it, and reports no ratio then).
{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $device."
  echo
  /usr/bin/python3 "$here/gpu_train_bench.py" "$build" --device-name "$device" \
    --out "$results/gpt.jsonl" --md "$results/gpt.md.part"
} | tee "$results/gpt.md"
rm -f "$results/gpt.md.part"
