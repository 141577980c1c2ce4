// GPU: y = gelu(x + bias) (kernels/cuda/bias_gelu.h), erf and tanh forms, against a CPU
// reference in double, forward, dx and dbias (the two-stage reduction: many chunks,
// one chunk, odd column counts), and dbias identical across repeated runs.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/cuda/bias_gelu.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

double gelu(double z, bool tanh_form) {
  if (tanh_form) return 0.5 * z * (1 + std::tanh(0.79788456080286535588 * (z + 0.044715 * z * z * z)));
  return 0.5 * z * (1 + std::erf(z * 0.70710678118654752440));
}

double gelu_grad(double z, bool tanh_form) {
  if (tanh_form) {
    const double k = 0.79788456080286535588, c = 0.044715;
    const double t = std::tanh(k * (z + c * z * z * z));
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * k * (1 + 3 * c * z * z);
  }
  return 0.5 * (1 + std::erf(z * 0.70710678118654752440)) + z * 0.39894228040143267794 * std::exp(-0.5 * z * z);
}

class BiasGeluTest : public CudaTest {
 protected:
  void check(int64_t rows, int64_t cols, bool tanh_form) {
    const std::vector<float> x = random_vector(static_cast<size_t>(rows * cols), 61, -3.0f, 3.0f);
    const std::vector<float> b = random_vector(static_cast<size_t>(cols), 62);
    const std::vector<float> g = random_vector(x.size(), 63);
    const int64_t work = bias_gelu_backward_workspace(rows, cols);
    DeviceBuffer dx(x), db(b), dy(x.size()), dg(g), dgx(x.size()), dgb(static_cast<size_t>(cols)),
        workspace(static_cast<size_t>(work > 0 ? work : 1));
    bias_gelu_forward(dx.get(), db.get(), dy.get(), rows, cols, tanh_form, stream_);
    bias_gelu_backward(dx.get(), db.get(), dg.get(), dgx.get(), dgb.get(), work > 0 ? workspace.get() : nullptr,
                       rows, cols, tanh_form, stream_);
    sync();
    const std::vector<float> first_bias = dgb.download();
    // Run again: the reduction order is fixed, so dbias repeats bit for bit.
    bias_gelu_backward(dx.get(), db.get(), dg.get(), dgx.get(), dgb.get(), work > 0 ? workspace.get() : nullptr,
                       rows, cols, tanh_form, stream_);
    sync();
    EXPECT_EQ(dgb.download(), first_bias) << "dbias is not deterministic";

    std::vector<double> want(x.size()), want_gx(x.size()), want_gb(static_cast<size_t>(cols), 0.0);
    double scale = 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const size_t e = static_cast<size_t>(r * cols + c);
        const double z = double{x[e]} + b[static_cast<size_t>(c)];
        want[e] = gelu(z, tanh_form);
        want_gx[e] = g[e] * gelu_grad(z, tanh_form);
        want_gb[static_cast<size_t>(c)] += want_gx[e];
        scale += std::abs(want_gx[e]);
      }
    }
    const std::string what = std::string(tanh_form ? "gelu_tanh" : "gelu") + " (" + std::to_string(rows) + ", " +
                             std::to_string(cols) + ")";
    expect_close(dy.download(), want, 1e-5, 1e-5, what);
    expect_close(dgx.download(), want_gx, 1e-5, 1e-4, what + " dx");
    // A sum of R terms: absolute error grows with the column's magnitude.
    const double bias_atol = 1e-6 * (1 + scale / static_cast<double>(cols));
    expect_close(dgb.download(), want_gb, bias_atol, 1e-4, what + " dbias");
  }
};

TEST_F(BiasGeluTest, OneChunk) {
  for (bool tanh_form : {false, true}) {
    check(1, 1, tanh_form);
    check(17, 33, tanh_form);
    check(64, 768, tanh_form);
  }
}

TEST_F(BiasGeluTest, ManyChunks) {
  for (bool tanh_form : {false, true}) {
    check(1000, 37, tanh_form);
    check(4099, 3072, tanh_form);  // a GPT-2 MLP width, odd row count
    check(70001, 5, tanh_form);    // far more rows than chunks
  }
}

TEST_F(BiasGeluTest, ChunkArithmetic) {
  EXPECT_EQ(bias_gelu_row_chunks(64, 768), 1);
  EXPECT_EQ(bias_gelu_backward_workspace(64, 768), 0);
  EXPECT_GT(bias_gelu_row_chunks(4099, 3072), 1);
  EXPECT_LE(bias_gelu_row_chunks(1 << 30, 1), kBiasGeluMaxChunks);
}

}  // namespace
}  // namespace torus::cuda
