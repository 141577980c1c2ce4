// LayerNorm forward and backward (layer_norm.h). Row statistics and dx by a warp or a
// block per row (row_group.cuh); the mean is taken first and the variance as the mean of
// squared deviations (two passes, no catastrophic cancellation). dweight and dbias by threads
// per (chunk of rows, column) walking their rows in order, coalesced across the warp; with
// several chunks a second pass adds each column's partials in order: deterministic.
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/row_group.cuh"

namespace torus::cuda {

namespace {

template <class Rows>
__device__ void layer_norm_rows(Rows rows_of, const float* __restrict__ x, const float* __restrict__ weight,
                                const float* __restrict__ bias, float* __restrict__ y,
                                float* __restrict__ mean_out, float* __restrict__ rstd_out, int64_t rows,
                                int64_t cols, float eps) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
  for (int64_t row = rows_of.first_row(); row < rows; row += rows_of.row_stride()) {
    const float* in = x + row * cols;
    float* out = y + row * cols;
    float sum = 0.0f;
    for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width()) sum += in[c];
    const float mean = rows_of.sum(sum) * inv_cols;
    float squares = 0.0f;
    for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width()) {
      const float d = in[c] - mean;
      squares += d * d;
    }
    const float rstd = rsqrtf(rows_of.sum(squares) * inv_cols + eps);
    for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width())
      out[c] = (in[c] - mean) * rstd * weight[c] + bias[c];
    if (rows_of.lane() == 0) {
      mean_out[row] = mean;
      rstd_out[row] = rstd;
    }
  }
}

template <class Rows>
__device__ void layer_norm_backward_rows(Rows rows_of, const float* __restrict__ x, const float* __restrict__ weight,
                                         const float* __restrict__ mean, const float* __restrict__ rstd,
                                         const float* __restrict__ grad_y, float* __restrict__ grad_x,
                                         int64_t rows, int64_t cols) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
  for (int64_t row = rows_of.first_row(); row < rows; row += rows_of.row_stride()) {
    const float* in = x + row * cols;
    const float* dy = grad_y + row * cols;
    float* dx = grad_x + row * cols;
    const float mu = mean[row];
    const float r = rstd[row];
    float g_sum = 0.0f, gx_sum = 0.0f;
    for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width()) {
      const float g = dy[c] * weight[c];
      g_sum += g;
      gx_sum += g * (in[c] - mu) * r;
    }
    const float g_mean = rows_of.sum(g_sum) * inv_cols;
    const float gx_mean = rows_of.sum(gx_sum) * inv_cols;
    for (int64_t c = rows_of.lane(); c < cols; c += rows_of.width()) {
      const float xhat = (in[c] - mu) * r;
      dx[c] = r * (dy[c] * weight[c] - g_mean - xhat * gx_mean);
    }
  }
}

__global__ void layer_norm_forward_warp_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                               const float* __restrict__ bias, float* __restrict__ y,
                                               float* __restrict__ mean, float* __restrict__ rstd,
                                               int64_t rows, int64_t cols, float eps) {
  layer_norm_rows(WarpRows{}, x, weight, bias, y, mean, rstd, rows, cols, eps);
}

__global__ void layer_norm_forward_block_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                                const float* __restrict__ bias, float* __restrict__ y,
                                                float* __restrict__ mean, float* __restrict__ rstd,
                                                int64_t rows, int64_t cols, float eps) {
  __shared__ float scratch[kWarpSize];
  layer_norm_rows(BlockRows{scratch}, x, weight, bias, y, mean, rstd, rows, cols, eps);
}

__global__ void layer_norm_backward_warp_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                                const float* __restrict__ mean, const float* __restrict__ rstd,
                                                const float* __restrict__ grad_y, float* __restrict__ grad_x,
                                                int64_t rows, int64_t cols) {
  layer_norm_backward_rows(WarpRows{}, x, weight, mean, rstd, grad_y, grad_x, rows, cols);
}

__global__ void layer_norm_backward_block_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                                 const float* __restrict__ mean, const float* __restrict__ rstd,
                                                 const float* __restrict__ grad_y, float* __restrict__ grad_x,
                                                 int64_t rows, int64_t cols) {
  __shared__ float scratch[kWarpSize];
  layer_norm_backward_rows(BlockRows{scratch}, x, weight, mean, rstd, grad_y, grad_x, rows, cols);
}

// The parameter sums over chunks of rows: for e = chunk * C + c, partial_w[e] and
// partial_b[e] (either may be null) are the sums over the chunk's rows, in order, of dy * xhat
// and dy. Stage 1 of the two; with one chunk, dweight and dbias themselves.
__global__ void layer_norm_params_chunks_kernel(const float* __restrict__ x, const float* __restrict__ mean,
                                                const float* __restrict__ rstd, const float* __restrict__ grad_y,
                                                float* __restrict__ partial_w, float* __restrict__ partial_b,
                                                int64_t rows, int64_t cols, int64_t chunks, int64_t rows_per_chunk) {
  const int64_t n = chunks * cols;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t c = e % cols, chunk = e / cols;
    const int64_t first = chunk * rows_per_chunk, last = min(first + rows_per_chunk, rows);
    float dw = 0.0f, db = 0.0f;
    for (int64_t row = first; row < last; ++row) {
      const float dy = grad_y[row * cols + c];
      dw += dy * (x[row * cols + c] - mean[row]) * rstd[row];
      db += dy;
    }
    if (partial_w != nullptr) partial_w[e] = dw;
    if (partial_b != nullptr) partial_b[e] = db;
  }
}

