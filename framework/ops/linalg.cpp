// Matrix products: matmul (torch.matmul semantics), linear and linear + GELU. Every product is cpu::gemm
// run on the operands' own storage: a matrix stored row-major or transposed (a .t() view, a
// backward's transposed operand) is read in place through GEMM's trans flag and leading
// dimension, and broadcast batch dims are walked with stride 0, never materialized. Under
// autocast (autocast.h) the operands are rounded to bf16 first.
#include <algorithm>
#include <optional>

#include "framework/profile/profiler.h"
#include "framework/autograd/node.h"
#include "framework/ops/autocast.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/cuda_nn_kernels.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// How GEMM reads a matrix in place: as stored (trans = false) or as the transpose of what
// is stored (trans = true), the stored rows being `ld` elements apart.
struct GemmOperand {
  bool trans = false;
  int64_t ld = 0;
};

// The in-place reading of a (rows, cols) matrix with element strides (row_stride,
// col_stride), if there is one. The stride of a size-1 dim is never used, and BLAS wants
// ld >= max(1, length of a stored row).
std::optional<GemmOperand> gemm_operand(int64_t rows, int64_t cols, int64_t row_stride,
                                        int64_t col_stride) {
  if (col_stride == 1 || cols == 1) {  // row-major
    const int64_t ld = rows == 1 ? std::max<int64_t>(cols, 1) : row_stride;
    if (ld >= std::max<int64_t>(cols, 1)) return GemmOperand{false, ld};
  }
  if (row_stride == 1 || rows == 1) {  // column-major: the transpose is row-major
    const int64_t ld = cols == 1 ? std::max<int64_t>(rows, 1) : col_stride;
    if (ld >= std::max<int64_t>(rows, 1)) return GemmOperand{true, ld};
  }
  return std::nullopt;
}

// The reading of t's last two dims.
std::optional<GemmOperand> gemm_operand(const Tensor& t) {
  const int64_t d = t.dim();
  return gemm_operand(t.shape()[d - 2], t.shape()[d - 1], t.strides()[d - 2], t.strides()[d - 1]);
}

// t itself when GEMM can read its last two dims in place, else a contiguous copy.
Tensor gemm_ready(const Tensor& t) { return gemm_operand(t) ? t : t.contiguous(); }

