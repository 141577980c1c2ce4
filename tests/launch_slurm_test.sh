#!/usr/bin/env bash
# `torus launch` with launch.scheduler slurm on the single-node Slurm test cluster
# (cluster/slurm/test-cluster.sh, started here in a temporary directory and always stopped):
#  1. a 2-rank training job submitted with --wait: it completes, its run directory holds the
#     metrics of every step, the batch script and Slurm's output file;
#  2. preemption: a running job's batch shell gets SIGUSR1 (what --signal=B:USR1@120 sends
#     before the time limit), the ranks commit a checkpoint and exit 75, the job requeues
#     itself, runs again with resume=auto and finishes the run.
# Usage: launch_slurm_test.sh SOURCE_DIR TORUS    (as root, with cluster/setup-node.sh's packages)
set -euo pipefail
source_dir=$1
torus=$2
fail() { echo "launch_slurm_test: FAIL: $*" >&2; exit 1; }
note() { echo "launch_slurm_test: $*"; }
source "$source_dir/tests/support/slurm_test_cluster.sh"
start_test_cluster launch
show_on_failure="$work/runs/*/slurm-*.out $work/runs/*/slurm-*.err $work/runs/*/train.log"
cd "$work"

# A config of the given name: an MLP on Fashion-MNIST, 2 ranks of 1 thread on the cluster.
write_config() {  # NAME STEPS HIDDEN EXTRA_SLURM
  cat >"$work/$1.yaml" <<YAML
name: $1
seed: 2
model: {kind: mlp, mlp: {hidden: $3}}
data: {dataset: fashion_mnist, batch_size: 64, eval_fraction: 0}
optimizer: {name: sgd, lr: 0.05}
trainer: {steps: $2, log_every: 2, threads: 1, run_dir: $work/runs}
checkpoint: {every_steps: 4, keep_last: 1}
launch:
  scheduler: slurm
  ranks: 2
  slurm: {time: "00:10:00"$4}
YAML
}

job_id_of() { sed -n 's/.*submitted batch job \([0-9]*\).*/\1/p' <<<"$1"; }

# 1. Submit, wait, check.
write_config small 12 "[32]" ""
t0=$SECONDS
out=$("$torus" launch "$work/small.yaml" --wait 2>&1) || fail "torus launch --wait failed: $out"
id=$(job_id_of "$out")
[[ -n $id ]] || fail "no job id in: $out"
note "job $id (2 ranks, 12 steps) took $((SECONDS - t0)) s"
run=$work/runs/small
[[ -x $run/launch.sbatch ]] || fail "no batch script $run/launch.sbatch"
grep -q '^#SBATCH --ntasks-per-node=2$' "$run/launch.sbatch" || fail "launch.sbatch: no --ntasks-per-node=2"
[[ -f $run/slurm-$id.out ]] || fail "no Slurm output $run/slurm-$id.out"
[[ $(tail -n 1 "$run/metrics.jsonl") == '{"step":12,'* ]] || fail "metrics.jsonl ends: $(tail -n 1 "$run/metrics.jsonl")"
grep -q "rank 1 of 2" "$run/train.log" || fail "train.log: not 2 ranks"
[[ $(sacct -c -n -P -j "$id" -o State,ExitCode | tail -n 1) == "COMPLETED|0:0" ]] ||
  fail "job $id: $(sacct -c -n -P -j "$id" -o State,ExitCode)"

# 2. Preempted, checkpointed, requeued, resumed. Wide layers make each step slow enough
# (about 0.1 s) that the signal arrives mid-run.
write_config preempted 60 "[2048, 2048]" ", requeue: true"
out=$("$torus" launch "$work/preempted.yaml" 2>&1) || fail "torus launch failed: $out"
id=$(job_id_of "$out")
[[ -n $id ]] || fail "no job id in: $out"
run=$work/runs/preempted
deadline=$((SECONDS + job_timeout))
until [[ -s $run/metrics.jsonl ]]; do
  ((SECONDS < deadline)) || fail "job $id logged no step in ${job_timeout}s"
  sleep 0.2
done
scancel --batch --signal=USR1 "$id"
note "job $id: sent SIGUSR1 to its batch shell after step $(tail -n 1 "$run/metrics.jsonl" | sed 's/{"step":\([0-9]*\).*/\1/')"
result=$(wait_job "$id" 180)
[[ $result == "COMPLETED 0:0" ]] || fail "job $id ended $result"
scontrol show job -o "$id" | grep -q ' Restarts=1 ' || fail "job $id was not requeued: $(scontrol show job -o "$id")"
grep -q "stopped by User defined signal 1 after step" "$run/train.log" || fail "train.log: no stop on SIGUSR1"
grep -q "resumed from" "$run/train.log" || fail "train.log: the requeued job did not resume"
grep -q "requeueing job $id" "$run/slurm-$id.err" || fail "slurm-$id.err: no requeue"
[[ $(tail -n 1 "$run/metrics.jsonl") == '{"step":60,'* ]] || fail "metrics.jsonl ends: $(tail -n 1 "$run/metrics.jsonl")"
# Every logged step once (the records of steps after the checkpoint, logged before the
# stop, dropped on resume), then the final evaluation's record.
steps=$(sed 's/{"step":\([0-9]*\).*/\1/' "$run/metrics.jsonl" | tr '\n' ' ')
[[ $steps == "$(seq -s ' ' 2 2 60) 60 " ]] || fail "metrics.jsonl steps: $steps"
note "passed"
