// Fused log-softmax + cross-entropy over the rows of contiguous f32 logits (M, C) with i64
// class targets (M), as torch.nn.functional.cross_entropy(reduction='mean') and the CPU
// backend (kernels/cpu/cross_entropy.h, framework/ops/loss.cpp): rows whose target is
// ignore_index count for nothing, the mean is over the counted rows, label smoothing eps
// mixes in the mean of -log p over all classes. Never materializes the probabilities.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace torus::cuda {

// Per row i with target t = target[i]:
//   lse[i]      = log sum_c exp(x[i, c])
//   row_loss[i] = (1 - eps) (lse - x[i, t]) + eps (lse - mean_c x[i, c]);  0 if t == ignore_index
// then, in a fixed order (deterministic), loss[0] = sum_i row_loss[i] / count with count the
// rows not ignored (NaN when count == 0, as PyTorch), and
//   status[0] = count, status[1] = the first row whose target is neither in [0, C) nor
//   ignore_index, or -1 (its row_loss is NaN; the caller copies status back and throws, as
//   the CPU's scan_targets does before computing anything).
// logits: (M, C), C >= 1; target: (M); lse, row_loss: (M); loss: (1); status: (2) i64.
void cross_entropy_forward(const float* logits, const int64_t* target, float* lse, float* row_loss, float* loss,
                           int64_t* status, int64_t rows, int64_t classes, int64_t ignore_index, float smoothing,
                           cudaStream_t stream);

// grad[i, c] = s (softmax(x)[i, c] - (1 - eps) [c == t] - eps / C), 0 on ignored (and
// invalid) rows, with s = grad_loss[0] / status[0] (0 when the count is 0): the gradient of
// the mean loss, softmax recomputed from the forward's lse. grad_loss and status are device
// scalars (the upstream gradient and the forward's status), so nothing waits on the host.
// grad: (M, C), may alias logits.
void cross_entropy_backward(const float* logits, const int64_t* target, const float* lse, const float* grad_loss,
                            const int64_t* status, float* grad, int64_t rows, int64_t classes, int64_t ignore_index,
                            float smoothing, cudaStream_t stream);

}  // namespace torus::cuda
