// Softmax and log-softmax over the last dim of a contiguous (R, C) f32 device buffer,
// forward and backward; numerically stable (the row's max is subtracted first).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace torus::cuda {

// y = softmax(x) or log_softmax(x) per row. x, y: (R, C); C >= 1. y may alias x.
void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols, bool log, cudaStream_t stream);

// From the forward's output y and grad_y, all (R, C):
//   softmax:     dx = y * (dy - sum_c(dy * y))
//   log-softmax: dx = dy - exp(y) * sum_c(dy)
// grad_x may alias grad_y.
void softmax_backward(const float* y, const float* grad_y, float* grad_x, int64_t rows, int64_t cols,
                      bool log, cudaStream_t stream);

}  // namespace torus::cuda
