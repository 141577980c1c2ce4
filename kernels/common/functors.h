// Elementwise math as functors, shared by the CPU loops and (later) the CUDA templates:
// one definition of each formula, whatever the backend.
#pragma once

#include <cmath>

#include "kernels/common/half.h"
#include "kernels/common/vector_math.h"

namespace torus::fn {

// Forward functions.
struct Add { template <class T> TORUS_HOST_DEVICE T operator()(T a, T b) const { return a + b; } };
struct Sub { template <class T> TORUS_HOST_DEVICE T operator()(T a, T b) const { return a - b; } };
struct Mul { template <class T> TORUS_HOST_DEVICE T operator()(T a, T b) const { return a * b; } };
struct Div { template <class T> TORUS_HOST_DEVICE T operator()(T a, T b) const { return a / b; } };
struct Pow { template <class T> TORUS_HOST_DEVICE T operator()(T a, T b) const { return std::pow(a, b); } };
struct Maximum { template <class T> TORUS_HOST_DEVICE T operator()(T a, T b) const { return a < b ? b : a; } };
struct Minimum { template <class T> TORUS_HOST_DEVICE T operator()(T a, T b) const { return b < a ? b : a; } };

struct Neg { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return -x; } };
struct Exp { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return vexp(x); } };
struct Log { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return std::log(x); } };
struct Sqrt { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return std::sqrt(x); } };
struct Rsqrt { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return T(1) / std::sqrt(x); } };
struct Abs { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return std::abs(x); } };
struct Tanh { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return std::tanh(x); } };
struct Sign { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return T((x > T(0)) - (x < T(0))); } };
struct Square { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return x * x; } };

struct Sigmoid {
  template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return T(1) / (T(1) + vexp(-x)); }
};

struct Relu { template <class T> TORUS_HOST_DEVICE T operator()(T x) const { return x > T(0) ? x : T(0); } };

// gelu(x) = x * Phi(x), Phi the standard normal CDF.
struct GeluErf {
  template <class T> TORUS_HOST_DEVICE T operator()(T x) const {
    return T(0.5) * x * (T(1) + verf(x * T(0.70710678118654752440)));
  }
};

// The tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
struct GeluTanh {
  template <class T> TORUS_HOST_DEVICE T operator()(T x) const {
    const T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
    return T(0.5) * x * (T(1) + std::tanh(inner));
  }
};

// Backward functions: (x, upstream gradient) -> gradient of the input.
struct ReluBackward {
  template <class T> TORUS_HOST_DEVICE T operator()(T x, T g) const { return x > T(0) ? g : T(0); }
};

// d/dx [x Phi(x)] = Phi(x) + x phi(x).
struct GeluErfBackward {
  template <class T> TORUS_HOST_DEVICE T operator()(T x, T g) const {
    const T cdf = T(0.5) * (T(1) + verf(x * T(0.70710678118654752440)));
    const T pdf = T(0.39894228040143267794) * vexp(T(-0.5) * x * x);
    return g * (cdf + x * pdf);
  }
};

// With u = sqrt(2/pi)(x + c x^3), t = tanh(u):
// d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 c x^2).
struct GeluTanhBackward {
  template <class T> TORUS_HOST_DEVICE T operator()(T x, T g) const {
    const T k = T(0.79788456080286535588), c = T(0.044715);
    const T t = std::tanh(k * (x + c * x * x * x));
    return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * c * x * x));
  }
};

// From the output y: d tanh = 1 - y^2, d sigmoid = y (1 - y).
struct TanhBackward { template <class T> TORUS_HOST_DEVICE T operator()(T y, T g) const { return g * (T(1) - y * y); } };
struct SigmoidBackward { template <class T> TORUS_HOST_DEVICE T operator()(T y, T g) const { return g * y * (T(1) - y); } };

}  // namespace torus::fn
