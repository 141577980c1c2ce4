// Optimizer base: holds the parameters it updates; step() applies one update from their
// .grad, zero_grad() clears them.
#pragma once

#include <vector>

#include "framework/tensor/tensor.h"

namespace torus::optim {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> parameters);
  virtual ~Optimizer() = default;

  virtual void step() = 0;
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  const std::vector<Tensor>& parameters() const { return parameters_; }

 protected:
  std::vector<Tensor> parameters_;
  double lr_ = 0.0;
};

}  // namespace torus::optim
