// LayerNorm over the last dim of a contiguous (R, C) f32 device buffer, forward and
// backward, as torch.nn.functional.layer_norm with an affine weight and bias of (C).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace torus::cuda {

// y = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps) with the biased
// variance. x, y: (R, C); weight, bias: (C); mean, rstd: (R), saved for the backward.
void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols, float eps, cudaStream_t stream);

// With xhat = (x - mean) * rstd and g = dy * weight:
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
//   dweight = sum_r(dy * xhat), dbias = sum_r(dy)
// grad_x: (R, C); grad_weight, grad_bias: (C), overwritten (not accumulated); any of the
// three may be nullptr when not wanted.
void layer_norm_backward(const float* x, const float* weight, const float* mean, const float* rstd,
                         const float* grad_y, float* grad_x, float* grad_weight, float* grad_bias,
                         int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace torus::cuda
