// Attention's fused scale + causal mask + softmax over the rows of a (BH, T, T) scores
// buffer, forward and backward, f32 or bf16 storage with f32 math. Row r is query position
// i = r % T: it reads columns 0..i only and writes exact zeros above the diagonal, so the
// masked half of the scores need not be computed correctly (it may hold anything, even NaN)
// and the probabilities' masked half is exactly 0 for the products that follow.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/common/half.h"

namespace torus::cuda {

// probs[r, j] = softmax_j(scale * scores[r, 0..i])  for j <= i,   0 for j > i   (i = r % T).
// scores, probs: (BH, T, T) contiguous; probs may alias scores. seq = T >= 1.
void causal_softmax_forward(const float* scores, float* probs, int64_t batch_heads, int64_t seq, float scale,
                            cudaStream_t stream);
void causal_softmax_forward(const BFloat16* scores, BFloat16* probs, int64_t batch_heads, int64_t seq,
                            float scale, cudaStream_t stream);

// The gradient with respect to the forward's raw `scores`, from its probs P and dP:
//   grad_scores[r, j] = scale * P[r, j] * (dP[r, j] - sum_{k <= i} dP[r, k] P[r, k])   for j <= i,
//   0 for j > i. grad_scores may alias grad_probs; dP above the diagonal is never read.
void causal_softmax_backward(const float* probs, const float* grad_probs, float* grad_scores, int64_t batch_heads,
                             int64_t seq, float scale, cudaStream_t stream);
void causal_softmax_backward(const BFloat16* probs, const BFloat16* grad_probs, BFloat16* grad_scores,
                             int64_t batch_heads, int64_t seq, float scale, cudaStream_t stream);

}  // namespace torus::cuda
