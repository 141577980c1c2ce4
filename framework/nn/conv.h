// Conv2d over NCHW input, weight (out, in / groups, kh, kw) and bias (out), as
// torch.nn.Conv2d (padding in zeros).
#pragma once

#include <array>

#include "framework/nn/module.h"
#include "framework/ops/ops.h"
#include "framework/tensor/random.h"

namespace torus::nn {

class Conv2d : public Layer {
 public:
  // Initialised as PyTorch does: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
  // fan_in = in_channels / groups * kh * kw.
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel, Generator& gen,
         const Conv2dOptions& geometry = {}, bool bias = true, DType dtype = DType::f32);

  // x (N, in_channels, H, W) -> (N, out_channels, OH, OW)
  Tensor forward(const Tensor& x) const override;

  int64_t in_channels() const { return weight_.size(1) * geometry_.groups; }
  int64_t out_channels() const { return weight_.size(0); }
  std::array<int64_t, 2> kernel() const { return {weight_.size(2), weight_.size(3)}; }
  const Conv2dOptions& geometry() const { return geometry_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  std::string describe() const;

  Conv2dOptions geometry_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace torus::nn
