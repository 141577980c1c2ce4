// The optimizers' update rules as single fused loops over contiguous data: one pass
// reads each parameter, gradient and state element once and writes it back, threaded on
// the one OpenMP pool, allocating nothing. Scalars are rounded to T once, and each
// element follows the order of operations of torch.optim's single-tensor path, so results
// agree with PyTorch to rounding (f64 to 1e-12; tests/optim_parity_test.cpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/cpu/parallel.h"

namespace torus::optim::fused {

// a + alpha * b as torch's add(b, alpha=...) computes it on the cpu: one fused multiply-add
// where the processor has one. The files holding these loops are built without FMA
// contraction (framework/CMakeLists.txt), so each operation rounds as written here.
template <class T>
inline T add_scaled(T a, T alpha, T b) {
#ifdef __FMA__
  return std::fma(alpha, b, a);
#else
  return a + alpha * b;
#endif
}

template <class T>
struct SgdScalars {
  T lr, momentum, dampening_complement, weight_decay;  // dampening_complement = 1 - dampening
  T grad_scale;  // each gradient is read as grad_scale * g (1: as it is)
  bool nesterov, has_momentum, first_step;  // first_step: the buffer starts as d (torch.clone)
};

// d = s g + wd p; buf = d (first step) or momentum buf + (1 - dampening) d;
// d = d + momentum buf (Nesterov) or buf; p -= lr d.
// The choices are template arguments so that the loop has no branches (see adam_range).
template <bool kMomentum, bool kFirst, bool kNesterov, class T>
void sgd_range(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t begin, int64_t end,
               const SgdScalars<T>& s) {
  for (int64_t i = begin; i < end; ++i) {
    T d = add_scaled(g[i] * s.grad_scale, s.weight_decay, p[i]);
    if constexpr (kMomentum) {
      const T b = kFirst ? d : buf[i] * s.momentum + s.dampening_complement * d;
      buf[i] = b;
      d = kNesterov ? d + s.momentum * b : b;
    }
    p[i] = p[i] + (-s.lr) * d;
  }
}

template <class T>
void sgd(T* p, const T* g, T* buf, int64_t n, const SgdScalars<T>& s) {
  cpu::parallel_for(n, cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
    if (!s.has_momentum) sgd_range<false, false, false>(p, g, buf, begin, end, s);
    else if (s.first_step && s.nesterov) sgd_range<true, true, true>(p, g, buf, begin, end, s);
    else if (s.first_step) sgd_range<true, true, false>(p, g, buf, begin, end, s);
    else if (s.nesterov) sgd_range<true, false, true>(p, g, buf, begin, end, s);
    else sgd_range<true, false, false>(p, g, buf, begin, end, s);
  });
}

template <class T>
struct AdamScalars {
  T beta1, one_minus_beta1, beta2, one_minus_beta2;
  T eps;
  T weight_decay;     // L2: added to the gradient (Adam)
  T decay_factor;     // decoupled: p *= 1 - lr * wd before the update (AdamW); 1 for Adam
  T step_size;        // lr / (1 - beta1^t)
  T bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  T grad_scale;     // each gradient is read as grad_scale * g (1: as it is)
  bool amsgrad;
};

// p *= decay; g = s g + wd p; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g g;
// vmax = max(vmax, v) (AMSGrad); p -= step_size * m / (sqrt(v or vmax) / sqrt(bc2) + eps).
// AMSGrad is a template argument so that neither loop branches: branches stop GCC from
// vectorizing, and so does std::sqrt unless its file is built with -fno-math-errno
// (framework/CMakeLists.txt does so for adam.cpp).
template <bool kAmsgrad, class T>
void adam_range(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax,
                int64_t begin, int64_t end, const AdamScalars<T>& s) {
  for (int64_t i = begin; i < end; ++i) {
    const T param = p[i] * s.decay_factor;
    const T grad = add_scaled(g[i] * s.grad_scale, s.weight_decay, param);
    const T mi = m[i] * s.beta1 + s.one_minus_beta1 * grad;
    const T vi = v[i] * s.beta2 + s.one_minus_beta2 * grad * grad;
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if constexpr (kAmsgrad) {
      second = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = second;
    }
    const T denom = std::sqrt(second) / s.bias_correction2_sqrt + s.eps;
    p[i] = param + (-s.step_size) * (mi / denom);
  }
}

template <class T>
void adam(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamScalars<T>& s) {
  cpu::parallel_for(n, cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
    if (s.amsgrad) adam_range<true>(p, g, m, v, vmax, begin, end, s);
    else adam_range<false>(p, g, m, v, vmax, begin, end, s);
  });
}

}  // namespace torus::optim::fused
