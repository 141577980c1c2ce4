#!/usr/bin/env bash
# Runs the checkpoint I/O benchmark of an existing build (it builds nothing) on the disk
# holding DIR (default: BUILD_DIR/bench, on the repository's disk); io_bench makes and
# removes its own temporary directory there (about 3.2 GiB at most). Further arguments
# go to io_bench (--reps N, --mib N). Writes bench/results/io.jsonl and io.md.
#
#   bench/run_io_bench.sh BUILD_DIR [DIR [ARGS...]]       (about 2 minutes)
set -euo pipefail

build=${1:?usage: bench/run_io_bench.sh BUILD_DIR [DIR [ARGS...]]}
dir=${2:-$build/bench}
shift $(( $# < 2 ? $# : 2 ))
here=$(cd "$(dirname "$0")" && pwd)
results=${TORUS_BENCH_RESULTS:-$here/results}
exe=$build/bench/io_bench
[[ -x $exe ]] || { echo "run_io_bench.sh: $exe not built (cmake --build $build --target io_bench)" >&2; exit 1; }
[[ -d $dir ]] || { echo "run_io_bench.sh: $dir is not a directory" >&2; exit 1; }

mkdir -p "$results"
jsonl=$results/io.jsonl
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"$exe" --dir "$dir" "$@" >"$jsonl.tmp"
mv "$jsonl.tmp" "$jsonl"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
read -r fs_device fs_type _ < <(df --output=source,fstype "$dir" | tail -1)

{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "kernel $(uname -r), on $fs_type ($fs_device);"
  echo "load average (1, 5, 15 min) before: $load_before, after: $load_after."
  echo
  /usr/bin/python3 "$here/render_table.py" "$jsonl"
} >"$results/io.md"
cat "$results/io.md"
