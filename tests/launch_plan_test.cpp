// Job planning without running anything: the exact mpirun commands and Slurm batch scripts
// of a set of configs against golden files (tests/data/launch/; TORUS_UPDATE_GOLDEN=1
// rewrites them), sweep expansion and run names, shell quoting, and the pre-flight checks.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "launcher/config_load.h"
#include "launcher/launch_plan.h"
#include "launcher/launch_preflight.h"
#include "launcher/launch_sweep.h"
#include "support/run_compare.h"

namespace torus::cli {
namespace {
namespace fs = std::filesystem;

const fs::path kGoldenDir = fs::path(TORUS_SOURCE_DIR) / "tests/data/launch";
const fs::path kConfigs = fs::path(TORUS_SOURCE_DIR) / "configs";

// A fixed machine, so that plans do not depend on where the test runs.
LaunchContext fixed_context(const std::string& config_file) {
  LaunchContext context;
  context.torus = "/opt/torus/bin/torus";
  context.working_dir = "/home/ada/experiments";
  context.config = "/home/ada/experiments/configs/" + config_file;
  context.as_root = false;
  context.host_cores = 8;
  context.library_path = "/opt/torus/lib";
  return context;
}

config::ExperimentConfig load(const std::string& file, const std::vector<std::string>& overrides = {}) {
  return config::load((kConfigs / file).string(), overrides);
}

void expect_golden(const std::string& name, const std::string& actual) {
  const fs::path golden = kGoldenDir / name;
  if (std::getenv("TORUS_UPDATE_GOLDEN") != nullptr) {
    fs::create_directories(kGoldenDir);
    std::ofstream(golden, std::ios::binary) << actual;
  }
  ASSERT_TRUE(fs::exists(golden)) << golden << " is missing; TORUS_UPDATE_GOLDEN=1 writes it";
  EXPECT_EQ(actual, test::read_file(golden)) << "differs from " << golden;
}

// Every run's command of a local or mpirun job, one per line.
std::string commands_of(const config::ExperimentConfig& config, const LaunchContext& context,
                        const std::vector<std::string>& overrides = {}) {
  std::string lines;
  for (const RunSpec& run : plan_runs(config, overrides))
    lines += shell_line(mpirun_command(config, run, context, /*resume=*/false)) + "\n";
  return lines;
}

TEST(LaunchPlan, LocalJob) {
  const auto config = load("fashion_mnist_cnn.yaml", {"launch.ranks=2"});
  expect_golden("local_2_ranks.txt", commands_of(config, fixed_context("fashion_mnist_cnn.yaml"),
                                                 {"launch.ranks=2"}));
}

TEST(LaunchPlan, LocalJobAsRootOversubscribedAndBound) {
  auto context = fixed_context("fashion_mnist_mlp.yaml");
  context.as_root = true;
  context.host_cores = 2;
  const std::vector<std::string> overrides = {"launch.ranks=4", "launch.threads_per_rank=1", "data.batch_size=64"};
  const std::string line = commands_of(load("fashion_mnist_mlp.yaml", overrides), context, overrides);
  EXPECT_EQ(line,
            "mpirun -np 4 --allow-run-as-root --oversubscribe --map-by slot:PE=1 --bind-to core "
            "/opt/torus/bin/torus train /home/ada/experiments/configs/fashion_mnist_mlp.yaml launch.ranks=4 "
            "launch.threads_per_rank=1 data.batch_size=64\n");
}

TEST(LaunchPlan, MpirunJobOnAHostfile) {
  const std::vector<std::string> overrides = {"launch.scheduler=mpirun", "launch.ranks=8", "launch.nodes=2",
                                              "launch.hostfile=cluster/hostfile.example",
                                              "launch.threads_per_rank=4", "launch.env=[OMP_PROC_BIND=close, NCCL_DEBUG]",
                                              "launch.mpirun_args=[--mca, btl_tcp_if_include, eth0]",
                                              "data.batch_size=64"};
  expect_golden("mpirun_hostfile.txt",
                commands_of(load("fashion_mnist_mlp.yaml", overrides), fixed_context("fashion_mnist_mlp.yaml"),
                            overrides));
}

TEST(LaunchPlan, MpirunJobOnAHostList) {
  auto context = fixed_context("fashion_mnist_mlp.yaml");
  context.library_path.reset();
  const std::vector<std::string> overrides = {"launch.scheduler=mpirun", "launch.ranks=4", "launch.nodes=2",
                                              "launch.hosts=[node01:2, node02:2]"};
  EXPECT_EQ(commands_of(load("fashion_mnist_mlp.yaml", overrides), context, overrides),
            "mpirun -np 4 --host node01:2,node02:2 --map-by ppr:2:node --bind-to none -x PATH "
            "/opt/torus/bin/torus train /home/ada/experiments/configs/fashion_mnist_mlp.yaml launch.scheduler=mpirun "
            "launch.ranks=4 launch.nodes=2 'launch.hosts=[node01:2, node02:2]'\n");
}

TEST(LaunchPlan, RestartsResumeFromTheNewestCheckpoint) {
  const auto config = load("fashion_mnist_mlp.yaml");
  const RunSpec run = plan_runs(config, {}).front();
  const auto argv = mpirun_command(config, run, fixed_context("fashion_mnist_mlp.yaml"), /*resume=*/true);
  EXPECT_EQ(argv.back(), "resume=auto");
  EXPECT_EQ(train_command(run, fixed_context("x.yaml"), false).back(), "/home/ada/experiments/configs/x.yaml");
}

TEST(LaunchPlan, SlurmBatchScript) {
  const auto config = load("gpt_text_slurm.yaml");
  const LaunchContext context = fixed_context("gpt_text_slurm.yaml");
  expect_golden("slurm_gpt_text.sbatch",
                slurm_script(config, plan_runs(config, {}), context, "/home/ada/experiments/runs/gpt_text_slurm"));
}

TEST(LaunchPlan, SlurmJobArrayForASweep) {
  const std::vector<std::string> overrides = {"launch.scheduler=slurm", "launch.ranks=2",
                                              "launch.slurm={time: '00:30:00', account: ml, gpus_per_node: 1}"};
  const auto config = load("sweep_mlp_lr.yaml", overrides);
  expect_golden("slurm_sweep_mlp_lr.sbatch", slurm_script(config, plan_runs(config, overrides),
                                                          fixed_context("sweep_mlp_lr.yaml"),
                                                          "/home/ada/experiments/runs/sweep_mlp_lr"));
}

TEST(LaunchPlan, PlansAreDeterministic) {
  const auto config = load("sweep_mlp_lr.yaml", {"launch.scheduler=slurm"});
  const auto context = fixed_context("sweep_mlp_lr.yaml");
  EXPECT_EQ(slurm_script(config, plan_runs(config, {}), context, "/r"),
            slurm_script(config, plan_runs(config, {}), context, "/r"));
}

TEST(LaunchSweep, CrossProductFirstAxisSlowest) {
  const auto runs = plan_runs(load("sweep_mlp_lr.yaml"), {"trainer.epochs=1"});
  ASSERT_EQ(runs.size(), 8u);
  EXPECT_EQ(runs[0].name, "sweep_mlp_lr-lr=0.1-hidden=256,128");
  EXPECT_EQ(runs[1].name, "sweep_mlp_lr-lr=0.1-hidden=512,256");
  EXPECT_EQ(runs[7].name, "sweep_mlp_lr-lr=0.01-hidden=512,256");
  EXPECT_EQ(runs[1].overrides, (std::vector<std::string>{"trainer.epochs=1", "optimizer.lr=0.1",
                                                         "model.mlp.hidden=[512, 256]",
                                                         "name=sweep_mlp_lr-lr=0.1-hidden=512,256"}));
  EXPECT_EQ(runs[1].label, (std::vector<std::string>{"optimizer.lr=0.1", "model.mlp.hidden=[512, 256]"}));
  // Every run's config loads: its name is a valid run name.
  for (const RunSpec& run : runs) EXPECT_EQ(load("sweep_mlp_lr.yaml", run.overrides).name(), run.name);
}

TEST(LaunchSweep, NoSweepIsOneRunUnderTheConfigsName) {
  const auto runs = plan_runs(load("fashion_mnist_mlp.yaml"), {"optimizer.lr=0.1"});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].name, "fashion_mnist_mlp");
  EXPECT_EQ(runs[0].overrides, std::vector<std::string>{"optimizer.lr=0.1"});
  EXPECT_TRUE(runs[0].label.empty());
}

