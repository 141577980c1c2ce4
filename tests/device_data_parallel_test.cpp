// Data parallelism, ZeRO and reproducible mode on CUDA devices (label gpu; each test skips,
// saying why, without the devices it needs):
// - one device: DataParallel, and ZeRO stages 1-3, over the NCCL group of a world of one
//   train an MLP exactly as the same model on the device without them (the buckets, the
//   shard and an average over one rank change no bit), and as on the cpu within rounding;
//   reproducible mode's exact sum of a device's shard gradients (through the host) gives
//   the same bits on every run, and the cpu's within rounding; `torus train` with ZeRO
//   stage 3 and with reproducible mode on cuda:0 trains as on the cpu;
// - two devices: `mpirun -np 2 torus train` with trainer.device cuda (one device per rank,
//   gradients over NCCL) against one process on the cpu, same data and seed: per-step
//   losses, evaluations and final weights close, for the MLP and the GPT.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "distributed/comm/device_process_group.h"
#include "distributed/comm/local_process_group.h"
#include "distributed/parallel/data_parallel.h"
#include "distributed/parallel/exact_gradient_sum.h"
#include "distributed/parallel/zero_sharding.h"
#include "framework/nn/models.h"
#include "framework/ops/ops.h"
#include "framework/optim/factory.h"
#include "framework/tensor/device_backend.h"
#include "framework/tensor/random.h"
#include "support/multi_rank_run.h"
#include "support/run_compare.h"
#include "support/workloads.h"

