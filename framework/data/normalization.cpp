// Per-element or per-channel normalisation of batch buffers.
#include "framework/data/normalization.h"

namespace torus::data {
namespace {

template <class T>
void normalize(const Normalization& norm, const Tensor& inputs) {
  T* x = inputs.data<T>();
  const int64_t rows = inputs.size(0);
  if (rows == 0) return;
  const int64_t per_row = inputs.numel() / rows;
  const auto channels = static_cast<int64_t>(norm.mean.size());
  const int64_t per_channel = per_row / channels;
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t c = 0; c < channels; ++c) {
      const T mean = static_cast<T>(norm.mean[c]), std = static_cast<T>(norm.std[c]);
      T* v = x + row * per_row + c * per_channel;
      for (int64_t i = 0; i < per_channel; ++i) v[i] = (v[i] - mean) / std;
    }
}

}  // namespace

void check_normalization(const Normalization& norm, const SampleSpec& spec) {
  if (!norm.enabled() && norm.std.empty()) return;
  TORUS_CHECK(spec.dtype == DType::f32 || spec.dtype == DType::f64,
              "normalization needs f32 or f64 inputs, the dataset's are {}", dtype_name(spec.dtype));
  TORUS_CHECK(norm.mean.size() == norm.std.size(), "normalization has {} means but {} stds", norm.mean.size(),
              norm.std.size());
  const int64_t channels = spec.shape.empty() ? 1 : spec.shape[0];
  TORUS_CHECK(norm.mean.size() == 1 || static_cast<int64_t>(norm.mean.size()) == channels,
              "normalization has {} means for inputs of shape {}: give one, or one per channel ({})",
              norm.mean.size(), shape_str(spec.shape), channels);
  for (const double s : norm.std) TORUS_CHECK(s > 0, "normalization std must be positive, got {}", s);
}

void normalize_inplace(const Normalization& norm, const Tensor& inputs) {
  if (!norm.enabled()) return;
  if (inputs.dtype() == DType::f32)
    normalize<float>(norm, inputs);
  else
    normalize<double>(norm, inputs);
}

}  // namespace torus::data
