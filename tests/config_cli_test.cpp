// `torus config ...` through the binary: exit status 2 and one line for every config
// error, the resolved config printed, check, the reference, docs/CONFIG.md up to date;
// and the CONFIG [key=value ...] [--print-config] arguments a command adds in one line.
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/message_differencer.h>

#include "launcher/config.h"
#include "launcher/config_command.h"
#include "launcher/config_reference.h"

namespace torus {
namespace {

using google::protobuf::util::MessageDifferencer;

struct ToolRun {
  int status;
  std::string out;  // stdout
  std::string err;  // stderr
};

ToolRun run_tool(const std::string& arguments) {
  const std::string err_file = std::filesystem::temp_directory_path() / fmt::format("torus_cli_err_{}", ::getpid());
  const std::string command = fmt::format("{} {} 2>{}", TORUS_TOOL, arguments, err_file);
  FILE* pipe = ::popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::string out;
  std::array<char, 4096> buffer{};
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  std::ostringstream err;
  err << std::ifstream(err_file).rdbuf();
  std::remove(err_file.c_str());
  return {WEXITSTATUS(status), out, err.str()};
}

std::string source(const std::string& relative) { return std::string(TORUS_SOURCE_DIR) + "/" + relative; }

class ConfigCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("torus_config_cli_{}", ::getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigCli, ConfigErrorsExitWith2InOneLineNamingFileLineAndPath) {
  const std::string mlp = source("configs/fashion_mnist_mlp.yaml");
  const std::string typo = write("typo.yaml", "model:\n  kind: mlp\ndata:\n  dataset: fashion_mnist\noptimizer:\n  lrr: 0.1\n");
  const std::string json = write("bad.json", "{\"model\": {\"kind\": \"mlp\"}\n\"data\": {}}");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"config check " + typo, typo + ":6:3: optimizer.lrr: unknown field; did you mean 'lr'?"},
      {"config print " + typo, typo + ":6:3: optimizer.lrr: unknown field; did you mean 'lr'?"},
      {"config check " + json, json + ":2:1: JSON syntax error: syntax error while parsing object - unexpected string "
                                      "literal; expected '}'"},
      {"config check " + mlp + " optimizer.lr", "override 'optimizer.lr': expected key=value, as in optimizer.lr=3e-4"},
      {"config check " + mlp + " optimizer.lr=0", "override 'optimizer.lr=0': optimizer.lr: 0 is out of range; expected a number > 0"},
      {"config check " + mlp + " model.mlp.hiden=[1]",
       "override 'model.mlp.hiden=[1]': model.mlp.hiden: unknown field; did you mean 'hidden'?"},
      {"config check " + (dir_ / "none.yaml").string(),
       (dir_ / "none.yaml").string() + ": cannot read the config file: No such file or directory"},
  };
  for (const auto& [arguments, message] : cases) {
    const ToolRun r = run_tool(arguments);
    EXPECT_EQ(r.status, 2) << arguments;
    EXPECT_EQ(r.err, "torus: " + message + "\n") << arguments;
    EXPECT_EQ(r.out, "") << arguments;
  }
  // A usage error is a status 2 as well.
  const ToolRun usage = run_tool("config check");
  EXPECT_EQ(usage.status, 2);
  EXPECT_EQ(usage.err.rfind("torus: ", 0), 0u) << usage.err;
}

TEST_F(ConfigCli, PrintWritesTheResolvedConfigWithOverrides) {
  const std::string mlp = source("configs/fashion_mnist_mlp.yaml");
  const ToolRun r = run_tool("config print " + mlp + " optimizer.lr=0.2 'model.mlp.hidden=[64, 32]'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const config::ExperimentConfig printed = config::load_text(r.out, config::Format::yaml, "printed.yaml");
  const config::ExperimentConfig expected = config::load(mlp, {"optimizer.lr=0.2", "model.mlp.hidden=[64, 32]"});
  EXPECT_TRUE(MessageDifferencer::Equals(printed, expected)) << r.out;
  EXPECT_EQ(r.out, config::to_yaml(expected));
}

TEST_F(ConfigCli, CheckSaysOkForEveryShippedConfig) {
  for (const auto& entry : std::filesystem::directory_iterator(source("configs"))) {
    const ToolRun r = run_tool("config check " + entry.path().string());
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(": OK (run " + entry.path().stem().string() + ", writes to runs/"), std::string::npos) << r.out;
  }
}

TEST_F(ConfigCli, ReferenceListsEveryFieldAndDocsConfigMdIsUpToDate) {
  const ToolRun text = run_tool("config reference");
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_EQ(text.out, config::reference_text());
  EXPECT_NE(text.out.find("launch.slurm.time  (string, default \"01:00:00\"; minutes, MM:SS"), std::string::npos);

  const ToolRun markdown = run_tool("config reference --markdown");
  ASSERT_EQ(markdown.status, 0) << markdown.err;
  std::ostringstream checked_in;
  checked_in << std::ifstream(source("docs/CONFIG.md")).rdbuf();
  EXPECT_TRUE(markdown.out == checked_in.str())
      << "docs/CONFIG.md is out of date with launcher/config.proto; regenerate it with\n"
      << "  " << TORUS_TOOL << " config reference --markdown > docs/CONFIG.md";
}

// What `torus train CONFIG [k=v ...] [--print-config]` will do with these two calls.
TEST_F(ConfigCli, ConfigArgumentsAndPrintConfigForAnyCommand) {
  const std::string mlp = source("configs/fashion_mnist_mlp.yaml");
  CLI::App app{"test"};
  CLI::App* train = app.add_subcommand("train");
  cli::ConfigArguments arguments;
  cli::add_config_arguments(*train, arguments);
  std::vector<std::string> argv_strings = {"torus", "train", mlp, "seed=5", "--print-config"};
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(arguments.path, mlp);
  EXPECT_EQ(arguments.overrides, std::vector<std::string>{"seed=5"});
  ::testing::internal::CaptureStdout();
  EXPECT_FALSE(cli::load_or_print(arguments).has_value());
  const std::string printed = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(printed, config::to_yaml(config::load(mlp, {"seed=5"})));

  arguments.print_config = false;
  const auto loaded = cli::load_or_print(arguments);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->seed(), 5);
}

}  // namespace
}  // namespace torus