namespace torus {
namespace {

namespace fs = std::filesystem;

struct Trained {
  std::vector<double> losses;
  NamedTensors weights;  // on the host
};

// Eight SGD-with-momentum steps of a small MLP on `device` from seeded data; with
// `gradient_group`, through DataParallel over it (buckets of about 1 KiB: several of them),
// or with `zero_stage` > 0 through ZeroSharding over it (as many buckets; stage 3: a unit per
// linear layer), the optimizer then updating the shard.
Trained train_mlp(Device device, comm::ProcessGroup* gradient_group, int zero_stage = 0) {
  Generator init(7);
  nn::MlpOptions shape;
  shape.in = 20;
  shape.hidden = {32, 16};
  shape.classes = 5;
  std::shared_ptr<Layer> model = nn::make_mlp(shape, init);
  model->to(device);
  optim::OptimizerOptions sgd;
  sgd.lr = 0.05;
  sgd.momentum = 0.9;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<parallel::DataParallel> data_parallel;
  std::unique_ptr<parallel::ZeroSharding> zero;
  if (zero_stage > 0) {
    zero = std::make_unique<parallel::ZeroSharding>(*model, *gradient_group,
                                                    parallel::ZeroOptions{zero_stage, 0.001});
    EXPECT_GE(zero->bucket_count(), 3);
    EXPECT_EQ(zero->shard().device(), device);
    zero->broadcast_state();
    optimizer = optim::make_optimizer({{"shard", zero->shard()}}, sgd);
  } else {
    optimizer = optim::make_optimizer(model->named_parameters(), sgd);
  }
  if (gradient_group != nullptr && zero_stage == 0) {
    data_parallel = std::make_unique<parallel::DataParallel>(*model, *gradient_group,
                                                             parallel::DataParallelOptions{0.001});
    EXPECT_GT(data_parallel->bucket_count(), 2);
    data_parallel->broadcast_state();
  }
  Generator data(11);
  Trained out;
  for (int step = 0; step < 8; ++step) {
    const Tensor inputs = Tensor::randn({24, shape.in}, data);
    std::vector<int64_t> labels;
    for (int64_t i = 0; i < 24; ++i) labels.push_back((i * 7 + step) % shape.classes);
    const Tensor targets = Tensor::from_data<int64_t>(labels, {24});
    if (data_parallel) data_parallel->prepare_backward(/*final=*/true);
    if (zero) zero->prepare_backward(/*final=*/true);
    Tensor loss = cross_entropy((*model)(inputs.to(device)), targets.to(device));
    out.losses.push_back(loss.item());
    loss.backward();
    if (data_parallel) data_parallel->finish_gradients();
    if (zero) zero->finish_gradients();
    optimizer->step();
    if (zero) zero->gather_parameters();
    optimizer->zero_grad();
  }
  if (zero) zero->materialize_parameters();  // stage 3 holds only the shard between steps
  for (const auto& [name, t] : model->state_dict()) out.weights.emplace_back(name, t.to(Device::cpu()));
  if (zero) zero->release_parameters();
  return out;
}

// Every weight of `a` equal to `b`'s, bit for bit.
void expect_same_weights(const Trained& a, const Trained& b, const std::string& what) {
  ASSERT_EQ(a.weights.size(), b.weights.size()) << what;
  for (size_t t = 0; t < a.weights.size(); ++t)
    EXPECT_EQ(a.weights[t].second.to_vector<double>(), b.weights[t].second.to_vector<double>())
        << what << ": " << a.weights[t].first;
}

std::string why_not_one_device() {
  if (!comm::built_with_device_process_group()) return "this build has no NCCL (TORUS_WITH_NCCL is OFF)";
  return device_backend::why_unavailable(Device::cuda(0));
}

TEST(DeviceDataParallel, OneRankOnTheDeviceTrainsAsWithoutItAndAsTheCpu) {
  if (const std::string why = why_not_one_device(); !why.empty()) GTEST_SKIP() << why;
  comm::LocalProcessGroup host;
  const std::unique_ptr<comm::ProcessGroup> nccl = comm::make_device_process_group(host, Device::cuda(0), {});
  ASSERT_EQ(nccl->backend_name(), "nccl");
  const Trained with = train_mlp(Device::cuda(0), nccl.get());
  const Trained without = train_mlp(Device::cuda(0), nullptr);
  const Trained cpu = train_mlp(Device::cpu(), nullptr);
  ASSERT_EQ(with.losses.size(), cpu.losses.size());
  for (size_t i = 0; i < with.losses.size(); ++i) {
    EXPECT_EQ(with.losses[i], without.losses[i]) << "step " << i + 1;
    EXPECT_NEAR(with.losses[i], cpu.losses[i], 1e-4 * std::abs(cpu.losses[i])) << "step " << i + 1;
  }
  ASSERT_EQ(with.weights.size(), cpu.weights.size());
  for (size_t t = 0; t < with.weights.size(); ++t) {
    const std::vector<double> a = with.weights[t].second.to_vector<double>();
    const std::vector<double> b = without.weights[t].second.to_vector<double>();
    const std::vector<double> c = cpu.weights[t].second.to_vector<double>();
    double scale = 0, worst = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      ASSERT_EQ(a[i], b[i]) << with.weights[t].first << "[" << i << "]";
      scale = std::max(scale, std::abs(c[i]));
      worst = std::max(worst, std::abs(a[i] - c[i]));
    }
    EXPECT_LE(worst, 1e-4 * scale) << with.weights[t].first;
  }
}

TEST(DeviceZero, EveryStageOnOneDeviceTrainsAsWithoutIt) {
  if (const std::string why = why_not_one_device(); !why.empty()) GTEST_SKIP() << why;
  comm::LocalProcessGroup host;
  const std::unique_ptr<comm::ProcessGroup> nccl = comm::make_device_process_group(host, Device::cuda(0), {});
  const Trained without = train_mlp(Device::cuda(0), nullptr);
  for (int stage = 1; stage <= 3; ++stage) {
    const Trained with = train_mlp(Device::cuda(0), nccl.get(), stage);
    EXPECT_EQ(with.losses, without.losses) << "stage " << stage;
    expect_same_weights(with, without, fmt::format("stage {}", stage));
  }
}

// Gradients of an MLP's loss over a fixed batch of 24 on `device`, through reproducible
// mode's exact sum of 4 shards of 6 samples on a world of one; on the host, flattened.
std::vector<double> exact_shard_gradients(Device device) {
  Generator init(5);
  std::shared_ptr<Layer> model = nn::make_mlp({12, {16}, 3}, init);
  model->to(device);
  comm::LocalProcessGroup host;
  parallel::ExactGradientSum exact(model->parameters(), host, 4);
  exact.broadcast_parameters();
  Generator data(9);
  const Tensor inputs = Tensor::randn({24, 12}, data).to(device);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 24; ++i) labels.push_back(i % 3);
  const Tensor targets = Tensor::from_data<int64_t>(labels, {24}).to(device);
  for (int64_t k = 0; k < 4; ++k) {
    (cross_entropy((*model)(inputs.narrow(0, 6 * k, 6)), targets.narrow(0, 6 * k, 6)) * 0.25).backward();
    exact.keep_shard(k);
  }
  exact.finish();
  std::vector<double> out;
  for (const Tensor& p : model->parameters()) {
    EXPECT_EQ(p.grad().device(), device);
    const std::vector<double> g = p.grad().to(Device::cpu()).to_vector<double>();
    out.insert(out.end(), g.begin(), g.end());
  }
  return out;
}

