// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay,
// with the update rule of torch.optim.SGD. State per parameter: "momentum_buffer" (only
// with momentum > 0).
#pragma once

#include "framework/optim/optimizer.h"

namespace torus::optim {

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class Sgd : public Optimizer {
 public:
  Sgd(const NamedTensors& parameters, const SgdOptions& options);
  Sgd(const std::vector<Tensor>& parameters, const SgdOptions& options);
  const SgdOptions& options() const { return options_; }

 private:
  void configure();
  void update(const Tensor& gradient_scale) override;
  Tensor initial_state(size_t field, const Tensor& param) const override;

  SgdOptions options_;
};

}  // namespace torus::optim
