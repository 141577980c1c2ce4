// LayerNorm over the last dim of a contiguous (R, C) f32 device buffer, forward and
// backward, as torch.nn.functional.layer_norm with an affine weight and bias of (C).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/reduce_dim.h"

namespace torus::cuda {

// dweight and dbias are column sums over the R rows: a thread per column walking the rows,
// or, where that leaves a GPU idle (few columns over many rows: every transformer's LayerNorm),
// the rows cut into chunks as reduce_dim's (reduce_dim_chunks(1, R, C)), one partial of each
// per (chunk, column), added per column in chunk order. Deterministic either way.
// Floats of workspace the chunked sums need (0: one stage suffices).
constexpr int64_t layer_norm_backward_workspace(int64_t rows, int64_t cols) {
  const int64_t chunks = reduce_dim_chunks(1, rows, cols);  // what layer_norm_backward splits by
  return chunks > 1 ? 2 * chunks * cols : 0;
}

// y = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps) with the biased
// variance. x, y: (R, C); weight, bias: (C); mean, rstd: (R), saved for the backward.
void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols, float eps, cudaStream_t stream);

// With xhat = (x - mean) * rstd and g = dy * weight:
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
//   dweight = sum_r(dy * xhat), dbias = sum_r(dy)
// grad_x: (R, C); grad_weight, grad_bias: (C), overwritten (not accumulated); any of the
// three may be nullptr when not wanted. workspace: layer_norm_backward_workspace(R, C) floats
// of device memory for the chunked parameter sums, or nullptr for one stage.
void layer_norm_backward(const float* x, const float* weight, const float* mean, const float* rstd,
                         const float* grad_y, float* grad_x, float* grad_weight, float* grad_bias,
                         int64_t rows, int64_t cols, cudaStream_t stream, float* workspace = nullptr);

}  // namespace torus::cuda
