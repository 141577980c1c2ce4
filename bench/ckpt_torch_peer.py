#!/usr/bin/python3
"""ckpt_torch_peer.py - the PyTorch peer of ckpt_bench (run it through bench/run_ckpt_bench.sh).

The same state as ckpt_bench (16 parameters and their SGD momentum buffers, MIB MiB in
all, f32) as one state dict: torch.save to a file on DIR's disk then fsync, and
torch.load of it with its pages dropped (cold) and cached (warm). One JSON line per
repetition, as ckpt_bench prints them; GB = 10^9 B.

--concurrent N: N processes each torch.load the same file at once (what every rank of a
PyTorch DDP job does on resume), timed from their common start to the last one's end;
the lines are named torch_load_{cold,warm}_every_rank with "ranks": N.
"""
import argparse
import json
import multiprocessing
import os
import time

import torch


def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _load_after(barrier, path, tensors):
    barrier.wait()
    loaded = torch.load(path)
    assert len(loaded["model"]) == tensors


def load_everywhere(path, ranks, tensors):
    """Seconds from the moment `ranks` processes start torch.load of `path` together to the last one's end."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(ranks + 1)
    workers = [context.Process(target=_load_after, args=(barrier, path, tensors)) for _ in range(ranks)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    if any(w.exitcode != 0 for w in workers):
        raise RuntimeError(f"a torch.load process failed (exit codes {[w.exitcode for w in workers]})")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=".")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--concurrent", type=int, default=0, help="also N concurrent torch.load processes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tensors = 16
    elements = args.mib * (1 << 20) // 2 // 4 // tensors
    state = {"model": {f"layer{i}": torch.full((elements,), 0.001 * i) for i in range(tensors)},
             "optimizer": {f"layer{i}.momentum_buffer": torch.ones(elements) for i in range(tensors)}}
    nbytes = 2 * tensors * elements * 4
    path = os.path.join(args.dir, f"ckpt_torch_peer.{os.getpid()}.pt")
    try:
        for rep in range(args.reps + 1):  # rep 0: untimed warm-up
            start = time.perf_counter()
            with open(path, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            save = time.perf_counter() - start
            drop_cache(path)
            start = time.perf_counter()
            cold = torch.load(path)
            load_cold = time.perf_counter() - start
            assert len(cold["model"]) == tensors
            del cold  # freed first, so the warm load's memory is not on top of it
            start = time.perf_counter()
            warm = torch.load(path)
            load_warm = time.perf_counter() - start
            assert len(warm["optimizer"]) == tensors
            del warm
            lines = [("torch_save", 1, save), ("torch_load_cold", 1, load_cold), ("torch_load_warm", 1, load_warm)]
            if args.concurrent > 1:
                drop_cache(path)
                lines.append(("torch_load_cold_every_rank", args.concurrent,
                              load_everywhere(path, args.concurrent, tensors)))
                lines.append(("torch_load_warm_every_rank", args.concurrent,
                              load_everywhere(path, args.concurrent, tensors)))
            if rep == 0:
                continue
            for name, ranks, seconds in lines:
                print(json.dumps({"name": name, "rep": rep, "ranks": ranks, "bytes": nbytes, "seconds": seconds,
                                  "gb_per_s": nbytes / seconds / 1e9}), flush=True)
    finally:
        if os.path.exists(path):
            os.remove(path)


if __name__ == "__main__":
    main()
