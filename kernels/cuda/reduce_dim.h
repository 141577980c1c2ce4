// Sum, mean and max over one dim of a contiguous f32 device tensor, viewed as
// (O, S, I) = (outer, size, inner): the dims before, the reduced dim, the dims after (the
// CPU backend's layout, kernels/cpu/reduce.h). Forward and backward.
#pragma once

#include <algorithm>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/launch_config.h"

namespace torus::cuda {

enum class ReduceDimOp { sum, mean, max };

// Sum and mean over a non-last dim (I > 1) walk S in order, a thread per output. Few
// outputs over a long S (a linear layer's bias gradient: (1, rows, features)) would leave
// most of a GPU idle, so there S is split into `reduce_dim_chunks` chunks: stage 1 writes
// one partial sum per (chunk, output), stage 2 adds each output's partials in chunk order.
// The split depends on the shape only: a shape always sums in the same order (no atomics).
inline constexpr int64_t kReduceDimRowsPerChunk = 64;
inline constexpr int64_t kReduceDimMaxChunks = 1024;
constexpr int64_t reduce_dim_chunks(int64_t outer, int64_t size, int64_t inner) {
  if (outer <= 0 || size <= 0 || inner <= 1) return 1;
  // Enough threads in all for a GPU (~4096 blocks of 256) without needless partials.
  const int64_t wanted = std::max<int64_t>(1, kDefaultMaxBlocks * 256 / (outer * inner));
  const int64_t chunks =
      std::clamp<int64_t>(std::min(ceil_div(size, kReduceDimRowsPerChunk), wanted), 1, kReduceDimMaxChunks);
  return ceil_div(size, ceil_div(size, chunks));  // as many as the rows per chunk fill: none is empty
}
// Over the last dim (I == 1) a row goes to a warp or a block; few rows of many elements (a
// full reduction is one row: a gradient's norm) would leave all but a few SMs idle, so there
// each row is cut into `reduce_dim_row_chunks` chunks of at least kReduceDimMinRowChunk
// elements, a block each, and stage 2 adds each row's partials in chunk order.
inline constexpr int64_t kReduceDimMinRowChunk = 16384;
inline constexpr int64_t kReduceDimRowChunkBlocks = 2048;  // blocks in all: every SM busy
constexpr int64_t reduce_dim_row_chunks(int64_t outer, int64_t size) {
  if (outer <= 0 || size <= 0) return 1;
  const int64_t wanted = std::max<int64_t>(1, kReduceDimRowChunkBlocks / outer);
  const int64_t chunks =
      std::clamp<int64_t>(std::min(ceil_div(size, kReduceDimMinRowChunk), wanted), 1, kReduceDimMaxChunks);
  return ceil_div(size, ceil_div(size, chunks));  // none is empty
}

// Floats of workspace the two stages need for sum and mean (0: one stage suffices).
constexpr int64_t reduce_dim_workspace(int64_t outer, int64_t size, int64_t inner) {
  if (outer <= 0 || size <= 0 || inner <= 0) return 0;  // nothing to sum, or no output
  const int64_t chunks = inner > 1 ? reduce_dim_chunks(outer, size, inner) : reduce_dim_row_chunks(outer, size);
  return chunks > 1 ? chunks * outer * inner : 0;
}

// out[o, i] = sum_s / mean_s / max_s in[o, s, i]. in: (O, S, I); out: (O, I).
// max also writes indices[o, i] (i64), the s of the max: the first one, and a NaN wins
// (the first NaN), as cpu::max_middle and PyTorch; indices is ignored for sum and mean and
// may be nullptr there. S == 0: sum gives 0, mean NaN (0 / 0), max is an error.
// workspace: reduce_dim_workspace(O, S, I) floats of device memory for the two stages of sum
// and mean; nullptr keeps one stage (correct, slower for few outputs over a long S).
void reduce_dim_forward(const float* in, float* out, int64_t* indices, int64_t outer, int64_t size,
                        int64_t inner, ReduceDimOp op, cudaStream_t stream, float* workspace = nullptr);

// grad_in: (O, S, I), overwritten, from grad_out: (O, I).
//   sum:  grad_in[o, s, i] = grad_out[o, i]
//   mean: grad_in[o, s, i] = grad_out[o, i] / S
//   max:  grad_in[o, s, i] = s == indices[o, i] ? grad_out[o, i] : 0 (the forward's indices:
//         the whole gradient goes to the first max, as the CPU backward)
void reduce_dim_backward(const float* grad_out, const int64_t* indices, float* grad_in, int64_t outer,
                         int64_t size, int64_t inner, ReduceDimOp op, cudaStream_t stream);

}  // namespace torus::cuda
