// `torus train` and `torus eval` through the binary: a run directory a user can trust
// (determinism, the files of DESIGN.md §3, eval of the final weights), and one-line
// errors with a non-zero status for every kind of bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"
#include "framework/tensor/device_backend.h"
#include "support/run_compare.h"
#include "support/tool_run.h"

namespace torus {
namespace {

namespace fs = std::filesystem;
using test::read_file;

using test::run_tool;
using test::ToolRun;

// metrics.jsonl without the fields that measure time.
std::string metrics_without_timing(const fs::path& file) {
  std::string out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    auto record = nlohmann::ordered_json::parse(line);
    for (const char* timing : {"samples_per_s", "tokens_per_s", "time_s"}) record.erase(timing);
    out += record.dump() + "\n";
  }
  return out;
}

class TrainRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("torus_train_run_{}", ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // A small MLP config on Fashion-MNIST (or `data` instead), written into the test dir.
  fs::path config(const std::string& name, const std::string& extra = "",
                  const std::string& data = "dataset: fashion_mnist\n  batch_size: 64\n") {
    const fs::path file = dir_ / (name + ".yaml");
    std::ofstream(file) << fmt::format(
        "name: {}\nseed: 5\nmodel:\n  kind: mlp\n  mlp: {{hidden: [64]}}\ndata:\n  {}optimizer:\n  name: sgd\n"
        "  lr: 0.05\n  momentum: 0.9\ntrainer:\n  steps: 40\n  log_every: 5\n  eval_every: 20\n  run_dir: {}\n{}",
        name, data, dir_.string(), extra);
    return file;
  }
  // The one line a failed run prints, after checking it failed with `status`.
  std::string failure(const ToolRun& r, int status = 1) {
    EXPECT_EQ(r.status, status) << r.output;
    const size_t line = r.output.rfind("torus: ");
    EXPECT_NE(line, std::string::npos) << r.output;
    const std::string last = line == std::string::npos ? r.output : r.output.substr(line);
    EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << last;
    return last;
  }
  fs::path dir_;
};

TEST_F(TrainRun, SameConfigAndSeedGiveIdenticalMetricsAndWeights) {
  const fs::path a = config("a"), b = config("b");
  ASSERT_EQ(run_tool("train " + a.string()).status, 0);
  const ToolRun second = run_tool("train " + b.string());
  ASSERT_EQ(second.status, 0) << second.output;
  for (const char* file : {"config.resolved.yaml", "train.log", "metrics.jsonl", "final.safetensors"})
    EXPECT_TRUE(fs::exists(dir_ / "a" / file)) << file;
  const std::string metrics = metrics_without_timing(dir_ / "a" / "metrics.jsonl");
  EXPECT_EQ(metrics, metrics_without_timing(dir_ / "b" / "metrics.jsonl"));
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 8 + 2) << "8 logged steps and 2 evaluations";
  EXPECT_EQ(read_file(dir_ / "a" / "final.safetensors").substr(200), read_file(dir_ / "b" / "final.safetensors").substr(200))
      << "the weights (past the header, which names the run) are identical";
  // Every metrics line has the fields of DESIGN.md §3.
  std::ifstream in(dir_ / "a" / "metrics.jsonl");
  std::string first;
  std::getline(in, first);
  const auto record = nlohmann::json::parse(first);
  for (const char* key : {"step", "loss", "lr", "samples_per_s", "time_s"}) EXPECT_TRUE(record.contains(key)) << key;
  // The resolved config loads back as a valid config.
  EXPECT_EQ(run_tool("config check " + (dir_ / "a" / "config.resolved.yaml").string()).status, 0);
}

// The training losses of metrics.jsonl, in order (evaluation records left out).
std::vector<double> training_losses(const fs::path& file) {
  std::vector<double> losses;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record.contains("loss") && record.contains("lr")) losses.push_back(record["loss"].get<double>());
  }
  return losses;
}

// trainer.precision bf16 on the cpu: the emulated mixed precision trains, says so, and its
// losses are the f32 run's to bf16 accuracy without being identical to them.
TEST_F(TrainRun, Bf16PrecisionTrainsLikeF32ToBf16AccuracyAndSaysSo) {
  const ToolRun f32 = run_tool("train " + config("f32").string());
  ASSERT_EQ(f32.status, 0) << f32.output;
  const ToolRun bf16 = run_tool("train " + config("bf16", "  precision: bf16\n").string());
  ASSERT_EQ(bf16.status, 0) << bf16.output;
  EXPECT_NE(bf16.output.find("precision bf16: matmul and linear on bf16-rounded operands"), std::string::npos)
      << bf16.output;
  const std::vector<double> a = training_losses(dir_ / "f32" / "metrics.jsonl");
  const std::vector<double> b = training_losses(dir_ / "bf16" / "metrics.jsonl");
  ASSERT_EQ(a.size(), 8u);
  ASSERT_EQ(b.size(), a.size());
  EXPECT_NE(a, b) << "bf16 rounding changed no loss: the precision did not reach the products";
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 0.05 * a[i]) << "logged step " << i;
  EXPECT_LT(b.back(), b.front()) << "the bf16 run did not learn";
}

