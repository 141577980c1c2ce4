// Checkpoints through `mpirun -np N torus train`: a run that crashes and resumes with
// resume=auto logs the metrics (apart from timing) and writes the weights of a run that
// never stopped, bit for bit, with ZeRO stages 0, 2 and 3; a checkpoint saved on 4 ranks
// resumes on 1, 2 and 3 ranks and another ZeRO stage (bitwise in reproducible mode,
// within 1e-5 otherwise); a rank killed at every point of a save leaves a checkpoint that
// loads, and the previous one byte-identical; corrupt, truncated, incomplete and foreign
// checkpoints are skipped or refused with one line naming the file and the problem;
// keep_last prunes; Python's safetensors package reads every shard; SIGUSR1 or SIGTERM
// stops a run with a checkpoint and the "requeue me" status.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <nlohmann/json.hpp>

#include "support/checkpoint_run.h"
#include "support/error_message.h"
#include "support/run_compare.h"
#include "support/tool_run.h"

namespace torus {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::untimed_metrics;

std::vector<double> training_losses(const fs::path& run) {
  std::vector<double> out;
  for (const auto& r : test::read_metrics(run))
    if (r.contains("loss")) out.push_back(r["loss"].get<double>());
  return out;
}

// Every file of a checkpoint directory, by name.
std::map<std::string, std::string> files_of(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) out[entry.path().filename().string()] = read_file(entry.path());
  return out;
}

class CheckpointRun : public test::CheckpointRunBase {
 protected:
  void SetUp() override { write_resume_config("ckpt"); }
};

TEST_P(CheckpointRun, ACrashedRunResumesExactlyAsIfItNeverStopped) {
  for (int stage : {0, 2, 3}) {
    const std::string zero = fmt::format("distributed.zero_stage={}", stage);
    const fs::path full = train(2, fmt::format("full_s{}", stage), zero);
    const fs::path resumed = crash_and_resume(2, fmt::format("cut_s{}", stage), zero);
    EXPECT_EQ(untimed_metrics(resumed), untimed_metrics(full)) << "stage " << stage;
    EXPECT_TRUE(read_file(resumed / "final.safetensors") == read_file(full / "final.safetensors")) << "stage " << stage;
    EXPECT_NE(read_file(resumed / "train.log").find("resumed from"), std::string::npos);
  }
}

TEST_P(CheckpointRun, ACheckpointOfFourRanksResumesOnOneTwoAndThree) {
  const fs::path full = train(4, "full4");
  for (int ranks : {1, 2, 3}) {
    const std::string name = fmt::format("from4_to{}", ranks);
    const fs::path resumed = crash_and_resume(4, name, "distributed.zero_stage=2", ranks,
                                              fmt::format("distributed.zero_stage={}", ranks == 2 ? 3 : 0));
    test::expect_metrics_near(full, resumed, 1e-5, name);
    test::expect_weights_near(full, resumed, 1e-5, name);
  }
}

