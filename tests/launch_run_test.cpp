// `torus launch` through the binary: a local job of 2 ranks that trains, an mpirun job on a
// host list (this host), a local sweep, a dry run that starts no process (programs on PATH
// that would record being run), SIGUSR1 to the launcher reaching the ranks (they checkpoint
// and exit 75, and the launcher does not restart them), and restarts: a rank that fails once
// is relaunched with resume=auto and the run ends as an uninterrupted one; a rank that
// always fails exhausts launch.max_restarts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "support/run_compare.h"
#include "support/tool_run.h"

namespace torus {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::run_tool;
using test::ToolRun;

class LaunchRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("torus_launch_run_{}", ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // A small MLP on Fashion-MNIST, checkpointed every 4 steps, written into the test dir.
  fs::path config(const std::string& name, const std::string& extra = "") {
    const fs::path file = dir_ / (name + ".yaml");
    std::ofstream(file) << fmt::format(
        "name: {}\nseed: 3\nmodel:\n  kind: mlp\n  mlp: {{hidden: [32]}}\ndata:\n  dataset: fashion_mnist\n"
        "  batch_size: 32\n  eval_fraction: 0\noptimizer:\n  name: adamw\n  lr: 0.003\ntrainer:\n  steps: 12\n"
        "  log_every: 2\n  threads: 1\n  run_dir: {}\ncheckpoint:\n  every_steps: 4\n{}",
        name, dir_.string(), extra);
    return file;
  }
  fs::path run_dir(const std::string& name) const { return dir_ / name; }
  // A program named `name` on a PATH of its own that records its arguments and succeeds.
  std::string fake_program_path(const std::string& name) {
    const fs::path program = dir_ / "bin" / name;
    std::ofstream(program) << fmt::format("#!/bin/sh\necho \"$0 $*\" >> {}\n", (dir_ / "ran").string());
    fs::permissions(program, fs::perms::owner_all);
    return fmt::format("PATH={}:$PATH", (dir_ / "bin").string());
  }
  fs::path dir_;
};

TEST_F(LaunchRun, LocalJobOfTwoRanksTrains) {
  const ToolRun r = run_tool("launch " + config("local2", "launch: {ranks: 2}\n").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("mpirun -np 2"), std::string::npos) << r.output;
  const auto metrics = test::read_metrics(run_dir("local2"));
  ASSERT_FALSE(metrics.empty());
  EXPECT_EQ(metrics.back()["step"], 12);
  EXPECT_NE(read_file(run_dir("local2") / "train.log").find("rank 1 of 2"), std::string::npos);
  const std::string log = read_file(run_dir("local2") / "launch.log");
  EXPECT_NE(log.find("local2: attempt 1 of 1: mpirun -np 2"), std::string::npos) << log;
  EXPECT_NE(log.find("local2: attempt 1 finished"), std::string::npos) << log;
}

TEST_F(LaunchRun, MpirunJobOnAHostList) {
  // The flags a cluster job gets (a host list, mapping by node, binding, -x), on this host.
  const ToolRun r = run_tool("launch " + config("hosts", "launch: {scheduler: mpirun, ranks: 2, hosts: [localhost:2], "
                                                         "threads_per_rank: 1, env: [OMP_PROC_BIND=close]}\n")
                                             .string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("--host localhost:2 --map-by ppr:2:node:PE=1 --bind-to core -x PATH"), std::string::npos)
      << r.output;
  const auto metrics = test::read_metrics(run_dir("hosts"));
  ASSERT_FALSE(metrics.empty());
  EXPECT_EQ(metrics.back()["step"], 12);
}

TEST_F(LaunchRun, LocalSweepRunsOneAfterAnother) {
  const ToolRun r = run_tool("launch " + config("sw").string() + " trainer.steps=4 --sweep optimizer.lr=0.01,0.001");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("2 of 2 runs finished"), std::string::npos) << r.output;
  for (const char* name : {"sw-lr=0.01", "sw-lr=0.001"}) {
    const auto metrics = test::read_metrics(run_dir(name));
    ASSERT_FALSE(metrics.empty()) << name;
    EXPECT_EQ(metrics.back()["step"], 4) << name;
  }
  EXPECT_NE(read_file(run_dir("sw-lr=0.01") / "config.resolved.yaml").find("lr: 0.01"), std::string::npos);
}

