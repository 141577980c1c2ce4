// The fused AdamW update (adamw.h): one pass reading p, g, m, v and writing p, m, v, with
// float4 accesses when all four buffers are 16-byte aligned (the usual case: the caching
// allocator hands out 512-byte aligned blocks).
#include <cmath>

#include "kernels/cuda/adamw.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"

namespace torus::cuda {

namespace {

// The per-step constants, folded on the host.
struct AdamWCoefficients {
  float decay;        // 1 - lr * weight_decay
  float beta1, beta2;
  float step_size;    // lr / (1 - beta1^t)
  float bc2_sqrt;     // sqrt(1 - beta2^t)
  float eps;
};

__device__ __forceinline__ void adamw_element(float& p, float g, float& m, float& v, const AdamWCoefficients& k) {
  p *= k.decay;
  m = k.beta1 * m + (1.0f - k.beta1) * g;
  v = k.beta2 * v + (1.0f - k.beta2) * g * g;
  p -= k.step_size * m / (sqrtf(v) / k.bc2_sqrt + k.eps);
}

// The clipping coefficient, one load per thread (every thread reads the same word).
__device__ __forceinline__ float gradient_scale(const float* grad_scale) {
  return grad_scale != nullptr ? *grad_scale : 1.0f;
}

__global__ void adamw_vec4_kernel(float* __restrict__ params, const float* __restrict__ grads,
                                  float* __restrict__ exp_avg, float* __restrict__ exp_avg_sq, int64_t n,
                                  AdamWCoefficients k, const float* __restrict__ grad_scale) {
  const float scale = gradient_scale(grad_scale);
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t first = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  const int64_t vectors = n / 4;
  for (int64_t i = first; i < vectors; i += stride) {
    float4 p = reinterpret_cast<float4*>(params)[i];
    float4 g = reinterpret_cast<const float4*>(grads)[i];
    g.x *= scale;
    g.y *= scale;
    g.z *= scale;
    g.w *= scale;
    float4 m = reinterpret_cast<float4*>(exp_avg)[i];
    float4 v = reinterpret_cast<float4*>(exp_avg_sq)[i];
    adamw_element(p.x, g.x, m.x, v.x, k);
    adamw_element(p.y, g.y, m.y, v.y, k);
    adamw_element(p.z, g.z, m.z, v.z, k);
    adamw_element(p.w, g.w, m.w, v.w, k);
    reinterpret_cast<float4*>(params)[i] = p;
    reinterpret_cast<float4*>(exp_avg)[i] = m;
    reinterpret_cast<float4*>(exp_avg_sq)[i] = v;
  }
  const int64_t tail = vectors * 4 + first;
  if (tail < n) adamw_element(params[tail], grads[tail] * scale, exp_avg[tail], exp_avg_sq[tail], k);
}

__global__ void adamw_kernel(float* __restrict__ params, const float* __restrict__ grads,
                             float* __restrict__ exp_avg, float* __restrict__ exp_avg_sq, int64_t n,
                             AdamWCoefficients k, const float* __restrict__ grad_scale) {
  const float scale = gradient_scale(grad_scale);
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride)
    adamw_element(params[i], grads[i] * scale, exp_avg[i], exp_avg_sq[i], k);
}

}  // namespace

void adamw_step(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamWStep& step, const float* grad_scale, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(n >= 0, "adamw_step: bad size ", n);
  TORUS_CUDA_EXPECT(step.step >= 1, "adamw_step: step must be >= 1, got ", step.step);
  TORUS_CUDA_EXPECT(step.beta1 >= 0.0f && step.beta1 < 1.0f && step.beta2 >= 0.0f && step.beta2 < 1.0f,
              "adamw_step: betas must be in [0, 1), got (", step.beta1, ", ", step.beta2, ")");
  if (n == 0) return;
  const double t = static_cast<double>(step.step);
  AdamWCoefficients k;
  k.decay = static_cast<float>(1.0 - static_cast<double>(step.lr) * step.weight_decay);
  k.beta1 = step.beta1;
  k.beta2 = step.beta2;
  k.step_size = static_cast<float>(step.lr / (1.0 - std::pow(static_cast<double>(step.beta1), t)));
  k.bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(step.beta2), t)));
  k.eps = step.eps;
  const bool aligned = is_aligned(reinterpret_cast<uintptr_t>(params), 4, 4) &&
                       is_aligned(reinterpret_cast<uintptr_t>(grads), 4, 4) &&
                       is_aligned(reinterpret_cast<uintptr_t>(exp_avg), 4, 4) &&
                       is_aligned(reinterpret_cast<uintptr_t>(exp_avg_sq), 4, 4);
  if (aligned) {
    const LaunchConfig1D config = elementwise_config(n, 4);
    adamw_vec4_kernel<<<config.grid, config.block, 0, stream>>>(params, grads, exp_avg, exp_avg_sq, n, k, grad_scale);
    TORUS_CUDA_CHECK_LAUNCH("adamw_vec4_kernel");
  } else {
    const LaunchConfig1D config = elementwise_config(n);
    adamw_kernel<<<config.grid, config.block, 0, stream>>>(params, grads, exp_avg, exp_avg_sq, n, k, grad_scale);
    TORUS_CUDA_CHECK_LAUNCH("adamw_kernel");
  }
}

}  // namespace torus::cuda
