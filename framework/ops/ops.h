// The differentiable op surface of Torus. Each op family is defined in one file of this
// folder: shape rules, forward (calling kernels/) and backward side by side.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus {

// ---- Elementwise, broadcasting (elementwise_binary.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// Comparisons give u8 masks (1 where true) and are not differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);

// ---- Elementwise unary (elementwise_unary.cpp) ----
enum class GeluApproximation { none, tanh };
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x, GeluApproximation approximate = GeluApproximation::none);
Tensor square(const Tensor& x);
Tensor pow(const Tensor& base, double exponent);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);

// ---- Reductions (reduce.cpp). Empty `dims` reduces over every dim. ----
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // i64, not differentiable
// Variance with Bessel's correction by default (correction = 1, as torch.var).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
           bool keepdim = false);
// Sums `x` down to `shape` over the dims that broadcasting expanded (for backward).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- Softmax (softmax.cpp) ----
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- Losses (loss.cpp); both return the mean over the counted elements. ----
struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};
// logits (N, C), target (N) class indices (i64 or i32).
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options = {});
Tensor mse_loss(const Tensor& input, const Tensor& target);

// ---- Linear algebra (linalg.cpp) ----
// 1-D/2-D/batched with broadcasting batch dims, as torch.matmul.
Tensor matmul(const Tensor& a, const Tensor& b);
// x (*, in) · weight (out, in)ᵀ + bias (out); bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// gelu(linear(x, weight, bias)) as one op, for a transformer's MLP: on a device the GEMM and
// then one kernel adding the bias and applying GELU, whose backward also sums the bias's
// gradient (kernels/cuda/bias_gelu.h): two passes over the activation fewer each way. On the
// cpu, and without a bias, the two ops, bit for bit.
Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                   GeluApproximation approximate = GeluApproximation::none);

// ---- Convolution and pooling (conv_pool.cpp), NCHW ----
struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};
// x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {});
struct Pool2dOptions {
  std::array<int64_t, 2> kernel{2, 2};
  std::array<int64_t, 2> stride{0, 0};  // 0 means: equal to the kernel
  std::array<int64_t, 2> padding{0, 0};
};
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options = {});
// Padding counts in the divisor (count_include_pad = true, as PyTorch's default).
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options = {});

// ---- Normalization (normalization.cpp) ----
// Normalizes over the trailing dims of `normalized_shape`; weight/bias may be undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps = 1e-5);

// ---- Indexing and joining (indexing.cpp) ----
// weight (V, D), indices of any shape -> (*indices.shape, D). Backward scatter-adds.
Tensor embedding(const Tensor& indices, const Tensor& weight);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor concat(const std::vector<Tensor>& tensors, int64_t dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
// condition: u8 mask broadcast with a and b.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- Dropout (dropout.cpp) ----
// Zeroes each element with probability p and scales the rest by 1/(1-p); identity when
// not training. The mask comes from `gen`, so a seeded generator reproduces it.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

// ---- Attention (attention.cpp) ----
// Causal self-attention over qkv (B, T, 3C), the q, k, v projections side by side, in
// `heads` heads of C / heads: softmax(Q Kᵀ / sqrt(D), causal mask) V, dropout with p on the
// attention weights when training (from `gen`, which may be null only when nothing drops),
// the heads joined back into (B, T, C). One fused kernel on a device.
Tensor causal_attention(const Tensor& qkv, int64_t heads, double dropout_p, bool training, Generator* gen);

// ---- In place, not recorded by autograd (inplace.cpp): optimizers, accumulation ----
void add_(const Tensor& self, const Tensor& other, double alpha = 1.0);  // self += alpha*other
void mul_(const Tensor& self, double factor);
// self = self * a + other * b (axpby), elementwise with broadcasting of other.
void axpby_(const Tensor& self, double a, const Tensor& other, double b);

// ---- Operators ----
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, Tensor::scalar(b, a.dtype())); }
inline Tensor operator-(const Tensor& a, double b) { return sub(a, Tensor::scalar(b, a.dtype())); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, Tensor::scalar(b, a.dtype())); }
inline Tensor operator/(const Tensor& a, double b) { return div(a, Tensor::scalar(b, a.dtype())); }
inline Tensor operator+(double a, const Tensor& b) { return add(Tensor::scalar(a, b.dtype()), b); }
inline Tensor operator-(double a, const Tensor& b) { return sub(Tensor::scalar(a, b.dtype()), b); }
inline Tensor operator*(double a, const Tensor& b) { return mul(Tensor::scalar(a, b.dtype()), b); }
inline Tensor operator/(double a, const Tensor& b) { return div(Tensor::scalar(a, b.dtype()), b); }

}  // namespace torus
