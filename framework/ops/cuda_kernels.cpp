// cuda_kernels.h on the CUDA backend: tensors to device pointers, layouts, the launch.
#include "framework/ops/cuda_kernels.h"

#include <cstddef>
#include <optional>

#include "framework/ops/autocast.h"
#include "framework/ops/cuda_launch.h"
#include "framework/ops/elementwise.h"
#include "framework/tensor/iteration.h"
#include "framework/tensor/tensor.h"
#include "kernels/cuda/adamw.h"
#include "kernels/cuda/broadcast.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/reduce_dim.h"
#include "kernels/cuda/unary.h"
#include "kernels/cuda/where.h"

namespace torus::cuda_kernels {
namespace {

using cuda_launch::check_f32;
using cuda_launch::context_of;
using cuda_launch::operand_on;

cuda::BinaryOp binary_op(Binary op) {
  switch (op) {
    case Binary::add: return cuda::BinaryOp::add;
    case Binary::sub: return cuda::BinaryOp::sub;
    case Binary::mul: return cuda::BinaryOp::mul;
    case Binary::div: return cuda::BinaryOp::div;
    case Binary::pow: return cuda::BinaryOp::pow;
    case Binary::maximum: return cuda::BinaryOp::maximum;
    case Binary::minimum: return cuda::BinaryOp::minimum;
  }
  throw ValueError("unknown binary op");
}

cuda::CompareOp compare_op(Compare op) {
  switch (op) {
    case Compare::eq: return cuda::CompareOp::eq;
    case Compare::lt: return cuda::CompareOp::lt;
    case Compare::gt: return cuda::CompareOp::gt;
    case Compare::le: return cuda::CompareOp::le;
    case Compare::ge: return cuda::CompareOp::ge;
  }
  throw ValueError("unknown comparison");
}

// The operands of a broadcasting binary kernel on the device of the one that is on one,
// contiguous f32.
struct Operands {
  Tensor a, b;
  Shape shape;
  cuda::BroadcastLayout layout;
};

Operands binary_operands(const Tensor& a_in, const Tensor& b_in, std::string_view name) {
  const Tensor& anchor = on_cuda(a_in) ? a_in : b_in;  // either side may be the cpu scalar
  Operands o{operand_on(a_in, anchor, name).contiguous(), operand_on(b_in, anchor, name).contiguous(), {}, {}};
  check_f32(o.a, name);
  check_f32(o.b, name);
  o.layout = cuda::broadcast_layout(o.a.shape(), o.b.shape());
  const std::vector<int64_t> shape = cuda::broadcast_shape(o.a.shape(), o.b.shape());
  o.shape = Shape(shape.begin(), shape.end());
  return o;
}

}  // namespace

Tensor binary(Binary op, const Tensor& a_in, const Tensor& b_in, std::string_view name) {
  const Operands o = binary_operands(a_in, b_in, name);
  Tensor out = Tensor::empty(o.shape, DType::f32, o.a.device());
  cuda::binary_forward(binary_op(op), static_cast<const float*>(o.a.raw_data()),
                       static_cast<const float*>(o.b.raw_data()), static_cast<float*>(out.raw_data()), o.layout,
                       context_of(out).compute_stream());
  return out;
}

Tensor compare(Compare op, const Tensor& a_in, const Tensor& b_in, std::string_view name) {
  const Operands o = binary_operands(a_in, b_in, name);
  Tensor out = Tensor::empty(o.shape, DType::u8, o.a.device());
  cuda::compare_forward(compare_op(op), static_cast<const float*>(o.a.raw_data()),
                        static_cast<const float*>(o.b.raw_data()), static_cast<uint8_t*>(out.raw_data()), o.layout,
                        context_of(out).compute_stream());
  return out;
}

namespace {

cuda::UnaryOp unary_op(Unary op) {
  switch (op) {
    case Unary::exp: return cuda::UnaryOp::exp;
    case Unary::log: return cuda::UnaryOp::log;
    case Unary::sqrt: return cuda::UnaryOp::sqrt;
    case Unary::rsqrt: return cuda::UnaryOp::rsqrt;
    case Unary::abs: return cuda::UnaryOp::abs;
    case Unary::tanh: return cuda::UnaryOp::tanh;
    case Unary::sigmoid: return cuda::UnaryOp::sigmoid;
    case Unary::relu: return cuda::UnaryOp::relu;
    case Unary::sign: return cuda::UnaryOp::sign;
    case Unary::square: return cuda::UnaryOp::square;
  }
  throw ValueError("unknown unary op");
}

cuda::UnaryBackward unary_grad(UnaryGrad op) {
  switch (op) {
    case UnaryGrad::relu: return cuda::UnaryBackward::relu;
    case UnaryGrad::tanh: return cuda::UnaryBackward::tanh;
    case UnaryGrad::sigmoid: return cuda::UnaryBackward::sigmoid;
  }
  throw ValueError("unknown unary gradient");
}

}  // namespace

Tensor unary(Unary op, const Tensor& x_in, std::string_view name) {
  check_f32(x_in, name);
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), DType::f32, x.device());
  cuda::unary_forward(unary_op(op), static_cast<const float*>(x.raw_data()), static_cast<float*>(y.raw_data()),
                      x.numel(), context_of(x).compute_stream());
  return y;
}

