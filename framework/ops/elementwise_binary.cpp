// Broadcasting binary ops. Backward of each reduces the gradient back to the shape of
// each input (sum_to) over the dims broadcasting expanded.
#include "framework/profile/profiler.h"
#include "framework/autograd/node.h"
#include "framework/tensor/convert.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/elementwise.h"
#include "framework/ops/op_info.h"
#include "framework/ops/ops.h"
#include "kernels/common/functors.h"

namespace torus {
namespace {

using Grads = std::vector<Tensor>;

// Either operand on a device: the op runs there (the other is on it, or a cpu scalar).
bool on_cuda(const Tensor& a, const Tensor& b) { return cuda_kernels::on_cuda(a) || cuda_kernels::on_cuda(b); }

// Gradient of an input that needs one, reduced to its shape; undefined otherwise.
Tensor input_grad(bool needed, const Tensor& g, const Shape& shape) {
  return needed ? sum_to(g, shape) : Tensor();
}

// f(a, b) by the CPU loops, or on the operands' device by the kernel of the same functor.
template <class F>
Tensor zip_binary(const Tensor& a, const Tensor& b, std::string_view op, cuda_kernels::Binary on_device, const F& f) {
  return on_cuda(a, b) ? cuda_kernels::binary(on_device, a, b, op) : zip_float(a, b, op, f);
}

template <class F>
Tensor compare(const Tensor& a, const Tensor& b, std::string_view op, cuda_kernels::Compare on_device, const F& f) {
  if (on_cuda(a, b)) return cuda_kernels::compare(on_device, a, b, op);
  check_cpu(a, op);
  check_same_dtype(a, b, op);
  Tensor out = Tensor::empty(broadcast_shapes({a.shape(), b.shape()}, op), DType::u8);
  auto loop = loop_shape<3>(out, {&a, &b});
  dispatch_all(a.dtype(), [&]<class T>() {
    cpu::binary_loop(loop, out.data<uint8_t>(), a.data<T>(), b.data<T>(),
                     [&f](T x, T y) { return static_cast<uint8_t>(f(convert<double>(x), convert<double>(y))); });
  });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  TORUS_PROFILE_OP("add");
  Tensor out = on_cuda(a, b) ? cuda_kernels::binary(cuda_kernels::Binary::add, a, b, "add")
                               : zip_float(a, b, "add", fn::Add{});
  // d(a+b)/da = d(a+b)/db = 1
  return record("add", out, {a, b},
                [sa = a.shape(), sb = b.shape(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
                  return Grads{input_grad(na, g, sa), input_grad(nb, g, sb)};
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  TORUS_PROFILE_OP("sub");
  Tensor out = on_cuda(a, b) ? cuda_kernels::binary(cuda_kernels::Binary::sub, a, b, "sub")
                               : zip_float(a, b, "sub", fn::Sub{});
  // d(a-b)/da = 1, d(a-b)/db = -1
  return record("sub", out, {a, b},
                [sa = a.shape(), sb = b.shape(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
                  return Grads{input_grad(na, g, sa), nb ? sum_to(neg(g), sb) : Tensor()};
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  TORUS_PROFILE_OP("mul");
  Tensor out = on_cuda(a, b) ? cuda_kernels::binary(cuda_kernels::Binary::mul, a, b, "mul")
                               : zip_float(a, b, "mul", fn::Mul{});
  // d(ab)/da = b, d(ab)/db = a
  return record("mul", out, {a, b}, [a = a.detach(), b = b.detach(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
    return Grads{na ? sum_to(mul(g, b), a.shape()) : Tensor(), nb ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  TORUS_PROFILE_OP("div");
  Tensor out = on_cuda(a, b) ? cuda_kernels::binary(cuda_kernels::Binary::div, a, b, "div")
                               : zip_float(a, b, "div", fn::Div{});
  // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -out/b
  return record("div", out, {a, b}, [a = a.detach(), b = b.detach(), out = out.detach(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
    return Grads{na ? sum_to(div(g, b), a.shape()) : Tensor(),
                 nb ? sum_to(neg(mul(g, div(out, b))), b.shape()) : Tensor()};
  });
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  TORUS_PROFILE_OP("pow");
  Tensor out = zip_binary(base, exponent, "pow", cuda_kernels::Binary::pow, fn::Pow{});
  // d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a
  return record("pow", out, {base, exponent}, [a = base.detach(), b = exponent.detach(), out = out.detach(), na = base.requires_grad(), nb = exponent.requires_grad()](const Tensor& g) {
    return Grads{na ? sum_to(mul(g, mul(b, pow(a, sub(b, Tensor::scalar(1, b.dtype()))))), a.shape()) : Tensor(),
                 nb ? sum_to(mul(g, mul(out, log(a))), b.shape()) : Tensor()};
  });
}

// The gradient goes to the larger (smaller) input; ties split it evenly, as in PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b) {
  TORUS_PROFILE_OP("maximum");
  Tensor out = zip_binary(a, b, "maximum", cuda_kernels::Binary::maximum, fn::Maximum{});
  return record("maximum", out, {a, b}, [a = a.detach(), b = b.detach(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
    Tensor share = where(eq(a, b), g * 0.5, g);
    Tensor zero = Tensor::zeros({}, g.dtype());
    return Grads{na ? sum_to(where(ge(a, b), share, zero), a.shape()) : Tensor(),
                 nb ? sum_to(where(le(a, b), share, zero), b.shape()) : Tensor()};
  });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  TORUS_PROFILE_OP("minimum");
  Tensor out = zip_binary(a, b, "minimum", cuda_kernels::Binary::minimum, fn::Minimum{});
  return record("minimum", out, {a, b}, [a = a.detach(), b = b.detach(), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) {
    Tensor share = where(eq(a, b), g * 0.5, g);
    Tensor zero = Tensor::zeros({}, g.dtype());
    return Grads{na ? sum_to(where(le(a, b), share, zero), a.shape()) : Tensor(),
                 nb ? sum_to(where(ge(a, b), share, zero), b.shape()) : Tensor()};
  });
}

using cuda_kernels::Compare;
Tensor eq(const Tensor& a, const Tensor& b) { return compare(a, b, "eq", Compare::eq, [](double x, double y) { return x == y; }); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(a, b, "gt", Compare::gt, [](double x, double y) { return x > y; }); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(a, b, "lt", Compare::lt, [](double x, double y) { return x < y; }); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(a, b, "ge", Compare::ge, [](double x, double y) { return x >= y; }); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(a, b, "le", Compare::le, [](double x, double y) { return x <= y; }); }

void register_elementwise_binary_samples(std::vector<OpSample>& s) {
  using I = SampleInput;
  auto two = [](auto f) { return [f](const std::vector<Tensor>& x) { return f(x[0], x[1]); }; };
  s.push_back({"add/same", {I::real({3, 4}), I::real({3, 4})}, two([](auto& a, auto& b) { return add(a, b); }), "a + b"});
  s.push_back({"add/broadcast", {I::real({2, 3, 4}), I::real({3, 1})}, two([](auto& a, auto& b) { return add(a, b); }), "a + b"});
  s.push_back({"add/strided", {I::strided({4, 3}), I::real({3})}, two([](auto& a, auto& b) { return add(a, b); }), "a + b"});
  s.push_back({"add/scalar_tensor", {I::real({}), I::real({2, 3})}, two([](auto& a, auto& b) { return add(a, b); }), "a + b"});
  s.push_back({"sub/broadcast", {I::real({4, 1}), I::strided({3, 4, 5})}, two([](auto& a, auto& b) { return sub(a, b); }), "a - b"});
  s.push_back({"mul/broadcast", {I::real({2, 1, 4}), I::real({3, 1})}, two([](auto& a, auto& b) { return mul(a, b); }), "a * b"});
  s.push_back({"mul/strided", {I::strided({5, 4}), I::strided({5, 4})}, two([](auto& a, auto& b) { return mul(a, b); }), "a * b"});
  s.push_back({"div/broadcast", {I::real({3, 4}), I::positive({4})}, two([](auto& a, auto& b) { return div(a, b); }), "a / b"});
  s.push_back({"pow/tensor", {I::positive({3, 4}), I::real({3, 4})}, two([](auto& a, auto& b) { return pow(a, b); }), "torch.pow(a, b)"});
  s.push_back({"maximum/broadcast", {I::real({3, 4}), I::real({4})}, two([](auto& a, auto& b) { return maximum(a, b); }), "torch.maximum(a, b)"});
  s.push_back({"minimum/broadcast", {I::real({3, 4}), I::real({3, 1})}, two([](auto& a, auto& b) { return minimum(a, b); }), "torch.minimum(a, b)"});
  s.push_back({"gt/broadcast", {I::constant({3, 4}), I::constant({4})}, two([](auto& a, auto& b) { return gt(a, b); }), "(a > b).to(torch.uint8)"});
}

}  // namespace torus
