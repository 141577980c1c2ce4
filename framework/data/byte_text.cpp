// Byte windows over a mapped file (see byte_text.h for the sample positions).
#include "framework/data/byte_text.h"

#include <cmath>

#include "framework/data/mapped_file.h"

namespace torus::data {

ByteText::ByteText(const ByteTextOptions& options)
    : path_(options.path),
      context_(options.context),
      stride_(options.stride == 0 ? options.context : options.stride),
      spec_{{options.context}, DType::i64} {
  TORUS_CHECK(options.context >= 1, "{}: byte text context must be at least 1, got {}", path_, options.context);
  TORUS_CHECK(options.stride >= 0, "{}: byte text stride must be 0 (= context) or positive, got {}", path_,
              options.stride);
  TORUS_CHECK(options.eval_fraction >= 0 && options.eval_fraction < 1,
              "{}: byte text eval_fraction must be in [0, 1), got {}", path_, options.eval_fraction);
  file_ = map_file_readonly(path_);
  const int64_t bytes = static_cast<int64_t>(file_->nbytes());
  const int64_t eval_bytes =
      static_cast<int64_t>(std::floor(static_cast<double>(bytes) * options.eval_fraction));
  const bool train = options.split == TextSplit::train;
  begin_ = train ? 0 : bytes - eval_bytes;
  const int64_t end = train ? bytes - eval_bytes : bytes;
  const int64_t window = context_ + 1;  // inputs plus the one-byte shift of the targets
  if (end - begin_ < window)
    throw IOError(fmt::format("{}: the {} split holds {} bytes, too few for one window of context {} (needs {})",
                              path_, train ? "train" : "eval", end - begin_, context_, window));
  samples_ = (end - begin_ - window) / stride_ + 1;
}

void ByteText::gather_rows(std::span<const int64_t> indices, const Tensor& inputs, const Tensor& targets) const {
  const auto* bytes = static_cast<const uint8_t*>(file_->data());
  int64_t* x = inputs.data<int64_t>();
  int64_t* y = targets.data<int64_t>();
  for (size_t row = 0; row < indices.size(); ++row) {
    const uint8_t* window = bytes + window_start(indices[row]);
    int64_t* x_row = x + static_cast<int64_t>(row) * context_;
    int64_t* y_row = y + static_cast<int64_t>(row) * context_;
    for (int64_t t = 0; t < context_; ++t) {
      x_row[t] = window[t];
      y_row[t] = window[t + 1];
    }
  }
}

}  // namespace torus::data