TEST_P(CheckpointRun, InReproducibleModeAnyRankCountAndStageResumesBitForBit) {
  const std::string repro = "distributed.reproducible=true distributed.reproducible_shards=12 optimizer.grad_clip_norm=0";
  const fs::path full = train(2, "full", repro);
  const struct {
    int save_ranks, save_stage, resume_ranks, resume_stage;
  } cases[] = {{4, 3, 3, 0}, {1, 0, 4, 2}, {3, 1, 2, 3}};
  for (const auto& c : cases) {
    const std::string name = fmt::format("r{}s{}_to_r{}s{}", c.save_ranks, c.save_stage, c.resume_ranks, c.resume_stage);
    const fs::path resumed =
        crash_and_resume(c.save_ranks, name, fmt::format("{} distributed.zero_stage={}", repro, c.save_stage),
                         c.resume_ranks, fmt::format("{} distributed.zero_stage={}", repro, c.resume_stage));
    // Training losses to the bit; evaluation is not part of the guarantee (each rank
    // averages its slice's losses in f32, and slices follow the rank count).
    EXPECT_EQ(training_losses(resumed), training_losses(full)) << name;
    test::expect_metrics_near(full, resumed, 1e-6, name);
    EXPECT_TRUE(read_file(resumed / "final.safetensors") == read_file(full / "final.safetensors")) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Workloads, CheckpointRun, ::testing::Values(test::kCheckpointMlp, test::kCheckpointGpt),
                         [](const auto& info) { return info.param.name; });

// The checks on bad input and pruning need one workload only.
class CheckpointFiles : public test::CheckpointRunBase {
 protected:
  void SetUp() override {
    write_config("ckptfiles", "seed: 5\n{body}trainer:\n  steps: 8\n  log_every: 1\n  threads: 1\n"
                              "  run_dir: {run_dir}\ncheckpoint:\n  every_steps: 4\n");
  }
};

TEST_P(CheckpointFiles, ARankKilledAnywhereInASaveLeavesALoadableCheckpointAndThePreviousUntouched) {
  // Both formats (HDF5 writes fewer files: fewer points); every try reuses one run name,
  // so its files (the resolved config included) are comparable.
  for (const auto& [format, least_points] : {std::pair{"safetensors", 30}, std::pair{"hdf5", 15}}) {
    const std::string overrides = fmt::format("checkpoint.format={}", format);
    const fs::path run_dir = train(2, "kill", overrides);
    const std::map<std::string, std::string> step4 = files_of(checkpoint("kill", 4));
    const std::string weights = read_file(run_dir / "final.safetensors");
    int points = 0;
    for (int rank : {0, 1}) {
      for (int n = 1;; ++n) {
        fs::remove_all(run_dir);
        const std::string what = fmt::format("{}: rank {} killed at point {}", format, rank, n);
        const test::ToolRun r = run(2, "kill", overrides, fmt::format("TORUS_TEST_CRASH_AT={}:8:{}", rank, n));
        if (r.status == 0) break;  // past the last point of this rank's save
        ++points;
        ASSERT_LT(n, 100) << r.output;
        EXPECT_TRUE(files_of(checkpoint("kill", 4)) == step4) << what << ": the previous checkpoint changed";
        // The killed save is either committed whole or not at all, and resume=auto takes
        // the newest intact one (skipping step_8.tmp or a step_8 without its manifest).
        train(2, "kill", overrides + " resume=auto");
        EXPECT_TRUE(read_file(run_dir / "final.safetensors") == weights) << what;
      }
    }
    EXPECT_GE(points, least_points) << "kill points in a 2-rank " << format << " save";
    fs::remove_all(run_dir);
  }
}

TEST_P(CheckpointFiles, DamagedCheckpointsAreSkippedByAutoAndRefusedByPathNamingTheProblem) {
  train(2, "run");
  const fs::path step8 = checkpoint("run", 8), step4 = checkpoint("run", 4);
  const fs::path shard = step8 / "shard-00001-of-00002.safetensors";
  {  // a flipped byte
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  EXPECT_TRUE(test::contains(refusal(step8), "shard-00001-of-00002.safetensors: checksum mismatch"));
  const test::ToolRun skipped = run(2, "run", "resume=auto");
  EXPECT_EQ(skipped.status, 0) << skipped.output;
  EXPECT_TRUE(test::contains(skipped.output, "resume=auto: skipped")) << skipped.output;
  EXPECT_TRUE(test::contains(skipped.output, "resumed from " + step4.string())) << skipped.output;

  fs::resize_file(step8 / "shard-00000-of-00002.safetensors", 64);  // truncated (step 8 was saved again)
  EXPECT_TRUE(test::contains(refusal(step8), "64 bytes, the manifest says"));
  fs::remove(step4 / "shard-00001-of-00002.safetensors");
  EXPECT_TRUE(test::contains(refusal(step4), "shard-00001-of-00002.safetensors: missing"));
  fs::remove(step4 / "manifest.json");
  EXPECT_TRUE(test::contains(refusal(step4), "not committed"));
}

TEST_P(CheckpointFiles, ACheckpointOfAnotherModelOrNoneIsRefused) {
  train(1, "run");
  const test::ToolRun other = run(1, "other", "model.gpt.d_model=48 resume=" + checkpoint("run", 8).string());
  EXPECT_NE(other.status, 0);
  EXPECT_TRUE(test::contains(other.output, "load_state_dict")) << other.output;
  EXPECT_TRUE(test::contains(refusal(dir_ / "run" / "checkpoints" / "nothing"), "not committed"));
}

TEST_P(CheckpointFiles, KeepLastPrunesOnlyAfterANewCheckpointIsCommitted) {
  write_config("ckptkeep", "seed: 5\n{body}trainer:\n  steps: 16\n  log_every: 4\n  threads: 1\n"
                           "  run_dir: {run_dir}\ncheckpoint:\n  every_steps: 4\n  keep_last: 2\n");
  const fs::path run_dir = train(2, "kept");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(run_dir / "checkpoints")) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"latest", "step_00000012", "step_00000016"}));
  EXPECT_EQ(read_file(run_dir / "checkpoints" / "latest"), "step_00000016\n");
}

