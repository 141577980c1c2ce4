// safetensors: round trips of every dtype, and one error (never a crash) for each way a
// hostile or damaged file can break the format.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "framework/io/safetensors.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random.h"

namespace torus::io {
namespace {

class Safetensors : public ::testing::Test {
 protected:
  std::string path(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / fmt::format("torus_st_{}_{}", ::getpid(), name);
    files_.push_back(p.string());
    return p.string();
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

// Files of 64 MiB and more go through O_DIRECT (framework/io/direct_writer.h): several
// 8 MiB buffers, tensors straddling them, and a tail that is no multiple of a block.
TEST_F(Safetensors, LargeFilesWrittenPastThePageCacheRoundTripBitExact) {
  Generator gen(5);
  NamedTensors tensors;
  for (int64_t n : {int64_t{9} << 20, int64_t{5'000'001}, int64_t{3}, int64_t{2} << 20})
    tensors.emplace_back(fmt::format("t{}", n), Tensor::randn({n}, gen));
  const std::string file = path("large.safetensors");
  save_safetensors(file, tensors, {{"format", "pt"}});
  const SafetensorsContents loaded = load_safetensors(file);
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i)
    EXPECT_EQ(std::memcmp(loaded.tensors[i].second.raw_data(), tensors[i].second.raw_data(), tensors[i].second.nbytes()), 0)
        << tensors[i].first;
  uint64_t bytes = 0;
  for (const auto& [name, t] : tensors) bytes += t.nbytes();
  EXPECT_GT(std::filesystem::file_size(file), bytes) << "the header and every tensor byte, no padding dropped";
  EXPECT_LT(std::filesystem::file_size(file), bytes + 4096) << "the block padding is cut off";
}

TEST_F(Safetensors, MissingFileAndRepeatedNamesOnWrite) {
  EXPECT_THROW(load_safetensors(path("does_not_exist")), IOError);
  EXPECT_THROW(save_safetensors(path("dup"), {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}}), ValueError);
}

// The corpus of malformed files (tests/data/safetensors/make_corpus.py): each one is
// rejected with its own message, naming the file, and nothing else happens.
std::vector<std::pair<std::string, std::string>> malformed_corpus() {
  std::vector<std::pair<std::string, std::string>> cases;
  std::ifstream list(std::string(TORUS_SOURCE_DIR) + "/tests/data/safetensors/malformed/expected.tsv");
  std::string line;
  while (std::getline(list, line)) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos) cases.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return cases;
}

class MalformedFile : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(MalformedFile, IsRejectedWithItsOwnMessage) {
  const auto& [file, fragment] = GetParam();
  const std::string path = std::string(TORUS_SOURCE_DIR) + "/tests/data/safetensors/malformed/" + file;
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  for (auto read : {+[](const std::string& p) { load_safetensors(p); },
                    +[](const std::string& p) { map_safetensors(p); }}) {
    try {
      read(path);
      ADD_FAILURE() << file << ": accepted; expected an error mentioning '" << fragment << "'";
    } catch (const IOError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, MalformedFile, ::testing::ValuesIn(malformed_corpus()),
                         [](const auto& info) {
                           std::string name = info.param.first.substr(0, info.param.first.find('.'));
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(SafetensorsCorpus, HoldsAtLeastTwentyFiveMalformedFiles) { EXPECT_GE(malformed_corpus().size(), 25u); }

TEST(SafetensorsCorpus, ValidFilesOfEveryFormatDtypeAreAcceptedAndTorusDtypesLoad) {
  const std::string dir = std::string(TORUS_SOURCE_DIR) + "/tests/data/safetensors/valid/";
  const MappedSafetensors every = map_safetensors(dir + "every_format_dtype.safetensors");
  EXPECT_EQ(every.index.entries.size(), 20u);
  EXPECT_EQ(every.index.metadata.at("origin"), "make_corpus.py");
  for (const SafetensorsEntry& e : every.index.entries) EXPECT_EQ(e.shape, (Shape{2, 4})) << e.name;
  try {
    load_safetensors(dir + "every_format_dtype.safetensors");
    ADD_FAILURE() << "BOOL tensors were loaded as Torus tensors";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("which Torus cannot load"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(load_safetensors(dir + "empty_header.safetensors").tensors.empty());
  EXPECT_EQ(load_safetensors(dir + "metadata_only.safetensors").metadata.at("format"), "pt");
  const SafetensorsContents scalar = load_safetensors(dir + "scalar_and_empty.safetensors");
  EXPECT_EQ(scalar.tensors.at(0).second.item(), 2.5);
  EXPECT_EQ(scalar.tensors.at(1).second.shape(), (Shape{0, 3}));
  const SafetensorsContents misaligned = load_safetensors(dir + "misaligned_f32.safetensors");
  EXPECT_EQ(misaligned.tensors.at(1).second.select(0, 1).item(), -2.0) << "the misaligned f32 tensor";
}

// The tensors tests/safetensors_interop.py builds from the same formula: exact in every
// dtype, so each side checks the other's files bit for bit.
NamedTensors interop_tensors() {
  NamedTensors tensors;
  for (DType t : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8}) {
    Tensor value = Tensor::empty({2, 3, 4}, DType::f64);
    double* v = value.data<double>();
    for (int k = 0; k < 24; ++k) v[k] = t == DType::u8 ? (k * 7) % 256 : is_floating(t) ? (k - 12) * 0.25 : k - 12;
    tensors.emplace_back(std::string(dtype_name(t)), value.to(t));
  }
  tensors.emplace_back("scalar", Tensor::scalar(-1.25, DType::f64));
  tensors.emplace_back("empty", Tensor::zeros({0, 4}));
  return tensors;
}

int run_interop(const std::string& command, const std::string& file) {
  const std::string line = fmt::format("{} {}/tests/safetensors_interop.py {} {}", TORUS_TEST_PYTHON,
                                       TORUS_SOURCE_DIR, command, file);
  return std::system(line.c_str());
}

// Torus's files read by the PyPI `safetensors` package and by a spec reader in Python.
TEST_F(Safetensors, PythonReadersReadTorusFilesBitForBit) {
  const std::string file = path("from_torus.safetensors");
  save_safetensors(file, interop_tensors(), {{"origin", "torus"}});
  EXPECT_EQ(run_interop("check", file), 0) << "see the Python assertion above";
}

// Files of the PyPI writer and of a spec writer in Python read by Torus.
TEST_F(Safetensors, TorusReadsPythonWrittenFilesBitForBit) {
  const NamedTensors want = interop_tensors();
  for (const std::string writer : {"pypi", "spec"}) {
    const std::string file = path("from_" + writer + ".safetensors");
    ASSERT_EQ(run_interop("write-" + writer, file), 0) << writer;
    SafetensorsContents loaded = load_safetensors(file);
    EXPECT_EQ(loaded.metadata.at("origin"), writer);
    ASSERT_EQ(loaded.tensors.size(), want.size()) << writer;
    for (const auto& [name, expected] : want) {
      const auto got = std::find_if(loaded.tensors.begin(), loaded.tensors.end(),
                                    [&name = name](const auto& p) { return p.first == name; });
      ASSERT_NE(got, loaded.tensors.end()) << writer << " " << name;
      EXPECT_EQ(got->second.dtype(), expected.dtype()) << writer << " " << name;
      EXPECT_EQ(got->second.shape(), expected.shape()) << writer << " " << name;
      EXPECT_EQ(std::memcmp(got->second.raw_data(), expected.raw_data(), expected.nbytes()), 0)
          << writer << " " << name;
    }
  }
}

}  // namespace
}  // namespace torus::io
