// An optimizer from one plain option struct (the config layer maps its `optimizer`
// section onto it). Fields a kind does not use are ignored.
#pragma once

#include <memory>
#include <optional>

#include "framework/optim/adam.h"
#include "framework/optim/sgd.h"

namespace torus::optim {

enum class OptimizerKind { sgd, adam, adamw };

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::sgd;
  double lr = 0.01;
  std::optional<double> weight_decay = std::nullopt;  // default: 0.01 for AdamW, 0 otherwise (torch's)
  // sgd
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  // adam, adamw
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool amsgrad = false;
};

std::unique_ptr<Optimizer> make_optimizer(const NamedTensors& parameters, const OptimizerOptions& options);

}  // namespace torus::optim
