// cuda_kernels.h in a build without CUDA: unreachable (device tensors cannot be made),
// but each still refuses by name rather than doing nothing.
#include "framework/ops/cuda_kernels.h"

#include "framework/tensor/device_backend.h"

namespace torus::cuda_kernels {
namespace {

[[noreturn]] void refuse(std::string_view op, const Tensor& t) {
  throw NotImplementedError(fmt::format("{}: {}", op, device_backend::why_unavailable(t.device())));
}

}  // namespace

Tensor binary(Binary, const Tensor& a, const Tensor&, std::string_view name) { refuse(name, a); }
Tensor compare(Compare, const Tensor& a, const Tensor&, std::string_view name) { refuse(name, a); }
Tensor unary(Unary, const Tensor& x, std::string_view name) { refuse(name, x); }
Tensor unary_backward(UnaryGrad, const Tensor& saved, const Tensor&, std::string_view name) { refuse(name, saved); }
Tensor where(const Tensor&, const Tensor& a, const Tensor&) { refuse("where", a); }
void gemm(const GemmCall&, const Tensor& a, const std::vector<int64_t>&, const Tensor&, const std::vector<int64_t>&,
          double, const Tensor&) {
  refuse("matmul", a);
}
void adamw(const Tensor& param, const Tensor&, const Tensor&, const Tensor&, const AdamWScalars&, const Tensor&) {
  refuse("AdamW", param);
}
void sum_middle(const Tensor& in, const Tensor&, int64_t, int64_t, int64_t) { refuse("sum", in); }
void max_middle(const Tensor& in, const Tensor&, const Tensor&, int64_t, int64_t, int64_t) { refuse("max", in); }
void max_middle_backward(const Tensor& grad_out, const Tensor&, const Tensor&, int64_t, int64_t, int64_t) {
  refuse("max backward", grad_out);
}

}  // namespace torus::cuda_kernels
