// Adam and AdamW (see adam.h). Per parameter, at its step t:
//   p *= 1 - lr * wd                                (AdamW)
//   g += wd * p                                     (Adam)
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g²;  vmax = max(vmax, v) (AMSGrad)
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#include "framework/optim/adam.h"

#include <cmath>

#include "framework/ops/cuda_kernels.h"
#include "framework/optim/fused_updates.h"
#include "framework/tensor/dtype.h"

namespace torus::optim {
namespace {

enum Field : size_t { kStep = 0, kExpAvg = 1, kExpAvgSq = 2, kMaxExpAvgSq = 3 };

AdamOptions as_adam(const AdamWOptions& o) {
  return {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad};
}

}  // namespace

Adam::Adam(const NamedTensors& parameters, const AdamOptions& options, bool decoupled)
    : Optimizer(parameters), options_(options), decoupled_(decoupled) {
  configure();
}

Adam::Adam(const NamedTensors& parameters, const AdamOptions& options) : Adam(parameters, options, false) {}

Adam::Adam(const std::vector<Tensor>& parameters, const AdamOptions& options)
    : Adam(number_parameters(parameters), options, false) {}

AdamW::AdamW(const NamedTensors& parameters, const AdamWOptions& options)
    : Adam(parameters, as_adam(options), true) {}

AdamW::AdamW(const std::vector<Tensor>& parameters, const AdamWOptions& options)
    : Adam(number_parameters(parameters), as_adam(options), true) {}

// Validates the options, then sets the learning rate and the state fields.
void Adam::configure() {
  const AdamOptions& o = options_;
  const char* name = decoupled_ ? "AdamW" : "Adam";
  TORUS_CHECK(o.lr >= 0, "{}: learning rate must be >= 0, got {}", name, o.lr);
  TORUS_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
              "{}: betas must be in [0, 1), got ({}, {})", name, o.beta1, o.beta2);
  TORUS_CHECK(o.eps >= 0, "{}: eps must be >= 0, got {}", name, o.eps);
  TORUS_CHECK(o.weight_decay >= 0, "{}: weight_decay must be >= 0, got {}", name, o.weight_decay);
  lr_ = o.lr;
  if (o.amsgrad) set_state_fields({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"});
  else set_state_fields({"step", "exp_avg", "exp_avg_sq"});
}

Tensor Adam::initial_state(size_t field, const Tensor& param) const {
  if (field == kStep) return Tensor::zeros({}, DType::i64);
  return Tensor::zeros(param.shape(), param.dtype(), param.device());
}

void Adam::update(const Tensor& gradient_scale) {
  const AdamOptions& o = options_;
  const double grad_scale = host_value(gradient_scale);
  for (size_t i = 0; i < parameters().size(); ++i) {
    const Tensor g = checked_grad(i, decoupled_ ? "AdamW" : "Adam");
    if (!g.defined()) continue;
    const Tensor& p = parameters()[i];
    std::vector<Tensor>& s = state(i);
    // The fused AdamW kernel; Adam's L2 term and AMSGrad have none on a device yet.
    TORUS_CHECK(!cuda_kernels::on_cuda(p) || (decoupled_ && !o.amsgrad),
                "{}{}: no CUDA kernel yet for parameters on {} (AdamW without amsgrad has one)",
                decoupled_ ? "AdamW" : "Adam", o.amsgrad ? " with amsgrad" : "", p.device().str());
    const int64_t t = ++s[kStep].data<int64_t>()[0];
    // Scalars in double, as Python computes them, then rounded once to the parameter's dtype.
    const double step_size = lr_ / (1.0 - std::pow(o.beta1, static_cast<double>(t)));
    const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(o.beta2, static_cast<double>(t)));
    if (cuda_kernels::on_cuda(p)) {
      cuda_kernels::adamw(p, g.contiguous(), s[kExpAvg], s[kExpAvgSq], {lr_, o.beta1, o.beta2, o.eps, o.weight_decay, t},
                          gradient_scale);
      continue;
    }
    dispatch_floating(p.dtype(), decoupled_ ? "AdamW" : "Adam", [&]<class T>() {
      const fused::AdamScalars<T> scalars{static_cast<T>(o.beta1),
                                          static_cast<T>(1.0 - o.beta1),
                                          static_cast<T>(o.beta2),
                                          static_cast<T>(1.0 - o.beta2),
                                          static_cast<T>(o.eps),
                                          static_cast<T>(decoupled_ ? 0.0 : o.weight_decay),
                                          static_cast<T>(decoupled_ ? 1.0 - lr_ * o.weight_decay : 1.0),
                                          static_cast<T>(step_size),
                                          static_cast<T>(bias_correction2_sqrt),
                                          static_cast<T>(grad_scale),
                                          o.amsgrad};
      fused::adam<T>(p.data<T>(), g.data<T>(), s[kExpAvg].data<T>(), s[kExpAvgSq].data<T>(),
                     o.amsgrad ? s[kMaxExpAvgSq].data<T>() : nullptr, p.numel(), scalars);
    });
  }
}

}  // namespace torus::optim
