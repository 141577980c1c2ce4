#!/usr/bin/python3
"""train_bench.py - the training benchmark of BENCHMARKS.md (run it as bench/run_train_bench.sh).

For W1 (MLP), W2 (GPT) and W3 (CNN): `torus train bench/configs/train_wN_*.yaml` on synthetic
data against the PyTorch peer (bench/torch_train_peer.py) on the same workload and threads,
the peer in three environments:
  pytorch_default      as installed: OPENBLAS_CORETYPE as the machine sets it (machines of this
                       kind set Haswell; a shell that sets nothing gets Haswell here)
  pytorch_tuned_set    + OMP_WAIT_POLICY=PASSIVE MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=16 GiB
  pytorch_tuned_unset  the same with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset
all with OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and torch.set_num_threads = threads. Torus runs
with none of these variables (nor TORUS_*) in its environment; its thread count is the
config's trainer.threads.

Protocol: one validation round per workload first (untimed: parameter counts equal, losses
finite, Torus's loss falls and starts where the peer's does), then --reps rounds, each running
every candidate once, the order rotating by one each round (T A B C, A B C T, ...). Throughput
is steady state: the warm-up steps are skipped (Torus: from its metrics.jsonl, logged every
step; the peer: untimed steps), then items / seconds over the timed steps. Reported: median
and min-max over the rounds; ratio = the median of the per-round ratios Torus / peer (they
ran back to back); "best peer" = the tuned variant with the higher median.

Output: JSON lines (one object per workload and candidate) to --out, and a table on stderr.
Standard library only; the peer runs under /usr/bin/python3 (Debian's PyTorch 1.13).
"""
import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "torch_train_peer.py")
PYTHON = "/usr/bin/python3"

# name, config, unit, peer workload, items per step, warm-up steps, timed steps, description
WORKLOADS = [
    ("W1", "train_w1_mlp.yaml", "samples/s", "mlp", 256, 15, 60,
     "MLP 784-1024-1024-10, batch 256, SGD momentum 0.9"),
    ("W2", "train_w2_gpt.yaml", "tokens/s", "gpt", 16 * 128, 3, 12,
     "GPT v256 T128 d256 L4 H4, batch 16, AdamW"),
    ("W3", "train_w3_cnn.yaml", "samples/s", "cnn", 128, 10, 50,
     "CNN c32-c64-fc128-fc10, batch 128, SGD"),
]
W2_FLOPS_PER_TOKEN = 6 * 3225088 + 12 * 4 * 256 * 128  # 6N + 12 L d T = 20.92 MFLOP
EXPECTED_PARAMS = {"W2": 3257856}
TUNED = {"OMP_WAIT_POLICY": "PASSIVE", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "17179869184"}
STRIP = re.compile(r"^(OMP_|GOMP_|KMP_|OPENBLAS_|MKL_|DNNL_|ONEDNN_|MALLOC_|TORUS_|LD_PRELOAD$)")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def clean_env():
    return {k: v for k, v in os.environ.items() if not STRIP.match(k)}


