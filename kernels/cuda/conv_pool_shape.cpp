// The checks of conv_pool_shape.h: the CPU op's preconditions (framework/ops/conv_pool.cpp),
// worded alike, plus cuDNN's 32-bit limits.
#include "kernels/cuda/conv_pool_shape.h"

#include <limits>

#include <fmt/format.h>

namespace torus::cuda {
namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int>::max();

}  // namespace

std::string conv2d_shape_error(const Conv2dShape& s) {
  if (s.batch < 0 || s.channels < 1 || s.height < 1 || s.width < 1)
    return fmt::format("conv2d: input ({}, {}, {}, {}) must have N >= 0 and positive C, H, W", s.batch, s.channels,
                       s.height, s.width);
  if (s.out_channels < 1 || s.kernel_h < 1 || s.kernel_w < 1)
    return fmt::format("conv2d: weight ({}, {}, {}) (out_channels, kh, kw) must be positive", s.out_channels,
                       s.kernel_h, s.kernel_w);
  if (s.stride[0] < 1 || s.stride[1] < 1)
    return fmt::format("conv2d: stride must be positive, got ({}, {})", s.stride[0], s.stride[1]);
  if (s.dilation[0] < 1 || s.dilation[1] < 1)
    return fmt::format("conv2d: dilation must be positive, got ({}, {})", s.dilation[0], s.dilation[1]);
  if (s.padding[0] < 0 || s.padding[1] < 0)
    return fmt::format("conv2d: padding must be non-negative, got ({}, {})", s.padding[0], s.padding[1]);
  if (s.groups < 1) return fmt::format("conv2d: groups must be positive, got {}", s.groups);
  if (s.channels % s.groups != 0)
    return fmt::format("conv2d: input channels {} are not divisible by groups {}", s.channels, s.groups);
  if (s.out_channels % s.groups != 0)
    return fmt::format("conv2d: output channels {} are not divisible by groups {}", s.out_channels, s.groups);
  const int64_t span_h = s.dilation[0] * (s.kernel_h - 1) + 1, span_w = s.dilation[1] * (s.kernel_w - 1) + 1;
  if (span_h > s.height + 2 * s.padding[0] || span_w > s.width + 2 * s.padding[1])
    return fmt::format("conv2d: kernel {}x{} (dilation ({}, {})) spans {}x{}, larger than the padded input {}x{}",
                       s.kernel_h, s.kernel_w, s.dilation[0], s.dilation[1], span_h, span_w,
                       s.height + 2 * s.padding[0], s.width + 2 * s.padding[1]);
  for (const int64_t v : {s.input_numel(), s.weight_numel(), s.output_numel()})
    if (v > kMaxInt) return fmt::format("conv2d: a tensor of {} elements exceeds cuDNN's 32-bit sizes", v);
  return "";
}

std::string pool2d_shape_error(const Pool2dShape& s) {
  if (s.batch < 0 || s.channels < 1 || s.height < 1 || s.width < 1)
    return fmt::format("max_pool2d: input ({}, {}, {}, {}) must have N >= 0 and positive C, H, W", s.batch,
                       s.channels, s.height, s.width);
  const auto& [kh, kw] = s.kernel;
  if (kh < 1 || kw < 1) return fmt::format("max_pool2d: kernel must be positive, got ({}, {})", kh, kw);
  if (s.stride[0] < 0 || s.stride[1] < 0)
    return fmt::format("max_pool2d: stride must be positive (or 0 for the kernel size), got ({}, {})", s.stride[0],
                       s.stride[1]);
  if (s.padding[0] < 0 || s.padding[1] < 0 || s.padding[0] > kh / 2 || s.padding[1] > kw / 2)
    return fmt::format("max_pool2d: padding ({}, {}) must be non-negative and at most half the kernel ({}, {})",
                       s.padding[0], s.padding[1], kh, kw);
  if (kh > s.height + 2 * s.padding[0] || kw > s.width + 2 * s.padding[1])
    return fmt::format("max_pool2d: kernel {}x{} is larger than the padded input {}x{}", kh, kw,
                       s.height + 2 * s.padding[0], s.width + 2 * s.padding[1]);
  for (const int64_t v : {s.input_numel(), s.output_numel()})
    if (v > kMaxInt) return fmt::format("max_pool2d: a tensor of {} elements exceeds cuDNN's 32-bit sizes", v);
  return "";
}

std::vector<int> acceptable_algorithms(std::span<const AlgoCandidate> ranked, const ConvAlgoOptions& options) {
  std::vector<int> positions;
  for (size_t i = 0; i < ranked.size(); ++i) {
    const AlgoCandidate& c = ranked[i];
    if (!c.available || c.workspace_bytes > options.max_workspace_bytes || c.down_conversion) continue;
    if (options.deterministic && !c.deterministic) continue;
    if (c.tensor_op && !options.allow_tf32) continue;
    positions.push_back(static_cast<int>(i));
  }
  return positions;
}

}  // namespace torus::cuda
