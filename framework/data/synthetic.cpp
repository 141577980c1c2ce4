// Synthetic samples: sample i of a dataset reads Philox counters
// [i * blocks_per_sample, (i + 1) * blocks_per_sample) of the seed's stream; labels use
// a separate counter range starting at 2^63, so inputs and labels never share words.
#include "framework/data/synthetic.h"

#include <cmath>
#include <limits>

#include "framework/tensor/random.h"

namespace torus::data {
namespace {

constexpr uint64_t kLabelCounters = uint64_t{1} << 63;

// Uniform in [0, n) from one 32-bit word, by multiply-shift (bias below n / 2^32).
int64_t uniform_below(uint32_t word, int64_t n) {
  return static_cast<int64_t>((uint64_t{word} * static_cast<uint64_t>(n)) >> 32);
}

void check_counter_space(int64_t samples, uint64_t blocks_per_sample, const std::string& what) {
  TORUS_CHECK(samples >= 1, "{}: needs at least one sample, got {}", what, samples);
  TORUS_CHECK(blocks_per_sample == 0 || static_cast<uint64_t>(samples) < kLabelCounters / blocks_per_sample,
              "{}: {} samples of {} random blocks each exceed the generator's counter space", what, samples,
              blocks_per_sample);
}

}  // namespace

SyntheticClassification::SyntheticClassification(const SyntheticClassificationOptions& options)
    : options_(options),
      input_spec_{options.input_shape, DType::f32},
      target_spec_{{}, DType::i64} {
  for (const int64_t dim : options.input_shape)
    TORUS_CHECK(dim >= 1, "{}: input dimensions must be positive", describe());
  TORUS_CHECK(options.num_classes >= 1 && options.num_classes <= std::numeric_limits<uint32_t>::max(),
              "{}: num_classes must be in 1..2^32-1, got {}", describe(), options.num_classes);
  values_per_sample_ = shape_numel(options.input_shape);
  blocks_per_sample_ = (static_cast<uint64_t>(values_per_sample_) + 3) / 4;
  check_counter_space(options.samples, blocks_per_sample_, describe());
}

std::string SyntheticClassification::describe() const {
  return fmt::format("synthetic classification (seed {}, {} samples of {}, {} classes)", options_.seed,
                     options_.samples, shape_str(options_.input_shape), options_.num_classes);
}

void SyntheticClassification::gather_rows(std::span<const int64_t> indices, const Tensor& inputs,
                                          const Tensor& targets) const {
  float* x = inputs.data<float>();
  int64_t* y = targets.data<int64_t>();
  const uint64_t seed = options_.seed;
  for (size_t row = 0; row < indices.size(); ++row) {
    const auto sample = static_cast<uint64_t>(indices[row]);
    float* out = x + static_cast<int64_t>(row) * values_per_sample_;
    for (uint64_t block = 0; block < blocks_per_sample_; ++block) {
      const auto words = Generator::philox(seed, sample * blocks_per_sample_ + block);
      // Box-Muller: each pair of uniforms gives two independent normals; 1 - u keeps
      // the logarithm finite.
      for (int pair = 0; pair < 2; ++pair) {
        // In float: libm's float functions are about twice as fast, and f32 is the output.
        const float u1 = Generator::to_unit_float(words[2 * pair]);
        const float u2 = Generator::to_unit_float(words[2 * pair + 1]);
        const float radius = std::sqrt(-2.0f * std::log(1.0f - u1));
        const float angle = 2.0f * static_cast<float>(M_PI) * u2;
        const int64_t at = static_cast<int64_t>(block) * 4 + 2 * pair;
        if (at < values_per_sample_) out[at] = radius * std::cos(angle);
        if (at + 1 < values_per_sample_) out[at + 1] = radius * std::sin(angle);
      }
    }
    y[row] = uniform_below(Generator::philox(seed, kLabelCounters + sample)[0], options_.num_classes);
  }
}

SyntheticTokens::SyntheticTokens(const SyntheticTokensOptions& options)
    : options_(options), spec_{{options.context}, DType::i64} {
  TORUS_CHECK(options.context >= 1, "{}: context must be at least 1", describe());
  TORUS_CHECK(options.vocab >= 1 && options.vocab <= std::numeric_limits<uint32_t>::max(),
              "{}: vocab must be in 1..2^32-1, got {}", describe(), options.vocab);
  blocks_per_sample_ = (static_cast<uint64_t>(options.context) + 1 + 3) / 4;
  check_counter_space(options.samples, blocks_per_sample_, describe());
}

std::string SyntheticTokens::describe() const {
  return fmt::format("synthetic tokens (seed {}, {} sequences of {} tokens, vocab {})", options_.seed,
                     options_.samples, options_.context, options_.vocab);
}

void SyntheticTokens::gather_rows(std::span<const int64_t> indices, const Tensor& inputs,
                                  const Tensor& targets) const {
  const int64_t context = options_.context;
  int64_t* x = inputs.data<int64_t>();
  int64_t* y = targets.data<int64_t>();
  for (size_t row = 0; row < indices.size(); ++row) {
    const uint64_t first = static_cast<uint64_t>(indices[row]) * blocks_per_sample_;
    int64_t* x_row = x + static_cast<int64_t>(row) * context;
    int64_t* y_row = y + static_cast<int64_t>(row) * context;
    std::array<uint32_t, 4> words{};
    for (int64_t t = 0; t <= context; ++t) {
      if (t % 4 == 0) words = Generator::philox(options_.seed, first + static_cast<uint64_t>(t / 4));
      const int64_t token = uniform_below(words[t % 4], options_.vocab);
      if (t < context) x_row[t] = token;
      if (t > 0) y_row[t - 1] = token;
    }
  }
}

}  // namespace torus::data
