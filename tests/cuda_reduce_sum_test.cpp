// GPU: sum over the last dim (kernels/cuda/reduce_sum.h) against a CPU reference in double,
// for warp-per-row and block-per-row shapes, and its backward.
#include <vector>

#include "cuda_test_support.h"
#include "kernels/cuda/reduce_sum.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

class ReduceSumTest : public CudaTest {
 protected:
  void check(int64_t rows, int64_t cols) {
    const std::vector<float> x = random_vector(static_cast<size_t>(rows * cols), 11);
    const std::vector<float> g = random_vector(static_cast<size_t>(rows), 12);
    DeviceBuffer dx(x), dout(static_cast<size_t>(rows)), dg(g), dgx(x.size());
    sum_last_dim_forward(dx.get(), dout.get(), rows, cols, stream_);
    sum_last_dim_backward(dg.get(), dgx.get(), rows, cols, stream_);
    sync();
    std::vector<double> want(static_cast<size_t>(rows), 0.0), want_gx(x.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        want[static_cast<size_t>(r)] += x[static_cast<size_t>(r * cols + c)];
        want_gx[static_cast<size_t>(r * cols + c)] = g[static_cast<size_t>(r)];
      }
    const std::string what = "sum (" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
    expect_close(dout.download(), want, 1e-6 * static_cast<double>(cols), 1e-5, what);
    if (cols > 0) expect_close(dgx.download(), want_gx, 0, 0, what + " backward");
  }
};

TEST_F(ReduceSumTest, WarpPerRow) {
  check(1, 1);
  check(37, 31);
  check(1000, 1024);
}

TEST_F(ReduceSumTest, BlockPerRow) {
  check(5, 1025);
  check(3, 100000);
}

TEST_F(ReduceSumTest, EmptyRowsSumToZero) { check(8, 0); }

}  // namespace
}  // namespace torus::cuda
