#!/usr/bin/python3
"""Evaluates every op sample of the Torus registry in PyTorch (f32, CPU).

Reads DIR/manifest.json written by op_torch_parity_test, and for each sample writes
<id>_torch_out.npy and, if it has an upstream gradient, <id>_grad_in<i>.npy for each
input that requires grad."""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def main(directory: Path) -> int:
    manifest = json.loads((directory / "manifest.json").read_text())
    failures = 0
    for case in manifest:
        names = "abcd"
        env = {"torch": torch, "F": F}
        inputs = []
        for i, spec in enumerate(case["inputs"]):
            t = torch.from_numpy(np.load(directory / spec["file"]))
            if spec["requires_grad"]:
                t.requires_grad_(True)
            env[names[i]] = t
            inputs.append(t)
        env["out"] = torch.from_numpy(np.load(directory / f"{case['id']}_torus_out.npy"))
        try:
            out = eval(case["torch"], env)  # the registry's own expressions
        except Exception as error:  # report every broken sample, not just the first
            print(f"{case['name']}: {case['torch']!r} failed: {error}", file=sys.stderr)
            failures += 1
            continue
        np.save(directory / f"{case['id']}_torch_out.npy", np.array(out.detach().numpy(), order="C"))
        if "grad_out" in case:
            grad_out = torch.from_numpy(np.load(directory / case["grad_out"]))
            (out * grad_out).sum().backward()
            for i, t in enumerate(inputs):
                if t.requires_grad:
                    grad = t.grad if t.grad is not None else torch.zeros_like(t)
                    np.save(directory / f"{case['id']}_grad_in{i}.npy", np.array(grad.numpy(), order="C"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
