#!/usr/bin/python3
"""Tests of the benchmark suite's arithmetic: the scaling model (bench/scaling_model.py), the
target summary (bench/summary.py) and the cluster records' merge (bench/scaling_collect.py).

usage: scaling_model_test.py   (with TORUS_STEP_PROFILE_BENCH naming step_profile_bench, the
       model's gradient buckets are also checked against the ones DataParallel makes for W2)
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SOURCE, "bench"))
import scaling_model as m  # noqa: E402
import summary  # noqa: E402

def write_jsonl(folder, name, records):
    with open(os.path.join(folder, f"{name}.jsonl"), "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


class AllReduceCost(unittest.TestCase):
    def test_ring_on_one_node_is_latency_plus_bandwidth(self):
        fabric = m.Fabric(1, 4, intra_bw=10e9, intra_hop=2e-6)
        # 2(n-1) = 6 hops; 2(n-1)/n = 1.5 passes of the data over the link.
        self.assertAlmostEqual(fabric.ring(1e9), 6 * 2e-6 + 1.5 * 1e9 / 10e9)
        self.assertAlmostEqual(fabric.ring(1e9, 0.5), fabric.ring(1e9) / 2)
        self.assertEqual(m.Fabric(1, 1, 1e9, 1e-6).ring(1e9), 0.0)

    def test_multi_node_ring_is_bound_by_the_slower_link_and_counts_network_hops(self):
        fabric = m.Fabric(2, 2, intra_bw=100e9, intra_hop=1e-6, inter_bw=1e9, inter_hop=5e-6, base=3e-6)
        # n = 4: 6 hops, 2 of them between nodes.
        self.assertAlmostEqual(fabric.ring(8e6), 3e-6 + 4 * 1e-6 + 2 * 5e-6 + 1.5 * 8e6 / 1e9)

    def test_tree_latency_grows_with_log_nodes_and_auto_takes_the_faster(self):
        fabric = m.Fabric(64, 1, 100e9, 1e-6, 1e9, 5e-6, algorithm="auto")
        self.assertAlmostEqual(fabric.tree(0), 2 * math.ceil(math.log2(64)) * 5e-6)
        self.assertLess(fabric.tree(4), fabric.ring(4))            # small: the tree's log latency wins
        self.assertLess(fabric.ring(1 << 30), fabric.tree(1 << 30))  # large: the ring's bandwidth wins
        self.assertEqual(fabric.allreduce(4), fabric.tree(4))
        self.assertEqual(fabric.allreduce(1 << 30), fabric.ring(1 << 30))

    def test_fit_recovers_latency_and_bandwidth(self):
        hop, bw = 3e-6, 5e9
        truth = m.Fabric(1, 2, bw, hop)
        records = [{"impl": "torus", "ranks": 2, "bytes": s, "us_median": truth.ring(s) * 1e6}
                   for s in (4096, 65536, 1 << 20, 16 << 20)]
        fit = m.fit_alpha_beta(records + [{"impl": "mpi", "ranks": 2, "bytes": 4096, "us_median": 1e6}], 2)
        self.assertAlmostEqual(fit["hop_s"], hop, delta=1e-9)
        self.assertAlmostEqual(fit["bandwidth"] / bw, 1.0, places=6)
        self.assertLess(fit["fit_max_rel_error"], 1e-9)
        self.assertIsNone(m.fit_alpha_beta(records[:1], 2))


class StepSchedule(unittest.TestCase):
    def test_static_buckets_follow_data_parallel(self):
        # Registration order a, b, c, d; buckets from the last: [d, c] (7 <= 8), then [b, a].
        grads = [(0.9, 2), (0.5, 4), (0.3, 3), (0.1, 4)]
        self.assertEqual(m.static_buckets(grads, 8), [(0.3, 7), (0.9, 6)])
        self.assertEqual(m.static_buckets(grads, 1), sorted(grads))  # every tensor alone

    def test_fusion_buckets_go_at_cycle_ticks_and_respect_the_buffer(self):
        grads = [(0.001, 10), (0.002, 10), (0.004, 10), (0.012, 100)]
        self.assertEqual(m.fusion_buckets(grads, 25, 0.005), [(0.005, 20), (0.005, 10), (0.015, 100)])

    def test_overlap_hides_communication_behind_backward(self):
        compute = m.Compute(forward=1.0, backward=2.0, optimizer=0.5)
        fabric = m.Fabric(1, 2, intra_bw=1.0, intra_hop=0.0)  # an all-reduce of b bytes takes b seconds
        buckets = [(0.5, 1), (1.0, 0.5)]
        self.assertAlmostEqual(m.step_time(compute, buckets, fabric, overlap=True)["step_s"], 3.5)
        self.assertAlmostEqual(m.step_time(compute, buckets, fabric, overlap=False)["step_s"], 5.0)
        # A late bucket sticks out past backward: it starts at 1.9 and takes 1 s.
        late = m.step_time(compute, [(1.9, 1)], fabric, overlap=True)
        self.assertAlmostEqual(late["step_s"], 1.0 + 2.9 + 0.5)
        self.assertAlmostEqual(late["exposed_comm_s"], 0.9)

    def test_zero_shards_the_optimizer_and_gathers_parameters(self):
        compute = m.Compute(forward=1.0, backward=2.0, optimizer=0.4)
        fabric = m.Fabric(1, 2, intra_bw=1.0, intra_hop=0.0)  # all-reduce of b bytes: b s; a half of it: b/2 s
        buckets = [(0.0, 1)]
        stage = {z: m.step_time(compute, buckets, fabric, overlap=True, zero=z) for z in range(4)}
        self.assertAlmostEqual(stage[0]["step_s"], 1.0 + 2.0 + 0.4)
        # 1: all-reduce hidden in backward, optimizer on half, the parameters' all-gather after it.
        self.assertAlmostEqual(stage[1]["step_s"], 1.0 + 2.0 + 0.2 + 0.5)
        self.assertAlmostEqual(stage[2]["step_s"], stage[1]["step_s"])  # reduce-scatter instead, also hidden
        # 3: the forward gather (0.5 s) hides behind forward, the backward gather + reduce-scatter
        # (1 s) behind backward, nothing after the optimizer.
        self.assertAlmostEqual(stage[3]["step_s"], 1.0 + 2.0 + 0.2)
        for z in range(4):
            self.assertGreaterEqual(stage[z]["exposed_comm_s"], 0)
        self.assertAlmostEqual(stage[1]["exposed_comm_s"], 0.5)
        serial = m.step_time(compute, buckets, fabric, overlap=False, zero=3)
        self.assertAlmostEqual(serial["step_s"], 1.5 + 2.0 + 1.0 + 0.2)

    def test_network_compute_spreads_backward_by_flops_from_the_last_layer(self):
        net = {"layers": [{"params": 10, "forward_flops": 1}, {"params": 20, "forward_flops": 3}]}
        c = m.network_compute(net, 3.0)
        self.assertAlmostEqual(c.forward, 1.0)
        self.assertAlmostEqual(c.backward, 2.0)
        self.assertEqual([b for _, b in c.grads], [40, 80])
        self.assertAlmostEqual(c.grads[1][0], 1.5)  # the last layer's backward (3/4 of it) comes first
        self.assertAlmostEqual(c.grads[0][0], 2.0)


class PublishedCheck(unittest.TestCase):
    def test_layer_tables_hold_the_published_parameter_counts(self):
        for name, params in (("resnet101", 44.5e6), ("inception_v3", 23.8e6), ("vgg16", 138.4e6)):
            net = m.load_network(name)
            self.assertAlmostEqual(net["params"] / params, 1.0, delta=0.005, msg=name)
            self.assertEqual(sum(layer["params"] for layer in net["layers"]), net["params"])

    def test_horovod_records_compare_prediction_and_publication(self):
        records = m.horovod()
        self.assertEqual({r["network"] for r in records}, set(m.PUBLISHED["efficiency"]))
        for r in records:
            self.assertEqual(r["gpus"], 512)
            # Efficiency is one GPU's compute time over the predicted step, against the publication.
            self.assertAlmostEqual(r["compute_s"], m.PUBLISHED["batch"] / r["per_gpu_images_per_s"])
            self.assertAlmostEqual(r["error_points"], 100 * (r["compute_s"] / r["predicted_step_s"]
                                                              - m.PUBLISHED["efficiency"][r["network"]]))
            self.assertGreaterEqual(r["predicted_step_s"], r["compute_s"])
            self.assertLessEqual(r["predicted_efficiency_without_overlap"], r["predicted_efficiency"])
            self.assertGreater(r["predicted_efficiency"], 0)
            self.assertLessEqual(r["predicted_efficiency"], 1.0 + 1e-9)
        resnet = next(r for r in records if r["network"] == "resnet101")
        # Between ResNet-50's and ResNet-152's published figures.
        self.assertTrue(91.8 < resnet["per_gpu_images_per_s"] < 219.0)


@unittest.skipUnless(os.environ.get("TORUS_STEP_PROFILE_BENCH"), "needs TORUS_STEP_PROFILE_BENCH (the ctest "
                     "registration passes it when the benchmarks are built)")
class AgainstDataParallel(unittest.TestCase):
    def test_model_buckets_equal_data_parallel_buckets_for_w2(self):
        config = os.path.join(SOURCE, "bench", "configs", "train_w2_ddp.yaml")
        out = subprocess.run([os.environ["TORUS_STEP_PROFILE_BENCH"], config, "data.batch_size=2",
                              "--warmup", "1", "--steps", "1"], capture_output=True, text=True, check=True).stdout
        profile = json.loads(out.strip().splitlines()[-1])
        compute = m.compute_from_profile(profile)
        self.assertEqual(len(compute.grads), 52)
        buckets = m.static_buckets(compute.grads, profile["bucket_mb"] * (1 << 20))
        self.assertEqual(sorted(b for _, b in buckets), sorted(profile["dp_bucket_bytes"]))
        self.assertTrue(all(0 <= t <= profile["backward_s"] * 1.01 for t, _ in compute.grads))


class Calibration(unittest.TestCase):
    def test_predictions_add_the_fitted_all_reduce_to_the_profiled_compute(self):
        truth = m.Fabric(1, 2, 2e9, 5e-6)
        params = [{"index": i, "name": f"p{i}", "numel": 1 << 18, "bytes": 1 << 20, "ready_s": 0.1 * (4 - i)}
                  for i in range(4)]
        profile = {"suite": "step_profile", "forward_s": 0.2, "backward_s": 0.4, "optimizer_s": 0.05,
                   "step_s": 0.65, "items_per_step": 1000, "parameters": params}
        with tempfile.TemporaryDirectory() as d:
            write_jsonl(d, "comm", [{"impl": "torus", "ranks": 2, "bytes": b, "us_median": truth.ring(b) * 1e6}
                                    for b in (4096, 1 << 20, 16 << 20)])
            write_jsonl(d, "scaling", [
                {"suite": "scaling", "name": "torus_weak", "ranks": 1, "median": 1000 / 0.7, "cores": 2},
                {"suite": "scaling", "name": "torus_weak", "ranks": 2, "median": 2000 / 0.7, "cores": 2},
                dict(profile, name="profile_weak_1"), dict(profile, name="profile_weak_2")])
            records, fits = m.calibrate(d, None, bucket_mb=2)
        with tempfile.TemporaryDirectory() as empty:
            self.assertEqual(m.calibrate(empty, None, 2), ([], None))  # nothing measured there
        self.assertAlmostEqual(fits[2]["bandwidth"] / 2e9, 1.0, places=6)
        by = {r["ranks"]: r for r in records if r["name"] == "calibration_weak"}
        self.assertAlmostEqual(by[1]["predicted_step_s"], 0.65)  # one rank: no communication
        self.assertTrue(by[1]["overlap"])
        # Two ranks on two cores: no spare core, so the 2 buckets of 2 MiB add to backward.
        self.assertFalse(by[2]["overlap"])
        self.assertAlmostEqual(by[2]["predicted_step_s"], 0.65 + 2 * truth.ring(2 << 20))
        self.assertAlmostEqual(by[2]["error"], by[2]["predicted_step_s"] / 0.7 - 1)


class Summary(unittest.TestCase):
    def test_targets_are_met_missed_or_not_measured(self):
        with tempfile.TemporaryDirectory() as d:
            write_jsonl(d, "train", [
                {"workload": "W1", "name": "torus", "ratio": 1.3, "peer": "p", "median": 100.0},
                {"workload": "W2", "name": "torus", "ratio": 1.4, "peer": "p", "median": 5000.0}])
            write_jsonl(d, "comm", [
                {"impl": "torus", "bytes": 4096, "ratio": 0.95, "target": 0.9},
                {"impl": "torus", "bytes": 1 << 20, "ratio": 0.8, "target": 1.0},
                {"impl": "torus", "bytes": 64 << 20, "ratio": 2.5, "target": 2.0}])
            write_jsonl(d, "scaling_model", [
                {"name": "calibration_weak", "ranks": 2, "oversubscribed": False, "error": -0.12, "target": 0.1},
                {"name": "horovod", "network": "vgg16", "error_points": 4.0, "target_points": 10,
                 "predicted_efficiency": 0.72, "published_efficiency": 0.68}])
            subprocess.run([sys.executable, os.path.join(SOURCE, "bench", "summary.py"), "--results", d],
                           check=True, capture_output=True)
            with open(os.path.join(d, "summary.json"), encoding="utf-8") as f:
                rows = json.load(f)["targets"]

        def verdict(fragment):
            row = next(r for r in rows if fragment in r["what"])
            return row["met"]
        self.assertTrue(verdict("W1 Torus"))
        self.assertFalse(verdict("W2 Torus"))
        self.assertIsNone(verdict("W3 Torus"))
        self.assertTrue(verdict("≤ 64 KiB"))
        self.assertFalse(verdict("64 KiB–16 MiB"))
        self.assertTrue(verdict("≥ 16 MiB"))
        self.assertFalse(verdict("weak, 2 rank"))  # |-12%| > 10%
        self.assertTrue(verdict("Horovod vgg16"))
        self.assertIsNone(verdict("DDP (gloo)"))


class ClusterMerge(unittest.TestCase):
    def test_merge_takes_medians_and_efficiency_against_the_fewest_nodes(self):
        with tempfile.TemporaryDirectory() as d:
            write_jsonl(d, "scaling-n1", [{"nodes": 1, "ranks": 2, "tokens_per_s": v} for v in (900, 1000, 1100)])
            write_jsonl(d, "scaling-n4", [{"nodes": 4, "ranks": 8, "tokens_per_s": v} for v in (3600, 3800)])
            subprocess.run([sys.executable, os.path.join(SOURCE, "bench", "scaling_collect.py"), "merge", d],
                           check=True, capture_output=True)
            with open(os.path.join(d, "scaling.jsonl"), encoding="utf-8") as f:
                recs = {r["nodes"]: r for r in map(json.loads, f)}
        self.assertEqual(recs[1]["median"], 1000)
        self.assertAlmostEqual(recs[4]["median"], 3700)
        self.assertAlmostEqual(recs[4]["efficiency"], 3700 / (8 * 500))
        self.assertEqual(recs[4]["reps"], 2)


if __name__ == "__main__":
    unittest.main()
