#!/usr/bin/env bash
# The whole benchmark suite in one command: builds what it needs, runs every suite (each
# validates before it times, each against its peer in the same run), the scaling model, and
# the summary of every target with its plots.
#
#   bench/run_all.sh [--quick] [--build DIR] [--results DIR] [--only SUITE,...]
#
#   full     (default) the protocol's 5 alternating rounds everywhere; about 45-60 minutes on
#            2 cores. Writes bench/results/ (the figures bench/README.md quotes).
#   --quick  1-2 rounds and shorter runs, under 15 minutes on 2 cores: a check that everything
#            runs and a rough table, not figures to publish (fewer rounds than the protocol's
#            5). Writes bench/results/quick/ unless --results says otherwise.
#   --only   a subset of: kernels train comm ddp scaling sharding io ckpt (the model and
#            the summary always run, on whatever results the folder holds)
#
# Needs the packages of `cluster/setup-node.sh --bench` (PyTorch, matplotlib).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
quick=0 build=$root/build results="" only=""
usage="usage: bench/run_all.sh [--quick] [--build DIR] [--results DIR] [--only SUITE,...]"
while (($#)); do
  case $1 in
    --quick) quick=1; shift ;;
    --build) build=${2:?$usage}; shift 2 ;;
    --results) results=${2:?$usage}; shift 2 ;;
    --only) only=${2:?$usage}; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
if [[ -z $results ]]; then
  results=$here/results
  ((quick)) && results=$here/results/quick
fi
mkdir -p "$results"
results=$(cd "$results" && pwd)
export TORUS_BENCH_RESULTS=$results

all_suites=(kernels train comm ddp scaling sharding io ckpt)
suites=("${all_suites[@]}")
if [[ -n $only ]]; then
  IFS=, read -r -a suites <<<"$only"
  for s in "${suites[@]}"; do
    [[ " ${all_suites[*]} " == *" $s "* ]] || { echo "run_all.sh: unknown suite '$s' (${all_suites[*]})" >&2; exit 2; }
  done
fi

missing=()
/usr/bin/python3 -c 'import torch' 2>/dev/null || missing+=(python3-torch)
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || missing+=(python3-matplotlib)
command -v mpirun >/dev/null || missing+=(openmpi-bin)
if ((${#missing[@]})); then
  echo "run_all.sh: missing ${missing[*]}: run bash cluster/setup-node.sh --bench" >&2
  exit 1
fi

step() { echo; echo "=== run_all.sh: $* ($(date -u +%H:%M:%S))"; }
started=$(date +%s)
step "building in $build"
cmake -S "$root" -B "$build" -G Ninja >/dev/null
cmake --build "$build" --target torus gemm_bench elementwise_bench io_bench allreduce_bench ddp_overlap_bench \
  ckpt_bench step_profile_bench

# Per suite: the full arguments, then the quick ones.
declare -A full_args=(
  [train]="--reps 5" [ddp]="--reps 5" [scaling]="--reps 5" [sharding]="--reps 5"
  [comm]="--reps 5" [io]="--reps 9" [ckpt]="--rounds 5")
declare -A quick_args=(
  [train]="--reps 2 --steps-scale 0.4" [ddp]="--reps 1 --warmup 2 --steps 5" [scaling]="--reps 1 --warmup 2 --steps 6"
  [sharding]="--reps 1 --warmup 2 --steps 5" [comm]="--reps 2 --runs 1 --min-time 0.05"
  [io]="--reps 3 --mib 256" [ckpt]="--rounds 2 --mib 256")
args_of() { if ((quick)); then echo "${quick_args[$1]:-}"; else echo "${full_args[$1]:-}"; fi; }

for suite in "${suites[@]}"; do
  step "$suite"
  # shellcheck disable=SC2046 # the argument lists are words
  case $suite in
    kernels) "$here/run_kernel_bench.sh" "$build" ;;
    train) "$here/run_train_bench.sh" "$build" $(args_of train) ;;
    comm)
      "$here/run_comm_bench.sh" "$build" --np 2 $(args_of comm)
      "$here/run_comm_bench.sh" "$build" --np 4 $(args_of comm) ;;
    ddp) "$here/run_ddp_bench.sh" "$build" $(args_of ddp) ;;
    scaling) "$here/run_scaling_bench.sh" "$build" $(args_of scaling) ;;
    sharding) "$here/run_sharding_bench.sh" "$build" $(args_of sharding) ;;
    io) "$here/run_io_bench.sh" "$build" "$build/bench" $(args_of io) ;;
    ckpt) "$here/run_ckpt_bench.sh" "$build" "$build/bench" $(args_of ckpt) ;;
  esac
done

step "scaling model"
/usr/bin/python3 "$here/scaling_model.py" all --results "$results" >/dev/null
cat "$results/scaling_model.md"
step "summary"
mode="full run"
((quick)) && mode="QUICK run (1-2 rounds, shorter runs: a check, not figures to publish)"
{
  echo "Benchmark summary, $mode, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
  echo "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(( ($(date +%s) - started) / 60 )) minutes."
  echo
} >"$results/summary.head"
/usr/bin/python3 "$here/summary.py" --results "$results" --plots >/dev/null
cat "$results/summary.head" "$results/summary.md" >"$results/summary.tmp" && mv "$results/summary.tmp" "$results/summary.md"
rm -f "$results/summary.head"
cat "$results/summary.md"
echo "run_all.sh: results in $results (summary.md, summary.json, plots/)"
