// Transformer block (see transformer.h).
#include "framework/nn/transformer.h"

#include "framework/ops/ops.h"

namespace torus::nn {

TransformerMlp::TransformerMlp(const AttentionOptions& options, Generator& gen,
                               std::shared_ptr<Generator> dropout_gen) {
  const int64_t c = options.d_model;
  c_fc_ = register_module("c_fc", std::make_shared<Linear>(c, 4 * c, gen, true, options.dtype));
  gelu_ = register_module("gelu", std::make_shared<GELU>(GeluApproximation::none));
  c_proj_ = register_module("c_proj", std::make_shared<Linear>(4 * c, c, gen, true, options.dtype));
  dropout_ = register_module("dropout", std::make_shared<Dropout>(options.dropout, std::move(dropout_gen)));
}

Tensor TransformerMlp::forward(const Tensor& x) const {
  // c_fc and its GELU as one op (on a device, the bias and GELU fused after the GEMM).
  const Tensor h = linear_gelu(x, c_fc_->weight(), c_fc_->bias(), gelu_->approximate());
  return (*dropout_)((*c_proj_)(h));
}

TransformerBlock::TransformerBlock(const AttentionOptions& options, Generator& gen,
                                   std::shared_ptr<Generator> dropout_gen) {
  const Shape c{options.d_model};
  ln_1_ = register_module("ln_1", std::make_shared<LayerNorm>(c, 1e-5, true, options.dtype));
  attn_ = register_module("attn", std::make_shared<CausalSelfAttention>(options, gen, dropout_gen));
  ln_2_ = register_module("ln_2", std::make_shared<LayerNorm>(c, 1e-5, true, options.dtype));
  mlp_ = register_module("mlp", std::make_shared<TransformerMlp>(options, gen, dropout_gen));
}

Tensor TransformerBlock::forward(const Tensor& x) const {
  const Tensor h = x + (*attn_)((*ln_1_)(x));
  return h + (*mlp_)((*ln_2_)(h));
}

}  // namespace torus::nn
