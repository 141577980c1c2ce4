// The CUDA column of the neural-network op files (softmax, layer_norm, gelu, cross_entropy,
// embedding, dropout, causal attention), as cuda_kernels.h is for the arithmetic ones: each function runs a
// kernel of kernels/cuda/ on its tensors' device, on that device's compute stream. The op
// checks shapes and owns the autograd record; these check what the kernel adds (f32, the
// device, index dtypes) and say so by name. Outputs are new contiguous device tensors.
// A build without CUDA links cuda_nn_kernels_off.cpp, whose functions refuse by name.
#pragma once

#include <cstdint>
#include <string_view>

#include "framework/tensor/tensor.h"

namespace torus::cuda_nn_kernels {

// Softmax (or log-softmax, `log`) of x over its last dim. `op` names the op in errors.
Tensor softmax_last(const Tensor& x, bool log, std::string_view op);
// The input gradient from the forward's output y and the upstream gradient g.
Tensor softmax_last_backward(const Tensor& y, const Tensor& g, bool log, std::string_view op);

// x seen as (rows, cols); weight and bias of cols elements, either may be undefined (no
// affine part). mean and rstd (rows) are device tensors saved for the backward.
struct LayerNormForward {
  Tensor y, mean, rstd;
};
LayerNormForward layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t rows,
                                    int64_t cols, double eps);

// Gradients wanted are defined on return; dw and db have `param_shape`.
struct LayerNormGrads {
  Tensor dx, dw, db;
};
struct LayerNormWanted {
  bool x = false, weight = false, bias = false;
};
LayerNormGrads layer_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& g, int64_t rows, int64_t cols, LayerNormWanted wanted,
                                   const Shape& param_shape);

// GELU of x (any shape), erf form or the tanh approximation; backward from the input x.
Tensor gelu(const Tensor& x, bool tanh_approximation);
Tensor gelu_backward(const Tensor& x, const Tensor& g, bool tanh_approximation);

// gelu(x + bias) for x (rows, cols) contiguous and bias (cols), in one pass: a linear
// layer's GEMM output, its bias and its GELU.
Tensor bias_gelu(const Tensor& x, const Tensor& bias, bool tanh_approximation);
// From the forward's x and bias and the upstream g (rows, cols): dx, the gradient with
// respect to x + bias, and dbias, its sum over the rows in a fixed order (undefined unless
// `want_bias`).
struct BiasGeluGrads {
  Tensor dx, dbias;
};
BiasGeluGrads bias_gelu_backward(const Tensor& x, const Tensor& bias, const Tensor& g, bool tanh_approximation,
                                 bool want_bias);

// Cross-entropy over logits x (M, C) with class targets t (M, i64 or i32) on x's device.
// status: (2) i64 on the device, [targets counted, the first invalid row or -1],
// kept for the backward and for the caller's check (device_checks.h); nothing is read back.
// counted: the cpu path's count (unused on a device).
struct CrossEntropyForward {
  Tensor loss, lse, status;
  int64_t counted = 0;
};
CrossEntropyForward cross_entropy_forward(const Tensor& x, const Tensor& t, int64_t ignore_index, double smoothing);
// The gradient of the mean loss times the upstream g (a scalar), (M, C).
Tensor cross_entropy_backward(const Tensor& x, const Tensor& t, const Tensor& lse, const Tensor& status,
                              const Tensor& g, int64_t ignore_index, double smoothing);

// out (index.numel(), D) = weight (V, D) rows named by index (i64 or i32, weight's device);
// first_bad: (1) i64 on the device, the first position whose index is outside [0, V), or -1
// (the row of out is zeros), for the caller's check (device_checks.h).
struct EmbeddingForward {
  Tensor out, first_bad;
};
EmbeddingForward embedding(const Tensor& index, const Tensor& weight);
// grad_weight (V, D) from g (*, D), index.numel() rows: each row the sum of the g rows
// that read it.
Tensor embedding_backward(const Tensor& g, const Tensor& index, int64_t vocab, int64_t dim);

// x * keep / (1 - p) with keep drawn from Philox blocks offset.. of `seed` (the CPU
// dropout's rule, so the masks match); the backward regenerates the mask.
Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset);
Tensor dropout_backward(const Tensor& g, double p, uint64_t seed, uint64_t offset);

// Causal self-attention over c_attn's output qkv (B, T, 3C), f32 or bf16, `heads` heads:
// y (B, T, C) = dropout(causal_softmax(Q Kᵀ / sqrt(D))) V, the heads read and written in
// place (kernels/cuda/attention.h). probs (B H, T, T) is kept for the backward. Dropout
// (p > 0) draws the Philox blocks offset.. of `seed`, the cpu dropout's mask over the
// (B, H, T, T) probabilities. y, probs and the gradient have qkv's dtype: bf16 keeps every
// buffer in bf16 with f32 accumulation and f32 softmax math, and takes no dropout.
struct AttentionForward {
  Tensor y, probs;
};
struct AttentionDropout {
  double p = 0;
  uint64_t seed = 0, offset = 0;
};
AttentionForward causal_attention(const Tensor& qkv, int64_t heads, const AttentionDropout& dropout);
// The gradient of qkv (B, T, 3C) from the forward's qkv and probs and the upstream g (B, T, C).
Tensor causal_attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& g, int64_t heads,
                                 const AttentionDropout& dropout);

}  // namespace torus::cuda_nn_kernels
