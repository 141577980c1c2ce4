#!/usr/bin/env bash
# The scaling benchmark on a Slurm cluster: W2 GPT weak scaling over node counts, in the
# JSON format of bench/scaling_bench.py, and the scaling model's prediction for the same
# nodes beside it.
#
#   cluster/bench/scaling.sh submit [--nodes 1,2,4,8] [--ranks-per-node G] [--threads T] [--reps R]
#                                   [--partition P] [--account A] [--time HH:MM:SS]
#                                   [--results DIR] [--build DIR] [--warmup N] [--steps N] [--wait]
#   cluster/bench/scaling.sh collect [--results DIR] [--gbps G] [--latency-us U]
#
# submit: one job array per node count (Slurm array tasks share one resource request, so
# the node count cannot vary inside an array); its tasks are the repetitions (--reps,
# default 5), one at a time (%1), and the arrays one after another (--dependency=singleton:
# every one is named torus-scaling), so no two measurements share the network. Each task
# appends one line to RESULTS/scaling-nN.jsonl and writes a step profile; a RESULTS folder
# that already holds such lines is refused (a new folder per measurement). The build and the
# results folder (default cluster-results/scaling) must be on a file system every node sees.
# collect: merges them into RESULTS/scaling.jsonl and scaling.md (efficiency against the
# fewest nodes), and prints the model's prediction for a network of --gbps (default 100)
# and --latency-us per hop (default: NCCL's LL figure) next to it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command=${1:-}
shift || true
nodes=1,2,4,8 per_node=1 threads=1 reps=5 results=$root/cluster-results/scaling build=$root/build
partition="" account="" time_limit=00:30:00 wait=0 gbps=100 latency="" warmup=3 steps=10
while (($#)); do
  case $1 in
    --nodes) nodes=$2; shift 2 ;;
    --ranks-per-node) per_node=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --partition) partition=$2; shift 2 ;;
    --account) account=$2; shift 2 ;;
    --time) time_limit=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --wait) wait=1; shift ;;
    --warmup) warmup=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --gbps) gbps=$2; shift 2 ;;
    --latency-us) latency=$2; shift 2 ;;
    *) echo "cluster/bench/scaling.sh: unknown argument $1 (see the header of this script)" >&2; exit 2 ;;
  esac
done
mkdir -p "$results"
results=$(cd "$results" && pwd)

case $command in
  submit)
    command -v sbatch >/dev/null || { echo "scaling.sh: sbatch not found: not a Slurm login node?" >&2; exit 1; }
    for exe in launcher/torus bench/step_profile_bench; do
      [[ -x $build/$exe ]] || { echo "scaling.sh: $build/$exe is not built" >&2; exit 1; }
    done
    if compgen -G "$results/scaling-n*.jsonl" >/dev/null; then
      echo "scaling.sh: $results already holds the records of an earlier submit; use another --results folder" >&2
      exit 1
    fi
    extra=()
    [[ -n $partition ]] && extra+=(--partition "$partition")
    [[ -n $account ]] && extra+=(--account "$account")
    job_env="ALL,TORUS_ROOT=$root,TORUS=$build/launcher/torus,PROFILER=$build/bench/step_profile_bench"
    job_env+=",RESULTS=$results,RANKS_PER_NODE=$per_node,THREADS=$threads,WARMUP=$warmup,STEPS=$steps"
    pids=()
    # The waiting sbatch processes go with this script, however it ends.
    trap 'if ((${#pids[@]})); then kill "${pids[@]}" 2>/dev/null || true; fi' EXIT
    IFS=, read -r -a counts <<<"$nodes"
    for n in "${counts[@]}"; do
      args=(--parsable --nodes "$n" --ntasks-per-node "$per_node" --cpus-per-task "$threads" --time "$time_limit"
            --array "1-$reps%1" --dependency singleton --output "$results/slurm-%A_%a.out" "${extra[@]}"
            --export "$job_env")
      if ((wait)); then
        sbatch --wait "${args[@]}" "$here/scaling.sbatch" >"$results/job-n$n.id" &
        pids+=($!)
        for ((i = 0; i < 300; i++)); do  # sbatch prints the id as it submits
          [[ -s $results/job-n$n.id ]] && break
          sleep 0.1
        done
        [[ -s $results/job-n$n.id ]] || { echo "scaling.sh: sbatch printed no job id for $n node(s)" >&2; exit 1; }
        echo "scaling.sh: $n node(s): job $(cat "$results/job-n$n.id"), $reps repetitions"
      else
        id=$(sbatch "${args[@]}" "$here/scaling.sbatch") ||
          { echo "scaling.sh: sbatch failed for $n node(s)" >&2; exit 1; }
        echo "scaling.sh: $n node(s): job $id, $reps repetitions"
      fi
    done
    status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    pids=()
    ((status == 0)) || { echo "scaling.sh: a job failed: see $results/slurm-*.out" >&2; exit 1; }
    if ((wait)); then echo "scaling.sh: all jobs done; now: cluster/bench/scaling.sh collect --results $results"; fi
    ;;
  collect)
    /usr/bin/python3 "$root/bench/scaling_collect.py" merge "$results"
    /usr/bin/python3 "$root/bench/render_table.py" "$results/scaling.jsonl" | tee "$results/scaling.md"
    # The node counts measured and the ranks per node they ran with.
    read -r measured per_node < <(/usr/bin/python3 -c '
import json, sys
runs = [r for r in map(json.loads, open(sys.argv[1])) if r["suite"] == "scaling"]
print(",".join(str(r["nodes"]) for r in runs), runs[0]["ranks"] // runs[0]["nodes"])' "$results/scaling.jsonl")
    echo
    /usr/bin/python3 "$root/bench/scaling_model.py" predict --workload w2 --results "$results" --nodes "$measured" \
      --per-node "$per_node" --gbps "$gbps" ${latency:+--latency-us "$latency"} | tee -a "$results/scaling.md"
    ;;
  *) echo "usage: cluster/bench/scaling.sh submit|collect [options] (see the header of this script)" >&2; exit 2 ;;
esac
