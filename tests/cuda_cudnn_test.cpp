// GPU: cuDNN convolution (forward, backward data, backward filter, backward bias) and max
// pooling (forward, backward) of kernels/cuda/cudnn_conv.h and cudnn_pool.h against direct
// CPU loops in double, with stride, padding, dilation and groups as the CPU op's samples
// (framework/ops/conv_pool.cpp), under the heuristic, exhaustive and deterministic choices.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/common/error.h"
#include "kernels/cuda/cudnn_conv.h"
#include "kernels/cuda/cudnn_pool.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

// The direct loops: every (n, o, oh, ow) and every tap (c, ki, kj) of its group that reads
// inside the input. Forward gathers, the backward passes scatter along the same taps.
struct ConvReference {
  std::vector<double> y, dx, dw, db;
};

ConvReference conv_reference(const Conv2dShape& s, const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>& bias, const std::vector<float>& gy) {
  ConvReference r;
  const int64_t oh_n = s.out_h(), ow_n = s.out_w(), cg = s.channels / s.groups, og = s.out_channels / s.groups;
  r.y.assign(static_cast<size_t>(s.output_numel()), 0.0);
  r.dx.assign(x.size(), 0.0);
  r.dw.assign(w.size(), 0.0);
  r.db.assign(static_cast<size_t>(s.out_channels), 0.0);
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t o = 0; o < s.out_channels; ++o) {
      const int64_t group = o / og;
      for (int64_t oh = 0; oh < oh_n; ++oh) {
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          const size_t yi = static_cast<size_t>(((n * s.out_channels + o) * oh_n + oh) * ow_n + ow);
          double acc = bias.empty() ? 0.0 : bias[static_cast<size_t>(o)];
          const double g = gy[yi];
          r.db[static_cast<size_t>(o)] += g;
          for (int64_t c = 0; c < cg; ++c) {
            for (int64_t ki = 0; ki < s.kernel_h; ++ki) {
              const int64_t ih = oh * s.stride[0] - s.padding[0] + ki * s.dilation[0];
              if (ih < 0 || ih >= s.height) continue;
              for (int64_t kj = 0; kj < s.kernel_w; ++kj) {
                const int64_t iw = ow * s.stride[1] - s.padding[1] + kj * s.dilation[1];
                if (iw < 0 || iw >= s.width) continue;
                const size_t xi =
                    static_cast<size_t>(((n * s.channels + group * cg + c) * s.height + ih) * s.width + iw);
                const size_t wi = static_cast<size_t>(((o * cg + c) * s.kernel_h + ki) * s.kernel_w + kj);
                acc += double{x[xi]} * w[wi];
                r.dx[xi] += g * w[wi];
                r.dw[wi] += g * x[xi];
              }
            }
          }
          r.y[yi] = acc;
        }
      }
    }
  }
  return r;
}

std::string describe(const Conv2dShape& s, const ConvAlgoOptions& o) {
  return "conv x(" + std::to_string(s.batch) + "," + std::to_string(s.channels) + "," + std::to_string(s.height) +
         "," + std::to_string(s.width) + ") O " + std::to_string(s.out_channels) + " k " + std::to_string(s.kernel_h) +
         "x" + std::to_string(s.kernel_w) + " g " + std::to_string(s.groups) + (o.exhaustive ? " exhaustive" : "") +
         (o.deterministic ? " deterministic" : "");
}

std::vector<Conv2dShape> conv_cases() {
  return {
      // 3x3 "same" on odd planes.
      {.batch = 2, .channels = 3, .height = 7, .width = 9, .out_channels = 4, .kernel_h = 3, .kernel_w = 3,
       .padding = {1, 1}},
      // The CPU's "conv2d/asymmetric" sample: stride (2, 1), padding (0, 2), dilation (1, 2).
      {.batch = 1, .channels = 2, .height = 5, .width = 6, .out_channels = 3, .kernel_h = 2, .kernel_w = 3,
       .stride = {2, 1}, .padding = {0, 2}, .dilation = {1, 2}},
      // Groups, strided.
      {.batch = 2, .channels = 4, .height = 6, .width = 5, .out_channels = 6, .kernel_h = 3, .kernel_w = 3,
       .stride = {2, 2}, .padding = {1, 1}, .groups = 2},
      // Pointwise.
      {.batch = 3, .channels = 8, .height = 4, .width = 4, .out_channels = 5},
      // A LeNet-sized layer, large enough for the FFT / Winograd / implicit-GEMM kernels.
      {.batch = 8, .channels = 16, .height = 14, .width = 14, .out_channels = 32, .kernel_h = 5, .kernel_w = 5,
       .padding = {2, 2}},
  };
}

