// Materializes the inputs of an op sample (framework/ops/op_info.h) as tensors.
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

#include "framework/ops/op_info.h"

namespace torus::test {

// Inputs of `sample` in `dtype` (floating kinds; index and mask kinds keep their own),
// drawn from a generator seeded by `seed`; requires_grad set as the sample says.
std::vector<Tensor> make_inputs(const OpSample& sample, DType dtype, uint64_t seed);

// gtest-friendly name: letters, digits and underscores only.
std::string test_name(const std::string& sample_name);

}  // namespace torus::test

namespace torus {
// gtest prints a sample by name instead of dumping its bytes.
inline void PrintTo(const OpSample& sample, std::ostream* os) { *os << sample.name; }
}  // namespace torus
