// The where kernel (see where.h): one thread per output element, grid-stride.
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/where.h"

namespace torus::cuda {
namespace {

__global__ void where_kernel(const uint8_t* __restrict__ condition, const float* __restrict__ a,
                             const float* __restrict__ b, float* __restrict__ out, WhereLayout layout) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < layout.numel; i += stride) {
    int64_t rest = i, c = 0, ia = 0, ib = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const int64_t index = rest % layout.sizes[d];
      rest /= layout.sizes[d];
      c += index * layout.condition_strides[d];
      ia += index * layout.a_strides[d];
      ib += index * layout.b_strides[d];
    }
    out[i] = condition[c] ? a[ia] : b[ib];
  }
}

}  // namespace

void where_forward(const uint8_t* condition, const float* a, const float* b, float* out, const WhereLayout& layout,
                   cudaStream_t stream) {
  if (layout.numel == 0) return;
  const LaunchConfig1D config = elementwise_config(layout.numel);
  where_kernel<<<static_cast<unsigned>(config.grid), config.block, 0, stream>>>(condition, a, b, out, layout);
  TORUS_CUDA_CHECK_LAUNCH("where_kernel");
}

}  // namespace torus::cuda
