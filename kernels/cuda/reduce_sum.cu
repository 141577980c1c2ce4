// Sum over the last dim (reduce_sum.h): a warp per row for short rows, a block per row for
// long ones (row_config); each lane sums a strided slice, then the warp or block combines.
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/reduce_sum.h"
#include "kernels/cuda/warp_reduce.cuh"

namespace torus::cuda {

namespace {

// R rows, C cols; warp w of block b takes rows b * rows_per_block + w, striding by the grid.
__global__ void sum_last_dim_warp_kernel(const float* __restrict__ in, float* __restrict__ out,
                                         int64_t rows, int64_t cols) {
  const int rows_per_block = blockDim.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  for (int64_t row = int64_t{blockIdx.x} * rows_per_block + threadIdx.x / kWarpSize; row < rows;
       row += int64_t{gridDim.x} * rows_per_block) {
    const float* x = in + row * cols;
    float sum = 0.0f;
    for (int64_t c = lane; c < cols; c += kWarpSize) sum += x[c];
    sum = warp_sum(sum);
    if (lane == 0) out[row] = sum;
  }
}

__global__ void sum_last_dim_block_kernel(const float* __restrict__ in, float* __restrict__ out,
                                          int64_t rows, int64_t cols) {
  __shared__ float scratch[kWarpSize];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* x = in + row * cols;
    float sum = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += x[c];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) out[row] = sum;
  }
}

__global__ void sum_last_dim_backward_kernel(const float* __restrict__ grad_out,
                                             float* __restrict__ grad_in, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride)
    grad_in[i] = grad_out[i / cols];
}

}  // namespace

void sum_last_dim_forward(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(rows >= 0 && cols >= 0, "sum_last_dim_forward: bad shape (", rows, ", ", cols, ")");
  const RowLaunchConfig config = row_config(rows, cols);
  if (config.grid == 0) return;
  if (config.warp_per_row) {
    sum_last_dim_warp_kernel<<<config.grid, config.block, 0, stream>>>(in, out, rows, cols);
    TORUS_CUDA_CHECK_LAUNCH("sum_last_dim_warp_kernel");
  } else {
    sum_last_dim_block_kernel<<<config.grid, config.block, 0, stream>>>(in, out, rows, cols);
    TORUS_CUDA_CHECK_LAUNCH("sum_last_dim_block_kernel");
  }
}

void sum_last_dim_backward(const float* grad_out, float* grad_in, int64_t rows, int64_t cols,
                           cudaStream_t stream) {
  TORUS_CUDA_EXPECT(rows >= 0 && cols >= 0, "sum_last_dim_backward: bad shape (", rows, ", ", cols, ")");
  const LaunchConfig1D config = elementwise_config(rows * cols);
  if (config.grid == 0) return;
  sum_last_dim_backward_kernel<<<config.grid, config.block, 0, stream>>>(grad_out, grad_in, rows, cols);
  TORUS_CUDA_CHECK_LAUNCH("sum_last_dim_backward_kernel");
}

}  // namespace torus::cuda
