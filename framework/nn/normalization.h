// LayerNorm over the trailing dims, as torch.nn.LayerNorm (weight ones, bias zeros).
#pragma once

#include "framework/nn/module.h"

namespace torus::nn {

class LayerNorm : public Layer {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                     DType dtype = DType::f32);

  Tensor forward(const Tensor& x) const override;  // x (*, normalized_shape) -> same shape

  const Shape& normalized_shape() const { return normalized_shape_; }
  double eps() const { return eps_; }
  const Tensor& weight() const { return weight_; }  // undefined without elementwise_affine
  const Tensor& bias() const { return bias_; }

 private:
  Shape normalized_shape_;
  double eps_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace torus::nn
