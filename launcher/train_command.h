// `torus train CONFIG [key=value ...]` and `torus eval CONFIG --checkpoint FILE`.
#pragma once

#include <CLI/CLI.hpp>

namespace torus::cli {

// `torus train` stopped by SIGTERM or SIGUSR1 (what Slurm sends before a time limit or a
// preemption) after committing a checkpoint exits with this status: "requeue me", so a
// restart with resume=auto continues the run.
inline constexpr int kRequeueExitStatus = 75;  // EX_TEMPFAIL
struct StoppedForRequeue {};

void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);

}  // namespace torus::cli
