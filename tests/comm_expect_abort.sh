#!/usr/bin/env bash
# Runs a command that must fail (a multi-rank job that aborts) within a time limit, and
# checks that its output holds every expected pattern (grep -E).
# Usage: comm_expect_abort.sh SECONDS PATTERN... -- COMMAND...
set -uo pipefail
seconds=$1
shift
patterns=()
while [[ $# -gt 0 && $1 != "--" ]]; do patterns+=("$1"); shift; done
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout --kill-after=5 "$seconds" "$@" >"$log" 2>&1
status=$?
cat "$log"
if [[ $status -eq 0 ]]; then echo "comm_expect_abort: the command succeeded; it should fail"; exit 1; fi
if [[ $status -eq 124 || $status -eq 137 ]]; then
  echo "comm_expect_abort: the command hung (killed after $seconds s)"; exit 1
fi
for pattern in "${patterns[@]}"; do
  grep -qE -- "$pattern" "$log" || { echo "comm_expect_abort: no match for '$pattern'"; exit 1; }
done
echo "comm_expect_abort: failed as expected (exit status $status)"
