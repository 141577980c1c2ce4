#!/usr/bin/python3
"""sharding_bench.py - what ZeRO and reproducible mode cost per step (run it as bench/run_sharding_bench.sh).

W2 GPT (bench/configs/train_w2_ddp.yaml: per-rank batch 16, 1 thread per rank) on 2 ranks, each
variant against plain data parallelism (stage 0) measured in the same rounds:
  dp                  distributed.zero_stage=0 (the reference)
  zero1, zero2, zero3 distributed.zero_stage=1, 2, 3
  reproducible_2      distributed.reproducible=true, 2 shards (one per rank: the exact sum alone)
  reproducible_8      8 shards of 4 sequences (4 backward passes per rank per step)
Rounds run every variant once, the order rotating by one each round. Per variant: median step
time over the timed steps (after --warmup), the median over rounds of its ratio to dp in the
same round, and rank 0's memory line (parameters, gradients, optimizer state) from train.log.
Validation: every variant's first loss equals dp's within 1e-4 (the same model, data and seed).

Output: JSON lines to --out and a Markdown table to --markdown. Standard library only.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

from train_bench import HERE, clean_env, read_torus_run, summary

CONFIG = os.path.join(HERE, "configs", "train_w2_ddp.yaml")
VARIANTS = {
    "dp": [],
    "zero1": ["distributed.zero_stage=1"],
    "zero2": ["distributed.zero_stage=2"],
    "zero3": ["distributed.zero_stage=3"],
    "reproducible_2": ["distributed.reproducible=true", "distributed.reproducible_shards=2"],
    "reproducible_8": ["distributed.reproducible=true", "distributed.reproducible_shards=8"],
}
MEMORY = re.compile(r"\[rank 0\] memory on this rank: parameters ([0-9.]+) MiB[^,]*, gradients ([0-9.]+) MiB, "
                    r"optimizer state ([0-9.]+) MiB")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run_variant(torus, name, ranks, run_root, warmup, steps):
    cmd = ["mpirun", "--oversubscribe", "--allow-run-as-root", "-np", str(ranks), torus, "train", CONFIG,
           f"trainer.run_dir={run_root}", f"name={name}", f"trainer.steps={warmup + steps}", "trainer.log_every=1",
           *VARIANTS[name]]
    p = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"sharding_bench.py: {name} failed ({' '.join(cmd)}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    with open(os.path.join(run_root, name, "train.log"), encoding="utf-8") as f:
        m = MEMORY.search(f.read())
    result = read_torus_run(os.path.join(run_root, name), warmup, steps)
    result["memory_mib"] = [float(x) for x in m.groups()] if m else None
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", help="build directory holding launcher/torus")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "sharding.jsonl"))
    ap.add_argument("--markdown", default=os.path.join(HERE, "results", "sharding.md"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--ranks", type=int, default=2)
    args = ap.parse_args()
    torus = os.path.join(args.build, "launcher", "torus")
    names = list(VARIANTS)
    results = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="torus_sharding_bench_") as root:
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                log(f"round {rep + 1}/{args.reps}: {name}")
                results[name].append(run_variant(torus, name, args.ranks, root, args.warmup, args.steps))
    problems = [f"{n}: first loss {r[0]['first_loss']:.6f}, dp's {results['dp'][0]['first_loss']:.6f}"
                for n, r in results.items()
                if abs(r[0]["first_loss"] - results["dp"][0]["first_loss"]) > 1e-4 * results["dp"][0]["first_loss"]]
    if problems:
        sys.exit("sharding_bench.py: validation failed:\n  " + "\n  ".join(problems))

    records = []
    for name in names:
        step_ms = [r["step_ms"] for r in results[name]]
        ratio = statistics.median(r["step_ms"] / d["step_ms"] for r, d in zip(results[name], results["dp"]))
        memory = results[name][-1]["memory_mib"]
        records.append({"name": name, "config": "W2 GPT, per-rank batch 16", "threads": 1, "ranks": args.ranks,
                        **summary(step_ms), "unit": "ms/step", "peer": "dp", "ratio": ratio,
                        "memory_mib": dict(zip(["parameters", "gradients", "optimizer_state"], memory or []))})
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    lines = ["| variant | ms/step (median, min-max) | step time / dp | parameters MiB | gradients MiB | "
             "optimizer state MiB |", "|---|---|---|---|---|---|"]
    for rec in records:
        m = rec["memory_mib"]
        lines.append(f"| {rec['name']} | {rec['median']:.1f} ({rec['min']:.1f}-{rec['max']:.1f}) | {rec['ratio']:.3f} | "
                     f"{m.get('parameters', 0):.2f} | {m.get('gradients', 0):.2f} | {m.get('optimizer_state', 0):.2f} |")
    with open(args.markdown, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
