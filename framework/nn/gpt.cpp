// GPT (see gpt.h).
#include "framework/nn/gpt.h"

#include "framework/nn/init.h"
#include "framework/ops/ops.h"

namespace torus::nn {

Gpt::Gpt(const GptOptions& o, Generator& gen, std::shared_ptr<Generator> dropout_gen)
    : options_(o), dropout_gen_(std::move(dropout_gen)) {
  TORUS_CHECK(o.vocab > 0 && o.context > 0 && o.d_model > 0 && o.layers > 0 && o.heads > 0,
              "Gpt: vocab, context, d_model, layers and heads must be positive, got {}, {}, {}, {}, {}",
              o.vocab, o.context, o.d_model, o.layers, o.heads);
  TORUS_CHECK(o.d_model % o.heads == 0, "Gpt: d_model {} is not a multiple of heads {}", o.d_model, o.heads);
  TORUS_CHECK(o.dropout >= 0 && o.dropout < 1, "Gpt: dropout must be in [0, 1), got {}", o.dropout);
  TORUS_CHECK(o.init_std > 0, "Gpt: init_std must be > 0, got {}", o.init_std);
  if (o.dropout > 0 && !dropout_gen_) dropout_gen_ = std::make_shared<Generator>(init::derive_seed(gen));
  if (o.dropout == 0) dropout_gen_ = nullptr;

  wte_ = register_module("wte", std::make_shared<Embedding>(o.vocab, o.d_model, gen, o.dtype));
  wpe_ = register_module("wpe", std::make_shared<Embedding>(o.context, o.d_model, gen, o.dtype));
  drop_ = register_module("drop", std::make_shared<Dropout>(o.dropout, dropout_gen_));
  h_ = register_module("h", std::make_shared<Sequential>());
  const AttentionOptions block{o.d_model, o.heads, o.context, o.dropout, o.dtype};
  for (int64_t i = 0; i < o.layers; ++i) h_->push_back(std::make_shared<TransformerBlock>(block, gen, dropout_gen_));
  ln_f_ = register_module("ln_f", std::make_shared<LayerNorm>(Shape{o.d_model}, 1e-5, true, o.dtype));
  if (!o.tied_head)
    lm_head_ = register_module("lm_head", std::make_shared<Linear>(o.d_model, o.vocab, gen, false, o.dtype));

  // GPT-2's initialisation replaces the modules' defaults (LayerNorms keep ones and zeros).
  for (const auto& [name, module] : named_modules()) {
    if (const auto* linear = dynamic_cast<const Linear*>(module)) {
      init::normal_(linear->weight(), gen, 0.0, o.init_std);
      if (linear->bias().defined()) init::constant_(linear->bias(), 0.0);
    } else if (const auto* embedding = dynamic_cast<const Embedding*>(module)) {
      init::normal_(embedding->weight(), gen, 0.0, o.init_std);
    }
  }
}

const Tensor& Gpt::head_weight() const { return lm_head_ ? lm_head_->weight() : wte_->weight(); }

Tensor Gpt::forward(const Tensor& indices) const {
  TORUS_CHECK(indices.dim() == 2 && indices.size(1) <= options_.context,
              "Gpt(context {}): input must be (B, T <= {}) token indices, got shape {}", options_.context,
              options_.context, indices.shape_str());
  TORUS_CHECK(indices.dtype() == DType::i64 || indices.dtype() == DType::i32,
              "Gpt: token indices must be i64 or i32, got {}", dtype_name(indices.dtype()));
  const int64_t t = indices.size(1);
  Tensor x = (*wte_)(indices) + (*wpe_)(Tensor::arange(t, DType::i64));  // (B, T, C)
  x = (*ln_f_)((*h_)((*drop_)(x)));
  return linear(x, head_weight());  // (B, T, V)
}

}  // namespace torus::nn
