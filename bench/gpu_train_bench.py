#!/usr/bin/python3
"""gpu_train_bench.py - the GPT training step on a GPU, Torus against PyTorch on the same device
(run by bench/run_gpu_bench.sh; runs alone too).

Workloads (synthetic tokens, fixed seeds), each in two precisions (--precisions): f32 with TF32
off on both sides, and bf16 (Torus's trainer.precision bf16 against torch.autocast(bfloat16)):
  W2     BENCHMARKS.md's GPT: vocab 256, context 128, d_model 256, 4 layers, 4 heads, batch 16
         (bench/configs/train_w2_gpt.yaml); on a GPU mostly a measure of per-kernel overhead.
  GPT-M  the same model at GPT-2 small's width and depth: context 1024, d_model 768, 12 layers,
         12 heads, batch 8 (bench/configs/gpu_gpt_medium.yaml); a step the GPU's arithmetic
         decides.
Torus: `torus train CONFIG trainer.device=cuda ...`, throughput from its metrics.jsonl (logged
every step) over the steps after the warm-up. The peer: bench/gpt_gpu_peer.py, the same model
(torch_train_peer.py's GPT) on the same device, timed between two synchronizations, with
AdamW as it comes and with each faster variant this torch has (foreach; fused where the
version has it): the best of them is the peer ("the peer at its best", BENCHMARKS.md).

Protocol (BENCHMARKS.md): validate first (a short untimed run of each: equal parameter counts,
finite losses, first losses near ln 256 in both, Torus's loss falls), then --reps rounds in
which every candidate runs once, the order rotating each round; median and min-max over the
rounds; ratio = the median of the per-round ratios Torus / best peer.

Without a GPU it says so and exits 1 before timing anything. A peer Python whose torch has no
CUDA (Debian's python3-torch is a CPU build) is said so too: Torus is then measured alone, and
the ratio is reported as not measured, with the reason (never a number that was not measured).
The peer's interpreter: --peer-python, else $TORUS_GPU_PEER_PYTHON, else /usr/bin/python3.

Output: JSON lines (one object per workload and candidate: name, config, threads, ranks,
median, min, max, unit, peer, ratio, ...) to --out and a Markdown table to --md.
Standard library only.

usage: gpu_train_bench.py BUILD_DIR [--reps 5] [--workloads W2,GPT-M] [--precisions f32,bf16] [--device cuda]
                          [--device-name NAME] [--peer-python PY] [--out results/gpu/gpt.jsonl] [--md results/gpu/gpt.md]
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from train_bench import clean_env, loss_trend, paired, read_torus_run, summary  # noqa: E402

PEER = os.path.join(HERE, "gpt_gpu_peer.py")
VARIANTS = ["default", "foreach", "fused"]


class Workload:
    def __init__(self, wid, config, vocab, context, d_model, layers, heads, batch, warmup, steps, desc):
        self.wid, self.config, self.desc = wid, config, desc
        self.vocab, self.context, self.d_model, self.layers, self.heads, self.batch = (
            vocab, context, d_model, layers, heads, batch)
        self.warmup, self.steps = warmup, steps
        d = d_model
        # LayerNorms, attention and MLP Linears with biases per block; wte (also the head), wpe, ln_f.
        self.params = layers * (12 * d * d + 13 * d) + vocab * d + context * d + 2 * d
        # Model FLOPs per token, 6N + 12 L d T with N the parameters that multiply (all but wpe).
        self.flops_per_token = 6 * (self.params - context * d) + 12 * layers * d * context

    def peer_args(self):
        return ["--vocab", str(self.vocab), "--context", str(self.context), "--d-model", str(self.d_model),
                "--layers", str(self.layers), "--heads", str(self.heads), "--batch", str(self.batch)]


WORKLOADS = [
    Workload("W2", "train_w2_gpt.yaml", 256, 128, 256, 4, 4, 16, 5, 40,
             "GPT v256 T128 d256 L4 H4, batch 16, AdamW"),
    Workload("GPT-M", "gpu_gpt_medium.yaml", 256, 1024, 768, 12, 12, 8, 3, 10,
             "GPT v256 T1024 d768 L12 H12, batch 8, AdamW"),
]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def torus_command(torus, w, device, run_root, name, steps, precision="f32"):
    return [torus, "train", os.path.join(HERE, "configs", w.config), f"trainer.run_dir={run_root}", f"name={name}",
            f"trainer.steps={steps}", "trainer.log_every=1", "trainer.threads=0", f"trainer.device={device}",
            f"trainer.precision={precision}"]


def run_torus(torus, w, device, run_root, tag, precision, warmup=None, steps=None):
    warmup = w.warmup if warmup is None else warmup
    steps = w.steps if steps is None else steps
    cmd = torus_command(torus, w, device, run_root, tag, warmup + steps, precision)
    p = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"gpu_train_bench.py: torus failed ({' '.join(cmd)}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return read_torus_run(os.path.join(run_root, tag), warmup, steps)


def torus_device_check(torus, device, run_root):
    """'' when `torus train` runs a step on `device`, else its one-line reason."""
    cmd = torus_command(torus, WORKLOADS[0], device, run_root, "device_check", 1)
    p = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    shutil.rmtree(os.path.join(run_root, "device_check"), ignore_errors=True)
    if p.returncode == 0:
        return ""
    lines = [line for line in (p.stderr + p.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"torus train exited {p.returncode}"


def run_peer(python, w, variant, device, precision, warmup, steps):
    """The peer's JSON line; None when this torch's AdamW lacks the variant (exit 3)."""
    cmd = [python, PEER, *w.peer_args(), "--optimizer", variant, "--device", device, "--precision", precision,
           "--warmup", str(warmup), "--steps", str(steps), "--label", variant]
    p = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    if p.returncode == 3:
        return None
    if p.returncode != 0:
        sys.exit(f"gpu_train_bench.py: the peer failed ({' '.join(cmd)}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def peer_check(python, device):
    """(info, why_not): the peer's --check line, and '' when it can train on `device`."""
    try:
        p = subprocess.run([python, PEER, "--check", "--device", device], env=clean_env(), capture_output=True,
                           text=True)
    except OSError as e:
        return {}, f"{python}: {e}"
    try:
        info = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}, f"{python} {PEER} --check failed: {p.stderr.strip()[-500:]}"
    return info, info.get("why_not", "") if p.returncode != 0 else ""


