// Helpers for the data-pipeline tests: a scratch directory, files written byte for
// byte (plain or gzip), IDX files, and running tests/data_*.py under the test Python.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "framework/data/dataset.h"

namespace torus::data::test {

// A fresh directory under the temp dir, removed with the object.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() / fmt::format("torus_data_{}_{}", tag, ::getpid())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(file), Z_OK);
}

// An IDX image of unsigned bytes: magic (0, 0, 0x08, ndims), big-endian sizes, data.
inline std::string idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string out{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((d >> shift) & 0xff));
  out.append(data.begin(), data.end());
  return out;
}

// Runs tests/<script> with `args` under the test Python; "" on success, else its output.
inline std::string run_python(const std::string& script, const std::string& args, const ScratchDir& dir) {
  const std::string log = dir.file("python.log");
  const std::string command =
      fmt::format("{} {}/tests/{} {} > {} 2>&1", TORUS_TEST_PYTHON, TORUS_SOURCE_DIR, script, args, log);
  if (std::system(command.c_str()) == 0) return "";
  return command + "\n" + read_bytes(log);
}

// Gathers `indices` of a dataset into fresh tensors.
struct Gathered {
  Tensor inputs, targets;
};
inline Gathered gather_new(const Dataset& dataset, const std::vector<int64_t>& indices) {
  auto batch_shape = [&](const Shape& sample) {
    Shape shape{static_cast<int64_t>(indices.size())};
    shape.insert(shape.end(), sample.begin(), sample.end());
    return shape;
  };
  Gathered out{Tensor::empty(batch_shape(dataset.input_spec().shape), dataset.input_spec().dtype),
               Tensor::empty(batch_shape(dataset.target_spec().shape), dataset.target_spec().dtype)};
  dataset.gather(indices, out.inputs, out.targets);
  return out;
}

// The message of the exception of type E that f() throws ("" and a failure if none).
template <class E, class F>
std::string thrown_message(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

// A one-line message that contains each of `parts`; TORUS_TEST_VERBOSE=1 prints it.
inline void expect_one_line_naming(const std::string& message, const std::vector<std::string>& parts) {
  if (std::getenv("TORUS_TEST_VERBOSE")) std::printf("message: %s\n", message.c_str());
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message << "\n  lacks: " << part;
}

}  // namespace torus::data::test
