// `torus config ...` (reference, print, check), and the CONFIG [key=value ...]
// [--print-config] arguments that every command taking a config shares.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "launcher/config.pb.h"

namespace torus::cli {

struct ConfigArguments {
  std::string path;
  std::vector<std::string> overrides;
  bool print_config = false;
};

// Adds CONFIG, [key=value ...] and, with `print_flag`, --print-config to `command`.
void add_config_arguments(CLI::App& command, ConfigArguments& arguments, bool print_flag = true);

// Loads the config the arguments name. With --print-config, prints the resolved config
// and returns nothing: the command then stops (`if (!config) return;`).
std::optional<config::ExperimentConfig> load_or_print(const ConfigArguments& arguments);

// Adds the `config` command and its subcommands to the tool.
void add_config_command(CLI::App& app);

}  // namespace torus::cli
