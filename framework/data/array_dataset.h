// A dataset of two arrays in memory (or in a mapped file): row i of `x` is sample i's
// input and row i of `y` its target. The HDF5 and safetensors readers produce it.
#pragma once

#include <cstdint>
#include <string>

#include "framework/data/dataset.h"

namespace torus::data {

// How array files are read (HDF5 and safetensors alike).
struct ArrayFileOptions {
  DType input_dtype = DType::f32;  // x is converted to this (f32 or f64)
  // When positive, integer targets must lie in [0, num_classes): checked on load.
  int64_t num_classes = 0;
  // Largest x plus y, in bytes after conversion, that a reader allocates; sizes come from
  // the file, so an absurd header is refused before any allocation.
  uint64_t max_bytes = uint64_t{16} << 30;
};

class ArrayDataset final : public Dataset {
 public:
  // x: (N, ...) f32 or f64; y: (N, ...) i64 (class indices) or x's dtype. Both are made
  // contiguous; `source` names them in errors. Mismatched N, another dtype, N = 0 or a
  // class index outside [0, num_classes) (when num_classes > 0) are IOError naming `source`.
  ArrayDataset(Tensor x, Tensor y, std::string source, int64_t num_classes = 0);

  int64_t size() const override { return x_.size(0); }
  const SampleSpec& input_spec() const override { return input_spec_; }
  const SampleSpec& target_spec() const override { return target_spec_; }
  std::string describe() const override { return source_; }

 protected:
  void gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const override;

 private:
  Tensor x_, y_;
  std::string source_;
  SampleSpec input_spec_, target_spec_;
};

// The dtype targets of a file's element kind become: class indices for integers, the
// input dtype for floats.
inline DType target_dtype_for(bool integer_targets, DType input_dtype) {
  return integer_targets ? DType::i64 : input_dtype;
}

}  // namespace torus::data
