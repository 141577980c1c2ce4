#!/usr/bin/python3
"""scaling_bench.py - weak and strong scaling of W2 over 1, 2 and 4 ranks, and the measured
inputs of the scaling model (run it as bench/run_scaling_bench.sh).

W2 GPT (bench/configs/train_w2_ddp.yaml), 1 thread per rank:
  weak     per-rank batch 16 (global 16 x ranks): `torus train`, through mpirun above 1 rank
  strong   global batch 32 (32, 16, 8 per rank); 2 ranks is the weak run's configuration
  profile  step_profile_bench with the same per-rank batches, one replica per rank and no
           communication: forward, backward with each gradient's ready time, optimizer, for a
           rank sharing the node with the others (the scaling model's compute input)
4 ranks on a machine with fewer cores are oversubscribed (ranks x threads > cores): they share
cores, and the records say so ("oversubscribed": true).

Protocol: one validation round first (untimed: losses finite, falling, starting near ln 256;
every run trains the same parameter count), then --reps rounds, each running every candidate
once, the order rotating by one each round. Throughput over the timed steps after the warm-up
(global tokens/s from metrics.jsonl). Reported: median and min-max over rounds; scaling
efficiency, tokens/s on N ranks / (N x the 1-rank figure of the same kind), as the median of
per-round values. Output: JSON lines to --out, progress on stderr. Standard library only.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

from train_bench import HERE, clean_env, log, read_torus_run, summary

CONFIG = os.path.join(HERE, "configs", "train_w2_ddp.yaml")
MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root"]
TOKENS_PER_SEQUENCE = 128
WEAK_BATCH, STRONG_GLOBAL_BATCH = 16, 32
EXPECTED_PARAMS = 3257856
WEAK_TARGET = 0.9  # issue 11 / BENCHMARKS.md: weak-scaling efficiency 1 -> 2 ranks >= 90%


def run(cmd, what):
    p = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"scaling_bench.py: {what} failed ({' '.join(cmd)}):\n{p.stdout[-2000:]}{p.stderr[-3000:]}")
    return p.stdout


def launcher(ranks):
    return [] if ranks == 1 else MPIRUN + ["-np", str(ranks)]


def train(args, run_root, kind, ranks, global_batch, steps):
    name = f"{kind}_{ranks}"
    cmd = launcher(ranks) + [args.torus, "train", CONFIG, f"trainer.run_dir={run_root}", f"name={name}",
                             f"data.batch_size={global_batch}", f"trainer.steps={args.warmup + steps}",
                             "trainer.log_every=1", "trainer.threads=1"]
    run(cmd, f"torus train ({kind}, {ranks} ranks)")
    return read_torus_run(os.path.join(run_root, name), args.warmup, steps)


def profile(args, ranks, per_rank_batch, steps):
    cmd = launcher(ranks) + [args.profiler, CONFIG, f"data.batch_size={per_rank_batch}", "trainer.threads=1",
                             "--warmup", str(args.warmup), "--steps", str(steps)]
    return json.loads(run(cmd, f"step_profile_bench ({ranks} ranks)").strip().splitlines()[-1])


def candidates():
    """(key, kind, ranks, global batch) of every job of a round."""
    jobs = []
    for ranks in (1, 2, 4):
        jobs.append((f"weak_{ranks}", "weak", ranks, WEAK_BATCH * ranks))
        jobs.append((f"profile_weak_{ranks}", "profile", ranks, WEAK_BATCH))
    for ranks in (1, 4):  # 2 ranks at global 32 is weak_2
        jobs.append((f"strong_{ranks}", "strong", ranks, STRONG_GLOBAL_BATCH))
        jobs.append((f"profile_strong_{ranks}", "profile", ranks, STRONG_GLOBAL_BATCH // ranks))
    return jobs


def run_job(args, run_root, job, steps):
    key, kind, ranks, batch = job
    if kind == "profile":
        return profile(args, ranks, batch, steps)
    return train(args, run_root, kind, ranks, batch, steps)


def validate(results):
    problems = []
    for key, r in results.items():
        if "losses" not in r:
            continue
        if r["params"] != EXPECTED_PARAMS:
            problems.append(f"{key}: {r['params']} parameters, expected {EXPECTED_PARAMS}")
        if not all(math.isfinite(v) for v in r["losses"]):
            problems.append(f"{key}: a loss is not finite")
        if abs(r["first_loss"] - math.log(256)) > 0.3:
            problems.append(f"{key}: first loss {r['first_loss']:.3f}, expected about ln 256 = 5.545")
        n = len(r["losses"])
        if not statistics.mean(r["losses"][-max(1, n // 4):]) < statistics.mean(r["losses"][: max(1, n // 4)]):
            problems.append(f"{key}: the loss does not fall")
    if problems:
        sys.exit("scaling_bench.py: validation failed:\n  " + "\n  ".join(problems))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", help="build directory holding launcher/torus and bench/step_profile_bench")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "scaling.jsonl"))
    ap.add_argument("--reps", type=int, default=5, help="alternating rounds (at least 5)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per run")
    args = ap.parse_args()
    args.torus = os.path.join(args.build, "launcher", "torus")
    args.profiler = os.path.join(args.build, "bench", "step_profile_bench")
    for exe in (args.torus, args.profiler):
        if not os.access(exe, os.X_OK):
            sys.exit(f"scaling_bench.py: {exe} is not built")
    cores = os.cpu_count() or 1
    jobs = candidates()
    rounds = {key: [] for key, *_ in jobs}
    with tempfile.TemporaryDirectory(prefix="torus_scaling_bench.") as run_root:
        log("validation round")
        validate({job[0]: run_job(args, run_root, job, args.steps) for job in jobs if job[1] != "profile"})
        for rep in range(args.reps):
            order = jobs[rep % len(jobs):] + jobs[: rep % len(jobs)]
            for job in order:
                log(f"round {rep + 1}/{args.reps}: {job[0]}")
                rounds[job[0]].append(run_job(args, run_root, job, args.steps))

    out = []
    base = {"suite": "scaling", "threads": 1, "unit": "tokens/s", "warmup_steps": args.warmup,
            "timed_steps": args.steps, "cores": cores, "reps": args.reps}
    for kind in ("weak", "strong"):
        ones = [r["throughput"] for r in rounds[f"{kind}_1"]]
        for ranks in (1, 2, 4):
            key = f"{kind}_{ranks}" if not (kind == "strong" and ranks == 2) else "weak_2"
            values = [r["throughput"] for r in rounds[key]]
            global_batch = WEAK_BATCH * ranks if kind == "weak" else STRONG_GLOBAL_BATCH
            efficiency = [v / (ranks * o) for v, o in zip(values, ones)]
            rec = dict(base, name=f"torus_{kind}", ranks=ranks, per_rank_batch=global_batch // ranks,
                       global_batch=global_batch, oversubscribed=ranks > cores,
                       config=f"W2 GPT, {ranks} rank(s) x 1 thread, global batch {global_batch}"
                              + (" (oversubscribed)" if ranks > cores else ""),
                       **summary(values), runs=[round(v, 1) for v in values],
                       step_ms=statistics.median(r["step_ms"] for r in rounds[key]),
                       efficiency=statistics.median(efficiency), efficiency_min=min(efficiency),
                       efficiency_max=max(efficiency), peer=None, ratio=None)
            if kind == "weak" and ranks == 2:
                rec["target"] = WEAK_TARGET
            out.append(rec)
    for key, kind, ranks, batch in jobs:
        if kind != "profile":
            continue
        recs = rounds[key]
        mid = statistics.median
        ready = [mid(r["parameters"][i]["ready_s"] for r in recs) for i in range(len(recs[0]["parameters"]))]
        params = [dict(p, ready_s=t) for p, t in zip(recs[0]["parameters"], ready)]
        out.append({"suite": "step_profile", "name": key, "ranks": ranks, "colocated_ranks": ranks,
                    "per_rank_batch": batch, "threads": 1, "cores": cores, "oversubscribed": ranks > cores,
                    "items_per_step": recs[0]["items_per_step"], "unit": "s",
                    "forward_s": mid(r["forward_s"] for r in recs), "backward_s": mid(r["backward_s"] for r in recs),
                    "optimizer_s": mid(r["optimizer_s"] for r in recs), "step_s": mid(r["step_s"] for r in recs),
                    "step_s_rounds": [r["step_s"] for r in recs], "parameters": params})
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for rec in out:
            f.write(json.dumps(rec) + "\n")
    for rec in out:
        if rec["suite"] == "scaling":
            log(f"{rec['name']} {rec['ranks']} ranks: {rec['median']:.0f} tokens/s, efficiency {rec['efficiency']:.2f}")


if __name__ == "__main__":
    main()