TEST(LaunchSweep, CommandLineSweepReplacesTheConfigs) {
  const std::string sweep = sweep_override({"optimizer.lr=1e-3,3e-4", "model.mlp.hidden=[256,128],[64]"});
  EXPECT_EQ(sweep, "sweep.axes=[{path: \"optimizer.lr\", values: [1e-3, 3e-4]}, "
                   "{path: \"model.mlp.hidden\", values: [[256,128], [64]]}]");
  const auto runs = plan_runs(load("sweep_mlp_lr.yaml", {sweep}), {});
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].name, "sweep_mlp_lr-lr=1e-3-hidden=256,128");
  EXPECT_EQ(runs[3].name, "sweep_mlp_lr-lr=3e-4-hidden=64");
  EXPECT_THROW(sweep_override({"optimizer.lr"}), config::ConfigError);
  // A value the field cannot take is caught when the config loads, naming it.
  try {
    load("fashion_mnist_mlp.yaml", {sweep_override({"optimizer.lr=0.1,fast"})});
    FAIL() << "a sweep value of the wrong type loaded";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fast"), std::string::npos) << e.what();
  }
}

TEST(LaunchSweep, AxesSharingALeafAreNamedByPath) {
  const auto config = load("fashion_mnist_mlp.yaml",
                           {sweep_override({"schedule.kind=constant,cosine", "optimizer.name=sgd", "model.kind=mlp"})});
  const auto runs = plan_runs(config, {});
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].name, "fashion_mnist_mlp-schedule.kind=cosine-name=sgd-model.kind=mlp");
}

