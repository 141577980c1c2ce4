// LayerNorm (see normalization.h).
#include "framework/nn/normalization.h"

#include <algorithm>

#include "framework/ops/ops.h"

namespace torus::nn {

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine, DType dtype)
    : normalized_shape_(std::move(normalized_shape)), eps_(eps) {
  TORUS_CHECK(!normalized_shape_.empty() &&
                  std::all_of(normalized_shape_.begin(), normalized_shape_.end(), [](int64_t d) { return d > 0; }),
              "LayerNorm: normalized_shape must be non-empty with positive sizes, got {}",
              shape_str(normalized_shape_));
  TORUS_CHECK(eps > 0, "LayerNorm: eps must be > 0, got {}", eps);
  if (elementwise_affine) {
    weight_ = register_parameter("weight", Tensor::ones(normalized_shape_, dtype));
    bias_ = register_parameter("bias", Tensor::zeros(normalized_shape_, dtype));
  }
}

Tensor LayerNorm::forward(const Tensor& x) const {
  const auto n = static_cast<int64_t>(normalized_shape_.size());
  TORUS_CHECK(x.dim() >= n && Shape(x.shape().end() - n, x.shape().end()) == normalized_shape_,
              "LayerNorm({}): input of shape {} must end in {}", shape_str(normalized_shape_),
              x.shape_str(), shape_str(normalized_shape_));
  return layer_norm(x, normalized_shape_, weight_, bias_, eps_);
}

}  // namespace torus::nn
