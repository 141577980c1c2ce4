// Causal self-attention (attention.h): the products as cuBLAS strided-batched GEMMs split
// by plan_head_batching, the softmax by causal_softmax.cu, dropout by dropout.cu.
#include "kernels/cuda/attention.h"

#include <cmath>
#include <type_traits>

#include "kernels/common/error.h"
#include "kernels/common/half.h"
#include "kernels/cuda/causal_softmax.h"
#include "kernels/cuda/dropout.h"

namespace torus::cuda {
namespace {

size_t element_bytes(BlasDtype dtype) { return dtype == BlasDtype::f32 ? sizeof(float) : sizeof(BFloat16); }

// An operand of a product: its base pointer and its (B, H, T) strides.
template <class Pointer>
struct Operand {
  Pointer base;
  HeadStrides strides;
  Pointer at(int64_t elements, BlasDtype dtype) const {
    using Byte = std::conditional_t<std::is_const_v<std::remove_pointer_t<Pointer>>, const char, char>;
    return static_cast<Byte*>(base) + elements * static_cast<int64_t>(element_bytes(dtype));
  }
};

// C = op(A) op(B) for every (b, h): `shape` is one head's product, the operands' strides
// place the heads.
void per_head_gemm(BlasHandles& handles, const AttentionShape& s, BlasDtype dtype, GemmMath math,
                   const GemmShape& shape, Operand<const void*> a, Operand<const void*> b, Operand<void*> c) {
  const HeadBatching plan = plan_head_batching(s.batch, s.heads, {a.strides, b.strides, c.strides});
  const GemmBatch batch{.count = plan.count, .stride_a = plan.stride(a.strides), .stride_b = plan.stride(b.strides),
                        .stride_c = plan.stride(c.strides)};
  for (int64_t call = 0; call < plan.calls; ++call) {
    gemm_strided_batched(handles, shape, batch, GemmTypes{dtype, dtype}, 1.0f,
                         a.at(plan.offset(a.strides, call), dtype), b.at(plan.offset(b.strides, call), dtype), 0.0f,
                         c.at(plan.offset(c.strides, call), dtype), math);
  }
}

float softmax_scale(const AttentionShape& s) { return static_cast<float>(1.0 / std::sqrt(double(s.head_dim))); }

// False when there is nothing to compute (B or H is 0).
bool check_shape(const AttentionShape& s, BlasDtype dtype, const AttentionDropout& dropout, const char* what) {
  TORUS_CHECK(s.batch >= 0 && s.heads >= 0 && s.seq >= 1 && s.head_dim >= 1,
              "{}: bad shape (B {}, H {}, T {}, D {}): need T, D >= 1", what, s.batch, s.heads, s.seq, s.head_dim);
  for (const HeadStrides& h : {s.q, s.k, s.v, s.out})
    TORUS_CHECK(h.batch >= 0 && h.head >= 0 && h.row >= s.head_dim,
                "{}: strides (batch {}, head {}, row {}) must be non-negative with row >= D = {}", what, h.batch,
                h.head, h.row, s.head_dim);
  TORUS_CHECK(dropout.p >= 0.0 && dropout.p <= 1.0, "{}: dropout p must be in [0, 1], got {}", what, dropout.p);
  TORUS_CHECK(dropout.p == 0.0 || dtype == BlasDtype::f32,
              "{}: attention dropout is f32 only (dropout.cu), the inputs are bf16", what);
  return s.batch > 0 && s.heads > 0;
}

void softmax_forward(BlasDtype dtype, const void* scores, void* probs, int64_t bh, int64_t t, float scale,
                     cudaStream_t stream) {
  if (dtype == BlasDtype::f32)
    causal_softmax_forward(static_cast<const float*>(scores), static_cast<float*>(probs), bh, t, scale, stream);
  else
    causal_softmax_forward(static_cast<const BFloat16*>(scores), static_cast<BFloat16*>(probs), bh, t, scale,
                           stream);
}

void softmax_backward(BlasDtype dtype, const void* probs, const void* grad_probs, void* grad_scores, int64_t bh,
                      int64_t t, float scale, cudaStream_t stream) {
  if (dtype == BlasDtype::f32)
    causal_softmax_backward(static_cast<const float*>(probs), static_cast<const float*>(grad_probs),
                            static_cast<float*>(grad_scores), bh, t, scale, stream);
  else
    causal_softmax_backward(static_cast<const BFloat16*>(probs), static_cast<const BFloat16*>(grad_probs),
                            static_cast<BFloat16*>(grad_scores), bh, t, scale, stream);
}

}  // namespace

void causal_attention_forward(BlasHandles& handles, const AttentionShape& s, BlasDtype dtype, const void* q,
                              const void* k, const void* v, void* probs, void* out, const AttentionDropout& dropout,
                              void* dropped, GemmMath math) {
  if (!check_shape(s, dtype, dropout, "causal_attention_forward")) return;
  TORUS_CHECK(dropout.p == 0.0 || dropped != nullptr,
              "causal_attention_forward: dropout p = {} needs the `dropped` scratch buffer", dropout.p);
  const int64_t t = s.seq, d = s.head_dim, bh = s.batch * s.heads;
  const HeadStrides scores = scores_head_strides(t, s.heads);
  // S (T, T) = Q (T, D) · K (T, D)ᵀ, unscaled: the softmax applies 1 / sqrt(D).
  per_head_gemm(handles, s, dtype, math,
                {.trans_a = false, .trans_b = true, .m = t, .n = t, .k = d, .lda = s.q.row, .ldb = s.k.row, .ldc = t},
                {q, s.q}, {k, s.k}, {probs, scores});
  softmax_forward(dtype, probs, probs, bh, t, softmax_scale(s), handles.stream());
  const void* weights = probs;
  if (dropout.p > 0.0) {
    dropout_forward(static_cast<const float*>(probs), static_cast<float*>(dropped), nullptr,
                    attention_scores_elements(s), dropout.p, dropout.seed, dropout.offset, handles.stream());
    weights = dropped;
  }
  // Y (T, D) = P̃ (T, T) · V (T, D).
  per_head_gemm(handles, s, dtype, math,
                {.trans_a = false, .trans_b = false, .m = t, .n = d, .k = t,
                 .lda = t, .ldb = s.v.row, .ldc = s.out.row},
                {weights, scores}, {v, s.v}, {out, s.out});
}

void causal_attention_backward(BlasHandles& handles, const AttentionShape& s, BlasDtype dtype, const void* q,
                               const void* k, const void* v, const void* probs, const void* grad_out, void* scratch,
                               void* grad_q, void* grad_k, void* grad_v, const AttentionDropout& dropout,
                               GemmMath math) {
  if (!check_shape(s, dtype, dropout, "causal_attention_backward")) return;
  const int64_t t = s.seq, d = s.head_dim, bh = s.batch * s.heads, n = attention_scores_elements(s);
  const HeadStrides scores = scores_head_strides(t, s.heads);
  cudaStream_t stream = handles.stream();
  // dV (T, D) = P̃ᵀ · dY, with P̃ regenerated into the scratch (the same Philox mask).
  const void* weights = probs;
  if (dropout.p > 0.0) {
    dropout_forward(static_cast<const float*>(probs), static_cast<float*>(scratch), nullptr, n, dropout.p,
                    dropout.seed, dropout.offset, stream);
    weights = scratch;
  }
  per_head_gemm(handles, s, dtype, math,
                {.trans_a = true, .trans_b = false, .m = t, .n = d, .k = t, .lda = t, .ldb = s.out.row, .ldc = s.v.row},
                {weights, scores}, {grad_out, s.out}, {grad_v, s.v});
  // dP̃ (T, T) = dY · Vᵀ (the scratch is free again: the product above ran first on this stream).
  per_head_gemm(handles, s, dtype, math,
                {.trans_a = false, .trans_b = true, .m = t, .n = t, .k = d, .lda = s.out.row, .ldb = s.v.row, .ldc = t},
                {grad_out, s.out}, {v, s.v}, {scratch, scores});
  if (dropout.p > 0.0)
    dropout_backward(static_cast<const float*>(scratch), static_cast<float*>(scratch), n, dropout.p, dropout.seed,
                     dropout.offset, stream);
  // dS = scale · P ∘ (dP − rowsum(dP ∘ P)), 0 above the diagonal: the gradient of the raw Q Kᵀ.
  softmax_backward(dtype, probs, scratch, scratch, bh, t, softmax_scale(s), stream);
  // dQ (T, D) = dS · K;  dK (T, D) = dSᵀ · Q.
  per_head_gemm(handles, s, dtype, math,
                {.trans_a = false, .trans_b = false, .m = t, .n = d, .k = t, .lda = t, .ldb = s.k.row, .ldc = s.q.row},
                {scratch, scores}, {k, s.k}, {grad_q, s.q});
  per_head_gemm(handles, s, dtype, math,
                {.trans_a = true, .trans_b = false, .m = t, .n = d, .k = t, .lda = t, .ldb = s.q.row, .ldc = s.k.row},
                {scratch, scores}, {q, s.q}, {grad_k, s.k});
}

}  // namespace torus::cuda