TEST(DeviceReproducible, TheExactSumOfADevicesShardsIsTheSameEveryRunAndTheCpusWithinRounding) {
  if (const std::string why = device_backend::why_unavailable(Device::cuda(0)); !why.empty()) GTEST_SKIP() << why;
  const std::vector<double> first = exact_shard_gradients(Device::cuda(0));
  // Reproducible mode's promise rests on each shard's backward being deterministic on the device.
  EXPECT_EQ(exact_shard_gradients(Device::cuda(0)), first);
  const std::vector<double> cpu = exact_shard_gradients(Device::cpu());
  ASSERT_EQ(first.size(), cpu.size());
  double scale = 0, worst = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    scale = std::max(scale, std::abs(cpu[i]));
    worst = std::max(worst, std::abs(first[i] - cpu[i]));
  }
  EXPECT_GT(scale, 0);
  EXPECT_LE(worst, 1e-5 * scale);
}

TEST(DeviceDataParallel, AHostGroupRefusesDeviceParameters) {
  if (const std::string why = why_not_one_device(); !why.empty()) GTEST_SKIP() << why;
  comm::LocalProcessGroup host;
  Generator init(1);
  std::shared_ptr<Layer> model = nn::make_mlp({4, {8}, 2}, init);
  model->to(Device::cuda(0));
  try {
    parallel::DataParallel refused(*model, host);
    ADD_FAILURE() << "a host group took device parameters";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("the parameters are on cuda:0, but the process group (local) takes host "
                                         "tensors"),
              std::string::npos)
        << e.what();
  }
}

// ---- two ranks, through the tool ----

const test::Workload kMlp{"mlp", test::kMlpModel + test::fashion_mnist_data("") + test::kSgdMomentum};
const test::Workload kGpt{"gpt",
                          "model:\n  kind: gpt\n  gpt: {vocab_size: 256, context: 32, d_model: 32, layers: 2, heads: 2}\n"
                          "data:\n  dataset: text\n  path: /usr/lib/python3.11/pydoc_data/topics.py\n  batch_size: 48\n"
                          "  eval_fraction: 0.02\noptimizer:\n  name: sgd\n  lr: 0.05\n  momentum: 0.9\n"
                          "  grad_clip_norm: 1.0\n"};

class TwoDeviceRun : public test::MultiRankRun {
 protected:
  void SetUp() override {
    const int devices = device_backend::cuda_device_count();
    if (devices < 2)
      GTEST_SKIP() << "needs 2 CUDA devices on this host, one per rank (NCCL refuses two ranks on one device); this "
                      "process sees "
                   << devices
                   << (devices == 0 ? ": " + device_backend::why_unavailable(Device::cuda(0)) : std::string());
    write_config("device_dp", "seed: 7\n{body}trainer:\n  steps: 12\n  log_every: 1\n  eval_every: 6\n"
                              "  eval_batches: 2\n  grad_accumulation: 2\n  run_dir: {run_dir}\n");
  }
};

