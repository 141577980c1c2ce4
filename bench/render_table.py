#!/usr/bin/python3
"""Renders the benchmarks' JSON lines (gemm_bench, elementwise_bench, io_bench, train_bench.py,
summarize_comm.py, ddp_bench.py, scaling_bench.py) as Markdown.

usage: render_table.py RESULTS.jsonl > TABLE.md      (standard library only)
"""
import json
import sys
from collections import OrderedDict


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def figure(r):
    """median (min-max), one decimal."""
    return f"{r['median']:.1f} ({r['min']:.0f}–{r['max']:.0f})"


def ratio(value, target=None):
    text = f"{value:.2f}"
    return f"**{text}** (miss)" if target is not None and value < target else text


def gemm_tables(records):
    gemm = [r for r in records if "openblas_env" in r]
    out = []
    for threads in sorted({r["threads"] for r in gemm}, reverse=True):
        rows = [r for r in gemm if r["threads"] == threads]
        envs = list(OrderedDict.fromkeys(r["openblas_env"] for r in rows))
        cores = OrderedDict.fromkeys(f"{r['openblas_env']} → {r['openblas_core']}" for r in rows)
        # Torus and oneDNN as measured in the first run (the environment as set).
        by = {(r["config"], r["openblas_env"], r["name"]): r for r in rows}
        configs = list(OrderedDict.fromkeys(r["config"] for r in rows))
        peaks = [r["median"] for r in records if r["name"] == "fma_peak" and r["threads"] == threads]
        peak = max(peaks) if peaks else None
        out.append(f"\n### fp32 GEMM, {threads} thread{'s' if threads > 1 else ''} (GFLOP/s)\n")
        if peak:
            out.append(f"fp32 FMA peak measured in the same runs: {peak:.0f} GFLOP/s.")
        out.append("OpenBLAS kernels: " + "; ".join(cores) + ".\n")
        head = ["shape (m×n×k, op)", "Torus", "oneDNN", "Torus / oneDNN"]
        if peak:
            head.append("oneDNN % of peak")
        for env in envs:
            head += [f"OpenBLAS, {env}", "OpenBLAS / oneDNN"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for config in configs:
            first = envs[0]
            torus = by.get((config, first, "torus_gemm"))
            onednn = by.get((config, first, "dnnl_sgemm"))
            cells = [config,
                     figure(torus) if torus else "–",
                     figure(onednn) if onednn else "–",
                     ratio(torus["ratio"], torus.get("target")) if torus else "–"]
            if peak:
                cells.append(f"{100 * onednn['median'] / peak:.0f}%" if onednn else "–")
            for env in envs:
                blas = by.get((config, env, "openblas_sgemm"))
                cells += [figure(blas), ratio(blas["ratio"])] if blas else ["–", "–"]
            out.append("| " + " | ".join(cells) + " |")
        torus_ratios = [r["ratio"] for r in rows if r["name"] == "torus_gemm"]
        blas_ratios = [r["ratio"] for r in rows if r["name"] == "openblas_sgemm"]
        if torus_ratios and blas_ratios:
            out.append(f"\nTorus / oneDNN over all runs: {min(torus_ratios):.2f}–{max(torus_ratios):.2f}; "
                       f"OpenBLAS / oneDNN: {min(blas_ratios):.2f}–{max(blas_ratios):.2f}.")
    return out


def elementwise_tables(records):
    ew = [r for r in records if r.get("peer") == "memcpy" or r["name"] == "memcpy"]
    out = []
    for threads in sorted({r["threads"] for r in ew}, reverse=True):
        rows = [r for r in ew if r["threads"] == threads]
        out.append(f"\n### Elementwise, {threads} thread{'s' if threads > 1 else ''} (GB/s, bytes read + written)\n")
        out.append("| op | tensors | GB/s | memcpy GB/s (same reps) | ratio to memcpy (target ≥ 0.70) |")
        out.append("|---|---|---|---|---|")
        for r in rows:
            if r["name"] == "memcpy":
                out.append(f"| memcpy | {r['config']} | {figure(r)} | – | 1 |")
            else:
                out.append(f"| {r['name']} | {r['config']} | {figure(r)} | {r['peer_median']:.1f} | "
                           f"{ratio(r['ratio'], r.get('target'))} |")
    return out


def io_figure(r):
    """median (min-max), two decimals: GB/s of a disk are small numbers."""
    return f"{r['median']:.2f} ({r['min']:.2f}–{r['max']:.2f})"


def io_tables(records):
    io = [r for r in records if r.get("suite") == "io"]
    if not io:
        return []
    by = {(r["case"], r["name"]): r for r in io}
    out = []
    save = by.get(("write", "save_safetensors"))
    if save:
        out.append(f"\n### Checkpoint write, durable (GB/s = file bytes / seconds; {save.get('file', save['config'])})\n")
        out.append(f"Each repetition writes a new file; {save['reps']} alternating repetitions after one untimed round.\n")
        out.append("| what | GB/s | save_safetensors / this |")
        out.append("|---|---|---|")
        out.append(f"| `save_safetensors` + `fdatasync` | {io_figure(save)} | – |")
        dd = by.get(("write", "dd_write"))
        if dd:
            out.append(f"| `dd bs=1M conv=fdatasync`, the same bytes from a page-cached copy (the peer) | "
                       f"{io_figure(dd)} | {ratio(save['ratio'], save.get('target'))} (target ≥ {save['target']:.2f}) |")
        zero = by.get(("write", "dd_write_zero"))
        if zero:
            out.append(f"| `dd if=/dev/zero bs=1M conv=fdatasync` (no input copy; zeros, reference only) | "
                       f"{io_figure(zero)} | {save['vs_dd_zero']:.2f} |")
        if "write_calls_share" in save:
            out.append(f"\nOf `save_safetensors` + `fdatasync`, the `write()` calls into the page cache take "
                       f"{100 * save['write_calls_share']:.0f}% (median), `fdatasync` the rest.")
    load = by.get(("cold", "load_safetensors"))
    if load:
        out.append(f"\n### Checkpoint read, uncached (GB/s; {load.get('file', load['config'])})\n")
        out.append("The file's pages are dropped (`fdatasync`, `posix_fadvise(POSIX_FADV_DONTNEED)`) before each "
                   f"repetition; resident before a read: at most {100 * load['resident_before']:.1f}% of its pages.\n")
        out.append("| what | GB/s | this / dd | this / read() |")
        out.append("|---|---|---|---|")
        out.append(f"| `load_safetensors` (mmap) + checksum of every tensor byte | {io_figure(load)} | "
                   f"{load['ratio']:.2f} | {load['vs_read']:.2f} |")
        read = by.get(("cold", "read_buffer"))
        if read:
            out.append(f"| {read['config'].removeprefix('uncached, ')} | {io_figure(read)} | {read['ratio']:.2f} | 1 |")
        dd = by.get(("cold", "dd_read"))
        if dd:
            out.append(f"| `dd if=FILE of=/dev/null bs=1M` | {io_figure(dd)} | 1 | – |")
    warm = by.get(("warm", "load_safetensors"))
    if warm:
        out.append(f"\n### Checkpoint read, page-cached (GB/s; {warm.get('file', warm['config'])})\n")
        out.append("| what | GB/s | this / read() |")
        out.append("|---|---|---|")
        out.append(f"| `load_safetensors` (mmap) + checksum of every tensor byte | {io_figure(warm)} | {warm['ratio']:.2f} |")
        read = by.get(("warm", "read_buffer"))
        if read:
            out.append(f"| {read['config'].removeprefix('page-cached, ')} | {io_figure(read)} | 1 |")
    return out


TRAIN_TARGETS = {"W1": 1.2, "W2": 1.5, "W3": 1.5}  # against the best peer, BENCHMARKS.md
TRAIN_NAMES = {"torus": "Torus", "pytorch_default": "PyTorch as installed",
               "pytorch_tuned_set": "PyTorch tuned, OPENBLAS_CORETYPE as set",
               "pytorch_tuned_unset": "PyTorch tuned, OPENBLAS_CORETYPE unset"}


def train_tables(records):
    train = [r for r in records if str(r.get("workload", "")).startswith("W") and "runs" in r]
    if not train:
        return []
    out = [f"\n### Training throughput, {train[0]['threads']} threads, 1 rank (steady state)\n"]
    out.append("| workload | unit | Torus | PyTorch as installed | PyTorch tuned, CORETYPE as set | "
               "PyTorch tuned, CORETYPE unset | Torus / best peer | Torus / as installed | target |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    notes = []
    for wid in sorted({r["workload"] for r in train}):
        by = {r["name"]: r for r in train if r["workload"] == wid}
        t = by.get("torus")
        if not t:
            continue
        target = TRAIN_TARGETS.get(wid)
        cells = [t["config"], t["unit"], figure(t)]
        for v in ("pytorch_default", "pytorch_tuned_set", "pytorch_tuned_unset"):
            r = by.get(v)
            cells.append(("**" + figure(r) + "**" if r.get("best_peer") else figure(r)) if r else "–")
        cells.append(ratio(t["ratio"], target))
        cells.append(f"{t['ratio_vs']['pytorch_default']:.2f}")
        cells.append(f"≥ {target}" if target else "–")
        out.append("| " + " | ".join(cells) + " |")
        cores = sorted({f"{TRAIN_NAMES[n]}: {r['openblas_core']}" for n, r in by.items() if r.get("openblas_core")})
        if cores:
            notes.append(f"{wid} OpenBLAS kernels: " + "; ".join(cores) + ".")
        if "mfu_median" in t:
            peer = by[t["peer"]]
            notes.append(f"{wid} model FLOPs utilisation (20.92 MFLOP/token against {t['peak_gflops']:.0f} GFLOP/s, "
                         f"{t['peak_source']}, which may come from another machine: check it): Torus {100 * t['mfu_median']:.0f}% ({t['gflops_median']:.0f} GFLOP/s), "
                         f"best peer {100 * peer['mfu_median']:.0f}% ({peer['gflops_median']:.0f} GFLOP/s).")
        elif "gflops_median" in t:
            notes.append(f"{wid}: Torus {t['gflops_median']:.0f} GFLOP/s of model FLOPs (20.92 MFLOP/token).")
        v = t.get("validation")
        if v:
            notes.append(f"{wid} validated: {v['params']:,} parameters in both; Torus loss {v['torus_first_loss']:.3f} "
                         f"at step 1 (PyTorch {v['peer_first_loss']:.3f}), mean {v['torus_loss_first_quarter']:.3f} "
                         f"over the first quarter of the steps, {v['torus_loss_last_quarter']:.3f} over the last.")
    best = train[0]
    out.append(f"\nThroughput over the timed steps after the warm-up; the best peer (bold) is the faster tuned "
               f"configuration; ratios are medians of per-round ratios ({len(best['runs'])} rounds).\n")
    out += [f"- {n}" for n in notes]
    return out


def size_label(size):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} B"


def comm_tables(records):
    comm = [r for r in records if r.get("suite") == "comm" and "rounds" in r]
    if not comm:
        return []
    by = {(r["bytes"], r["impl"]): r for r in comm}
    first = comm[0]
    out = [f"\n### All-reduce, f32 sum in place, {first['ranks']} ranks (busbw GB/s)\n"]
    out.append(f"{len(first['rounds'])} rounds, each one `--impl mpi` job then one `--impl torus` job; a round's "
               f"figure is the median of its {first['runs_per_round']} runs; busbw = bytes / time × 2(n−1)/n, "
               "time = the slowest rank's, 1 GB = 10⁹ B.\n")
    out.append("| size per rank | MPI_Allreduce | Torus all_reduce | Torus / MPI | target | MPI µs | Torus µs |")
    out.append("|---|---|---|---|---|---|---|")
    for size in sorted({r["bytes"] for r in comm}):
        mpi, torus = by.get((size, "mpi")), by.get((size, "torus"))
        if not mpi or not torus:
            continue
        out.append(f"| {size_label(size)} | {io_figure(mpi)} | {io_figure(torus)} | "
                   f"{ratio(torus['ratio'], torus.get('target'))} | "
                   f"{'≥ ' + format(torus['target'], 'g') if torus.get('target') else '–'} | "
                   f"{mpi['us_median']:.1f} | {torus['us_median']:.1f} |")
    return out


DDP_NAMES = {"torus": "Torus", "pytorch_tuned_set": "PyTorch tuned, CORETYPE as set",
             "pytorch_tuned_unset": "PyTorch tuned, CORETYPE unset"}


def ddp_tables(records):
    ddp = [r for r in records if r.get("suite") == "ddp"]
    if not ddp:
        return []
    by = {(r["name"], r["ranks"]): r for r in ddp}
    n = max(r["ranks"] for r in ddp)
    torus = by.get(("torus", n))
    if not torus:
        return []
    out = [f"\n### Data parallel, W2 GPT, 1 thread per rank, batch {torus['per_rank_batch']} per rank (tokens/s)\n"]
    out.append(f"| candidate | 1 rank | {n} ranks | weak scaling {n} ranks / ({n} × 1 rank) |")
    out.append("|---|---|---|---|")
    scaling = {r.get("variant"): r for r in ddp if r["name"].endswith("_weak_scaling")}
    for name in ("torus", "pytorch_tuned_set", "pytorch_tuned_unset"):
        one, many = by.get((name, 1)), by.get((name, n))
        if not one or not many:
            continue
        label = DDP_NAMES[name] + (" (best peer)" if many.get("best_peer") else "")
        s = scaling.get(name)
        cells = [label, figure(one), "**" + figure(many) + "**" if many.get("best_peer") else figure(many),
                 f"{ratio(s['median'], s['target'])} ({s['min']:.2f}–{s['max']:.2f}); target ≥ {s['target']:g}"
                 if s else "–"]
        out.append("| " + " | ".join(cells) + " |")
    out.append(f"\nTorus / best peer on {n} ranks: {ratio(torus['ratio'], torus.get('target'))} "
               f"(target ≥ {torus.get('target', 0):g}); on 1 rank: {by[('torus', 1)]['ratio']:.2f}. "
               f"Medians over {len(torus['runs'])} rounds, ratios and efficiencies are medians of per-round values.")
    if "mfu_median" in torus:
        peer = by[(torus["peer"].rsplit("_", 1)[0], n)]
        out.append(f"Model FLOPs (20.92 MFLOP/token) on {n} ranks: Torus {torus['gflops_median']:.0f} GFLOP/s, "
                   f"{100 * torus['mfu_median']:.0f}% of {torus['peak_gflops']:.0f} GFLOP/s ({torus['peak_source']}, "
                   f"which may come from another machine: check it); best peer {peer['gflops_median']:.0f} GFLOP/s, "
                   f"{100 * peer['mfu_median']:.0f}%.")
    hidden = by.get(("torus_hidden_fraction", n))
    if hidden:
        out.append(f"\n#### Torus: all-reduce hidden behind backward ({n} ranks)\n")
        out.append(f"{hidden['buckets']} buckets of ≤ {hidden['bucket_mb']:g} MiB, "
                   f"{hidden['bytes_per_step'] / 1e6:.1f} MB all-reduced per step; ms per step, mean over ranks, "
                   "median over rounds.\n")
        out.append("| hidden fraction 1 − exposed / all-reduce time | exposed wait in finish_gradients | "
                   "all-reduce time on the comm thread | the same all-reduces alone | backward after the first "
                   "launch | step |")
        out.append("|---|---|---|---|---|---|")
        out.append(f"| {hidden['median']:.2f} ({hidden['min']:.2f}–{hidden['max']:.2f}) | "
                   f"{hidden['exposed_ms_per_step']:.1f} | {hidden['allreduce_busy_ms_per_step']:.1f} | "
                   f"{hidden['standalone_allreduce_ms_per_step']:.1f} | "
                   f"{hidden['backward_after_first_launch_ms_per_step']:.1f} | {hidden['step_ms']:.0f} |")
    v = torus.get("validation")
    if v:
        out.append(f"\nValidated: {v['params']:,} parameters in both; Torus loss {v['torus_first_loss']:.3f} at step 1 "
                   f"(PyTorch {v['peer_first_loss']:.3f}), mean {v['torus_loss_first_quarter']:.3f} over the first "
                   f"quarter of the steps, {v['torus_loss_last_quarter']:.3f} over the last; the peer and "
                   "ddp_overlap_bench found every rank's parameters equal at the end.")
    return out


def cluster_scaling_table(scaling):
    out = ["\n### Scaling on a cluster, W2 GPT, batch 16 per rank (tokens/s)\n",
           f"Weak-scaling efficiency against {scaling[0]['efficiency_baseline']} (median; in brackets the "
           "slowest and fastest run against that median).\n",
           "| nodes | ranks | tokens/s | efficiency | runs |", "|---|---|---|---|---|"]
    for r in sorted(scaling, key=lambda r: r["nodes"]):
        out.append(f"| {r['nodes']} | {r['ranks']} | {figure(r)} | {r['efficiency']:.2f} "
                   f"({r['efficiency_runs_min']:.2f}–{r['efficiency_runs_max']:.2f}) | {r['reps']} |")
    return out


def scaling_tables(records):
    scaling = [r for r in records if r.get("suite") == "scaling"]
    if not scaling:
        return []
    if "nodes" in scaling[0]:
        return cluster_scaling_table(scaling)
    by = {(r["name"], r["ranks"]): r for r in scaling}
    ranks = sorted({r["ranks"] for r in scaling})
    cores = scaling[0]["cores"]
    out = [f"\n### Scaling, W2 GPT, 1 thread per rank, {cores} cores (tokens/s; efficiency = N ranks / (N × 1 rank))\n"]
    head = ["kind"] + [f"{n} rank{'s' if n > 1 else ''}" + (" (oversubscribed)" if n > cores else "") for n in ranks]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for name, label in (("torus_weak", "weak: batch 16 per rank"), ("torus_strong", "strong: global batch 32")):
        cells = [label]
        for n in ranks:
            r = by.get((name, n))
            if not r:
                cells.append("–")
                continue
            text = figure(r)
            if n > 1:
                text += f"; eff. {ratio(r['efficiency'], r.get('target'))} ({r['efficiency_min']:.2f}–{r['efficiency_max']:.2f})"
            cells.append(text)
        out.append("| " + " | ".join(cells) + " |")
    first = scaling[0]
    out.append(f"\n{first['reps']} rounds of {first['timed_steps']} timed steps after {first['warmup_steps']}; "
               "the weak 2-rank efficiency's target is ≥ 0.9.")
    profiles = [r for r in records if r.get("suite") == "step_profile" and "forward_s" in r]
    if profiles:
        out.append("\n#### One rank's step beside N−1 co-located ranks, no communication (step_profile_bench, ms)\n")
        out.append("| job | per-rank batch | forward | backward | optimizer | step |")
        out.append("|---|---|---|---|---|---|")
        for r in profiles:
            out.append(f"| {r['name']} | {r['per_rank_batch']} | {1e3 * r['forward_s']:.0f} | "
                       f"{1e3 * r['backward_s']:.0f} | {1e3 * r['optimizer_s']:.1f} | {1e3 * r['step_s']:.0f} |")
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip())
    records = load(sys.argv[1])
    lines = ["Medians of alternating repetitions, (min–max) across them; ratios are medians of "
             "per-repetition ratios against the peer timed alongside."]
    lines += gemm_tables(records)
    lines += elementwise_tables(records)
    lines += io_tables(records)
    lines += train_tables(records)
    lines += comm_tables(records)
    lines += ddp_tables(records)
    lines += scaling_tables(records)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
