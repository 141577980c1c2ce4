// Helpers shared by the tests that check modules and optimizers against PyTorch: a
// scratch directory, running a reference script under the test Python, and comparing
// tensors with a relative tolerance.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "framework/tensor/tensor.h"

namespace torus::test {

// A fresh directory under /tmp, removed with the object.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() / fmt::format("torus_{}_{}", tag, ::getpid())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs tests/<script> with `args` under the PyTorch Python; returns "" on success, else
// the script's output for the failure message.
inline std::string run_reference(const std::string& script, const std::string& args, const ScratchDir& dir) {
  const std::string log = dir.file("python.log");
  const std::string command = fmt::format("{} {}/tests/{} {} > {} 2>&1", TORUS_TEST_PYTHON, TORUS_SOURCE_DIR,
                                          script, args, log);
  if (std::system(command.c_str()) == 0) return "";
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return command + "\n" + text.str();
}

// |a - b| <= rtol (|b| + floor_ratio max|b|) elementwise, compared in f64: relative to
// each element, with a floor relative to the tensor's own scale for entries that cancel
// to near zero (f32 sums of thousands of terms differ by ~1e-7 of their terms' size, not
// of the sum's). Reports the worst element; TORUS_TEST_VERBOSE=1 prints each margin.
inline void expect_close(const Tensor& actual, const Tensor& expected, double rtol, const std::string& what,
                         double floor_ratio = 1.0) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const auto a = actual.to_vector<double>(), b = expected.to_vector<double>();
  double scale = 0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  const double atol = rtol * scale * floor_ratio + 1e-300;
  size_t worst = 0;
  double worst_ratio = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double ratio = std::abs(a[i] - b[i]) / (atol + rtol * std::abs(b[i]));
    if (!(ratio <= worst_ratio)) {  // NaN counts as worst
      worst_ratio = ratio;
      worst = i;
      if (std::isnan(ratio)) break;
    }
  }
  if (std::getenv("TORUS_TEST_VERBOSE")) std::printf("%s: %.3g of the tolerance\n", what.c_str(), worst_ratio);
  EXPECT_LE(worst_ratio, 1.0) << what << ": element " << worst << " is " << a[worst] << ", expected "
                              << b[worst] << " (rtol " << rtol << ", atol " << atol << ")";
}

}  // namespace torus::test
