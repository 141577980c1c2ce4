#!/usr/bin/env bash
# The safetensors reader under AddressSanitizer and UndefinedBehaviorSanitizer, then a
# bounded libFuzzer run over it. Configures its own clang build inside the main one
# (only the I/O targets are built), so the rest of the suite keeps its optimized build.
# Usage: sanitized_io_test.sh BUILD_DIR SOURCE_DIR [FUZZ_SECONDS]
set -euo pipefail
build=$1/sanitized
source=$2
seconds=${3:-60}

if ! command -v clang++ >/dev/null; then
  echo "sanitized_io_test: clang++ not found (Debian: clang libclang-rt-14-dev libomp-14-dev)" >&2
  exit 1
fi
cmake -S "$source" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTORUS_SANITIZE=ON -DTORUS_FUZZ=ON -DTORUS_WITH_CUDA=OFF \
  -DTORUS_BUILD_BENCHMARKS=OFF > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" --target safetensors_test safetensors_fuzz

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$build/tests/safetensors_test" --gtest_brief=1

# The fuzzer writes what it finds into a scratch corpus seeded from the checked-in
# files; an input that fails is kept in BUILD_DIR/sanitized/fuzz-artifacts.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
corpus="$source/tests/data/safetensors"
echo "sanitized_io_test: fuzzing parse_safetensors for ${seconds}s"
status=0
"$build/tests/safetensors_fuzz" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -dict="$source/tests/fuzz/safetensors.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
  "$scratch" "$corpus/valid" "$corpus/malformed" > "$build/fuzz.log" 2>&1 || status=$?
tail -n 30 "$build/fuzz.log"
if ((status != 0)); then
  echo "sanitized_io_test: the fuzzer found a failing input (exit $status), kept in $artifacts:" >&2
  for f in "$artifacts"/*; do [[ -f $f ]] && { echo "$f:"; od -c "$f" | head -n 20; } >&2; done
  exit "$status"
fi
echo "sanitized_io_test: clean"
