#!/usr/bin/env bash
# A single-node Slurm test cluster (munged + slurmctld + slurmd from Debian's slurm-wlm),
# all of its state under one directory: config, munge key and socket, spool, logs, pids.
#
#   cluster/slurm/test-cluster.sh start  STATE_DIR   # prints: export SLURM_CONF=STATE_DIR/slurm.conf
#   cluster/slurm/test-cluster.sh status STATE_DIR   # exit 0 when all three daemons run
#   cluster/slurm/test-cluster.sh stop   STATE_DIR   # cancels jobs, stops the daemons it started (messages on stderr)
#
# Runs as root (SlurmUser=root). Nothing system-wide is used or changed: munged runs with
# its own key and socket in STATE_DIR, and the daemons run with -f STATE_DIR/slurm.conf.
# Starting a running cluster and stopping a stopped one do nothing. The ports are the
# first free pair from TORUS_SLURM_BASE_PORT (default 16817), so a stale instance elsewhere
# does not collide. Environment: TORUS_SLURM_START_TIMEOUT (s, default 60),
# TORUS_SLURM_STOP_TIMEOUT (s, default 30). Needs cluster/setup-node.sh's packages
# (slurmctld slurmd slurm-client munge). See cluster/slurm/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
template=$here/slurm.conf.in
daemons=(munged slurmctld slurmd)

die() { echo "test-cluster: $*" >&2; exit 1; }
say() { echo "test-cluster: $*" >&2 2>/dev/null || true; }  # never fails (a closed stderr)

