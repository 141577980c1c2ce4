# Sourced by the tests that need the single-node Slurm test cluster
# (cluster/slurm/test-cluster.sh): `start_test_cluster NAME` starts one in a new temporary
# directory ($work; its state in $state) and exports SLURM_CONF; a trap stops it whatever
# happens, printing the daemon logs and the files matching the globs in $show_on_failure
# when the test failed. Clusters of earlier runs that were killed before their trap ran are
# stopped first (stop_stale_clusters; make_work_dir NAME sets up $work and the trap alone).
# Needs: $source_dir, and fail/note functions.

cluster=$source_dir/cluster/slurm/test-cluster.sh
job_timeout=${TORUS_SLURM_JOB_TIMEOUT:-60}
show_on_failure=""  # globs, expanded when the test fails

alive() {  # PID: runs (a zombie that init has not reaped yet does not count)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

require_slurm() {
  local t
  for t in sbatch slurmctld slurmd munged mpirun; do
    command -v "$t" >/dev/null ||
      fail "$t not found (Debian: slurmctld slurmd slurm-client munge openmpi-bin; cluster/setup-node.sh)"
  done
  [[ $(id -u) -eq 0 ]] || fail "must run as root (the test cluster's daemons run as root)"
}

cleanup_test_cluster() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  trap '' PIPE  # a closed stdout must not stop the clean-up
  if ((rc != 0)); then
    # shellcheck disable=SC2086 # globs
    for f in "$state"/log/*.log $show_on_failure; do
      [[ -s $f ]] && { echo "--- $f"; tail -n 30 "$f"; }
    done >&2
  fi
  "$cluster" stop "$state" 2>/dev/null || "$cluster" stop "$state"
  "$cluster" status "$state" >/dev/null || rm -rf "$work"
  exit "$rc"
}

stop_stale_clusters() {
  local old
  for old in "${TMPDIR:-/tmp}"/torus-slurm-*.*; do
    [[ -f $old/test.pid ]] || continue
    alive "$(cat "$old/test.pid")" && continue
    note "stopping the cluster left in $old"
    "$cluster" stop "$old/cluster" && rm -rf "$old"
  done
}

make_work_dir() {  # NAME
  work=$(mktemp -d "${TMPDIR:-/tmp}/torus-slurm-$1.XXXXXX")
  echo $$ >"$work/test.pid"
  state=$work/cluster
  trap cleanup_test_cluster EXIT
  trap 'exit 130' INT TERM
  trap 'exit 141' PIPE
}

start_test_cluster() {  # NAME
  require_slurm
  stop_stale_clusters
  make_work_dir "$1"
  start_output=$("$cluster" start "$state")
  [[ $start_output == "export SLURM_CONF=$state/slurm.conf" ]] || fail "start printed '$start_output'"
  eval "$start_output"
}

# The job's state and exit code once it has finished ("COMPLETED 0:0"), from scontrol.
wait_job() {  # ID [TIMEOUT_S]
  local id=$1 deadline=$((SECONDS + ${2:-$job_timeout})) line st
  while :; do
    line=$(scontrol show job -o "$id")
    [[ $line =~ (^| )JobState=([A-Z_]+) ]] || fail "scontrol show job $id: $line"
    st=${BASH_REMATCH[2]}
    case $st in
      PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | RESIZING) ;;
      *)
        [[ $line =~ (^| )ExitCode=([0-9]+:[0-9]+) ]] || fail "scontrol show job $id: $line"
        echo "$st ${BASH_REMATCH[2]}"
        return ;;
    esac
    ((SECONDS < deadline)) || { scancel "$id" || true; fail "job $id still $st after ${2:-$job_timeout}s"; }
    sleep 0.3
  done
}
