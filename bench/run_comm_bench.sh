#!/usr/bin/env bash
# The all-reduce benchmark (BENCHMARKS.md: process-group all-reduce busbw against
# MPI_Allreduce, 2 ranks on one node): allreduce_bench jobs under mpirun, alternating
# `--impl mpi` and `--impl torus` (A B A B ...), one job per implementation per round.
# Builds nothing. Writes RESULTS/comm.jsonl and comm.md (comm_npN.* for N ranks other than 2),
# RESULTS being $TORUS_BENCH_RESULTS or bench/results.
#
#   bench/run_comm_bench.sh BUILD_DIR [--reps N] [--np N] [--min-bytes B] [--max-bytes B]
#                                     [--runs R] [--min-time S]
#   (about 2-3 minutes on 2 cores at the defaults: 5 rounds, 4 KiB-256 MiB, 3 runs of 0.2 s)
# A short check: --reps 1 --max-bytes 1048576 --runs 1 --min-time 0.02 (rounds below 5 are
# for checking the script only; the protocol wants at least 5).
set -euo pipefail

usage="usage: bench/run_comm_bench.sh BUILD_DIR [--reps N] [--np N] [--min-bytes B] [--max-bytes B] [--runs R] [--min-time S]"
build=${1:?$usage}
shift
reps=5 np=2 job_args=()
while (($#)); do
  case $1 in
    --reps) reps=$2 ;;
    --np) np=$2 ;;
    --min-bytes | --max-bytes | --runs | --min-time) job_args+=("$1" "$2") ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift 2
done
here=$(cd "$(dirname "$0")" && pwd)
results=${TORUS_BENCH_RESULTS:-$here/results}
stem=comm
((np == 2)) || stem=comm_np$np
bench=$build/bench/allreduce_bench
[[ -x $bench ]] || { echo "run_comm_bench.sh: $bench not built (ninja -C $build bench/allreduce_bench)" >&2; exit 1; }

jobs=$(mktemp -d "${TMPDIR:-/tmp}/torus_comm_bench.XXXXXX")
trap 'rm -rf "$jobs"' EXIT
mkdir -p "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
for ((rep = 0; rep < reps; rep++)); do
  for impl in mpi torus; do
    echo "round $((rep + 1))/$reps: --impl $impl" >&2
    mpirun --oversubscribe --allow-run-as-root -np "$np" "$bench" --impl "$impl" "${job_args[@]}" \
      >"$jobs/$rep.$impl.jsonl"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 "$here/summarize_comm.py" "$jobs" --out "$results/$stem.jsonl"

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "$(head -n1 "$jobs/0.mpi.jsonl" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["mpi_library"])'),"
  echo "$np ranks, $reps rounds; $(( $(date +%s) - start )) s; load average (1, 5, 15 min) before: $load_before, after: $load_after."
  echo
  /usr/bin/python3 "$here/render_table.py" "$results/$stem.jsonl"
} >"$results/$stem.md"
cat "$results/$stem.md"
