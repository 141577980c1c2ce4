#!/usr/bin/env bash
# Installs the build into a fresh prefix, then configures, builds and runs the
# downstream example (examples/cpp_api) against it with find_package(Torus), as a user would.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >"$work/install.log"
test -f "$work/prefix/lib/cmake/Torus/TorusConfig.cmake" || { echo "no TorusConfig.cmake installed"; exit 1; }
test -f "$work/prefix/include/torus/framework/ops/ops.h" || { echo "headers not installed"; exit 1; }
test -x "$work/prefix/bin/torus" || { echo "torus tool not installed"; exit 1; }

cmake -S "$source_dir/examples/cpp_api" -B "$work/example" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" \
  || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/example" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }

# A short real run: 100 steps on Fashion-MNIST must bring the loss well below ln(10) = 2.30.
"$work/example/train_mlp" --max-steps 100 --batch 64 | tee "$work/run.log"
last_loss=$(grep -oE 'loss [0-9.]+' "$work/run.log" | tail -n 1 | cut -d' ' -f2)
accuracy=$(grep -oE 'test accuracy [0-9.]+' "$work/run.log" | tail -n 1 | cut -d' ' -f3)
echo "last loss $last_loss, test accuracy $accuracy%"
awk -v l="$last_loss" -v a="$accuracy" 'BEGIN { exit !(l < 1.2 && a > 60) }' \
  || { echo "the downstream example did not learn"; exit 1; }
