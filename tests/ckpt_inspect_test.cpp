// `torus ckpt inspect`: the listing and the JSON document of a file Torus wrote, and one
// line with a non-zero exit status for a broken or unsupported file.
#include <gtest/gtest.h>

#include <zlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "framework/io/safetensors.h"
#include "support/tool_run.h"
#include "framework/ops/ops.h"

namespace torus {
namespace {

using test::run_tool;
using test::ToolRun;

class CkptInspect : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("torus_inspect_{}", ::getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(CkptInspect, ListsTensorsWithChecksumsAsTextAndJson) {
  const std::string file = (dir_ / "model.safetensors").string();
  Tensor weight = Tensor::arange(6, DType::f32).reshape({2, 3});
  io::save_safetensors(file, {{"layer.weight", weight}, {"layer.bias", Tensor::zeros({3}, DType::bf16)}},
                       {{"step", "12"}});
  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), static_cast<const Bytef*>(weight.raw_data()), 24));

  ToolRun text = run_tool("ckpt inspect " + file);
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("layer.weight"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find(fmt::format("{:08x}", crc)), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("step = 12"), std::string::npos) << text.output;

  ToolRun json = run_tool("ckpt inspect --json " + file);
  ASSERT_EQ(json.status, 0) << json.output;
  const auto doc = nlohmann::json::parse(json.output);
  EXPECT_EQ(doc["metadata"]["step"], "12");
  ASSERT_EQ(doc["tensors"].size(), 2u);
  EXPECT_EQ(doc["tensors"][0]["name"], "layer.weight");
  EXPECT_EQ(doc["tensors"][0]["dtype"], "F32");
  EXPECT_EQ(doc["tensors"][0]["shape"], nlohmann::json::array({2, 3}));
  EXPECT_EQ(doc["tensors"][0]["bytes"], 24);
  EXPECT_EQ(doc["tensors"][0]["crc32"], fmt::format("{:08x}", crc));
  EXPECT_EQ(doc["tensors"][1]["dtype"], "BF16");
}

// Any valid file is listed, whatever its dtypes: those Torus cannot compute in too.
TEST_F(CkptInspect, ListsEveryDtypeOfTheFormat) {
  const std::string file = std::string(TORUS_SOURCE_DIR) + "/tests/data/safetensors/valid/every_format_dtype.safetensors";
  ToolRun json = run_tool("ckpt inspect --json " + file);
  ASSERT_EQ(json.status, 0) << json.output;
  const auto doc = nlohmann::json::parse(json.output);
  ASSERT_EQ(doc["tensors"].size(), 20u);
  std::set<std::string> dtypes;
  for (const auto& t : doc["tensors"]) dtypes.insert(t["dtype"].get<std::string>());
  for (const char* d : {"BOOL", "F8_E4M3", "F4", "F6_E2M3", "U16", "U64", "C64", "BF16"})
    EXPECT_TRUE(dtypes.count(d)) << d;
  EXPECT_EQ(doc["tensors"][0]["bytes"], 8);
}

// Every file of the malformed corpus gives one line on stderr and a non-zero status.
TEST_F(CkptInspect, RejectsEveryMalformedCorpusFileInOneLine) {
  const auto dir = std::filesystem::path(TORUS_SOURCE_DIR) / "tests/data/safetensors/malformed";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".safetensors") continue;
    ++files;
    ToolRun r = run_tool("ckpt inspect " + entry.path().string());
    EXPECT_EQ(r.status, 1) << entry.path();
    EXPECT_EQ(r.output.rfind("torus: ", 0), 0u) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
  EXPECT_GE(files, 25);
}

TEST_F(CkptInspect, BrokenMissingAndUnsupportedFilesFailInOneLine) {
  const std::string broken = (dir_ / "broken.safetensors").string();
  std::ofstream(broken) << "garbage!";
  for (const std::string& file : {broken, (dir_ / "missing.safetensors").string(), (dir_ / "weights.h5").string()}) {
    ToolRun r = run_tool("ckpt inspect " + file);
    EXPECT_NE(r.status, 0) << file;
    EXPECT_EQ(r.output.rfind("torus: ", 0), 0u) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
}

}  // namespace
}  // namespace torus
