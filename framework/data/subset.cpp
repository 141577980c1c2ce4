// Subset of a dataset (see subset.h).
#include "framework/data/subset.h"

#include <fmt/format.h>

namespace torus::data {

Subset::Subset(std::shared_ptr<const Dataset> source, int64_t begin, int64_t count)
    : source_(std::move(source)), begin_(begin), count_(count) {
  TORUS_CHECK(source_ != nullptr, "Subset: no source dataset");
  TORUS_CHECK(begin >= 0 && count > 0 && begin + count <= source_->size(),
              "{}: samples [{}, {}) are not a non-empty range inside its {} samples", source_->describe(), begin,
              begin + count, source_->size());
}

std::string Subset::describe() const {
  return fmt::format("{} samples [{}, {})", source_->describe(), begin_, begin_ + count_);
}

void Subset::gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const {
  // Per-thread scratch: gathers run on loader threads, and steady state allocates nothing.
  thread_local std::vector<int64_t> shifted;
  shifted.assign(indices.begin(), indices.end());
  for (int64_t& i : shifted) i += begin_;
  source_->gather(shifted, inputs, targets);
}

}  // namespace torus::data