Shape batch_shape(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

Shape with_matrix(Shape batch, int64_t rows, int64_t cols) {
  batch.push_back(rows);
  batch.push_back(cols);
  return batch;
}

// t (*, c) viewed as a (rows, c) matrix without a copy, when its leading dims step evenly
// (each one's stride is the next one's stride times its size); nullopt otherwise.
std::optional<Tensor> row_view(const Tensor& t) {
  const int64_t cols = t.dim() == 0 ? 1 : t.shape().back();
  const int64_t col_stride = t.dim() == 0 ? 1 : t.strides().back();
  int64_t rows = 1, row_stride = std::max<int64_t>(cols, 1);
  for (int64_t d = t.dim() - 2; d >= 0; --d) rows *= t.shape()[d];
  if (rows * cols == 0) return make_view(t, {rows, cols}, {row_stride, 1}, t.offset());
  int64_t spanned = 1;  // rows covered by the dims after d
  for (int64_t d = t.dim() - 2; d >= 0; --d) {
    const int64_t size = t.shape()[d];
    if (size == 1) continue;
    if (spanned == 1) {
      row_stride = t.strides()[d];
    } else if (t.strides()[d] != row_stride * spanned) {
      return std::nullopt;
    }
    spanned *= size;
  }
  return make_view(t, {rows, cols}, {row_stride, col_stride}, t.offset());
}

// t (*, c) as a (rows, c) matrix that GEMM reads in place; a contiguous copy only when t's
// layout has no such view. Detached: for kernels and backward closures.
Tensor as_matrix(const Tensor& t) {
  if (auto m = row_view(t); m && gemm_operand(*m)) return *m;
  return *row_view(t.contiguous().detach());
}

// Element offset of batch entry `entry` (row-major over t's leading `batch_dims` dims).
int64_t batch_offset(const Tensor& t, int64_t entry, int64_t batch_dims) {
  int64_t offset = 0;
  for (int64_t d = batch_dims - 1; d >= 0; --d) {
    offset += entry % t.shape()[d] * t.strides()[d];
    entry /= t.shape()[d];
  }
  return offset;
}

// Batch entries of at most this many multiply-adds run one per thread (see gemm_batched).
constexpr int64_t kSmallGemmMacs = int64_t{1} << 22;

// out (*B, m, n) = a (*B, m, k) · b (*B, k, n) + beta * out, one GEMM per batch entry.
// a and b carry out's batch dims (stride 0 where broadcast) and their last two dims are
// gemm_ready; out is contiguous.
void gemm_batched(const Tensor& a, const Tensor& b, const Tensor& out, double beta) {
  if (out.numel() == 0) return;
  const int64_t m = out.size(-2), n = out.size(-1), k = a.size(-1);
  if (k == 0) {  // an empty sum; BLAS would reject the leading dimensions
    if (beta == 0.0) out.fill_(0.0);
    return;
  }
  const auto read_a = gemm_operand(a), read_b = gemm_operand(b);
  TORUS_ASSERT(read_a && read_b, "matmul operands {} and {} are not gemm_ready", a.shape_str(),
               b.shape_str());
  const cpu::GemmShape shape{read_a->trans, read_b->trans, m, n, k, read_a->ld, read_b->ld, n};
  const int64_t batch_dims = out.dim() - 2;
  const int64_t entries = out.numel() / (m * n);
  if (cuda_kernels::on_cuda(out)) {
    std::vector<int64_t> a_offsets, b_offsets;
    for (int64_t e = 0; e < entries; ++e) {
      a_offsets.push_back(batch_offset(a, e, batch_dims));
      b_offsets.push_back(batch_offset(b, e, batch_dims));
    }
    cuda_kernels::gemm({shape.trans_a, shape.trans_b, m, n, k, shape.lda, shape.ldb}, a, a_offsets, b, b_offsets,
                       beta, out);
    return;
  }
  dispatch_floating(out.dtype(), "matmul", [&]<class T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = out.data<T>();
    auto run = [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e)
        cpu::gemm(shape, T(1), pa + batch_offset(a, e, batch_dims), pb + batch_offset(b, e, batch_dims),
                  static_cast<T>(beta), pc + e * m * n);
    };
    // Many small products (attention's per-head (T, T) scores: 128x128x64): one per thread
    // at a time, side by side, rather than each waking the pool for a few microseconds.
    // Large ones keep oneDNN's own threading.
    if (entries >= 2 && m * n * k <= kSmallGemmMacs) {
      cpu::parallel_chunks(entries, [&](int, int64_t e0, int64_t e1) { run(e0, e1); });
    } else {
      run(0, entries);
    }
  });
}

// A product's operand as autocast has it: itself, or under bf16 autocast an f32 operand
// rounded to bf16 (kept in bf16 on a device, for cuBLAS; back in f32 on the cpu, where the
// f32 GEMM of rounded values gives the bf16 GEMM's numbers). Contiguous when rounded.
Tensor autocast_operand(const Tensor& t) {
  if (autocast_dtype() != DType::bf16 || t.dtype() != DType::f32) return t;
  const Tensor rounded = t.to(DType::bf16);
  return cuda_kernels::on_cuda(t) ? rounded : rounded.to(DType::f32);
}

