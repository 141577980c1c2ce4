// safetensors: round trips of every dtype, and one error (never a crash) for each way a
// hostile or damaged file can break the format.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "framework/io/safetensors.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random.h"
#include "support/npy.h"

namespace torus::io {
namespace {

class Safetensors : public ::testing::Test {
 protected:
  std::string path(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / fmt::format("torus_st_{}_{}", ::getpid(), name);
    files_.push_back(p.string());
    return p.string();
  }
  // A file of an 8-byte little-endian length, this header text, then `data_bytes` zeros.
  std::string raw_file(const std::string& name, const std::string& header, size_t data_bytes,
                       int64_t declared_length = -1) {
    const std::string file = path(name);
    std::ofstream out(file, std::ios::binary);
    uint64_t length = declared_length >= 0 ? static_cast<uint64_t>(declared_length) : header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
    out << header << std::string(data_bytes, '\0');
    return file;
  }
  void expect_error(const std::string& file, const std::string& fragment) {
    try {
      load_safetensors(file);
      ADD_FAILURE() << "expected an error mentioning '" << fragment << "'";
    } catch (const IOError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
  }
  void TearDown() override {
    for (auto& f : files_) std::remove(f.c_str());
  }
  std::vector<std::string> files_;
};

TEST_F(Safetensors, EveryDtypeScalarsAndEmptyTensorsRoundTripBitExact) {
  Generator gen(3);
  NamedTensors tensors;
  for (DType t : kAllDTypes)
    tensors.emplace_back(std::string(dtype_name(t)), (Tensor::randn({3, 5}, gen, DType::f64) * 10.0).to(t));
  tensors.emplace_back("scalar", Tensor::scalar(2.5));
  tensors.emplace_back("empty", Tensor::zeros({0, 4}));
  tensors.emplace_back("strided", Tensor::randn({4, 3}, gen).t());
  const std::string file = path("roundtrip.safetensors");
  save_safetensors(file, tensors, {{"format", "pt"}, {"step", "7"}});

  // The data starts 8-byte aligned.
  std::ifstream in(file, std::ios::binary);
  uint64_t header_length = 0;
  in.read(reinterpret_cast<char*>(&header_length), 8);
  EXPECT_EQ(header_length % 8, 0u);

  SafetensorsContents loaded = load_safetensors(file);
  EXPECT_EQ(loaded.metadata.at("step"), "7");
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, want] = tensors[i];
    const auto& [got_name, got] = loaded.tensors[i];
    EXPECT_EQ(got_name, name);
    EXPECT_EQ(got.dtype(), want.dtype()) << name;
    EXPECT_EQ(got.shape(), want.shape()) << name;
    const Tensor w = want.contiguous();
    EXPECT_EQ(std::memcmp(got.raw_data(), w.raw_data(), w.nbytes()), 0) << name;
  }
}

TEST_F(Safetensors, RejectsFilesTooShortOrWithAnImpossibleHeaderLength) {
  const std::string tiny = path("tiny");
  std::ofstream(tiny) << "abc";
  expect_error(tiny, "too short");
  expect_error(raw_file("huge", "{}", 0, 200'000'000), "exceeds the limit");
  expect_error(raw_file("past_end", "{}", 0, 64), "past the end");
}

TEST_F(Safetensors, RejectsBadJson) {
  expect_error(raw_file("not_json", "{\"a\": ", 0), "not valid UTF-8 JSON");
  expect_error(raw_file("not_object", "[1, 2]  ", 0), "not a JSON object");
  expect_error(raw_file("bad_utf8", "{\"\xff\": 1}", 0), "not valid UTF-8 JSON");
  expect_error(raw_file("duplicate",
                        R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                        1),
               "names 'a' twice");
}

TEST_F(Safetensors, RejectsBadEntries) {
  expect_error(raw_file("dtype", R"({"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}})", 1), "dtype 'Q8'");
  expect_error(raw_file("negative", R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1),
               "not a non-negative integer");
  expect_error(raw_file("overflow",
                        R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
               "overflows");
  expect_error(raw_file("mismatch", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
               "needs 8");
  expect_error(raw_file("reversed", R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4),
               "end before they begin");
  expect_error(raw_file("metadata", R"({"__metadata__":{"k":1}})", 0), "not a string");
  expect_error(raw_file("unknown_field", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1),
               "unknown field 'x'");
}

TEST_F(Safetensors, RejectsGapsOverlapsAndTrailingOrMissingData) {
  expect_error(raw_file("gap",
                        R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})",
                        3),
               "a gap or an overlap");
  expect_error(raw_file("overlap",
                        R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                        3),
               "a gap or an overlap");
  expect_error(raw_file("trailing", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 5),
               "the file holds 5");
  expect_error(raw_file("truncated", R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 2),
               "the file holds 2");
}

TEST_F(Safetensors, MissingFileAndRepeatedNamesOnWrite) {
  EXPECT_THROW(load_safetensors(path("does_not_exist")), IOError);
  EXPECT_THROW(save_safetensors(path("dup"), {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}}), ValueError);
}

// Files cross to an independent reader and writer written from the spec in Python.
TEST_F(Safetensors, AnIndependentPythonReaderAndWriterAgreeBitForBit) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("torus_st_interop_{}", ::getpid());
  fs::create_directories(dir);
  Generator gen(11);
  NamedTensors tensors;
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8}) {
    Tensor value = (Tensor::randn({2, 3, 4}, gen, DType::f64) * 50.0).to(t);
    tensors.emplace_back(std::string(dtype_name(t)), value);
    test::save_npy((dir / (std::string(dtype_name(t)) + ".npy")).string(), value);
  }
  tensors.emplace_back("scalar", Tensor::scalar(-1.25, DType::f64));
  test::save_npy((dir / "scalar.npy").string(), tensors.back().second);

  const std::string from_torus = path("from_torus.safetensors");
  save_safetensors(from_torus, tensors, {{"origin", "torus"}});
  const std::string script = std::string(TORUS_SOURCE_DIR) + "/tests/safetensors_reference.py";
  const std::string check = fmt::format("{} {} check {} {}", TORUS_TEST_PYTHON, script, from_torus, dir.string());
  EXPECT_EQ(std::system(check.c_str()), 0) << check;

  const std::string from_python = path("from_python.safetensors");
  const std::string write = fmt::format("{} {} write {} {}", TORUS_TEST_PYTHON, script, from_python, dir.string());
  ASSERT_EQ(std::system(write.c_str()), 0) << write;
  SafetensorsContents loaded = load_safetensors(from_python);
  EXPECT_EQ(loaded.metadata.at("origin"), "python");
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (const auto& [name, got] : loaded.tensors) {
    auto want = std::find_if(tensors.begin(), tensors.end(), [&](const auto& p) { return p.first == name; });
    ASSERT_NE(want, tensors.end()) << name;
    EXPECT_EQ(got.dtype(), want->second.dtype()) << name;
    EXPECT_EQ(got.shape(), want->second.shape()) << name;
    EXPECT_EQ(std::memcmp(got.raw_data(), want->second.raw_data(), got.nbytes()), 0) << name;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace torus::io
