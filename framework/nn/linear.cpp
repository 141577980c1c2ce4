// Linear layer (see linear.h).
#include "framework/nn/linear.h"

#include <cmath>

#include "framework/ops/ops.h"

namespace torus::nn {

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias, DType dtype) {
  TORUS_CHECK(in_features > 0 && out_features > 0, "Linear: sizes must be positive, got {} -> {}",
              in_features, out_features);
  // kaiming_uniform_(a = sqrt(5)) reduces to this bound for both weight and bias.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight_ = register_parameter("weight",
                               Tensor::rand({out_features, in_features}, gen, dtype, -bound, bound));
  if (bias) bias_ = register_parameter("bias", Tensor::rand({out_features}, gen, dtype, -bound, bound));
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight_, bias_); }

}  // namespace torus::nn
