// Global gradient norm and clipping (see clip_grad.h). Partial sums are per thread and
// added in thread order, so a result depends only on the data and the thread count.
// Gradients on a device are reduced there, in their own dtype, and read back once.
#include "framework/optim/clip_grad.h"

#include <array>
#include <cmath>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/ops.h"
#include "framework/tensor/dtype.h"
#include "kernels/cpu/parallel.h"

namespace torus::optim {
namespace {

constexpr int kMaxThreads = 512;

// Σ g² over [begin, end) in double. Sixteen independent partial sums let the compiler
// vectorize (one running sum would be a chain of dependent adds).
template <class T>
double sum_of_squares(const T* g, int64_t begin, int64_t end) {
  constexpr int kLanes = 16;
  double lanes[kLanes] = {};
  int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const double v = static_cast<double>(g[i + j]);
      lanes[j] += v * v;
    }
  double acc = 0;
  for (; i < end; ++i) acc += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  for (double lane : lanes) acc += lane;
  return acc;
}

// Σ |g|^p over one contiguous gradient (max |g| for the infinity norm), in double.
template <class T>
double reduce_gradient(const T* g, int64_t n, double p) {
  std::array<double, kMaxThreads> partial{};
  const bool inf = std::isinf(p), square = p == 2.0;
  cpu::parallel_for(n, cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
    double acc = 0;
    if (square) {
      acc = sum_of_squares(g, begin, end);
    } else if (inf) {
      for (int64_t i = begin; i < end; ++i) {
        const double a = std::abs(static_cast<double>(g[i]));
        acc = a > acc || std::isnan(a) ? a : acc;
      }
    } else {
      for (int64_t i = begin; i < end; ++i) acc += std::pow(std::abs(static_cast<double>(g[i])), p);
    }
    const int t = omp_get_thread_num();
    TORUS_ASSERT(t < kMaxThreads, "clip_grad_norm: thread {} beyond {}", t, kMaxThreads);
    partial[t] = acc;
  });
  double total = 0;
  for (double v : partial) total = inf ? (v > total || std::isnan(v) ? v : total) : total + v;
  return total;
}

// Σ |g|^p over one device gradient (max |g| for the infinity norm), a 0-dim device tensor.
Tensor reduce_gradient_on_device(const Tensor& g, double p) {
  if (std::isinf(p)) return max(abs(g).reshape({-1}), 0);
  if (p == 2.0) return sum(square(g));
  return sum(pow(abs(g), p));
}

}  // namespace

double grad_norm(const std::vector<Tensor>& parameters, double norm_type) {
  TORUS_CHECK(norm_type > 0, "clip_grad_norm: norm_type must be > 0 (or infinity), got {}", norm_type);
  const bool inf = std::isinf(norm_type);
  double total = 0;
  NoGradGuard no_grad;
  std::vector<Tensor> on_device;  // the device gradients' parts, (1) each, read back once at the end
  for (const Tensor& p : parameters) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (cuda_kernels::on_cuda(g)) {
      if (g.numel() == 0) continue;
      on_device.push_back(reduce_gradient_on_device(g, norm_type).reshape({1}));
      continue;
    }
    TORUS_CHECK(g.is_contiguous(), "clip_grad_norm: gradient of '{}' of shape {} is not contiguous", p.name(),
                g.shape_str());
    const double part = dispatch_floating(g.dtype(), "clip_grad_norm", [&]<class T>() {
      return reduce_gradient(g.data<T>(), g.numel(), norm_type);
    });
    total = inf ? (part > total || std::isnan(part) ? part : total) : total + part;
  }
  if (!on_device.empty()) {
    // max keeps a NaN, as the cpu's loop does
    const Tensor parts = concat(on_device, 0);
    const double part = (inf ? max(parts, 0) : sum(parts)).item();
    total = inf ? (part > total || std::isnan(part) ? part : total) : total + part;
  }
  return inf ? total : (norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type));
}

double clip_grad_norm(const std::vector<Tensor>& parameters, double max_norm, double norm_type) {
  TORUS_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got {}", max_norm);
  const double norm = grad_norm(parameters, norm_type);
  const double coef = std::min(max_norm / (norm + 1e-6), 1.0);
  if (coef == 1.0) return norm;  // multiplying by one changes nothing
  for (const Tensor& p : parameters) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (cuda_kernels::on_cuda(g)) {
      mul_(g, coef);
      continue;
    }
    dispatch_floating(g.dtype(), "clip_grad_norm", [&]<class T>() {
      T* data = g.data<T>();
      const T c = static_cast<T>(coef);
      cpu::parallel_for(g.numel(), cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) data[i] *= c;
      });
    });
  }
  return norm;
}

}  // namespace torus::optim
