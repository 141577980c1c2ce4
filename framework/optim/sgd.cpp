// SGD (see sgd.h). For each parameter p with gradient g:
//   d = g + weight_decay * p
//   buf = d (first step) or momentum * buf + (1 - dampening) * d
//   d = d + momentum * buf (Nesterov) or buf
//   p -= lr * d
#include "framework/optim/sgd.h"

#include "framework/autograd/grad_mode.h"
#include "framework/ops/cuda_kernels.h"
#include "framework/ops/ops.h"
#include "framework/optim/fused_updates.h"
#include "framework/tensor/dtype.h"

namespace torus::optim {
namespace {

// The same update on a device, from the device's arithmetic ops (several passes over memory
// where the cpu makes one; SGD is not the device's hot path, AdamW is fused).
void sgd_on_device(const Tensor& p, const Tensor& grad, const Tensor& buf, const SgdOptions& o, double lr, bool first,
                   const Tensor& gradient_scale) {
  NoGradGuard no_grad;
  const Tensor g = gradient_scale.defined() ? mul(grad, gradient_scale) : grad;
  Tensor d = o.weight_decay != 0 ? add(g, mul(p, Tensor::scalar(o.weight_decay, p.dtype()))) : g;
  if (buf.defined()) {
    if (first) {
      buf.copy_(d);
    } else {
      axpby_(buf, o.momentum, d, 1.0 - o.dampening);
    }
    d = o.nesterov ? add(d, mul(buf, Tensor::scalar(o.momentum, p.dtype()))) : buf;
  }
  add_(p, d, -lr);
}

}  // namespace

Sgd::Sgd(const NamedTensors& parameters, const SgdOptions& options) : Optimizer(parameters), options_(options) {
  configure();
}

Sgd::Sgd(const std::vector<Tensor>& parameters, const SgdOptions& options)
    : Optimizer(parameters), options_(options) {
  configure();
}

// Validates the options, then sets the learning rate and the state fields.
void Sgd::configure() {
  const SgdOptions& o = options_;
  TORUS_CHECK(o.lr >= 0, "SGD: learning rate must be >= 0, got {}", o.lr);
  TORUS_CHECK(o.momentum >= 0, "SGD: momentum must be >= 0, got {}", o.momentum);
  TORUS_CHECK(o.weight_decay >= 0, "SGD: weight_decay must be >= 0, got {}", o.weight_decay);
  TORUS_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
              "SGD: Nesterov momentum needs momentum > 0 and dampening 0 (got momentum {}, dampening {})",
              o.momentum, o.dampening);
  lr_ = o.lr;
  if (o.momentum != 0) set_state_fields({"momentum_buffer"});
}

Tensor Sgd::initial_state(size_t /*field*/, const Tensor& param) const {
  return Tensor::zeros(param.shape(), param.dtype(), param.device());
}

void Sgd::update(const Tensor& gradient_scale) {
  const double grad_scale = host_value(gradient_scale);
  const bool has_momentum = options_.momentum != 0;
  for (size_t i = 0; i < parameters().size(); ++i) {
    const Tensor g = checked_grad(i, "SGD");
    if (!g.defined()) continue;
    const Tensor& p = parameters()[i];
    const bool first = has_momentum && !has_state(i);
    Tensor buf = has_momentum ? state(i)[0] : Tensor();
    if (cuda_kernels::on_cuda(p)) {
      sgd_on_device(p, g, buf, options_, lr_, first, gradient_scale);
      continue;
    }
    dispatch_floating(p.dtype(), "SGD", [&]<class T>() {
      const fused::SgdScalars<T> s{static_cast<T>(lr_),
                                   static_cast<T>(options_.momentum),
                                   static_cast<T>(1.0 - options_.dampening),
                                   static_cast<T>(options_.weight_decay),
                                   static_cast<T>(grad_scale),
                                   options_.nesterov,
                                   has_momentum,
                                   first};
      fused::sgd<T>(p.data<T>(), g.data<T>(), has_momentum ? buf.data<T>() : nullptr, p.numel(), s);
    });
  }
}

}  // namespace torus::optim
