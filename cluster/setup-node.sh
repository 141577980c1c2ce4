#!/usr/bin/env bash
# Installs every Debian package Torus needs to build, test and run (idempotent).
# Usage: sudo cluster/setup-node.sh [--bench]   (runs apt-get only when something is missing)
#   --bench  also what bench/run_all.sh needs beyond the tests: matplotlib for the plots
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git zlib1g-dev libisal-dev
  libopenmpi-dev openmpi-bin
  slurmctld slurmd slurm-client munge
  libhdf5-dev libhdf5-openmpi-dev hdf5-tools
  libprotobuf-dev protobuf-compiler
  libdnnl-dev ocl-icd-opencl-dev libopenblas-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist
  python3-torch python3-numpy python3-h5py python3-venv
  clang libclang-rt-14-dev libomp-14-dev
)
if [[ ${1:-} == --bench ]]; then
  packages+=(python3-matplotlib)
elif [[ $# -gt 0 ]]; then
  echo "usage: cluster/setup-node.sh [--bench]" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup-node: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "setup-node: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup-node: done"
