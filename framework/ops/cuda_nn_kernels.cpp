// cuda_nn_kernels.h on the CUDA backend: tensors to device pointers, the launch. The
// launchers of kernels/cuda/ check their own CUDA calls; what is checked here is what the
// tensors must be for them (f32, contiguous, on one device, i64 indices).
#include "framework/ops/cuda_nn_kernels.h"

#include <type_traits>

#include "framework/ops/autocast.h"
#include "framework/ops/cuda_launch.h"
#include "framework/ops/elementwise.h"
#include "framework/tensor/tensor.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/bias_gelu.h"
#include "kernels/cuda/cross_entropy.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/softmax.h"

namespace torus::cuda_nn_kernels {
namespace {

using cuda_launch::check_f32;
using cuda_launch::stream_of;

// t as a contiguous f32 tensor on x's device; a 0-dim cpu tensor (an upstream scalar
// gradient) is moved there.
Tensor f32_on(const Tensor& t, const Tensor& x, std::string_view op) {
  const Tensor moved = cuda_launch::operand_on(t, x, op);
  check_f32(moved, op);
  return moved.contiguous();
}

// Class or token indices as contiguous i64 on x's device (the kernels read i64 only).
Tensor index_i64(const Tensor& t, const Tensor& x, std::string_view op) {
  check_same_device(x, t, op);
  if (t.dtype() == DType::i64) return t.contiguous();
  if (t.dtype() == DType::i32) return t.to(DType::i64).contiguous();
  throw ValueError(fmt::format("{}: indices must be i64 or i32, got {}", op, dtype_name(t.dtype())));
}

const float* in(const Tensor& t) { return static_cast<const float*>(t.raw_data()); }
float* out(const Tensor& t) { return static_cast<float*>(t.raw_data()); }
float* out_or_null(const Tensor& t) { return t.defined() ? out(t) : nullptr; }

// A tensor of x's shape, dtype and device, uninitialized.
Tensor empty_like(const Tensor& x) { return Tensor::empty(x.shape(), x.dtype(), x.device()); }

// x (any shape) as rows of its last dim: (numel / C, C); a 0-dim tensor is one element.
int64_t last_dim(const Tensor& x) { return x.dim() == 0 ? 1 : x.shape().back(); }
int64_t row_count(const Tensor& x) { return last_dim(x) == 0 ? 0 : x.numel() / last_dim(x); }

// An affine parameter, or `fill` (1 for weight, 0 for bias) where it is undefined: the
// kernels always read both.
Tensor param_or(const Tensor& p, double fill, int64_t cols, const Tensor& x) {
  if (!p.defined()) return Tensor::full({cols}, fill, DType::f32, x.device());
  return f32_on(p, x, "layer_norm");
}

}  // namespace

Tensor softmax_last(const Tensor& x_in, bool log, std::string_view op) {
  check_f32(x_in, op);
  const Tensor x = x_in.contiguous();
  Tensor y = empty_like(x);
  if (x.numel() == 0) return y;  // the kernel needs a row of at least one element
  cuda::softmax_forward(in(x), out(y), row_count(x), last_dim(x), log, stream_of(x));
  return y;
}

Tensor softmax_last_backward(const Tensor& y_in, const Tensor& g_in, bool log, std::string_view op) {
  check_f32(y_in, op);
  const Tensor y = y_in.contiguous();
  const Tensor g = f32_on(g_in, y, op);
  Tensor gx = empty_like(y);
  if (y.numel() == 0) return gx;
  cuda::softmax_backward(in(y), in(g), out(gx), row_count(y), last_dim(y), log, stream_of(y));
  return gx;
}

LayerNormForward layer_norm_forward(const Tensor& x_in, const Tensor& weight, const Tensor& bias, int64_t rows,
                                    int64_t cols, double eps) {
  check_f32(x_in, "layer_norm");
  const Tensor x = x_in.contiguous();
  LayerNormForward f{empty_like(x), Tensor::empty({rows}, DType::f32, x.device()),
                     Tensor::empty({rows}, DType::f32, x.device())};
  if (rows == 0 || cols == 0) return f;  // nothing to normalize; the kernel needs cols >= 1
  const Tensor w = param_or(weight, 1.0, cols, x), b = param_or(bias, 0.0, cols, x);
  cuda::layer_norm_forward(in(x), in(w), in(b), out(f.y), out(f.mean), out(f.rstd), rows, cols,
                           static_cast<float>(eps), stream_of(x));
  return f;
}

LayerNormGrads layer_norm_backward(const Tensor& x_in, const Tensor& weight, const Tensor& mean_in,
                                   const Tensor& rstd_in, const Tensor& g_in, int64_t rows, int64_t cols,
                                   LayerNormWanted wanted, const Shape& param_shape) {
  check_f32(x_in, "layer_norm backward");
  const Tensor x = x_in.contiguous(), mean = mean_in.contiguous(), rstd = rstd_in.contiguous();
  const Tensor g = f32_on(g_in, x, "layer_norm backward");
  const Device device = x.device();
  LayerNormGrads grads;
  if (wanted.x) grads.dx = empty_like(x);
  if (rows == 0 || cols == 0) {  // empty sums: zero parameter gradients, as the cpu
    if (wanted.weight) grads.dw = Tensor::zeros(param_shape, DType::f32, device);
    if (wanted.bias) grads.db = Tensor::zeros(param_shape, DType::f32, device);
    return grads;
  }
  if (wanted.weight) grads.dw = Tensor::empty(param_shape, DType::f32, device);
  if (wanted.bias) grads.db = Tensor::empty(param_shape, DType::f32, device);
  const Tensor w = param_or(weight, 1.0, cols, x);
  // Many rows over few columns: the parameter sums in two stages through a workspace.
  const int64_t workspace_floats =
      wanted.weight || wanted.bias ? cuda::layer_norm_backward_workspace(rows, cols) : 0;
  const Tensor workspace = workspace_floats > 0 ? Tensor::empty({workspace_floats}, DType::f32, device) : Tensor();
  cuda::layer_norm_backward(in(x), in(w), in(mean), in(rstd), in(g), out_or_null(grads.dx), out_or_null(grads.dw),
                            out_or_null(grads.db), rows, cols, stream_of(x), out_or_null(workspace));
  return grads;
}

// GELU is the fused bias-GELU kernel with a zero bias over the last dim.
Tensor gelu(const Tensor& x_in, bool tanh_approximation) {
  check_f32(x_in, "gelu");
  const Tensor x = x_in.contiguous();
  Tensor y = empty_like(x);
  if (x.numel() == 0) return y;
  const Tensor zero_bias = Tensor::zeros({last_dim(x)}, DType::f32, x.device());
  cuda::bias_gelu_forward(in(x), in(zero_bias), out(y), row_count(x), last_dim(x), tanh_approximation,
                          stream_of(x));
  return y;
}

Tensor gelu_backward(const Tensor& x_in, const Tensor& g_in, bool tanh_approximation) {
  check_f32(x_in, "gelu backward");
  const Tensor x = x_in.contiguous();  // the op saves its input as given, maybe strided
  const Tensor g = f32_on(g_in, x, "gelu backward");
  Tensor gx = empty_like(x);
  if (x.numel() == 0) return gx;
  const Tensor zero_bias = Tensor::zeros({last_dim(x)}, DType::f32, x.device());
  // No dbias wanted: no workspace either.
  cuda::bias_gelu_backward(in(x), in(zero_bias), in(g), out(gx), nullptr, nullptr, row_count(x), last_dim(x),
                           tanh_approximation, stream_of(x));
  return gx;
}

Tensor bias_gelu(const Tensor& x_in, const Tensor& bias_in, bool tanh_approximation) {
  check_f32(x_in, "linear_gelu");
  TORUS_ASSERT(x_in.dim() == 2 && bias_in.dim() == 1 && bias_in.size(0) == x_in.size(1),
               "linear_gelu: x {} and bias {} are not (rows, cols) and (cols)", x_in.shape_str(), bias_in.shape_str());
  const Tensor x = x_in.contiguous();
  const Tensor bias = f32_on(bias_in, x, "linear_gelu");
  Tensor y = empty_like(x);
  if (x.numel() == 0) return y;
  cuda::bias_gelu_forward(in(x), in(bias), out(y), x.size(0), x.size(1), tanh_approximation, stream_of(x));
  return y;
}

BiasGeluGrads bias_gelu_backward(const Tensor& x_in, const Tensor& bias_in, const Tensor& g_in,
                                 bool tanh_approximation, bool want_bias) {
  check_f32(x_in, "linear_gelu backward");
  const Tensor x = x_in.contiguous();
  const Tensor bias = f32_on(bias_in, x, "linear_gelu backward");
  const Tensor g = f32_on(g_in, x, "linear_gelu backward");
  const int64_t rows = x.size(0), cols = x.size(1);
  BiasGeluGrads grads;
  grads.dx = empty_like(x);
  if (want_bias) grads.dbias = Tensor::zeros({cols}, DType::f32, x.device());  // stays 0 without rows
  if (x.numel() == 0) return grads;
  const int64_t workspace_floats = want_bias ? cuda::bias_gelu_backward_workspace(rows, cols) : 0;
  const Tensor workspace =
      workspace_floats > 0 ? Tensor::empty({workspace_floats}, DType::f32, x.device()) : Tensor();
  cuda::bias_gelu_backward(in(x), in(bias), in(g), out(grads.dx), want_bias ? out(grads.dbias) : nullptr,
                           workspace.defined() ? out(workspace) : nullptr, rows, cols, tanh_approximation,
                           stream_of(x));
  return grads;
}

CrossEntropyForward cross_entropy_forward(const Tensor& x_in, const Tensor& t, int64_t ignore_index,
                                          double smoothing) {
  check_f32(x_in, "cross_entropy");
  const Tensor x = x_in.contiguous();
  const Tensor target = index_i64(t, x, "cross_entropy");
  const int64_t rows = x.size(0), classes = x.size(1);
  const Device device = x.device();
  CrossEntropyForward f;
  f.loss = Tensor::empty({}, DType::f32, device);
  f.lse = Tensor::empty({rows}, DType::f32, device);
  f.status = Tensor::empty({2}, DType::i64, device);
  const Tensor row_loss = Tensor::empty({rows}, DType::f32, device);
  cuda::cross_entropy_forward(in(x), static_cast<const int64_t*>(target.raw_data()), out(f.lse), out(row_loss),
                              out(f.loss), static_cast<int64_t*>(f.status.raw_data()), rows, classes, ignore_index,
                              static_cast<float>(smoothing), stream_of(x));
  return f;  // the caller checks the status (device_checks.h): no wait here
}

Tensor cross_entropy_backward(const Tensor& x_in, const Tensor& t, const Tensor& lse, const Tensor& status,
                              const Tensor& g_in, int64_t ignore_index, double smoothing) {
  const Tensor x = x_in.contiguous();
  const Tensor target = index_i64(t, x, "cross_entropy backward");
  const Tensor g = f32_on(g_in, x, "cross_entropy backward");
  Tensor grad = empty_like(x);
  // The scale (g / count) is read on the device: nothing waits on the host.
  cuda::cross_entropy_backward(in(x), static_cast<const int64_t*>(target.raw_data()), in(lse), in(g),
                               static_cast<const int64_t*>(status.raw_data()), out(grad), x.size(0), x.size(1),
                               ignore_index, static_cast<float>(smoothing), stream_of(x));
  return grad;
}

EmbeddingForward embedding(const Tensor& index_in, const Tensor& weight_in) {
  check_f32(weight_in, "embedding");
  const Tensor weight = weight_in.contiguous();
  const Tensor index = index_i64(index_in, weight, "embedding");
  const int64_t n = index.numel(), vocab = weight.size(0), dim = weight.size(1);
  // One u64 on the device, held as an i64 (no u64 dtype): UINT64_MAX reads back as -1.
  EmbeddingForward f{Tensor::empty({n, dim}, DType::f32, weight.device()),
                     Tensor::empty({1}, DType::i64, weight.device())};
  cuda::embedding_forward(in(weight), static_cast<const int64_t*>(index.raw_data()), out(f.out),
                          static_cast<unsigned long long*>(f.first_bad.raw_data()), n, vocab, dim, stream_of(weight));
  return f;  // the caller checks first_bad (device_checks.h): no wait here
}

Tensor embedding_backward(const Tensor& g_in, const Tensor& index_in, int64_t vocab, int64_t dim) {
  const Tensor index = index_i64(index_in, g_in, "embedding backward");
  check_f32(g_in, "embedding backward");
  const Tensor g = g_in.contiguous();
  Tensor grad = Tensor::empty({vocab, dim}, DType::f32, g.device());
  cuda::embedding_backward(in(g), static_cast<const int64_t*>(index.raw_data()), out(grad), index.numel(), vocab,
                           dim, stream_of(g));
  return grad;
}

Tensor dropout(const Tensor& x_in, double p, uint64_t seed, uint64_t offset) {
  check_f32(x_in, "dropout");
  const Tensor x = x_in.contiguous();
  Tensor y = empty_like(x);
  cuda::dropout_forward(in(x), out(y), nullptr, x.numel(), p, seed, offset, stream_of(x));
  return y;
}

Tensor dropout_backward(const Tensor& g_in, double p, uint64_t seed, uint64_t offset) {
  check_f32(g_in, "dropout backward");
  const Tensor g = g_in.contiguous();
  Tensor gx = empty_like(g);
  cuda::dropout_backward(in(g), out(gx), g.numel(), p, seed, offset, stream_of(g));
  return gx;
}

namespace {

// The kernels' view of qkv (B, T, 3C): Q, K and V heads in place, Y (B, T, C) contiguous.
cuda::AttentionShape attention_shape(const Tensor& qkv, int64_t heads) {
  const int64_t b = qkv.size(0), t = qkv.size(1), c = qkv.size(2) / 3, d = c / heads;
  const cuda::HeadStrides in = cuda::qkv_head_strides(t, heads, d);
  return {.batch = b, .heads = heads, .seq = t, .head_dim = d, .q = in, .k = in, .v = in,
          .out = cuda::out_head_strides(t, heads, d)};
}

cuda::AttentionDropout kernel_dropout(const AttentionDropout& d) { return {d.p, d.seed, d.offset}; }

// The attention products' math: TF32 for f32 inputs when the process allows it (autocast.h),
// as matmul's; bf16 inputs run bf16 GEMMs either way.
cuda::GemmMath attention_math(cuda::BlasDtype dtype) {
  return allow_tf32() && dtype == cuda::BlasDtype::f32 ? cuda::GemmMath::tf32 : cuda::GemmMath::f32;
}

// The kernels' element type for qkv: f32, or bf16 (without dropout: dropout.cu is f32 only).
cuda::BlasDtype attention_dtype(const Tensor& qkv, const AttentionDropout& dropout, std::string_view op) {
  if (qkv.dtype() == DType::bf16) {
    TORUS_CHECK(dropout.p == 0, "{}: attention dropout runs in f32 only; bf16 inputs need p = 0", op);
    return cuda::BlasDtype::bf16;
  }
  check_f32(qkv, op);
  return cuda::BlasDtype::f32;
}

// `base` moved on by `elements` elements of t's dtype.
template <class Pointer>
Pointer element_at(Pointer base, int64_t elements, const Tensor& t) {
  using Byte = std::conditional_t<std::is_const_v<std::remove_pointer_t<Pointer>>, const char, char>;
  return static_cast<Byte*>(base) + elements * static_cast<int64_t>(t.element_size());
}

}  // namespace

AttentionForward causal_attention(const Tensor& qkv_in, int64_t heads, const AttentionDropout& dropout) {
  const cuda::BlasDtype dtype = attention_dtype(qkv_in, dropout, "causal_attention");
  const Tensor qkv = qkv_in.contiguous();
  const cuda::AttentionShape shape = attention_shape(qkv, heads);
  const int64_t c = qkv.size(2) / 3;
  cuda::DeviceContext& ctx = cuda_launch::context_of(qkv);
  AttentionForward f;
  f.y = Tensor::empty({shape.batch, shape.seq, c}, qkv.dtype(), qkv.device());
  f.probs = Tensor::empty({shape.batch * shape.heads, shape.seq, shape.seq}, qkv.dtype(), qkv.device());
  const Tensor dropped = dropout.p > 0 ? Tensor::empty(f.probs.shape(), DType::f32, qkv.device()) : Tensor();
  const void* base = qkv.raw_data();
  cuda::causal_attention_forward(ctx.blas(), shape, dtype, base, element_at(base, c, qkv), element_at(base, 2 * c, qkv),
                                 f.probs.raw_data(), f.y.raw_data(), kernel_dropout(dropout),
                                 dropped.defined() ? dropped.raw_data() : nullptr, attention_math(dtype));
  return f;
}

Tensor causal_attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& g_in, int64_t heads,
                                 const AttentionDropout& dropout) {
  const cuda::BlasDtype dtype = attention_dtype(qkv, dropout, "causal_attention backward");
  TORUS_ASSERT(qkv.is_contiguous() && probs.dtype() == qkv.dtype(), "causal_attention backward: the forward's buffers");
  const Tensor g = cuda_launch::operand_on(g_in, qkv, "causal_attention backward").to(qkv.dtype()).contiguous();
  const cuda::AttentionShape shape = attention_shape(qkv, heads);
  const int64_t c = qkv.size(2) / 3;
  cuda::DeviceContext& ctx = cuda_launch::context_of(qkv);
  Tensor grad = Tensor::empty(qkv.shape(), qkv.dtype(), qkv.device());
  const Tensor scratch = Tensor::empty(probs.shape(), qkv.dtype(), qkv.device());
  const void* base = qkv.raw_data();
  void* grad_base = grad.raw_data();
  cuda::causal_attention_backward(ctx.blas(), shape, dtype, base, element_at(base, c, qkv), element_at(base, 2 * c, qkv),
                                  probs.raw_data(), g.raw_data(), scratch.raw_data(), grad_base,
                                  element_at(grad_base, c, qkv), element_at(grad_base, 2 * c, qkv),
                                  kernel_dropout(dropout), attention_math(dtype));
  return grad;
}

}  // namespace torus::cuda_nn_kernels
