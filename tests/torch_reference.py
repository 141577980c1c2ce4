#!/usr/bin/python3
"""Evaluates every op sample of the Torus registry in PyTorch (f32, CPU).

Reads DIR/manifest.json and DIR/torus.safetensors written by op_torch_parity_test, and
writes DIR/torch.safetensors holding, for each sample, <id>.out and, if it has an
upstream gradient, <id>.grad_in<i> for each input that requires grad."""
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

torch.set_num_threads(1)


def main(directory: Path) -> int:
    manifest = json.loads((directory / "manifest.json").read_text())
    given = load_file(directory / "torus.safetensors")
    results = {}
    failures = 0
    for case in manifest:
        names = "abcd"
        env = {"torch": torch, "F": F}
        inputs = []
        for i, spec in enumerate(case["inputs"]):
            t = given[spec["key"]].clone()
            if spec["requires_grad"]:
                t.requires_grad_(True)
            env[names[i]] = t
            inputs.append(t)
        env["out"] = given[f"{case['id']}.torus_out"]
        try:
            out = eval(case["torch"], env)  # the registry's own expressions
        except Exception as error:  # report every broken sample, not just the first
            print(f"{case['name']}: {case['torch']!r} failed: {error}", file=sys.stderr)
            failures += 1
            continue
        results[f"{case['id']}.out"] = out.detach().contiguous().clone()
        if "grad_out" in case:
            (out * given[case["grad_out"]]).sum().backward()
            for i, t in enumerate(inputs):
                if t.requires_grad:
                    grad = t.grad if t.grad is not None else torch.zeros_like(t)
                    results[f"{case['id']}.grad_in{i}"] = grad.contiguous().clone()
    save_file(results, directory / "torch.safetensors")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
