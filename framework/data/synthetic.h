// Seeded random datasets for benchmarks and tests. Every sample is a pure function of
// (seed, index) through the counter-based Philox generator, so any rank or thread can
// produce any sample, in any order, without shared state.
#pragma once

#include <cstdint>

#include "framework/data/dataset.h"

namespace torus::data {

struct SyntheticClassificationOptions {
  int64_t samples = 0;
  Shape input_shape{};  // of one sample
  int64_t num_classes = 0;
  uint64_t seed = 0;
};

// Inputs f32 drawn from N(0, 1), targets i64 uniform in [0, num_classes) and
// independent of the inputs (nothing to learn: it measures speed, not accuracy).
class SyntheticClassification final : public Dataset {
 public:
  explicit SyntheticClassification(const SyntheticClassificationOptions& options);

  int64_t size() const override { return options_.samples; }
  const SampleSpec& input_spec() const override { return input_spec_; }
  const SampleSpec& target_spec() const override { return target_spec_; }
  std::string describe() const override;

 protected:
  void gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const override;

 private:
  SyntheticClassificationOptions options_;
  int64_t values_per_sample_ = 0;
  uint64_t blocks_per_sample_ = 0;  // Philox blocks of 4 words (4 normals) per input
  SampleSpec input_spec_, target_spec_;
};

struct SyntheticTokensOptions {
  int64_t samples = 0;
  int64_t context = 0;  // T
  int64_t vocab = 256;
  uint64_t seed = 0;
};

// A uniformly random sequence of T + 1 tokens per sample: x its first T, y its last T
// (so y is x shifted by one, as in byte text), both i64 (T).
class SyntheticTokens final : public Dataset {
 public:
  explicit SyntheticTokens(const SyntheticTokensOptions& options);

  int64_t size() const override { return options_.samples; }
  const SampleSpec& input_spec() const override { return spec_; }
  const SampleSpec& target_spec() const override { return spec_; }
  std::string describe() const override;

 protected:
  void gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const override;

 private:
  SyntheticTokensOptions options_;
  uint64_t blocks_per_sample_ = 0;  // Philox blocks of 4 tokens per sequence
  SampleSpec spec_;
};

}  // namespace torus::data
