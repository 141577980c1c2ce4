// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_.
#pragma once

#include <limits>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus::optim {

// The norm of all gradients of `parameters` taken together (those without a gradient
// are skipped); every gradient is then scaled in place by min(1, max_norm / (norm + 1e-6)).
// norm_type is p > 0, or infinity for the largest magnitude. Returns the norm before
// clipping (NaN or infinity when a gradient is not finite; the gradients are scaled
// regardless, as PyTorch does by default). In place, allocation-free.
double clip_grad_norm(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0);

// The same norm without scaling anything.
double grad_norm(const std::vector<Tensor>& parameters, double norm_type = 2.0);

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

}  // namespace torus::optim
