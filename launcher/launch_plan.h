// Job planning for `torus launch`: what a config's `launch` section becomes — the exact
// mpirun command of a local or mpirun job, or the batch script of a Slurm job. Planning is
// a pure function of the config, the runs and the context (no process started, no file
// read), so a dry run prints exactly what a real launch runs and tests compare it with
// golden files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "launcher/config.pb.h"

namespace torus::cli {

// Facts about the machine the launch starts from, gathered once (launch_context()).
struct LaunchContext {
  std::string torus;                         // absolute path of the torus executable
  std::filesystem::path working_dir;         // the job's working directory (absolute)
  std::filesystem::path config;              // the config file, absolute
  bool as_root = false;                      // Open MPI refuses root without --allow-run-as-root
  int host_cores = 1;                        // cores of this host: a local job with more ranks oversubscribes
  std::optional<std::string> library_path;   // LD_LIBRARY_PATH at launch, forwarded to remote ranks
};

LaunchContext launch_context(const std::string& config_path);

// One training run: its name (the run directory's) and the overrides after CONFIG.
struct RunSpec {
  std::string name;
  std::vector<std::string> overrides;  // the user's, then the sweep's values, then name=
  std::vector<std::string> label;      // the swept values, "optimizer.lr=0.1"; empty: not a sweep
};

// `torus train CONFIG overrides...` as the ranks run it (with resume=auto when `resume`).
std::vector<std::string> train_command(const RunSpec& run, const LaunchContext& context, bool resume);

// The mpirun command of a local or mpirun job: ranks, hosts, mapping and binding,
// forwarded environment, then the training command.
std::vector<std::string> mpirun_command(const config::ExperimentConfig& config, const RunSpec& run,
                                        const LaunchContext& context, bool resume);

// The sbatch script of a Slurm job: one run, or a job array over the runs of a sweep.
// Its output and error files go to `job_dir`.
std::string slurm_script(const config::ExperimentConfig& config, const std::vector<RunSpec>& runs,
                         const LaunchContext& context, const std::filesystem::path& job_dir);

// "USR1" of Slurm's --signal value "B:USR1@120".
std::string slurm_signal_name(const std::string& signal);

// An argument quoted for a POSIX shell only when it needs to be.
std::string shell_quote(const std::string& argument);
std::string shell_line(const std::vector<std::string>& argv);

}  // namespace torus::cli