class CudnnTest : public CudaTest {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped()) return;
    handle_ = std::make_unique<CudnnHandle>(stream_);
  }
  void TearDown() override {
    handle_.reset();
    CudaTest::TearDown();
  }

  void check_conv(const Conv2dShape& s, const ConvAlgoOptions& options) {
    const std::vector<float> x = random_vector(static_cast<size_t>(s.input_numel()), 1, -1, 1);
    const std::vector<float> w = random_vector(static_cast<size_t>(s.weight_numel()), 2, -1, 1);
    const std::vector<float> bias = random_vector(static_cast<size_t>(s.out_channels), 3, -1, 1);
    const std::vector<float> gy = random_vector(static_cast<size_t>(s.output_numel()), 4, -1, 1);
    DeviceBuffer dx(x), dw(w), dbias(bias), dgy(gy), dy(gy.size()), dgx(x.size()), dgw(w.size()),
        dgb(bias.size());
    conv2d_forward(*handle_, s, dx.get(), dw.get(), dbias.get(), dy.get(), options);
    conv2d_backward_data(*handle_, s, dw.get(), dgy.get(), dgx.get(), options);
    conv2d_backward_filter(*handle_, s, dx.get(), dgy.get(), dgw.get(), options);
    conv2d_backward_bias(*handle_, s, dgy.get(), dgb.get());
    sync();
    const ConvReference want = conv_reference(s, x, w, bias, gy);
    // FMA math (TF32 off); FFT and Winograd kernels round more than a direct sum.
    const std::string what = describe(s, options);
    expect_close(dy.download(), want.y, 1e-4, 1e-4, what + " forward");
    expect_close(dgx.download(), want.dx, 1e-4, 1e-4, what + " backward data");
    expect_close(dgw.download(), want.dw, 1e-4, 1e-4, what + " backward filter");
    expect_close(dgb.download(), want.db, 1e-4, 1e-5, what + " backward bias");
  }

  std::unique_ptr<CudnnHandle> handle_;
};

TEST_F(CudnnTest, ConvolutionHeuristicChoice) {
  for (const Conv2dShape& s : conv_cases()) check_conv(s, {});
}

TEST_F(CudnnTest, ConvolutionExhaustiveChoice) {
  for (const Conv2dShape& s : conv_cases()) check_conv(s, {.exhaustive = true});
}

TEST_F(CudnnTest, ConvolutionDeterministicChoice) {
  for (const Conv2dShape& s : conv_cases()) check_conv(s, {.deterministic = true});
}

TEST_F(CudnnTest, AlgorithmsAreCachedPerShapeAndDirection) {
  const Conv2dShape s = conv_cases()[0];
  check_conv(s, {});
  EXPECT_EQ(handle_->algorithm_cache().size(), 3u);  // forward, backward data, backward filter
  check_conv(s, {});
  EXPECT_EQ(handle_->algorithm_cache().size(), 3u);
  check_conv(conv_cases()[1], {});
  EXPECT_EQ(handle_->algorithm_cache().size(), 6u);
}

TEST_F(CudnnTest, EmptyBatchGivesZeroWeightGradient) {
  Conv2dShape s = conv_cases()[0];
  s.batch = 0;
  DeviceBuffer dw(random_vector(static_cast<size_t>(s.weight_numel()), 5)), db(random_vector(4, 6));
  conv2d_forward(*handle_, s, nullptr, dw.get(), nullptr, nullptr);
  conv2d_backward_filter(*handle_, s, nullptr, nullptr, dw.get());
  conv2d_backward_bias(*handle_, s, nullptr, db.get());
  sync();
  expect_close(dw.download(), std::vector<double>(static_cast<size_t>(s.weight_numel()), 0.0), 0, 0, "dw");
  expect_close(db.download(), std::vector<double>(4, 0.0), 0, 0, "db");
}