def validate(w, torus_run, peer_run):
    """BENCHMARKS.md step 1: both train the same model, and Torus trains."""
    problems = []
    if torus_run["params"] != w.params:
        problems.append(f"Torus has {torus_run['params']} parameters, the shape {w.params}")
    if peer_run is not None and peer_run["params"] != w.params:
        problems.append(f"PyTorch has {peer_run['params']} parameters, the shape {w.params}")
    if not all(math.isfinite(v) for v in torus_run["losses"]):
        problems.append(f"a Torus loss is not finite: {torus_run['losses']}")
    # Uniform random tokens from N(0, 0.02) weights: both start at about ln(vocab).
    expected = math.log(w.vocab)
    for who, first in (("Torus", torus_run["first_loss"]), ("PyTorch", peer_run and peer_run["first_loss"])):
        if first is not None and abs(first - expected) > 0.1 * expected:
            problems.append(f"{who}'s first loss {first:.4f} is not near ln {w.vocab} = {expected:.4f}")
    head, tail, problem = loss_trend(torus_run["losses"])
    if problem:
        problems.append(problem)
    if problems:
        sys.exit(f"gpu_train_bench.py: {w.wid}: validation failed:\n  " + "\n  ".join(problems))
    return {"params": w.params, "torus_first_loss": torus_run["first_loss"], "torus_loss_first_quarter": head,
            "torus_loss_last_quarter": tail, "peer_first_loss": peer_run and peer_run["first_loss"]}


