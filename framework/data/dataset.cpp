// Argument checks shared by every Dataset, so implementations only copy rows. The
// checks allocate nothing unless they fail: gather runs once per training step.
#include "framework/data/dataset.h"

#include <algorithm>

namespace torus::data {
namespace {

bool fits(const Tensor& buffer, const SampleSpec& spec, size_t rows) {
  if (!buffer.defined() || !buffer.device().is_cpu() || !buffer.is_contiguous() || buffer.dtype() != spec.dtype)
    return false;
  const Shape& shape = buffer.shape();
  return shape.size() == spec.shape.size() + 1 && shape[0] == static_cast<int64_t>(rows) &&
         std::equal(spec.shape.begin(), spec.shape.end(), shape.begin() + 1);
}

[[noreturn]] void bad_buffer(const Dataset& dataset, const Tensor& buffer, const SampleSpec& spec, size_t rows,
                             const char* role) {
  Shape expected{static_cast<int64_t>(rows)};
  expected.insert(expected.end(), spec.shape.begin(), spec.shape.end());
  throw ValueError(fmt::format(
      "{}: gather needs a contiguous cpu {} buffer of {} {}, got {}", dataset.describe(), role,
      dtype_name(spec.dtype), shape_str(expected),
      buffer.defined() ? fmt::format("{} {}", dtype_name(buffer.dtype()), buffer.shape_str())
                       : std::string("an undefined tensor")));
}

}  // namespace

void Dataset::gather(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const {
  if (!fits(inputs, input_spec(), indices.size())) bad_buffer(*this, inputs, input_spec(), indices.size(), "input");
  if (!fits(targets, target_spec(), indices.size()))
    bad_buffer(*this, targets, target_spec(), indices.size(), "target");
  const int64_t n = size();
  for (const int64_t index : indices)
    TORUS_CHECK(index >= 0 && index < n, "{}: sample index {} is out of range (it holds {} samples)", describe(),
                index, n);
  gather_rows(indices, inputs, targets);
}

}  // namespace torus::data
