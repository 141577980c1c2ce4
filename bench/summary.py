#!/usr/bin/python3
"""summary.py - every target of the benchmark suite, met or not, from the suites' JSON lines,
and the plots (run by bench/run_all.sh, or alone after any suite).

usage: summary.py [--results DIR] [--plots]
Reads DIR/{kernels,train,comm,comm_np4,ddp,scaling,scaling_model,io,ckpt}.jsonl
(missing files leave their targets "not measured"), writes DIR/summary.json and
DIR/summary.md, and with --plots DIR/plots/*.png (matplotlib, Debian's python3-matplotlib).
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
W1_FLOPS_PER_SAMPLE = 6 * (784 * 1024 + 1024 * 1024 + 1024 * 10)  # 6 x matmul parameters
W2_FLOPS_PER_TOKEN = 6 * 3225088 + 12 * 4 * 256 * 128            # 6N + 12 L d T = 20.92 MFLOP


def load(results, name):
    path = os.path.join(results, f"{name}.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def gemm_peak(kernels, threads):
    """The measured fp32 GEMM peak: the best oneDNN sgemm median at `threads` threads."""
    values = [r["median"] for r in kernels if r.get("name") == "dnnl_sgemm" and r.get("threads") == threads]
    return max(values) if values else None


class Targets:
    def __init__(self):
        self.rows = []

    def add(self, area, what, value, target, unit="×", source="", note="", higher=True, within=None):
        if value is None:
            self.rows.append({"area": area, "what": what, "value": None, "target": target, "unit": unit,
                              "met": None, "gap": None, "source": source, "note": note or "not measured"})
            return
        if within is not None:
            met = abs(value) <= within
            gap = abs(value) - within if not met else 0.0
        else:
            met = value >= target if higher else value <= target
            gap = 0.0 if met else target - value
        self.rows.append({"area": area, "what": what, "value": value, "target": target, "unit": unit, "met": met,
                          "gap": gap, "source": source, "note": note})


def train_targets(t, train, kernels):
    by = {(r["workload"], r["name"]): r for r in train if "workload" in r}
    for wid, goal in (("W1", 1.2), ("W2", 1.5), ("W3", 1.5)):
        r = by.get((wid, "torus"))
        t.add("training, 1 rank × 2 threads", f"{wid} Torus / best PyTorch", r["ratio"] if r else None, goal,
              source="train.jsonl", note=f"best peer: {r['peer']}" if r else "")
    peak = gemm_peak(kernels, 2)
    w1, w2 = by.get(("W1", "torus")), by.get(("W2", "torus"))
    t.add("training, 1 rank × 2 threads", "W1 model FLOP/s / measured GEMM peak",
          w1["median"] * W1_FLOPS_PER_SAMPLE / 1e9 / peak if w1 and peak else None, 0.85, unit="share",
          source="train.jsonl, kernels.jsonl", note=f"GEMM peak {peak:.0f} GFLOP/s (best oneDNN sgemm, 2 threads)"
          if peak else "")
    t.add("training, 1 rank × 2 threads", "W2 model FLOPs utilisation (6N + 12LTd) / measured GEMM peak",
          w2["median"] * W2_FLOPS_PER_TOKEN / 1e9 / peak if w2 and peak else None, 0.70, unit="share",
          source="train.jsonl, kernels.jsonl")


def comm_targets(t, comm):
    torus = [r for r in comm if r.get("impl") == "torus" and r.get("target")]
    for lo, hi, goal, label in ((0, 64 << 10, 0.9, "≤ 64 KiB"),
                                ((64 << 10) + 1, (16 << 20) - 1, 1.0, "64 KiB–16 MiB"),
                                (16 << 20, 1 << 40, 2.0, "≥ 16 MiB")):
        rows = [r for r in torus if lo <= r["bytes"] <= hi]
        worst = min(rows, key=lambda r: r["ratio"]) if rows else None
        t.add("all-reduce, 2 ranks", f"Torus / MPI_Allreduce busbw, worst size {label}",
              worst["ratio"] if worst else None, goal, source="comm.jsonl",
              note=f"worst at {worst['bytes'] >> 10} KiB" if worst else "")


def ddp_targets(t, ddp, scaling, kernels):
    torus = next((r for r in ddp if r["name"] == "torus" and r["ranks"] == 2), None)
    t.add("data parallel, 2 ranks × 1 thread", "W2 Torus / PyTorch DDP (gloo)", torus["ratio"] if torus else None,
          1.25, source="ddp.jsonl")
    peak = gemm_peak(kernels, 2)
    t.add("data parallel, 2 ranks × 1 thread", "W2 model FLOPs utilisation / measured GEMM peak (2 threads)",
          torus["median"] * W2_FLOPS_PER_TOKEN / 1e9 / peak if torus and peak else None, 0.70, unit="share",
          source="ddp.jsonl, kernels.jsonl")
    weak = next((r for r in ddp if r["name"] == "torus_weak_scaling"), None)
    t.add("data parallel, 2 ranks × 1 thread", "W2 weak-scaling efficiency 1 → 2 ranks (DDP suite)",
          weak["median"] if weak else None, 0.9, unit="share", source="ddp.jsonl")
    weak2 = next((r for r in scaling if r.get("name") == "torus_weak" and r["ranks"] == 2), None)
    t.add("data parallel, 2 ranks × 1 thread", "W2 weak-scaling efficiency 1 → 2 ranks (scaling suite)",
          weak2["efficiency"] if weak2 else None, 0.9, unit="share", source="scaling.jsonl")


def checkpoint_targets(t, io, ckpt):
    save = next((r for r in io if r.get("name") == "save_safetensors"), None)
    t.add("checkpoints", "safetensors save + fdatasync / dd conv=fdatasync (1 process)",
          save["ratio"] if save else None, 0.8, source="io.jsonl")
    # ckpt.jsonl holds one line per round and candidate: the median of per-round ratios.
    ranks = max((r["ranks"] for r in ckpt if r.get("name") == "torus_save"), default=None)
    by_round = {}
    for r in ckpt:
        if r.get("ranks") == ranks and r.get("name") in ("torus_save", "dd_fdatasync"):
            by_round.setdefault(r["rep"], {})[r["name"]] = r["gb_per_s"]
    ratios = [d["torus_save"] / d["dd_fdatasync"] for d in by_round.values() if len(d) == 2]
    t.add("checkpoints", f"distributed save / dd conv=fdatasync ({ranks} ranks)",
          statistics.median(ratios) if ratios else None, 0.8, source="ckpt.jsonl")


def model_targets(t, model):
    for r in model:
        if r["name"].startswith("calibration_"):
            kind = r["name"].split("_")[1]
            t.add("scaling model", f"predicted / measured W2 step − 1, {kind}, {r['ranks']} rank(s)"
                  + (" (oversubscribed)" if r["oversubscribed"] else ""), r["error"], r["target"], unit="error",
                  within=r["target"], source="scaling_model.jsonl")
        if r["name"] == "horovod":
            t.add("scaling model", f"Horovod {r['network']}: predicted − published efficiency (points)",
                  r["error_points"], r["target_points"], unit="points", within=r["target_points"],
                  source="scaling_model.jsonl",
                  note=f"predicted {100 * r['predicted_efficiency']:.0f}%, published "
                       f"{100 * r['published_efficiency']:.0f}%")
    if not any(r["name"].startswith("calibration_") for r in model):
        t.add("scaling model", "predicted vs measured W2 step at 1-4 ranks", None, 0.1, unit="error",
          source="scaling_model.jsonl")


def fmt_value(r):
    v = r["value"]
    if v is None:
        return "–"
    if r["unit"] == "share":
        return f"{100 * v:.0f}%"
    if r["unit"] == "error":
        return f"{100 * v:+.1f}%"
    if r["unit"] == "points":
        return f"{v:+.1f}"
    return f"{v:.2f}"


def fmt_target(r):
    if r["unit"] == "share":
        return f"≥ {100 * r['target']:.0f}%"
    if r["unit"] == "error":
        return f"within ±{100 * r['target']:.0f}%"
    if r["unit"] == "points":
        return f"within ±{r['target']:g} points"
    return f"≥ {r['target']:g}"


def fmt_gap(r):
    if r["met"] is None:
        return "not measured"
    if r["met"]:
        return "met"
    if r["unit"] == "share":
        return f"**missed** by {100 * r['gap']:.0f} points"
    if r["unit"] == "error":
        return f"**missed** by {100 * r['gap']:.1f} points"
    if r["unit"] == "points":
        return f"**missed** by {r['gap']:.1f} points"
    return f"**missed** by {r['gap']:.2f}"


def markdown(t, stamps):
    lines = ["| area | what | measured | target | verdict | from |", "|---|---|---|---|---|---|"]
    for r in t.rows:
        note = f" ({r['note']})" if r["note"] else ""
        lines.append(f"| {r['area']} | {r['what']}{note} | {fmt_value(r)} | {fmt_target(r)} | {fmt_gap(r)} | "
                     f"{r['source']} |")
    met = sum(1 for r in t.rows if r["met"])
    measured = sum(1 for r in t.rows if r["met"] is not None)
    lines.append(f"\n{met} of {measured} measured targets met ({len(t.rows) - measured} not measured).")
    if stamps:
        lines.append("\nWhen each suite last ran: " + "; ".join(f"{k} {v}" for k, v in stamps.items()) + ".")
    return lines


def stamps_of(results):
    out = {}
    for name in ("kernels", "train", "comm", "comm_np4", "ddp", "scaling", "io", "ckpt", "sharding"):
        path = os.path.join(results, f"{name}.md")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                first = f.readline().strip()
            if first.startswith("Measured "):
                out[name] = first[len("Measured "):].split(" on ")[0]
    return out


def plots(results, train, comm, comm4, scaling, model, kernels):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    folder = os.path.join(results, "plots")
    os.makedirs(folder, exist_ok=True)
    written = []

    by = {(r["workload"], r["name"]): r for r in train if "workload" in r}
    workloads = [w for w in ("W1", "W2", "W3") if (w, "torus") in by]
    if workloads:
        fig, ax = plt.subplots(figsize=(7, 4))
        names = [("torus", "Torus"), ("pytorch_default", "PyTorch as installed"),
                 ("pytorch_tuned_set", "PyTorch tuned, CORETYPE as set"),
                 ("pytorch_tuned_unset", "PyTorch tuned, CORETYPE unset")]
        width = 0.2
        for i, (name, label) in enumerate(names):
            best = [max(by[(w, n)]["median"] for n, _ in names[1:] if (w, n) in by) for w in workloads]
            vals = [by[(w, name)]["median"] / b if (w, name) in by else 0 for w, b in zip(workloads, best)]
            ax.bar([x + (i - 1.5) * width for x in range(len(workloads))], vals, width, label=label)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xticks(range(len(workloads)), [f"{w}\n{by[(w, 'torus')]['unit']}" for w in workloads])
        ax.set_ylabel("throughput / best PyTorch")
        ax.set_title("Training throughput, 1 rank × 2 threads (median)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(os.path.join(folder, "throughput.png"))
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

    if comm:
        fig, ax = plt.subplots(figsize=(7, 4))
        for recs, n in ((comm, 2), (comm4, 4)):
            for impl, style in (("mpi", "--"), ("torus", "-")):
                rows = sorted((r for r in recs if r.get("impl") == impl), key=lambda r: r["bytes"])
                if rows:
                    ax.plot([r["bytes"] for r in rows], [r["median"] for r in rows], style, marker="o",
                            label=f"{'MPI_Allreduce' if impl == 'mpi' else 'Torus all_reduce'}, {n} ranks")
        memcpy = [r["peer_median"] for r in kernels if r.get("peer") == "memcpy" and r.get("threads") == 1]
        if memcpy:
            ax.axhline(statistics.median(memcpy), color="grey", lw=0.8,
                       label="memcpy, 1 thread (GB/s read + written)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bytes per rank")
        ax.set_ylabel("busbw GB/s")
        ax.set_title("All-reduce bandwidth on one node (median)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(os.path.join(folder, "allreduce.png"))
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

    sc = [r for r in scaling if r.get("suite") == "scaling"]
    if sc:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, label in (("torus_weak", "weak (16 per rank)"), ("torus_strong", "strong (global 32)")):
            rows = sorted((r for r in sc if r["name"] == name), key=lambda r: r["ranks"])
            ax.plot([r["ranks"] for r in rows], [r["median"] for r in rows], marker="o", label=f"measured, {label}")
            kind = name.split("_")[1]
            pred = sorted((r for r in model if r["name"] == f"calibration_{kind}"), key=lambda r: r["ranks"])
            if pred:
                ax.plot([r["ranks"] for r in pred], [r["predicted_tokens_per_s"] for r in pred], "x--",
                        label=f"scaling model, {label}")
        ax.set_xticks([1, 2, 4], ["1", "2", "4\n(oversubscribed)"])
        ax.set_xlabel("ranks × 1 thread")
        ax.set_ylabel("W2 tokens/s")
        ax.set_title(f"W2 scaling on {sc[0]['cores']} cores")
        ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(os.path.join(folder, "scaling.png"))
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

    hv = [r for r in model if r["name"] == "horovod"]
    if hv:
        fig, ax = plt.subplots(figsize=(6, 4))
        xs = range(len(hv))
        ax.bar([x - 0.2 for x in xs], [100 * r["published_efficiency"] for r in hv], 0.4, label="published")
        ax.bar([x + 0.2 for x in xs], [100 * r["predicted_efficiency"] for r in hv], 0.4, label="predicted")
        ax.set_xticks(list(xs), [r["network"] for r in hv])
        ax.set_ylabel("scaling efficiency, %")
        ax.set_ylim(0, 105)
        ax.set_title("Horovod, 128 × 4 GPUs, 25 Gbit/s: model vs published")
        ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(os.path.join(folder, "horovod.png"))
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=os.environ.get("TORUS_BENCH_RESULTS", os.path.join(HERE, "results")))
    ap.add_argument("--plots", action="store_true")
    args = ap.parse_args()
    r = args.results
    kernels, train, comm, comm4 = load(r, "kernels"), load(r, "train"), load(r, "comm"), load(r, "comm_np4")
    ddp, scaling, model = load(r, "ddp"), load(r, "scaling"), load(r, "scaling_model")
    io, ckpt = load(r, "io"), load(r, "ckpt")
    t = Targets()
    train_targets(t, train, kernels)
    comm_targets(t, comm)
    ddp_targets(t, ddp, scaling, kernels)
    checkpoint_targets(t, io, ckpt)
    model_targets(t, model)
    stamps = stamps_of(r)
    with open(os.path.join(r, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"targets": t.rows, "measured": stamps}, f, indent=1)
        f.write("\n")
    text = "\n".join(markdown(t, stamps)) + "\n"
    with open(os.path.join(r, "summary.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    if args.plots:
        for path in plots(r, train, comm, comm4, scaling, model, kernels):
            print(f"wrote {os.path.relpath(path)}", file=sys.stderr)


if __name__ == "__main__":
    main()