def peer_env(variant, threads, coretype):
    env = clean_env()
    env.update({"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)})
    if variant != "pytorch_tuned_unset":
        env["OPENBLAS_CORETYPE"] = coretype
        if os.environ.get("OPENBLAS_L2_SIZE"):
            env["OPENBLAS_L2_SIZE"] = os.environ["OPENBLAS_L2_SIZE"]
    if variant != "pytorch_default":
        env.update(TUNED)
    return env


def run_peer(workload, variant, args, coretype, warmup, steps):
    cmd = [PYTHON, PEER, workload, "--threads", str(args.threads), "--warmup", str(warmup), "--steps", str(steps),
           "--label", variant]
    p = subprocess.run(cmd, env=peer_env(variant, args.threads, coretype), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"train_bench.py: the peer failed ({' '.join(cmd)}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_torus(torus, config, args, run_root, warmup, steps, tag):
    name = f"{tag}"
    cmd = [torus, "train", os.path.join(HERE, "configs", config), f"trainer.run_dir={run_root}", f"name={name}",
           f"trainer.steps={warmup + steps}", "trainer.log_every=1", f"trainer.threads={args.threads}"]
    p = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"train_bench.py: torus failed ({' '.join(cmd)}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return read_torus_run(os.path.join(run_root, name), warmup, steps)


def read_torus_run(run_dir, warmup, steps):
    """Throughput over the steps after `warmup` from a run's metrics.jsonl (logged every step; on
    several ranks rank 0's, over all ranks), the losses, and the parameter count from train.log.
    Removes the run directory."""
    records = []
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if "loss" in r:
                records.append(r)
    losses = [r["loss"] for r in records]
    timed = [r for r in records if r["step"] > warmup]
    if len(timed) != steps:
        sys.exit(f"train_bench.py: {run_dir}/metrics.jsonl: expected {steps} timed steps, found {len(timed)}")
    key = "tokens_per_s" if "tokens_per_s" in timed[0] else "samples_per_s"
    seconds = sum(r["time_s"] for r in timed)
    items = sum(r[key] * r["time_s"] for r in timed)
    with open(os.path.join(run_dir, "train.log"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"\((\d+) parameters\)", text)
    params = int(m.group(1)) if m else None
    shutil.rmtree(run_dir, ignore_errors=True)
    return {"throughput": items / seconds, "step_ms": 1e3 * seconds / steps, "params": params,
            "first_loss": losses[0], "last_loss": losses[-1], "losses": losses}


def loss_trend(losses):
    """The means of the first and last quarter of `losses`, and a problem line if it does not fall."""
    n = len(losses)
    head = statistics.mean(losses[: max(1, n // 4)])
    tail = statistics.mean(losses[-max(1, n // 4):])
    problem = None if tail < head else (
        f"the Torus loss does not fall: mean of the first quarter {head:.4f}, last quarter {tail:.4f}")
    return head, tail, problem


def validate(wid, torus_run, peer_run):
    """BENCHMARKS.md step 1: both compute the same workload, and Torus trains."""
    problems = []
    if torus_run["params"] != peer_run["params"]:
        problems.append(f"parameter counts differ: Torus {torus_run['params']}, PyTorch {peer_run['params']}")
    if wid in EXPECTED_PARAMS and peer_run["params"] != EXPECTED_PARAMS[wid]:
        problems.append(f"expected {EXPECTED_PARAMS[wid]} parameters, PyTorch has {peer_run['params']}")
    if not all(math.isfinite(v) for v in torus_run["losses"]):
        problems.append(f"a Torus loss is not finite: {torus_run['losses']}")
    # Random labels: the first loss is about ln(classes) in both.
    if abs(torus_run["first_loss"] - peer_run["first_loss"]) > 0.1 * peer_run["first_loss"]:
        problems.append(f"first losses differ: Torus {torus_run['first_loss']:.4f}, PyTorch {peer_run['first_loss']:.4f}")
    head, tail, problem = loss_trend(torus_run["losses"])
    if problem:
        problems.append(problem)
    if problems:
        sys.exit(f"train_bench.py: {wid}: validation failed:\n  " + "\n  ".join(problems))
    return {"params": torus_run["params"], "torus_loss_first_quarter": head, "torus_loss_last_quarter": tail,
            "torus_first_loss": torus_run["first_loss"], "peer_first_loss": peer_run["first_loss"],
            "peer_last_loss": peer_run["last_loss"]}


def measured_peak(threads):
    """The fp32 FMA peak (GFLOP/s) on `threads` threads from results/kernels.jsonl, and where it
    came from; (None, None) without one."""
    try:
        results = os.environ.get("TORUS_BENCH_RESULTS", os.path.join(HERE, "results"))
        with open(os.path.join(results, "kernels.jsonl"), encoding="utf-8") as f:
            peaks = [r["median"] for r in map(json.loads, f) if r.get("name") == "fma_peak"
                     and r.get("threads") == threads]
    except OSError:
        return None, None
    return (max(peaks), "fma_peak in results/kernels.jsonl") if peaks else (None, None)


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def paired(a, b):
    return statistics.median(x / y for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", help="build directory holding launcher/torus")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "train.jsonl"))
    ap.add_argument("--reps", type=int, default=5, help="alternating rounds (the protocol wants at least 5)")
    ap.add_argument("--steps-scale", type=float, default=1.0,
                    help="scales every workload's warm-up and timed steps (bench/run_all.sh --quick: 0.4)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workloads", default="W1,W2,W3")
    ap.add_argument("--peak-gflops", type=float, default=None,
                    help="fp32 peak for W2's model FLOPs utilisation (default: fma_peak of results/kernels.jsonl)")
    args = ap.parse_args()
    if args.reps < 5 or args.steps_scale < 1:
        log(f"train_bench.py: {args.reps} rounds, steps x {args.steps_scale:g}: a check, below the protocol")
    torus = os.path.join(os.path.abspath(args.build), "launcher", "torus")
    if not os.access(torus, os.X_OK):
        sys.exit(f"train_bench.py: {torus} not built")
    coretype = os.environ.get("OPENBLAS_CORETYPE") or "Haswell"
    peak, peak_source = args.peak_gflops, "--peak-gflops"
    if peak is None:
        peak, peak_source = measured_peak(args.threads)
    variants = ["pytorch_default", "pytorch_tuned_set", "pytorch_tuned_unset"]
    wanted = set(args.workloads.split(","))
    run_root = tempfile.mkdtemp(prefix="torus_train_bench.")
    out = []
    try:
        for wid, config, unit, pw, items, warmup, steps, desc in WORKLOADS:
            if wid not in wanted:
                continue
            warmup, steps = max(1, round(warmup * args.steps_scale)), max(4, round(steps * args.steps_scale))
            t0 = time.time()
            # Validation: short runs, untimed; the loss trend needs the full step count.
            v_torus = run_torus(torus, config, args, run_root, warmup, steps, f"{wid}_validate")
            v_peer = run_peer(pw, "pytorch_tuned_set", args, coretype, 1, 2)
            check = validate(wid, v_torus, v_peer)
            log(f"{wid}: validated: {check['params']} parameters in both; Torus loss {check['torus_first_loss']:.4f} -> "
                f"mean of last quarter {check['torus_loss_last_quarter']:.4f}; PyTorch first loss {check['peer_first_loss']:.4f}")
            candidates = ["torus"] + variants
            results = {c: [] for c in candidates}
            extra = {c: [] for c in candidates}
            for rep in range(args.reps):
                order = candidates[rep % len(candidates):] + candidates[:rep % len(candidates)]
                for c in order:
                    if c == "torus":
                        r = run_torus(torus, config, args, run_root, warmup, steps, f"{wid}_{rep}")
                        if not all(math.isfinite(v) for v in r["losses"]):
                            sys.exit(f"train_bench.py: {wid}: a Torus loss is not finite in round {rep}")
                    else:
                        r = run_peer(pw, c, args, coretype, warmup, steps)
                        extra[c].append(r.get("openblas_core"))
                    results[c].append(r["throughput"])
                log(f"{wid} round {rep + 1}/{args.reps}: " +
                    ", ".join(f"{c} {results[c][-1]:.0f}" for c in candidates))
            medians = {c: statistics.median(results[c]) for c in variants}
            best = max(["pytorch_tuned_set", "pytorch_tuned_unset"], key=lambda c: medians[c])
            load = os.getloadavg()
            for c in candidates:
                rec = {"name": c, "config": f"{wid} {desc}", "workload": wid, "threads": args.threads, "ranks": 1,
                       **summary(results[c]), "unit": unit, "runs": [round(x, 1) for x in results[c]],
                       "warmup_steps": warmup, "timed_steps": steps, "params": check["params"]}
                if c == "torus":
                    rec["peer"] = best
                    rec["ratio"] = paired(results["torus"], results[best])
                    rec["ratio_vs"] = {v: paired(results["torus"], results[v]) for v in variants}
                    rec["validation"] = check
                else:
                    rec["peer"] = None
                    rec["ratio"] = None
                    rec["openblas_core"] = extra[c][0]
                    env = peer_env(c, args.threads, coretype)
                    rec["env"] = {k: env.get(k, "(unset)") for k in
                                  ["OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", *TUNED]}
                    rec["best_peer"] = c == best
                if wid == "W2":
                    gflops = rec["median"] * W2_FLOPS_PER_TOKEN * 1e-9
                    rec["gflops_median"] = gflops
                    if peak:
                        rec["mfu_median"] = gflops / peak
                        rec["peak_gflops"] = peak
                        rec["peak_source"] = peak_source
                rec["loadavg_after"] = [round(x, 2) for x in load]
                out.append(rec)
                log(f"{wid} {c:20s} {rec['median']:10.1f} ({rec['min']:.0f}-{rec['max']:.0f}) {unit}" +
                    (f"  ratio to {best} {rec['ratio']:.2f}" if c == "torus" else ""))
            log(f"{wid}: {time.time() - t0:.0f} s")
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for rec in out:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
