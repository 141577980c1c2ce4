#!/usr/bin/python3
"""summarize_ckpt.py JSONL - the table of bench/run_ckpt_bench.sh: medians (min-max) over rounds and
the median of per-round ratios (each round ran Torus, dd and torch back to back)."""
import collections
import json
import statistics
import sys


def main():
    by_round = collections.defaultdict(dict)
    meta = {}
    for line in open(sys.argv[1]):
        r = json.loads(line)
        by_round[r["rep"]][r["name"]] = r["gb_per_s"]
        if r["name"].startswith("torus"):
            meta = r
    rounds = sorted(by_round)

    def figure(name):
        values = [by_round[k][name] for k in rounds if name in by_round[k]]
        return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"

    def ratio(a, b):
        values = [by_round[k][a] / by_round[k][b] for k in rounds if a in by_round[k] and b in by_round[k]]
        return statistics.median(values)

    gib = meta["bytes"] / 2**30
    print(f"{len(rounds)} rounds; state {gib:.2f} GiB (16 parameters + SGD momentum, f32); Torus on "
          f"{meta['ranks']} ranks, each writing its half and each loading the whole state (as resume does); "
          "GB/s = state bytes / seconds, 1 GB = 10^9 B.\n")
    print("| what | GB/s | ratio | target |")
    print("|---|---|---|---|")
    save = ratio("torus_save", "dd_fdatasync")
    print(f"| Torus save (write, fsync, manifest, commit) | {figure('torus_save')} | {save:.2f} × dd | ≥ 0.80 |")
    print(f"| `dd bs=1M conv=fdatasync` of the same bytes (page-cached input) | {figure('dd_fdatasync')} | 1 | – |")
    print(f"| torch.save + fsync (reference) | {figure('torch_save')} | {ratio('torus_save', 'torch_save'):.2f} "
          "(Torus / torch) | – |")
    for kind in ("cold", "warm"):
        r = ratio(f"torus_load_{kind}", f"torch_load_{kind}")
        print(f"| Torus load, {kind} (checksums, then every tensor) | {figure(f'torus_load_{kind}')} | "
              f"{r:.2f} × torch.load{' (miss)' if r < 1 else ''} | > 1 |")
        print(f"| torch.load, {kind} | {figure(f'torch_load_{kind}')} | 1 | – |")


if __name__ == "__main__":
    main()