// a (*, m, k) · b (*, k, n) for detached operands of >= 2 dims, batch dims broadcast; the
// result in a's dtype (f32 under autocast).
Tensor product(const Tensor& a_in, const Tensor& b_in) {
  const DType dtype = a_in.dtype();
  const Tensor a = autocast_operand(a_in), b = autocast_operand(b_in);
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  if (b.dim() == 2 && a.dim() > 2) {
    // One matrix against a stack: a single (rows, k) · (k, n) GEMM when a's rows step evenly.
    if (auto rows = row_view(a); rows && gemm_operand(*rows)) {
      Tensor out = Tensor::empty({rows->size(0), n}, dtype, a.device());
      gemm_batched(*rows, gemm_ready(b), out, 0.0);
      return out.view(with_matrix(batch_shape(a), m, n));
    }
  }
  const Shape batch = broadcast_shapes({batch_shape(a), batch_shape(b)}, "matmul (batch dims)");
  Tensor out = Tensor::empty(with_matrix(batch, m, n), dtype, a.device());
  gemm_batched(gemm_ready(a).expand(with_matrix(batch, m, k)),
               gemm_ready(b).expand(with_matrix(batch, k, n)), out, 0.0);
  return out;
}

// matmul of operands that have at least 2 dims (vectors already promoted).
Tensor matmul_matrices(const Tensor& a, const Tensor& b) {
  Tensor out = product(a.detach(), b.detach());
  // Per batch entry d(a·b)/da = g·bᵀ and d(a·b)/db = aᵀ·g, each summed over the batch dims
  // its operand was broadcast along. The transposes are views GEMM reads in place. A 2-D b
  // was broadcast over every row of a, so Σ aᵀ·g is one GEMM over all rows.
  return record("matmul", out, {a, b},
                [a = a.detach(), b = b.detach(), na = a.requires_grad(), nb = b.requires_grad(),
                 precision = autocast_dtype()](const Tensor& g) {
                  const AutocastGuard as_forward(precision);  // the backward's products as the forward's
                  Tensor ga = na ? sum_to(matmul(g, b.transpose(-1, -2)), a.shape()) : Tensor();
                  Tensor gb;
                  if (nb && b.dim() == 2) {
                    gb = matmul(as_matrix(a).t(), as_matrix(g));
                  } else if (nb) {
                    gb = sum_to(matmul(a.transpose(-1, -2), g), b.shape());
                  }
                  return Grads{ga, gb};
                });
}

