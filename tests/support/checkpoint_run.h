// What the checkpoint tests of both formats share (checkpoint_test.cpp,
// checkpoint_hdf5_test.cpp): their two workloads, and a fixture that finds a run's
// checkpoints, crashes a run before step 10 and resumes it, and expects a resume refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "support/multi_rank_run.h"
#include "support/workloads.h"

namespace torus::test {

inline const Workload kCheckpointMlp{"mlp", kMlpModel + fashion_mnist_data("0.005") + clipped(kAdamW, 0.5)};
inline const Workload kCheckpointGpt{"gpt", kGptModel + kSyntheticTokens + kSgdMomentum};

class CheckpointRunBase : public MultiRankRun {
 protected:
  // 12 steps, evaluated every 4, a checkpoint every 4, all kept; `checkpoint_lines` adds
  // to the checkpoint section (the format, say).
  void write_resume_config(const std::string& tag, const std::string& checkpoint_lines = "") {
    write_config(tag, "seed: 5\n{body}trainer:\n  steps: 12\n  log_every: 1\n  eval_every: 4\n  threads: 1\n"
                      "  run_dir: {run_dir}\ncheckpoint:\n  every_steps: 4\n  keep_last: 0\n" +
                          checkpoint_lines);
  }
  std::filesystem::path checkpoint(const std::string& run, int64_t step) const {
    return dir_ / run / "checkpoints" / fmt::format("step_{:08d}", step);
  }
  // A run whose rank 0 fails before step 10 (after the step 8 checkpoint is committed),
  // then resumed with resume=auto; by default on as many ranks with the same overrides.
  std::filesystem::path crash_and_resume(int ranks, const std::string& name, const std::string& overrides,
                                         int resume_ranks = 0, const std::string& resume_overrides = "") {
    const ToolRun crashed = run(ranks, name, overrides, "TORUS_TEST_FAIL_AT=0:10");
    EXPECT_NE(crashed.status, 0) << crashed.output;
    EXPECT_TRUE(std::filesystem::exists(checkpoint(name, 8) / "manifest.json"));
    return train(resume_ranks > 0 ? resume_ranks : ranks, name,
                 "resume=auto " + (resume_overrides.empty() ? overrides : resume_overrides));
  }
  // resume=PATH of a damaged checkpoint: the failure's output.
  std::string refusal(const std::filesystem::path& path) {
    const ToolRun r = run(1, "refused", "resume=" + path.string());
    EXPECT_NE(r.status, 0) << r.output;
    return r.output;
  }
};

}  // namespace torus::test
