#!/usr/bin/python3
"""summarize_comm.py - combines the allreduce_bench jobs of bench/run_comm_bench.sh.

usage: summarize_comm.py JOBS_DIR --out comm.jsonl

JOBS_DIR holds one file per job, ROUND.IMPL.jsonl (IMPL mpi or torus), each with one JSON
line per message size. A job's figure for a size is the median busbw of its runs; over the
rounds this writes, per size and implementation, the median and min-max of those figures,
and for Torus the ratio to MPI_Allreduce as the median of the per-round ratios (the two jobs
of a round ran back to back). Standard library only.
"""
import argparse
import json
import os
import re
import statistics
import sys

PEER = "mpi_allreduce"


def target(size):
    """BENCHMARKS.md: >= 0.9x up to 64 KiB, >= 1x up to 16 MiB, >= 2x from 16 MiB."""
    if size <= 64 << 10:
        return 0.9
    return 1.0 if size < 16 << 20 else 2.0


def load_jobs(folder):
    jobs = {}  # (round, impl) -> {bytes: record}
    for name in os.listdir(folder):
        m = re.fullmatch(r"(\d+)\.(mpi|torus)\.jsonl", name)
        if not m:
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        jobs[(int(m.group(1)), m.group(2))] = {r["bytes"]: r for r in records}
    return jobs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jobs")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    jobs = load_jobs(args.jobs)
    rounds = sorted({r for r, _ in jobs})
    if not rounds or any((r, impl) not in jobs for r in rounds for impl in ("mpi", "torus")):
        sys.exit(f"summarize_comm.py: {args.jobs}: expected an mpi and a torus job per round, found {sorted(jobs)}")
    sizes = sorted(jobs[(rounds[0], "mpi")])
    out = []
    for size in sizes:
        per_impl = {}
        for impl in ("mpi", "torus"):
            missing = [r for r in rounds if size not in jobs[(r, impl)]]
            if missing:
                sys.exit(f"summarize_comm.py: no {size}-byte result from --impl {impl} in rounds {missing}")
            per_impl[impl] = [jobs[(r, impl)][size] for r in rounds]
        for impl, recs in per_impl.items():
            busbw = [r["median"] for r in recs]
            first = recs[0]
            rec = {"suite": "comm", "name": first["name"], "impl": impl, "config": first["config"],
                   "threads": 1, "ranks": first["ranks"], "median": statistics.median(busbw), "min": min(busbw),
                   "max": max(busbw), "unit": "GB/s", "peer": None, "ratio": None, "bytes": size,
                   "rounds": [round(x, 3) for x in busbw],
                   "us_median": statistics.median(r["us_median"] for r in recs),
                   "runs_per_round": first["runs"], "calls_per_run": [r["calls_per_run"] for r in recs],
                   "mpi_library": first["mpi_library"]}
            if impl == "torus":
                rec["peer"] = PEER
                rec["ratio"] = statistics.median(t["median"] / m["median"]
                                                 for t, m in zip(recs, per_impl["mpi"]))
                rec["target"] = target(size) if rec["ranks"] == 2 else None  # the targets are for 2 ranks
            out.append(rec)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for rec in out:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
