// Flatten (see flatten.h).
#include "framework/nn/flatten.h"

namespace torus::nn {

Tensor Flatten::forward(const Tensor& x) const {
  auto in_range = [&x](int64_t d) { return d >= -x.dim() && d < x.dim(); };
  TORUS_CHECK(in_range(start_dim_) && in_range(end_dim_),
              "Flatten(start_dim={}, end_dim={}): input of shape {} has too few dims", start_dim_,
              end_dim_, x.shape_str());
  return x.flatten(start_dim_, end_dim_);
}

}  // namespace torus::nn
