// Where the ranks of a device run compute (launcher/rank_placement.h), without a GPU: the
// device of each local rank, the refusals of layouts NCCL cannot run, of backends that
// cannot carry the gradients, and of what is not built on devices yet (config time); and,
// through `torus train` under mpirun with 2 ranks, that a refused layout stops the job
// before its first step with one line naming the field.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "framework/tensor/device_backend.h"
#include "launcher/config.h"
#include "launcher/rank_placement.h"
#include "support/error_message.h"
#include "support/tool_run.h"

namespace torus::cli {
namespace {

using test::contains;

comm::WorldInfo world(int rank, int size, int local_rank, int local_size) {
  return {rank, size, local_rank, local_size, "node7"};
}

TEST(RankDevice, CpuAndAWorldOfOneTakeTheDeviceNamed) {
  EXPECT_EQ(choose_rank_device("cpu", world(3, 4, 1, 2), 0), Device::cpu());
  EXPECT_EQ(choose_rank_device("cuda", world(0, 1, 0, 1), 2), Device::cuda(0));
  EXPECT_EQ(choose_rank_device("cuda:1", world(0, 1, 0, 1), 2), Device::cuda(1));
}

TEST(RankDevice, EachLocalRankTakesItsOwnDevice) {
  EXPECT_EQ(choose_rank_device("cuda", world(0, 4, 0, 2), 2), Device::cuda(0));
  EXPECT_EQ(choose_rank_device("cuda", world(1, 4, 1, 2), 2), Device::cuda(1));
  EXPECT_EQ(choose_rank_device("cuda", world(2, 4, 0, 2), 2), Device::cuda(0));  // the second host
  EXPECT_EQ(choose_rank_device("cuda", world(5, 8, 1, 2), 8), Device::cuda(1));  // fewer ranks than devices
  EXPECT_EQ(choose_rank_device("cuda", world(3, 4, 3, 0), 4), Device::cuda(3));  // local size not given
}

TEST(RankDevice, AFixedDeviceWithSeveralRanksIsRefusedWithTheRule) {
  const std::string what = test::error_of([] { choose_rank_device("cuda:1", world(0, 2, 0, 2), 2); });
  EXPECT_TRUE(contains(what, "trainer.device cuda:1 with 2 ranks: a fixed device would put every rank of a host on "
                             "cuda:1, and NCCL needs one device per rank; set trainer.device: cuda"))
      << what;
  EXPECT_TRUE(contains(what, "CUDA_VISIBLE_DEVICES")) << what;
  // Even with one rank per host: one rule for every layout.
  EXPECT_FALSE(test::error_of([] { choose_rank_device("cuda:0", world(1, 2, 0, 1), 1); }).empty());
}

// Where each rank sees only its own GPU (srun --gpus-per-task, a per-rank
// CUDA_VISIBLE_DEVICES) every rank takes its cuda:0, whatever the local size says; more
// ranks than a host's devices wrap around, and NCCL refuses the duplicates itself.
TEST(RankDevice, RanksThatSeeOneDeviceEachTakeTheirCuda0) {
  for (int local = 0; local < 4; ++local)
    EXPECT_EQ(choose_rank_device("cuda", world(local, 4, local, 4), 1), Device::cuda(0)) << "local rank " << local;
  EXPECT_EQ(choose_rank_device("cuda", world(2, 4, 2, 0), 1), Device::cuda(0));  // local size not given (Slurm)
  EXPECT_EQ(choose_rank_device("cuda", world(3, 4, 3, 4), 2), Device::cuda(1));  // wraps around
}

TEST(RankDevice, NoDeviceIsRefusedWithTheReason) {
  const std::string what =
      test::error_of([] { choose_rank_device("cuda", world(1, 2, 1, 2), 0, "no CUDA driver on this machine"); });
  EXPECT_TRUE(contains(what, "trainer.device cuda: rank 1 of 2 on node7 sees no CUDA device: no CUDA driver on this "
                             "machine"))
      << what;
}

TEST(GradientGroup, DeviceRunsOfSeveralRanksReduceOnTheDevice) {
  EXPECT_TRUE(gradients_on_device(config::Backend::auto_, Device::cuda(0), 2));
  EXPECT_TRUE(gradients_on_device(config::Backend::nccl, Device::cuda(1), 8));
  EXPECT_FALSE(gradients_on_device(config::Backend::auto_, Device::cpu(), 2));
  EXPECT_FALSE(gradients_on_device(config::Backend::mpi, Device::cpu(), 2));
  EXPECT_FALSE(gradients_on_device(config::Backend::auto_, Device::cuda(0), 1));  // nothing to reduce
  EXPECT_FALSE(gradients_on_device(config::Backend::mpi, Device::cuda(0), 1));
}

TEST(GradientGroup, ZeroOnADeviceShardsThroughADeviceGroupEvenInAWorldOfOne) {
  EXPECT_TRUE(gradients_on_device(config::Backend::auto_, Device::cuda(0), 1, /*sharded=*/true));
  EXPECT_TRUE(gradients_on_device(config::Backend::nccl, Device::cuda(0), 4, /*sharded=*/true));
  EXPECT_FALSE(gradients_on_device(config::Backend::auto_, Device::cpu(), 1, /*sharded=*/true));
  EXPECT_FALSE(gradients_on_device(config::Backend::nccl, Device::cpu(), 1, /*sharded=*/true));  // as before: one rank
  const std::string mpi =
      test::error_of([] { gradients_on_device(config::Backend::mpi, Device::cuda(0), 1, /*sharded=*/true); });
  EXPECT_TRUE(contains(mpi, "distributed.backend mpi: trainer.device cuda:0 keeps gradients on the device")) << mpi;
}

TEST(GradientGroup, ABackendThatCannotCarryTheGradientsIsRefusedByName) {
  const std::string mpi = test::error_of([] { gradients_on_device(config::Backend::mpi, Device::cuda(0), 2); });
  EXPECT_TRUE(contains(mpi, "distributed.backend mpi: trainer.device cuda:0 keeps gradients on the device")) << mpi;
  const std::string nccl = test::error_of([] { gradients_on_device(config::Backend::nccl, Device::cpu(), 2); });
  EXPECT_TRUE(contains(nccl, "distributed.backend nccl: NCCL reduces device tensors, but trainer.device is cpu"))
      << nccl;
}

// ---- config time ----

constexpr const char* kMinimal = "model:\n  kind: mlp\ndata:\n  dataset: fashion_mnist\n";

std::string load_error(const std::vector<std::string>& overrides) {
  try {
    config::load_text(kMinimal, config::format_of("cfg.yaml"), "cfg.yaml", overrides);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "loaded";
}

TEST(DeviceConfig, ZeroOnADeviceLoads) {
  for (const char* stage : {"distributed.zero_stage=1", "distributed.zero_stage=2", "distributed.zero_stage=3"}) {
    EXPECT_EQ(load_error({"trainer.device=cuda", stage}), "loaded") << stage;
    EXPECT_EQ(load_error({"trainer.device=cpu", stage}), "loaded") << stage;
  }
  EXPECT_EQ(load_error({"trainer.device=cuda:1"}), "loaded");
}

TEST(DeviceConfig, ReproducibleModeOnADeviceLoads) {
  EXPECT_EQ(load_error({"trainer.device=cuda:0", "distributed.reproducible=true", "distributed.reproducible_shards=8"}),
            "loaded");
  EXPECT_EQ(load_error({"trainer.device=cuda", "distributed.reproducible=true", "distributed.reproducible_shards=8",
                        "distributed.zero_stage=2"}),
            "loaded");
}

// ---- through the tool, 2 ranks ----

class DeviceRunRefusal : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("torus_rank_placement_{}", ::getpid());
    std::filesystem::create_directories(dir_);
    config_ = dir_ / "config.yaml";
    std::ofstream(config_) << "model:\n  kind: mlp\n  mlp: {hidden: [16]}\ndata:\n  dataset: fashion_mnist\n"
                              "  batch_size: 48\ntrainer:\n  steps: 2\n  run_dir: "
                           << dir_.string() << "\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  test::ToolRun train_two_ranks(const std::string& overrides) {
    return test::run_tool(fmt::format("train {} name=r {}", config_.string(), overrides),
                          fmt::format("timeout 120 {} --oversubscribe --allow-run-as-root -np 2", TORUS_MPIEXEC));
  }
  std::filesystem::path dir_, config_;
};

TEST_F(DeviceRunRefusal, AFixedDeviceStopsTheJobBeforeItsFirstStep) {
  const test::ToolRun r = train_two_ranks("trainer.device=cuda:0");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "the job hung:\n" << r.output;
  EXPECT_TRUE(contains(r.output, "trainer.device cuda:0 with 2 ranks: a fixed device")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "r" / "metrics.jsonl"));
}

TEST_F(DeviceRunRefusal, TheMpiBackendWithADeviceStopsTheJobBeforeItLoads) {
  const test::ToolRun r = train_two_ranks("trainer.device=cuda distributed.backend=mpi");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "the job hung:\n" << r.output;
  EXPECT_TRUE(contains(r.output, "distributed.backend mpi: trainer.device cuda:0 keeps gradients on the device"))
      << r.output;
}

TEST_F(DeviceRunRefusal, NoDeviceStopsTheJobSayingWhy) {
  if (device_backend::cuda_device_count() > 0) GTEST_SKIP() << "this machine has a CUDA device";
  const test::ToolRun r = train_two_ranks("trainer.device=cuda");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "the job hung:\n" << r.output;
  EXPECT_TRUE(contains(r.output, "sees no CUDA device")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "r" / "metrics.jsonl"));
}

}  // namespace
}  // namespace torus::cli
