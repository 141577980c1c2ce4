// Reductions over one dim (reduce_dim.h). I == 1 (the reduced dim is the last): a warp or
// a block per row (row_config), lanes striding over the row and combining at the end.
// I > 1: a thread per output (o, i) walking s in order, so a warp reads I-contiguous
// elements (coalesced); for sum and mean with few outputs over a long S, the same per chunk
// of S and a second stage adding the chunks in order (reduce_dim_chunks). Few long rows of
// I == 1 likewise: a block per chunk of a row, then the chunks in order (reduce_dim_row_chunks).
// The max carries (value, index) pairs combined by `better`, which is associative and
// commutative and picks the CPU's answer (first NaN, else first max) whatever the order.
#include <cmath>
#include <type_traits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/reduce_dim.h"
#include "kernels/cuda/row_group.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace torus::cuda {

namespace {

struct ArgMax {
  float value;
  int64_t index;  // INT64_MAX: no element yet
};

__device__ __forceinline__ bool is_nan(float v) { return v != v; }

// NaN beats numbers; among equals (or two NaNs) the smaller index; else the larger value.
__device__ __forceinline__ ArgMax better(ArgMax a, ArgMax b) {
  const bool a_nan = is_nan(a.value), b_nan = is_nan(b.value);
  if (a_nan != b_nan) return a_nan ? a : b;
  if (a_nan || a.value == b.value) return a.index <= b.index ? a : b;
  return a.value > b.value ? a : b;
}

__device__ __forceinline__ ArgMax warp_argmax(ArgMax v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    ArgMax other;
    other.value = __shfl_xor_sync(0xffffffffu, v.value, offset);
    other.index = __shfl_xor_sync(0xffffffffu, v.index, offset);
    v = better(v, other);
  }
  return v;
}

// Thread 0's result is the block's (the others' are partial).
__device__ __forceinline__ ArgMax block_argmax(ArgMax v, ArgMax* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = (blockDim.x + kWarpSize - 1) / kWarpSize;
  v = warp_argmax(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? scratch[lane] : ArgMax{-INFINITY, INT64_MAX};
    v = warp_argmax(v);
  }
  __syncthreads();
  return v;
}

// (O, S) rows, a warp (WarpRows) or a block (BlockRows) per row, as softmax and LayerNorm
// split them (row_group.cuh). The sum is scaled by `scale`: 1 for sum (exact), 1 / S for mean.
template <typename Rows>
__global__ void reduce_dim_sum_rows_kernel(const float* __restrict__ in, float* __restrict__ out, int64_t rows,
                                           int64_t cols, float scale) {
  __shared__ float scratch[kWarpSize];
  Rows group;
  if constexpr (std::is_same_v<Rows, BlockRows>) group.scratch = scratch;
  for (int64_t row = group.first_row(); row < rows; row += group.row_stride()) {
    const float* x = in + row * cols;
    float sum = 0.0f;
    for (int64_t c = group.lane(); c < cols; c += group.width()) sum += x[c];
    sum = group.sum(sum);
    if (group.lane() == 0) out[row] = sum * scale;
  }
}

template <typename Rows>
__global__ void reduce_dim_max_rows_kernel(const float* __restrict__ in, float* __restrict__ out,
                                           int64_t* __restrict__ indices, int64_t rows, int64_t cols) {
  __shared__ ArgMax scratch[kWarpSize];
  constexpr bool kWarp = std::is_same_v<Rows, WarpRows>;
  const Rows group{};
  for (int64_t row = group.first_row(); row < rows; row += group.row_stride()) {
    const float* x = in + row * cols;
    ArgMax best{-INFINITY, INT64_MAX};
    for (int64_t c = group.lane(); c < cols; c += group.width()) best = better(best, ArgMax{x[c], c});
    best = kWarp ? warp_argmax(best) : block_argmax(best, scratch);
    if (group.lane() == 0) {
      out[row] = best.value;
      indices[row] = best.index;
    }
  }
}

