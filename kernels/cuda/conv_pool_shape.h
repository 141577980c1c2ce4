// Shapes of the cuDNN 2-D convolution and max pooling (cudnn_conv.h, cudnn_pool.h), host-only
// so their arithmetic and checks are unit-tested without a GPU or cuDNN
// (tests/cuda_conv_pool_shape_test.cpp). The parameters mirror torus::Conv2dOptions and
// torus::Pool2dOptions (framework/ops/ops.h) and the checks framework/ops/conv_pool.cpp makes,
// so the framework can hand the same options to either backend. Letters: N images, C input
// channels, O output channels, G groups, (H, W) input and (OH, OW) output planes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace torus::cuda {

// Positions of a window of `kernel` taps `dilation` apart sliding by `stride` over `size` +
// 2 `pad`: floor((size + 2 pad - dilation (kernel - 1) - 1) / stride) + 1 (the CPU's formula).
constexpr int64_t sliding_outputs(int64_t size, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  return (size + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// x (N, C, H, W), weight (O, C/G, kh, kw), y (N, O, OH, OW), all NCHW-contiguous f32.
struct Conv2dShape {
  int64_t batch = 0, channels = 0, height = 0, width = 0;
  int64_t out_channels = 0, kernel_h = 1, kernel_w = 1;
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;

  constexpr int64_t out_h() const { return sliding_outputs(height, kernel_h, stride[0], padding[0], dilation[0]); }
  constexpr int64_t out_w() const { return sliding_outputs(width, kernel_w, stride[1], padding[1], dilation[1]); }
  constexpr int64_t input_numel() const { return batch * channels * height * width; }
  constexpr int64_t weight_numel() const { return out_channels * (channels / groups) * kernel_h * kernel_w; }
  constexpr int64_t output_numel() const { return batch * out_channels * out_h() * out_w(); }
};

// Why `s` is no valid convolution ("" when it is), in the CPU op's words; also sizes past
// cuDNN's 32-bit ints.
std::string conv2d_shape_error(const Conv2dShape& s);

// x (N, C, H, W) pooled to y (N, C, OH, OW). stride 0 means the kernel size, as in
// Pool2dOptions; padding at most half the kernel, so no window is padding only.
struct Pool2dShape {
  int64_t batch = 0, channels = 0, height = 0, width = 0;
  std::array<int64_t, 2> kernel{2, 2};
  std::array<int64_t, 2> stride{0, 0};
  std::array<int64_t, 2> padding{0, 0};

  constexpr int64_t stride_h() const { return stride[0] == 0 ? kernel[0] : stride[0]; }
  constexpr int64_t stride_w() const { return stride[1] == 0 ? kernel[1] : stride[1]; }
  constexpr int64_t out_h() const { return sliding_outputs(height, kernel[0], stride_h(), padding[0], 1); }
  constexpr int64_t out_w() const { return sliding_outputs(width, kernel[1], stride_w(), padding[1], 1); }
  constexpr int64_t input_numel() const { return batch * channels * height * width; }
  constexpr int64_t output_numel() const { return batch * channels * out_h() * out_w(); }
};

std::string pool2d_shape_error(const Pool2dShape& s);

// How the convolution algorithm is chosen (cudnn_conv.h). TF32 is off by default, as GEMM's
// (gemm.h): cuDNN's default math lets f32 convolutions use TF32 tensor cores, so without
// allow_tf32 the descriptor is set to CUDNN_FMA_MATH.
struct ConvAlgoOptions {
  // false: cuDNN's heuristic ranking (cudnnGet*Algorithm_v7, no kernel runs); true: time
  // every candidate once (cudnnFind*AlgorithmEx) and take the fastest. Cached per shape.
  bool exhaustive = false;
  bool deterministic = false;  // only algorithms cuDNN reports as deterministic
  bool allow_tf32 = false;
  size_t max_workspace_bytes = size_t{1} << 30;
};

// One entry of cuDNN's ranked list, without cuDNN's types.
struct AlgoCandidate {
  int algo = 0;
  bool available = false;      // status CUDNN_STATUS_SUCCESS
  size_t workspace_bytes = 0;
  bool deterministic = false;  // CUDNN_DETERMINISTIC
  bool tensor_op = false;      // CUDNN_TENSOR_OP_MATH (TF32 for f32 data)
  bool down_conversion = false;  // CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION (f32 rounded to f16)
};

// The positions in `ranked` (best first) of the candidates the options allow, in order:
// available, within the workspace limit, deterministic if asked, tensor-op math only with
// allow_tf32, never down-conversion to f16.
std::vector<int> acceptable_algorithms(std::span<const AlgoCandidate> ranked, const ConvAlgoOptions& options);

}  // namespace torus::cuda