// Stage 2: each column's partials added in chunk order.
__global__ void layer_norm_params_sums_kernel(const float* __restrict__ partial_w, const float* __restrict__ partial_b,
                                              float* __restrict__ grad_weight, float* __restrict__ grad_bias,
                                              int64_t cols, int64_t chunks) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t c = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; c < cols; c += stride) {
    float dw = 0.0f, db = 0.0f;
    for (int64_t k = 0; k < chunks; ++k) {
      dw += partial_w[k * cols + c];
      db += partial_b[k * cols + c];
    }
    if (grad_weight != nullptr) grad_weight[c] = dw;
    if (grad_bias != nullptr) grad_bias[c] = db;
  }
}

}  // namespace

void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols, float eps, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(rows >= 0 && cols >= 1, "layer_norm_forward: bad shape (", rows, ", ", cols, ")");
  TORUS_CUDA_EXPECT(eps >= 0.0f, "layer_norm_forward: eps must be >= 0, got ", eps);
  const RowLaunchConfig config = row_config(rows, cols);
  if (config.grid == 0) return;
  if (config.warp_per_row) {
    layer_norm_forward_warp_kernel<<<config.grid, config.block, 0, stream>>>(x, weight, bias, y, mean, rstd,
                                                                             rows, cols, eps);
    TORUS_CUDA_CHECK_LAUNCH("layer_norm_forward_warp_kernel");
  } else {
    layer_norm_forward_block_kernel<<<config.grid, config.block, 0, stream>>>(x, weight, bias, y, mean, rstd,
                                                                              rows, cols, eps);
    TORUS_CUDA_CHECK_LAUNCH("layer_norm_forward_block_kernel");
  }
}

void layer_norm_backward(const float* x, const float* weight, const float* mean, const float* rstd,
                         const float* grad_y, float* grad_x, float* grad_weight, float* grad_bias,
                         int64_t rows, int64_t cols, cudaStream_t stream, float* workspace) {
  TORUS_CUDA_EXPECT(rows >= 0 && cols >= 1, "layer_norm_backward: bad shape (", rows, ", ", cols, ")");
  if (grad_x != nullptr && rows > 0) {
    const RowLaunchConfig config = row_config(rows, cols);
    if (config.warp_per_row) {
      layer_norm_backward_warp_kernel<<<config.grid, config.block, 0, stream>>>(x, weight, mean, rstd, grad_y,
                                                                                grad_x, rows, cols);
      TORUS_CUDA_CHECK_LAUNCH("layer_norm_backward_warp_kernel");
    } else {
      layer_norm_backward_block_kernel<<<config.grid, config.block, 0, stream>>>(x, weight, mean, rstd, grad_y,
                                                                                 grad_x, rows, cols);
      TORUS_CUDA_CHECK_LAUNCH("layer_norm_backward_block_kernel");
    }
  }
  const int64_t chunks = reduce_dim_chunks(1, rows, cols);
  if ((grad_weight != nullptr || grad_bias != nullptr) && workspace != nullptr && chunks > 1) {
    float* partial_w = workspace;
    float* partial_b = workspace + chunks * cols;
    const LaunchConfig1D stage1 = elementwise_config(chunks * cols);
    layer_norm_params_chunks_kernel<<<stage1.grid, stage1.block, 0, stream>>>(x, mean, rstd, grad_y, partial_w,
                                                                              partial_b, rows, cols, chunks,
                                                                              ceil_div(rows, chunks));
    TORUS_CUDA_CHECK_LAUNCH("layer_norm_params_chunks_kernel");
    const LaunchConfig1D stage2 = per_output_config(cols);
    layer_norm_params_sums_kernel<<<stage2.grid, stage2.block, 0, stream>>>(partial_w, partial_b, grad_weight,
                                                                            grad_bias, cols, chunks);
    TORUS_CUDA_CHECK_LAUNCH("layer_norm_params_sums_kernel");
  } else if (grad_weight != nullptr || grad_bias != nullptr) {  // one chunk of every row, a thread per column
    const LaunchConfig1D config = per_output_config(cols);
    layer_norm_params_chunks_kernel<<<config.grid, config.block, 0, stream>>>(x, mean, rstd, grad_y, grad_weight,
                                                                              grad_bias, rows, cols, 1, rows);
    TORUS_CUDA_CHECK_LAUNCH("layer_norm_params_chunks_kernel");
  }
}

}  // namespace torus::cuda
