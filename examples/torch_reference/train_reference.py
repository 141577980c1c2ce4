#!/usr/bin/python3
"""Trains in PyTorch what a Torus run trained: the same model (models.py), from the same
initial weights, on the same batches in the same order, with the same optimizer and
learning-rate schedule, so the two runs can be compared step by step.

  train_reference.py RUN_DIR

RUN_DIR is a `torus train` run directory made with trainer.save_initial: true and
data.shuffle: false (Torus's seeded shuffle order is not reproduced here). Reads
config.resolved.yaml and initial.safetensors; writes torch_losses.json (the loss of
every step) and torch_final.safetensors (the weights after the last step).
"""
import gzip
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import build_model, model_options  # noqa: E402

FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530


def read_idx(path):
    data = gzip.open(path, "rb").read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def training_samples(config):
    """(inputs, targets) of the whole training set, as Torus's loader prepares them."""
    data = config["data"]
    if data["dataset"] == "fashion_mnist":
        directory = Path(data["path"])
        images = read_idx(directory / "train-images-idx3-ubyte.gz").astype(np.float32) / 255.0
        labels = read_idx(directory / "train-labels-idx1-ubyte.gz").astype(np.int64)
        x = torch.from_numpy(images).unsqueeze(1)  # (N, 1, 28, 28)
        if data["normalize"]:
            x = (x - FASHION_MNIST_MEAN) / FASHION_MNIST_STD
        return x, torch.from_numpy(labels)
    if data["dataset"] == "text":
        raw = Path(data["path"]).read_bytes()
        train = raw[:len(raw) - int(len(raw) * data.get("eval_fraction", 0.0))]
        context = data["context"] or config["model"]["gpt"]["context"]
        windows = (len(train) - context - 1) // context + 1  # non-overlapping windows that fit
        tokens = torch.tensor(list(train), dtype=torch.int64)
        starts = torch.arange(windows) * context
        offsets = torch.arange(context)
        return tokens[starts[:, None] + offsets], tokens[starts[:, None] + offsets + 1]
    raise SystemExit(f"train_reference.py: data.dataset {data['dataset']} is not reproduced here")


def make_optimizer(config, parameters):
    # PyYAML reads YAML 1.1, where 1e-08 (no dot) is a string: take every number as float.
    o = {k: (v if isinstance(v, (bool, str)) and k == "name" or isinstance(v, bool) else float(v))
         for k, v in config["optimizer"].items()}
    if o["name"] == "sgd":
        return torch.optim.SGD(parameters, lr=o["lr"], momentum=o["momentum"], dampening=o["dampening"],
                               weight_decay=o["weight_decay"], nesterov=o["nesterov"])
    kind = torch.optim.Adam if o["name"] == "adam" else torch.optim.AdamW
    return kind(parameters, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weight_decay"])


def lr_at(config, step, steps):
    """Torus's schedules (framework/optim/schedule.cpp) at 0-based step."""
    s, base = config["schedule"], float(config["optimizer"]["lr"])
    warmup = s["warmup_steps"]
    if s["kind"] == "step":
        return base * s["gamma"] ** (step // s["step_size"])
    if warmup == 0 and s["kind"] == "constant":
        return base
    if step < warmup:
        return base * (step + 1) / warmup
    floor = base * (s["min_lr_ratio"] if s["kind"] == "cosine" else 1.0)
    progress = (step - warmup) / (steps - warmup)
    return floor + (base - floor) * (1 + math.cos(math.pi * progress)) / 2


def main(run_dir):
    config = yaml.safe_load((run_dir / "config.resolved.yaml").read_text())
    if config["data"]["shuffle"]:
        raise SystemExit("train_reference.py: needs data.shuffle: false")
    torch.manual_seed(0)
    kind, options = model_options(config)
    model = build_model(kind, options)
    model.load_state_dict(load_file(run_dir / "initial.safetensors"), strict=True)
    optimizer = make_optimizer(config, model.parameters())
    x, y = training_samples(config)
    batch, steps = config["data"]["batch_size"], config["trainer"]["steps"]
    per_epoch = len(x) // batch  # drop_last
    clip = float(config["optimizer"]["grad_clip_norm"])
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, step, steps)
        begin = (step % per_epoch) * batch
        logits = model(x[begin:begin + batch])
        target = y[begin:begin + batch]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
    (run_dir / "torch_losses.json").write_text(json.dumps(losses))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, run_dir / "torch_final.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