// init_from replaces the seeded initialisation: a run of another seed started from the
// initial weights of a first run trains exactly as that run (shuffling off, so the seed
// decides nothing else).
// A device this machine cannot use stops the run before its first step, saying why.
TEST_F(TrainRun, AnUnusableDeviceStopsTheRunBeforeItStarts) {
  if (device_backend::why_unavailable(Device::cuda(0)).empty()) GTEST_SKIP() << "cuda:0 is usable here";
  const std::string line = failure(run_tool("train " + config("gpu", "  device: cuda\n").string()));
  EXPECT_NE(line.find("trainer.device cuda: device cuda:0: "), std::string::npos) << line;
  EXPECT_FALSE(fs::exists(dir_ / "gpu" / "metrics.jsonl"));
}

TEST_F(TrainRun, InitFromStartsFromTheGivenWeights) {
  const std::string unshuffled = "dataset: fashion_mnist\n  batch_size: 64\n  shuffle: false\n";
  const fs::path first = config("first", "  save_initial: true\n", unshuffled);
  ASSERT_EQ(run_tool("train " + first.string()).status, 0);
  ASSERT_TRUE(fs::exists(dir_ / "first" / "initial.safetensors"));
  const ToolRun other = run_tool(fmt::format("train {} name=other seed=99 init_from={}", first.string(),
                                             (dir_ / "first" / "initial.safetensors").string()));
  ASSERT_EQ(other.status, 0) << other.output;
  EXPECT_EQ(metrics_without_timing(dir_ / "other" / "metrics.jsonl"),
            metrics_without_timing(dir_ / "first" / "metrics.jsonl"));
  const ToolRun fresh = run_tool(fmt::format("train {} name=fresh seed=99", first.string()));
  ASSERT_EQ(fresh.status, 0) << fresh.output;
  EXPECT_NE(metrics_without_timing(dir_ / "fresh" / "metrics.jsonl"),
            metrics_without_timing(dir_ / "first" / "metrics.jsonl"))
      << "another seed without init_from starts elsewhere";
}

TEST_F(TrainRun, EvalOfTheFinalWeightsOrTheRunDirectoryGivesTheRunsLastEvaluation) {
  const fs::path file = config("evaluated");
  ASSERT_EQ(run_tool("train " + file.string()).status, 0);
  nlohmann::json last_eval;
  std::ifstream in(dir_ / "evaluated" / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record.contains("eval_accuracy")) last_eval = record;
  }
  ASSERT_EQ(last_eval["step"], 40);
  const ToolRun eval = run_tool(fmt::format("eval {} --checkpoint {} --json", file.string(),
                                            (dir_ / "evaluated" / "final.safetensors").string()));
  ASSERT_EQ(eval.status, 0) << eval.output;
  const auto result = nlohmann::json::parse(eval.output);
  EXPECT_DOUBLE_EQ(result["eval_accuracy"].get<double>(), last_eval["eval_accuracy"].get<double>());
  EXPECT_DOUBLE_EQ(result["eval_loss"].get<double>(), last_eval["eval_loss"].get<double>());
  EXPECT_EQ(result["samples"], 10000);
  EXPECT_GT(result["eval_accuracy"].get<double>(), 0.6) << "40 steps of SGD learn something";
  // The run directory (its newest checkpoint) holds the same weights.
  const ToolRun from_run = run_tool(fmt::format("eval {} --checkpoint {} --json", file.string(),
                                                (dir_ / "evaluated").string()));
  ASSERT_EQ(from_run.status, 0) << from_run.output;
  EXPECT_EQ(nlohmann::json::parse(from_run.output)["eval_loss"], result["eval_loss"]);
}

