#!/usr/bin/python3
"""scaling_collect.py - the cluster scaling benchmark's records (cluster/bench/scaling.sh).

  scaling_collect.py record RUN_DIR --nodes N --ranks R --warmup W --steps S --rep K
      one JSON line for one `torus train` run of W2 (global tokens/s from its metrics.jsonl)
  scaling_collect.py merge DIR
      every DIR/scaling-n*.jsonl (one line per node count and repetition) and
      DIR/profile-*.json into DIR/scaling.jsonl, in the format of bench/scaling_bench.py:
      medians over repetitions, efficiency against the fewest nodes measured
Standard library only.
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_bench import read_torus_run  # noqa: E402


EXPECTED_PARAMS = 3257856  # W2


def record(args):
    r = read_torus_run(args.run_dir, args.warmup, args.steps)
    # Validated before it counts: the workload is W2 and it trained.
    if r["params"] != EXPECTED_PARAMS:
        sys.exit(f"scaling_collect.py: {args.run_dir}: {r['params']} parameters, expected W2's {EXPECTED_PARAMS}")
    if not all(math.isfinite(v) for v in r["losses"]):
        sys.exit(f"scaling_collect.py: {args.run_dir}: a loss is not finite: {r['losses']}")
    if abs(r["first_loss"] - math.log(256)) > 0.3:
        sys.exit(f"scaling_collect.py: {args.run_dir}: first loss {r['first_loss']:.3f}, expected about ln 256")
    print(json.dumps({"suite": "scaling_cluster_run", "nodes": args.nodes, "ranks": args.ranks, "rep": args.rep,
                      "tokens_per_s": r["throughput"], "step_ms": r["step_ms"], "params": r["params"],
                      "first_loss": r["first_loss"], "last_loss": r["last_loss"]}))


def merge(args):
    runs = []
    for path in sorted(glob.glob(os.path.join(args.dir, "scaling-n*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            runs += [json.loads(line) for line in f if line.strip()]
    if not runs:
        sys.exit(f"scaling_collect.py: no {args.dir}/scaling-n*.jsonl: did the jobs run?")
    by_nodes = {}
    for r in runs:
        by_nodes.setdefault((r["nodes"], r["ranks"]), []).append(r["tokens_per_s"])
    (base_nodes, base_ranks), base = min(by_nodes.items())
    base_per_rank = statistics.median(base) / base_ranks
    out = []
    for (nodes, ranks), values in sorted(by_nodes.items()):
        out.append({"suite": "scaling", "name": "torus_weak", "nodes": nodes, "ranks": ranks,
                    "per_rank_batch": 16, "global_batch": 16 * ranks, "threads": None, "unit": "tokens/s",
                    "cores": None, "oversubscribed": False, "reps": len(values),
                    "median": statistics.median(values), "min": min(values), "max": max(values),
                    "runs": [round(v, 1) for v in values],
                    # Against the baseline's median: the runs of different node counts are not paired.
                    "efficiency": statistics.median(values) / (ranks * base_per_rank),
                    "efficiency_runs_min": min(values) / (ranks * base_per_rank),
                    "efficiency_runs_max": max(values) / (ranks * base_per_rank),
                    "efficiency_baseline": f"{base_nodes} node(s) x {base_ranks // base_nodes} ranks",
                    "config": f"W2 GPT, {nodes} node(s), {ranks} ranks, batch 16 per rank",
                    "warmup_steps": None, "timed_steps": None, "peer": None, "ratio": None})
    profiles = []
    for path in sorted(glob.glob(os.path.join(args.dir, "profile-*.json"))):
        with open(path, encoding="utf-8") as f:
            profiles.append(json.loads(f.read().strip().splitlines()[-1]))
    if profiles:
        p = dict(profiles[0], name="profile_weak_1", per_rank_batch=16, suite="step_profile")
        for key in ("forward_s", "backward_s", "optimizer_s", "step_s"):
            p[key] = statistics.median(q[key] for q in profiles)
        p["parameters"] = [dict(param, ready_s=statistics.median(q["parameters"][i]["ready_s"] for q in profiles))
                           for i, param in enumerate(profiles[0]["parameters"])]
        out.append(p)
    path = os.path.join(args.dir, "scaling.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in out:
            f.write(json.dumps(r) + "\n")
    for r in out:
        if r["suite"] == "scaling":
            print(f"{r['nodes']} node(s), {r['ranks']} ranks: {r['median']:.0f} tokens/s "
                  f"({r['min']:.0f}-{r['max']:.0f}, {r['reps']} runs), weak-scaling efficiency {r['efficiency']:.2f}")
    print(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("run_dir")
    for name in ("--nodes", "--ranks", "--warmup", "--steps", "--rep"):
        rec.add_argument(name, type=int, required=True)
    mer = sub.add_parser("merge")
    mer.add_argument("dir")
    args = ap.parse_args()
    record(args) if args.command == "record" else merge(args)


if __name__ == "__main__":
    main()
