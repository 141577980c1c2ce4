// Causal multi-head self-attention as in GPT-2: one fused projection to q, k and v
// ("c_attn", Linear(C, 3C), output laid out [q | k | v]) and an output projection
// ("c_proj", Linear(C, C)). Scores are q·kᵀ / sqrt(D), masked above the diagonal with -inf,
// softmaxed, dropped out ("attn_dropout") and applied to v; the projected output is
// dropped out again ("resid_dropout"). The middle is one op, causal_attention (ops.h): one
// fused kernel on a device. The mask is derived, so it is not in the state_dict (PyTorch: a
// non-persistent buffer).
//
// B batch, T positions (<= context), C d_model, H heads, D = C / H.
#pragma once

#include <memory>

#include "framework/nn/dropout.h"
#include "framework/nn/linear.h"

namespace torus::nn {

struct AttentionOptions {
  int64_t d_model = 256;
  int64_t heads = 4;
  int64_t context = 128;  // the longest sequence the mask covers
  double dropout = 0.0;
  DType dtype = DType::f32;
};

class CausalSelfAttention : public Layer {
 public:
  // Weights initialised as nn::Linear's default; `dropout_gen` is needed when dropout > 0.
  CausalSelfAttention(const AttentionOptions& options, Generator& gen,
                      std::shared_ptr<Generator> dropout_gen = nullptr);

  Tensor forward(const Tensor& x) const override;  // x (B, T, C) -> (B, T, C)

  const AttentionOptions& options() const { return options_; }
  const Linear& c_attn() const { return *c_attn_; }
  const Linear& c_proj() const { return *c_proj_; }

 private:
  AttentionOptions options_;
  std::shared_ptr<Linear> c_attn_;
  std::shared_ptr<Linear> c_proj_;
  std::shared_ptr<Dropout> attn_dropout_;
  std::shared_ptr<Dropout> resid_dropout_;
};

}  // namespace torus::nn
