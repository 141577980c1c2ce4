// Input normalisation, x <- (x - mean) / std, in place on a batch: one mean and std for
// every element, or one per channel (the first dimension of a sample, as torchvision's
// Normalize does for (C, H, W) images).
#pragma once

#include <vector>

#include "framework/data/dataset.h"

namespace torus::data {

struct Normalization {
  std::vector<double> mean{};  // empty: no normalisation
  std::vector<double> std{};
  bool enabled() const { return !mean.empty(); }
};

// Checks that `norm` fits inputs of `spec` (float dtype, as many means as stds, one or
// one per channel, every std positive); throws ValueError naming the numbers otherwise.
void check_normalization(const Normalization& norm, const SampleSpec& spec);

// Normalises `inputs` (n, sample...) in place, in its own dtype (f32 or f64): subtract,
// then divide, as PyTorch does, so results match it bit for bit.
void normalize_inplace(const Normalization& norm, const Tensor& inputs);

}  // namespace torus::data
