// Runs the `torus` binary (TORUS_TOOL, defined by the test target) with arguments, or any
// command, as a user's shell would, and returns its exit status and everything it printed.
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

// A shell command line, its stderr with its stdout.
inline ToolRun run_command(const std::string& command_line) {
  const std::string command = command_line + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  if (pipe == nullptr) return {-1, ""};
  std::string output;
  std::array<char, 4096> buffer{};
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// `environment`: assignments put before the command ("NAME=value ...").
inline ToolRun run_tool(const std::string& arguments, const std::string& environment = "") {
  return run_command(fmt::format("{} {} {}", environment, TORUS_TOOL, arguments));
}

}  // namespace torus::test
