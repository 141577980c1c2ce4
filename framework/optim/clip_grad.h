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

// Clipping by the 2-norm that reads nothing back and scales nothing in place: the
// coefficient min(1, max_norm / (norm + 1e-6)) as a 0-dim tensor on the gradients' device,
// for Optimizer::step to multiply each gradient by as it reads it. On the cpu the update is
// clip_grad_norm's then step()'s, bit for bit; on a device the host never waits for the norm.
Tensor clip_coefficient(const std::vector<Tensor>& parameters, double max_norm);

// The pieces of clip_coefficient, for gradients whose squares are summed across ranks
// between them (ZeRO's shards). Σ g² over every gradient, 0-dim on their device: f64 on
// the cpu (as grad_norm sums), the gradients' dtype on a device.
Tensor squared_grad_norm(const std::vector<Tensor>& parameters);
// min(1, max_norm / (sqrt(squared_norm) + 1e-6)), where squared_norm is.
Tensor clip_coefficient_of(const Tensor& squared_norm, double max_norm);

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

}  // namespace torus::optim
