// Helpers for elementwise op families: allocate the broadcast output, dispatch the
// dtype, run a functor from kernels/common/functors.h through the CPU loops.
#pragma once

#include <string_view>

#include "framework/tensor/iteration.h"
#include "framework/tensor/tensor.h"

namespace torus {

inline void check_same_dtype(const Tensor& a, const Tensor& b, std::string_view op) {
  TORUS_CHECK(a.dtype() == b.dtype(), "{}: dtypes differ ({} and {}); convert one with .to()", op,
              dtype_name(a.dtype()), dtype_name(b.dtype()));
}

inline void check_same_device(const Tensor& a, const Tensor& b, std::string_view op) {
  TORUS_CHECK(a.device() == b.device(), "{}: operands on different devices ({} and {}); move one with .to()", op,
              a.device().str(), b.device().str());
}

inline void check_cpu(const Tensor& t, std::string_view op) {
  if (!t.device().is_cpu())
    throw NotImplementedError(fmt::format("{}: no kernel for device {}", op, t.device().str()));
}

// out[i] = f(x[i]) in x's floating dtype.
template <class F>
Tensor map_float(const Tensor& x, std::string_view op, const F& f) {
  check_cpu(x, op);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  auto loop = loop_shape<2>(out, {&x});
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    cpu::unary_loop(loop, out.data<T>(), x.data<T>(), [&f](T v) { return static_cast<T>(f(v)); });
  });
  return out;
}

// out = f(a, b) with broadcasting, a and b of one floating dtype.
template <class F>
Tensor zip_float(const Tensor& a, const Tensor& b, std::string_view op, const F& f) {
  check_cpu(a, op);
  check_cpu(b, op);
  check_same_dtype(a, b, op);
  Tensor out = Tensor::empty(broadcast_shapes({a.shape(), b.shape()}, op), a.dtype());
  auto loop = loop_shape<3>(out, {&a, &b});
  dispatch_floating(a.dtype(), op, [&]<class T>() {
    cpu::binary_loop(loop, out.data<T>(), a.data<T>(), b.data<T>(),
                     [&f](T x, T y) { return static_cast<T>(f(x, y)); });
  });
  return out;
}

}  // namespace torus
