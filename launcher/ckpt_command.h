// `torus ckpt ...`: inspecting (and, later, converting and exporting) checkpoint files.
#pragma once

#include <CLI/CLI.hpp>

namespace torus::cli {

// Adds the `ckpt` command and its subcommands to the tool.
void add_ckpt_command(CLI::App& app);

}  // namespace torus::cli
