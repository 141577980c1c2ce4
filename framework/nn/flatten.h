// Flatten dims start_dim..end_dim into one, as torch.nn.Flatten (default: all but the batch).
#pragma once

#include "framework/nn/module.h"

namespace torus::nn {

class Flatten : public Layer {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) const override;

 private:
  int64_t start_dim_;
  int64_t end_dim_;
};

}  // namespace torus::nn
