// Minimal .npy reading and writing, for handing tensors to and from the PyTorch
// reference script (little-endian, C order; f32, f64, i64, i32, u8).
#pragma once

#include <string>

#include "framework/tensor/tensor.h"

namespace torus::test {

void save_npy(const std::string& path, const Tensor& t);
Tensor load_npy(const std::string& path);

}  // namespace torus::test