usage() { die "usage: $0 start|stop|status STATE_DIR"; }
(($# == 2)) || usage
action=$1
[[ -n $2 ]] || usage
state=$(realpath -m -- "$2")
conf=$state/slurm.conf

pid_file() { echo "$state/run/$1.pid"; }

# The pid of daemon $1 of this cluster if it runs: the pid file names a live process whose
# command line is that daemon's and names this state directory (so a recycled pid or
# another cluster's daemon is never taken for ours).
daemon_pid() {
  local f pid cmd
  f=$(pid_file "$1")
  [[ -r $f ]] || return 1
  pid=$(tr -dc 0-9 <"$f")
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$1"* && $cmd == *"$state/"* ]] || return 1
  echo "$pid"
}

log_tail() {
  local log=$state/log/$1.log
  if [[ -s $log ]]; then
    echo "--- last lines of $log ---" >&2
    tail -n 25 "$log" >&2
    echo "---" >&2
  else
    echo "(no log at $log)" >&2
  fi
}

fail_daemon() {  # NAME WHAT
  say "$1 $2"
  log_tail "$1"
  say "stopping what was started"
  trap '' PIPE
  stop_daemons || true
  exit 1
}

require_tools() {
  local t missing=()
  for t in munged munge unmunge slurmctld slurmd sinfo scontrol squeue scancel sbatch; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  ((${#missing[@]} == 0)) ||
    die "missing ${missing[*]}: install the packages of cluster/setup-node.sh (slurmctld slurmd slurm-client munge)"
  [[ $(id -u) -eq 0 ]] || die "must run as root (the test cluster runs its daemons as root)"
  [[ -r $template ]] || die "missing template $template"
}

# Local TCP ports in use in any state (listening, connected, TIME_WAIT), from /proc.
ports_in_use() {
  local local_addr
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | while read -r _ local_addr _; do
    if [[ $local_addr == *:* ]]; then echo $((16#${local_addr##*:})); fi
  done | sort -un
}

choose_ports() {
  local base=${TORUS_SLURM_BASE_PORT:-16817} used p
  used=" $(ports_in_use | tr '\n' ' ') "
  for ((p = base; p < base + 400; p += 2)); do
    if [[ $used != *" $p "* && $used != *" $((p + 1)) "* ]]; then
      echo "$p $((p + 1))"
      return
    fi
  done
  die "no free pair of TCP ports in $base..$((base + 400))"
}

write_config() {
  local host hw
  host=$(hostname -s)
  # "NodeName=x CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=.. RealMemory=.."
  hw=$(slurmd -C | head -n 1)
  [[ $hw == NodeName=* ]] || die "slurmd -C printed no node line: $hw"
  hw=${hw#NodeName=* }
  read -r ctld_port slurmd_port < <(choose_ports)
  sed -e "s|@STATE_DIR@|$state|g" -e "s|@HOST@|$host|g" \
      -e "s|@SLURMCTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
      -e "s|@NODE_HARDWARE@|$hw|g" "$template" >"$conf.tmp"
  mv "$conf.tmp" "$conf"
  : >"$state/plugstack.conf"
}

start_munged() {
  local key=$state/munge/munge.key sock=$state/munge/munge.socket
  if [[ ! -s $key ]]; then
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile="$key" --force >/dev/null
    else
      dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
  fi
  chmod 0600 "$key"
  if ! munged --socket="$sock" --key-file="$key" --pid-file="$(pid_file munged)" \
         --log-file="$state/log/munged.log" --seed-file="$state/munge/munged.seed" \
         --force 2>>"$state/log/munged.log"; then
    fail_daemon munged "did not start"
  fi
  wait_pid munged
  local i
  for ((i = 0; i < 50; i++)); do
    if munge -n -S "$sock" 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  fail_daemon munged "runs but does not encode/decode a credential on $sock"
}

wait_pid() {  # the daemon has forked into the background: wait for its pid file
  local i
  for ((i = 0; i < 100; i++)); do
    daemon_pid "$1" >/dev/null && return
    sleep 0.1
  done
  fail_daemon "$1" "did not write $(pid_file "$1") (or exited)"
}

start_slurm_daemon() {  # NAME ARGS...
  local name=$1
  shift
  if ! "$name" -f "$conf" "$@" 2>>"$state/log/$name.log"; then
    fail_daemon "$name" "did not start"
  fi
  wait_pid "$name"
}

node_state() {
  SLURM_CONF=$conf sinfo -h -N -n "$(hostname -s)" -o %T 2>/dev/null | head -n 1
}

cmd_start() {
  require_tools
  local running=() d
  for d in "${daemons[@]}"; do
    daemon_pid "$d" >/dev/null && running+=("$d")
  done
  if ((${#running[@]} == ${#daemons[@]})); then
    say "already running in $state"
    echo "export SLURM_CONF=$conf"
    return
  fi
  if ((${#running[@]} > 0)); then
    say "only ${running[*]} running in $state: restarting"
    stop_daemons
  fi
  local t0=$SECONDS
  mkdir -p "$state"/{munge,slurmctld,slurmd,run,log,tmp}
  chmod 0755 "$state" "$state/munge"
  rm -f "$state"/run/*.pid
  for d in "${daemons[@]}"; do : >"$state/log/$d.log"; done
  write_config
  start_munged
  # -c: clear jobs and node state left by an earlier start in this directory.
  start_slurm_daemon slurmctld -c
  start_slurm_daemon slurmd
  local timeout=${TORUS_SLURM_START_TIMEOUT:-60} st=""
  while :; do
    for d in "${daemons[@]}"; do
      daemon_pid "$d" >/dev/null || fail_daemon "$d" "exited while the cluster was starting"
    done
    st=$(node_state) || true
    case $st in
      idle) break ;;
      down* | drain* | fail*)
        say "node is $st: $(SLURM_CONF=$conf scontrol show node "$(hostname -s)" | grep -o 'Reason=.*' || true)"
        fail_daemon slurmd "registered but the node is $st" ;;
    esac
    if ((SECONDS - t0 > timeout)); then
      say "node state after ${timeout}s: '${st:-no answer from slurmctld}'"
      log_tail slurmctld
      fail_daemon slurmd "node did not become idle within ${timeout}s"
    fi
    sleep 0.2
  done
  say "running in $state (slurmctld port ${ctld_port}, slurmd port ${slurmd_port}), node $(hostname -s) idle after $((SECONDS - t0))s"
  echo "export SLURM_CONF=$conf"
}

# Cancel every job (so no slurmstepd or job process outlives slurmd), then stop slurmd,
# slurmctld and munged, each only if it is this cluster's, and wait for each to exit.
stop_daemons() {
  local d pid i
  if daemon_pid slurmctld >/dev/null && daemon_pid slurmd >/dev/null; then
    local jobs
    jobs=$(SLURM_CONF=$conf squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      # shellcheck disable=SC2086
      SLURM_CONF=$conf scancel $jobs 2>/dev/null || true
      for ((i = 0; i < 150; i++)); do
        [[ -z $(SLURM_CONF=$conf squeue -h -o %i 2>/dev/null) ]] && break
        sleep 0.2
      done
    fi
  fi
  # slurmd and slurmctld together (each takes 2-4 s to shut down), then munged.
  terminate slurmd slurmctld
  terminate munged
  kill_leftover_steps
}

alive() {  # PID: runs (a zombie, waiting for init to reap it, does not count)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

terminate() {  # DAEMON... : SIGTERM, wait for them to exit, SIGKILL after the stop timeout
  local timeout=${TORUS_SLURM_STOP_TIMEOUT:-30} d pid i names=() pids=() alive
  for d in "$@"; do
    if pid=$(daemon_pid "$d"); then
      kill -TERM "$pid" 2>/dev/null || true
      names+=("$d")
      pids+=("$pid")
    fi
    rm -f "$(pid_file "$d")"
  done
  for ((i = 0; i < timeout * 10; i++)); do
    alive=0
    for pid in "${pids[@]}"; do alive "$pid" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if alive "${pids[i]}"; then
      say "${names[i]} (pid ${pids[i]}) still runs after ${timeout}s: SIGKILL"
      kill -KILL "${pids[i]}" 2>/dev/null || true
      while alive "${pids[i]}"; do sleep 0.1; done
    fi
    say "stopped ${names[i]} (pid ${pids[i]})"
  done
}

# slurmstepd processes of this cluster that outlived slurmd (killed, or crashed), with their
# job processes: a slurmstepd is this cluster's when its working directory is under STATE_DIR
# (slurmd's log directory); the job processes are its descendants (proctrack/linuxproc).
kill_leftover_steps() {
  local p cwd stat rest steps=() all=() ppid_of=() queue pid c
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    stat=$(cat "$p/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    read -r _ "ppid_of[$pid]" _ <<<"$rest"
    [[ $(cat "$p/comm" 2>/dev/null) == slurmstepd ]] || continue
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    [[ $cwd == "$state" || $cwd == "$state/"* ]] && steps+=("$pid")
  done
  ((${#steps[@]} == 0)) && return
  queue=("${steps[@]}")
  while ((${#queue[@]} > 0)); do
    pid=${queue[0]}
    queue=("${queue[@]:1}")
    all+=("$pid")
    for c in "${!ppid_of[@]}"; do
      [[ ${ppid_of[c]} == "$pid" ]] && queue+=("$c")
    done
  done
  say "killing leftover slurmstepd ${steps[*]} and their processes (${#all[@]} in all)"
  kill -STOP "${all[@]}" 2>/dev/null || true
  kill -KILL "${all[@]}" 2>/dev/null || true
}

cmd_stop() {
  trap '' PIPE  # a closed stdout or stderr must not interrupt the stop
  if [[ ! -d $state ]]; then
    say "nothing in $state"
    return
  fi
  local t0=$SECONDS any=0 d
  for d in "${daemons[@]}"; do daemon_pid "$d" >/dev/null && any=1; done
  if ((any == 0)); then
    kill_leftover_steps
    say "not running in $state"
    rm -f "$state"/run/*.pid
    return
  fi
  stop_daemons
  say "stopped in $((SECONDS - t0))s"
}

cmd_status() {
  local d pid n=0
  for d in "${daemons[@]}"; do
    if pid=$(daemon_pid "$d"); then
      echo "$d: running (pid $pid)"
      n=$((n + 1))
    else
      echo "$d: not running"
    fi
  done
  if ((n == ${#daemons[@]})); then
    echo "node $(hostname -s): $(node_state || echo unknown)"
    echo "export SLURM_CONF=$conf"
    return 0
  fi
  return 1
}

case $action in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) usage ;;
esac
