// `torus launch CONFIG [key=value ...] [--sweep PATH=V1,V2 ...] [--dry-run] [--wait]`:
// plans the job the config's launch section describes (local, mpirun, slurm), checks what
// can be checked before anything starts, shows the exact commands or batch script, then
// runs them (restarting failed local and mpirun runs with resume=auto up to
// launch.max_restarts times) or submits the script with sbatch.
#pragma once

#include <CLI/CLI.hpp>

namespace torus::cli {

void add_launch_command(CLI::App& app);

}  // namespace torus::cli
