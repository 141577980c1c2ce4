#!/usr/bin/python3
"""scaling_model.py - an alpha-beta cost model of a data-parallel training step.

A step is forward, then backward, during which each gradient bucket is all-reduced as soon as
backward has produced all of its gradients, then the optimizer. Communication runs on one
channel, buckets in the order they become ready; it overlaps backward where the hardware lets
it (GPUs: always; CPU ranks: only when every rank's communication thread has a core of its
own) and is added to backward otherwise. An all-reduce of S bytes over n ranks on N nodes
takes, as NCCL's own cost model has it (src/graph/tuning.cc):
  ring  base + (2(n-1) - 2(N-1)) a_intra + 2(N-1) a_inter  +  S 2(n-1)/n / B
  tree  base + 2((n/N - 1) a_intra + ceil(log2 N) a_inter)  +  2 S / B
with B the slowest link's bandwidth (the NIC once N > 1: every ring passes it twice per hop
of data) and a the per-hop latencies. ZeRO stages 1-2 replace the all-reduce with a
reduce-scatter (overlapped like it) and an all-gather of the updated parameters after the
optimizer, which runs on 1/n of the state; stage 3 adds an all-gather before each forward.

Three uses:
  calibrate   this machine: compute from step_profile_bench (one rank beside N-1 co-located
              ranks), the all-reduce's a and B fitted to the 2-rank measurements of
              bench/run_comm_bench.sh (and, shown for reference, to the 4-rank ones),
              predictions of W2 at 1, 2 and 4 ranks (communication from the 2-rank fit)
              against bench/run_scaling_bench.sh's measurements, and of the 4-rank all-reduce
  horovod     the published check: Horovod on 128 servers x 4 Pascal GPUs over 25 Gbit/s
              RoCE, every input fixed from published facts (PUBLISHED below), none fitted
  predict     any cluster: --workload w2 (this machine's measured W2 step) or a network of
              bench/scaling/models with --throughput (items/s per device) and --batch,
              --nodes, --per-node, --gbps, --latency-us, --algorithm, --zero

  scaling_model.py all [--results DIR]        calibrate + horovod + a W2 cluster table; writes
                                              DIR/scaling_model.jsonl and DIR/scaling_model.md
  scaling_model.py predict --workload vgg16 --throughput 154 --batch 64 --nodes 1,8,64 --gbps 100
Standard library only.
"""
import argparse
import json
import math
import os
import statistics
import sys
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "scaling", "models")
RESULTS = os.environ.get("TORUS_BENCH_RESULTS", os.path.join(HERE, "results"))
TARGET_STEP_ERROR = 0.10       # issue 11: within 10% of measured step time at 1-4 ranks
TARGET_EFFICIENCY_POINTS = 10  # and within 10 percentage points of each published efficiency

# Per-call and per-hop latencies of NCCL's own cost model (src/graph/tuning.cc, microseconds),
# for its low-latency protocol (LL, what NCCL uses where latency matters) and for Simple
# (large messages, whose multi-node rings it charges 1.9x the latency). The model takes LL's
# latencies with the link's full bandwidth; the Horovod table also shows Simple's.
NCCL_LATENCY_US = {"LL": {"base": 6.6, "pci_hop": 1.0, "net_hop": 2.7, "plateau": 1.0},
                   "Simple": {"base": 8.4, "pci_hop": 5.7, "net_hop": 9.6, "plateau": 1.9}}

