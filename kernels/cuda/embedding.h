// Embedding lookup over a contiguous f32 weight table (V, D) by i64 token ids (N):
// forward gather and a deterministic backward (no float atomics).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace torus::cuda {

// out[k, :] = weight[index[k], :]. weight: (V, D); index: (N); out: (N, D).
// An index outside [0, V) gives a row of zeros, and when first_bad is not nullptr (one
// device u64) it receives the smallest such position k, or UINT64_MAX if there is none:
// the caller copies it back and throws (the kernel cannot).
void embedding_forward(const float* weight, const int64_t* index, float* out, unsigned long long* first_bad,
                       int64_t n, int64_t vocab, int64_t dim, cudaStream_t stream);

// grad_weight[v, :] = sum over k with index[k] == v, in increasing k, of grad_out[k, :].
// grad_out: (N, D); grad_weight: (V, D), overwritten (rows no token hits get 0). Indices
// outside [0, V) contribute nothing (the forward reported them).
//
// Determinism without atomics or a sort: a block owns a tile of kEmbeddingRowsPerBlock
// weight rows; it scans all N indices in order, 256 at a time, compacting the positions
// that hit its tile (a stable ballot/prefix compaction in shared memory), then adds those
// grad_out rows in position order, each thread owning fixed columns. So every weight
// row's sum is taken in the same order on any GPU. Cost: each block reads all N indices
// (ceil(V / 128) x N x 8 B from L2: 26 MB for V = 50257, N = 8192, a few microseconds),
// plus the N x D adds; a hot token (padding) serializes in its block. For N in the
// millions, a radix sort of (index, position) and a segment per token would scale better.
inline constexpr int64_t kEmbeddingRowsPerBlock = 128;
void embedding_backward(const float* grad_out, const int64_t* index, float* grad_weight, int64_t n, int64_t vocab,
                        int64_t dim, cudaStream_t stream);

}  // namespace torus::cuda
