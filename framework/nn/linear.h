// Linear: y = x Wᵀ + b, weight (out, in) and bias (out) as torch.nn.Linear.
#pragma once

#include "framework/nn/module.h"
#include "framework/tensor/random.h"

namespace torus::nn {

class Linear : public Layer {
 public:
  // Initialised as PyTorch does: W and b ~ U(-1/sqrt(in), 1/sqrt(in)).
  Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias = true,
         DType dtype = DType::f32);

  Tensor forward(const Tensor& x) const override;  // x (*, in) -> (*, out)

  int64_t in_features() const { return weight_.size(1); }
  int64_t out_features() const { return weight_.size(0); }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias

 private:
  Tensor weight_;
  Tensor bias_;
};

}  // namespace torus::nn
