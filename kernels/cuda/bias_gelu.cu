// Bias + GELU forward and backward (bias_gelu.h). The forward is elementwise (grid-stride,
// the column from the flat index). The backward tiles (R, C) as 32 columns x a chunk of
// rows per block of 32 x 8 threads: a warp covers 32 consecutive columns of one row
// (coalesced), each thread walks its column down the chunk, and the 8 partial sums of a
// column are added in a fixed order through shared memory; stage 2 adds the chunks'
// partials per column in chunk order. No atomics: dbias is the same bit for bit each run.
#include "kernels/common/functors.h"
#include "kernels/cuda/bias_gelu.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"

namespace torus::cuda {

namespace {

inline constexpr int kTileRows = 8;  // threadIdx.y

template <class Gelu>
__global__ void bias_gelu_forward_kernel(const float* x, const float* __restrict__ bias, float* y, int64_t rows,
                                         int64_t cols) {
  const int64_t n = rows * cols;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < n; e += stride)
    y[e] = Gelu{}(x[e] + bias[e % cols]);
}

// Block (32, kTileRows): columns blockIdx.x * 32 + threadIdx.x, rows of chunk blockIdx.y.
// Writes grad_x and the chunk's column sums to partial[blockIdx.y * C + c].
template <class GeluBackward>
__global__ void bias_gelu_backward_kernel(const float* __restrict__ x, const float* __restrict__ bias,
                                          const float* grad_y, float* grad_x, float* __restrict__ partial,
                                          int64_t rows, int64_t cols, int64_t rows_per_chunk) {
  __shared__ float sums[kTileRows][kWarpSize + 1];
  const int64_t c = int64_t{blockIdx.x} * kWarpSize + threadIdx.x;
  const int64_t first = int64_t{blockIdx.y} * rows_per_chunk;
  const int64_t last = min(first + rows_per_chunk, rows);
  float sum = 0.0f;
  if (c < cols) {
    const float b = bias[c];
    for (int64_t r = first + threadIdx.y; r < last; r += kTileRows) {
      const int64_t e = r * cols + c;
      const float g = GeluBackward{}(x[e] + b, grad_y[e]);
      grad_x[e] = g;
      sum += g;
    }
  }
  if (partial == nullptr) return;  // no dbias wanted: no thread reaches the barrier
  sums[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
    for (int k = 0; k < kTileRows; ++k) total += sums[k][threadIdx.x];
    partial[int64_t{blockIdx.y} * cols + c] = total;
  }
}

// grad_bias[c] = sum over chunks k, in order, of partial[k * C + c].
__global__ void bias_gelu_backward_bias_kernel(const float* __restrict__ partial, float* __restrict__ grad_bias,
                                               int64_t chunks, int64_t cols) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t c = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; c < cols; c += stride) {
    float total = 0.0f;
    for (int64_t k = 0; k < chunks; ++k) total += partial[k * cols + c];
    grad_bias[c] = total;
  }
}

template <class Gelu>
void launch_forward(const float* x, const float* bias, float* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  const LaunchConfig1D config = elementwise_config(rows * cols);
  if (config.grid == 0) return;
  bias_gelu_forward_kernel<Gelu><<<config.grid, config.block, 0, stream>>>(x, bias, y, rows, cols);
  TORUS_CUDA_CHECK_LAUNCH("bias_gelu_forward_kernel");
}

template <class GeluBackward>
void launch_backward(const float* x, const float* bias, const float* grad_y, float* grad_x, float* grad_bias,
                     float* workspace, int64_t rows, int64_t cols, cudaStream_t stream) {
  const int64_t chunks = bias_gelu_row_chunks(rows, cols);
  const int64_t rows_per_chunk = ceil_div(rows, chunks);
  // One chunk: stage 1 writes dbias itself.
  float* partial = grad_bias == nullptr ? nullptr : (chunks > 1 ? workspace : grad_bias);
  const dim3 grid(static_cast<unsigned>(ceil_div(cols, kWarpSize)), static_cast<unsigned>(chunks));
  const dim3 block(kWarpSize, kTileRows);
  bias_gelu_backward_kernel<GeluBackward><<<grid, block, 0, stream>>>(x, bias, grad_y, grad_x, partial, rows, cols,
                                                                      rows_per_chunk);
  TORUS_CUDA_CHECK_LAUNCH("bias_gelu_backward_kernel");
  if (grad_bias != nullptr && chunks > 1) {
    const LaunchConfig1D config = per_output_config(cols);
    bias_gelu_backward_bias_kernel<<<config.grid, config.block, 0, stream>>>(workspace, grad_bias, chunks, cols);
    TORUS_CUDA_CHECK_LAUNCH("bias_gelu_backward_bias_kernel");
  }
}

}  // namespace

void bias_gelu_forward(const float* x, const float* bias, float* y, int64_t rows, int64_t cols, bool tanh_approximation,
                       cudaStream_t stream) {
  TORUS_CUDA_EXPECT(rows >= 0 && cols >= 0, "bias_gelu_forward: bad shape (", rows, ", ", cols, ")");
  if (tanh_approximation) launch_forward<fn::GeluTanh>(x, bias, y, rows, cols, stream);
  else launch_forward<fn::GeluErf>(x, bias, y, rows, cols, stream);
}

void bias_gelu_backward(const float* x, const float* bias, const float* grad_y, float* grad_x, float* grad_bias,
                        float* workspace, int64_t rows, int64_t cols, bool tanh_approximation, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(rows >= 0 && cols >= 0, "bias_gelu_backward: bad shape (", rows, ", ", cols, ")");
  TORUS_CUDA_EXPECT(grad_x != nullptr, "bias_gelu_backward: grad_x must not be null");
  TORUS_CUDA_EXPECT(grad_bias == nullptr || bias_gelu_backward_workspace(rows, cols) == 0 || workspace != nullptr,
                    "bias_gelu_backward: shape (", rows, ", ", cols, ") needs a workspace of ",
                    bias_gelu_backward_workspace(rows, cols), " floats for grad_bias");
  if (cols == 0) return;
  if (rows == 0) {
    if (grad_bias != nullptr) TORUS_CUDA(cudaMemsetAsync(grad_bias, 0, static_cast<size_t>(cols) * sizeof(float), stream));
    return;
  }
  if (tanh_approximation) {
    launch_backward<fn::GeluTanhBackward>(x, bias, grad_y, grad_x, grad_bias, workspace, rows, cols, stream);
  } else {
    launch_backward<fn::GeluErfBackward>(x, bias, grad_y, grad_x, grad_bias, workspace, rows, cols, stream);
  }
}

}  // namespace torus::cuda
