// The safetensors writers' bytes, for files written buffered and past the page cache
// (64 MiB and more): save_safetensors' checksum, asked for or not, is zlib's CRC-32 of the
// file it wrote; the streaming writer, fed in pieces that straddle tensors, writes the
// file save_safetensors writes, byte for byte.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "framework/io/direct_writer.h"
#include "framework/io/safetensors.h"
#include "framework/io/safetensors_stream.h"
#include "framework/tensor/random.h"

namespace torus::io {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

uint32_t zlib_crc(const std::string& bytes) {
  return static_cast<uint32_t>(::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
                                       static_cast<uInt>(bytes.size())));
}

// Tensors of odd sizes: a small file, or one of more than kDirectWriteBytes.
NamedTensors tensors_of(bool large) {
  Generator gen(7);
  NamedTensors out;
  out.emplace_back("a", Tensor::randn({3, 5}, gen));
  out.emplace_back("b", Tensor::randn({large ? int64_t{17'000'001} : int64_t{1001}}, gen));
  out.emplace_back("c", Tensor::randn({7}, gen).to(DType::bf16));
  return out;
}

class SafetensorsWrite : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("torus_st_write_{}", ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SafetensorsWrite, TheChecksumAskedForIsThatOfTheFileWritten) {
  for (bool large : {false, true}) {
    const NamedTensors tensors = tensors_of(large);
    const fs::path with = dir_ / "with.safetensors", without = dir_ / "without.safetensors";
    uint32_t crc = 0;
    save_safetensors(with.string(), tensors, {{"format", "pt"}}, &crc);
    save_safetensors(without.string(), tensors, {{"format", "pt"}});
    const std::string bytes = read_all(with);
    EXPECT_EQ(large, bytes.size() > kDirectWriteBytes);
    EXPECT_EQ(crc, zlib_crc(bytes)) << (large ? "large" : "small");
    EXPECT_TRUE(read_all(without) == bytes) << "the same file with or without the checksum";
  }
}

TEST_F(SafetensorsWrite, TheStreamedFileIsTheOneSaveSafetensorsWrites) {
  for (bool large : {false, true}) {
    const NamedTensors tensors = tensors_of(large);
    const Metadata metadata = {{"format", "pt"}, {"step", "8"}};
    const fs::path saved = dir_ / "saved.safetensors", streamed = dir_ / "streamed.safetensors";
    save_safetensors(saved.string(), tensors, metadata);
    std::vector<SafetensorsSpec> specs;
    std::string data;
    for (const auto& [name, t] : tensors) {
      specs.push_back({name, t.dtype(), t.shape()});
      data.append(static_cast<const char*>(t.raw_data()), t.nbytes());
    }
    SafetensorsStreamWriter writer(streamed, specs, metadata);
    for (size_t at = 0; at < data.size(); at += 1'000'003)
      writer.append(data.data() + at, std::min<size_t>(1'000'003, data.size() - at));
    writer.commit();
    EXPECT_TRUE(read_all(streamed) == read_all(saved)) << (large ? "large" : "small");
    EXPECT_FALSE(fs::exists(streamed.string() + ".tmp"));
  }
}

}  // namespace
}  // namespace torus::io