// I > 1: a thread per output k = o * I + i, s in order.
template <ReduceDimOp kOp>
__global__ void reduce_dim_columns_kernel(const float* __restrict__ in, float* __restrict__ out,
                                          int64_t* __restrict__ indices, int64_t outer, int64_t size,
                                          int64_t inner, float scale) {
  const int64_t outputs = outer * inner;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < outputs; k += stride) {
    const int64_t o = k / inner, i = k % inner;
    const float* x = in + o * size * inner + i;
    if constexpr (kOp == ReduceDimOp::max) {
      float best = x[0];
      int64_t best_s = 0;
      for (int64_t s = 1; s < size; ++s) {
        const float v = x[s * inner];
        if (v > best || (is_nan(v) && !is_nan(best))) {
          best = v;
          best_s = s;
        }
      }
      out[k] = best;
      indices[k] = best_s;
    } else {
      float sum = 0.0f;
      for (int64_t s = 0; s < size; ++s) sum += x[s * inner];
      out[k] = kOp == ReduceDimOp::mean ? sum * scale : sum;
    }
  }
}

// Stage 1 of the chunked column sum: partial[c * O * I + k] = sum over s in chunk c, in
// order, of in[o, s, i] (k = o * I + i: adjacent threads read adjacent i, coalesced).
__global__ void reduce_dim_column_chunks_kernel(const float* __restrict__ in, float* __restrict__ partial,
                                                int64_t outer, int64_t size, int64_t inner, int64_t chunks,
                                                int64_t rows_per_chunk) {
  const int64_t outputs = outer * inner;
  const int64_t n = outputs * chunks;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t k = e % outputs, c = e / outputs;
    const int64_t o = k / inner, i = k % inner;
    const int64_t first = c * rows_per_chunk, last = min(first + rows_per_chunk, size);
    const float* x = in + o * size * inner + i;
    float sum = 0.0f;
    for (int64_t s = first; s < last; ++s) sum += x[s * inner];
    partial[e] = sum;
  }
}

// Stage 1 of the chunked row sum (I == 1): block b sums chunk b / O of row b % O into
// partial[b], so partial is (chunk, row) as stage 2 reads it.
__global__ void reduce_dim_row_chunks_kernel(const float* __restrict__ in, float* __restrict__ partial, int64_t rows,
                                             int64_t size, int64_t chunks, int64_t per_chunk) {
  __shared__ float scratch[kWarpSize];
  for (int64_t b = blockIdx.x; b < rows * chunks; b += gridDim.x) {
    const int64_t row = b % rows, chunk = b / rows;
    const int64_t first = chunk * per_chunk, last = min(first + per_chunk, size);
    const float* x = in + row * size;
    float sum = 0.0f;
    for (int64_t c = first + threadIdx.x; c < last; c += blockDim.x) sum += x[c];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) partial[b] = sum;
  }
}

// Stage 2: out[k] = scale * the sum over chunks c, in order, of partial[c * outputs + k].
__global__ void reduce_dim_chunk_sums_kernel(const float* __restrict__ partial, float* __restrict__ out,
                                             int64_t outputs, int64_t chunks, float scale) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < outputs; k += stride) {
    float total = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) total += partial[c * outputs + k];
    out[k] = total * scale;
  }
}

// grad_in[o, s, i] from grad_out[o, i]: a thread per input element.
template <ReduceDimOp kOp>
__global__ void reduce_dim_backward_kernel(const float* __restrict__ grad_out, const int64_t* __restrict__ indices,
                                           float* __restrict__ grad_in, int64_t outer, int64_t size,
                                           int64_t inner, float scale) {
  const int64_t n = outer * size * inner;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t i = e % inner, os = e / inner;
    const int64_t s = os % size, o = os / size;
    const int64_t k = o * inner + i;
    if constexpr (kOp == ReduceDimOp::max) {
      grad_in[e] = s == indices[k] ? grad_out[k] : 0.0f;
    } else {
      grad_in[e] = kOp == ReduceDimOp::mean ? grad_out[k] * scale : grad_out[k];
    }
  }
}

