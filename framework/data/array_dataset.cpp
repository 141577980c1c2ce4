// Row gathers by memcpy; the checks that any pair of x/y arrays must pass.
#include "framework/data/array_dataset.h"

#include <cstring>

namespace torus::data {
namespace {

SampleSpec row_spec(const Tensor& t) { return {Shape(t.shape().begin() + 1, t.shape().end()), t.dtype()}; }

void copy_rows(std::span<const int64_t> indices, const Tensor& from, const Tensor& to) {
  const size_t row_bytes = from.nbytes() / static_cast<size_t>(from.size(0));
  const auto* src = static_cast<const char*>(from.raw_data());
  auto* dst = static_cast<char*>(to.raw_data());
  for (size_t row = 0; row < indices.size(); ++row)
    std::memcpy(dst + row * row_bytes, src + static_cast<size_t>(indices[row]) * row_bytes, row_bytes);
}

}  // namespace

ArrayDataset::ArrayDataset(Tensor x, Tensor y, std::string source, int64_t num_classes)
    : source_(std::move(source)) {
  if (x.dim() < 1 || y.dim() < 1)
    throw IOError(fmt::format("{}: x {} and y {} need a leading sample dimension", source_, x.shape_str(),
                              y.shape_str()));
  if (x.size(0) != y.size(0))
    throw IOError(fmt::format("{}: x holds {} samples but y holds {}", source_, x.size(0), y.size(0)));
  if (x.size(0) == 0) throw IOError(fmt::format("{}: x and y hold no samples", source_));
  if (x.dtype() != DType::f32 && x.dtype() != DType::f64)
    throw IOError(fmt::format("{}: x is {}, expected f32 or f64", source_, dtype_name(x.dtype())));
  if (y.dtype() != DType::i64 && y.dtype() != x.dtype())
    throw IOError(fmt::format("{}: y is {}, expected i64 or x's dtype {}", source_, dtype_name(y.dtype()),
                              dtype_name(x.dtype())));
  if (num_classes > 0 && y.dtype() == DType::i64) {
    const Tensor labels = y.contiguous();
    const int64_t* label = labels.data<int64_t>();
    const int64_t per_sample = labels.numel() / labels.size(0);
    for (int64_t i = 0; i < labels.numel(); ++i)
      if (label[i] < 0 || label[i] >= num_classes)
        throw IOError(fmt::format("{}: y holds class {} for sample {}, outside 0..{}", source_, label[i],
                                  per_sample == 0 ? 0 : i / per_sample, num_classes - 1));
  }
  x_ = x.contiguous();
  y_ = y.contiguous();
  input_spec_ = row_spec(x_);
  target_spec_ = row_spec(y_);
}

void ArrayDataset::gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const {
  copy_rows(indices, x_, inputs);
  copy_rows(indices, y_, targets);
}

}  // namespace torus::data
