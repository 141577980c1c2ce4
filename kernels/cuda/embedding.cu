// Embedding forward and backward (embedding.h). Forward: a warp per token row (WarpRows),
// lanes striding over D, as float4 when D % 4 == 0 and both buffers are 16-byte aligned.
// Backward: a block per tile of weight rows (the scheme and its cost are in embedding.h).
#include <type_traits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/launch_config.h"
#include "kernels/cuda/row_group.cuh"

namespace torus::cuda {

namespace {

inline constexpr int kBackwardThreads = 256;
inline constexpr int kBackwardWarps = kBackwardThreads / kWarpSize;

// kVec4: D % 4 == 0 and weight, out 16-byte aligned; `dim` is then D / 4 (float4s per row).
template <bool kVec4>
__global__ void embedding_forward_kernel(const float* __restrict__ weight, const int64_t* __restrict__ index,
                                         float* __restrict__ out, unsigned long long* __restrict__ first_bad,
                                         int64_t n, int64_t vocab, int64_t dim) {
  using Vec = std::conditional_t<kVec4, float4, float>;
  const WarpRows rows_of;
  const auto* table = reinterpret_cast<const Vec*>(weight);
  auto* dst = reinterpret_cast<Vec*>(out);
  for (int64_t k = rows_of.first_row(); k < n; k += rows_of.row_stride()) {
    const int64_t v = index[k];
    Vec* to = dst + k * dim;
    if (v < 0 || v >= vocab) {
      Vec zero{};
      for (int64_t d = rows_of.lane(); d < dim; d += kWarpSize) to[d] = zero;
      if (first_bad != nullptr && rows_of.lane() == 0) atomicMin(first_bad, static_cast<unsigned long long>(k));
      continue;
    }
    const Vec* from = table + v * dim;
    for (int64_t d = rows_of.lane(); d < dim; d += kWarpSize) to[d] = from[d];
  }
}

// Block b owns weight rows [b * kEmbeddingRowsPerBlock, +kEmbeddingRowsPerBlock).
__global__ void embedding_backward_kernel(const float* __restrict__ grad_out, const int64_t* __restrict__ index,
                                          float* __restrict__ grad_weight, int64_t n, int64_t vocab, int64_t dim) {
  __shared__ int64_t hits[kBackwardThreads];  // positions k of this chunk that hit the tile, in order
  __shared__ int warp_counts[kBackwardWarps];
  const int64_t first_row = int64_t{blockIdx.x} * kEmbeddingRowsPerBlock;
  const int64_t last_row = min(first_row + kEmbeddingRowsPerBlock, vocab);
  // Zero the tile; each thread then only ever touches its own columns d = threadIdx.x mod
  // blockDim, so no barrier is needed between the zeroing and the adds.
  for (int64_t r = first_row; r < last_row; ++r)
    for (int64_t d = threadIdx.x; d < dim; d += kBackwardThreads) grad_weight[r * dim + d] = 0.0f;
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  for (int64_t base = 0; base < n; base += kBackwardThreads) {
    const int64_t k = base + threadIdx.x;
    bool hit = false;
    if (k < n) {
      const int64_t v = index[k];
      hit = v >= first_row && v < last_row;
    }
    // Stable compaction: a hit's slot is the number of hits before it in the chunk.
    const unsigned ballot = __ballot_sync(0xffffffffu, hit);
    if (lane == 0) warp_counts[warp] = __popc(ballot);
    __syncthreads();
    int before = 0, total = 0;
    for (int w = 0; w < kBackwardWarps; ++w) {
      before += w < warp ? warp_counts[w] : 0;
      total += warp_counts[w];
    }
    if (hit) hits[before + __popc(ballot & ((1u << lane) - 1u))] = k;
    __syncthreads();
    for (int h = 0; h < total; ++h) {
      const int64_t pos = hits[h];
      const float* from = grad_out + pos * dim;
      float* to = grad_weight + index[pos] * dim;
      for (int64_t d = threadIdx.x; d < dim; d += kBackwardThreads) to[d] += from[d];
    }
    __syncthreads();  // hits and warp_counts are rewritten by the next chunk
  }
}

bool aligned16(const void* pointer) { return is_aligned(reinterpret_cast<uintptr_t>(pointer), 4, 4); }

}  // namespace

void embedding_forward(const float* weight, const int64_t* index, float* out, unsigned long long* first_bad,
                       int64_t n, int64_t vocab, int64_t dim, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(n >= 0 && vocab >= 0 && dim >= 0, "embedding_forward: bad shape: ", n, " indices into (", vocab,
                    ", ", dim, ")");
  if (first_bad != nullptr) TORUS_CUDA(cudaMemsetAsync(first_bad, 0xff, sizeof(unsigned long long), stream));
  if (n == 0 || dim == 0) return;
  const RowLaunchConfig config = row_config(n, 1);  // a warp per token row
  if (dim % 4 == 0 && aligned16(weight) && aligned16(out)) {
    embedding_forward_kernel<true><<<config.grid, config.block, 0, stream>>>(weight, index, out, first_bad, n, vocab,
                                                                             dim / 4);
  } else {
    embedding_forward_kernel<false><<<config.grid, config.block, 0, stream>>>(weight, index, out, first_bad, n, vocab,
                                                                              dim);
  }
  TORUS_CUDA_CHECK_LAUNCH("embedding_forward_kernel");
}

void embedding_backward(const float* grad_out, const int64_t* index, float* grad_weight, int64_t n, int64_t vocab,
                        int64_t dim, cudaStream_t stream) {
  TORUS_CUDA_EXPECT(n >= 0 && vocab >= 0 && dim >= 0, "embedding_backward: bad shape: ", n, " indices into (", vocab,
                    ", ", dim, ")");
  if (vocab == 0 || dim == 0) return;
  const int64_t blocks = ceil_div(vocab, kEmbeddingRowsPerBlock);
  TORUS_CUDA_EXPECT(blocks <= kMaxGridX, "embedding_backward: vocabulary ", vocab, " too large");
  embedding_backward_kernel<<<blocks, kBackwardThreads, 0, stream>>>(grad_out, index, grad_weight, n, vocab, dim);
  TORUS_CUDA_CHECK_LAUNCH("embedding_backward_kernel");
}

}  // namespace torus::cuda