def render(records, device_name, peer_info, peer_why):
    out = ["| workload | Torus tokens/s | best PyTorch tokens/s | Torus / PyTorch | Torus model TFLOP/s | "
           "PyTorch variants (median tokens/s) |", "|---|---|---|---|---|---|"]
    for r in (r for r in records if r["name"] == "torus"):
        peers = [p for p in records
                 if p["workload"] == r["workload"] and p["precision"] == r["precision"] and p["name"] != "torus"]
        best = next((p for p in peers if p.get("best_peer")), None)
        fig = f"{r['median']:,.0f} ({r['min']:,.0f}–{r['max']:,.0f})"
        best_fig = f"{best['median']:,.0f} ({best['min']:,.0f}–{best['max']:,.0f})" if best else "–"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "not measured"
        variants = ", ".join(f"{p['name']} {p['median']:,.0f}" for p in peers) or "–"
        out.append(f"| {r['config']} | {fig} | {best_fig} | {ratio} | {r['tflops_median']:.2f} | {variants} |")
    out.append("")
    out.append(f"Device: {device_name}. Medians (min–max) over the rounds; ratio: median of the per-round "
               "ratios against the fastest PyTorch variant. f32: TF32 off on both sides; bf16: Torus's "
               "trainer.precision bf16 (bf16 GEMMs, f32 activations) against torch.autocast(bfloat16).")
    if peer_why:
        out.append(f"\nPyTorch not measured: {peer_why}. Set TORUS_GPU_PEER_PYTHON (or --peer-python) to a Python "
                   "whose torch has CUDA to measure the ratio.")
    elif peer_info:
        out.append(f"\nPeer: torch {peer_info.get('torch')} (CUDA {peer_info.get('torch_cuda')}) at "
                   f"{peer_info.get('python')}.")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", help="a CUDA build directory holding launcher/torus")
    results = os.path.join(os.environ.get("TORUS_BENCH_RESULTS", os.path.join(HERE, "results")), "gpu")
    ap.add_argument("--out", default=os.path.join(results, "gpt.jsonl"))
    ap.add_argument("--md", default=os.path.join(results, "gpt.md"))
    ap.add_argument("--reps", type=int, default=5, help="alternating rounds (the protocol wants at least 5)")
    ap.add_argument("--workloads", default=",".join(w.wid for w in WORKLOADS))
    ap.add_argument("--precisions", default="f32,bf16",
                    help="trainer.precision for Torus; the peer: f32, or torch.autocast(bfloat16) for bf16")
    ap.add_argument("--device", default="cuda", help="trainer.device for Torus and the peer's device")
    ap.add_argument("--device-name", default=None, help="the device's name for the table (default: the peer's word)")
    ap.add_argument("--peer-python", default=os.environ.get("TORUS_GPU_PEER_PYTHON", "/usr/bin/python3"))
    args = ap.parse_args()
    if args.reps < 5:
        log(f"gpu_train_bench.py: {args.reps} rounds: a check, below the protocol's 5")
    torus = os.path.join(os.path.abspath(args.build), "launcher", "torus")
    if not os.access(torus, os.X_OK):
        sys.exit(f"gpu_train_bench.py: {torus} not built")
    wanted = args.workloads.split(",")
    precisions = args.precisions.split(",")
    if set(precisions) - {"f32", "bf16"}:
        sys.exit(f"gpu_train_bench.py: precisions are f32 and bf16, not {args.precisions}")
    unknown = set(wanted) - {w.wid for w in WORKLOADS}
    if unknown:
        sys.exit(f"gpu_train_bench.py: unknown workloads {sorted(unknown)} (known: {[w.wid for w in WORKLOADS]})")

    run_root = tempfile.mkdtemp(prefix="torus_gpu_train_bench.")
    try:
        why = torus_device_check(torus, args.device, run_root)
        if why:
            log(f"gpu_train_bench.py: Torus cannot train on {args.device} here, nothing timed: {why}")
            return 1
        peer_info, peer_why = peer_check(args.peer_python, args.device)
        device_name = args.device_name or peer_info.get("device_name") or args.device
        if peer_why:
            log(f"gpu_train_bench.py: PyTorch not measured: {peer_why}; Torus is timed alone, no ratio")
        else:
            log(f"gpu_train_bench.py: peer torch {peer_info['torch']} (CUDA {peer_info['torch_cuda']}) "
                f"on {device_name}")
        records = []
        for w, precision in ((w, p) for w in WORKLOADS if w.wid in wanted for p in precisions):
            t0 = time.time()
            v_torus = run_torus(torus, w, args.device, run_root, f"{w.wid}_{precision}_validate", precision)
            variants, v_peer = [], None
            if not peer_why:
                for variant in VARIANTS:
                    r = run_peer(args.peer_python, w, variant, args.device, precision, 1, 2)
                    if r is None:
                        log(f"{w.wid}: torch's AdamW has no {variant} variant here; not a candidate")
                        continue
                    variants.append(variant)
                    v_peer = v_peer or r
            check = validate(w, v_torus, v_peer)
            log(f"{w.wid} {precision}: validated: {w.params} parameters; Torus loss {check['torus_first_loss']:.4f} -> mean of the "
                f"last quarter {check['torus_loss_last_quarter']:.4f}" +
                (f"; PyTorch first loss {check['peer_first_loss']:.4f}" if v_peer else ""))
            candidates = ["torus"] + variants
            runs = {c: [] for c in candidates}
            for rep in range(args.reps):
                order = candidates[rep % len(candidates):] + candidates[:rep % len(candidates)]
                for c in order:
                    if c == "torus":
                        r = run_torus(torus, w, args.device, run_root, f"{w.wid}_{precision}_{rep}", precision)
                        if not all(math.isfinite(v) for v in r["losses"]):
                            sys.exit(f"gpu_train_bench.py: {w.wid}: a Torus loss is not finite in round {rep + 1}")
                    else:
                        r = run_peer(args.peer_python, w, c, args.device, precision, w.warmup, w.steps)
                    runs[c].append(r["throughput"])
                log(f"{w.wid} {precision} round {rep + 1}/{args.reps}: " + ", ".join(f"{c} {runs[c][-1]:,.0f}" for c in candidates))
            best = max(variants, key=lambda v: statistics.median(runs[v])) if variants else None
            for c in candidates:
                rec = {"name": c if c == "torus" else f"pytorch_{c}", "config": f"{w.wid} {w.desc}, {precision}",
                       "workload": w.wid, "precision": precision, "device": device_name, "threads": os.cpu_count(), "ranks": 1,
                       **summary(runs[c]), "unit": "tokens/s", "runs": [round(x, 1) for x in runs[c]],
                       "warmup_steps": w.warmup, "timed_steps": w.steps, "params": w.params,
                       "tflops_median": statistics.median(runs[c]) * w.flops_per_token * 1e-12}
                if c == "torus":
                    rec["peer"] = f"pytorch_{best}" if best else None
                    rec["ratio"] = paired(runs["torus"], runs[best]) if best else None
                    rec["ratio_vs"] = {f"pytorch_{v}": paired(runs["torus"], runs[v]) for v in variants}
                    if peer_why:
                        rec["peer_missing"] = peer_why
                    rec["validation"] = check
                else:
                    rec["peer"] = None
                    rec["ratio"] = None
                    rec["best_peer"] = c == best
                    rec["torch"] = peer_info.get("torch")
                    rec["torch_cuda"] = peer_info.get("torch_cuda")
                records.append(rec)
                log(f"{w.wid} {precision} {rec['name']:18s} {rec['median']:12,.0f} ({rec['min']:,.0f}-{rec['max']:,.0f}) tokens/s" +
                    (f"  ratio to {rec['peer']} {rec['ratio']:.2f}" if c == "torus" and best else ""))
            log(f"{w.wid} {precision}: {time.time() - t0:.0f} s")
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
    for path in (args.out, args.md):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    table = render(records, device_name, peer_info, peer_why)
    with open(args.md, "w", encoding="utf-8") as f:
        f.write(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
