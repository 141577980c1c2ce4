// `torus ckpt inspect`: the listing and the JSON document of a file Torus wrote and of an
// .h5 file h5py wrote (its datasets' CRC-32s against Python's zlib), and one line with a
// non-zero exit status for a broken, truncated or unsupported file.
#include <gtest/gtest.h>

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

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

// h5py writes datasets of several dtypes, in groups and at the root, and root attributes;
// Python's zlib gives each dataset's CRC-32 of its little-endian bytes.
TEST_F(CkptInspect, ListsEveryDatasetOfAnH5pyFileWithPythonsChecksums) {
  const std::string file = (dir_ / "weights.h5").string();
  std::ofstream(dir_ / "make.py") << R"(import json, sys, zlib
import h5py, numpy as np
arrays = {
    "weights/dense/kernel": np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
    "weights/dense/bias": np.linspace(-1, 1, 3),
    "weights/half": np.arange(4, dtype=np.float16).reshape(2, 2),
    "steps": np.array([1, -2, 3, 1 << 40], dtype=np.int64),
    "counts/u16": np.arange(5, dtype=np.uint16),
    "counts/big_endian": np.arange(3, dtype=">i4"),
    "scalar": np.float64(2.5),
}
with h5py.File(sys.argv[1], "w") as f:
    for name, a in arrays.items():
        f[name] = a
    f.attrs["step"] = 7
    f.attrs["model"] = "tiny"
    f.attrs["lr"] = 0.5
    f.attrs["vector"] = np.arange(3)
out = {}
for name, a in arrays.items():
    a = np.asarray(a)
    little = a.astype(a.dtype.newbyteorder("<"))
    out[name] = [list(a.shape), zlib.crc32(little.tobytes()), a.nbytes]
print(json.dumps(out))
)";
  const ToolRun python = test::run_command(fmt::format("{} {} {}", TORUS_TEST_PYTHON, (dir_ / "make.py").string(), file));
  ASSERT_EQ(python.status, 0) << python.output;
  const auto want = nlohmann::json::parse(python.output);

  ToolRun json = run_tool("ckpt inspect --json " + file);
  ASSERT_EQ(json.status, 0) << json.output;
  const auto doc = nlohmann::json::parse(json.output);
  EXPECT_EQ(doc["format"], "hdf5");
  EXPECT_EQ(doc["metadata"]["step"], "7");
  EXPECT_EQ(doc["metadata"]["model"], "tiny");
  EXPECT_EQ(doc["metadata"]["lr"], "0.5");
  EXPECT_FALSE(doc["metadata"].contains("vector"));  // not one value
  ASSERT_EQ(doc["tensors"].size(), want.size()) << json.output;
  std::map<std::string, std::string> dtypes;
  std::vector<std::string> names;
  for (const auto& t : doc["tensors"]) {
    const std::string name = t["name"].get<std::string>();
    names.push_back(name);
    ASSERT_TRUE(want.contains(name)) << name;
    EXPECT_EQ(t["shape"], want[name][0]) << name;
    EXPECT_EQ(t["crc32"], fmt::format("{:08x}", want[name][1].get<uint32_t>())) << name;
    EXPECT_EQ(t["bytes"], want[name][2]) << name;
    dtypes[name] = t["dtype"].get<std::string>();
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(dtypes["weights/dense/kernel"], "F32");
  EXPECT_EQ(dtypes["weights/dense/bias"], "F64");
  EXPECT_EQ(dtypes["weights/half"], "F16");
  EXPECT_EQ(dtypes["steps"], "I64");
  EXPECT_EQ(dtypes["counts/u16"], "U16");
  EXPECT_EQ(dtypes["counts/big_endian"], "I32");
  EXPECT_EQ(dtypes["scalar"], "F64");

  ToolRun text = run_tool("ckpt inspect " + file);
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find(file + ": hdf5, 7 tensors"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("metadata step = 7"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("weights/dense/kernel"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find(fmt::format("{:08x}", want["steps"][1].get<uint32_t>())), std::string::npos)
      << text.output;
}

// A truncated .h5 and one that is no HDF5 at all: one line naming the file.
TEST_F(CkptInspect, TruncatedAndNonHdf5FilesFailInOneLineNamingThem) {
  const std::string whole = (dir_ / "whole.h5").string();
  std::ofstream(dir_ / "make.py") << "import sys, h5py, numpy as np\n"
                                     "with h5py.File(sys.argv[1], 'w') as f:\n"
                                     "    f['a'] = np.arange(4096, dtype=np.float32)\n";
  const ToolRun python = test::run_command(fmt::format("{} {} {}", TORUS_TEST_PYTHON, (dir_ / "make.py").string(), whole));
  ASSERT_EQ(python.status, 0) << python.output;
  std::ifstream in(whole, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string truncated = (dir_ / "truncated.h5").string();
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const std::string garbage = (dir_ / "garbage.h5").string();
  std::ofstream(garbage) << "not an HDF5 file at all, just some text\n";
  for (const std::string& file : {truncated, garbage}) {
    ToolRun r = run_tool("ckpt inspect " + file);
    EXPECT_NE(r.status, 0) << file;
    EXPECT_EQ(r.output.rfind("torus: ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(file), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
}

}  // namespace
}  // namespace torus