TEST_F(LaunchRun, DryRunStartsNothing) {
  const std::string path = fake_program_path("mpirun");
  fake_program_path("sbatch");
  const std::vector<std::string> variants = {
      "launch: {ranks: 2}\n",
      "launch: {scheduler: mpirun, ranks: 2, hosts: [localhost:2]}\n",
      "launch: {scheduler: slurm, ranks: 2}\n",
      "launch: {ranks: 1}\nsweep:\n  axes: [{path: optimizer.lr, values: [0.1, 0.2]}]\n",
  };
  for (size_t i = 0; i < variants.size(); ++i) {
    const std::string name = fmt::format("dry{}", i);
    const ToolRun r = run_tool("launch --dry-run " + config(name, variants[i]).string(), path);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("--dry-run: nothing"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("mpirun -np"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(run_dir(name))) << name << ": a dry run wrote its run directory";
    for (const char* swept : {"-lr=0.1", "-lr=0.2"}) EXPECT_FALSE(fs::exists(run_dir(name + swept)));
  }
  EXPECT_FALSE(fs::exists(dir_ / "ran")) << "a dry run started: " << read_file(dir_ / "ran");
  // The same launch without --dry-run does start the program the test watches.
  const ToolRun real = run_tool("launch " + config("real", variants[0]).string(), path);
  EXPECT_EQ(real.status, 0) << real.output;
  EXPECT_NE(read_file(dir_ / "ran").find("mpirun -np 2"), std::string::npos);
}

TEST_F(LaunchRun, FailedRankIsRestartedFromTheLastCheckpoint) {
  const fs::path marker = dir_ / "failed-once";
  const ToolRun r = run_tool("launch " + config("restart", "launch: {ranks: 2, max_restarts: 1}\n").string(),
                             fmt::format("TORUS_TEST_FAIL_AT=1:7 TORUS_TEST_FAIL_ONCE={}", marker.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_TRUE(fs::exists(marker)) << "the rank never failed";
  const std::string log = read_file(run_dir("restart") / "launch.log");
  EXPECT_NE(log.find("restart: attempt 1 ended: exit status"), std::string::npos) << log;
  EXPECT_NE(log.find("injected failure"), std::string::npos) << log;
  EXPECT_NE(log.find("restarting with resume=auto (restart 1 of 1)"), std::string::npos) << log;
  EXPECT_NE(log.find("restart: attempt 2 of 2: mpirun"), std::string::npos) << log;
  EXPECT_NE(log.find("resume=auto"), std::string::npos) << log;
  EXPECT_NE(log.find("restart: attempt 2 finished"), std::string::npos) << log;
  EXPECT_NE(read_file(run_dir("restart") / "train.log").find("resumed from"), std::string::npos);

  // It ends as a run that never failed.
  const ToolRun clean = run_tool("launch " + config("clean", "launch: {ranks: 2}\n").string());
  ASSERT_EQ(clean.status, 0) << clean.output;
  EXPECT_EQ(test::untimed_metrics(run_dir("restart")), test::untimed_metrics(run_dir("clean")));
}

TEST_F(LaunchRun, SignalToTheLauncherStopsTheRanksWithACheckpoint) {
  // Wide layers make each step slow enough (about 0.1 s) that the signal arrives mid-run.
  const fs::path cfg = config("signalled", "launch: {ranks: 2, max_restarts: 2}\n");
  const fs::path metrics = run_dir("signalled") / "metrics.jsonl";
  const ToolRun r = test::run_command(fmt::format(
      "{} launch {} 'model.mlp.hidden=[2048, 2048]' trainer.steps=200 & pid=$!; "
      "for i in $(seq 600); do [ -s {} ] || ! kill -0 $pid 2>/dev/null && break; sleep 0.2; done; "
      "kill -USR1 $pid; wait $pid; echo \"launch exited $?\"",
      TORUS_TOOL, cfg.string(), metrics.string()));
  EXPECT_NE(r.output.find("launch exited 75"), std::string::npos) << r.output;
  const std::string log = read_file(run_dir("signalled") / "launch.log");
  EXPECT_NE(log.find("signalled: attempt 1 ended: exit status 75"), std::string::npos) << log;
  EXPECT_NE(log.find("sent signal 10 (User defined signal 1); not restarting"), std::string::npos) << log;
  EXPECT_EQ(log.find("attempt 2"), std::string::npos) << log;
  EXPECT_NE(read_file(run_dir("signalled") / "train.log").find("stopped by User defined signal 1"), std::string::npos);
}

TEST_F(LaunchRun, RestartsRunOut) {
  const ToolRun r = run_tool("launch " + config("doomed", "launch: {ranks: 2, max_restarts: 1}\n").string(),
                             "TORUS_TEST_FAIL_AT=0:3");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("torus: 1 of 1 run failed: doomed (exit status"), std::string::npos) << r.output;
  const std::string log = read_file(run_dir("doomed") / "launch.log");
  EXPECT_NE(log.find("doomed: attempt 2 ended"), std::string::npos) << log;
}

TEST_F(LaunchRun, PreflightProblemsStopTheLaunch) {
  const ToolRun r = run_tool("launch " + config("bad", "launch: {ranks: 2}\n").string() +
                             " data.path=/no/such/dir");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("torus launch: error: data.path /no/such/dir: does not exist"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("nothing was started"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(run_dir("bad")));
}

}  // namespace
}  // namespace torus
