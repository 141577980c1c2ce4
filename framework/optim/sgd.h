// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay,
// with the update rule of torch.optim.SGD.
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
  Sgd(std::vector<Tensor> parameters, const SgdOptions& options);
  void step() override;

  // Momentum buffers, one per parameter (undefined before the first step): optimizer state.
  const std::vector<Tensor>& momentum_buffers() const { return momentum_; }

 private:
  SgdOptions options_;
  std::vector<Tensor> momentum_;
};

}  // namespace torus::optim