TEST_F(CudnnTest, BadShapesThrowValueErrors) {
  Conv2dShape s = conv_cases()[0];
  s.groups = 2;  // 3 channels
  EXPECT_THROW(conv2d_forward(*handle_, s, nullptr, nullptr, nullptr, nullptr), ValueError);
  Pool2dShape p{.batch = 1, .channels = 1, .height = 4, .width = 4, .kernel = {2, 2}, .padding = {2, 2}};
  EXPECT_THROW(max_pool2d_forward(*handle_, p, nullptr, nullptr), ValueError);
}

// ---- Max pooling ----

// y and the first maximum's position of each window (padding never wins), in double.
void pool_reference(const Pool2dShape& s, const std::vector<float>& x, const std::vector<float>& gy,
                    std::vector<double>& y, std::vector<double>& dx) {
  const int64_t oh_n = s.out_h(), ow_n = s.out_w();
  y.assign(static_cast<size_t>(s.output_numel()), 0.0);
  dx.assign(x.size(), 0.0);
  for (int64_t p = 0; p < s.batch * s.channels; ++p) {
    for (int64_t oh = 0; oh < oh_n; ++oh) {
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        double best = -std::numeric_limits<double>::infinity();
        size_t best_at = 0;
        for (int64_t ki = 0; ki < s.kernel[0]; ++ki) {
          const int64_t ih = oh * s.stride_h() - s.padding[0] + ki;
          if (ih < 0 || ih >= s.height) continue;
          for (int64_t kj = 0; kj < s.kernel[1]; ++kj) {
            const int64_t iw = ow * s.stride_w() - s.padding[1] + kj;
            if (iw < 0 || iw >= s.width) continue;
            const size_t at = static_cast<size_t>((p * s.height + ih) * s.width + iw);
            if (x[at] > best || std::isnan(x[at])) {
              best = x[at];
              best_at = at;
              if (std::isnan(x[at])) break;
            }
          }
          if (std::isnan(best)) break;
        }
        const size_t yi = static_cast<size_t>((p * oh_n + oh) * ow_n + ow);
        y[yi] = best;
        dx[best_at] += gy[yi];
      }
    }
  }
}

TEST_F(CudnnTest, MaxPoolForwardBackward) {
  const std::vector<Pool2dShape> cases{
      {.batch = 1, .channels = 2, .height = 5, .width = 7},                                        // k2, odd planes
      {.batch = 2, .channels = 2, .height = 5, .width = 5, .kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}},
      {.batch = 2, .channels = 2, .height = 5, .width = 6, .kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 0}},
      {.batch = 4, .channels = 8, .height = 28, .width = 28},
  };
  for (const Pool2dShape& s : cases) {
    // Distinct values, so every window has one maximum and the gradient has one place to go.
    std::vector<float> x(static_cast<size_t>(s.input_numel()));
    const std::vector<float> noise = random_vector(x.size(), 7, 0, 0.5f);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % x.size()) + noise[i];
    const std::vector<float> gy = random_vector(static_cast<size_t>(s.output_numel()), 8, -1, 1);
    DeviceBuffer dx(x), dy(gy.size()), dgy(gy), dgx(x.size());
    max_pool2d_forward(*handle_, s, dx.get(), dy.get());
    max_pool2d_backward(*handle_, s, dx.get(), dy.get(), dgy.get(), dgx.get());
    sync();
    std::vector<double> want_y, want_dx;
    pool_reference(s, x, gy, want_y, want_dx);
    const std::string what = "max_pool2d (" + std::to_string(s.height) + "x" + std::to_string(s.width) + ", k " +
                             std::to_string(s.kernel[0]) + "x" + std::to_string(s.kernel[1]) + ")";
    expect_close(dy.download(), want_y, 0, 0, what + " forward");
    expect_close(dgx.download(), want_dx, 1e-6, 1e-6, what + " backward");
  }
}

TEST_F(CudnnTest, MaxPoolPropagatesNaN) {
  const Pool2dShape s{.batch = 1, .channels = 1, .height = 4, .width = 4};
  std::vector<float> x = random_vector(16, 9);
  x[5] = NAN;  // window (0, 0) of 2x2
  DeviceBuffer dx(x), dy(4);
  max_pool2d_forward(*handle_, s, dx.get(), dy.get());
  sync();
  const std::vector<float> y = dy.download();
  EXPECT_TRUE(std::isnan(y[0]));
  for (size_t i = 1; i < 4; ++i) EXPECT_FALSE(std::isnan(y[i])) << i;
}

}  // namespace
}  // namespace torus::cuda
