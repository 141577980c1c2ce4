// Unary elementwise ops. Each backward is written from the input x or the output y,
// whichever the derivative is cheaper in.
#include "framework/profile/profiler.h"
#include "framework/autograd/node.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/cuda_nn_kernels.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "kernels/common/functors.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

using cuda_kernels::Unary;
using cuda_kernels::UnaryGrad;

// f(x) by the CPU loops, or on x's device by the kernel of the same functor.
template <class F>
Tensor map_unary(const Tensor& x, std::string_view op, Unary on_device, const F& f) {
  return cuda_kernels::on_cuda(x) ? cuda_kernels::unary(on_device, x, op) : map_float(x, op, f);
}

// g * f'(saved), with f' given as a backward functor of (saved, g), on the cpu (GELU's
// device backward is its own kernel).
template <class Backward>
Tensor chain(const Tensor& saved, const Tensor& g, std::string_view op) {
  return zip_float(saved, g, op, Backward{});
}

// The same on the cpu or on the saved tensor's device.
template <class Backward>
Tensor chain(const Tensor& saved, const Tensor& g, std::string_view op, UnaryGrad on_device) {
  return cuda_kernels::on_cuda(saved) ? cuda_kernels::unary_backward(on_device, saved, g, op)
                                      : zip_float(saved, g, op, Backward{});
}

// clamp on a device, from the binary kernels: maximum then minimum with the bounds (NaN
// passes through both, as on the cpu), and the gradient where lo <= x <= hi.
Tensor clamp_on_device(const Tensor& x, double lo, double hi) {
  using cuda_kernels::Binary;
  const Tensor low = Tensor::scalar(lo, x.dtype()), high = Tensor::scalar(hi, x.dtype());
  Tensor y = cuda_kernels::binary(Binary::minimum, cuda_kernels::binary(Binary::maximum, x, low, "clamp"), high,
                                  "clamp");
  return record("clamp", y, {x}, [x = x.detach(), low, high](const Tensor& g) {
    using cuda_kernels::Compare;
    const Tensor above_low = cuda_kernels::compare(Compare::ge, x, low, "clamp backward").to(x.dtype());
    const Tensor below_high = cuda_kernels::compare(Compare::le, x, high, "clamp backward").to(x.dtype());
    return Grads{mul(g, mul(above_low, below_high))};
  });
}

}  // namespace

