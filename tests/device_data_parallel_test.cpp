// Data parallelism on CUDA devices (label gpu; each test skips, saying why, without the
// devices it needs):
// - one device: DataParallel over the NCCL group of a world of one trains an MLP exactly
//   as the same model on the device without it (the buckets, their f32 copies and an
//   average over one rank change no bit), and as on the cpu within rounding;
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
// `gradient_group`, through DataParallel over it (buckets of about 1 KiB: several of them).
Trained train_mlp(Device device, comm::ProcessGroup* gradient_group) {
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
  std::unique_ptr<optim::Optimizer> optimizer = optim::make_optimizer(model->named_parameters(), sgd);
  std::unique_ptr<parallel::DataParallel> data_parallel;
  if (gradient_group != nullptr) {
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
    Tensor loss = cross_entropy((*model)(inputs.to(device)), targets.to(device));
    out.losses.push_back(loss.item());
    loss.backward();
    if (data_parallel) data_parallel->finish_gradients();
    optimizer->step();
    optimizer->zero_grad();
  }
  for (const auto& [name, t] : model->state_dict()) out.weights.emplace_back(name, t.to(Device::cpu()));
  return out;
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

}  // namespace
}  // namespace torus
