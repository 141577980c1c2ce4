// Dropout: in training mode zeroes each element with probability p and scales the rest
// by 1 / (1 - p); the identity in eval mode. The mask is drawn from a generator shared
// with the caller (a trainer saves and restores its position with the checkpoint).
#pragma once

#include <memory>

#include "framework/nn/module.h"
#include "framework/tensor/random.h"

namespace torus::nn {

class Dropout : public Layer {
 public:
  // `gen` may be null only when p == 0 (a placeholder that never draws).
  Dropout(double p, std::shared_ptr<Generator> gen);

  Tensor forward(const Tensor& x) const override;

  double p() const { return p_; }
  const std::shared_ptr<Generator>& generator() const { return gen_; }

 private:
  double p_;
  std::shared_ptr<Generator> gen_;
};

}  // namespace torus::nn
