// Fused scale + causal mask + softmax for attention (causal_softmax.h), written once over
// the row groups of row_group.cuh (a warp per row up to T = 1024, else a block) and the
// storage type (f32, bf16; math in f32). Like softmax.cu it makes three passes over a row,
// but only over its first i + 1 columns: the masked columns are never read, so a causal row
// costs half the reads of a full one, and they are written as exact zeros.
#include "kernels/cuda/causal_softmax.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/row_group.cuh"

namespace torus::cuda {

namespace {

template <class T>
__device__ __forceinline__ float load(const T* p, int64_t c) {
  return static_cast<float>(p[c]);
}

template <class Rows, class T>
__device__ void causal_softmax_rows(Rows rows_of, const T* scores, T* probs, int64_t rows, int64_t seq,
                                    float scale) {
  for (int64_t row = rows_of.first_row(); row < rows; row += rows_of.row_stride()) {
    const int64_t last = row % seq;  // the query position: columns 0..last are visible
    const T* in = scores + row * seq;
    T* out = probs + row * seq;
    float max = -FLT_MAX;
    for (int64_t c = rows_of.lane(); c <= last; c += rows_of.width()) max = fmaxf(max, scale * load(in, c));
    max = rows_of.max(max);
    float sum = 0.0f;
    for (int64_t c = rows_of.lane(); c <= last; c += rows_of.width()) sum += __expf(scale * load(in, c) - max);
    sum = rows_of.sum(sum);
    const float inverse = 1.0f / sum;
    // Each element is read and written by the same thread, so probs may alias scores.
    for (int64_t c = rows_of.lane(); c < seq; c += rows_of.width())
      out[c] = static_cast<T>(c <= last ? __expf(scale * load(in, c) - max) * inverse : 0.0f);
  }
}

template <class Rows, class T>
__device__ void causal_softmax_backward_rows(Rows rows_of, const T* __restrict__ probs, const T* grad_probs,
                                             T* grad_scores, int64_t rows, int64_t seq, float scale) {
  for (int64_t row = rows_of.first_row(); row < rows; row += rows_of.row_stride()) {
    const int64_t last = row % seq;
    const T* p = probs + row * seq;
    const T* dp = grad_probs + row * seq;
    T* ds = grad_scores + row * seq;
    float dot = 0.0f;
    for (int64_t c = rows_of.lane(); c <= last; c += rows_of.width()) dot += load(dp, c) * load(p, c);
    dot = rows_of.sum(dot);
    for (int64_t c = rows_of.lane(); c < seq; c += rows_of.width())
      ds[c] = static_cast<T>(c <= last ? scale * load(p, c) * (load(dp, c) - dot) : 0.0f);
  }
}

template <class T>
__global__ void causal_softmax_forward_warp_kernel(const T* scores, T* probs, int64_t rows, int64_t seq,
                                                   float scale) {
  causal_softmax_rows(WarpRows{}, scores, probs, rows, seq, scale);
}

template <class T>
__global__ void causal_softmax_forward_block_kernel(const T* scores, T* probs, int64_t rows, int64_t seq,
                                                    float scale) {
  __shared__ float scratch[kWarpSize];
  causal_softmax_rows(BlockRows{scratch}, scores, probs, rows, seq, scale);
}

template <class T>
__global__ void causal_softmax_backward_warp_kernel(const T* __restrict__ probs, const T* grad_probs,
                                                    T* grad_scores, int64_t rows, int64_t seq, float scale) {
  causal_softmax_backward_rows(WarpRows{}, probs, grad_probs, grad_scores, rows, seq, scale);
}

template <class T>
__global__ void causal_softmax_backward_block_kernel(const T* __restrict__ probs, const T* grad_probs,
                                                     T* grad_scores, int64_t rows, int64_t seq, float scale) {
  __shared__ float scratch[kWarpSize];
  causal_softmax_backward_rows(BlockRows{scratch}, probs, grad_probs, grad_scores, rows, seq, scale);
}

// rows = BH * T, or 0 (nothing to do) after checking the shape.
int64_t checked_rows(int64_t batch_heads, int64_t seq, const char* what) {
  TORUS_CUDA_EXPECT(batch_heads >= 0 && seq >= 1, what, ": bad shape (", batch_heads, ", ", seq, ", ", seq,
                    "): need batch_heads >= 0 and T >= 1");
  return batch_heads * seq;
}

template <class T>
void launch_forward(const T* scores, T* probs, int64_t batch_heads, int64_t seq, float scale,
                    cudaStream_t stream) {
  const int64_t rows = checked_rows(batch_heads, seq, "causal_softmax_forward");
  if (rows == 0) return;
  const RowLaunchConfig config = row_config(rows, seq);
  if (config.warp_per_row) {
    causal_softmax_forward_warp_kernel<T><<<config.grid, config.block, 0, stream>>>(scores, probs, rows, seq, scale);
    TORUS_CUDA_CHECK_LAUNCH("causal_softmax_forward_warp_kernel");
  } else {
    causal_softmax_forward_block_kernel<T><<<config.grid, config.block, 0, stream>>>(scores, probs, rows, seq, scale);
    TORUS_CUDA_CHECK_LAUNCH("causal_softmax_forward_block_kernel");
  }
}

template <class T>
void launch_backward(const T* probs, const T* grad_probs, T* grad_scores, int64_t batch_heads, int64_t seq,
                     float scale, cudaStream_t stream) {
  const int64_t rows = checked_rows(batch_heads, seq, "causal_softmax_backward");
  if (rows == 0) return;
  const RowLaunchConfig config = row_config(rows, seq);
  if (config.warp_per_row) {
    causal_softmax_backward_warp_kernel<T>
        <<<config.grid, config.block, 0, stream>>>(probs, grad_probs, grad_scores, rows, seq, scale);
    TORUS_CUDA_CHECK_LAUNCH("causal_softmax_backward_warp_kernel");
  } else {
    causal_softmax_backward_block_kernel<T>
        <<<config.grid, config.block, 0, stream>>>(probs, grad_probs, grad_scores, rows, seq, scale);
    TORUS_CUDA_CHECK_LAUNCH("causal_softmax_backward_block_kernel");
  }
}

}  // namespace

void causal_softmax_forward(const float* scores, float* probs, int64_t batch_heads, int64_t seq, float scale,
                            cudaStream_t stream) {
  launch_forward(scores, probs, batch_heads, seq, scale, stream);
}

void causal_softmax_forward(const BFloat16* scores, BFloat16* probs, int64_t batch_heads, int64_t seq,
                            float scale, cudaStream_t stream) {
  launch_forward(scores, probs, batch_heads, seq, scale, stream);
}

void causal_softmax_backward(const float* probs, const float* grad_probs, float* grad_scores, int64_t batch_heads,
                             int64_t seq, float scale, cudaStream_t stream) {
  launch_backward(probs, grad_probs, grad_scores, batch_heads, seq, scale, stream);
}

void causal_softmax_backward(const BFloat16* probs, const BFloat16* grad_probs, BFloat16* grad_scores,
                             int64_t batch_heads, int64_t seq, float scale, cudaStream_t stream) {
  launch_backward(probs, grad_probs, grad_scores, batch_heads, seq, scale, stream);
}

}  // namespace torus::cuda
