#!/usr/bin/python3
"""summarize_ckpt.py JSONL - the table of bench/run_ckpt_bench.sh: medians (min-max) over rounds and
the median of per-round ratios (each round ran Torus, dd and torch back to back)."""
import collections
import json
import statistics
import sys


def main():
    by_round = collections.defaultdict(dict)  # round -> (name, ranks) -> GB/s
    meta = {}
    for line in open(sys.argv[1]):
        r = json.loads(line)
        by_round[r["rep"]][(r["name"], r["ranks"])] = r["gb_per_s"]
        if r["name"].startswith("torus"):
            meta = r if r["ranks"] >= meta.get("ranks", 0) else meta
    rounds = sorted(by_round)
    ranks = meta["ranks"]
    runs = sorted({k[1] for d in by_round.values() for k in d if k[0].startswith("torus")}, reverse=True)

    def have(key):
        return any(key in by_round[k] for k in rounds)

    def figure(key):
        values = [by_round[k][key] for k in rounds if key in by_round[k]]
        return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"

    def ratio(a, b):
        values = [by_round[k][a] / by_round[k][b] for k in rounds if a in by_round[k] and b in by_round[k]]
        return statistics.median(values)

    def plural(n):
        return f"{n} rank{'s' if n > 1 else ''}"

    gib = meta["bytes"] / 2**30
    print(f"{len(rounds)} rounds; state {gib:.2f} GiB (16 parameters + SGD momentum, f32); Torus on "
          f"{' and on '.join(plural(n) for n in runs)} (each rank writing its share; each loading the whole state, "
          f"as resume does, the checksums split over the ranks); CRC-32 by {meta.get('crc32', 'zlib')}; "
          "GB/s = state bytes / seconds, 1 GB = 10^9 B.\n")
    print("| what | GB/s | ratio | target |")
    print("|---|---|---|---|")
    for n in runs:
        key = ("torus_save", n)
        print(f"| Torus save, {plural(n)} (write, fsync, manifest, commit) | {figure(key)} | "
              f"{ratio(key, ('dd_fdatasync', n)):.2f} × dd | ≥ 0.80 |")
    print(f"| `dd bs=1M conv=fdatasync` of the same bytes (page-cached input) | {figure(('dd_fdatasync', runs[0]))} "
          "| 1 | – |")
    print(f"| torch.save + fsync (reference) | {figure(('torch_save', 1))} | "
          f"{ratio(('torus_save', runs[0]), ('torch_save', 1)):.2f} (Torus {plural(runs[0])} / torch) | – |")
    for kind in ("cold", "warm"):
        torch_one = (f"torch_load_{kind}", 1)
        torch_all = (f"torch_load_{kind}_every_rank", ranks)
        for n in runs:
            key = (f"torus_load_{kind}", n)
            r = ratio(key, torch_one)
            print(f"| Torus load, {kind}, {plural(n)} (checksums, every tensor, every page read) | {figure(key)} | "
                  f"{r:.2f} × torch.load{' (miss)' if r < 1 else ''} | > 1 |")
            if n > 1 and have(torch_all):
                r = ratio(key, torch_all)
                print(f"| ... against torch.load on each of the {n} ranks at once | | "
                      f"{r:.2f} × that{' (miss)' if r < 1 else ''} | – |")
        print(f"| torch.load, {kind} (one process) | {figure(torch_one)} | 1 | – |")
        if have(torch_all):
            print(f"| torch.load, {kind}, {ranks} processes of the same file at once (as DDP ranks resume; "
                  f"state bytes / time to the last one's end) | {figure(torch_all)} | – | – |")


if __name__ == "__main__":
    main()
