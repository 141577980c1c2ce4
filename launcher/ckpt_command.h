// `torus ckpt ...`: inspecting and exporting checkpoints and weight files.
#pragma once

#include <CLI/CLI.hpp>

namespace torus::cli {

// Adds the `ckpt` command and its subcommands to the tool.
void add_ckpt_command(CLI::App& app);

}  // namespace torus::cli
