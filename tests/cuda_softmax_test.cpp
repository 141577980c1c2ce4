// GPU: softmax and log-softmax over the last dim (kernels/cuda/softmax.h) against a CPU
// reference in double, forward and backward, including large inputs (stability).
#include <cmath>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/cuda/softmax.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

class SoftmaxTest : public CudaTest {
 protected:
  void check(int64_t rows, int64_t cols, bool log, float scale = 1.0f) {
    std::vector<float> x = random_vector(static_cast<size_t>(rows * cols), 21);
    for (float& v : x) v *= scale;
    const std::vector<float> g = random_vector(x.size(), 22);
    DeviceBuffer dx(x), dy(x.size()), dg(g), dgx(x.size());
    softmax_forward(dx.get(), dy.get(), rows, cols, log, stream_);
    sync();
    const std::vector<float> y = dy.download();
    softmax_backward(dy.get(), dg.get(), dgx.get(), rows, cols, log, stream_);
    sync();

    std::vector<double> want(x.size()), want_gx(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      const size_t base = static_cast<size_t>(r * cols);
      double max = -INFINITY, sum = 0, dot = 0, gsum = 0;
      for (int64_t c = 0; c < cols; ++c) max = std::max(max, double{x[base + c]});
      for (int64_t c = 0; c < cols; ++c) sum += std::exp(x[base + c] - max);
      for (int64_t c = 0; c < cols; ++c) {
        const double p = std::exp(x[base + c] - max) / sum;
        want[base + c] = log ? x[base + c] - max - std::log(sum) : p;
        dot += g[base + c] * p;
        gsum += g[base + c];
      }
      // The backward from the reference probabilities (the kernel's from its own y).
      for (int64_t c = 0; c < cols; ++c) {
        const double p = std::exp(x[base + c] - max) / sum;
        want_gx[base + c] = log ? g[base + c] - p * gsum : p * (g[base + c] - dot);
      }
    }
    const std::string what = std::string(log ? "log_softmax" : "softmax") + " (" + std::to_string(rows) + ", " +
                             std::to_string(cols) + ")";
    expect_close(y, want, log ? 1e-5 * scale : 1e-6, 1e-4, what);
    expect_close(dgx.download(), want_gx, 1e-5, 1e-4, what + " backward");
  }
};

TEST_F(SoftmaxTest, WarpPerRow) {
  for (bool log : {false, true}) {
    check(1, 1, log);
    check(64, 10, log);
    check(333, 1024, log);
  }
}

TEST_F(SoftmaxTest, BlockPerRow) {
  for (bool log : {false, true}) {
    check(4, 1025, log);
    check(2, 50257, log);  // a GPT-2 vocabulary row
  }
}

TEST_F(SoftmaxTest, LargeLogitsStayFinite) {
  check(16, 100, false, 500.0f);
  check(16, 2000, true, 500.0f);
}

}  // namespace
}  // namespace torus::cuda
