#!/usr/bin/env bash
# Distributed checkpoint save/load against dd and torch.save/torch.load on one disk:
# ROUNDS rounds, each one `mpirun -np RANKS ckpt_bench` (save vs dd conv=fdatasync, then
# load cold and warm), with RANKS > 1 also `mpirun -np 1 ckpt_bench` (one process against
# one torch.load process), and one bench/ckpt_torch_peer.py (Debian's torch) of the same
# state, with RANKS > 1 also RANKS torch.load processes of it at once (as every rank of a
# DDP job resumes). Builds nothing. Writes bench/results/ckpt.jsonl and ckpt.md (or, with
# --out NAME, bench/results/NAME.jsonl and NAME.md).
#
#   bench/run_ckpt_bench.sh BUILD_DIR [DIR] [--rounds N] [--mib N] [--ranks N] [--out NAME]
#   (about 3 minutes at the defaults: 5 rounds of a 1 GiB state, 2 ranks; needs ~3 GiB free in DIR)
set -euo pipefail

build=${1:?usage: bench/run_ckpt_bench.sh BUILD_DIR [DIR] [--rounds N] [--mib N] [--ranks N] [--out NAME]}
shift
dir=$build/bench
if [[ $# -gt 0 && $1 != --* ]]; then dir=$1; shift; fi
rounds=5 mib=1024 ranks=2 out=ckpt
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "run_ckpt_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
results=${TORUS_BENCH_RESULTS:-$here/results}
exe=$build/bench/ckpt_bench
[[ -x $exe ]] || { echo "run_ckpt_bench.sh: $exe not built (cmake --build $build --target ckpt_bench)" >&2; exit 1; }
mkdir -p "$results" "$dir"
jsonl=$results/$out.jsonl
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
: >"$jsonl.tmp"
for round in $(seq 1 "$rounds"); do
  echo "round $round/$rounds" >&2
  for np in $(if ((ranks > 1)); then echo "$ranks 1"; else echo 1; fi); do
    mpirun --oversubscribe --allow-run-as-root -np "$np" "$exe" --dir "$dir" --mib "$mib" --reps 1 |
      sed "s/\"rep\": 1/\"rep\": $round/" >>"$jsonl.tmp"
  done
  /usr/bin/python3 "$here/ckpt_torch_peer.py" --dir "$dir" --mib "$mib" --reps 1 --concurrent "$ranks" |
    sed "s/\"rep\": 1/\"rep\": $round/" >>"$jsonl.tmp"
done
mv "$jsonl.tmp" "$jsonl"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
read -r fs_device fs_type _ < <(df --output=source,fstype "$dir" | tail -1)
{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "kernel $(uname -r), on $fs_type ($fs_device); $(( $(date +%s) - start )) s;"
  echo "load average (1, 5, 15 min) before: $load_before, after: $load_after."
  echo
  /usr/bin/python3 "$here/summarize_ckpt.py" "$jsonl"
} >"$results/$out.md"
cat "$results/$out.md"
