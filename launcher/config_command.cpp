// `torus config reference [--markdown]`, `torus config print CONFIG [key=value ...]` and
// `torus config check CONFIG [key=value ...]`.
#include "launcher/config_command.h"

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "launcher/config_load.h"
#include "launcher/config_reference.h"
#include "launcher/config_yaml.h"

namespace torus::cli {

void add_config_arguments(CLI::App& command, ConfigArguments& arguments, bool print_flag) {
  command.add_option("CONFIG", arguments.path, "config file: .yaml/.yml, .json, .txtpb/.textproto/.pbtxt")->required();
  command.add_option("overrides", arguments.overrides, "field overrides, applied in order: optimizer.lr=3e-4 ...")
      ->type_name("KEY=VALUE ...");
  if (print_flag)
    command.add_flag("--print-config", arguments.print_config, "print the resolved config (every default filled in) and stop");
}

std::optional<config::ExperimentConfig> load_or_print(const ConfigArguments& arguments) {
  config::ExperimentConfig loaded = config::load(arguments.path, arguments.overrides);
  if (!arguments.print_config) return loaded;
  std::fputs(config::to_yaml(loaded).c_str(), stdout);
  return std::nullopt;
}

void add_config_command(CLI::App& app) {
  CLI::App* command = app.add_subcommand("config", "Config files: the reference of every field, resolving, checking");
  command->require_subcommand(1);

  CLI::App* reference = command->add_subcommand("reference", "List every config field: type, default, allowed values, doc");
  auto markdown = std::make_shared<bool>(false);
  reference->add_flag("--markdown", *markdown, "as Markdown tables (docs/CONFIG.md)");
  reference->callback([markdown] {
    std::fputs((*markdown ? config::reference_markdown() : config::reference_text()).c_str(), stdout);
  });

  CLI::App* print = command->add_subcommand("print", "Print the resolved config: the file, the overrides and every default");
  auto print_arguments = std::make_shared<ConfigArguments>();
  add_config_arguments(*print, *print_arguments, /*print_flag=*/false);
  print->callback([print_arguments] {
    std::fputs(config::to_yaml(config::load(print_arguments->path, print_arguments->overrides)).c_str(), stdout);
  });

  CLI::App* check = command->add_subcommand("check", "Validate a config (with overrides) and say OK");
  auto check_arguments = std::make_shared<ConfigArguments>();
  add_config_arguments(*check, *check_arguments, /*print_flag=*/false);
  check->callback([check_arguments] {
    const config::ExperimentConfig loaded = config::load(check_arguments->path, check_arguments->overrides);
    fmt::print("{}: OK (run {}, writes to {})\n", check_arguments->path, loaded.name(),
               config::run_directory(loaded).string());
  });
}

}  // namespace torus::cli