TEST_P(TwoDeviceRun, TwoRanksOnDevicesTrainAsOneProcessOnTheCpu) {
  const fs::path cpu = train(1, "cpu", "trainer.device=cpu");
  const fs::path devices = train(2, "cuda", "trainer.device=cuda");
  // Uncalibrated tolerances (device GEMMs and reductions sum in other orders than the cpu's);
  // the GPT's 12 clipped steps drift more than the MLP's.
  const double tolerance = GetParam().name == "gpt" ? 1e-3 : 2e-4;
  test::expect_metrics_near(cpu, devices, tolerance, "2 ranks on cuda");
  test::expect_weights_near(cpu, devices, tolerance, "2 ranks on cuda");
  std::ifstream log(devices / "train.log");
  const std::string text{std::istreambuf_iterator<char>(log), {}};
  for (int r = 0; r < 2; ++r)
    EXPECT_NE(text.find(fmt::format("[rank {}] rank {} of 2", r, r)), std::string::npos) << text;
  EXPECT_NE(text.find("gradients over nccl on cuda:0"), std::string::npos) << text;
  EXPECT_NE(text.find("gradients over nccl on cuda:1"), std::string::npos) << text;
}

INSTANTIATE_TEST_SUITE_P(Workloads, TwoDeviceRun, ::testing::Values(kMlp, kGpt),
                         [](const auto& info) { return info.param.name; });

// ---- one rank, through the tool ----

class OneDeviceRun : public test::MultiRankRun {
 protected:
  void SetUp() override {
    if (const std::string why = why_not_one_device(); !why.empty()) GTEST_SKIP() << why;
    write_config("device_sharded", "seed: 7\n{body}trainer:\n  steps: 8\n  log_every: 1\n  eval_every: 4\n"
                                   "  eval_batches: 2\n  run_dir: {run_dir}\ndistributed:\n  bucket_mb: 0.05\n");
  }
};

TEST_P(OneDeviceRun, ZeroStage3AndReproducibleModeOnADeviceTrainAsTheCpu) {
  const fs::path cpu = train(1, "cpu", "trainer.device=cpu");
  const double tolerance = GetParam().name == "gpt" ? 1e-3 : 2e-4;  // as TwoDeviceRun's
  const fs::path zero = train(1, "zero3", "trainer.device=cuda:0 distributed.zero_stage=3");
  test::expect_metrics_near(cpu, zero, tolerance, "ZeRO stage 3 on cuda:0");
  test::expect_weights_near(cpu, zero, tolerance, "ZeRO stage 3 on cuda:0");
  std::ifstream log(zero / "train.log");
  const std::string text{std::istreambuf_iterator<char>(log), {}};
  EXPECT_NE(text.find("ZeRO stage 3"), std::string::npos) << text;
  EXPECT_NE(text.find("gradients over nccl on cuda:0"), std::string::npos) << text;

  const fs::path exact = train(1, "reproducible", "trainer.device=cuda:0 distributed.reproducible=true "
                                                  "distributed.reproducible_shards=4");
  const fs::path exact_cpu = train(1, "reproducible_cpu", "trainer.device=cpu distributed.reproducible=true "
                                                          "distributed.reproducible_shards=4");
  test::expect_metrics_near(exact_cpu, exact, tolerance, "reproducible mode on cuda:0");
  test::expect_weights_near(exact_cpu, exact, tolerance, "reproducible mode on cuda:0");
}

INSTANTIATE_TEST_SUITE_P(Workloads, OneDeviceRun, ::testing::Values(kMlp, kGpt),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace torus
