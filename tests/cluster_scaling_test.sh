#!/usr/bin/env bash
# The cluster scaling benchmark (cluster/bench/scaling.sh) on the single-node Slurm test
# cluster: submit one node x 2 ranks, 2 repetitions, wait, collect; the merged records hold
# the measured throughput of every repetition, the step profile, and the model's prediction;
# a second submit into the same results folder is refused.
# Usage: cluster_scaling_test.sh SOURCE_DIR BUILD_DIR   (as root, with cluster/setup-node.sh's packages)
set -euo pipefail
source_dir=$1
build_dir=$2
fail() { echo "cluster_scaling_test: FAIL: $*" >&2; exit 1; }
note() { echo "cluster_scaling_test: $*"; }
source "$source_dir/tests/support/slurm_test_cluster.sh"
start_test_cluster scaling
show_on_failure="$work/results/slurm-*.out"

results=$work/results
"$source_dir/cluster/bench/scaling.sh" submit --nodes 1 --ranks-per-node 2 --reps 2 --warmup 2 --steps 4 \
  --results "$results" --build "$build_dir" --wait || fail "submit --wait failed"
[[ $(wc -l <"$results/scaling-n1.jsonl") -eq 2 ]] || fail "expected 2 records in scaling-n1.jsonl"
"$source_dir/cluster/bench/scaling.sh" submit --nodes 1 --results "$results" --build "$build_dir" 2>"$work/again.err" &&
  fail "a second submit into the same results folder was not refused"
grep -q "already holds" "$work/again.err" || fail "the refusal does not say why: $(cat "$work/again.err")"
"$source_dir/cluster/bench/scaling.sh" collect --results "$results" >"$work/collect.out" ||
  fail "collect failed: $(cat "$work/collect.out")"
/usr/bin/python3 - "$results/scaling.jsonl" "$results/scaling-n1.jsonl" <<'PY' ||
import json, statistics, sys
recs = [json.loads(line) for line in open(sys.argv[1])]
runs = [json.loads(line)["tokens_per_s"] for line in open(sys.argv[2])]
weak = [r for r in recs if r["suite"] == "scaling"]
prof = [r for r in recs if r["suite"] == "step_profile"]
assert len(weak) == 1 and weak[0]["nodes"] == 1 and weak[0]["ranks"] == 2 and weak[0]["reps"] == 2, weak
assert weak[0]["min"] <= weak[0]["median"] <= weak[0]["max"] and weak[0]["min"] > 0, weak
assert weak[0]["median"] == statistics.median(runs) and weak[0]["runs"] == [round(v, 1) for v in runs], (weak, runs)
assert len(prof) == 1 and len(prof[0]["parameters"]) == 52 and prof[0]["step_s"] > 0, prof
PY
  fail "scaling.jsonl is not what the jobs measured"
grep -q "Scaling on a cluster" "$results/scaling.md" || fail "scaling.md has no measured table"
grep -q "| 1 × 2 |" "$results/scaling.md" || fail "scaling.md has no prediction for 1 node x 2 ranks"
note "ok: $(grep -m1 '^| 1 | 2 |' "$results/scaling.md")"
