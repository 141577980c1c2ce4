// SGD (see sgd.h). For each parameter p with gradient g:
//   d = g + weight_decay * p
//   buf = d (first step) or momentum * buf + (1 - dampening) * d
//   d = d + momentum * buf (Nesterov) or buf
//   p -= lr * d
#include "framework/optim/sgd.h"

#include "framework/autograd/grad_mode.h"
#include "framework/ops/ops.h"

namespace torus::optim {

Optimizer::Optimizer(std::vector<Tensor> parameters) : parameters_(std::move(parameters)) {
  for (const Tensor& p : parameters_)
    TORUS_CHECK(p.requires_grad() && p.is_leaf(),
                "optimizer: every parameter must be a leaf that requires grad ('{}' is not)", p.name());
}

void Optimizer::zero_grad() {
  for (const Tensor& p : parameters_) p.zero_grad();
}

Sgd::Sgd(std::vector<Tensor> parameters, const SgdOptions& options)
    : Optimizer(std::move(parameters)), options_(options), momentum_(parameters_.size()) {
  TORUS_CHECK(options.lr >= 0, "SGD: learning rate must be >= 0, got {}", options.lr);
  TORUS_CHECK(options.momentum >= 0, "SGD: momentum must be >= 0, got {}", options.momentum);
  TORUS_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
              "SGD: Nesterov momentum needs momentum > 0 and dampening 0");
  lr_ = options.lr;
}

void Sgd::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    Tensor d = p.grad();
    if (!d.defined()) continue;
    if (options_.weight_decay != 0) d = add(d, p * options_.weight_decay);
    if (options_.momentum != 0) {
      Tensor& buf = momentum_[i];
      if (!buf.defined()) {
        buf = d.clone();
      } else {
        axpby_(buf, options_.momentum, d, 1.0 - options_.dampening);
      }
      d = options_.nesterov ? add(d, buf * options_.momentum) : buf;
    }
    add_(p, d, -lr_);
  }
}

}  // namespace torus::optim
