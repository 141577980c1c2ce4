// Reproducible mode (distributed.reproducible): for a fixed global batch and one thread
// per rank, `torus train` on 1, 2, 3 and 4 ranks writes bit-for-bit the same weights after
// 20 steps and logs the same losses, for the MLP (SGD with momentum) and the GPT (AdamW,
// which amplifies any difference in the low bits of a gradient), with ZeRO stages 1, 2 and
// 3 or without; the mode trains like the standard one; and its config rules name the fields
// they concern.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "support/multi_rank_run.h"
#include "support/run_compare.h"
#include "support/tool_run.h"
#include "support/workloads.h"

namespace torus {
namespace {

namespace fs = std::filesystem;
using test::read_file;

using test::Workload;

const Workload kMlp{"mlp", test::kMlpModel + test::fashion_mnist_data("0") + test::kSgdMomentum};
const Workload kGpt{"gpt", test::kGptModel + test::kSyntheticTokens + test::kAdamW};

const std::string kMlpConfig = std::string(TORUS_SOURCE_DIR) + "/configs/fashion_mnist_mlp.yaml";

class ReproducibleRun : public test::MultiRankRun {
 protected:
  void SetUp() override {
    write_config("repro", "seed: 3\n{body}trainer:\n  steps: 20\n  log_every: 1\n  threads: 1\n  run_dir: {run_dir}\n"
                          "distributed:\n  reproducible: true\n  reproducible_shards: 12\n");
  }
};

// The loss of every logged step, from metrics.jsonl.
std::vector<double> losses(const fs::path& run) {
  std::vector<double> out;
  for (const auto& record : test::read_metrics(run))
    if (record.contains("loss")) out.push_back(record["loss"].get<double>());
  return out;
}

TEST_P(ReproducibleRun, EveryRankCountWritesTheSameBits) {
  const fs::path one = train(1, "r1");
  const std::string weights = read_file(one / "final.safetensors");
  const std::vector<double> logged = losses(one);
  ASSERT_FALSE(weights.empty());
  ASSERT_EQ(logged.size(), 20u);
  for (int ranks : {2, 3, 4}) {
    const fs::path run = train(ranks, fmt::format("r{}", ranks));
    EXPECT_TRUE(read_file(run / "final.safetensors") == weights)
        << ranks << " ranks wrote other weights than 1 rank";
    EXPECT_EQ(losses(run), logged) << ranks << " ranks";
  }
}

TEST_P(ReproducibleRun, WithZeroEveryRankCountWritesTheBitsOfNoSharding) {
  // The optimizer's update is elementwise, so sharding its state changes no bit either.
  const std::string weights = read_file(train(1, "plain") / "final.safetensors");
  ASSERT_FALSE(weights.empty());
  for (int stage : {1, 2, 3}) {
    for (int ranks : {1, 2, 3, 4}) {
      const fs::path run =
          train(ranks, fmt::format("zero{}_r{}", stage, ranks), fmt::format("distributed.zero_stage={}", stage));
      EXPECT_TRUE(read_file(run / "final.safetensors") == weights)
          << "ZeRO stage " << stage << " on " << ranks << " ranks wrote other weights than no sharding";
    }
  }
}

TEST_P(ReproducibleRun, TrainsLikeTheStandardMode) {
  // Same data, same recipe: the losses agree to rounding (float sums in another order).
  const std::vector<double> exact = losses(train(1, "exact"));
  const std::vector<double> standard = losses(train(1, "standard", "distributed.reproducible=false"));
  ASSERT_EQ(exact.size(), standard.size());
  ASSERT_FALSE(exact.empty());
  EXPECT_NEAR(exact.back(), standard.back(), 1e-3 * standard.back());
}

INSTANTIATE_TEST_SUITE_P(Workloads, ReproducibleRun, ::testing::Values(kMlp, kGpt),
                         [](const auto& info) { return info.param.name; });

TEST(ReproducibleConfig, ShardsThatDoNotDivideTheBatchAreAnErrorNamingBoth) {
  const test::ToolRun r = test::run_tool(
      "config check " + kMlpConfig + " distributed.reproducible=true distributed.reproducible_shards=7");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("distributed.reproducible_shards"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("7 shards do not divide data.batch_size"), std::string::npos) << r.output;
}

TEST(ReproducibleConfig, ShardsTheRanksDoNotDivideAreAnErrorNamingBoth) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("torus_repro_ranks_{}", ::getpid());
  fs::create_directories(dir);
  const test::ToolRun r = test::run_tool(
      fmt::format("train {} trainer.run_dir={} trainer.steps=1 schedule.warmup_steps=0 data.batch_size=48 "
                  "distributed.reproducible=true distributed.reproducible_shards=4",
                  kMlpConfig, dir.string()),
      fmt::format("{} --oversubscribe --allow-run-as-root -np 3", TORUS_MPIEXEC));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("reproducible_shards 4 is not a multiple of the 3 ranks"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace torus
