// GPU: LayerNorm forward and backward (kernels/cuda/layer_norm.h) against a CPU reference
// in double: output, saved mean and rstd, and the gradients of x, weight and bias; the
// parameter gradients of many rows also in two stages (with the workspace), the same bits
// on every run.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/cuda/layer_norm.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

class LayerNormTest : public CudaTest {
 protected:
  // `chunked`: with the workspace layer_norm_backward_workspace asks for. Returns the
  // parameter gradients (weight, bias).
  std::pair<std::vector<float>, std::vector<float>> check(int64_t rows, int64_t cols, float offset = 0.0f,
                                                          bool chunked = false) {
    const float eps = 1e-5f;
    std::vector<float> x = random_vector(static_cast<size_t>(rows * cols), 31);
    for (float& v : x) v += offset;  // a large common offset: the two-pass variance must cope
    const std::vector<float> w = random_vector(static_cast<size_t>(cols), 32);
    const std::vector<float> b = random_vector(static_cast<size_t>(cols), 33);
    const std::vector<float> g = random_vector(x.size(), 34);
    DeviceBuffer dx(x), dw(w), db(b), dy(x.size()), dmean(static_cast<size_t>(rows)), drstd(static_cast<size_t>(rows));
    DeviceBuffer dg(g), dgx(x.size()), dgw(w.size()), dgb(b.size());
    layer_norm_forward(dx.get(), dw.get(), db.get(), dy.get(), dmean.get(), drstd.get(), rows, cols, eps, stream_);
    const int64_t workspace_floats = chunked ? layer_norm_backward_workspace(rows, cols) : 0;
    DeviceBuffer workspace(static_cast<size_t>(std::max<int64_t>(workspace_floats, 1)));
    layer_norm_backward(dx.get(), dw.get(), dmean.get(), drstd.get(), dg.get(), dgx.get(), dgw.get(), dgb.get(),
                        rows, cols, stream_, workspace_floats > 0 ? workspace.get() : nullptr);
    sync();

    std::vector<double> want_y(x.size()), want_mean(static_cast<size_t>(rows)), want_rstd(static_cast<size_t>(rows));
    std::vector<double> want_gx(x.size()), want_gw(w.size(), 0.0), want_gb(b.size(), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const size_t base = static_cast<size_t>(r * cols);
      double mean = 0, var = 0;
      for (int64_t c = 0; c < cols; ++c) mean += x[base + c];
      mean /= static_cast<double>(cols);
      for (int64_t c = 0; c < cols; ++c) var += (x[base + c] - mean) * (x[base + c] - mean);
      var /= static_cast<double>(cols);
      const double rstd = 1.0 / std::sqrt(var + eps);
      want_mean[static_cast<size_t>(r)] = mean;
      want_rstd[static_cast<size_t>(r)] = rstd;
      double g_mean = 0, gx_mean = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double xhat = (x[base + c] - mean) * rstd;
        want_y[base + c] = xhat * w[static_cast<size_t>(c)] + b[static_cast<size_t>(c)];
        const double gw = g[base + c] * double{w[static_cast<size_t>(c)]};
        g_mean += gw;
        gx_mean += gw * xhat;
        want_gw[static_cast<size_t>(c)] += g[base + c] * xhat;
        want_gb[static_cast<size_t>(c)] += g[base + c];
      }
      g_mean /= static_cast<double>(cols);
      gx_mean /= static_cast<double>(cols);
      for (int64_t c = 0; c < cols; ++c) {
        const double xhat = (x[base + c] - mean) * rstd;
        want_gx[base + c] = rstd * (g[base + c] * w[static_cast<size_t>(c)] - g_mean - xhat * gx_mean);
      }
    }
    const std::string what = "layer_norm (" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
    // A large offset costs the f32 mean a few ulps of 1000 (~1e-4 on xhat).
    const double slack = offset != 0.0f ? 10.0 : 1.0;
    expect_close(dy.download(), want_y, 1e-4 * slack, 1e-4, what + " y");
    expect_close(dmean.download(), want_mean, 1e-5, 1e-5, what + " mean");
    expect_close(drstd.download(), want_rstd, 1e-5, 1e-4, what + " rstd");
    expect_close(dgx.download(), want_gx, 1e-4 * slack, 1e-3, what + " grad_x");
    const double rows_d = static_cast<double>(rows);
    const std::vector<float> gw = dgw.download(), gb = dgb.download();
    expect_close(gw, want_gw, 1e-5 * rows_d * slack, 1e-4, what + " grad_weight");
    expect_close(gb, want_gb, 1e-5 * rows_d, 1e-4, what + " grad_bias");
    return {gw, gb};
  }
};

TEST_F(LayerNormTest, WarpPerRow) {
  check(1, 1);
  check(64, 768);
  check(130, 1000);
}

TEST_F(LayerNormTest, BlockPerRow) {
  check(8, 1025);
  check(4, 4096);
}

TEST_F(LayerNormTest, LargeOffsetKeepsTheVariance) { check(32, 256, 1000.0f); }

TEST_F(LayerNormTest, ManyRowsSumTheParameterGradientsInTwoStagesTheSameEveryRun) {
  for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{8192, 768}, {1000, 5}, {65, 1025}}) {
    ASSERT_GT(layer_norm_backward_workspace(rows, cols), 0) << rows;
    const auto first = check(rows, cols, 0.0f, /*chunked=*/true);
    EXPECT_EQ(check(rows, cols, 0.0f, /*chunked=*/true), first) << "a second run, the same bits";
  }
}

}  // namespace
}  // namespace torus::cuda
