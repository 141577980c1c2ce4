#!/usr/bin/python3
"""profile_summary.py - where a training step's time goes, from a `trainer.profile` Chrome trace.

The trainer records steps 2..11 (ten steps). Events nest (a `forward linear` holds its
`forward matmul`), so besides the inclusive time this prints the self time of each op: its
duration minus that of the events it encloses on the same thread. Self times add up to the
traced time.

usage: profile_summary.py TRACE.json [--steps 10] [--top 20] [--sizes]
       (--sizes: also split each op by the duration of its calls, to tell small from large calls)
"""
import argparse
import json
from collections import defaultdict


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    with open(args.trace, encoding="utf-8") as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    by_thread = defaultdict(list)
    for e in events:
        by_thread[e["tid"]].append(e)
    stats = defaultdict(lambda: {"calls": 0, "total": 0.0, "self": 0.0, "max": 0.0})
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, child time]
        def close(item):
            e, child = item
            s = stats[(e["cat"], e["name"])]
            s["calls"] += 1
            s["total"] += e["dur"]
            s["self"] += e["dur"] - child
            s["max"] = max(s["max"], e["dur"])
            if stack:
                stack[-1][1] += e["dur"]
        for e in evs:
            while stack and stack[-1][0]["ts"] + stack[-1][0]["dur"] <= e["ts"]:
                close(stack.pop())
            stack.append([e, 0.0])
        while stack:
            close(stack.pop())
    span = (max(e["ts"] + e["dur"] for e in events) - min(e["ts"] for e in events)) / 1e3
    self_total = sum(s["self"] for s in stats.values()) / 1e3
    n = args.steps
    print(f"{args.trace}: {len(events)} events over {span:.1f} ms = {span / n:.2f} ms/step ({n} steps); "
          f"self time traced {self_total / n:.2f} ms/step")
    print(f"{'op':34s} {'calls/step':>10s} {'self ms/step':>12s} {'self %':>7s} {'incl ms/step':>12s} "
          f"{'ms/call':>8s} {'max ms':>7s}")
    rows = sorted(stats.items(), key=lambda kv: -kv[1]["self"])
    for (cat, name), s in rows[: args.top]:
        print(f"{cat + ' ' + name:34s} {s['calls'] / n:10.1f} {s['self'] / 1e3 / n:12.2f} "
              f"{100 * s['self'] / 1e3 / self_total:6.1f}% {s['total'] / 1e3 / n:12.2f} "
              f"{s['total'] / 1e3 / s['calls']:8.3f} {s['max'] / 1e3:7.2f}")


if __name__ == "__main__":
    main()
