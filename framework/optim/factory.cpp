// Optimizer factory (see factory.h).
#include "framework/optim/factory.h"

namespace torus::optim {

std::unique_ptr<Optimizer> make_optimizer(const NamedTensors& parameters, const OptimizerOptions& o) {
  switch (o.kind) {
    case OptimizerKind::sgd:
      return std::make_unique<Sgd>(
          parameters, SgdOptions{o.lr, o.momentum, o.dampening, o.weight_decay.value_or(0.0), o.nesterov});
    case OptimizerKind::adam:
      return std::make_unique<Adam>(
          parameters, AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay.value_or(0.0), o.amsgrad});
    case OptimizerKind::adamw:
      return std::make_unique<AdamW>(
          parameters, AdamWOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay.value_or(0.01), o.amsgrad});
  }
  throw ValueError(fmt::format("make_optimizer: unknown optimizer kind {}", static_cast<int>(o.kind)));
}

}  // namespace torus::optim
