// Byte-level language-model data from any file: the file is memory-mapped (so corpora
// larger than RAM work) and each sample is a window of `context` bytes with its targets
// shifted by one, tokens being the byte values (vocabulary 256).
#pragma once

#include <memory>
#include <string>

#include "framework/data/dataset.h"

namespace torus::data {

inline constexpr int64_t kByteVocab = 256;

enum class TextSplit { train, eval };

struct ByteTextOptions {
  std::string path{};
  int64_t context = 0;  // T, tokens per sample
  // Distance between the starts of consecutive windows; 0 means `context`, that is
  // non-overlapping windows. Smaller strides give overlapping windows (more samples).
  int64_t stride = 0;
  // The last floor(size * eval_fraction) bytes of the file are the eval split; the train
  // split is everything before, and no window crosses the boundary.
  double eval_fraction = 0.1;
  TextSplit split = TextSplit::train;
};

// Sample i of a split starting at byte b: x = bytes[p, p+T), y = bytes[p+1, p+T+1) with
// p = b + i * stride, both i64 of shape (T); the split holds every window that fits, so
// sample positions depend only on the file size and the options.
class ByteText final : public Dataset {
 public:
  explicit ByteText(const ByteTextOptions& options);

  int64_t size() const override { return samples_; }
  const SampleSpec& input_spec() const override { return spec_; }
  const SampleSpec& target_spec() const override { return spec_; }
  std::string describe() const override { return path_; }

  // Byte offset of sample i's first input token, for tests and tools.
  int64_t window_start(int64_t i) const { return begin_ + i * stride_; }

 protected:
  void gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const override;

 private:
  std::string path_;
  std::shared_ptr<Storage> file_;
  int64_t context_, stride_;
  int64_t begin_ = 0;  // first byte of the split
  int64_t samples_ = 0;
  SampleSpec spec_;
};

}  // namespace torus::data
