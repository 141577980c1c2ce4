// MaxPool2d and AvgPool2d over NCHW input, as torch.nn's (stride defaults to the kernel;
// AvgPool2d counts padding in the divisor). No parameters.
#pragma once

#include "framework/nn/module.h"
#include "framework/ops/ops.h"

namespace torus::nn {

class MaxPool2d : public Layer {
 public:
  explicit MaxPool2d(const Pool2dOptions& options = {});
  Tensor forward(const Tensor& x) const override;  // (N, C, H, W) -> (N, C, OH, OW)
  const Pool2dOptions& options() const { return options_; }

 private:
  Pool2dOptions options_;
};

class AvgPool2d : public Layer {
 public:
  explicit AvgPool2d(const Pool2dOptions& options = {});
  Tensor forward(const Tensor& x) const override;  // (N, C, H, W) -> (N, C, OH, OW)
  const Pool2dOptions& options() const { return options_; }

 private:
  Pool2dOptions options_;
};

}  // namespace torus::nn