TEST(LaunchSweep, RunNamesKeepOnlyWhatANameMayHold) {
  EXPECT_EQ(name_part("hidden", "[512, 256]"), "hidden=512,256");
  EXPECT_EQ(name_part("model.cnn.conv[1].pool", "\"max\""), "model.cnn.conv1.pool=max");
  EXPECT_EQ(name_part("path", "/data/x y"), "path=_data_xy");
}

TEST(LaunchPlan, ShellQuoting) {
  EXPECT_EQ(shell_quote("optimizer.lr=3e-4"), "optimizer.lr=3e-4");
  EXPECT_EQ(shell_quote("model.mlp.hidden=[512, 256]"), "'model.mlp.hidden=[512, 256]'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("$HOME"), "'$HOME'");
}

class Preflight : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("torus_preflight_{}", ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  LaunchContext context() const {
    LaunchContext c = fixed_context("x.yaml");
    c.torus = TORUS_TOOL;
    c.working_dir = dir_;
    return c;
  }
  static bool mentions(const std::vector<std::string>& lines, const std::string& text) {
    for (const std::string& line : lines)
      if (line.find(text) != std::string::npos) return true;
    return false;
  }
  fs::path dir_;
};

TEST_F(Preflight, MissingDataIsAnError) {
  const auto config = load("gpt_text.yaml", {"data.path=no/such/file.txt"});
  const PreflightReport report = preflight(config, context(), /*dry_run=*/true);
  EXPECT_TRUE(mentions(report.errors, "data.path " + (dir_ / "no/such/file.txt").string() + ": does not exist"))
      << fmt::format("{}", report.errors.empty() ? "no errors" : report.errors.front());
}

TEST_F(Preflight, AConfigThatCanRunHasNoErrors) {
  std::ofstream(dir_ / "text.txt") << "hello";
  const auto config = load("gpt_text.yaml", {"data.path=text.txt"});
  const PreflightReport report = preflight(config, context(), /*dry_run=*/true);
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
}

TEST_F(Preflight, TooManyCoresForTheHost) {
  auto c = context();
  c.host_cores = 2;
  const auto config = load("fashion_mnist_mlp.yaml", {"launch.ranks=2", "launch.threads_per_rank=2"});
  EXPECT_TRUE(mentions(preflight(config, c, true).errors, "need 4 cores; this host has 2"));
  const auto oversubscribed = load("fashion_mnist_mlp.yaml", {"launch.ranks=4", "data.batch_size=64"});
  EXPECT_TRUE(mentions(preflight(oversubscribed, c, true).warnings, "4 ranks on 2 cores"));
}

TEST_F(Preflight, HostfileSlotsAndHosts) {
  const fs::path hostfile = dir_ / "hosts";
  std::ofstream(hostfile) << "# two hosts\nlocalhost slots=2\nno-such-host.invalid slots=1 max_slots=4\n";
  const auto config = load("fashion_mnist_mlp.yaml", {"launch.scheduler=mpirun", "launch.ranks=4", "launch.nodes=2",
                                                      "data.batch_size=64", "launch.hostfile=" + hostfile.string()});
  const PreflightReport report = preflight(config, context(), true);
  EXPECT_TRUE(mentions(report.errors, "host 'no-such-host.invalid' does not resolve"));
  EXPECT_TRUE(mentions(report.errors, "4 ranks, but the hosts have 3 slots"));
  EXPECT_FALSE(mentions(report.errors, "'localhost'"));
  EXPECT_TRUE(mentions(report.warnings, "every host must have"));

  std::ofstream(hostfile) << "node01 slots=two\n";
  EXPECT_TRUE(mentions(preflight(config, context(), true).errors, hostfile.string() + ":1: cannot read 'slots=two'"));
  std::ofstream(hostfile) << "localhost slots=4\nnode02 slots=2x\n";
  EXPECT_TRUE(mentions(preflight(config, context(), true).errors, hostfile.string() + ":2: cannot read 'slots=2x'"));
  const auto too_few = load("fashion_mnist_mlp.yaml", {"launch.scheduler=mpirun", "launch.ranks=4", "launch.nodes=2",
                                                       "data.batch_size=64", "launch.hosts=[localhost:4]"});
  EXPECT_TRUE(mentions(preflight(too_few, context(), true).errors, "launch.nodes is 2, but the host list names 1 host"));
}

TEST_F(Preflight, MissingProgramsAreWarningsInADryRunOnly) {
  const char* saved = std::getenv("PATH");
  const std::string path = saved != nullptr ? saved : "";
  ::setenv("PATH", dir_.c_str(), 1);  // no sbatch, no mpirun
  const auto config = load("fashion_mnist_mlp.yaml", {"launch.scheduler=slurm"});
  const PreflightReport dry = preflight(config, context(), /*dry_run=*/true);
  const PreflightReport real = preflight(config, context(), /*dry_run=*/false);
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_TRUE(mentions(dry.warnings, "sbatch is not on PATH"));
  EXPECT_TRUE(mentions(real.errors, "sbatch is not on PATH"));
}

TEST_F(Preflight, RestartsWithoutCheckpointsWarn) {
  const auto config = load("fashion_mnist_mlp.yaml", {"launch.max_restarts=2", "checkpoint.every_steps=0"});
  EXPECT_TRUE(mentions(preflight(config, context(), true).warnings, "checkpoint.every_steps is 0"));
  const auto signal = load("fashion_mnist_mlp.yaml", {"launch.scheduler=slurm", "launch.slurm.signal=INT@60"});
  EXPECT_TRUE(mentions(preflight(signal, context(), true).warnings, "checkpoints on USR1 or TERM only"));
}

}  // namespace
}  // namespace torus::cli
