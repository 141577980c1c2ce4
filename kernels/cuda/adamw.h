// Fused AdamW step over one flat f32 buffer of all parameters (and their gradients and
// moments laid out alike), as torch.optim.AdamW:
//   g = scale * g (gradient clipping's coefficient, read on the device; 1 without one)
//   p *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace torus::cuda {

struct AdamWStep {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.01f;
  int64_t step = 1;  // t, from 1: the bias corrections are computed on the host in double
};

// params, grads, exp_avg (m), exp_avg_sq (v): n elements each; grads is only read.
// grad_scale: one float on the device, or null for none.
void adamw_step(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamWStep& step, const float* grad_scale, cudaStream_t stream);

}  // namespace torus::cuda