TEST_P(CheckpointFiles, PythonsSafetensorsReadsEveryShardAndTheIndexRebuildsTheWeights) {
  const fs::path run_dir = train(3, "py", "distributed.zero_stage=3");
  const std::string script = R"(
import json, sys
import numpy as np
from safetensors.numpy import load_file
ckpt, final = sys.argv[1], sys.argv[2]
index = json.load(open(ckpt + "/index.json"))
weights = load_file(final)
files = {}
for name, spec in index["tensors"].items():
    whole = np.zeros(int(np.prod(spec["shape"])), dtype=np.float32)
    for p in spec["pieces"]:
        shard = files.setdefault(p["file"], load_file(ckpt + "/" + p["file"]))
        whole[p["start"]:p["start"] + p["count"]] = shard[p["key"]]
    if name.startswith("model."):
        assert np.array_equal(whole.reshape(spec["shape"]), weights[name[6:]]), name
print("checked", len(index["tensors"]))
)";
  std::ofstream(dir_ / "read.py") << script;
  const test::ToolRun r = test::run_command(fmt::format("{} {} {} {}", TORUS_TEST_PYTHON, (dir_ / "read.py").string(),
                                                        checkpoint("py", 8).string(), (run_dir / "final.safetensors").string()));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(test::contains(r.output, "checked")) << r.output;
}

// SIGUSR1 to mpirun (forwarded to every rank) or SIGTERM to a single process, as a
// scheduler sends before a time limit: the run commits a checkpoint of the step it is in,
// exits with status 75, and resume=auto finishes it as if it never stopped.
TEST_P(CheckpointFiles, ASignalledRunCheckpointsExitsForRequeueAndResumesExactly) {
  write_config("ckptstop", "seed: 5\n{body}trainer:\n  steps: 300\n  log_every: 1\n  threads: 1\n"
                           "  run_dir: {run_dir}\ncheckpoint:\n  every_steps: 0\n");
  for (const auto& [ranks, signal] : {std::pair{2, "USR1"}, std::pair{1, "TERM"}}) {
    const std::string name = fmt::format("stopped_{}", ranks);
    const fs::path full = train(ranks, fmt::format("full_{}", ranks));
    const std::string launcher =
        ranks > 1 ? fmt::format("{} --oversubscribe --allow-run-as-root -np {} ", TORUS_MPIEXEC, ranks) : "";
    // Signal once step 20 is logged; the shell reports the run's exit status.
    const std::string script = fmt::format(
        "{}{} train {} name={} & pid=$!; until grep -qs '\"step\":20,' {}/metrics.jsonl; do sleep 0.02; done; "
        "kill -{} $pid; wait $pid; echo exit=$?",
        launcher, TORUS_TOOL, config_.string(), name, (dir_ / name).string(), signal);
    const test::ToolRun stopped = test::run_command(script);
    EXPECT_TRUE(test::contains(stopped.output, "exit=75")) << stopped.output;
    EXPECT_TRUE(test::contains(stopped.output, "its checkpoint is committed")) << stopped.output;
    const std::string latest = read_file(dir_ / name / "checkpoints" / "latest");
    EXPECT_NE(latest, "step_00000300\n") << "the run stopped early";
    const fs::path resumed = train(ranks, name, "resume=auto");
    EXPECT_EQ(untimed_metrics(resumed), untimed_metrics(full)) << name;
    EXPECT_TRUE(read_file(resumed / "final.safetensors") == read_file(full / "final.safetensors")) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Workload, CheckpointFiles, ::testing::Values(test::kCheckpointGpt),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace torus
