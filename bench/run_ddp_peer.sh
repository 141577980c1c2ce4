#!/usr/bin/env bash
# Starts bench/torch_ddp_peer.py on N local ranks without torchrun (Debian's torchrun fails
# under Python 3.11): one /usr/bin/python3 per rank, with MASTER_ADDR, MASTER_PORT (kept
# if set), WORLD_SIZE, RANK and LOCAL_RANK in its environment; the rest of the environment
# passes through. If a rank fails, the others are stopped (they would wait in gloo).
#
#   bench/run_ddp_peer.sh N [torch_ddp_peer.py arguments...]
n=${1:?usage: bench/run_ddp_peer.sh N [torch_ddp_peer.py arguments...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
export MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-$((29500 + RANDOM % 2000))} WORLD_SIZE=$n
pids=()
for ((r = 0; r < n; r++)); do
  RANK=$r LOCAL_RANK=$r /usr/bin/python3 "$here/torch_ddp_peer.py" "$@" &
  pids+=($!)
done
status=0
for ((i = 0; i < n; i++)); do
  wait -n && continue
  [[ $status == 0 ]] && status=1 && kill "${pids[@]}" 2>/dev/null
done
exit $status
