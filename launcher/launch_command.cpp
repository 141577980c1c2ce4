// `torus launch` (see launch_command.h).
#include "launcher/launch_command.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "framework/io/durable_file.h"
#include "kernels/common/error.h"
#include "launcher/config_command.h"
#include "launcher/config_load.h"
#include "launcher/launch_plan.h"
#include "launcher/launch_preflight.h"
#include "launcher/launch_process.h"
#include "launcher/launch_sweep.h"
#include "launcher/train_command.h"

namespace torus::cli {
namespace fs = std::filesystem;
namespace {

struct LaunchArguments {
  ConfigArguments config;
  std::vector<std::string> sweep;
  bool dry_run = false;
  bool wait = false;
};

void say(const std::string& line) {
  fmt::print("torus launch: {}\n", line);
  std::fflush(stdout);
}

// launch.log in a run directory: why each attempt started and ended, with the time.
class LaunchLog {
 public:
  explicit LaunchLog(const fs::path& dir) {
    fs::create_directories(dir);
    out_.open(dir / "launch.log", std::ios::app);
    if (!out_) throw IOError(fmt::format("{}: cannot be written", (dir / "launch.log").string()));
  }
  void line(const std::string& text) {
    say(text);
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", std::localtime(&now));
    out_ << stamp << " " << text << "\n" << std::flush;
  }

