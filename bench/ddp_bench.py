#!/usr/bin/python3
"""ddp_bench.py - the data-parallel benchmark of BENCHMARKS.md (run it as bench/run_ddp_bench.sh).

W2 GPT, 1 thread per rank, per-rank batch 16 (global 32 on 2 ranks):
  torus_2              mpirun -np 2 torus train bench/configs/train_w2_ddp.yaml
  torus_1              torus train bench/configs/train_w2_ddp.yaml data.batch_size=16 (one process)
  pytorch_tuned_set_2  bench/run_ddp_peer.sh 2: DistributedDataParallel over gloo, tuned
                       (OMP_WAIT_POLICY=PASSIVE MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=16 GiB),
                       OPENBLAS_CORETYPE as the machine sets it (a shell that sets nothing: Haswell)
  pytorch_tuned_unset_2  the same with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset
  pytorch_tuned_*_1    the peer on one process (the plain model, no DDP)
  overlap              mpirun -np 2 ddp_overlap_bench bench/configs/train_w2_ddp.yaml: how much of
                       the all-reduce time Torus hides behind backward
Torus runs with no OMP_*, OPENBLAS_*, MALLOC_*, TORUS_* variable in its environment; the peer with
OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1 and torch.set_num_threads(1).

Protocol: one validation round first (untimed: the parameter counts agree, Torus's losses are
finite and fall and start where the peer's do; the peer and ddp_overlap_bench check that every
rank ends with the same parameters), then --reps rounds, each running every candidate once, the
order rotating by one each round. Throughput over the timed steps after --warmup (Torus: its
metrics.jsonl, global tokens/s; the peer: between barriers). Reported: median and min-max over
the rounds; ratios and weak-scaling efficiencies (tokens/s on 2 ranks / (2 x on 1 rank)) are
medians of per-round values; the best peer is the tuned variant with the higher 2-rank median,
and its weak scaling uses that variant on 1 rank.

Output: JSON lines to --out, progress on stderr. Standard library only.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import train_bench
from train_bench import HERE, TUNED, W2_FLOPS_PER_TOKEN, clean_env, paired, summary

CONFIG = os.path.join(HERE, "configs", "train_w2_ddp.yaml")
PEER = os.path.join(HERE, "run_ddp_peer.sh")
MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root"]
PER_RANK_BATCH = 16
TOKENS_PER_SEQUENCE = 128
RATIO_TARGET, SCALING_TARGET = 1.25, 0.9  # BENCHMARKS.md: W2 on 2 ranks >= 1.25x DDP, >= 90% weak scaling
VARIANTS = ("pytorch_tuned_set", "pytorch_tuned_unset")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, env, what):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"ddp_bench.py: {what} failed ({' '.join(cmd)}):\n{p.stdout[-2000:]}{p.stderr[-3000:]}")
    return p.stdout


class Candidates:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.torus = os.path.join(self.build, "launcher", "torus")
        self.overlap_bench = os.path.join(self.build, "bench", "ddp_overlap_bench")
        self.coretype = os.environ.get("OPENBLAS_CORETYPE") or "Haswell"
        self.run_root = tempfile.mkdtemp(prefix="torus_ddp_bench.")
        self.port = 29500 + os.getpid() % 2000  # a new gloo port per peer run
        self.count = 0

    def torus_run(self, ranks, steps=None):
        a = self.args
        steps = a.steps if steps is None else steps
        self.count += 1
        name = f"ddp_{ranks}_{self.count}"
        cmd = [self.torus, "train", CONFIG, f"trainer.run_dir={self.run_root}", f"name={name}",
               f"trainer.steps={a.warmup + steps}", "trainer.log_every=1", "trainer.threads=1",
               f"data.batch_size={PER_RANK_BATCH * ranks}"]
        if ranks > 1:
            cmd = MPIRUN + ["-np", str(ranks)] + cmd
        run(cmd, clean_env(), f"torus on {ranks} rank(s)")
        r = train_bench.read_torus_run(os.path.join(self.run_root, name), a.warmup, steps)
        if not all(math.isfinite(v) for v in r["losses"]):
            sys.exit(f"ddp_bench.py: a Torus loss is not finite on {ranks} rank(s): {r['losses']}")
        return r

    def peer_env(self, variant):
        env = clean_env()
        env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **TUNED,
                    "MASTER_PORT": str(self.port + self.count % 1000)})
        if variant == "pytorch_tuned_set":
            env["OPENBLAS_CORETYPE"] = self.coretype
            if os.environ.get("OPENBLAS_L2_SIZE"):
                env["OPENBLAS_L2_SIZE"] = os.environ["OPENBLAS_L2_SIZE"]
        return env

    def peer_run(self, variant, ranks, warmup=None, steps=None):
        a = self.args
        self.count += 1
        cmd = [PEER, str(ranks), "--threads", "1", "--batch", str(PER_RANK_BATCH),
               "--warmup", str(a.warmup if warmup is None else warmup),
               "--steps", str(a.steps if steps is None else steps), "--label", variant]
        out = run(cmd, self.peer_env(variant), f"the peer ({variant}, {ranks} rank(s))")
        return json.loads(out.strip().splitlines()[-1])

    def overlap_run(self, ranks):
        a = self.args
        cmd = MPIRUN + ["-np", str(ranks), self.overlap_bench, CONFIG, "--warmup", str(a.warmup),
                        "--steps", str(a.steps)]
        out = run(cmd, clean_env(), "ddp_overlap_bench")
        return json.loads(out.strip().splitlines()[-1])

    def close(self):
        shutil.rmtree(self.run_root, ignore_errors=True)


def validate(c, ranks):
    """BENCHMARKS.md step 1, untimed: both train the same model, Torus's loss falls on `ranks` ranks."""
    t = c.torus_run(ranks)
    p = c.peer_run("pytorch_tuned_set", ranks, 1, 2)
    check = train_bench.validate("W2", t, p)
    log(f"validated: {check['params']} parameters in both; Torus on {ranks} ranks: loss {check['torus_first_loss']:.4f} "
        f"-> mean of the last quarter {check['torus_loss_last_quarter']:.4f}; PyTorch DDP first loss "
        f"{check['peer_first_loss']:.4f}, replicas equal")
    return check


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", help="build directory holding launcher/torus and bench/ddp_overlap_bench")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "ddp.jsonl"))
    ap.add_argument("--reps", type=int, default=5, help="alternating rounds (the protocol wants at least 5)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per run")
    ap.add_argument("--steps", type=int, default=12, help="timed steps per run")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--peak-gflops", type=float, default=None,
                    help="fp32 peak of `ranks` cores for the model FLOPs utilisation "
                         "(default: fma_peak of results/kernels.jsonl at that many threads)")
    args = ap.parse_args()
    c = Candidates(args)
    for path in (c.torus, c.overlap_bench):
        if not os.access(path, os.X_OK):
            sys.exit(f"ddp_bench.py: {path} not built")
    n = args.ranks
    candidates = [f"torus_{n}", "torus_1", "overlap"] + [f"{v}_{r}" for v in VARIANTS for r in (n, 1)]
    results = {k: [] for k in candidates}
    extra = {k: [] for k in candidates}
    t0 = time.time()
    try:
        check = validate(c, n)
        for rep in range(args.reps):
            order = candidates[rep % len(candidates):] + candidates[:rep % len(candidates)]
            for k in order:
                name, ranks = k.rsplit("_", 1) if k != "overlap" else ("overlap", n)
                ranks = int(ranks)
                if name == "torus":
                    results[k].append(c.torus_run(ranks)["throughput"])
                elif name == "overlap":
                    r = c.overlap_run(ranks)
                    results[k].append(r["hidden_fraction"])
                    extra[k].append(r)
                else:
                    r = c.peer_run(name, ranks)
                    results[k].append(r["throughput"])
                    extra[k].append(r)
            log(f"round {rep + 1}/{args.reps}: " + ", ".join(
                f"{k} {results[k][-1]:.3f}" if k == "overlap" else f"{k} {results[k][-1]:.0f}" for k in candidates))
    finally:
        c.close()
    records = summarize(args, check, results, extra)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    log(f"{time.time() - t0:.0f} s")


