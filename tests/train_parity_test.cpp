// `torus train` against PyTorch: the same model from the same initial weights on the same
// batches (shuffling off) with the same optimizer, trained by the torus binary from a
// config and by examples/torch_reference/train_reference.py. Every step's loss and the
// final weights must agree.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"

namespace torus {
namespace {

namespace fs = std::filesystem;

struct ParityCase {
  std::string name;
  std::string model;      // the YAML of the model section's body
  std::string data;       // the data section's body
  std::string optimizer;  // the optimizer section's body
  int steps;
  double tolerance;  // relative, per-step loss and final weights
};

const std::string kFashionMnist = "dataset: fashion_mnist\n  batch_size: 32\n  shuffle: false\n  num_workers: 1\n";
const std::string kText =
    "dataset: text\n  path: /usr/lib/python3.11/pydoc_data/topics.py\n  batch_size: 8\n  context: 32\n"
    "  shuffle: false\n  eval_fraction: 0.05\n";
const std::string kMlp = "kind: mlp\n  mlp: {hidden: [128, 64]}\n";
const std::string kCnn =
    "kind: cnn\n  cnn:\n    conv: [{channels: 8, kernel: 3, pool: 2}, {channels: 16, kernel: 3, pool: 2}]\n"
    "    hidden: [32]\n";
const std::string kGpt = "kind: gpt\n  gpt: {vocab_size: 256, context: 32, d_model: 64, layers: 2, heads: 4}\n";
// Rates in the stable regime: at the edge of divergence any two implementations (or one
// at two thread counts) part ways within a few steps, whatever their precision.
const std::string kSgd = "name: sgd\n  lr: 0.01\n  momentum: 0.9\n  weight_decay: 0.0001\n";
const std::string kAdamW = "name: adamw\n  lr: 0.001\n  weight_decay: 0.01\n";

void PrintTo(const ParityCase& c, std::ostream* os) { *os << c.name; }

std::vector<ParityCase> cases() {
  return {{"mlp_sgd_momentum", kMlp, kFashionMnist, kSgd, 50, 1e-4},
          {"mlp_adamw", kMlp, kFashionMnist, kAdamW, 50, 1e-4},
          {"cnn_sgd_momentum", kCnn, kFashionMnist, kSgd, 50, 1e-4},
          {"cnn_adamw", kCnn, kFashionMnist, kAdamW, 50, 1e-4},
          {"gpt_adamw_clipped", kGpt, kText, kAdamW + "  grad_clip_norm: 1.0\n", 20, 1e-3}};
}

int run(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class TrainParity : public ::testing::TestWithParam<ParityCase> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("torus_parity_{}_{}", GetParam().name, ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_P(TrainParity, LossesAndFinalWeightsMatchPyTorch) {
  const ParityCase& c = GetParam();
  const fs::path config = dir_ / (c.name + ".yaml");
  std::ofstream(config) << fmt::format(
      "name: {}\nseed: 3\nmodel:\n  {}data:\n  {}optimizer:\n  {}"
      "trainer:\n  steps: {}\n  log_every: 1\n  eval_batches: 1\n  save_initial: true\n  run_dir: {}\n",
      c.name, c.model, c.data, c.optimizer, c.steps, dir_.string());
  const fs::path run_dir = dir_ / c.name;
  ASSERT_EQ(run(fmt::format("{} train {} > {} 2>&1", TORUS_TOOL, config.string(), (dir_ / "torus.log").string())), 0)
      << "see " << (dir_ / "torus.log");
  ASSERT_EQ(run(fmt::format("{} {}/examples/torch_reference/train_reference.py {}", TORUS_TEST_PYTHON,
                            TORUS_SOURCE_DIR, run_dir.string())),
            0);

  // Per-step losses: metrics.jsonl lines with a loss, in step order.
  std::vector<double> torus_losses;
  std::ifstream metrics(run_dir / "metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record.contains("loss")) torus_losses.push_back(record["loss"].get<double>());
  }
  const auto torch_losses =
      nlohmann::json::parse(std::ifstream(run_dir / "torch_losses.json")).get<std::vector<double>>();
  ASSERT_EQ(torus_losses.size(), static_cast<size_t>(c.steps));
  ASSERT_EQ(torch_losses.size(), static_cast<size_t>(c.steps));
  for (int s = 0; s < c.steps; ++s)
    EXPECT_NEAR(torus_losses[s], torch_losses[s], c.tolerance * std::abs(torch_losses[s])) << "step " << s + 1;
  EXPECT_LT(torus_losses.back(), torus_losses.front()) << "training should lower the loss";

  // Final weights, entry by entry against the tensor's scale: |a - b| <= tol * max|b|.
  // Entries whose gradient is zero in exact arithmetic (a GPT's key bias, embedding rows
  // of unseen tokens) get rounding noise, which Adam scales up to a learning-rate-sized
  // step in both frameworks; measured against their own size they could never agree.
  const auto torus_final = io::load_safetensors((run_dir / "final.safetensors").string());
  const auto torch_final = io::load_safetensors((run_dir / "torch_final.safetensors").string());
  ASSERT_EQ(torus_final.tensors.size(), torch_final.tensors.size());
  for (const auto& [name, mine] : torus_final.tensors) {
    const auto theirs = std::find_if(torch_final.tensors.begin(), torch_final.tensors.end(),
                                     [&name = name](const auto& p) { return p.first == name; });
    ASSERT_NE(theirs, torch_final.tensors.end()) << name;
    const std::vector<double> a = mine.to_vector<double>(), b = theirs->second.to_vector<double>();
    ASSERT_EQ(a.size(), b.size()) << name;
    double scale = 0;
    for (double v : b) scale = std::max(scale, std::abs(v));
    int reported = 0;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::abs(a[i] - b[i]) > c.tolerance * scale && reported++ < 3)
        ADD_FAILURE() << name << "[" << i << "]: torus " << a[i] << " torch " << b[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Workloads, TrainParity, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace torus
