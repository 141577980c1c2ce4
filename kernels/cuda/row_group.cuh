// The two ways row kernels split rows over threads (row_config in launch_config.h): a warp
// per row (WarpRows) or a block per row (BlockRows). Kernels are templates over these, so
// softmax and LayerNorm are written once: lane()/width() stride over a row's elements,
// sum()/max() combine over the group, first_row()/row_stride() walk the rows.
#pragma once

#include "kernels/cuda/warp_reduce.cuh"

namespace torus::cuda {

struct WarpRows {
  __device__ int lane() const { return threadIdx.x % kWarpSize; }
  __device__ int width() const { return kWarpSize; }
  __device__ int64_t first_row() const {
    return int64_t{blockIdx.x} * (blockDim.x / kWarpSize) + threadIdx.x / kWarpSize;
  }
  __device__ int64_t row_stride() const { return int64_t{gridDim.x} * (blockDim.x / kWarpSize); }
  __device__ float sum(float v) const { return warp_sum(v); }
  __device__ float max(float v) const { return warp_max(v); }
};

struct BlockRows {
  float* scratch;  // kWarpSize floats of shared memory
  __device__ int lane() const { return threadIdx.x; }
  __device__ int width() const { return blockDim.x; }
  __device__ int64_t first_row() const { return blockIdx.x; }
  __device__ int64_t row_stride() const { return gridDim.x; }
  __device__ float sum(float v) const { return block_sum(v, scratch); }
  __device__ float max(float v) const { return block_max(v, scratch); }
};

}  // namespace torus::cuda
