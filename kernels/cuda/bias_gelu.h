// y = gelu(x + bias) over a contiguous f32 device buffer (R, C) with bias (C) broadcast over
// the rows (a linear layer's bias fused with its GELU), forward and backward. Both GELU
// forms of the CPU backend (framework/ops/elementwise_unary.cpp: erf, the default, and
// the tanh approximation), from the same functors (kernels/common/functors.h).
#pragma once

#include <algorithm>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/launch_config.h"

namespace torus::cuda {

// y = gelu(x + bias[c]). x, y: (R, C), may alias; bias: (C).
void bias_gelu_forward(const float* x, const float* bias, float* y, int64_t rows, int64_t cols, bool tanh_approximation,
                       cudaStream_t stream);

// The backward's dbias is a column sum over R rows in two stages, for determinism without
// atomics: stage 1 splits the rows into `bias_gelu_row_chunks(R, C)` chunks and writes one
// partial sum per (chunk, column); stage 2 adds the partials of each column in chunk order.
// The split depends on (R, C) only, so a given shape always sums in the same order.
inline constexpr int64_t kBiasGeluRowsPerChunk = 64;
inline constexpr int64_t kBiasGeluMaxChunks = 1024;
constexpr int64_t bias_gelu_row_chunks(int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return 1;
  // Enough blocks for a GPU (~4096 of 256 threads) without needless partials.
  const int64_t column_tiles = ceil_div(cols, kWarpSize);
  const int64_t wanted = std::max<int64_t>(1, kDefaultMaxBlocks / column_tiles);
  return std::clamp<int64_t>(std::min(ceil_div(rows, kBiasGeluRowsPerChunk), wanted), 1, kBiasGeluMaxChunks);
}
// Floats of workspace bias_gelu_backward needs for dbias (0 when one chunk suffices).
constexpr int64_t bias_gelu_backward_workspace(int64_t rows, int64_t cols) {
  const int64_t chunks = bias_gelu_row_chunks(rows, cols);
  return chunks > 1 ? chunks * cols : 0;
}

// With z = x + bias[c]: grad_x = grad_y * gelu'(z); grad_bias[c] = sum_r grad_x[r, c].
// grad_y, grad_x: (R, C), may alias; grad_bias: (C), overwritten, or nullptr; workspace:
// bias_gelu_backward_workspace(R, C) floats of device memory (nullptr when that is 0).
void bias_gelu_backward(const float* x, const float* bias, const float* grad_y, float* grad_x, float* grad_bias,
                        float* workspace, int64_t rows, int64_t cols, bool tanh_approximation, cudaStream_t stream);

}  // namespace torus::cuda