Tensor unary_backward(UnaryGrad op, const Tensor& saved_in, const Tensor& grad_in, std::string_view name) {
  check_f32(saved_in, name);
  check_f32(grad_in, name);
  const Tensor saved = saved_in.contiguous(), grad = operand_on(grad_in, saved_in, name).contiguous();
  TORUS_CHECK(saved.shape() == grad.shape(), "{} backward: gradient {} for a tensor of shape {}", name,
              grad.shape_str(), saved.shape_str());
  Tensor out = Tensor::empty(saved.shape(), DType::f32, saved.device());
  cuda::unary_backward(unary_grad(op), static_cast<const float*>(saved.raw_data()),
                       static_cast<const float*>(grad.raw_data()), static_cast<float*>(out.raw_data()), saved.numel(),
                       context_of(saved).compute_stream());
  return out;
}

Tensor where(const Tensor& condition_in, const Tensor& a_in, const Tensor& b_in) {
  const Tensor& anchor = on_cuda(a_in) ? a_in : b_in;  // either side may be a cpu scalar
  const Device device = anchor.device();
  const Tensor a = operand_on(a_in, anchor, "where").contiguous(), b = operand_on(b_in, anchor, "where").contiguous();
  check_f32(a, "where");
  check_f32(b, "where");
  TORUS_CHECK(condition_in.dtype() == DType::u8, "where: condition must be a u8 mask, got {}",
              dtype_name(condition_in.dtype()));
  // A cpu mask (a module's constant, such as attention's causal mask) is copied over.
  const Tensor condition = (condition_in.device() == device ? condition_in : condition_in.to(device)).contiguous();
  Shape shape = broadcast_shapes({condition.shape(), a.shape(), b.shape()}, "where");
  const cuda::WhereLayout layout = cuda::where_layout(shape, condition.shape(), a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, DType::f32, device);
  cuda::where_forward(static_cast<const uint8_t*>(condition.raw_data()), static_cast<const float*>(a.raw_data()),
                      static_cast<const float*>(b.raw_data()), static_cast<float*>(out.raw_data()), layout,
                      context_of(out).compute_stream());
  return out;
}

namespace {

// The common step of `offsets` if they step evenly (offsets[e] == e * step), else nullopt.
std::optional<int64_t> even_step(const std::vector<int64_t>& offsets) {
  const int64_t step = offsets.size() > 1 ? offsets[1] - offsets[0] : 0;
  for (size_t e = 0; e < offsets.size(); ++e)
    if (offsets[e] != static_cast<int64_t>(e) * step) return std::nullopt;
  return step;
}

}  // namespace

namespace {

cuda::BlasDtype blas_dtype(const Tensor& t, std::string_view role) {
  if (t.dtype() == DType::f32) return cuda::BlasDtype::f32;
  if (t.dtype() == DType::bf16) return cuda::BlasDtype::bf16;
  throw NotImplementedError(fmt::format("matmul: no CUDA GEMM for a {} {} (f32 or bf16)", dtype_name(t.dtype()), role));
}

// The element types of a GEMM: a and b alike, f32 operands with an f32 result.
cuda::GemmTypes gemm_types(const Tensor& a, const Tensor& b, const Tensor& out) {
  const cuda::GemmTypes types{blas_dtype(a, "operand"), blas_dtype(out, "result")};
  TORUS_CHECK(a.dtype() == b.dtype(), "matmul: operands of dtypes {} and {}", dtype_name(a.dtype()),
              dtype_name(b.dtype()));
  TORUS_CHECK(types.inputs == cuda::BlasDtype::bf16 || types.output == cuda::BlasDtype::f32,
              "matmul: f32 operands need an f32 result, not {}", dtype_name(out.dtype()));
  return types;
}

}  // namespace