void check_linear_args(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_same_dtype(x, weight, "linear");
  check_same_device(x, weight, "linear");
  TORUS_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features), got {}",
              weight.shape_str());
  TORUS_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1),
              "linear: input {} must end in in_features = {} to match weight {}", x.shape_str(),
              weight.size(1), weight.shape_str());
  if (!bias.defined()) return;
  check_same_dtype(x, bias, "linear");
  check_same_device(x, bias, "linear");
  TORUS_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0),
              "linear: bias must have shape ({}) to match weight {}, got {}", weight.size(0),
              weight.shape_str(), bias.shape_str());
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  TORUS_PROFILE_OP("matmul");
  check_same_dtype(a, b, "matmul");
  check_same_device(a, b, "matmul");
  TORUS_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least 1 dim, got {} and {}",
              a.shape_str(), b.shape_str());
  // As torch.matmul: a vector a is a (1, k) row, a vector b a (k, 1) column, and the
  // added dim is removed from the result.
  const bool vector_a = a.dim() == 1, vector_b = b.dim() == 1;
  const Tensor a2 = vector_a ? a.unsqueeze(0) : a;
  const Tensor b2 = vector_b ? b.unsqueeze(-1) : b;
  TORUS_CHECK(a2.size(-1) == b2.size(-2), "matmul: shapes {} and {} cannot be multiplied ({} != {})",
              a.shape_str(), b.shape_str(), a2.size(-1), b2.size(-2));
  Tensor out = matmul_matrices(a2, b2);
  if (vector_a) out = out.squeeze(-2);
  if (vector_b) out = out.squeeze(-1);
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TORUS_PROFILE_OP("linear");
  check_linear_args(x, weight, bias);
  // x (*, in) as x2 (M, in); out2 (M, out) = x2 · weightᵀ + bias, one GEMM reading weight
  // in place (the transposed view of a row-major weight is GEMM's trans_b).
  const Tensor x2 = as_matrix(autocast_operand(x.detach()));
  Tensor out2 = Tensor::empty({x2.size(0), weight.size(0)}, x.dtype(), x.device());
  if (bias.defined()) out2.copy_(bias.detach());  // broadcast over rows; GEMM adds onto it
  gemm_batched(x2, gemm_ready(autocast_operand(weight.detach()).t()), out2, bias.defined() ? 1.0 : 0.0);
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(weight.size(0));
  // y = x·Wᵀ + b: dx = g·W, dW = gᵀ·x summed over all rows of x (one GEMM, gᵀ read in place
  // as trans_a), db = the sum of g over rows.
  return record("linear", out2.view(out_shape), {x, weight, bias},
                [x = x.detach(), weight = weight.detach(), nx = x.requires_grad(),
                 nw = weight.requires_grad(), nb = bias.defined() && bias.requires_grad(),
                 precision = autocast_dtype()](const Tensor& g) {
                  const AutocastGuard as_forward(precision);
                  Tensor gx = nx ? matmul(g, weight) : Tensor();
                  const Tensor g2 = nw || nb ? as_matrix(g) : Tensor();
                  Tensor gw = nw ? matmul(g2.t(), as_matrix(x)) : Tensor();
                  Tensor gb = nb ? sum(g2, {0}) : Tensor();
                  return Grads{gx, gw, gb};
                });
}

Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias, GeluApproximation approximate) {
  check_linear_args(x, weight, bias);
  if (!cuda_kernels::on_cuda(x) || !bias.defined() || x.dtype() != DType::f32)
    return gelu(linear(x, weight, bias), approximate);
  TORUS_PROFILE_OP("linear_gelu");
  const bool tanh = approximate == GeluApproximation::tanh;
  // z (M, out) = x2 · weightᵀ without the bias, which the GELU kernel adds on its way.
  const Tensor x2 = as_matrix(autocast_operand(x.detach()));
  Tensor z = Tensor::empty({x2.size(0), weight.size(0)}, x.dtype(), x.device());
  gemm_batched(x2, gemm_ready(autocast_operand(weight.detach()).t()), z, 0.0);
  const Tensor y = cuda_nn_kernels::bias_gelu(z, bias.detach(), tanh);
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(weight.size(0));
  // With dz the gradient at z + bias (from the GELU kernel's backward, which also sums it
  // over rows into db): dx = dz·W, dW = dzᵀ·x, as linear's.
  return record("linear_gelu", y.view(out_shape), {x, weight, bias},
                [x = x.detach(), weight = weight.detach(), bias = bias.detach(), z, tanh, nx = x.requires_grad(),
                 nw = weight.requires_grad(), nb = bias.requires_grad(),
                 precision = autocast_dtype()](const Tensor& g) {
                  const AutocastGuard as_forward(precision);
                  const cuda_nn_kernels::BiasGeluGrads d =
                      cuda_nn_kernels::bias_gelu_backward(z, bias, as_matrix(g), tanh, nb);
                  Tensor gx = nx ? matmul(d.dx, weight).view(x.shape()) : Tensor();
                  Tensor gw = nw ? matmul(d.dx.t(), as_matrix(x)) : Tensor();
                  return Grads{gx, gw, d.dbias};
                });
}