 private:
  std::ofstream out_;
};

// trainer.run_dir as the job sees it (an absolute one stays as it is).
fs::path runs_root(const config::ExperimentConfig& config, const LaunchContext& context) {
  return context.working_dir / config.trainer().run_dir();
}

// How one run of a local or mpirun job ended, after its restarts.
struct RunOutcome {
  bool ok = false;
  ProcessResult last;  // of the last attempt
};

RunOutcome run_with_restarts(const config::ExperimentConfig& config, const RunSpec& run, const LaunchContext& context) {
  LaunchLog log(runs_root(config, context) / run.name);
  const int attempts = config.launch().max_restarts() + 1;
  RunOutcome outcome;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    const std::vector<std::string> argv = mpirun_command(config, run, context, /*resume=*/attempt > 1);
    log.line(fmt::format("{}: attempt {} of {}: {}", run.name, attempt, attempts, shell_line(argv)));
    outcome.last = run_process(argv);
    if (outcome.last.ok()) {
      log.line(fmt::format("{}: attempt {} finished", run.name, attempt));
      outcome.ok = true;
      return outcome;
    }
    log.line(fmt::format("{}: attempt {} ended: {}", run.name, attempt, outcome.last.describe()));
    if (outcome.last.forwarded != 0) {
      log.line(fmt::format("{}: the launcher was sent signal {} ({}); not restarting", run.name,
                           outcome.last.forwarded, ::strsignal(outcome.last.forwarded)));
      return outcome;
    }
    if (attempt < attempts)
      log.line(fmt::format("{}: restarting with resume=auto (restart {} of {})", run.name, attempt, attempts - 1));
  }
  return outcome;
}

void run_locally(const config::ExperimentConfig& config, const std::vector<RunSpec>& runs,
                 const LaunchContext& context, bool dry_run) {
  for (size_t i = 0; i < runs.size(); ++i)
    say(fmt::format("{}{}: {}", runs[i].name, runs.size() > 1 ? fmt::format(" (run {} of {})", i + 1, runs.size()) : "",
                    shell_line(mpirun_command(config, runs[i], context, /*resume=*/false))));
  if (dry_run) {
    say("--dry-run: nothing started");
    return;
  }
  std::vector<std::string> failed;
  for (const RunSpec& run : runs) {
    const RunOutcome outcome = run_with_restarts(config, run, context);
    if (outcome.ok) continue;
    failed.push_back(fmt::format("{} ({})", run.name, outcome.last.describe()));
    if (outcome.last.forwarded != 0) {
      if (outcome.last.exit_status == kRequeueExitStatus) throw StoppedForRequeue{};
      throw Error(fmt::format("{} stopped by signal {}", run.name, outcome.last.forwarded));
    }
  }
  if (runs.size() > 1) say(fmt::format("{} of {} runs finished", runs.size() - failed.size(), runs.size()));
  if (!failed.empty()) {
    throw Error(fmt::format("{} of {} run{} failed: {}", failed.size(), runs.size(), runs.size() == 1 ? "" : "s",
                            fmt::join(failed, "; ")));
  }
}

void submit_to_slurm(const config::ExperimentConfig& config, const std::vector<RunSpec>& runs,
                     const LaunchContext& context, bool dry_run, bool wait) {
  const fs::path job_dir = runs_root(config, context) / config.name();
  const fs::path script_path = job_dir / "launch.sbatch";
  const std::string script = slurm_script(config, runs, context, job_dir);
  say(fmt::format("batch script {}{}:", script_path.string(),
                  runs.size() > 1 ? fmt::format(" (a job array of {} runs)", runs.size()) : ""));
  std::fputs(script.c_str(), stdout);
  if (dry_run) {
    say("--dry-run: nothing written or submitted");
    return;
  }
  fs::create_directories(job_dir);
  io::write_file_durably(script_path, script);
  if (::chmod(script_path.c_str(), 0755) != 0)
    throw IOError(fmt::format("chmod {}: {}", script_path.string(), std::strerror(errno)));
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  if (wait) argv.push_back("--wait");
  argv.push_back(script_path.string());
  LaunchLog log(job_dir);
  log.line(shell_line(argv));
  const ProcessResult result = run_process(argv, /*capture_stdout=*/true);
  const std::string job_id = result.stdout_text.substr(0, result.stdout_text.find_first_of(";\n"));
  if (job_id.empty()) throw Error(fmt::format("sbatch {} failed: {}", script_path.string(), result.describe()));
  const std::string output = (job_dir / (runs.size() > 1 ? "slurm-" + job_id + "_*.out" : "slurm-" + job_id + ".out")).string();
  log.line(fmt::format("submitted batch job {}; its output: {}", job_id, output));
  if (!wait) return;
  if (!result.ok()) throw Error(fmt::format("batch job {} failed: {}; see {}", job_id, result.describe(), output));
  log.line(fmt::format("batch job {} finished", job_id));
}

void launch(const LaunchArguments& arguments) {
  std::vector<std::string> load_overrides = arguments.config.overrides;
  if (!arguments.sweep.empty()) load_overrides.push_back(sweep_override(arguments.sweep));
  const config::ExperimentConfig config = config::load(arguments.config.path, load_overrides);
  const LaunchContext context = launch_context(arguments.config.path);
  const std::vector<RunSpec> runs = plan_runs(config, arguments.config.overrides);

  const PreflightReport report = preflight(config, context, arguments.dry_run);
  for (const std::string& w : report.warnings) fmt::print(stderr, "torus launch: warning: {}\n", w);
  for (const std::string& e : report.errors) fmt::print(stderr, "torus launch: error: {}\n", e);
  if (!report.errors.empty())
    throw Error(fmt::format("pre-flight found {} problem{} (above); nothing was started", report.errors.size(),
                            report.errors.size() == 1 ? "" : "s"));
  if (config.launch().scheduler() == config::Scheduler::slurm)
    submit_to_slurm(config, runs, context, arguments.dry_run, arguments.wait);
  else
    run_locally(config, runs, context, arguments.dry_run);
}

}  // namespace

void add_launch_command(CLI::App& app) {
  CLI::App* command = app.add_subcommand(
      "launch", "Run the job the config's launch section describes: local (mpirun on this host), mpirun (a hostfile "
                "or host list) or slurm (an sbatch job); a sweep runs every combination");
  auto arguments = std::make_shared<LaunchArguments>();
  add_config_arguments(*command, arguments->config, /*print_flag=*/false);
  command->add_option("--sweep", arguments->sweep,
                      "sweep these fields instead of the config's sweep section: optimizer.lr=1e-3,3e-4 "
                      "model.mlp.hidden=[256],[512] (the cross product)")
      ->type_name("PATH=V1,V2 ...");
  command->add_flag("--dry-run", arguments->dry_run, "check and print the plan (commands or batch script); run nothing");
  command->add_flag("--wait", arguments->wait, "slurm: wait for the job to end (sbatch --wait) and exit with its status");
  command->callback([arguments] { launch(*arguments); });
}

}  // namespace torus::cli
