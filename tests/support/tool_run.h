// Runs the `torus` binary (TORUS_TOOL, defined by the test target) with arguments, as a
// user's shell would, and returns its exit status and everything it printed.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace torus::test {

struct ToolRun {
  int status;
  std::string output;  // stdout and stderr together
};

// `environment`: assignments put before the command ("NAME=value ...").
inline ToolRun run_tool(const std::string& arguments, const std::string& environment = "") {
  const std::string command = fmt::format("{} {} {} 2>&1", environment, TORUS_TOOL, arguments);
  FILE* pipe = ::popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  if (pipe == nullptr) return {-1, ""};
  std::string output;
  std::array<char, 4096> buffer{};
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace torus::test