TEST_F(TrainRun, MissingOrCorruptDatasetFilesAreOneLineErrors) {
  const std::string missing = failure(run_tool("train " + config("missing", "", "dataset: fashion_mnist\n  path: " +
                                                                                   (dir_ / "nowhere").string() + "\n")
                                                                   .string()));
  EXPECT_NE(missing.find("nowhere"), std::string::npos) << missing;

  // A copy of the dataset whose training images are cut short.
  const fs::path broken = dir_ / "broken";
  fs::create_directories(broken);
  for (const char* f : {"train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"})
    fs::copy_file(fs::path("/usr/share/datasets/fashion-mnist") / f, broken / f);
  const std::string images = read_file("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
  std::ofstream(broken / "train-images-idx3-ubyte.gz", std::ios::binary) << images.substr(0, images.size() / 2);
  const std::string corrupt =
      failure(run_tool("train " + config("corrupt", "", "dataset: fashion_mnist\n  path: " + broken.string() + "\n")
                                      .string()));
  EXPECT_NE(corrupt.find("train-images-idx3-ubyte.gz"), std::string::npos) << corrupt;
}

TEST_F(TrainRun, LabelOutOfRangeAndShapeMismatchAreOneLineErrors) {
  const fs::path arrays = dir_ / "arrays.safetensors";
  Tensor x = Tensor::zeros({8, 4});
  Tensor y = Tensor::from_vector({0, 1, 2, 12, 3, 4, 5, 6}, {8}, DType::i64);
  io::save_safetensors(arrays.string(), {{"x", x}, {"y", y}});
  const std::string data = "dataset: safetensors\n  path: " + arrays.string() + "\n  batch_size: 4\n";
  const std::string label = failure(run_tool(
      "train " + config("labels", "", data).string() + " model.mlp.classes=10 data.eval_fraction=0.5"));
  EXPECT_NE(label.find("12"), std::string::npos) << label;
  EXPECT_NE(label.find("arrays.safetensors"), std::string::npos) << label;

  const std::string shape =
      failure(run_tool("train " + config("shape").string() + " model.mlp.input_size=100"));
  EXPECT_NE(shape.find("model.mlp.input_size 100"), std::string::npos) << shape;
  EXPECT_NE(shape.find("784 values"), std::string::npos) << shape;
}

TEST_F(TrainRun, ADivergingLossStopsTheRunNamingTheStep) {
  const std::string nan = failure(run_tool("train " + config("diverging").string() + " optimizer.lr=1e6"));
  EXPECT_NE(nan.find("step "), std::string::npos) << nan;
  EXPECT_NE(nan.find(": the loss is "), std::string::npos) << nan;
  EXPECT_NE(nan.find("optimizer.lr"), std::string::npos) << nan;
}

// The deferred loss reads of a device run (distributed/train/step_losses.h), forced on the cpu
// with TORUS_TEST_DEFER_LOSSES=1: the same metrics and weights as reading every step; a
// diverging run fails naming the same step, and commits no checkpoint at or past it.
TEST_F(TrainRun, DeferredLossReadsGiveTheSameRunAndStopAtTheSameStep) {
  const std::string defer = "TORUS_TEST_DEFER_LOSSES=1";
  ASSERT_EQ(run_tool("train " + config("immediate").string()).status, 0);
  const ToolRun deferred = run_tool("train " + config("deferred").string(), defer);
  ASSERT_EQ(deferred.status, 0) << deferred.output;
  EXPECT_EQ(metrics_without_timing(dir_ / "immediate" / "metrics.jsonl"),
            metrics_without_timing(dir_ / "deferred" / "metrics.jsonl"));
  EXPECT_EQ(read_file(dir_ / "immediate" / "final.safetensors").substr(200),
            read_file(dir_ / "deferred" / "final.safetensors").substr(200));

  // Checkpoints every 3 steps, a log line every 20: the deferred run reads at each save.
  const std::string diverging = " optimizer.lr=1e6 trainer.log_every=20 checkpoint.every_steps=3";
  const std::string now = failure(run_tool("train " + config("diverge_now").string() + diverging));
  const std::string later = failure(run_tool("train " + config("diverge_later").string() + diverging, defer));
  const std::regex failing_step("step ([0-9]+): the loss is");
  std::smatch at_now, at_later;
  ASSERT_TRUE(std::regex_search(now, at_now, failing_step)) << now;
  ASSERT_TRUE(std::regex_search(later, at_later, failing_step)) << later;
  EXPECT_EQ(at_later[1].str(), at_now[1].str()) << later;
  const int64_t failed = std::stoll(at_later[1].str());
  for (const auto& entry : fs::directory_iterator(dir_ / "diverge_later" / "checkpoints")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step_", 0) == 0 && name.find(".tmp") == std::string::npos) {
      EXPECT_LT(std::stoll(name.substr(5)), failed) << name << ": committed at or past the step whose loss was NaN";
    }
  }
}

// resume=auto on a fresh run directory says there is nothing to resume and starts at step 0.
TEST_F(TrainRun, ResumeAutoWithoutACheckpointStartsAtStepZeroAndSaysSo) {
  const ToolRun r = run_tool("train " + config("fresh").string() + " resume=auto");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resume=auto: no intact checkpoint in"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "fresh" / "checkpoints" / "latest")) << "the run's final checkpoint";
}

TEST_F(TrainRun, ConfigErrorsExitWithStatusTwoAndStartNothing) {
  const std::string typo = failure(run_tool("train " + config("typo").string() + " optimizer.lrr=0.1"), 2);
  EXPECT_NE(typo.find("did you mean 'lr'"), std::string::npos) << typo;
  EXPECT_FALSE(fs::exists(dir_ / "typo")) << "no run directory for a config that did not load";
}

}  // namespace
}  // namespace torus
