// Fashion-MNIST (Xiao et al. 2017) from the four gzip IDX files that Debian's
// `dataset-fashion-mnist` installs: 28x28 grey images of 10 clothing classes.
#pragma once

#include <memory>
#include <string>

#include "framework/data/dataset.h"

namespace torus::data {

inline constexpr const char* kFashionMnistDirectory = "/usr/share/datasets/fashion-mnist";
// Pixel mean and standard deviation of the training images scaled to [0, 1], for the
// loader's normalisation.
inline constexpr double kFashionMnistMean = 0.2860;
inline constexpr double kFashionMnistStd = 0.3530;
inline constexpr int64_t kFashionMnistClasses = 10;

enum class FashionMnistSplit { train, test };

struct FashionMnistOptions {
  std::string directory = kFashionMnistDirectory;
  FashionMnistSplit split = FashionMnistSplit::train;
};

// Inputs f32 (1, 28, 28) in [0, 1] (pixel / 255; view as (784) for an MLP), targets i64
// class indices (shape ()). Reads both files of the split into memory, 8-bit, on
// construction; any file that is missing, corrupt or inconsistent with the other (image
// size, counts, a label outside 0..9) is an IOError naming the file.
class FashionMnist final : public Dataset {
 public:
  explicit FashionMnist(const FashionMnistOptions& options = {});

  int64_t size() const override { return labels_.size(0); }
  const SampleSpec& input_spec() const override { return input_spec_; }
  const SampleSpec& target_spec() const override { return target_spec_; }
  std::string describe() const override { return images_path_; }

  // File names within the directory, for the split.
  static std::string images_file(FashionMnistSplit split);
  static std::string labels_file(FashionMnistSplit split);

 protected:
  void gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const override;

 private:
  std::string images_path_;
  Tensor images_;  // u8 (N, 28, 28)
  Tensor labels_;  // u8 (N)
  SampleSpec input_spec_{{1, 28, 28}, DType::f32};
  SampleSpec target_spec_{{}, DType::i64};
};

}  // namespace torus::data
