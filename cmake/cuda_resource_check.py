#!/usr/bin/env python3
"""The CUDA resource check (CTest cuda_resource_check): compiles each kernel file of
kernels/cuda/ for the device only with `nvcc --resource-usage` and reads ptxas's report
(one "Compiling entry function '<mangled>' for 'sm_XX'" line per kernel, then its stack,
spill and register lines). Fails if a kernel listed in kernels.txt is missing, if a .cu
file is not listed there, or if any kernel spills (spill stores or loads > 0).
No cuobjdump needed; device-only compiles take a second or two per file."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\w+)'")
SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
REGISTERS = re.compile(r"Used (\d+) registers")


def kernel_name(mangled):
    """The unqualified name of a mangled kernel: the last component of a nested name."""
    m = re.match(r"_Z(N?)L?", mangled)
    if not m:
        return mangled  # extern "C"
    i, name = m.end(), mangled
    while i < len(mangled) and mangled[i].isdigit():
        j = i
        while mangled[j].isdigit():
            j += 1
        length = int(mangled[i:j])
        name = mangled[j:j + length]
        i = j + length
        if not m.group(1):
            break
    return name


def real_architectures(spec):
    """CMake's CUDA_ARCHITECTURES ("90", "90-real;100") -> ["sm_90", ...]: machine code only."""
    archs = []
    for item in spec.replace(",", ";").split(";"):
        item = item.strip()
        if not item or item.endswith("-virtual"):
            continue
        archs.append("sm_" + item.replace("-real", ""))
    return archs


def read_expected(path):
    expected = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            file, _, kernels = line.partition(":")
            expected[file.strip()] = kernels.split()
    return expected


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nvcc", required=True)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--include", required=True)
    parser.add_argument("--kernels", required=True, help="kernels.txt")
    parser.add_argument("--sources-dir", required=True)
    args = parser.parse_args()

    expected = read_expected(args.kernels)
    failures = []
    on_disk = sorted(f for f in os.listdir(args.sources_dir) if f.endswith(".cu"))
    for file in on_disk:
        if file not in expected:
            failures.append(f"{file}: not listed in {args.kernels}")
    archs = real_architectures(args.arch)
    if not archs:
        failures.append(f"no real architecture in '{args.arch}'")
    with tempfile.TemporaryDirectory() as tmp:
        for file, kernels in sorted(expected.items()):
            source = os.path.join(args.sources_dir, file)
            if not os.path.exists(source):
                failures.append(f"{file}: listed in {args.kernels} but missing")
                continue
            for arch in archs:
                command = [args.nvcc, "-cubin", f"-arch={arch}", "--resource-usage", "-std=c++20",
                           "--expt-relaxed-constexpr", "-O3", "-I", args.include,
                           source, "-o", os.path.join(tmp, "out.cubin")]
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode != 0:
                    failures.append(f"{file} ({arch}): nvcc failed:\n{result.stdout}{result.stderr}")
                    continue
                found = {}
                current = None
                for line in (result.stdout + result.stderr).splitlines():
                    if m := ENTRY.search(line):
                        current = m.group(1)
                        found[current] = {"name": kernel_name(current)}
                    elif current and (m := SPILL.search(line)):
                        found[current].update(stack=int(m.group(1)), stores=int(m.group(2)), loads=int(m.group(3)))
                    elif current and (m := REGISTERS.search(line)):
                        found[current]["registers"] = int(m.group(1))
                names = {info["name"] for info in found.values()}
                for kernel in kernels:
                    if kernel not in names:
                        failures.append(f"{file} ({arch}): expected kernel {kernel} was not compiled")
                for mangled, info in sorted(found.items(), key=lambda item: item[1]["name"]):
                    if "stores" not in info:
                        failures.append(f"{file} ({arch}): no spill report for {mangled}")
                        continue
                    spills = info["stores"] + info["loads"]
                    print(f"{arch} {file:18} {info['name']:36} {info.get('registers', '?'):>3} registers "
                          f"{info['stack']:>4} B stack  spills {info['stores']}/{info['loads']} B")
                    if spills:
                        failures.append(f"{file} ({arch}): {info['name']} ({mangled}) spills "
                                        f"{info['stores']} B stores, {info['loads']} B loads")
    for failure in failures:
        print("FAIL:", failure)
    print(f"cuda_resource_check: {len(expected)} files, {'FAILED' if failures else 'ok'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
