// The op test registry: every op family describes sample calls of its ops beside their
// definitions. The test suite iterates it for finite-difference gradient checks in f64
// and forward/backward parity with PyTorch in f32, so a new op is checked by adding its
// samples here, without touching tests/.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus {

struct SampleInput {
  enum class Kind {
    real,      // N(0, 1)
    positive,  // U(0.5, 2): log, sqrt, pow bases, divisors
    index,     // i64 in [0, index_high)
    mask,      // u8 0/1
  };
  Shape shape;
  Kind kind = Kind::real;
  int64_t index_high = 0;
  bool requires_grad = true;
  // Passed as a transposed view (last two dims) of the same values.
  bool noncontiguous = false;

  static SampleInput real(Shape s) { return {std::move(s)}; }
  static SampleInput positive(Shape s) { return {std::move(s), Kind::positive}; }
  static SampleInput strided(Shape s) { return {std::move(s), Kind::real, 0, true, true}; }
  static SampleInput constant(Shape s) { return {std::move(s), Kind::real, 0, false}; }
  static SampleInput index(Shape s, int64_t high) { return {std::move(s), Kind::index, high, false}; }
  static SampleInput mask(Shape s) { return {std::move(s), Kind::mask, 0, false}; }
};

struct OpSample {
  std::string name;  // "<op>/<case>", unique
  std::vector<SampleInput> inputs;
  // The Torus call. Stochastic ops must seed their generator inside, so calls repeat.
  std::function<Tensor(const std::vector<Tensor>&)> call;
  // The same call in PyTorch, a Python expression over the inputs a, b, c, d (as torch
  // tensors), `torch`, `F` (torch.nn.functional) and `out` (Torus's own output, for
  // stochastic ops whose randomness cannot be replayed in PyTorch).
  std::string torch;
  // Relative tolerance for f32 parity: 1e-5, or 1e-4 where the order of accumulation
  // differs from PyTorch's (reductions, GEMM).
  double rtol = 1e-5;
};

// All samples of all op families, in a stable order.
const std::vector<OpSample>& op_samples();

}  // namespace torus
