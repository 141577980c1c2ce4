// A decoder-only GPT (W2 of BENCHMARKS.md): token embedding "wte" plus learned position
// embedding "wpe", dropout "drop", transformer blocks "h.0" ... "h.{L-1}", final LayerNorm
// "ln_f", and a bias-free head "lm_head" — or, with tied_head, logits computed from wte's
// weight itself. A tied head owns no tensor, so the state_dict holds the weight once (as
// "wte.weight") and loading it re-ties the head by construction. The PyTorch module with
// exactly these names is examples/torch_reference/models.py (GPT).
//
// B batch, T positions (<= context), C d_model, V vocab.
#pragma once

#include <memory>

#include "framework/nn/embedding.h"
#include "framework/nn/sequential.h"
#include "framework/nn/transformer.h"

namespace torus::nn {

struct GptOptions {
  int64_t vocab = 256;
  int64_t context = 128;
  int64_t d_model = 256;
  int64_t layers = 4;
  int64_t heads = 4;
  bool tied_head = true;
  double dropout = 0.0;  // after the embeddings, on attention weights and on each residual branch
  double init_std = 0.02;  // every Linear and Embedding weight ~ N(0, init_std); biases 0
  DType dtype = DType::f32;
};

class Gpt : public Layer {
 public:
  // `dropout_gen` draws the dropout masks; when null and dropout > 0, one is seeded from
  // `gen` (see dropout_generator()).
  Gpt(const GptOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen = nullptr);

  // indices (B, T) of i64/i32 tokens -> logits (B, T, V)
  Tensor forward(const Tensor& indices) const override;

  const GptOptions& options() const { return options_; }
  const Embedding& wte() const { return *wte_; }
  // The head's weight (V, C): wte's weight when tied.
  const Tensor& head_weight() const;
  // Null when dropout is 0.
  const std::shared_ptr<Generator>& dropout_generator() const { return dropout_gen_; }

 private:
  GptOptions options_;
  std::shared_ptr<Generator> dropout_gen_;
  std::shared_ptr<Embedding> wte_;
  std::shared_ptr<Embedding> wpe_;
  std::shared_ptr<Dropout> drop_;
  std::shared_ptr<Sequential> h_;
  std::shared_ptr<LayerNorm> ln_f_;
  std::shared_ptr<Linear> lm_head_;  // null when tied
};

}  // namespace torus::nn
