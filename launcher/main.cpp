// The `torus` command-line tool. Every error ends as one line on stderr and a non-zero
// exit status; a user error never prints a stack trace.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "kernels/common/error.h"
#include "launcher/ckpt_command.h"
#include "launcher/config_command.h"
#include "launcher/config_error.h"
#include "launcher/launch_command.h"
#include "launcher/train_command.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"Torus: distributed deep-learning training"};
  app.set_version_flag("--version", "torus 0.1.0");
  app.require_subcommand(0, 1);
  torus::cli::add_ckpt_command(app);
  torus::cli::add_config_command(app);
  torus::cli::add_train_command(app);
  torus::cli::add_eval_command(app);
  torus::cli::add_launch_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "torus: %s (see torus --help)\n", e.what());
    return 2;
  }
  if (app.get_subcommands().empty()) std::fputs(app.help().c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The error line comes after whatever the command printed.
  auto report = [](const char* prefix, const char* what) {
    std::fflush(stdout);
    std::fprintf(stderr, "torus: %s%s\n", prefix, what);
  };
  try {
    return run(argc, argv);
  } catch (const torus::cli::StoppedForRequeue&) {
    return torus::cli::kRequeueExitStatus;  // the run logged why, and its checkpoint
  } catch (const torus::config::ConfigError& e) {
    report("", e.what());
    return 2;  // a user error in a config or override, like a bad command line: nothing ran
  } catch (const torus::Error& e) {
    report("", e.what());
  } catch (const std::exception& e) {
    report("internal error: ", e.what());
  }
  return 1;
}
