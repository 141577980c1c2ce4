// The pre-LayerNorm transformer block of GPT-2:
//   x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
// with mlp = c_proj(gelu(c_fc(x))) (C -> 4C -> C, exact erf GELU) followed by dropout;
// c_fc and the GELU run as one op (linear_gelu: fused on a device, the same two ops on the cpu).
// Children: ln_1, attn (CausalSelfAttention), ln_2, mlp.{c_fc, c_proj}.
//
// B batch, T positions, C d_model.
#pragma once

#include <memory>

#include "framework/nn/activation.h"
#include "framework/nn/attention.h"
#include "framework/nn/normalization.h"

namespace torus::nn {

class TransformerMlp : public Layer {
 public:
  TransformerMlp(const AttentionOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen);
  Tensor forward(const Tensor& x) const override;  // (B, T, C) -> (B, T, C)

  const Linear& c_fc() const { return *c_fc_; }
  const Linear& c_proj() const { return *c_proj_; }

 private:
  std::shared_ptr<Linear> c_fc_;
  std::shared_ptr<GELU> gelu_;
  std::shared_ptr<Linear> c_proj_;
  std::shared_ptr<Dropout> dropout_;
};

class TransformerBlock : public Layer {
 public:
  TransformerBlock(const AttentionOptions& options, Generator& gen,
                   std::shared_ptr<Generator> dropout_gen = nullptr);
  Tensor forward(const Tensor& x) const override;  // (B, T, C) -> (B, T, C)

  const CausalSelfAttention& attn() const { return *attn_; }
  const TransformerMlp& mlp() const { return *mlp_; }

 private:
  std::shared_ptr<LayerNorm> ln_1_;
  std::shared_ptr<CausalSelfAttention> attn_;
  std::shared_ptr<LayerNorm> ln_2_;
  std::shared_ptr<TransformerMlp> mlp_;
};

}  // namespace torus::nn
