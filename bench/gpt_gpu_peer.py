#!/usr/bin/python3
"""gpt_gpu_peer.py - the PyTorch peer of the GPU training benchmark (gpu_train_bench.py).

Trains the GPT of torch_train_peer.py (W2 of BENCHMARKS.md: pre-LayerNorm blocks, causal
attention as matmul + masked_fill(-inf) + softmax, exact-erf GELU MLP 4x, learned positions,
final LayerNorm, head tied to the token embedding, init N(0, 0.02), AdamW weight decay 0.01)
on a CUDA device, in f32 with TF32 off (as Torus's GEMMs: full f32 FMAs), or with --precision
bf16 under torch.autocast(bfloat16) (f32 weights and optimizer), at any shape.
Data: a pool of 16 seeded batches of uniform random tokens; step i takes batch i mod 16.

  gpt_gpu_peer.py --check
      prints one JSON line saying whether this torch can train on a CUDA device (its
      version, its CUDA build, the device's name or why not); exit 0 when it can, 2 when not.
  gpt_gpu_peer.py [--vocab 256 --context 128 --d-model 256 --layers 4 --heads 4 --batch 16]
                  [--optimizer default|foreach|fused] [--precision f32|bf16] [--warmup N] [--steps N]
                  [--device cuda]
      --warmup untimed steps, then --steps timed between two torch.cuda.synchronize() calls;
      prints one JSON line: tokens/s over the timed steps, the step time, the parameter count,
      every step's loss (--device cpu: a run of the script itself, not a measurement of
      anything the benchmark reports). Exit 2 without a usable device, 3 when this torch's AdamW does not
      take the asked optimizer variant (fused arrived after 1.13).

Run it with a Python whose torch was built with CUDA: Debian's python3-torch (/usr/bin/python3)
is a CPU-only build, which --check reports.
"""
import argparse
import inspect
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train_peer import Gpt  # noqa: E402  (the W2 model, the same code as the CPU peer)

POOL = 16


class DeviceGpt(Gpt):
    """torch_train_peer.Gpt with its position indices made on the tokens' device."""

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)


def why_no_cuda(device):
    """'' when `device` is usable, else why not."""
    if device == "cpu":
        return ""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} at {sys.executable} is built without CUDA (torch.version.cuda is None)"
    if not torch.cuda.is_available():
        return (f"torch {torch.__version__} (CUDA {torch.version.cuda}) at {sys.executable} sees no CUDA device "
                "(torch.cuda.is_available() is False)")
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return f"{device}: torch sees {torch.cuda.device_count()} CUDA device(s)"
    return ""


def device_name(device):
    return torch.cuda.get_device_name(torch.device(device)) if device != "cpu" else "cpu"


def make_optimizer(params, variant, lr, weight_decay):
    accepted = inspect.signature(torch.optim.AdamW.__init__).parameters
    if variant == "default":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if variant not in accepted:
        print(f"gpt_gpu_peer.py: torch {torch.__version__}'s AdamW has no '{variant}' option", file=sys.stderr)
        sys.exit(3)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **{variant: True})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--optimizer", choices=["default", "foreach", "fused"], default="default")
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                    help="bf16: forward and loss under torch.autocast(bfloat16), the usual mixed precision")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default="", help="copied into the JSON line")
    args = ap.parse_args()

    why = why_no_cuda(args.device)
    info = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "python": sys.executable}
    if args.check or why:
        if not why:
            info["device_name"] = device_name(args.device)
        print(json.dumps({**info, "usable": not why, "why_not": why}), flush=True)
        if why:
            print(f"gpt_gpu_peer.py: {why}", file=sys.stderr)
        return 2 if why else 0

    # Full f32, as Torus's f32 GEMMs (kernels/cuda/gemm.h: GemmMath::f32 unless asked).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    model = DeviceGpt(args.vocab, args.context, args.d_model, args.layers, args.heads).to(device)
    opt = make_optimizer(model.parameters(), args.optimizer, args.lr, args.weight_decay)
    g = torch.Generator().manual_seed(args.seed + 1)
    seqs = [torch.randint(0, args.vocab, (args.batch, args.context + 1), generator=g) for _ in range(POOL)]
    data = [(s[:, :-1].to(device), s[:, 1:].reshape(-1).to(device)) for s in seqs]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step(i):
        x, y = data[i % POOL]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = F.cross_entropy(model(x).reshape(-1, args.vocab).float(), y)
        loss.backward()
        opt.step()
        return loss.detach()

    # The losses stay on the device until the end: reading one would synchronize every step.
    pending = [step(i) for i in range(args.warmup)]
    sync()
    t0 = time.perf_counter()
    pending += [step(i) for i in range(args.warmup, args.warmup + args.steps)]
    sync()
    seconds = time.perf_counter() - t0
    losses = [float(v) for v in pending]
    if not all(math.isfinite(v) for v in losses):
        sys.exit(f"gpt_gpu_peer.py: a loss is not finite: {losses}")
    print(json.dumps({
        **info, "label": args.label, "device_name": device_name(args.device), "optimizer": args.optimizer,
        "precision": args.precision,
        "shape": {"vocab": args.vocab, "context": args.context, "d_model": args.d_model, "layers": args.layers,
                  "heads": args.heads, "batch": args.batch},
        "params": sum(p.numel() for p in model.parameters()), "warmup": args.warmup, "steps": args.steps,
        "throughput": args.steps * args.batch * args.context / seconds, "step_ms": 1e3 * seconds / args.steps,
        "first_loss": losses[0], "last_loss": losses[-1], "losses": losses,
        "allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "max_memory_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None}),
        flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
