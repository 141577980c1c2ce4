// Dropout forward and backward (dropout.h). A thread per Philox block of 4 elements per
// grid-stride step: one philox_block call gives the 4 draws, and with 16-byte aligned
// buffers the 4 elements move as one float4 (and the mask as one uchar4).
//
// The keep test is done on integers: unit(word) = (word >> 8) 2^-24 >= p exactly when
// (word >> 8) >= ceil(p 2^24) (p 2^24 is exact in double), so it matches the CPU's float
// vs double comparison bit for bit.
#include <cmath>

#include "kernels/cuda/check.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/common/philox.h"

namespace torus::cuda {

namespace {

struct DropoutRule {
  uint64_t seed;
  uint64_t offset;
  uint32_t threshold;  // keep when (word >> 8) >= threshold
  float scale;
  __device__ bool keep(uint32_t word) const { return (word >> 8) >= threshold; }
};

// in, out: (N); mask: (N) or nullptr. kVec4: in, out (and mask) 16 (4)-byte aligned.
template <bool kVec4>
__global__ void dropout_forward_kernel(const float* in, float* out, uint8_t* mask, int64_t n, DropoutRule rule) {
  const int64_t blocks = (n + 3) / 4;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t b = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; b < blocks; b += stride) {
    const PhiloxWords r = philox_block(rule.seed, rule.offset + static_cast<uint64_t>(b));
    const int64_t first = 4 * b;
    if (kVec4 && first + 4 <= n) {
      const float4 v = reinterpret_cast<const float4*>(in)[b];
      const bool k0 = rule.keep(r.w[0]), k1 = rule.keep(r.w[1]), k2 = rule.keep(r.w[2]), k3 = rule.keep(r.w[3]);
      reinterpret_cast<float4*>(out)[b] =
          make_float4(v.x * (static_cast<float>(k0) * rule.scale), v.y * (static_cast<float>(k1) * rule.scale),
                      v.z * (static_cast<float>(k2) * rule.scale), v.w * (static_cast<float>(k3) * rule.scale));
      if (mask != nullptr)
        reinterpret_cast<uchar4*>(mask)[b] = make_uchar4(k0, k1, k2, k3);
    } else {
      const int count = static_cast<int>(n - first < 4 ? n - first : 4);
      for (int j = 0; j < count; ++j) {
        const bool kept = rule.keep(r.w[j]);
        out[first + j] = in[first + j] * (static_cast<float>(kept) * rule.scale);
        if (mask != nullptr) mask[first + j] = kept ? 1 : 0;
      }
    }
  }
}

template <bool kVec4>
__global__ void dropout_backward_kernel(const float* grad_y, float* grad_x, int64_t n, DropoutRule rule) {
  const int64_t blocks = (n + 3) / 4;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t b = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; b < blocks; b += stride) {
    const PhiloxWords r = philox_block(rule.seed, rule.offset + static_cast<uint64_t>(b));
    const int64_t first = 4 * b;
    if (kVec4 && first + 4 <= n) {
      const float4 g = reinterpret_cast<const float4*>(grad_y)[b];
      reinterpret_cast<float4*>(grad_x)[b] =
          make_float4(g.x * (static_cast<float>(rule.keep(r.w[0])) * rule.scale),
                      g.y * (static_cast<float>(rule.keep(r.w[1])) * rule.scale),
                      g.z * (static_cast<float>(rule.keep(r.w[2])) * rule.scale),
                      g.w * (static_cast<float>(rule.keep(r.w[3])) * rule.scale));
    } else {
      const int count = static_cast<int>(n - first < 4 ? n - first : 4);
      for (int j = 0; j < count; ++j)
        grad_x[first + j] = grad_y[first + j] * (static_cast<float>(rule.keep(r.w[j])) * rule.scale);
    }
  }
}

DropoutRule make_rule(double p, uint64_t seed, uint64_t offset) {
  DropoutRule rule;
  rule.seed = seed;
  rule.offset = offset;
  rule.threshold = static_cast<uint32_t>(std::ceil(p * 0x1p24));
  // As the CPU: the scale is computed in double and used as float.
  rule.scale = p < 1.0 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
  return rule;
}

bool aligned16(const void* pointer) { return is_aligned(reinterpret_cast<uintptr_t>(pointer), 4, 4); }

}  // namespace

void dropout_forward(const float* x, float* y, uint8_t* mask, int64_t n, double p, uint64_t seed,
                     uint64_t offset, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(n >= 0, "dropout_forward: bad element count ", n);
  TORUS_CUDA_EXPECT(p >= 0.0 && p <= 1.0, "dropout_forward: probability p must be in [0, 1], got ", p);
  const LaunchConfig1D config = elementwise_config(n, 4);
  if (config.grid == 0) return;
  const DropoutRule rule = make_rule(p, seed, offset);
  const bool vec4 = aligned16(x) && aligned16(y) &&
                    (mask == nullptr || is_aligned(reinterpret_cast<uintptr_t>(mask), 4, 1));
  if (vec4) {
    dropout_forward_kernel<true><<<config.grid, config.block, 0, stream>>>(x, y, mask, n, rule);
  } else {
    dropout_forward_kernel<false><<<config.grid, config.block, 0, stream>>>(x, y, mask, n, rule);
  }
  TORUS_CUDA_CHECK_LAUNCH("dropout_forward_kernel");
}

void dropout_backward(const float* grad_y, float* grad_x, int64_t n, double p, uint64_t seed, uint64_t offset,
                      cudaStream_t stream) {
  TORUS_CUDA_EXPECT(n >= 0, "dropout_backward: bad element count ", n);
  TORUS_CUDA_EXPECT(p >= 0.0 && p <= 1.0, "dropout_backward: probability p must be in [0, 1], got ", p);
  const LaunchConfig1D config = elementwise_config(n, 4);
  if (config.grid == 0) return;
  const DropoutRule rule = make_rule(p, seed, offset);
  if (aligned16(grad_y) && aligned16(grad_x)) {
    dropout_backward_kernel<true><<<config.grid, config.block, 0, stream>>>(grad_y, grad_x, n, rule);
  } else {
    dropout_backward_kernel<false><<<config.grid, config.block, 0, stream>>>(grad_y, grad_x, n, rule);
  }
  TORUS_CUDA_CHECK_LAUNCH("dropout_backward_kernel");
}

}  // namespace torus::cuda
