// `torus train CONFIG [key=value ...]` and `torus eval CONFIG --checkpoint FILE`.
#pragma once

#include <CLI/CLI.hpp>

namespace torus::cli {

void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);

}  // namespace torus::cli
