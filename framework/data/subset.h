// A contiguous range of another dataset's samples, for holding out an eval split of a
// source that has none of its own (arrays, synthetic data).
#pragma once

#include <memory>
#include <vector>

#include "framework/data/dataset.h"

namespace torus::data {

class Subset final : public Dataset {
 public:
  // Samples [begin, begin + count) of `source`; the range must lie inside it.
  Subset(std::shared_ptr<const Dataset> source, int64_t begin, int64_t count);

  int64_t size() const override { return count_; }
  const SampleSpec& input_spec() const override { return source_->input_spec(); }
  const SampleSpec& target_spec() const override { return source_->target_spec(); }
  std::string describe() const override;

 protected:
  void gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const override;

 private:
  std::shared_ptr<const Dataset> source_;
  int64_t begin_, count_;
};

}  // namespace torus::data
