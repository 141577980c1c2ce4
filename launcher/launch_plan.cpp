// The commands and the batch script of a launch (see launch_plan.h).
#include "launcher/launch_plan.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/common/error.h"

namespace torus::cli {
namespace fs = std::filesystem;
namespace {

using config::ExperimentConfig;
using config::LaunchConfig;
using config::Scheduler;

int procs_per_node(const LaunchConfig& launch) {
  return launch.procs_per_node() > 0 ? launch.procs_per_node() : launch.ranks() / launch.nodes();
}

// launch.env entries: "NAME" (its value at launch) or "NAME=value".
std::string env_name(const std::string& entry) { return entry.substr(0, entry.find('=')); }

// Slurm's --signal value with the batch shell as its target ("B:"): the script traps it
// and passes it to mpirun, which passes it on to every rank. Without "B:" Slurm would
// signal only job steps, which an mpirun job's ranks are not.
std::string batch_signal(const std::string& signal) { return signal.starts_with("B:") ? signal : "B:" + signal; }

// mpirun's options: how many ranks, where, how they are placed and bound, and what
// environment they get. `allocation`: inside a Slurm job, which supplies the hosts.
std::vector<std::string> mpirun_options(const ExperimentConfig& config, const LaunchContext& context,
                                        bool allocation) {
  const LaunchConfig& launch = config.launch();
  const bool local = launch.scheduler() == Scheduler::local;
  std::vector<std::string> argv = {"mpirun", "-np", std::to_string(launch.ranks())};
  if (context.as_root) argv.push_back("--allow-run-as-root");
  if (local && launch.ranks() > context.host_cores) argv.push_back("--oversubscribe");
  if (!local && !allocation) {
    if (!launch.hostfile().empty()) {
      argv.insert(argv.end(), {"--hostfile", (context.working_dir / launch.hostfile()).string()});
    } else if (launch.hosts_size() > 0) {
      argv.insert(argv.end(), {"--host", fmt::format("{}", fmt::join(launch.hosts(), ","))});
    }
  }
  const int threads = launch.threads_per_rank();
  std::string map_by = local ? "slot" : fmt::format("ppr:{}:node", procs_per_node(launch));
  if (threads > 0) map_by += fmt::format(":PE={}", threads);
  argv.insert(argv.end(), {"--map-by", map_by, "--bind-to", threads > 0 ? "core" : "none"});
  if (!local) {  // ranks on other hosts start from a fresh login environment
    argv.insert(argv.end(), {"-x", "PATH"});
    if (context.library_path) argv.insert(argv.end(), {"-x", "LD_LIBRARY_PATH"});
  }
  for (const std::string& entry : launch.env())
    argv.insert(argv.end(), {"-x", allocation ? env_name(entry) : entry});  // a script exports them
  argv.insert(argv.end(), launch.mpirun_args().begin(), launch.mpirun_args().end());
  return argv;
}

void append(std::vector<std::string>& to, const std::vector<std::string>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

}  // namespace

LaunchContext launch_context(const std::string& config_path) {
  LaunchContext context;
  std::error_code error;
  context.torus = fs::read_symlink("/proc/self/exe", error).string();
  if (error) throw IOError(fmt::format("cannot find the torus executable (/proc/self/exe): {}", error.message()));
  context.working_dir = fs::current_path();
  context.config = fs::absolute(config_path).lexically_normal();
  context.as_root = ::geteuid() == 0;
  context.host_cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (const char* path = std::getenv("LD_LIBRARY_PATH"); path != nullptr && *path != '\0') context.library_path = path;
  return context;
}

std::vector<std::string> train_command(const RunSpec& run, const LaunchContext& context, bool resume) {
  std::vector<std::string> argv = {context.torus, "train", context.config.string()};
  append(argv, run.overrides);
  if (resume) argv.push_back("resume=auto");
  return argv;
}

std::vector<std::string> mpirun_command(const ExperimentConfig& config, const RunSpec& run,
                                        const LaunchContext& context, bool resume) {
  std::vector<std::string> argv = mpirun_options(config, context, /*allocation=*/false);
  append(argv, train_command(run, context, resume));
  return argv;
}

std::string slurm_script(const ExperimentConfig& config, const std::vector<RunSpec>& runs,
                         const LaunchContext& context, const fs::path& job_dir) {
  TORUS_CHECK(!runs.empty(), "slurm_script: no runs");
  const LaunchConfig& launch = config.launch();
  const config::SlurmConfig& slurm = launch.slurm();
  const bool array = runs.size() > 1 || !runs.front().label.empty();
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# Written by `torus launch {}`; torus launch submits it with sbatch.\n", context.config.string());
  auto sbatch = [&s](const std::string& option) { s += "#SBATCH " + option + "\n"; };
  sbatch("--job-name=" + config.name());
  sbatch(fmt::format("--nodes={}", launch.nodes()));
  sbatch(fmt::format("--ntasks-per-node={}", procs_per_node(launch)));
  const int cpus = slurm.cpus_per_task() > 0 ? slurm.cpus_per_task() : launch.threads_per_rank();
  if (cpus > 0) sbatch(fmt::format("--cpus-per-task={}", cpus));
  if (slurm.gpus_per_node() > 0) sbatch(fmt::format("--gpus-per-node={}", slurm.gpus_per_node()));
  sbatch("--time=" + slurm.time());
  if (!slurm.partition().empty()) sbatch("--partition=" + slurm.partition());
  if (!slurm.account().empty()) sbatch("--account=" + slurm.account());
  sbatch("--chdir=" + context.working_dir.string());
  const std::string job = array ? "%A_%a" : "%j";
  sbatch(fmt::format("--output={}", (job_dir / ("slurm-" + job + ".out")).string()));
  sbatch(fmt::format("--error={}", (job_dir / ("slurm-" + job + ".err")).string()));
  if (!slurm.signal().empty()) sbatch("--signal=" + batch_signal(slurm.signal()));
  sbatch(slurm.requeue() ? "--requeue" : "--no-requeue");
  if (slurm.requeue()) sbatch("--open-mode=append");  // a requeued job adds to its output files
  if (array) sbatch(fmt::format("--array=0-{}", runs.size() - 1));
  for (const std::string& extra : slurm.extra_sbatch()) sbatch(extra);
  s += "set -uo pipefail\n";

  bool exported = false;
  for (const std::string& entry : launch.env()) {
    if (entry.find('=') == std::string::npos) continue;  // a name only: its value in the submitting shell
    if (!exported) s += "\n";
    exported = true;
    const size_t eq = entry.find('=');
    s += fmt::format("export {}={}\n", entry.substr(0, eq), shell_quote(entry.substr(eq + 1)));
  }

  // A requeued job starts the script again: it continues from its newest checkpoint.
  std::vector<std::string> argv = mpirun_options(config, context, /*allocation=*/true);
  append(argv, train_command(RunSpec{}, context, slurm.requeue() && config.resume().empty()));
  std::string command = shell_line(argv);
  if (array) {
    // Every run's overrides are the user's, then its swept values and its name= (RunSpec).
    const std::vector<std::string>& first = runs.front().overrides;
    const std::vector<std::string> common(first.begin(), first.end() - static_cast<long>(runs.front().label.size()) - 1);
    if (!common.empty()) command += " " + shell_line(common);
    s += "\n# The run of this array task: its swept values and its name.\ncase \"$SLURM_ARRAY_TASK_ID\" in\n";
    for (size_t i = 0; i < runs.size(); ++i) {
      const std::vector<std::string> own(runs[i].overrides.begin() + static_cast<long>(common.size()),
                                         runs[i].overrides.end());
      s += fmt::format("  {}) run=({}) ;;\n", i, shell_line(own));
    }
    s += "  *) echo \"torus launch: no run for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n";
    command += " \"${run[@]}\"";
  } else if (!runs.front().overrides.empty()) {
    command += " " + shell_line(runs.front().overrides);
  }

  const std::string signal = slurm_signal_name(slurm.signal());
  s += "\n";
  if (!signal.empty()) {
    s += fmt::format(
        "# Slurm signals this shell before the time limit; mpirun passes {0} on to every rank, which\n"
        "# commits a checkpoint and exits with status 75.\n"
        "trap 'kill -{0} \"$ranks\" 2>/dev/null' {0}\n",
        signal);
  }
  s += command + " &\n";
  s += "ranks=$!\n"
       "status=0\n"
       "wait \"$ranks\" || status=$?\n"
       "while kill -0 \"$ranks\" 2>/dev/null; do  # a trapped signal ended the wait, not the ranks\n"
       "  status=0\n"
       "  wait \"$ranks\" || status=$?\n"
       "done\n";
  if (slurm.requeue()) {
    s += "if [ \"$status\" -eq 75 ]; then\n"
         "  echo \"torus launch: the run stopped for requeue; requeueing job $SLURM_JOB_ID\" >&2\n"
         "  scontrol requeue \"$SLURM_JOB_ID\"\n"
         "fi\n";
  }
  s += "exit \"$status\"\n";
  return s;
}

std::string slurm_signal_name(const std::string& signal) {
  const std::string bare = signal.starts_with("B:") ? signal.substr(2) : signal;
  return bare.substr(0, bare.find('@'));
}

std::string shell_quote(const std::string& argument) {
  static constexpr std::string_view kSafe =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./:=,+@%";
  if (!argument.empty() && argument.find_first_not_of(kSafe) == std::string::npos) return argument;
  std::string quoted = "'";
  for (char c : argument) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string shell_line(const std::vector<std::string>& argv) {
  std::vector<std::string> quoted;
  for (const std::string& argument : argv) quoted.push_back(shell_quote(argument));
  return fmt::format("{}", fmt::join(quoted, " "));
}

}  // namespace torus::cli
