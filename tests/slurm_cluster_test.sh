#!/usr/bin/env bash
# The single-node Slurm test cluster (cluster/slurm/test-cluster.sh): starts it in a
# temporary directory, runs a 2-task batch job (mpirun without -np, and srun) and a job
# that exits 3, waits for both, checks their exit codes (scontrol and sacct -c) and output,
# checks that start and stop are idempotent, and always stops the daemons it started.
# Usage: slurm_cluster_test.sh SOURCE_DIR    (as root, with cluster/setup-node.sh's packages)
set -euo pipefail
source_dir=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

fail() { echo "slurm_cluster_test: FAIL: $*" >&2; exit 1; }
note() { echo "slurm_cluster_test: $*"; }
source "$source_dir/tests/support/slurm_test_cluster.sh"
require_slurm
stop_stale_clusters
make_work_dir test
show_on_failure="$work/job-*.out"

t0=$(date +%s%N)
out=$("$cluster" start "$state")
note "start took $((($(date +%s%N) - t0) / 1000000)) ms"
[[ $out == "export SLURM_CONF=$state/slurm.conf" ]] || fail "start printed '$out'"
eval "$out"
pids=$(cat "$state"/run/*.pid | tr '\n' ' ')
"$cluster" status "$state" >/dev/null || fail "status after start: $("$cluster" status "$state")"
[[ $("$cluster" start "$state" 2>/dev/null) == "$out" ]] || fail "a second start did not just print the export line"
[[ $(cat "$state"/run/*.pid | tr '\n' ' ') == "$pids" ]] || fail "a second start changed the daemons"

cat >"$work/job.sh" <<'EOF'
#!/bin/bash
echo "ntasks=$SLURM_NTASKS nodelist=$SLURM_JOB_NODELIST"
mpirun --allow-run-as-root --oversubscribe bash -c 'echo "mpirun rank $OMPI_COMM_WORLD_RANK of $OMPI_COMM_WORLD_SIZE on $(hostname)"'
srun bash -c 'echo "srun task $SLURM_PROCID of $SLURM_NTASKS on $(hostname)"'
EOF
t0=$(date +%s%N)
ok=$(sbatch --parsable --nodes=1 --ntasks=2 --chdir="$work" --output="$work/job-%j.out" "$work/job.sh")
bad=$(sbatch --parsable --nodes=1 --ntasks=1 --chdir="$work" --output="$work/job-%j.out" --wrap 'echo failing; exit 3')
ok_result=$(wait_job "$ok")
bad_result=$(wait_job "$bad")
note "two jobs took $((($(date +%s%N) - t0) / 1000000)) ms"
[[ $ok_result == "COMPLETED 0:0" ]] || fail "2-task job $ok ended $ok_result"
[[ $bad_result == "FAILED 3:0" ]] || fail "job $bad (exit 3) ended $bad_result"

log=$work/job-$ok.out
[[ -f $log ]] || fail "no output file $log"
grep -qx "ntasks=2 nodelist=$(hostname -s)" "$log" || fail "$log: no 'ntasks=2 nodelist=$(hostname -s)'"
for r in 0 1; do
  grep -qx "mpirun rank $r of 2 on $(hostname)" "$log" || fail "$log: no rank $r of 2 from mpirun"
  grep -qx "srun task $r of 2 on $(hostname)" "$log" || fail "$log: no task $r of 2 from srun"
done
(($(wc -l <"$log") == 5)) || fail "$log: expected 5 lines: $(cat "$log")"
grep -qx failing "$work/job-$bad.out" || fail "no output from job $bad"
# The job completion log, which sacct -c reads (no accounting database).
[[ $(sacct -c -n -P -j "$ok" -o State,ExitCode | tail -n 1) == "COMPLETED|0:0" ]] ||
  fail "sacct -c for job $ok: $(sacct -c -j "$ok" 2>&1)"
[[ $(sacct -c -n -P -j "$bad" -o State,ExitCode | tail -n 1) == "FAILED|3:0" ]] ||
  fail "sacct -c for job $bad: $(sacct -c -j "$bad" 2>&1)"

t0=$(date +%s%N)
"$cluster" stop "$state" >/dev/null
note "stop took $((($(date +%s%N) - t0) / 1000000)) ms"
for p in $pids; do
  ! alive "$p" || fail "pid $p still runs after stop"
done
! "$cluster" status "$state" >/dev/null || fail "status after stop says running"
"$cluster" stop "$state" >/dev/null 2>&1 || fail "a second stop failed"
note "passed"
