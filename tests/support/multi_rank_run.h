// A training workload (the model, data and optimizer sections of a config) and a fixture
// that writes it into a fresh directory with a test's own other sections, then trains it
// through the `torus` binary on 1 process or under mpirun on N. The directory is removed
// when the test passed. Needs TORUS_TOOL and TORUS_MPIEXEC from the test target.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>

#include <fmt/format.h>

#include "support/tool_run.h"

namespace torus::test {

struct Workload {
  std::string name;
  std::string body;  // model, data and optimizer sections
};

inline void PrintTo(const Workload& w, std::ostream* os) { *os << w.name; }

class MultiRankRun : public ::testing::TestWithParam<Workload> {
 protected:
  // `sections` holds "{body}" and "{run_dir}" where the workload and the directory go.
  void write_config(const std::string& tag, const std::string& sections) {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("torus_{}_{}_{}", tag, GetParam().name, ::getpid());
    std::filesystem::create_directories(dir_);
    config_ = dir_ / "config.yaml";
    std::ofstream(config_) << fmt::format(fmt::runtime(sections), fmt::arg("body", GetParam().body),
                                          fmt::arg("run_dir", dir_.string()));
  }
  void TearDown() override {
    if (!HasFailure() && !dir_.empty()) std::filesystem::remove_all(dir_);
  }
  // Trains on `ranks` processes (1: no mpirun) into run directory `name`; `environment`
  // is put before the command and passed on to every rank. Expects success.
  std::filesystem::path train(int ranks, const std::string& name, const std::string& overrides = "",
                              const std::string& environment = "") {
    const ToolRun r = run(ranks, name, overrides, environment);
    EXPECT_EQ(r.status, 0) << r.output;
    return dir_ / name;
  }
  // The same, for runs that may fail: their exit status and output.
  ToolRun run(int ranks, const std::string& name, const std::string& overrides = "",
              const std::string& environment = "") {
    const std::string arguments = fmt::format("train {} name={} {}", config_.string(), name, overrides);
    std::string launcher = environment;
    if (ranks > 1) {
      launcher += fmt::format(" {} --oversubscribe --allow-run-as-root -np {}", TORUS_MPIEXEC, ranks);
      for (size_t at = 0, end; at < environment.size(); at = end + 1) {  // -x NAME for NAME=value
        end = environment.find(' ', at);
        if (end == std::string::npos) end = environment.size();
        const std::string assignment = environment.substr(at, end - at);
        if (assignment.find('=') != std::string::npos) launcher += " -x " + assignment.substr(0, assignment.find('='));
      }
    }
    return run_tool(arguments, launcher);
  }
  std::filesystem::path dir_, config_;
};

}  // namespace torus::test
