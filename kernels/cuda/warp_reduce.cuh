// Warp and block reductions shared by the row kernels (sum, softmax, LayerNorm).
#pragma once

#include <cfloat>

#include "kernels/cuda/launch_config.h"

namespace torus::cuda {

__device__ __forceinline__ float warp_sum(float value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

__device__ __forceinline__ float warp_max(float value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// Every thread of the block gets the block's sum (or max). `scratch` holds one float per
// warp (32 suffice for 1024 threads); the trailing barrier lets the caller reuse it at once.
template <bool kMax>
__device__ __forceinline__ float block_reduce(float value, float* scratch) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int warps = (blockDim.x + kWarpSize - 1) / kWarpSize;
  value = kMax ? warp_max(value) : warp_sum(value);
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  const float identity = kMax ? -FLT_MAX : 0.0f;
  value = lane < warps ? scratch[lane] : identity;
  value = kMax ? warp_max(value) : warp_sum(value);
  __syncthreads();
  return value;
}

__device__ __forceinline__ float block_sum(float value, float* scratch) { return block_reduce<false>(value, scratch); }
__device__ __forceinline__ float block_max(float value, float* scratch) { return block_reduce<true>(value, scratch); }

}  // namespace torus::cuda
