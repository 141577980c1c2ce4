#!/usr/bin/python3
"""PyTorch side of tests/optim_parity_test.cpp: torch.optim, torch.optim.lr_scheduler and
torch.nn.utils.clip_grad_norm_ on the inputs Torus wrote.

  optim_reference.py run DIR

DIR/manifest.json holds three lists:
  "optimizers": {"id", "optimizer": "sgd" | "adam" | "adamw", "options" (torch keyword
      arguments), "lrs" (the learning rate of each step), "dtype"}; DIR/<id>_in.safetensors
      holds "param.<i>" and "grad.<step>.<i>" (a missing gradient leaves p.grad None for
      that step). Writes DIR/<id>_torch.safetensors: "step<s>.param.<i>" after each step
      and "state.<i>.<field>" at the end.
  "schedules": {"id", "kind": "warmup_cosine" | "step", fields}; writes their lr values
      into DIR/schedules.json.
  "clip": {"id", "max_norm", "norm_type"}; DIR/<id>_in.safetensors holds "grad.<i>";
      writes DIR/<id>_torch.safetensors with "norm" and the clipped "grad.<i>" computed in
      f64, and torch's f32 "norm_f32".
"""
import json
import math
from pathlib import Path
import sys

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from safetensors.numpy import load_file, save_file  # noqa: E402

torch.set_num_threads(1)
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def count(arrays, prefix):
    return len([k for k in arrays if k.startswith(prefix)])


def run_optimizer(directory, case):
    arrays = load_file(directory / f"{case['id']}_in.safetensors")
    params = [torch.from_numpy(arrays[f"param.{i}"]).requires_grad_(True) for i in range(count(arrays, "param."))]
    options = dict(case["options"])
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    optimizer = OPTIMIZERS[case["optimizer"]](params, lr=case["lrs"][0], **options)
    out = {}
    for step, lr in enumerate(case["lrs"]):
        optimizer.param_groups[0]["lr"] = lr
        for i, p in enumerate(params):
            key = f"grad.{step}.{i}"
            p.grad = torch.from_numpy(arrays[key]) if key in arrays else None
        optimizer.step()
        for i, p in enumerate(params):
            out[f"step{step}.param.{i}"] = p.detach().numpy().copy()
    for i, p in enumerate(params):
        for field, value in optimizer.state[p].items():
            if value is None:  # SGD without momentum keeps momentum_buffer = None
                continue
            if field == "step":
                value = torch.tensor(int(value.item()), dtype=torch.int64)
            out[f"state.{i}.{field}"] = value.numpy()
    save_file(out, directory / f"{case['id']}_torch.safetensors")


def schedule_values(case):
    """lr for steps 0 .. case["steps"] - 1 from torch's schedulers."""
    base, steps = case["base_lr"], case["steps"]

    def trace(make, n):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        scheduler = make(optimizer)
        values = []
        for _ in range(n):
            values.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return values

    if case["kind"] == "step":
        return trace(lambda o: torch.optim.lr_scheduler.StepLR(o, case["step_size"], case["gamma"]), steps)
    warmup, total, low = case["warmup_steps"], case["total_steps"], case["min_ratio"] * base
    values = []
    if warmup > 0:
        values += trace(lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup - 1), warmup)
    values += trace(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total - warmup, eta_min=low),
                    total - warmup + 1)  # through step `total`, where it reaches eta_min
    return values + [low] * (steps - len(values))  # torch's cosine restarts; ours stays at the minimum


def clip(grads, max_norm, norm_type):
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=g.dtype, requires_grad=True)
        p.grad = g.clone()
        params.append(p)
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    return norm, [p.grad for p in params]


def run_clip(directory, case):
    """Clips in f64 (the reference: torch's f32 L1 and L3 norms accumulate in f32 and are
    off by ~1e-5 relative) and reports torch's own f32 norm beside it."""
    arrays = load_file(directory / f"{case['id']}_in.safetensors")
    grads = [torch.from_numpy(arrays[f"grad.{i}"]) for i in range(count(arrays, "grad."))]
    norm_type = math.inf if case["norm_type"] == "inf" else case["norm_type"]
    norm, clipped = clip([g.double() for g in grads], case["max_norm"], norm_type)
    norm_f32, _ = clip(grads, case["max_norm"], norm_type)
    out = {"norm": norm.numpy(), "norm_f32": norm_f32.double().numpy()}
    for i, (g, original) in enumerate(zip(clipped, grads)):
        out[f"grad.{i}"] = g.to(original.dtype).numpy()
    save_file(out, directory / f"{case['id']}_torch.safetensors")


def main():
    directory = Path(sys.argv[2])
    manifest = json.loads((directory / "manifest.json").read_text())
    for case in manifest["optimizers"]:
        run_optimizer(directory, case)
    (directory / "schedules.json").write_text(json.dumps({c["id"]: schedule_values(c) for c in manifest["schedules"]}))
    for case in manifest["clip"]:
        run_clip(directory, case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
