// Sum over the last dim of a contiguous (R, C) f32 device buffer, and its backward.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace torus::cuda {

// out[r] = sum_c in[r, c]. in: (R, C), out: (R). C == 0 gives zeros.
void sum_last_dim_forward(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream);

// grad_in[r, c] = grad_out[r]. grad_out: (R), grad_in: (R, C).
void sum_last_dim_backward(const float* grad_out, float* grad_in, int64_t rows, int64_t cols,
                           cudaStream_t stream);

}  // namespace torus::cuda
