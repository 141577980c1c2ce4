#!/usr/bin/python3
"""ckpt_torch_peer.py - the PyTorch peer of ckpt_bench (run it through bench/run_ckpt_bench.sh).

The same state as ckpt_bench (16 parameters and their SGD momentum buffers, MIB MiB in
all, f32) as one state dict: torch.save to a file on DIR's disk then fsync, and
torch.load of it with its pages dropped (cold) and cached (warm). One JSON line per
repetition, as ckpt_bench prints them; GB = 10^9 B.
"""
import argparse
import json
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=".")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mib", type=int, default=1024)
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
            start = time.perf_counter()
            warm = torch.load(path)
            load_warm = time.perf_counter() - start
            assert len(cold["model"]) == tensors and len(warm["optimizer"]) == tensors
            del cold, warm
            if rep == 0:
                continue
            for name, seconds in (("torch_save", save), ("torch_load_cold", load_cold), ("torch_load_warm", load_warm)):
                print(json.dumps({"name": name, "rep": rep, "ranks": 1, "bytes": nbytes, "seconds": seconds,
                                  "gb_per_s": nbytes / seconds / 1e9}), flush=True)
    finally:
        if os.path.exists(path):
            os.remove(path)


if __name__ == "__main__":
    main()