def summarize(args, check, results, extra):
    n = args.ranks
    best = max(VARIANTS, key=lambda v: statistics.median(results[f"{v}_{n}"]))
    peak, peak_source = (args.peak_gflops, "--peak-gflops") if args.peak_gflops else train_bench.measured_peak(n)
    load = [round(x, 2) for x in os.getloadavg()]
    common = {"suite": "ddp", "threads": 1, "unit": "tokens/s", "per_rank_batch": PER_RANK_BATCH,
              "warmup_steps": args.warmup, "timed_steps": args.steps, "params": check["params"],
              "loadavg_after": load}
    out = []
    for k, values in results.items():
        if k == "overlap":
            continue
        name, ranks = k.rsplit("_", 1)
        ranks = int(ranks)
        rec = {**common, "name": name, "ranks": ranks,
               "config": f"W2 GPT, {ranks} rank{'s' if ranks > 1 else ''} x 1 thread, batch "
                         f"{PER_RANK_BATCH} per rank" + (", DDP over gloo" if name != "torus" and ranks > 1 else ""),
               **summary(values), "runs": [round(x, 1) for x in values], "peer": None, "ratio": None}
        if name == "torus":
            peer = f"{best}_{ranks}"
            rec.update(peer=peer, ratio=paired(values, results[peer]),
                       ratio_vs={f"{v}_{ranks}": paired(values, results[f"{v}_{ranks}"]) for v in VARIANTS})
            if ranks == n:
                rec["target"] = RATIO_TARGET
                rec["validation"] = check
        else:
            rec["best_peer"] = name == best
            rec["openblas_core"] = extra[k][0].get("openblas_core")
            rec["env"] = extra[k][0]["env"]
        rec["gflops_median"] = rec["median"] * W2_FLOPS_PER_TOKEN * 1e-9
        if peak and ranks == n:
            rec.update(mfu_median=rec["gflops_median"] / peak, peak_gflops=peak, peak_source=peak_source)
        out.append(rec)
    for name, variant in (("torus", "torus"), ("pytorch", best)):
        two, one = results[f"{variant}_{n}"], results[f"{variant}_1"]
        eff = [a / (n * b) for a, b in zip(two, one)]
        out.append({**common, "name": f"{name}_weak_scaling", "variant": variant, "ranks": n,
                    "config": f"W2 GPT, 1 -> {n} ranks x 1 thread, batch {PER_RANK_BATCH} per rank",
                    **summary(eff), "unit": "efficiency", "runs": [round(x, 3) for x in eff], "peer": None,
                    "ratio": None, "target": SCALING_TARGET})
    ov = extra["overlap"]
    med = lambda key: statistics.median(statistics.mean(r[key]) for r in ov)  # noqa: E731
    out.append({**common, "name": "torus_hidden_fraction", "ranks": n, "unit": "fraction",
                "config": f"W2 GPT, {n} ranks x 1 thread: 1 - exposed wait / all-reduce time on the comm thread",
                **summary(results["overlap"]), "runs": [round(x, 3) for x in results["overlap"]],
                "peer": None, "ratio": None, "buckets": ov[0]["buckets"], "bucket_mb": ov[0]["bucket_mb"],
                "bytes_per_step": ov[0]["bytes_per_step"],
                "exposed_ms_per_step": med("exposed_ms_per_step"),
                "allreduce_busy_ms_per_step": med("allreduce_busy_ms_per_step"),
                "standalone_allreduce_ms_per_step": med("standalone_allreduce_ms_per_step"),
                "backward_after_first_launch_ms_per_step": med("backward_after_first_launch_ms_per_step"),
                "step_ms": med("step_ms"), "per_round": ov})
    return out


if __name__ == "__main__":
    main()