void register_linalg_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  const double r = 1e-4;  // GEMM accumulates in a different order from PyTorch
  auto mm = [](const V& x) { return matmul(x[0], x[1]); };
  const std::string torch_mm = "torch.matmul(a, b)";
  s.push_back({"matmul/dot", {I::real({5}), I::real({5})}, mm, torch_mm, r});
  s.push_back({"matmul/matrix_vector", {I::real({3, 4}), I::real({4})}, mm, torch_mm, r});
  s.push_back({"matmul/vector_matrix", {I::real({4}), I::real({4, 3})}, mm, torch_mm, r});
  s.push_back({"matmul/matrix", {I::real({3, 4}), I::real({4, 5})}, mm, torch_mm, r});
  s.push_back({"matmul/transposed", {I::strided({3, 4}), I::strided({4, 5})}, mm, torch_mm, r});
  s.push_back({"matmul/batched_3d_2d", {I::real({2, 3, 4}), I::real({4, 5})}, mm, torch_mm, r});
  s.push_back({"matmul/batched_strided", {I::strided({2, 3, 4}), I::strided({4, 5})}, mm, torch_mm, r});
  s.push_back({"matmul/batched_4d", {I::real({3, 2, 4, 5}), I::strided({3, 2, 5, 3})}, mm, torch_mm, r});
  s.push_back({"matmul/batched_3d_3d", {I::real({2, 3, 4}), I::strided({2, 4, 2})}, mm, torch_mm, r});
  s.push_back({"matmul/matrix_batched", {I::real({3, 4}), I::real({2, 4, 2})}, mm, torch_mm, r});
  s.push_back({"matmul/broadcast_batch", {I::real({2, 1, 3, 4}), I::real({3, 4, 5})}, mm, torch_mm, r});
  s.push_back({"matmul/batched_vector", {I::real({2, 3, 4}), I::real({4})}, mm, torch_mm, r});
  s.push_back({"matmul/vector_batched", {I::real({3}), I::real({2, 3, 4})}, mm, torch_mm, r});

  auto lin = [](const V& x) { return linear(x[0], x[1], x.size() > 2 ? x[2] : Tensor()); };
  s.push_back({"linear/bias", {I::real({3, 4}), I::real({5, 4}), I::real({5})}, lin, "F.linear(a, b, c)", r});
  s.push_back({"linear/no_bias", {I::real({3, 4}), I::real({5, 4})}, lin, "F.linear(a, b)", r});
  s.push_back({"linear/3d_input", {I::real({2, 3, 4}), I::real({5, 4}), I::real({5})}, lin, "F.linear(a, b, c)", r});
  s.push_back({"linear/strided_weight", {I::real({3, 4}), I::strided({5, 4}), I::real({5})}, lin, "F.linear(a, b, c)", r});
  s.push_back({"linear/strided_input", {I::strided({2, 3, 4}), I::real({5, 4})}, lin, "F.linear(a, b)", r});
  s.push_back({"linear/vector_input", {I::real({4}), I::real({3, 4}), I::real({3})}, lin, "F.linear(a, b, c)", r});
  s.push_back({"linear/constant_weight", {I::real({3, 4}), I::constant({5, 4}), I::real({5})}, lin, "F.linear(a, b, c)", r});

  auto lin_gelu = [](GeluApproximation approximate) {
    return [approximate](const V& x) { return linear_gelu(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), approximate); };
  };
  const auto erf = lin_gelu(GeluApproximation::none), tanh = lin_gelu(GeluApproximation::tanh);
  s.push_back({"linear_gelu/erf", {I::real({3, 4}), I::real({5, 4}), I::real({5})}, erf, "F.gelu(F.linear(a, b, c))", r});
  s.push_back({"linear_gelu/tanh", {I::real({3, 4}), I::real({5, 4}), I::real({5})}, tanh,
               "F.gelu(F.linear(a, b, c), approximate='tanh')", r});
  s.push_back({"linear_gelu/3d_strided_input", {I::strided({2, 3, 4}), I::real({5, 4}), I::real({5})}, erf,
               "F.gelu(F.linear(a, b, c))", r});
  s.push_back({"linear_gelu/constant_bias", {I::real({2, 3, 4}), I::real({5, 4}), I::constant({5})}, tanh,
               "F.gelu(F.linear(a, b, c), approximate='tanh')", r});
  s.push_back({"linear_gelu/no_bias", {I::real({3, 4}), I::real({5, 4})}, erf, "F.gelu(F.linear(a, b))", r});
}

}  // namespace torus
