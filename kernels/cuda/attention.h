// Causal self-attention on the GPU, forward and backward, as framework/nn/attention.cpp
// computes it: S = Q Kᵀ, P = softmax(S / sqrt(D)) with the causal mask, attention dropout on
// P, Y = P V, for every (batch, head). Letters: B batch, H heads, T sequence, D head size,
// C = H D.
//
// Why cuBLAS batched GEMMs + our causal softmax and not a fused (flash) kernel: for our GPT
// configs (T <= 1024) the (B H, T, T) probabilities fit easily (B = 8, H = 12, T = 1024 in
// f32 is 384 MiB, and they are what backward needs), the four products are cuBLAS's
// strided-batched GEMMs running near the tensor cores' peak, and the softmax is one
// memory-bound pass (causal_softmax.h) that reads only the unmasked half. A flash kernel
// (online softmax, O(T) memory, recomputation in backward) is the follow-up for long
// contexts, where O(B H T²) memory and traffic dominate (docs/CUDA.md).
//
// Layout: each of Q, K, V, Y (and their gradients) is a (B, H, T, D) view with unit stride
// over D and explicit strides over B, H and T, so the heads of c_attn's (B, T, 3C) output
// (qkv_head_strides) and of the (B, T, C) input of c_proj (out_head_strides) are used in
// place, with no copies. cuBLAS's strided batch needs one stride between consecutive
// matrices, which the flattened (B H) index has only when batch == H * head for every
// operand (not for (B, T, 3C)); otherwise the products run as one strided-batched call per
// b over the H heads, or per h over the B batches, whichever is fewer calls
// (plan_head_batching, host-tested in tests/cuda_attention_host_test.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include <cuda_runtime_api.h>

#include "kernels/cuda/gemm.h"

namespace torus::cuda {

// A (B, H, T, D) operand's strides in elements; the stride over D is 1.
struct HeadStrides {
  int64_t batch = 0, head = 0, row = 0;
};

// Q, K, V heads inside c_attn's (B, T, 3C) output: q = qkv, k = qkv + C, v = qkv + 2C.
constexpr HeadStrides qkv_head_strides(int64_t seq, int64_t heads, int64_t head_dim) {
  const int64_t c = heads * head_dim;
  return {.batch = seq * 3 * c, .head = head_dim, .row = 3 * c};
}
// Y (and dY) heads inside a (B, T, C) buffer: the transpose(1, 2).reshape of attention.cpp.
constexpr HeadStrides out_head_strides(int64_t seq, int64_t heads, int64_t head_dim) {
  const int64_t c = heads * head_dim;
  return {.batch = seq * c, .head = head_dim, .row = c};
}
// A contiguous (B, H, T, D) tensor.
constexpr HeadStrides contiguous_head_strides(int64_t seq, int64_t heads, int64_t head_dim) {
  return {.batch = heads * seq * head_dim, .head = seq * head_dim, .row = head_dim};
}

struct AttentionShape {
  int64_t batch = 0, heads = 0, seq = 0, head_dim = 0;  // B, H, T, D
  HeadStrides q{}, k{}, v{}, out{};  // the gradients have their operand's strides
};

// How the (B, H) products are split into strided-batched calls: `calls` calls of `count`
// matrices. Call c starts at c * batch (over_batches) or c * head (over heads) of each
// operand, and its matrices are `head` (over_batches) or `batch` elements apart.
struct HeadBatching {
  int64_t calls = 0, count = 0;
  bool over_batches = true;  // outer loop over b, the batch of one call over h
  constexpr int64_t offset(const HeadStrides& s, int64_t call) const {
    return call * (over_batches ? s.batch : s.head);
  }
  constexpr int64_t stride(const HeadStrides& s) const { return over_batches ? s.head : s.batch; }
};

// One call over all B H matrices when every operand's batch stride is H times its head
// stride (or B == 1); else per b (B calls) or per h (H calls), the fewer.
constexpr HeadBatching plan_head_batching(int64_t batch, int64_t heads, std::initializer_list<HeadStrides> operands) {
  bool uniform = true;
  for (const HeadStrides& s : operands) uniform = uniform && s.batch == heads * s.head;
  if (batch <= 1 || uniform) return {.calls = 1, .count = batch * heads, .over_batches = true};
  if (heads <= batch) return {.calls = heads, .count = batch, .over_batches = false};
  return {.calls = batch, .count = heads, .over_batches = true};
}

// The (B H, T, T) scores / probabilities buffers, contiguous.
constexpr HeadStrides scores_head_strides(int64_t seq, int64_t heads) {
  return {.batch = heads * seq * seq, .head = seq * seq, .row = seq};
}
constexpr int64_t attention_scores_elements(const AttentionShape& s) {
  return s.batch * s.heads * s.seq * s.seq;
}

// Attention dropout on P (f32 only), the CPU's Philox mask (dropout.h) over the (B, H, T, T)
// probabilities for the generator at (seed, offset): the caller advances its counter by
// ceil(B H T² / 4) blocks. p = 0: none.
struct AttentionDropout {
  double p = 0.0;
  uint64_t seed = 0, offset = 0;
};

// Element types (`dtype` for Q, K, V, Y, P and every gradient): f32, or bf16 storage with
// f32 accumulation in the GEMMs and f32 math in the softmax. `math` = tf32 for f32 only.

// Y = dropout(causal_softmax(Q Kᵀ / sqrt(D))) V. probs: (B H, T, T) contiguous, written
// with P before dropout (exact 0 above the diagonal), kept for backward. dropped: (B H, T, T)
// scratch for the dropped probabilities, needed only when dropout.p > 0 (else nullptr).
// Runs on handles.stream().
void causal_attention_forward(BlasHandles& handles, const AttentionShape& shape, BlasDtype dtype, const void* q,
                              const void* k, const void* v, void* probs, void* out,
                              const AttentionDropout& dropout = {}, void* dropped = nullptr,
                              GemmMath math = GemmMath::f32);

// From the forward's probs and dY (`grad_out`, out's strides): dV = P̃ᵀ dY (P̃ = dropout(P)),
// dP = dropout_backward(dY Vᵀ), dS = causal_softmax_backward(P, dP) (scale included),
// dQ = dS K, dK = dSᵀ Q. The gradients are written, not accumulated, each at its operand's
// strides (so dQ, dK, dV may share one (B, T, 3C) buffer). scratch: (B H, T, T).
void causal_attention_backward(BlasHandles& handles, const AttentionShape& shape, BlasDtype dtype, const void* q,
                               const void* k, const void* v, const void* probs, const void* grad_out,
                               void* scratch, void* grad_q, void* grad_k, void* grad_v,
                               const AttentionDropout& dropout = {}, GemmMath math = GemmMath::f32);

}  // namespace torus::cuda
