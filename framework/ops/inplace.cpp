// In-place updates for optimizers and gradient accumulation. Not recorded by autograd:
// they overwrite values that a backward pass may still need, so they refuse tensors
// that are part of a graph.
#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/ops.h"

namespace torus {
namespace {

void check_writable(const Tensor& self, const Tensor* other, std::string_view op) {
  TORUS_CHECK(!GradMode::enabled() || !self.requires_grad() || !self.is_leaf(),
              "{}: in-place update of a leaf that requires grad; wrap it in NoGradGuard", op);
  TORUS_CHECK(!self.grad_fn(), "{}: in-place update of a tensor computed by an op ({})", op,
              self.grad_fn() ? self.grad_fn()->name() : "");
  if (other != nullptr) {
    check_same_dtype(self, *other, op);
    TORUS_CHECK(other->device() == self.device() || (other->dim() == 0 && other->device().is_cpu()),
                "{}: the update is on {}, the tensor updated on {}; move one with .to()", op, other->device().str(),
                self.device().str());
    TORUS_CHECK(broadcast_shapes({self.shape(), other->shape()}, op) == self.shape(),
                "{}: shape {} does not broadcast to {}", op, other->shape_str(), self.shape_str());
  }
}

using cuda_kernels::Binary;

// On a device: the result computed out of place by the binary kernels, then copied in
// (two passes over memory instead of one, until fused in-place kernels exist).
Tensor scaled_on_device(const Tensor& t, double factor, std::string_view op) {
  return factor == 1.0 ? t : cuda_kernels::binary(Binary::mul, t, Tensor::scalar(factor, t.dtype()), op);
}

}  // namespace

void axpby_(const Tensor& self, double a, const Tensor& other, double b) {
  check_writable(self, &other, "axpby_");
  if (cuda_kernels::on_cuda(self))
    return self.copy_(cuda_kernels::binary(Binary::add, scaled_on_device(self, a, "axpby_"),
                                           scaled_on_device(other, b, "axpby_"), "axpby_"));
  auto loop = loop_shape<3>(self, {&self, &other});
  dispatch_floating(self.dtype(), "axpby_", [&]<class T>() {
    const T ta = static_cast<T>(a), tb = static_cast<T>(b);
    cpu::binary_loop(loop, self.data<T>(), self.data<T>(), other.data<T>(),
                     [ta, tb](T x, T y) { return ta * x + tb * y; });
  });
}

void add_(const Tensor& self, const Tensor& other, double alpha) {
  check_writable(self, &other, "add_");
  if (cuda_kernels::on_cuda(self))
    return self.copy_(cuda_kernels::binary(Binary::add, self, scaled_on_device(other, alpha, "add_"), "add_"));
  auto loop = loop_shape<3>(self, {&self, &other});
  dispatch_floating(self.dtype(), "add_", [&]<class T>() {
    const T t_alpha = static_cast<T>(alpha);
    cpu::binary_loop(loop, self.data<T>(), self.data<T>(), other.data<T>(),
                     [t_alpha](T x, T y) { return x + t_alpha * y; });
  });
}

void mul_(const Tensor& self, double factor) {
  check_writable(self, nullptr, "mul_");
  if (cuda_kernels::on_cuda(self)) {
    if (factor != 1.0) self.copy_(scaled_on_device(self, factor, "mul_"));
    return;
  }
  auto loop = loop_shape<2>(self, {&self});
  dispatch_floating(self.dtype(), "mul_", [&]<class T>() {
    const T f = static_cast<T>(factor);
    cpu::unary_loop(loop, self.data<T>(), self.data<T>(), [f](T x) { return x * f; });
  });
}

}  // namespace torus
