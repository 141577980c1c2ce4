// Dropout (see dropout.h).
#include "framework/nn/dropout.h"

#include "framework/ops/ops.h"

namespace torus::nn {

Dropout::Dropout(double p, std::shared_ptr<Generator> gen) : p_(p), gen_(std::move(gen)) {
  TORUS_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability p must be in [0, 1], got {}", p);
  TORUS_CHECK(gen_ != nullptr || p == 0.0, "Dropout(p={}): needs a generator for its masks", p);
}

Tensor Dropout::forward(const Tensor& x) const {
  if (!is_training() || p_ == 0.0) return x;
  return dropout(x, p_, true, *gen_);
}

}  // namespace torus::nn
