// ZeRO stages 1, 2 and 3 through `mpirun -np N torus train`: the same per-step losses and
// final weights as stage 0 (data parallelism) within 1e-6 at 2 and 4 ranks (every bucket
// through shared memory, where reduce-scatter sums in all-reduce's order), for the MLP
// (AdamW, gradient clipping) and the GPT (SGD with momentum, clipping), with gradient
// accumulation; per-rank optimizer state (stages 1-3), gradient buffers (stages 2, 3) and
// parameters (stage 3) at 4 ranks about a quarter of stage 0's, as each rank reports in
// train.log.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include "support/run_compare.h"
#include "support/multi_rank_run.h"
#include "support/tool_run.h"
#include "support/workloads.h"

namespace torus {
namespace {

namespace fs = std::filesystem;

using test::Workload;

const Workload kMlp{"mlp", test::kMlpModel + test::fashion_mnist_data("0") + test::clipped(test::kAdamW, 0.5)};
const Workload kGpt{"gpt", test::kGptModel + test::kSyntheticTokens + test::clipped(test::kSgdMomentum, 1.0)};

struct Memory {
  double parameters = 0, gradients = 0, optimizer_state = 0;  // MiB, rank 0's, between steps
};

class ZeroRun : public test::MultiRankRun {
 protected:
  void SetUp() override {
    // Small buckets, so even these models have several, and chunks straddle tensors.
    write_config("zero", "seed: 11\n{body}trainer:\n  steps: 12\n  log_every: 1\n  threads: 1\n  grad_accumulation: 2\n"
                         "  run_dir: {run_dir}\ndistributed:\n  bucket_mb: 0.05\n");
  }
  fs::path train(int ranks, int stage) {
    return MultiRankRun::train(ranks, fmt::format("r{}_s{}", ranks, stage), fmt::format("distributed.zero_stage={}", stage),
                               "TORUS_SHM_MIN_BYTES=0");
  }
};

Memory memory_of(const fs::path& run) {
  std::ifstream in(run / "train.log");
  const std::string log{std::istreambuf_iterator<char>(in), {}};
  std::smatch m;
  const std::regex line(R"(\[rank 0\] memory on this rank: parameters ([0-9.]+) MiB[^,]*, gradients ([0-9.]+) MiB, )"
                        R"(optimizer state ([0-9.]+) MiB)");
  EXPECT_TRUE(std::regex_search(log, m, line)) << log;
  if (m.empty()) return {};
  return {std::stod(m[1]), std::stod(m[2]), std::stod(m[3])};
}

TEST_P(ZeroRun, EveryStageTrainsAsStageZero) {
  for (int ranks : {2, 4}) {
    const fs::path reference = train(ranks, 0);
    for (int stage : {1, 2, 3}) {
      const fs::path run = train(ranks, stage);
      const std::string what = fmt::format("{} ranks, stage {}", ranks, stage);
      test::expect_metrics_near(reference, run, 1e-6, what);
      test::expect_weights_near(reference, run, 1e-6, what);
    }
  }
}

TEST_P(ZeroRun, FourRanksHoldAQuarterOfTheShardedState) {
  const Memory zero = memory_of(train(4, 0)), one = memory_of(train(4, 1)), two = memory_of(train(4, 2)),
               three = memory_of(train(4, 3));
  ASSERT_GT(zero.optimizer_state, 0);
  // Chunks are padded to 16 x 4 elements per bucket: a little over a quarter.
  for (const Memory* sharded : {&one, &two, &three})
    EXPECT_NEAR(sharded->optimizer_state / zero.optimizer_state, 0.25, 0.02);
  EXPECT_NEAR(two.gradients / zero.gradients, 0.25, 0.02);
  EXPECT_NEAR(three.gradients / zero.gradients, 0.25, 0.02);
  EXPECT_GT(one.gradients, zero.gradients) << "stage 1 keeps the full gradients (and its shard of them)";
  EXPECT_EQ(two.parameters, zero.parameters) << "stages 1 and 2 keep the whole model on every rank";
  EXPECT_NEAR(three.parameters / zero.parameters, 0.25, 0.02);
}

INSTANTIATE_TEST_SUITE_P(Workloads, ZeroRun, ::testing::Values(kMlp, kGpt),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace torus
