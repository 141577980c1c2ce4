// Sum, mean and max over one dim of a contiguous f32 device tensor, viewed as
// (O, S, I) = (outer, size, inner): the dims before, the reduced dim, the dims after (the
// CPU backend's layout, kernels/cpu/reduce.h). Forward and backward.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace torus::cuda {

enum class ReduceDimOp { sum, mean, max };

// out[o, i] = sum_s / mean_s / max_s in[o, s, i]. in: (O, S, I); out: (O, I).
// max also writes indices[o, i] (i64), the s of the max: the first one, and a NaN wins
// (the first NaN), as cpu::max_middle and PyTorch; indices is ignored for sum and mean and
// may be nullptr there. S == 0: sum gives 0, mean NaN (0 / 0), max is an error.
void reduce_dim_forward(const float* in, float* out, int64_t* indices, int64_t outer, int64_t size,
                        int64_t inner, ReduceDimOp op, cudaStream_t stream);

// grad_in: (O, S, I), overwritten, from grad_out: (O, I).
//   sum:  grad_in[o, s, i] = grad_out[o, i]
//   mean: grad_in[o, s, i] = grad_out[o, i] / S
//   max:  grad_in[o, s, i] = s == indices[o, i] ? grad_out[o, i] : 0 (the forward's indices:
//         the whole gradient goes to the first max, as the CPU backward)
void reduce_dim_backward(const float* grad_out, const int64_t* indices, float* grad_in, int64_t outer,
                         int64_t size, int64_t inner, ReduceDimOp op, cudaStream_t stream);

}  // namespace torus::cuda
