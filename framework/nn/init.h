// Initialisers shared by the modules: in-place fills drawn from a seeded Generator, and
// the bounds of PyTorch's default initialisation.
#pragma once

#include <cmath>
#include <cstdint>

#include "framework/tensor/random.h"

namespace torus::nn::init {

// Overwrite `t` in place, outside autograd (parameters are leaves that require grad).
void uniform_(const Tensor& t, Generator& gen, double low, double high);
void normal_(const Tensor& t, Generator& gen, double mean, double std);
void constant_(const Tensor& t, double value);

// PyTorch's default for Linear and Conv2d: kaiming_uniform_(a = sqrt(5)) on the weight is
// U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a²)) = sqrt(1/3), which
// is b = 1 / sqrt(fan_in) — the same bound its bias uses.
inline double default_uniform_bound(int64_t fan_in) {
  return 1.0 / std::sqrt(static_cast<double>(fan_in));
}

// A fresh 64-bit seed drawn from `gen` (advances it by one block), for generators that
// a model derives from its initialisation generator.
uint64_t derive_seed(Generator& gen);

}  // namespace torus::nn::init
