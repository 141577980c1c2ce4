// The host-side logic of the cuDNN convolution and pooling (kernels/cuda/conv_pool_shape.h),
// without a GPU: output sizes as PyTorch computes them, the CPU op's preconditions, and the
// filter over cuDNN's ranked algorithms.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cuda/conv_pool_shape.h"

namespace torus::cuda {
namespace {

void expect_error(const std::string& error, const std::string& part) {
  EXPECT_NE(error.find(part), std::string::npos) << "'" << part << "' not in: '" << error << "'";
}

TEST(CudaConvShape, OutputSizesMatchPyTorch) {
  // F.conv2d(x (2, 3, 7, 9), w (4, 3, 3, 3), padding=1): (2, 4, 7, 9).
  constexpr Conv2dShape same{.batch = 2, .channels = 3, .height = 7, .width = 9, .out_channels = 4, .kernel_h = 3,
                             .kernel_w = 3, .padding = {1, 1}};
  static_assert(same.out_h() == 7 && same.out_w() == 9);
  static_assert(same.weight_numel() == 4 * 3 * 3 * 3 && same.output_numel() == 2 * 4 * 7 * 9);
  // stride=(2, 1), padding=(0, 2), dilation=(1, 2), kernel (2, 3) on 5x6: (5-1-1)/2+1 = 2,
  // (6+4-4-1)/1+1 = 6 (conv_pool.cpp's "conv2d/asymmetric" sample).
  constexpr Conv2dShape asym{.batch = 1, .channels = 2, .height = 5, .width = 6, .out_channels = 3, .kernel_h = 2,
                             .kernel_w = 3, .stride = {2, 1}, .padding = {0, 2}, .dilation = {1, 2}};
  static_assert(asym.out_h() == 2 && asym.out_w() == 6);
  // Groups shrink the weight's input channels.
  constexpr Conv2dShape grouped{.batch = 2, .channels = 4, .height = 3, .width = 3, .out_channels = 6, .groups = 2};
  static_assert(grouped.weight_numel() == 6 * 2 && grouped.out_h() == 3);
  EXPECT_EQ(conv2d_shape_error(same), "");
  EXPECT_EQ(conv2d_shape_error(asym), "");
  EXPECT_EQ(conv2d_shape_error(grouped), "");
}

TEST(CudaConvShape, RejectsWhatTheCpuOpRejects) {
  const Conv2dShape ok{.batch = 1, .channels = 4, .height = 5, .width = 5, .out_channels = 6, .kernel_h = 3,
                       .kernel_w = 3};
  Conv2dShape s = ok;
  s.stride = {0, 1};
  expect_error(conv2d_shape_error(s), "stride must be positive, got (0, 1)");
  s = ok;
  s.dilation = {1, 0};
  expect_error(conv2d_shape_error(s), "dilation must be positive");
  s = ok;
  s.padding = {-1, 0};
  expect_error(conv2d_shape_error(s), "padding must be non-negative");
  s = ok;
  s.groups = 3;
  expect_error(conv2d_shape_error(s), "input channels 4 are not divisible by groups 3");
  s = ok;
  s.groups = 4;
  expect_error(conv2d_shape_error(s), "output channels 6 are not divisible by groups 4");
  s = ok;
  s.dilation = {3, 1};  // spans 7 rows of a 5-row input
  expect_error(conv2d_shape_error(s), "spans 7x3, larger than the padded input 5x5");
  s = ok;
  s.batch = 0;  // an empty batch is fine
  EXPECT_EQ(conv2d_shape_error(s), "");
}

TEST(CudaPoolShape, OutputSizesMatchPyTorch) {
  // F.max_pool2d(x, 2) on 5x7: stride defaults to the kernel, floor mode: 2x3.
  constexpr Pool2dShape k2{.batch = 1, .channels = 2, .height = 5, .width = 7};
  static_assert(k2.stride_h() == 2 && k2.out_h() == 2 && k2.out_w() == 3);
  // (3, 2) kernel, stride (2, 1), padding (1, 0) on 5x6: (5+2-3)/2+1 = 3, (6-2)/1+1 = 5.
  constexpr Pool2dShape rect{.batch = 2, .channels = 2, .height = 5, .width = 6, .kernel = {3, 2},
                             .stride = {2, 1}, .padding = {1, 0}};
  static_assert(rect.out_h() == 3 && rect.out_w() == 5);
  // 3x3, stride 1, padding 1 keeps the size.
  constexpr Pool2dShape keep{.batch = 1, .channels = 1, .height = 5, .width = 5, .kernel = {3, 3},
                             .stride = {1, 1}, .padding = {1, 1}};
  static_assert(keep.out_h() == 5 && keep.out_w() == 5 && keep.output_numel() == 25);
  EXPECT_EQ(pool2d_shape_error(k2), "");
  EXPECT_EQ(pool2d_shape_error(rect), "");
}

TEST(CudaPoolShape, RejectsWhatTheCpuOpRejects) {
  const Pool2dShape ok{.batch = 1, .channels = 1, .height = 4, .width = 4, .kernel = {3, 3}};
  Pool2dShape s = ok;
  s.padding = {2, 0};  // more than half the kernel: windows of padding only
  expect_error(pool2d_shape_error(s), "padding (2, 0) must be non-negative and at most half the kernel (3, 3)");
  s = ok;
  s.kernel = {0, 2};
  expect_error(pool2d_shape_error(s), "kernel must be positive");
  s = ok;
  s.stride = {-1, 0};
  expect_error(pool2d_shape_error(s), "stride must be positive (or 0 for the kernel size)");
  s = ok;
  s.kernel = {5, 5};
  expect_error(pool2d_shape_error(s), "kernel 5x5 is larger than the padded input 4x4");
}

TEST(CudaConvAlgorithms, FilterKeepsRankAndHonoursTheOptions) {
  const std::vector<AlgoCandidate> ranked{
      {.algo = 6, .available = true, .workspace_bytes = 100, .deterministic = true, .tensor_op = true},
      {.algo = 1, .available = false, .workspace_bytes = 0, .deterministic = true},
      {.algo = 0, .available = true, .workspace_bytes = 0, .deterministic = false},
      {.algo = 2, .available = true, .workspace_bytes = size_t{2} << 30, .deterministic = true},
      {.algo = 5, .available = true, .workspace_bytes = 10, .deterministic = true, .down_conversion = true},
      {.algo = 3, .available = true, .workspace_bytes = 50, .deterministic = true},
  };
  // Default: no TF32, no f16 conversion, under 1 GiB, any determinism.
  EXPECT_EQ(acceptable_algorithms(ranked, {}), (std::vector<int>{2, 5}));
  EXPECT_EQ(acceptable_algorithms(ranked, {.deterministic = true}), (std::vector<int>{5}));
  EXPECT_EQ(acceptable_algorithms(ranked, {.allow_tf32 = true}), (std::vector<int>{0, 2, 5}));
  EXPECT_EQ(acceptable_algorithms(ranked, {.max_workspace_bytes = size_t{4} << 30}), (std::vector<int>{2, 3, 5}));
  EXPECT_EQ(acceptable_algorithms(ranked, {.max_workspace_bytes = 20}), (std::vector<int>{2}));
  EXPECT_TRUE(acceptable_algorithms({}, {}).empty());
}

}  // namespace
}  // namespace torus::cuda
