// Linear layer (see linear.h).
#include "framework/nn/linear.h"

#include "framework/nn/init.h"
#include "framework/ops/ops.h"

namespace torus::nn {

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias, DType dtype) {
  TORUS_CHECK(in_features > 0 && out_features > 0, "Linear: sizes must be positive, got {} -> {}",
              in_features, out_features);
  const double bound = init::default_uniform_bound(in_features);
  weight_ = register_parameter("weight",
                               Tensor::rand({out_features, in_features}, gen, dtype, -bound, bound));
  if (bias) bias_ = register_parameter("bias", Tensor::rand({out_features}, gen, dtype, -bound, bound));
}

Tensor Linear::forward(const Tensor& x) const {
  TORUS_CHECK(x.dim() >= 1 && x.size(-1) == in_features(),
              "Linear({} -> {}): input of shape {} must end in {} features", in_features(),
              out_features(), x.shape_str(), in_features());
  return linear(x, weight_, bias_);
}

}  // namespace torus::nn
