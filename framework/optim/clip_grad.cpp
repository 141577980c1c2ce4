// Global gradient norm and clipping (see clip_grad.h). Partial sums are per thread and
// added in thread order, so a result depends only on the data and the thread count.
// Gradients on a device are reduced there, in their own dtype, and read back once.
#include "framework/optim/clip_grad.h"

#include <array>
#include <cmath>
#include <optional>

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

// Σ |g|^p (max |g| for the infinity norm) over the gradients of `parameters`: the cpu's
// as a number, each device gradient's as a (1) tensor on its device, not yet read.
struct PowerSums {
  double host = 0;
  bool any_host = false;
  std::vector<Tensor> on_device;
  std::optional<Device> device;  // the first gradient's
};

double combine(double total, double part, bool inf) {
  return inf ? (part > total || std::isnan(part) ? part : total) : total + part;
}

PowerSums power_sums(const std::vector<Tensor>& parameters, double p) {
  TORUS_CHECK(p > 0, "clip_grad_norm: norm_type must be > 0 (or infinity), got {}", p);
  PowerSums sums;
  for (const Tensor& param : parameters) {
    const Tensor g = param.grad();
    if (!g.defined()) continue;
    if (!sums.device) sums.device = g.device();
    if (cuda_kernels::on_cuda(g)) {
      if (g.numel() > 0) sums.on_device.push_back(reduce_gradient_on_device(g, p).reshape({1}));
      continue;
    }
    TORUS_CHECK(g.is_contiguous(), "clip_grad_norm: gradient of '{}' of shape {} is not contiguous", param.name(),
                g.shape_str());
    const double part = dispatch_floating(g.dtype(), "clip_grad_norm", [&]<class T>() {
      return reduce_gradient(g.data<T>(), g.numel(), p);
    });
    sums.host = combine(sums.host, part, std::isinf(p));
    sums.any_host = true;
  }
  return sums;
}

// The device parts taken together (max keeps a NaN, as the cpu's loop does), 0-dim.
Tensor combined_on_device(const std::vector<Tensor>& parts, bool inf) {
  const Tensor all = concat(parts, 0);
  return inf ? max(all, 0) : sum(all);
}

}  // namespace

double grad_norm(const std::vector<Tensor>& parameters, double norm_type) {
  const bool inf = std::isinf(norm_type);
  NoGradGuard no_grad;
  const PowerSums sums = power_sums(parameters, norm_type);
  double total = sums.host;
  if (!sums.on_device.empty()) total = combine(total, combined_on_device(sums.on_device, inf).item(), inf);
  return inf ? total : (norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type));
}

Tensor squared_grad_norm(const std::vector<Tensor>& parameters) {
  NoGradGuard no_grad;
  const PowerSums sums = power_sums(parameters, 2.0);
  const bool device = sums.device && !sums.device->is_cpu();
  TORUS_CHECK(!device || !sums.any_host,
              "clip_grad_norm: gradients on the cpu and on {} cannot be clipped without reading the norm back",
              sums.device->str());
  if (!device) return Tensor::scalar(sums.host, DType::f64);
  if (sums.on_device.empty()) return Tensor::zeros({}, DType::f32, *sums.device);  // only empty gradients
  return combined_on_device(sums.on_device, false);
}

Tensor clip_coefficient_of(const Tensor& squared_norm, double max_norm) {
  TORUS_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got {}", max_norm);
  TORUS_CHECK(squared_norm.dim() == 0, "clip_grad_norm: the squared norm must be 0-dim, got {}",
              squared_norm.shape_str());
  NoGradGuard no_grad;
  // The operations of clip_grad_norm's doubles, in the norm's dtype (a NaN stays NaN).
  const Tensor denominator = sqrt(squared_norm) + 1e-6;
  return clamp(Tensor::scalar(max_norm, denominator.dtype()) / denominator, std::nullopt, 1.0);
}

Tensor clip_coefficient(const std::vector<Tensor>& parameters, double max_norm) {
  return clip_coefficient_of(squared_grad_norm(parameters), max_norm);
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