void gemm(const GemmCall& call, const Tensor& a, const std::vector<int64_t>& a_offsets, const Tensor& b,
          const std::vector<int64_t>& b_offsets, double beta, const Tensor& out) {
  check_same_device(a, b, "matmul");
  check_same_device(a, out, "matmul");
  const cuda::GemmTypes types = gemm_types(a, b, out);
  cuda::DeviceContext& ctx = context_of(a);
  const cuda::GemmShape shape{call.trans_a, call.trans_b, call.m, call.n, call.k, call.lda, call.ldb, call.n};
  const auto* pa = static_cast<const std::byte*>(a.raw_data());
  const auto* pb = static_cast<const std::byte*>(b.raw_data());
  auto* pc = static_cast<std::byte*>(out.raw_data());
  const int64_t in_bytes = static_cast<int64_t>(dtype_size(a.dtype())), out_bytes = static_cast<int64_t>(dtype_size(out.dtype()));
  const auto step_a = even_step(a_offsets), step_b = even_step(b_offsets);
  const auto entries = static_cast<int64_t>(a_offsets.size());
  const cuda::GemmMath math =
      allow_tf32() && types.inputs == cuda::BlasDtype::f32 ? cuda::GemmMath::tf32 : cuda::GemmMath::f32;
  if (entries > 1 && step_a && step_b) {
    cuda::gemm_strided_batched(ctx.blas(), shape, {entries, *step_a, *step_b, call.m * call.n}, types, 1.0f, pa, pb,
                               static_cast<float>(beta), pc, math);
    return;
  }
  for (int64_t e = 0; e < entries; ++e)
    cuda::gemm(ctx.blas(), shape, types, 1.0f, pa + a_offsets[static_cast<size_t>(e)] * in_bytes,
               pb + b_offsets[static_cast<size_t>(e)] * in_bytes, static_cast<float>(beta),
               pc + e * call.m * call.n * out_bytes, math);
}

void adamw(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
           const AdamWScalars& scalars, const Tensor& grad_scale) {
  for (const Tensor* t : {&param, &grad, &exp_avg, &exp_avg_sq}) {
    check_f32(*t, "AdamW");
    TORUS_CHECK(t->device() == param.device() && t->is_contiguous() && t->numel() == param.numel(),
                "AdamW: parameter, gradient and moments must be contiguous tensors of {} elements on {}",
                param.numel(), param.device().str());
  }
  const Tensor scale = grad_scale.defined() ? grad_scale.to(DType::f32) : Tensor();
  TORUS_CHECK(!scale.defined() || (scale.numel() == 1 && scale.device() == param.device()),
              "AdamW: the gradient scale must be one value on {}", param.device().str());
  cuda::DeviceContext& ctx = context_of(param);
  const cuda::AdamWStep step{static_cast<float>(scalars.lr), static_cast<float>(scalars.beta1),
                             static_cast<float>(scalars.beta2), static_cast<float>(scalars.eps),
                             static_cast<float>(scalars.weight_decay), scalars.step};
  cuda::adamw_step(static_cast<float*>(param.raw_data()), static_cast<const float*>(grad.raw_data()),
                   static_cast<float*>(exp_avg.raw_data()), static_cast<float*>(exp_avg_sq.raw_data()), param.numel(),
                   step, scale.defined() ? static_cast<const float*>(scale.raw_data()) : nullptr,
                   ctx.compute_stream());
}

void sum_middle(const Tensor& in, const Tensor& out, int64_t outer, int64_t size, int64_t inner) {
  check_f32(in, "sum");
  cuda::DeviceContext& ctx = context_of(in);
  // Few outputs over a long dim (a bias gradient) sum in two stages through a workspace.
  const int64_t workspace_floats = cuda::reduce_dim_workspace(outer, size, inner);
  const Tensor workspace =
      workspace_floats > 0 ? Tensor::empty({workspace_floats}, DType::f32, in.device()) : Tensor();
  cuda::reduce_dim_forward(static_cast<const float*>(in.raw_data()), static_cast<float*>(out.raw_data()), nullptr,
                           outer, size, inner, cuda::ReduceDimOp::sum, ctx.compute_stream(),
                           workspace.defined() ? static_cast<float*>(workspace.raw_data()) : nullptr);
}

void max_middle(const Tensor& in, const Tensor& values, const Tensor& indices, int64_t outer, int64_t size,
                int64_t inner) {
  check_f32(in, "max");
  TORUS_ASSERT(in.is_contiguous() && values.is_contiguous() && indices.dtype() == DType::i64,
               "max: a contiguous input, values and i64 indices");
  cuda::reduce_dim_forward(static_cast<const float*>(in.raw_data()), static_cast<float*>(values.raw_data()),
                           static_cast<int64_t*>(indices.raw_data()), outer, size, inner, cuda::ReduceDimOp::max,
                           context_of(in).compute_stream());
}

void max_middle_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_in, int64_t outer,
                         int64_t size, int64_t inner) {
  check_f32(grad_out, "max backward");
  check_same_device(grad_out, indices, "max backward");
  TORUS_ASSERT(grad_out.is_contiguous() && grad_in.is_contiguous(), "max backward: contiguous gradients");
  cuda::reduce_dim_backward(static_cast<const float*>(grad_out.raw_data()),
                            static_cast<const int64_t*>(indices.raw_data()), static_cast<float*>(grad_in.raw_data()),
                            outer, size, inner, cuda::ReduceDimOp::max, context_of(grad_in).compute_stream());
}

}  // namespace torus::cuda_kernels