const char* op_name(ReduceDimOp op) {
  return op == ReduceDimOp::sum ? "sum" : (op == ReduceDimOp::mean ? "mean" : "max");
}

template <ReduceDimOp kOp>
void launch_columns(const float* in, float* out, int64_t* indices, int64_t outer, int64_t size, int64_t inner,
                    float scale, cudaStream_t stream) {
  const LaunchConfig1D config = per_output_config(outer * inner);
  reduce_dim_columns_kernel<kOp><<<config.grid, config.block, 0, stream>>>(in, out, indices, outer, size, inner,
                                                                           scale);
  TORUS_CUDA_CHECK_LAUNCH("reduce_dim_columns_kernel");
}

// Sum (scale 1) or mean over columns in two stages through `workspace`.
void launch_chunked_columns(const float* in, float* out, int64_t outer, int64_t size, int64_t inner, float scale,
                            float* workspace, cudaStream_t stream) {
  const int64_t chunks = reduce_dim_chunks(outer, size, inner);
  const int64_t outputs = outer * inner;
  const LaunchConfig1D stage1 = elementwise_config(outputs * chunks);
  reduce_dim_column_chunks_kernel<<<stage1.grid, stage1.block, 0, stream>>>(in, workspace, outer, size, inner, chunks,
                                                                            ceil_div(size, chunks));
  TORUS_CUDA_CHECK_LAUNCH("reduce_dim_column_chunks_kernel");
  const LaunchConfig1D stage2 = per_output_config(outputs);
  reduce_dim_chunk_sums_kernel<<<stage2.grid, stage2.block, 0, stream>>>(workspace, out, outputs, chunks, scale);
  TORUS_CUDA_CHECK_LAUNCH("reduce_dim_chunk_sums_kernel");
}

// Sum (scale 1) or mean over the last dim of few long rows in two stages through `workspace`.
void launch_chunked_rows(const float* in, float* out, int64_t rows, int64_t size, float scale, float* workspace,
                         cudaStream_t stream) {
  const int64_t chunks = reduce_dim_row_chunks(rows, size);
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(rows * chunks, kMaxGridX));
  reduce_dim_row_chunks_kernel<<<blocks, 256, 0, stream>>>(in, workspace, rows, size, chunks, ceil_div(size, chunks));
  TORUS_CUDA_CHECK_LAUNCH("reduce_dim_row_chunks_kernel");
  const LaunchConfig1D stage2 = per_output_config(rows);
  reduce_dim_chunk_sums_kernel<<<stage2.grid, stage2.block, 0, stream>>>(workspace, out, rows, chunks, scale);
  TORUS_CUDA_CHECK_LAUNCH("reduce_dim_chunk_sums_kernel");
}

template <ReduceDimOp kOp>
void launch_backward(const float* grad_out, const int64_t* indices, float* grad_in, int64_t outer, int64_t size,
                     int64_t inner, float scale, cudaStream_t stream) {
  const LaunchConfig1D config = elementwise_config(outer * size * inner);
  if (config.grid == 0) return;
  reduce_dim_backward_kernel<kOp><<<config.grid, config.block, 0, stream>>>(grad_out, indices, grad_in, outer,
                                                                            size, inner, scale);
  TORUS_CUDA_CHECK_LAUNCH("reduce_dim_backward_kernel");
}

}  // namespace

