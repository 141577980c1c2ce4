#!/usr/bin/python3
"""torch_train_peer.py - the PyTorch peer of the training benchmark (run_train_bench.sh).

One workload per run, as BENCHMARKS.md defines them (synthetic data, fixed seeds, fp32):
  mlp  W1: Linear 784-1024-1024-10 with ReLU between, cross-entropy, batch 256,
       SGD lr 0.01 momentum 0.9 (PyTorch default init).
  gpt  W2: decoder-only GPT, pre-LayerNorm blocks, causal attention written as
       matmul + masked_fill(-inf) + softmax, exact-erf GELU MLP 4x, learned positions,
       final LayerNorm, head tied to the token embedding, biases on every Linear but the
       head, init N(0, 0.02); vocab 256, context 128, d_model 256, 4 layers, 4 heads,
       batch 16, AdamW lr 3e-4 weight decay 0.01 (3,257,856 parameters).
  cnn  W3: conv 1->32 3x3, ReLU, maxpool 2, conv 32->64 3x3, ReLU, maxpool 2, flatten,
       Linear 1600-128, Linear 128-10 (nothing between the two), batch 128, SGD lr 0.01.
Data: a pool of 16 seeded random batches (x ~ N(0, 1), labels / tokens uniform), step i
takes batch i mod 16.

Threads: torch.set_num_threads(T) and openblas_set_num_threads(T) (Debian's PyTorch 1.13
multiplies through OpenBLAS, whose pool torch.set_num_threads does not size); the caller
also sets OMP_NUM_THREADS and OPENBLAS_NUM_THREADS.

Timing: --warmup untimed steps, then --steps timed steps; prints one JSON line: throughput
(samples/s or tokens/s) over the timed steps, the step time, parameter count, the loss of
the first and last step, and the environment that matters to PyTorch's speed.

usage: /usr/bin/python3 bench/torch_train_peer.py {mlp,gpt,cnn} [--threads 2] [--warmup N] [--steps N]
"""
import argparse
import ctypes
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WORKLOADS = {
    # name: (unit, batch, default warm-up steps, default timed steps)
    "mlp": ("samples/s", 256, 15, 60),
    "gpt": ("tokens/s", 16, 3, 12),
    "cnn": ("samples/s", 128, 10, 60),
}
POOL = 16


def set_threads(threads):
    torch.set_num_threads(threads)
    core = None
    try:
        blas = ctypes.CDLL("libopenblas.so.0")
        blas.openblas_set_num_threads(threads)
        blas.openblas_get_corename.restype = ctypes.c_char_p
        core = blas.openblas_get_corename().decode()
    except OSError:
        pass
    return core


# ---- W1 ----
def mlp_model():
    return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


# ---- W2 ----
class Block(nn.Module):
    def __init__(self, d, heads, context):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.fc_out = nn.Linear(4 * d, d)
        mask = torch.ones(context, context, dtype=torch.bool).triu(1)
        self.register_buffer("mask", mask, persistent=False)

    def attention(self, x):
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = (z.reshape(b, t, self.heads, hd).transpose(1, 2) for z in self.qkv(x).split(d, dim=-1))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        weights = F.softmax(scores.masked_fill(self.mask[:t, :t], float("-inf")), dim=-1)
        return self.proj(torch.matmul(weights, v).transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))


class Gpt(nn.Module):
    def __init__(self, vocab=256, context=128, d=256, layers=4, heads=4):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads, context) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # the head, tied, no bias


# ---- W3 ----
def cnn_model():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.Linear(128, 10))


def setup(workload, batch, seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    if workload == "gpt":
        model = Gpt()
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
        seqs = [torch.randint(0, 256, (batch, 129), generator=g) for _ in range(POOL)]
        data = [(s[:, :-1], s[:, 1:].reshape(-1)) for s in seqs]

        def loss_of(x, y):
            return F.cross_entropy(model(x).reshape(-1, 256), y)
    else:
        model = mlp_model() if workload == "mlp" else cnn_model()
        momentum = 0.9 if workload == "mlp" else 0.0
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=momentum)
        shape = (batch, 784) if workload == "mlp" else (batch, 1, 28, 28)
        data = [(torch.randn(shape, generator=g), torch.randint(0, 10, (batch,), generator=g)) for _ in range(POOL)]

        def loss_of(x, y):
            return F.cross_entropy(model(x), y)
    return model, opt, data, loss_of


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default="", help="copied into the JSON line (the environment variant)")
    args = ap.parse_args()
    unit, batch, warmup, steps = WORKLOADS[args.workload]
    warmup = warmup if args.warmup is None else args.warmup
    steps = steps if args.steps is None else args.steps
    core = set_threads(args.threads)
    model, opt, data, loss_of = setup(args.workload, batch, args.seed)
    items = batch * 128 if args.workload == "gpt" else batch

    losses = []

    def step(i):
        x, y = data[i % POOL]
        opt.zero_grad(set_to_none=True)
        loss = loss_of(x, y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))

    for i in range(warmup):
        step(i)
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if not all(math.isfinite(v) for v in losses):
        sys.exit(f"torch_train_peer.py: {args.workload}: a loss is not finite: {losses}")
    env = {k: os.environ.get(k, "(unset)") for k in
           ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY",
            "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")}
    print(json.dumps({
        "workload": args.workload, "label": args.label, "unit": unit, "threads": args.threads,
        "torch_threads": torch.get_num_threads(), "openblas_core": core, "batch": batch,
        "params": sum(p.numel() for p in model.parameters()), "warmup": warmup, "steps": steps,
        "throughput": steps * items / seconds, "step_ms": 1e3 * seconds / steps, "cpu_util": cpu / seconds,
        "first_loss": losses[0], "last_loss": losses[-1], "torch": torch.__version__, "env": env}), flush=True)


if __name__ == "__main__":
    main()