Tensor neg(const Tensor& x) {
  TORUS_PROFILE_OP("neg");
  // On a device, a multiplication by -1 (exact) until a unary kernel exists.
  Tensor out = cuda_kernels::on_cuda(x)
                   ? cuda_kernels::binary(cuda_kernels::Binary::mul, x, Tensor::scalar(-1.0, x.dtype()), "neg")
                   : map_float(x, "neg", fn::Neg{});
  return record("neg", out, {x},
                [](const Tensor& g) { return Grads{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  TORUS_PROFILE_OP("exp");
  Tensor y = map_unary(x, "exp", Unary::exp, fn::Exp{});
  // d e^x = e^x
  return record("exp", y, {x}, [y = y.detach()](const Tensor& g) { return Grads{mul(g, y)}; });
}

Tensor log(const Tensor& x) {
  TORUS_PROFILE_OP("log");
  // d ln x = 1/x
  return record("log", map_unary(x, "log", Unary::log, fn::Log{}), {x},
                [x = x.detach()](const Tensor& g) { return Grads{div(g, x)}; });
}

Tensor sqrt(const Tensor& x) {
  TORUS_PROFILE_OP("sqrt");
  Tensor y = map_unary(x, "sqrt", Unary::sqrt, fn::Sqrt{});
  // d sqrt(x) = 1 / (2 sqrt(x))
  return record("sqrt", y, {x},
                [y = y.detach()](const Tensor& g) { return Grads{div(g, y * 2.0)}; });
}

Tensor rsqrt(const Tensor& x) {
  TORUS_PROFILE_OP("rsqrt");
  Tensor y = map_unary(x, "rsqrt", Unary::rsqrt, fn::Rsqrt{});
  // d x^(-1/2) = -1/2 x^(-3/2) = -y^3 / 2
  return record("rsqrt", y, {x}, [y = y.detach()](const Tensor& g) {
    return Grads{mul(g, mul(square(y), y) * -0.5)};
  });
}

Tensor abs(const Tensor& x) {
  TORUS_PROFILE_OP("abs");
  // d |x| = sign(x) (0 at 0, as PyTorch)
  return record("abs", map_unary(x, "abs", Unary::abs, fn::Abs{}), {x}, [x = x.detach()](const Tensor& g) {
    return Grads{mul(g, map_unary(x, "sign", Unary::sign, fn::Sign{}))};
  });
}

Tensor tanh(const Tensor& x) {
  TORUS_PROFILE_OP("tanh");
  Tensor y = map_unary(x, "tanh", Unary::tanh, fn::Tanh{});
  return record("tanh", y, {x}, [y = y.detach()](const Tensor& g) {
    return Grads{chain<fn::TanhBackward>(y, g, "tanh backward", UnaryGrad::tanh)};
  });
}

Tensor sigmoid(const Tensor& x) {
  TORUS_PROFILE_OP("sigmoid");
  Tensor y = map_unary(x, "sigmoid", Unary::sigmoid, fn::Sigmoid{});
  return record("sigmoid", y, {x}, [y = y.detach()](const Tensor& g) {
    return Grads{chain<fn::SigmoidBackward>(y, g, "sigmoid backward", UnaryGrad::sigmoid)};
  });
}

Tensor relu(const Tensor& x) {
  TORUS_PROFILE_OP("relu");
  // d relu = 1 where x > 0 (0 at 0, as PyTorch)
  return record("relu", map_unary(x, "relu", Unary::relu, fn::Relu{}), {x}, [x = x.detach()](const Tensor& g) {
    return Grads{chain<fn::ReluBackward>(x, g, "relu backward", UnaryGrad::relu)};
  });
}

Tensor gelu(const Tensor& x, GeluApproximation approximate) {
  TORUS_PROFILE_OP("gelu");
  // On a device, the bias-GELU kernel with a zero bias; both forms share its functors.
  const bool on_cuda = cuda_kernels::on_cuda(x);
  if (approximate == GeluApproximation::tanh) {
    Tensor y = on_cuda ? cuda_nn_kernels::gelu(x.detach(), /*tanh_approximation=*/true)
                       : map_float(x, "gelu", fn::GeluTanh{});
    return record("gelu_tanh", y, {x}, [x = x.detach(), on_cuda](const Tensor& g) {
      return Grads{on_cuda ? cuda_nn_kernels::gelu_backward(x, g, /*tanh_approximation=*/true)
                           : chain<fn::GeluTanhBackward>(x, g, "gelu backward")};
    });
  }
  Tensor y = on_cuda ? cuda_nn_kernels::gelu(x.detach(), /*tanh_approximation=*/false)
                     : map_float(x, "gelu", fn::GeluErf{});
  return record("gelu", y, {x}, [x = x.detach(), on_cuda](const Tensor& g) {
    return Grads{on_cuda ? cuda_nn_kernels::gelu_backward(x, g, /*tanh_approximation=*/false)
                         : chain<fn::GeluErfBackward>(x, g, "gelu backward")};
  });
}

Tensor square(const Tensor& x) {
  TORUS_PROFILE_OP("square");
  // d x^2 = 2x
  return record("square", map_unary(x, "square", Unary::square, fn::Square{}), {x},
                [x = x.detach()](const Tensor& g) { return Grads{mul(g, x * 2.0)}; });
}

Tensor pow(const Tensor& base, double exponent) {
  TORUS_PROFILE_OP("pow");
  Tensor y = cuda_kernels::on_cuda(base)
                 ? cuda_kernels::binary(cuda_kernels::Binary::pow, base, Tensor::scalar(exponent, base.dtype()), "pow")
                 : map_float(base, "pow", [exponent](auto v) { return std::pow(v, static_cast<decltype(v)>(exponent)); });
  // d x^p = p x^(p-1)
  return record("pow_scalar", y, {base}, [x = base.detach(), exponent](const Tensor& g) {
    return Grads{mul(g, pow(x, exponent - 1.0) * exponent)};
  });
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  TORUS_PROFILE_OP("clamp");
  TORUS_CHECK(!min || !max || *min <= *max, "clamp: min {} is greater than max {}", *min, *max);
  const double lo = min.value_or(-std::numeric_limits<double>::infinity());
  const double hi = max.value_or(std::numeric_limits<double>::infinity());
  if (cuda_kernels::on_cuda(x)) return clamp_on_device(x, lo, hi);
  Tensor y = map_float(x, "clamp", [lo, hi](auto v) {
    using T = decltype(v);
    return v < static_cast<T>(lo) ? static_cast<T>(lo) : (v > static_cast<T>(hi) ? static_cast<T>(hi) : v);
  });
  // The gradient passes where the input was inside [min, max] (bounds included, as PyTorch).
  return record("clamp", y, {x}, [x = x.detach(), lo, hi](const Tensor& g) {
    Tensor inside = map_float(x, "clamp backward", [lo, hi](auto v) {
      using T = decltype(v);
      return (v >= static_cast<T>(lo) && v <= static_cast<T>(hi)) ? T(1) : T(0);
    });
    return Grads{mul(g, inside)};
  });
}

void register_elementwise_unary_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  using V = std::vector<Tensor>;
  auto add1 = [&s](std::string name, I in, Tensor (*f)(const Tensor&), std::string torch) {
    s.push_back({std::move(name), {std::move(in)}, [f](const V& x) { return f(x[0]); }, std::move(torch)});
  };
  add1("neg/strided", I::strided({3, 4}), neg, "-a");
  add1("exp/basic", I::real({3, 4}), exp, "torch.exp(a)");
  add1("log/positive", I::positive({3, 4}), log, "torch.log(a)");
  add1("sqrt/positive", I::positive({5}), sqrt, "torch.sqrt(a)");
  add1("rsqrt/positive", I::positive({2, 3}), rsqrt, "torch.rsqrt(a)");
  add1("abs/strided", I::strided({4, 3}), abs, "torch.abs(a)");
  add1("tanh/basic", I::real({3, 4}), tanh, "torch.tanh(a)");
  add1("sigmoid/basic", I::real({3, 4}), sigmoid, "torch.sigmoid(a)");
  add1("relu/strided", I::strided({4, 5}), relu, "torch.relu(a)");
  add1("square/basic", I::real({6}), square, "a * a");
  s.push_back({"gelu/erf", {I::real({3, 4})}, [](const V& x) { return gelu(x[0]); }, "F.gelu(a)"});
  s.push_back({"gelu/tanh", {I::strided({3, 4})}, [](const V& x) { return gelu(x[0], GeluApproximation::tanh); }, "F.gelu(a, approximate='tanh')"});
  s.push_back({"pow/scalar", {I::positive({3, 4})}, [](const V& x) { return pow(x[0], 2.5); }, "torch.pow(a, 2.5)"});
  s.push_back({"clamp/both", {I::real({4, 5})}, [](const V& x) { return clamp(x[0], -0.5, 0.7); }, "torch.clamp(a, -0.5, 0.7)"});
  s.push_back({"clamp/min_only", {I::real({4, 5})}, [](const V& x) { return clamp(x[0], 0.1, std::nullopt); }, "torch.clamp(a, min=0.1)"});
}

}  // namespace torus