void reduce_dim_forward(const float* in, float* out, int64_t* indices, int64_t outer, int64_t size,
                        int64_t inner, ReduceDimOp op, cudaStream_t stream, float* workspace) {
  TORUS_CUDA_EXPECT(outer >= 0 && size >= 0 && inner >= 0, op_name(op), "_dim_forward: bad shape (", outer, ", ",
                    size, ", ", inner, ")");
  TORUS_CUDA_EXPECT(op != ReduceDimOp::max || size > 0, "max_dim_forward: reduction over an empty dim (", outer,
                    ", ", size, ", ", inner, ")");
  TORUS_CUDA_EXPECT(op != ReduceDimOp::max || indices != nullptr, "max_dim_forward: indices must not be null");
  if (outer * inner == 0) return;
  // mean over S == 0 is 0 * (1 / 0) = NaN, as 0 / 0.
  const float scale = size > 0 ? static_cast<float>(1.0 / static_cast<double>(size)) : NAN;
  if (inner > 1) {
    if (op != ReduceDimOp::max && workspace != nullptr && reduce_dim_chunks(outer, size, inner) > 1) {
      launch_chunked_columns(in, out, outer, size, inner, op == ReduceDimOp::mean ? scale : 1.0f, workspace, stream);
      return;
    }
    if (op == ReduceDimOp::sum) launch_columns<ReduceDimOp::sum>(in, out, indices, outer, size, inner, scale, stream);
    else if (op == ReduceDimOp::mean) launch_columns<ReduceDimOp::mean>(in, out, indices, outer, size, inner, scale, stream);
    else launch_columns<ReduceDimOp::max>(in, out, indices, outer, size, inner, scale, stream);
    return;
  }
  if (op != ReduceDimOp::max && workspace != nullptr && reduce_dim_row_chunks(outer, size) > 1) {
    launch_chunked_rows(in, out, outer, size, op == ReduceDimOp::mean ? scale : 1.0f, workspace, stream);
    return;
  }
  const RowLaunchConfig config = row_config(outer, size);
  if (op == ReduceDimOp::max) {
    if (config.warp_per_row) {
      reduce_dim_max_rows_kernel<WarpRows><<<config.grid, config.block, 0, stream>>>(in, out, indices, outer, size);
    } else {
      reduce_dim_max_rows_kernel<BlockRows><<<config.grid, config.block, 0, stream>>>(in, out, indices, outer, size);
    }
    TORUS_CUDA_CHECK_LAUNCH("reduce_dim_max_rows_kernel");
    return;
  }
  const float row_scale = op == ReduceDimOp::mean ? scale : 1.0f;
  if (config.warp_per_row) {
    reduce_dim_sum_rows_kernel<WarpRows><<<config.grid, config.block, 0, stream>>>(in, out, outer, size, row_scale);
  } else {
    reduce_dim_sum_rows_kernel<BlockRows><<<config.grid, config.block, 0, stream>>>(in, out, outer, size, row_scale);
  }
  TORUS_CUDA_CHECK_LAUNCH("reduce_dim_sum_rows_kernel");
}

void reduce_dim_backward(const float* grad_out, const int64_t* indices, float* grad_in, int64_t outer,
                         int64_t size, int64_t inner, ReduceDimOp op, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(outer >= 0 && size >= 0 && inner >= 0, op_name(op), "_dim_backward: bad shape (", outer,
                    ", ", size, ", ", inner, ")");
  TORUS_CUDA_EXPECT(op != ReduceDimOp::max || indices != nullptr, "max_dim_backward: indices must not be null");
  const float scale = size > 0 ? static_cast<float>(1.0 / static_cast<double>(size)) : 0.0f;
  if (op == ReduceDimOp::sum) launch_backward<ReduceDimOp::sum>(grad_out, indices, grad_in, outer, size, inner, scale, stream);
  else if (op == ReduceDimOp::mean) launch_backward<ReduceDimOp::mean>(grad_out, indices, grad_in, outer, size, inner, scale, stream);
  else launch_backward<ReduceDimOp::max>(grad_out, indices, grad_in, outer, size, inner, scale, stream);
}

}  // namespace torus::cuda
