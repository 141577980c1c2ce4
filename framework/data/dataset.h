// The interface every data source implements: how many samples it holds, what one
// input and one target look like, and a gather of chosen samples into batch buffers the
// caller owns, so a loader reuses its buffers and allocates nothing per step.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "framework/tensor/tensor.h"

namespace torus::data {

// The shape (without the batch dimension) and dtype of one input or one target.
struct SampleSpec {
  Shape shape{};
  DType dtype = DType::f32;
  bool operator==(const SampleSpec&) const = default;
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  virtual const SampleSpec& input_spec() const = 0;
  virtual const SampleSpec& target_spec() const = 0;
  // Names the source (usually its file) in error messages.
  virtual std::string describe() const = 0;

  // Writes sample indices[i] into row i of `inputs` (n, input shape...) and `targets`
  // (n, target shape...), which must be contiguous, of the specs' dtypes and have n rows.
  // Checks the buffers and the indices, then calls gather_rows. Safe to call from several
  // threads at once with distinct buffers: implementations only read shared state.
  void gather(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const;

 protected:
  // Called with validated arguments: every index in [0, size()).
  virtual void gather_rows(std::span<const int64_t> indices, const Tensor& inputs,
                           const Tensor& targets) const = 0;
};

}  // namespace torus::data