# Everything the Horovod check takes, with where it comes from. Nothing here is fitted.
PUBLISHED = {
    "setup": "Horovod (Sergeev and Del Balso, arXiv:1802.05799, 2018): 128 servers x 4 Pascal GPUs, "
             "25 Gbit/s RoCE, TensorFlow benchmarks (tf_cnn_benchmarks), batch 64 per GPU, NCCL 2 ring "
             "all-reduce, Tensor Fusion (64 MB buffer, 5 ms cycle)",
    "nodes": 128, "per_node": 4, "batch": 64, "nic_gbps": 25.0, "pcie_gbytes_per_s": 12.0,
    "fusion_bytes": 64 << 20, "cycle_s": 0.005, "algorithm": "ring",  # NCCL 2.0-2.3 had only rings
    "efficiency": {"inception_v3": 0.90, "resnet101": 0.90, "vgg16": 0.68},
    # images/s on one P100, synthetic data, batch 64: TensorFlow's published benchmark table
    # (tensorflow.org/performance/benchmarks, NVIDIA DGX-1). It lists no ResNet-101: that one
    # is interpolated from ResNet-50 and ResNet-152 by forward FLOPs (time per image linear
    # in FLOPs), a derived figure, marked as such.
    "throughput": {"inception_v3": 142.0, "vgg16": 154.0, "resnet50": 219.0, "resnet152": 91.8},
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


@dataclass
class Fabric:
    """n = nodes x per_node ranks; bandwidths in bytes/s, latencies in seconds."""
    nodes: int
    per_node: int
    intra_bw: float
    intra_hop: float
    inter_bw: float = 0.0
    inter_hop: float = 0.0
    base: float = 0.0
    algorithm: str = "ring"  # ring, tree, or auto (the faster per call, as NCCL picks)
    plateau: float = 1.0     # multi-node ring latency factor

    @property
    def ranks(self):
        return self.nodes * self.per_node

    def _bw(self):
        return self.intra_bw if self.nodes == 1 else min(self.intra_bw, self.inter_bw)

    def ring(self, nbytes, fraction=1.0):
        """All-reduce (fraction 1) or reduce-scatter / all-gather (fraction 0.5) by ring."""
        n = self.ranks
        if n == 1:
            return 0.0
        steps, inter = 2 * (n - 1), 2 * (self.nodes - 1)
        lat = self.base + (steps - inter) * self.intra_hop + inter * self.inter_hop
        if self.nodes > 1:
            lat *= self.plateau
        return fraction * (lat + nbytes * steps / n / self._bw())

    def tree(self, nbytes):
        if self.ranks == 1:
            return 0.0
        lat = self.base + 2 * ((self.per_node - 1) * self.intra_hop
                               + math.ceil(math.log2(self.nodes)) * self.inter_hop if self.nodes > 1 else
                               (self.per_node - 1) * self.intra_hop)
        return lat + 2 * nbytes / self._bw()

    def allreduce(self, nbytes):
        if self.algorithm == "ring":
            return self.ring(nbytes)
        if self.algorithm == "tree":
            return self.tree(nbytes)
        return min(self.ring(nbytes), self.tree(nbytes))


@dataclass
class Compute:
    """One rank's step without communication; grads: (ready seconds into backward, bytes) in
    parameter registration order."""
    forward: float
    backward: float
    optimizer: float
    grads: list = field(default_factory=list)
    items: int = 0

    @property
    def step(self):
        return self.forward + self.backward + self.optimizer


def static_buckets(grads, bucket_bytes):
    """Torus DataParallel's buckets: parameters in reverse registration order, a new bucket
    when the next one would pass bucket_bytes; a bucket is ready with its last gradient."""
    buckets = []
    for ready, nbytes in reversed(grads):
        if buckets and buckets[-1][1] + nbytes <= bucket_bytes:
            buckets[-1] = (max(buckets[-1][0], ready), buckets[-1][1] + nbytes)
        else:
            buckets.append((ready, nbytes))
    return sorted(buckets)


def fusion_buckets(grads, fusion_bytes, cycle):
    """Horovod's Tensor Fusion: every `cycle` seconds the gradients ready since the last tick
    go out fused into buffers of at most fusion_bytes (a larger tensor goes alone)."""
    pending = sorted(grads)
    buckets, i, tick = [], 0, cycle
    while i < len(pending):
        ready_now = []
        while i < len(pending) and pending[i][0] <= tick:
            ready_now.append(pending[i][1])
            i += 1
        size = 0
        for nbytes in ready_now:
            if size and size + nbytes > fusion_bytes:
                buckets.append((tick, size))
                size = 0
            size += nbytes
        if size:
            buckets.append((tick, size))
        tick += cycle
    return buckets


def step_time(compute, buckets, fabric, overlap, zero=0):
    """Predicted step seconds and the pieces it is made of. ZeRO as Torus runs it
    (distributed/parallel/zero_sharding.h): stage 1 all-reduces the buckets, stage 2
    reduce-scatters them, both all-gather the updated parameters after the optimizer; stage 3
    gathers each unit's parameters for forward (overlapped by prefetching) and again in
    backward, where the gather and the reduce-scatter share the channel, and keeps the
    parameters sharded after the optimizer. Stages 1-3 run the optimizer on 1/n of the state."""
    n = fabric.ranks
    total_bytes = sum(b for _, b in buckets)
    half = lambda b: fabric.ring(b, 0.5)  # noqa: E731 - reduce-scatter or all-gather
    per_bucket = {0: fabric.allreduce, 1: fabric.allreduce, 2: half}.get(zero, lambda b: 2 * half(b))
    free = 0.0
    in_backward = 0.0
    for ready, nbytes in buckets:
        t = per_bucket(nbytes)
        free = max(ready, free) + t
        in_backward += t
    forward = compute.forward
    comm = in_backward
    if zero == 3:
        gather = half(total_bytes)
        comm += gather
        forward = max(forward, gather) if overlap else forward + gather
    backward = max(compute.backward, free) if overlap else compute.backward + in_backward
    optimizer = compute.optimizer / n if zero else compute.optimizer
    after = half(total_bytes) if zero in (1, 2) else 0.0
    comm += after
    step = forward + backward + optimizer + after
    own_compute = compute.forward + compute.backward + optimizer
    return {"step_s": step, "comm_s": comm, "exposed_comm_s": step - own_compute}


# ---------------------------------------------------------------- this machine


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def compute_from_profile(p):
    return Compute(p["forward_s"], p["backward_s"], p["optimizer_s"],
                   [(q["ready_s"], q["bytes"]) for q in p["parameters"]], p["items_per_step"])


def fit_alpha_beta(comm_records, ranks):
    """a (per-hop latency, s) and B (bytes/s) of the ring model from the Torus all-reduce
    times at `ranks` ranks: least squares of t = c0 + c1 S in relative error, then
    c0 = 2(n-1) a and c1 = 2(n-1)/n / B."""
    pts = [(r["bytes"], r["us_median"] * 1e-6) for r in comm_records
           if r.get("impl") == "torus" and r["ranks"] == ranks]
    if len(pts) < 2:
        return None
    # Weighted least squares, weights 1/t^2: minimises the relative error at every size.
    w = [1 / t ** 2 for _, t in pts]
    sw = sum(w)
    sx = sum(wi * s for wi, (s, _) in zip(w, pts))
    sy = sum(wi * t for wi, (_, t) in zip(w, pts))
    sxx = sum(wi * s * s for wi, (s, _) in zip(w, pts))
    sxy = sum(wi * s * t for wi, (s, t) in zip(w, pts))
    c1 = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    c0 = (sy - c1 * sx) / sw
    n = ranks
    return {"hop_s": max(c0, 0.0) / (2 * (n - 1)), "bandwidth": 2 * (n - 1) / n / c1, "points": len(pts),
            "fit_max_rel_error": max(abs(c0 + c1 * s - t) / t for s, t in pts)}


def calibrate(results_dir, cores, bucket_mb):
    """Records of the calibration, and the fits by rank count; ([], None) with a note on stderr
    when the measurements it needs are not in results_dir."""
    scaling = load_jsonl(os.path.join(results_dir, "scaling.jsonl"))
    comm = load_jsonl(os.path.join(results_dir, "comm.jsonl")) + load_jsonl(os.path.join(results_dir, "comm_np4.jsonl"))
    fit = fit_alpha_beta(comm, 2)
    if not scaling or not fit:
        log(f"scaling_model.py: no calibration: {results_dir} lacks "
            + ("scaling.jsonl (bench/run_scaling_bench.sh)" if not scaling else
               "2-rank Torus all-reduce figures in comm.jsonl (bench/run_comm_bench.sh)"))
        return [], None
    if cores is None:  # the machine the measurements were taken on
        cores = next((r["cores"] for r in scaling if r.get("cores")), os.cpu_count() or 1)
    # The step predictions take communication from the 2-rank fit at every rank count; the
    # 4-rank fit (ranks on fewer cores share them, which the ring formula does not model) and
    # the 2-rank fit's prediction of the 4-rank all-reduce are reported beside it.
    fits = {2: fit}
    out = []
    for n in (2, 4):
        f = fit_alpha_beta(comm, n)
        if not f:
            continue
        fits[n] = f
        out.append({"suite": "scaling_model", "name": "alpha_beta_fit", "ranks": n, "hop_us": f["hop_s"] * 1e6,
                    "bandwidth_gbytes_per_s": f["bandwidth"] / 1e9, "points": f["points"],
                    "fit_max_rel_error": f["fit_max_rel_error"], "oversubscribed": n > cores})
    four = Fabric(1, 4, fit["bandwidth"], fit["hop_s"])
    for r in comm:
        if r.get("impl") == "torus" and r["ranks"] == 4:
            pred = four.ring(r["bytes"])
            meas = r["us_median"] * 1e-6
            out.append({"suite": "scaling_model", "name": "allreduce_4_ranks", "bytes": r["bytes"],
                        "oversubscribed": 4 > cores, "predicted_us": pred * 1e6, "measured_us": meas * 1e6,
                        "error": pred / meas - 1})
    profiles = {r["name"]: r for r in scaling if r.get("suite") == "step_profile"}
    measured = {(r["name"], r["ranks"]): r for r in scaling if r.get("suite") == "scaling"}
    # Strong scaling at 2 ranks (global 32) is the weak run's configuration: not counted twice.
    for kind, n in (("weak", 1), ("weak", 2), ("weak", 4), ("strong", 1), ("strong", 4)):
        key, m = f"profile_{kind}_{n}", measured.get((f"torus_{kind}", n))
        if key not in profiles or not m:
            continue
        batch = profiles[key].get("per_rank_batch")
        compute = compute_from_profile(profiles[key])
        fabric = Fabric(1, n, fit["bandwidth"], fit["hop_s"])
        overlap = n * 2 <= cores  # CPU ranks: communication overlaps backward only with a spare core per rank
        buckets = static_buckets(compute.grads, bucket_mb * (1 << 20))
        pred = step_time(compute, buckets, fabric, overlap)
        meas_step = n * compute.items / m["median"]  # global tokens per step / global tokens/s
        rec = {"suite": "scaling_model", "name": f"calibration_{kind}", "ranks": n, "per_rank_batch": batch,
               "oversubscribed": n > cores, "overlap": overlap, "buckets": len(buckets),
               "compute_s": compute.step, "predicted_step_s": pred["step_s"], "predicted_comm_s": pred["comm_s"],
               "measured_step_s": meas_step, "predicted_tokens_per_s": n * compute.items / pred["step_s"],
               "measured_tokens_per_s": m["median"], "error": pred["step_s"] / meas_step - 1,
               "target": TARGET_STEP_ERROR}
        if "dp_bucket_bytes" in profiles[key]:
            ours, theirs = sorted(b for _, b in buckets), sorted(profiles[key]["dp_bucket_bytes"])
            rec["buckets_match_data_parallel"] = ours == theirs
        out.append(rec)
    return out, fits


# ---------------------------------------------------------------- published networks


def load_network(name):
    path = os.path.join(MODELS, f"{name}.json")
    if not os.path.exists(path):
        sys.exit(f"scaling_model.py: no layer table {path} (bench/scaling/layer_table.py makes them)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def network_compute(net, seconds, bytes_per_param=4):
    """A step of `seconds` spread over the layers by FLOPs: forward a third, backward two
    thirds (it computes two products per forward product) in reverse layer order; each
    layer's gradient is ready when its backward is done. No separate optimizer time (it is
    in the published throughput)."""
    layers = net["layers"]
    total = sum(layer["forward_flops"] for layer in layers)
    forward, backward = seconds / 3, 2 * seconds / 3
    grads = [None] * len(layers)
    t = 0.0
    for i in reversed(range(len(layers))):
        t += backward * layers[i]["forward_flops"] / total
        grads[i] = (t, layers[i]["params"] * bytes_per_param)
    return Compute(forward, backward, 0.0, grads)


def published_throughput(name):
    thr = PUBLISHED["throughput"]
    if name in thr:
        return thr[name], "published"
    if name == "resnet101":
        f50, f101, f152 = (load_network(n)["forward_flops_per_image"] for n in ("resnet50", "resnet101", "resnet152"))
        t50, t152 = 1 / thr["resnet50"], 1 / thr["resnet152"]
        return 1 / (t50 + (t152 - t50) * (f101 - f50) / (f152 - f50)), "interpolated from ResNet-50/152 by FLOPs"
    sys.exit(f"scaling_model.py: no published throughput for {name}")


def horovod_fabric(nodes, per_node, protocol="LL"):
    lat = NCCL_LATENCY_US[protocol]
    return Fabric(nodes, per_node, PUBLISHED["pcie_gbytes_per_s"] * 1e9, lat["pci_hop"] * 1e-6,
                  PUBLISHED["nic_gbps"] * 1e9 / 8, lat["net_hop"] * 1e-6, lat["base"] * 1e-6, "ring", lat["plateau"])


def horovod():
    out = []
    for name, published in PUBLISHED["efficiency"].items():
        net = load_network(name)
        per_gpu, source = published_throughput(name)
        seconds = PUBLISHED["batch"] / per_gpu
        compute = network_compute(net, seconds)
        fabric = horovod_fabric(PUBLISHED["nodes"], PUBLISHED["per_node"])
        buckets = fusion_buckets(compute.grads, PUBLISHED["fusion_bytes"], PUBLISHED["cycle_s"])
        pred = step_time(compute, buckets, fabric, overlap=True)
        efficiency = seconds / pred["step_s"]
        no_overlap = seconds / step_time(compute, buckets, fabric, overlap=False)["step_s"]
        simple = seconds / step_time(compute, buckets, horovod_fabric(PUBLISHED["nodes"], PUBLISHED["per_node"],
                                                                      "Simple"), overlap=True)["step_s"]
        out.append({"suite": "scaling_model", "name": "horovod", "network": name, "params": net["params"],
                    "gpus": fabric.ranks, "per_gpu_images_per_s": per_gpu, "throughput_source": source,
                    "compute_s": seconds, "predicted_step_s": pred["step_s"], "comm_s": pred["comm_s"],
                    "fusion_buffers": len(buckets), "predicted_efficiency": efficiency,
                    "predicted_efficiency_without_overlap": no_overlap,
                    "predicted_efficiency_simple_latency": simple, "published_efficiency": published,
                    "error_points": 100 * (efficiency - published), "target_points": TARGET_EFFICIENCY_POINTS})
    return out


# ---------------------------------------------------------------- any cluster


def predict(workload, nodes_list, per_node, gbps, latency_us, algorithm, zero, bucket_mb, throughput=None,
            batch=None, results_dir=RESULTS, intra_gbytes=None):
    if workload == "w2":
        if throughput or batch:
            sys.exit("scaling_model.py: --throughput and --batch are for published networks; "
                     "--workload w2 takes its step from the measured profile")
        scaling = load_jsonl(os.path.join(results_dir, "scaling.jsonl"))
        prof = [r for r in scaling if r.get("name") == "profile_weak_1"]
        if not prof:
            sys.exit(f"scaling_model.py: no W2 step profile in {results_dir}/scaling.jsonl")
        compute = compute_from_profile(prof[0])
        unit, items = "tokens/s", compute.items
        overlap = True  # a rank with a spare core (or a GPU) for its communication
        buckets = static_buckets(compute.grads, bucket_mb * (1 << 20))
    else:
        if not throughput or not batch:
            sys.exit("scaling_model.py: predict --workload NETWORK needs --throughput and --batch")
        compute = network_compute(load_network(workload), batch / throughput)
        unit, items, overlap = "images/s", batch, True
        buckets = static_buckets(compute.grads, bucket_mb * (1 << 20))
    out = []
    for nodes in nodes_list:
        fabric = Fabric(nodes, per_node, (intra_gbytes or 100.0) * 1e9, NCCL_LATENCY_US["LL"]["pci_hop"] * 1e-6,
                        gbps * 1e9 / 8, latency_us * 1e-6, NCCL_LATENCY_US["LL"]["base"] * 1e-6, algorithm)
        pred = step_time(compute, buckets, fabric, overlap, zero)
        out.append({"suite": "scaling_model", "name": "prediction", "workload": workload, "nodes": nodes,
                    "per_node": per_node, "ranks": fabric.ranks, "gbps": gbps, "latency_us": latency_us,
                    "algorithm": algorithm, "zero": zero, "step_s": pred["step_s"], "comm_s": pred["comm_s"],
                    "throughput": fabric.ranks * items / pred["step_s"], "unit": unit,
                    "efficiency": compute.step / pred["step_s"]})
    return out


# ---------------------------------------------------------------- report


def size_text(nbytes):
    return f"{nbytes >> 20} MiB" if nbytes >= 1 << 20 else f"{nbytes >> 10} KiB"


def markdown(records, fit):
    lines = ["### Scaling model", ""]
    cal = [r for r in records if r["name"].startswith("calibration_")]
    oversubscribed = {r["ranks"] for r in records if r["name"] == "alpha_beta_fit" and r.get("oversubscribed")}
    for n, f in sorted((fit or {}).items()):
        lines.append(f"All-reduce fitted to the {n}-rank Torus measurements ({f['points']} sizes"
                     f"{'; oversubscribed' if n in oversubscribed else ''}): "
                     f"hop latency {f['hop_s'] * 1e6:.1f} µs, bandwidth {f['bandwidth'] / 1e9:.2f} GB/s "
                     f"(worst fit error {100 * f['fit_max_rel_error']:.0f}%).")
    four = [r for r in records if r["name"] == "allreduce_4_ranks"]
    if four:
        lines.append("\nThe ring formula's test: the 4-rank all-reduce predicted from the 2-rank fit, against its "
                     "measurement" + (" (4 ranks on fewer cores: time-sharing, which the formula does not model)"
                                      if four[0]["oversubscribed"] else "") + ": "
                     + ", ".join(f"{size_text(r['bytes'])} {100 * r['error']:+.0f}%" for r in four) + ".")
    if cal:
        lines += ["", "#### W2 on this machine: predicted vs measured step", "",
                  "Compute from the co-located step profile of each row, communication from the 2-rank fit at "
                  "every rank count (strong scaling at 2 ranks is the weak 2-rank run, listed once).", "",
                  "| kind | ranks | comm. overlaps backward | compute (profiled) ms | predicted ms | measured ms | "
                  "error | target |", "|---|---|---|---|---|---|---|---|"]
        for r in cal:
            miss = abs(r["error"]) > r["target"]
            err = f"{100 * r['error']:+.1f}%"
            ranks = f"{r['ranks']}{' (oversubscribed)' if r['oversubscribed'] else ''}"
            lines.append(f"| {r['name'].split('_')[1]} | {ranks} | {'yes' if r['overlap'] else 'no'} | "
                         f"{1e3 * r['compute_s']:.0f} | "
                         f"{1e3 * r['predicted_step_s']:.0f} | {1e3 * r['measured_step_s']:.0f} | "
                         f"{'**' + err + '** (miss)' if miss else err} | ±{100 * r['target']:.0f}% |")
    hv = [r for r in records if r["name"] == "horovod"]
    if hv:
        lines += ["", "#### Against Horovod's published scaling (512 GPUs, 25 Gbit/s RoCE)", "",
                  PUBLISHED["setup"] + "; per-hop and per-call latencies from NCCL's cost model (LL protocol), "
                  "bandwidth the NIC's line rate. No input fitted to the efficiencies.", "",
                  "| network | parameters | images/s per GPU (source) | fusion buffers | compute ms | all-reduce ms | "
                  "predicted efficiency | without overlap | with NCCL Simple latencies | published | error (points) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in hv:
            miss = abs(r["error_points"]) > r["target_points"]
            err = f"{r['error_points']:+.1f}"
            lines.append(f"| {r['network']} | {r['params'] / 1e6:.1f} M | {r['per_gpu_images_per_s']:.0f} "
                         f"({r['throughput_source']}) | {r['fusion_buffers']} | {1e3 * r['compute_s']:.0f} | "
                         f"{1e3 * r['comm_s']:.0f} | {100 * r['predicted_efficiency']:.0f}% | "
                         f"{100 * r['predicted_efficiency_without_overlap']:.0f}% | "
                         f"{100 * r['predicted_efficiency_simple_latency']:.0f}% | "
                         f"{100 * r['published_efficiency']:.0f}% | {'**' + err + '** (miss)' if miss else err} |")
    pr = [r for r in records if r["name"] == "prediction"]
    if pr:
        lines += ["", "#### W2 (the measured one-rank step, no co-location) on a cluster, predicted", "",
                  "| network | nodes × ranks | algorithm | ZeRO | step ms | tokens/s | efficiency |",
                  "|---|---|---|---|---|---|---|"]
        for r in pr:
            lines.append(f"| {r['gbps']:g} Gb/s, {r['latency_us']:g} µs | {r['nodes']} × {r['per_node']} | "
                         f"{r['algorithm']} | {r['zero']} | {1e3 * r['step_s']:.0f} | {r['throughput']:.0f} | "
                         f"{100 * r['efficiency']:.0f}% |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["all", "calibrate", "horovod", "predict"])
    ap.add_argument("--results", default=RESULTS, help="where the measured JSON lines are and the outputs go")
    ap.add_argument("--cores", type=int, default=None,
                    help="cores of the machine measured (default: as scaling.jsonl records it)")
    ap.add_argument("--bucket-mb", type=float, default=4.0, help="DataParallel bucket size (distributed.bucket_mb)")
    ap.add_argument("--workload", default="w2")
    ap.add_argument("--throughput", type=float, help="items/s of one device (published networks)")
    ap.add_argument("--batch", type=int, help="per-device batch (published networks)")
    ap.add_argument("--nodes", default="1,2,4,8,16,32,64,128")
    ap.add_argument("--per-node", type=int, default=1)
    ap.add_argument("--gbps", type=float, default=100.0, help="network bandwidth per node, Gbit/s")
    ap.add_argument("--latency-us", type=float, default=NCCL_LATENCY_US["LL"]["net_hop"],
                    help="latency of one network hop")
    ap.add_argument("--intra-gbytes", type=float, help="intra-node bandwidth, GB/s (default 100)")
    ap.add_argument("--algorithm", choices=["ring", "tree", "auto"], default="auto")
    ap.add_argument("--zero", type=int, choices=[0, 1, 2, 3], default=0)
    args = ap.parse_args()
    try:
        nodes = [int(x) for x in args.nodes.split(",")]
    except ValueError:
        sys.exit(f"scaling_model.py: --nodes takes node counts separated by commas, got '{args.nodes}'")
    records, fit = [], None
    if args.command in ("all", "calibrate"):
        cal, fit = calibrate(args.results, args.cores, args.bucket_mb)
        if args.command == "calibrate" and not cal:
            sys.exit(1)
        records += cal
    if args.command in ("all", "horovod"):
        records += horovod()
    if args.command == "predict":
        records += predict(args.workload, nodes, args.per_node, args.gbps, args.latency_us, args.algorithm,
                           args.zero, args.bucket_mb, args.throughput, args.batch, args.results, args.intra_gbytes)
    has_w2_profile = any(r.get("name") == "profile_weak_1"
                         for r in load_jsonl(os.path.join(args.results, "scaling.jsonl")))
    if args.command == "all" and has_w2_profile:
        for gbps in (25, 100, 400):
            for zero in (0, 3):
                records += predict("w2", [1, 8, 64], 1, gbps, NCCL_LATENCY_US["LL"]["net_hop"], "auto", zero,
                                   args.bucket_mb, results_dir=args.results)
    if args.command == "all":
        with open(os.path.join(args.results, "scaling_model.jsonl"), "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        with open(os.path.join(args.results, "scaling_model.md"), "w", encoding="utf-8") as f:
            f.write("\n".join(markdown(records, fit)) + "\n")
    print("\n".join(markdown(records, fit)))


if __name__ == "__main__":
    main()
