#!/usr/bin/python3
"""torch_ddp_peer.py - the PyTorch peer of the data-parallel benchmark (run_ddp_bench.sh).

The W2 GPT of torch_train_peer.py (imported from it, so the two peers train the same model)
under DistributedDataParallel over gloo, one process per rank, started by run_ddp_peer.sh N
(MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK in the environment; no torchrun, which fails
under Debian's Python 3.11). With WORLD_SIZE 1 it trains the plain model, without a process
group or DDP: the single-process baseline of weak scaling.

Per-rank batch --batch (16), each rank its own pool of 16 seeded batches; AdamW lr 3e-4
weight decay 0.01; DDP as it comes (25 MiB buckets, the first 1 MiB). Threads per rank:
torch.set_num_threads and openblas_set_num_threads (--threads, 1); the caller sets
OMP_NUM_THREADS and OPENBLAS_NUM_THREADS.

Timing: --warmup untimed steps, a barrier, --steps timed steps, a barrier; tokens/s over all
ranks = steps * batch * 128 * world / seconds on rank 0. Validation: the loss stays finite
on every rank, and after the timed steps every rank holds the same parameters (DDP averaged
the gradients). Rank 0 prints one JSON line.

usage: bench/run_ddp_peer.sh N [--threads 1] [--batch 16] [--warmup 3] [--steps 12] [--label TEXT]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from torch_train_peer import POOL, Gpt, set_threads

CONTEXT, VOCAB = 128, 256


def replica_checksum(model):
    """Sum of squares of every parameter in float64: equal on every rank when the replicas agree."""
    return sum(float(p.detach().double().pow(2).sum()) for p in model.parameters())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16, help="sequences per rank and step")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default="", help="copied into the JSON line (the environment variant)")
    args = ap.parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    core = set_threads(args.threads)
    distributed = world > 1
    if distributed:
        dist.init_process_group("gloo", rank=rank, world_size=world)

    torch.manual_seed(args.seed)
    net = Gpt()
    params = sum(p.numel() for p in net.parameters())
    if distributed:
        # gloo in PyTorch 1.13 cannot broadcast bool tensors, and DDP broadcasts every
        # buffer at the start: keep the constant causal mask as a plain attribute instead.
        for block in net.blocks:
            block.mask = block._buffers.pop("mask")
    model = DistributedDataParallel(net) if distributed else net
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(args.seed + 1 + rank)
    seqs = [torch.randint(0, VOCAB, (args.batch, CONTEXT + 1), generator=g) for _ in range(POOL)]
    data = [(s[:, :-1], s[:, 1:].reshape(-1)) for s in seqs]
    losses = []

    def step(i):
        x, y = data[i % POOL]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))

    def barrier():
        if distributed:
            dist.barrier()

    for i in range(args.warmup):
        step(i)
    barrier()
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        step(i)
    barrier()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0

    finite = all(math.isfinite(v) for v in losses)
    checks = torch.tensor([1.0 if finite else 0.0, replica_checksum(net)], dtype=torch.float64)
    gathered = [torch.zeros_like(checks) for _ in range(world)]
    if distributed:
        dist.all_gather(gathered, checks)
    else:
        gathered = [checks]
    problem = report(args, world, core, params, losses, seconds, cpu, gathered) if rank == 0 else None
    if problem:
        print(f"torch_ddp_peer.py: {problem}", file=sys.stderr, flush=True)
        os._exit(1)  # run_ddp_peer.sh then stops the other ranks
    if distributed:
        # PyTorch 1.13's gloo group can deadlock in its destructor once another rank has
        # exited (seen: a rank spinning in ~ProcessGroupGloo for minutes), so every rank
        # leaves together, without running destructors.
        dist.barrier()
        sys.stdout.flush()
        os._exit(0)


def report(args, world, core, params, losses, seconds, cpu, gathered):
    """Rank 0: checks every rank's results and prints the JSON line; returns what is wrong, if anything."""
    if not all(bool(c[0]) for c in gathered):
        return f"a loss is not finite (rank 0: {losses})"
    sums = [float(c[1]) for c in gathered]
    if max(sums) - min(sums) > 1e-9 * max(abs(s) for s in sums):
        return f"the replicas differ after training (sum of squares per rank: {sums})"
    distributed = world > 1
    tokens = args.steps * args.batch * CONTEXT * world
    env = {k: os.environ.get(k, "(unset)") for k in
           ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY",
            "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")}
    print(json.dumps({
        "workload": "gpt_ddp" if distributed else "gpt", "label": args.label, "unit": "tokens/s", "world": world,
        "threads": args.threads, "torch_threads": torch.get_num_threads(), "openblas_core": core,
        "per_rank_batch": args.batch, "params": params, "warmup": args.warmup, "steps": args.steps,
        "throughput": tokens / seconds, "step_ms": 1e3 * seconds / args.steps, "cpu_util_rank0": cpu / seconds,
        "first_loss": losses[0], "last_loss": losses[-1], "replicas_equal": True, "torch": torch.__version__,
        "env": env}), flush=True)
    return None


if __name__ == "__main__":
    main()
