// Softmax / log-softmax over the last dim (softmax.h). A warp or a block per row
// (row_group.cuh); three passes over the row (max, sum of exponentials, write), which stay
// in L1/L2 for the row lengths of attention and classifier heads.
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/row_group.cuh"
#include "kernels/cuda/softmax.h"

namespace torus::cuda {

namespace {

template <class Rows, bool kLog>
__device__ void softmax_rows(Rows rows_of, const float* x, float* y, int64_t rows,
                             int64_t cols) {
  for (int64_t row = rows_of.first_row(); row < rows; row += rows_of.row_stride()) {
    const float* in = x + row * cols;
    float* out = y + row * cols;
    float max = -FLT_MAX;
    for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width()) max = fmaxf(max, in[c]);
    max = rows_of.max(max);
    float sum = 0.0f;
    for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width()) sum += __expf(in[c] - max);
    sum = rows_of.sum(sum);
    if constexpr (kLog) {
      const float log_sum = __logf(sum);
      for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width()) out[c] = in[c] - max - log_sum;
    } else {
      const float inverse = 1.0f / sum;
      for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width()) out[c] = __expf(in[c] - max) * inverse;
    }
  }
}

template <class Rows, bool kLog>
__device__ void softmax_backward_rows(Rows rows_of, const float* __restrict__ y, const float* grad_y,
                                      float* grad_x, int64_t rows, int64_t cols) {
  for (int64_t row = rows_of.first_row(); row < rows; row += rows_of.row_stride()) {
    const float* yr = y + row * cols;
    const float* dy = grad_y + row * cols;
    float* dx = grad_x + row * cols;
    float dot = 0.0f;  // softmax: sum(dy * y); log-softmax: sum(dy)
    for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width()) dot += kLog ? dy[c] : dy[c] * yr[c];
    dot = rows_of.sum(dot);
    for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width())
      dx[c] = kLog ? dy[c] - __expf(yr[c]) * dot : yr[c] * (dy[c] - dot);
  }
}

template <bool kLog>
__global__ void softmax_forward_warp_kernel(const float* x, float* y, int64_t rows, int64_t cols) {
  softmax_rows<WarpRows, kLog>(WarpRows{}, x, y, rows, cols);
}

template <bool kLog>
__global__ void softmax_forward_block_kernel(const float* x, float* y, int64_t rows, int64_t cols) {
  __shared__ float scratch[kWarpSize];
  softmax_rows<BlockRows, kLog>(BlockRows{scratch}, x, y, rows, cols);
}

template <bool kLog>
__global__ void softmax_backward_warp_kernel(const float* __restrict__ y, const float* grad_y, float* grad_x,
                                             int64_t rows, int64_t cols) {
  softmax_backward_rows<WarpRows, kLog>(WarpRows{}, y, grad_y, grad_x, rows, cols);
}

template <bool kLog>
__global__ void softmax_backward_block_kernel(const float* __restrict__ y, const float* grad_y, float* grad_x,
                                              int64_t rows, int64_t cols) {
  __shared__ float scratch[kWarpSize];
  softmax_backward_rows<BlockRows, kLog>(BlockRows{scratch}, y, grad_y, grad_x, rows, cols);
}

template <bool kLog>
void launch_forward(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  const RowLaunchConfig config = row_config(rows, cols);
  if (config.warp_per_row) {
    softmax_forward_warp_kernel<kLog><<<config.grid, config.block, 0, stream>>>(x, y, rows, cols);
    TORUS_CUDA_CHECK_LAUNCH("softmax_forward_warp_kernel");
  } else {
    softmax_forward_block_kernel<kLog><<<config.grid, config.block, 0, stream>>>(x, y, rows, cols);
    TORUS_CUDA_CHECK_LAUNCH("softmax_forward_block_kernel");
  }
}

template <bool kLog>
void launch_backward(const float* y, const float* grad_y, float* grad_x, int64_t rows, int64_t cols,
                     cudaStream_t stream) {
  const RowLaunchConfig config = row_config(rows, cols);
  if (config.warp_per_row) {
    softmax_backward_warp_kernel<kLog><<<config.grid, config.block, 0, stream>>>(y, grad_y, grad_x, rows, cols);
    TORUS_CUDA_CHECK_LAUNCH("softmax_backward_warp_kernel");
  } else {
    softmax_backward_block_kernel<kLog><<<config.grid, config.block, 0, stream>>>(y, grad_y, grad_x, rows, cols);
    TORUS_CUDA_CHECK_LAUNCH("softmax_backward_block_kernel");
  }
}

}  // namespace

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols, bool log, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(rows >= 0 && cols >= 1, log ? "log_softmax" : "softmax", "_forward: bad shape (", rows, ", ", cols,
                    "): rows need at least one element");
  if (rows == 0) return;
  if (log) launch_forward<true>(x, y, rows, cols, stream);
  else launch_forward<false>(x, y, rows, cols, stream);
}

void softmax_backward(const float* y, const float* grad_y, float* grad_x, int64_t rows, int64_t cols,
                      bool log, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(rows >= 0 && cols >= 1, log ? "log_softmax" : "softmax", "_backward: bad shape (", rows,
                    ", ", cols, ")");
  if (rows == 0) return;
  if (log) launch_backward<true>(y, grad_y, grad_x, rows, cols, stream);
  else launch_backward<false>(y, grad_y, grad_x, rows, cols, stream);
}

}  // namespace torus::cuda
