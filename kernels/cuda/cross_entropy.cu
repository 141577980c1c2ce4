// Cross-entropy forward and backward (cross_entropy.h). Row statistics by a warp or a
// block per row (row_group.cuh): one pass for the max and the sum of logits, one for the
// sum of exponentials. The mean over rows is a second kernel of one block that walks the
// rows in a fixed order and reduces in a fixed tree (in double), so the loss is the same
// bit for bit from run to run: no atomics anywhere.
#include <cmath>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cross_entropy.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/row_group.cuh"

namespace torus::cuda {

namespace {

inline constexpr int kMeanThreads = 256;

template <class Rows>
__device__ void cross_entropy_rows(Rows rows_of, const float* __restrict__ logits, const int64_t* __restrict__ target,
                                   float* __restrict__ lse, float* __restrict__ row_loss, int64_t rows,
                                   int64_t classes, int64_t ignore_index, float smoothing) {
  for (int64_t row = rows_of.first_row(); row < rows; row += rows_of.row_stride()) {
    const int64_t t = target[row];  // the same for the whole group: it skips or works together
    if (t == ignore_index) {
      if (rows_of.lane() == 0) {
        row_loss[row] = 0.0f;
        lse[row] = 0.0f;
      }
      continue;
    }
    const float* x = logits + row * classes;
    float max = -INFINITY, total = 0.0f;
    for (int64_t c = rows_of.lane(); c < classes; c += rows_of.width()) {
      max = fmaxf(max, x[c]);
      total += x[c];
    }
    max = rows_of.max(max);
    total = rows_of.sum(total);
    float sum_exp = 0.0f;
    for (int64_t c = rows_of.lane(); c < classes; c += rows_of.width()) sum_exp += __expf(x[c] - max);
    sum_exp = rows_of.sum(sum_exp);
    if (rows_of.lane() == 0) {
      const float log_sum_exp = max + logf(sum_exp);
      lse[row] = log_sum_exp;
      if (t < 0 || t >= classes) {
        row_loss[row] = NAN;
      } else {
        const float mean_logit = total / static_cast<float>(classes);
        row_loss[row] = (1.0f - smoothing) * (log_sum_exp - x[t]) + smoothing * (log_sum_exp - mean_logit);
      }
    }
  }
}

__global__ void cross_entropy_forward_warp_kernel(const float* __restrict__ logits, const int64_t* __restrict__ target,
                                                  float* __restrict__ lse, float* __restrict__ row_loss, int64_t rows,
                                                  int64_t classes, int64_t ignore_index, float smoothing) {
  cross_entropy_rows(WarpRows{}, logits, target, lse, row_loss, rows, classes, ignore_index, smoothing);
}

__global__ void cross_entropy_forward_block_kernel(const float* __restrict__ logits, const int64_t* __restrict__ target,
                                                   float* __restrict__ lse, float* __restrict__ row_loss, int64_t rows,
                                                   int64_t classes, int64_t ignore_index, float smoothing) {
  __shared__ float scratch[kWarpSize];
  cross_entropy_rows(BlockRows{scratch}, logits, target, lse, row_loss, rows, classes, ignore_index, smoothing);
}

// One block of kMeanThreads: thread j sums rows j, j + kMeanThreads, ... in order, then a
// fixed tree combines the partial sums, counts and first invalid rows.
__global__ void cross_entropy_mean_kernel(const float* __restrict__ row_loss, const int64_t* __restrict__ target,
                                          float* __restrict__ loss, int64_t* __restrict__ status, int64_t rows,
                                          int64_t classes, int64_t ignore_index) {
  __shared__ double sums[kMeanThreads];
  __shared__ long long counts[kMeanThreads];
  __shared__ long long invalid[kMeanThreads];
  double sum = 0.0;
  long long count = 0, first_invalid = INT64_MAX;
  for (int64_t row = threadIdx.x; row < rows; row += kMeanThreads) {
    const int64_t t = target[row];
    if (t == ignore_index) continue;
    if (t < 0 || t >= classes) {
      if (row < first_invalid) first_invalid = row;
      continue;
    }
    sum += row_loss[row];
    ++count;
  }
  sums[threadIdx.x] = sum;
  counts[threadIdx.x] = count;
  invalid[threadIdx.x] = first_invalid;
  __syncthreads();
  for (int half = kMeanThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      sums[threadIdx.x] += sums[threadIdx.x + half];
      counts[threadIdx.x] += counts[threadIdx.x + half];
      invalid[threadIdx.x] = min(invalid[threadIdx.x], invalid[threadIdx.x + half]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const bool any_invalid = invalid[0] != INT64_MAX;
    loss[0] = any_invalid || counts[0] == 0 ? NAN : static_cast<float>(sums[0] / static_cast<double>(counts[0]));
    status[0] = counts[0];
    status[1] = any_invalid ? invalid[0] : -1;
  }
}

template <class Rows>
__device__ void cross_entropy_backward_rows(Rows rows_of, const float* logits, const int64_t* __restrict__ target,
                                            const float* __restrict__ lse, float scale, float* grad, int64_t rows,
                                            int64_t classes, int64_t ignore_index, float smoothing) {
  const float uniform = smoothing / static_cast<float>(classes);
  for (int64_t row = rows_of.first_row(); row < rows; row += rows_of.row_stride()) {
    const int64_t t = target[row];
    const float* x = logits + row * classes;
    float* out = grad + row * classes;
    if (t == ignore_index || t < 0 || t >= classes) {
      for (int64_t c = rows_of.lane(); c < classes; c += rows_of.width()) out[c] = 0.0f;
      continue;
    }
    const float shift = lse[row];
    for (int64_t c = rows_of.lane(); c < classes; c += rows_of.width()) {
      const float p = __expf(x[c] - shift);
      out[c] = scale * (p - uniform - (c == t ? 1.0f - smoothing : 0.0f));
    }
  }
}

__device__ float backward_scale(const float* grad_loss, const int64_t* status) {
  const int64_t count = status[0];
  return count > 0 ? grad_loss[0] / static_cast<float>(count) : 0.0f;
}

__global__ void cross_entropy_backward_warp_kernel(const float* logits, const int64_t* __restrict__ target,
                                                   const float* __restrict__ lse, const float* __restrict__ grad_loss,
                                                   const int64_t* __restrict__ status, float* grad, int64_t rows,
                                                   int64_t classes, int64_t ignore_index, float smoothing) {
  cross_entropy_backward_rows(WarpRows{}, logits, target, lse, backward_scale(grad_loss, status), grad, rows, classes,
                              ignore_index, smoothing);
}

__global__ void cross_entropy_backward_block_kernel(const float* logits, const int64_t* __restrict__ target,
                                                    const float* __restrict__ lse, const float* __restrict__ grad_loss,
                                                    const int64_t* __restrict__ status, float* grad, int64_t rows,
                                                    int64_t classes, int64_t ignore_index, float smoothing) {
  cross_entropy_backward_rows(BlockRows{nullptr}, logits, target, lse, backward_scale(grad_loss, status), grad, rows,
                              classes, ignore_index, smoothing);
}

}  // namespace

void cross_entropy_forward(const float* logits, const int64_t* target, float* lse, float* row_loss, float* loss,
                           int64_t* status, int64_t rows, int64_t classes, int64_t ignore_index, float smoothing,
                           cudaStream_t stream) {
  TORUS_CUDA_EXPECT(rows >= 0 && classes >= 1, "cross_entropy_forward: bad shape (", rows, ", ", classes,
                    "): rows need at least one class");
  TORUS_CUDA_EXPECT(smoothing >= 0.0f && smoothing <= 1.0f, "cross_entropy_forward: label_smoothing ", smoothing,
                    " is not in [0, 1]");
  const RowLaunchConfig config = row_config(rows, classes);
  if (config.grid > 0) {
    if (config.warp_per_row) {
      cross_entropy_forward_warp_kernel<<<config.grid, config.block, 0, stream>>>(logits, target, lse, row_loss, rows,
                                                                                  classes, ignore_index, smoothing);
      TORUS_CUDA_CHECK_LAUNCH("cross_entropy_forward_warp_kernel");
    } else {
      cross_entropy_forward_block_kernel<<<config.grid, config.block, 0, stream>>>(logits, target, lse, row_loss, rows,
                                                                                   classes, ignore_index, smoothing);
      TORUS_CUDA_CHECK_LAUNCH("cross_entropy_forward_block_kernel");
    }
  }
  // Also for M == 0: the loss is then NaN and the count 0.
  cross_entropy_mean_kernel<<<1, kMeanThreads, 0, stream>>>(row_loss, target, loss, status, rows, classes,
                                                             ignore_index);
  TORUS_CUDA_CHECK_LAUNCH("cross_entropy_mean_kernel");
}

void cross_entropy_backward(const float* logits, const int64_t* target, const float* lse, const float* grad_loss,
                            const int64_t* status, float* grad, int64_t rows, int64_t classes, int64_t ignore_index,
                            float smoothing, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(rows >= 0 && classes >= 1, "cross_entropy_backward: bad shape (", rows, ", ", classes, ")");
  TORUS_CUDA_EXPECT(smoothing >= 0.0f && smoothing <= 1.0f, "cross_entropy_backward: label_smoothing ", smoothing,
                    " is not in [0, 1]");
  const RowLaunchConfig config = row_config(rows, classes);
  if (config.grid == 0) return;
  if (config.warp_per_row) {
    cross_entropy_backward_warp_kernel<<<config.grid, config.block, 0, stream>>>(
        logits, target, lse, grad_loss, status, grad, rows, classes, ignore_index, smoothing);
    TORUS_CUDA_CHECK_LAUNCH("cross_entropy_backward_warp_kernel");
  } else {
    cross_entropy_backward_block_kernel<<<config.grid, config.block, 0, stream>>>(
        logits, target, lse, grad_loss, status, grad, rows, classes, ignore_index, smoothing);
    TORUS_CUDA_CHECK_LAUNCH("cross_entropy_backward_block_kernel");
  }
}

}  // namespace torus::cuda
